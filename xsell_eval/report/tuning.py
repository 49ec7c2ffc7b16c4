"""Tuning report: Markdown sections and Optuna's matplotlib plots.

- :func:`save_tuning_figures` draws the optimisation history, the parameter
  importances and (multi-objective) the Pareto front of a study as PNG files (Agg
  backend), with titles and axis labels.
- :func:`render_tuning_report` / :func:`tuning_section` are pure renderers of stored
  :class:`~xsell_eval.tuning.TuneResult` dicts (no clock, no working directory).
- :func:`tuning_summary_markdown` renders ``CompareResult.tuning`` for the
  comparison report (``compare --tuned`` / ``compare --tune N``).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xsell_eval.report._format import fmt as _fmt
from xsell_eval.report._format import table as _table
from xsell_eval.report.plots import ci_label

if TYPE_CHECKING:
    import optuna

    from xsell_eval.result import TuningSummary


def _ci(mean: Any, lo: Any, hi: Any) -> str:
    if lo is None or (isinstance(lo, float) and not math.isfinite(lo)):
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def statistics_phrase(confidence: float, ci_unit: str, test: str) -> str:
    """How the test CIs and the tuned − default p-value were computed, e.g.
    ``"95% CI by customer bootstrap; paired test: bootstrap"`` (the settings of ``compare``)."""
    return f"{ci_label(confidence)} CI by {ci_unit} bootstrap; paired test: {test}"


def _statistics_of(r: Mapping[str, Any]) -> str:
    # a tuning.json written before ci_unit / paired_test were stored resampled queries, Wilcoxon p
    return statistics_phrase(
        float(r.get("confidence", 0.95)), str(r.get("ci_unit") or "query"), str(r.get("paired_test") or "wilcoxon")
    )


# ============================================================================ figures
def _precomputed_evaluator(values: Mapping[str, float]) -> Any:
    """An Optuna importance evaluator returning importances computed earlier (fANOVA is slow)."""
    from optuna.importance import BaseImportanceEvaluator

    class _Evaluator(BaseImportanceEvaluator):
        def evaluate(self, study: Any, params: Any = None, *, target: Any = None) -> dict[str, float]:
            keep = values if params is None else {k: v for k, v in values.items() if k in params}
            return dict(sorted(keep.items(), key=lambda kv: kv[1], reverse=True))

    return _Evaluator()


def save_tuning_figures(study: optuna.Study, result: Mapping[str, Any], out_dir: str | Path) -> dict[str, str]:
    """Save the history, importance and (multi-objective) Pareto plots of a study as PNG.

    Args:
        study: the Optuna study.
        result: the :meth:`TuneResult.to_dict` of that study (metric names, adapter).
        out_dir: the run directory; files go to ``out_dir/figures/``.

    The importance plot shows ``result["importances"]`` (fANOVA computed once by
    :func:`xsell_eval.tuning.tune`) through Optuna's ``plot_param_importances``.

    Returns:
        ``{"history": "figures/tuning_history_cf.png", ...}`` paths relative to
        ``out_dir``; a plot that cannot be drawn (too few trials, a single varied
        parameter for importances) is left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as ovm

    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    adapter = str(result["adapter"])
    metrics = list(result["metrics"])
    multi = len(metrics) > 1
    first = metrics[0]
    figures: dict[str, str] = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return figures
    target = (lambda t: t.values[0]) if multi else None

    def save(ax: Any, key: str, title: str, xlabel: str, ylabel: str) -> None:
        for loc in ("left", "right"):
            ax.set_title("", loc=loc)  # Optuna's own titles would overlap ours
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig = ax.figure
        fig.set_size_inches(7.5, 4.5)
        fig.tight_layout()
        rel = f"figures/tuning_{key}_{adapter}.png"
        fig.savefig(out / rel, dpi=110)
        plt.close(fig)
        figures[key] = rel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            ax = ovm.plot_optimization_history(study, target=target, target_name=first)
            save(
                ax,
                "history",
                f"{adapter}: validation {first} per trial (best so far as a line)",
                "trial number",
                f"validation {first}",
            )
        except Exception:
            plt.close("all")
        if result.get("importances"):
            try:
                ax = ovm.plot_param_importances(
                    study,
                    evaluator=_precomputed_evaluator(result["importances"]),
                    target=target,
                    target_name=first,
                )
                save(
                    ax,
                    "importance",
                    f"{adapter}: hyperparameter importance for {first} (fANOVA)",
                    f"share of the variance of validation {first}",
                    "hyperparameter",
                )
            except Exception:
                plt.close("all")
        if multi and len(metrics) in (2, 3):
            try:
                ax = ovm.plot_pareto_front(study, target_names=metrics)
                save(ax, "pareto", f"{adapter}: Pareto front on validation", metrics[0], metrics[1])
            except Exception:
                plt.close("all")
    return figures


# ============================================================================ markdown
def _pfmt(v: Any) -> str:
    """A parameter value as it would be typed: no thousands separators, 4 significant digits."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}"
    return "—" if v is None else str(v)


def _params_cell(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_pfmt(v)}" for k, v in sorted(params.items())) or "—"


def tuning_section(r: Mapping[str, Any], *, level: int = 2) -> str:
    """Markdown of one tuned adapter: best parameters, budget, plots, test vs validation."""
    h = "#" * level
    metrics = list(r["metrics"])
    first = metrics[0]
    b = r["budget"]
    parts = [f"{h} `{r['adapter']}`", ""]
    parts.append(
        f"Study `{r['study_name']}` in `{r['storage']}` — objective: "
        + (
            f"maximise validation **{first}**"
            if len(metrics) == 1 and r["directions"][0] == "maximize"
            else ", ".join(f"{d} {m}" for m, d in zip(metrics, r["directions"], strict=True)) + " (multi-objective)"
        )
        + f"; sampler: seeded TPE (seed {r['sampler_seed']}); pruning: {r['pruning']}."
    )
    parts.append("")
    parts.append(
        f"**Budget spent**: {b.get('finished', 0):,} finished trials (target {b.get('target_trials', 0):,}; "
        f"{b.get('complete', 0):,} complete, {b.get('pruned', 0):,} pruned, {b.get('failed', 0):,} failed"
        + (f", {b['running']:,} still marked running" if b.get("running") else "")
        + f"), {_fmt(float(b.get('trial_seconds_total', 0.0)), 1)} s of trial time in the study; "
        f"this run: {b.get('trials_this_run', 0):,} trials in {_fmt(float(b.get('seconds_this_run', 0.0)), 1)} s"
        + (f"; workers: {len(b.get('workers', []))}" if len(b.get("workers", [])) > 1 else "")
        + "."
    )
    parts.append("")
    rows = []
    space = r.get("search_space", {})
    for k in sorted(set(space) | set(r.get("tuned_params", {}))):
        if k not in space:
            continue
        inactive = r.get("best_params") and k not in r["best_params"]  # a conditional parameter, off in the best trial
        rows.append(
            [
                f"`{k}`",
                _pfmt(r["tuned_params"].get(k))
                + (" (inactive: its condition fails in the best trial)" if inactive else ""),
                _pfmt(r["default_params"].get(k)),
                space.get(k, "fixed"),
                _fmt(r.get("importances", {}).get(k)),
            ]
        )
    if rows:
        parts += [
            f"Best trial: #{r['best_trial']}.",
            "",
            _table(["parameter", "tuned", "default", "search space", "importance"], rows, "lllll"),
            "",
        ]
    else:
        parts += ["No tunable hyperparameters: the default is the only configuration.", ""]
    if r.get("fixed_params"):
        parts += [f"Held fixed: {_params_cell(r['fixed_params'])}.", ""]
    # test vs validation
    test = r.get("test") or []
    if test:
        trows = []
        for m in metrics:
            cells = [m]
            for variant in ("tuned", "default"):
                rec = next((t for t in test if t["variant"] == variant and t["metric"] == m), None)
                if rec is None:
                    cells += ["—", "—"]
                    continue
                cells += [_fmt(rec.get("validation")), _ci(rec["mean"], rec.get("ci_low"), rec.get("ci_high"))]
            comp = next((c for c in r.get("comparison") or [] if c["metric"] == m), None)
            if comp is not None:
                diff = f"{_fmt(comp['diff'])} [{_fmt(comp['ci_low'])}, {_fmt(comp['ci_high'])}]"
                cells.append(f"{diff}, p = {_fmt(comp['p_value'])}")
            else:
                cells.append("—")
            trows.append(cells)
        n = max((int(t.get("n") or 0) for t in test), default=0)
        parts += [
            f"**Tuned vs default on test** ({n:,} test queries; each configuration refitted on the full train and "
            f"evaluated once; mean [CI]; difference = tuned − default, paired on the same queries, [CI], p; "
            f"{_statistics_of(r)}):",
            "",
            _table(
                [
                    "metric",
                    "tuned: validation",
                    "tuned: test",
                    "default: validation",
                    "default: test",
                    "tuned − default (test)",
                ],
                trows,
            ),
            "",
            "Validation is the score that picked the parameters; a test score well below it means the "
            "search over-fitted the validation window.",
            "",
        ]
    if r.get("test_error"):
        parts += [f"⚠ Test evaluation failed: {r['test_error']}", ""]
    pareto = r.get("pareto") or []
    if pareto:
        prow = [[f"#{p['trial']}", *[_fmt(p.get(m)) for m in metrics], f"`{p['params']}`"] for p in pareto]
        parts += [
            f"**Pareto front** on validation ({len(pareto)} non-dominated trials; "
            f"the selected one is the best on {first}):",
            "",
            _table(["trial", *metrics, "parameters"], prow, "l" + "r" * len(metrics) + "l"),
            "",
        ]
    figs = r.get("figures") or {}
    for key, caption in (
        ("history", "Optimisation history"),
        ("importance", "Hyperparameter importance"),
        ("pareto", "Pareto front"),
    ):
        if key in figs:
            parts += [f"![{caption} — {r['adapter']}]({figs[key]})", ""]
    if r.get("errors"):
        parts += ["Failed trials (first distinct errors):", "", *[f"- {e}" for e in r["errors"]], ""]
    if r.get("notes"):
        parts += ["Notes:", "", *[f"- {n}" for n in r["notes"]], ""]
    return "\n".join(parts)


def best_params_table(results: Sequence[Mapping[str, Any]]) -> str:
    """One row per adapter: best parameters, validation score, test score tuned vs default."""
    rows = []
    for r in results:
        first = r["metrics"][0]
        test = r.get("test") or []
        tt = next((t for t in test if t["variant"] == "tuned" and t["metric"] == first), None)
        td = next((t for t in test if t["variant"] == "default" and t["metric"] == first), None)
        rows.append(
            [
                f"`{r['adapter']}`",
                first,
                _fmt(r["best_values"].get(first)),
                _ci(tt["mean"], tt.get("ci_low"), tt.get("ci_high")) if tt else "—",
                _ci(td["mean"], td.get("ci_low"), td.get("ci_high")) if td else "—",
                f"{r['budget'].get('finished', 0):,}",
                _fmt(float(r["budget"].get("trial_seconds_total", 0.0)), 1),
                _params_cell(r.get("best_params", {})),
            ]
        )
    return _table(
        [
            "adapter",
            "metric",
            "validation (best)",
            "test tuned",
            "test default",
            "trials",
            "trial seconds",
            "best parameters",
        ],
        rows,
        "llrrrrrl",
    )


def render_tuning_report(results: Sequence[Mapping[str, Any]], *, context: Mapping[str, Any] | None = None) -> str:
    """The Markdown report of a ``tune`` run directory (pure: same input, same bytes).

    Args:
        results: :meth:`TuneResult.to_dict` of each tuned adapter (with ``figures``).
        context: optional ``data``, ``split``, ``protocol``, ``command``, ``n_validation_queries``,
            ``n_test_queries`` and ``storage`` shown in the header and provenance.
    """
    ctx = dict(context or {})
    names = ", ".join(f"`{r['adapter']}`" for r in results)
    parts = [f"# Tuning: {names}", ""]
    if ctx:
        parts.append(
            f"Data **{ctx.get('data', '?')}** (fingerprint `{ctx.get('fingerprint', '?')}`), protocol "
            f"**{ctx.get('protocol', '?')}**, split **{ctx.get('split', '?')}**: trials fit on the training period "
            f"before the validation window and are scored on {_fmt(ctx.get('n_validation_queries'))} validation "
            f"queries ({ctx.get('validation_span', '?')}); the test period "
            f"({_fmt(ctx.get('n_test_queries'))} queries) is used only once per configuration, after the search."
        )
        parts.append("")
    parts += ["## Best parameters", "", best_params_table(results), ""]
    for r in results:
        parts += [tuning_section(r), ""]
    parts += [
        "## How to use the result",
        "",
        "- `best_params.toml` holds the tuned parameters as `[adapters.<name>]` tables: paste them into an "
        "experiment file under `experiments/`.",
        "- `xsell-eval compare ADAPTER... --tuned` reads the best parameters from the same storage; "
        "`xsell-eval compare ADAPTER... --tune N` tunes every adapter with the same budget first.",
        "- Re-running the same `tune` command (same `--study`) tops the study up to `--trials` in total.",
        "",
    ]
    if ctx.get("command"):
        parts += ["## Provenance", "", "```", str(ctx["command"]), "```", ""]
    return "\n".join(parts)


def tuning_summary_markdown(summary: TuningSummary | None) -> str:
    """The "Tuning" section of a comparison report, from ``CompareResult.tuning``.

    States, per adapter, whether it was tuned, with which budget (finished trials and
    trial seconds), on which metric and study, and whether the comparison is fair
    (every tunable adapter tuned with the same number of trials).

    Returns an empty string when there is no tuning summary.
    """
    if summary is None:
        return ""
    lines = ["## Tuning", ""]
    if summary.mode == "tune":
        lines.append(
            f"Every tunable adapter was tuned first on the validation window with the same budget of "
            f"**{summary.budget} finished trials** (the best among the first {summary.budget} trials of its study) on "
            f"{summary.metric}; storage `{summary.storage}`."
        )
    else:
        lines.append(
            f"Parameters of previously tuned adapters were read from `{summary.storage}` "
            f"(`--tuned`); the others run with their defaults."
        )
    lines.append("")
    rows = []
    for e in summary.adapters:
        rows.append(
            [
                f"`{e.adapter}`",
                "yes" if e.tuned else "no",
                f"{int(e.trials or 0):,}",
                _fmt(float(e.seconds or 0.0), 1),
                str(e.metric if e.metric is not None else "—"),
                _fmt(e.validation),
                _params_cell(e.params) if e.tuned else "defaults",
                e.note,
            ]
        )
    lines += [
        _table(
            ["adapter", "tuned", "trials", "trial seconds", "tuned on", "validation", "parameters", "note"],
            rows,
            "llrrlrll",
        ),
        "",
    ]
    if summary.fair:
        lines.append("Fair comparison: every tunable adapter was tuned with the same number of trials.")
    else:
        lines.append(
            "⚠ Not a like-for-like comparison: some tunable adapters were not tuned, or were tuned with "
            "different budgets (see the table). A tuned adapter has an advantage over an untuned one."
        )
    lines.append("")
    return "\n".join(lines)


def dumps_params(params: Mapping[str, Any]) -> str:
    """Compact JSON of parameters (sorted keys) for tables."""
    return json.dumps(dict(params), sort_keys=True, default=str)
