"""``tune``: search, then refit best and default parameters on train and evaluate once on test."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval.errors import AdapterError
from xsell_eval.tuning.search import (
    TuneProgressFn,
    _first_errors,
    _importances,
    _TrialFailed,
    run_search,
)
from xsell_eval.tuning.space import DEFAULT_METRIC, _in_space, active_params, describe_space, parse_objectives
from xsell_eval.tuning.study import StudyPlan, _count, pareto_front, select_best

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from xsell_eval.data.dataset import Dataset
    from xsell_eval.pipeline import CompareConfig, Prepared
    from xsell_eval.queries import Queries


# =============================================================================== result
@dataclass(frozen=True, eq=False)
class TuneResult:
    """The outcome of tuning one adapter: search, budget, and the single test evaluation.

    Attributes:
        adapter, spec: the adapter name and the spec given.
        study_name, storage: where the study lives (password hidden).
        metrics, directions: the objective(s); the first metric picks the best trial.
        fingerprint, config_hash: data and evaluation identity (also study attributes).
        search_space: ``{param: description}``.
        fixed_params: parameters held fixed (experiment ``[adapters.X]``, spec params).
        best_trial: number of the selected trial; ``best_params`` its sampled values;
            ``best_values`` its validation scores (metric -> value).
        tuned_params, default_params: the full parameter sets fitted for the test.
        default_validation: validation scores of the default parameters.
        budget: trials (target, finished, complete, pruned, failed, this run), seconds
            (this run's wall time, total trial time in the study), workers.
        test: rows ``variant`` (tuned/default), ``metric``, ``mean``, ``ci_low``,
            ``ci_high``, ``n``, ``validation`` — the test scores with CIs, the
            validation score next to them.
        comparison: tuned − default on test per metric (paired bootstrap CI, p-value of
            ``paired_test``, wins/ties/losses on the same queries).
        pareto: multi-objective only: the Pareto front (trial, metrics..., params).
        importances: parameter importances (fANOVA, seeded) on the first metric.
        errors: distinct messages of failed trials (first few).
        notes: caveats (reproducibility, pruning, failed refits...).
        sampler_seed, pruning: how the search ran.
        test_error: why the test evaluation failed, if it did.
        figures: relative paths of saved plots (filled when a run directory is written).
        confidence: the CI level.
        ci_unit: what the bootstrap of ``test`` and ``comparison`` resampled: ``"customer"``
            (cluster bootstrap, the default of ``compare``) or ``"query"``.
        paired_test: the test of ``comparison``'s p-value: ``"bootstrap"``, ``"wilcoxon"`` or ``"ttest"``.
    """

    adapter: str
    spec: str
    study_name: str
    storage: str
    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    fingerprint: str
    config_hash: str
    search_space: dict[str, str]
    fixed_params: dict[str, Any]
    best_trial: int
    best_params: dict[str, Any]
    best_values: dict[str, float]
    tuned_params: dict[str, Any]
    default_params: dict[str, Any]
    default_validation: dict[str, float]
    budget: dict[str, Any]
    test: pd.DataFrame
    comparison: pd.DataFrame
    pareto: pd.DataFrame
    importances: dict[str, float]
    errors: list[str]
    notes: list[str]
    sampler_seed: int
    pruning: str
    test_error: str = ""
    figures: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.95
    ci_unit: str = "customer"
    paired_test: str = "bootstrap"
    study: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (DataFrames as records); :meth:`from_dict` reads it back."""

        def rec(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [] if df is None or df.empty else json.loads(df.to_json(orient="records"))

        return {
            "adapter": self.adapter,
            "spec": self.spec,
            "study_name": self.study_name,
            "storage": self.storage,
            "metrics": list(self.metrics),
            "directions": list(self.directions),
            "fingerprint": self.fingerprint,
            "config_hash": self.config_hash,
            "search_space": self.search_space,
            "fixed_params": self.fixed_params,
            "best_trial": self.best_trial,
            "best_params": self.best_params,
            "best_values": self.best_values,
            "tuned_params": self.tuned_params,
            "default_params": self.default_params,
            "default_validation": self.default_validation,
            "budget": self.budget,
            "test": rec(self.test),
            "comparison": rec(self.comparison),
            "pareto": rec(self.pareto),
            "importances": self.importances,
            "errors": self.errors,
            "notes": self.notes,
            "sampler_seed": self.sampler_seed,
            "pruning": self.pruning,
            "test_error": self.test_error,
            "figures": self.figures,
            "confidence": self.confidence,
            "ci_unit": self.ci_unit,
            "paired_test": self.paired_test,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TuneResult:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        for key in ("metrics", "directions"):
            kw[key] = tuple(kw[key])
        for key in ("test", "comparison", "pareto"):
            kw[key] = pd.DataFrame(kw.get(key) or [])
        kw.pop("study", None)
        # tuning.json written before these fields resampled queries and took Wilcoxon's p-value
        kw.setdefault("ci_unit", "query")
        kw.setdefault("paired_test", "wilcoxon")
        return cls(**kw)


# =============================================================================== tune
def tune(
    spec: str,
    config: CompareConfig,
    *,
    metric: str | Sequence[str] = DEFAULT_METRIC,
    n_trials: int = 50,
    timeout: float | None = None,
    storage: str | BaseStorage | None = None,
    study_name: str | None = None,
    n_jobs: int = 1,
    seed: int | None = None,
    prepared: Prepared | None = None,
    progress: TuneProgressFn | None = None,
    directions: Sequence[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    validation: tuple[Dataset, Queries] | None = None,
    storage_url: str | None = None,
) -> TuneResult:
    """Tune one adapter on the validation window, then evaluate tuned and default once on test.

    Args:
        spec: adapter name, optionally with fixed parameters (``"cf:interactions=user"``:
            those are not searched).
        config: data, split, protocol, seed, bootstrap settings (the test CIs and the tuned −
            default comparison resample ``config.ci_unit`` and take ``config.test``'s p-value, as
            ``compare`` does); ``config.params[name]`` holds fixed parameters (e.g. from an
            experiment's ``[adapters.<name>]``).
        metric: the metric to maximise (``"ndcg@10"``), or several for a multi-objective
            study (``["ndcg@10", "coverage@10"]``, Pareto front in the result).
        n_trials: total number of finished trials the study should have (a resumed
            study is topped up, see the module docstring).
        timeout: stop starting new trials after this many seconds (this run).
        storage: a URL for :func:`open_storage`, an Optuna storage object, or None
            (``sqlite:///reports/optuna.db``).
        study_name: default: :func:`default_study_name` (stable: re-running resumes).
        n_jobs: parallel trials in this process (threads; see the reproducibility note).
        seed: sampler seed (default ``config.seed``); the evaluation always uses ``config.seed``.
        prepared: data already loaded and split (:func:`xsell_eval.pipeline.prepare`).
        progress: callback ``(event, adapter, info)``.
        directions: override the optimisation directions (default from the metrics).
        overrides: search-space overrides (``[tune.<adapter>]`` of an experiment).
        validation: ``(fit_train, validation queries)`` already built by
            :func:`~xsell_eval.pipeline.prepare_validation` (saves rebuilding them).
        storage_url: the URL of ``storage`` when an opened storage object is passed
            (shown, password hidden, in messages and the report).

    Returns:
        A :class:`TuneResult`.

    Raises:
        ConfigError: bad metric/override/storage, or a study of that name tuned for
            something else (nothing is changed then).
        AdapterError: no trial completed (the message carries the first trial errors).
    """
    from xsell_eval.pipeline import prepare, run_adapter
    from xsell_eval.stats import summarize

    emit = progress or (lambda *a: None)
    metrics, dirs = parse_objectives(metric, directions)
    from xsell_eval.adapters.registry import parse_spec

    name, _ = parse_spec(spec)
    config = replace(config, adapters=(spec,), baseline="", primary_metric=metrics[0]).validate()
    if prepared is None:
        prepared = prepare(config)
    out = run_search(
        spec,
        config,
        prepared=prepared,
        metric=metrics,
        directions=dirs,
        n_trials=n_trials,
        timeout=timeout,
        storage=storage,
        study_name=study_name,
        n_jobs=n_jobs,
        seed=seed,
        overrides=overrides,
        progress=progress,
        validation=validation,
        storage_url=storage_url,
    )
    study, plan = out.study, out.plan
    trials = study.get_trials(deepcopy=False)
    counts = _count(study)
    errors = _first_errors(study)
    notes: list[str] = []
    default_params = dict(plan.defaults)  # declared defaults, then fixed parameters (a hybrid's weights included)
    default_searched = active_params({k: default_params[k] for k in plan.space}, plan.conditions, default_params)
    # validation score of the defaults: the default trial if the study has one, else one direct evaluation,
    # which is then added to the study (its creator was interrupted while scoring it), so that the study's
    # best, which `compare --tuned` reads, is never worse than the defaults
    default_validation: dict[str, float] = {}
    dtr = [t for t in trials if t.user_attrs.get("is_default") and t.state.name == "COMPLETE" and t.values]
    if dtr:
        default_validation = dict(zip(metrics, map(float, dtr[0].values), strict=True))
    else:
        try:
            default_validation = dict(zip(metrics, out.search.evaluate(default_searched), strict=True))
        except _TrialFailed as exc:
            notes.append(f"default parameters failed on validation: {exc}")
        if default_validation and plan.space and all(_in_space(plan.space[n], v) for n, v in default_searched.items()):
            _add_scored_default(study, default_searched, plan, list(default_validation.values()), out.search.worker)
            trials = study.get_trials(deepcopy=False)
            counts = _count(study)
            notes.append("the default trial was missing (an interrupted start): scored and added to the study")
    if not plan.space:
        best_params: dict[str, Any] = {}
        best_number = -1
        best_values: dict[str, float] = dict(default_validation)
        notes.append(f"adapter '{name}' has no tunable hyperparameters: tuned = default")
    else:
        best = select_best(trials, dirs)
        if best is None:
            detail = "; ".join(errors) if errors else "no trial finished within the budget/timeout"
            raise AdapterError(
                f"tuning '{spec}' produced no completed trial in study '{plan.study_name}' "
                f"({counts['failed']} failed, {counts['pruned']} pruned): {detail}"
            )
        best_params = dict(best.params)
        best_number = best.number
        best_values = dict(zip(metrics, map(float, best.values), strict=True))
        # defaults outside the *declared* space (LightFM's item_alpha = 0 vs a log range) are a candidate; a space
        # the user narrowed on purpose with [tune.<adapter>] (similarity = ["jaccard"]) is respected
        off = [n for n, v in default_searched.items() if not _in_space(plan.space[n], v)]
        outside = bool(off) and not set(off) & set(overrides or {})
        if outside and default_validation:
            study.set_user_attr("default_values", list(default_validation.values()))
        if outside and len(metrics) == 1 and metrics[0] in default_validation:
            b, d = best_values[metrics[0]], default_validation[metrics[0]]
            if (b < d) if dirs[0] == "maximize" else (b > d):
                notes.append(
                    f"no trial beat the defaults on validation ({metrics[0]} {b:.4g} vs {d:.4g}; the defaults lie "
                    f"outside the declared search space of {', '.join(off)}, so they are not a trial): the defaults "
                    "are kept as the tuned parameters"
                )
                best_params, best_values, best_number = {}, dict(default_validation), -1
    tuned_params = {**default_params, **best_params}

    # ---- refit on the full train, evaluate once on test (tuned and default)
    emit("stage_start", name, {"stage": "refit and test"})
    cfg = replace(config, params={}, ks=tuple(sorted(set(config.ks) | {int(m.split("@")[1]) for m in metrics})))
    tuned_out = run_adapter(name, cfg, prepared, params=tuned_params)
    same = tuned_params == default_params
    default_out = tuned_out if same else run_adapter(name, cfg, prepared, params=default_params)
    emit("stage_end", name, {"stage": "refit and test"})
    test_error = ""
    from xsell_eval.metrics import METRICS

    per_query_metrics = [m for m in metrics if METRICS[m.split("@")[0]].scope == "per_query"]
    rows = []
    comp_rows = []
    for variant, o, val in (("tuned", tuned_out, best_values), ("default", default_out, default_validation)):
        if o.status != "ok" or o.per_query is None:
            test_error += f"{variant}: {o.error}. "
            continue
        if per_query_metrics:
            s = summarize(
                o.per_query,
                per_query_metrics,
                **config.bootstrap_options,
                ci_unit=config.ci_unit,
            )
            for r in s.itertuples(index=False):
                rows.append((variant, r.metric, r.mean, r.ci_low, r.ci_high, r.n, val.get(str(r.metric))))
        for m in metrics:
            if m not in per_query_metrics:
                v = o.aggregates.get(m, float("nan"))
                rows.append((variant, m, v, float("nan"), float("nan"), len(prepared.queries), val.get(m)))
    test = pd.DataFrame(rows, columns=["variant", "metric", "mean", "ci_low", "ci_high", "n", "validation"])
    if not test_error and tuned_out.per_query is not None and default_out.per_query is not None:
        comp_rows = tuned_vs_default(tuned_out.per_query, default_out.per_query, per_query_metrics, config)
    comparison = pd.DataFrame(comp_rows)
    if n_jobs > 1:
        notes.append(f"n_jobs={n_jobs}: trials ran in parallel threads, so the sampled sequence is not reproducible")
    if not out.created:
        notes.append(
            "this run resumed or joined an existing study: the sampler seed was derived from --seed, the trials "
            "already present, the host and the process id (not bit-reproducible)"
        )
    if counts["finished"] < n_trials and plan.space:
        notes.append(
            f"the study has {counts['finished']} finished trials, fewer than the target {n_trials} "
            "(timeout, failed trials or interruption); re-run the same command to top it up"
        )
    total_seconds = float(
        sum(t.duration.total_seconds() for t in trials if t.duration is not None and t.state.name != "RUNNING")
    )
    workers = sorted({str(t.user_attrs.get("worker")) for t in trials if t.user_attrs.get("worker")})
    budget = {
        "target_trials": n_trials,
        "trials_this_run": out.trials_this_run,
        "seconds_this_run": out.seconds,
        "trial_seconds_total": total_seconds,
        "workers": workers,
        **counts,
    }
    pareto = pareto_front(study, dirs) if len(metrics) > 1 else pd.DataFrame()
    # store the accepted result in the study for `compare --tuned`
    if plan.space:
        study.set_user_attr("best_params", best_params)
        study.set_user_attr("best_trial", best_number)
        study.set_user_attr("best_values", best_values)
    return TuneResult(
        confidence=config.confidence,
        adapter=name,
        spec=spec,
        study_name=plan.study_name,
        storage=out.storage_url,
        metrics=metrics,
        directions=dirs,
        fingerprint=plan.fingerprint,
        config_hash=plan.config_hash,
        search_space=describe_space(plan.space, plan.conditions),
        fixed_params=plan.base_params,
        best_trial=best_number,
        best_params=best_params,
        best_values=best_values,
        tuned_params=tuned_params,
        default_params=default_params,
        default_validation=default_validation,
        budget=budget,
        test=test,
        comparison=comparison,
        pareto=pareto,
        importances=_importances(study, config.seed, metrics) if plan.space else {},
        errors=errors,
        notes=notes,
        sampler_seed=out.sampler_seed,
        pruning=out.pruning,
        test_error=test_error.strip(),
        ci_unit=config.ci_unit,
        paired_test=config.test,
        study=study,
    )


def tuned_vs_default(
    tuned: pd.DataFrame, default: pd.DataFrame, metrics: Sequence[str], config: CompareConfig
) -> list[dict[str, Any]]:
    """Tuned − default on test per metric, as every paired comparison of ``compare`` is computed.

    The two per-query tables are paired on ``query_id``; the resampling unit is ``config.ci_unit``
    (``"customer"``: the query's customer is its cluster, so a customer's queries are drawn together)
    and the p-value comes from ``config.test`` — the same statistics as the comparison report.

    Raises:
        DataError: ``ci_unit`` is ``"customer"`` and the tuned per-query table has no customer column.
    """
    from xsell_eval.stats import pair_on_queries, paired_comparison

    j, clusters = pair_on_queries(tuned, default, list(metrics), ci_unit=config.ci_unit)
    rows = []
    for m in metrics:
        pc = paired_comparison(
            j[f"{m}_a"].to_numpy(dtype=float),
            j[f"{m}_b"].to_numpy(dtype=float),
            **config.bootstrap_options,
            test=config.test,  # type: ignore[arg-type]  # checked by CompareConfig.validate
            clusters=clusters,
        )
        rows.append({"metric": m, **asdict(pc)})
    return rows


# =============================================================================== best params as config
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, Mapping):  # e.g. a hybrid's components table
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def _toml_key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _add_scored_default(
    study: optuna.Study, params: dict[str, Any], plan: StudyPlan, values: list[float], worker: str
) -> None:
    """Add the already scored defaults to the study as a finished default trial."""
    import datetime

    from optuna.trial import TrialState, create_trial

    frozen = create_trial(
        state=TrialState.COMPLETE,
        params=params,
        distributions={n: plan.space[n] for n in params},
        values=values,
        user_attrs={"is_default": True, "worker": worker},
    )
    frozen.datetime_start = frozen.datetime_complete = datetime.datetime.now()
    study.add_trial(frozen)


def best_params_toml(results: Sequence[TuneResult]) -> str:
    """A TOML snippet ``[adapters.<name>]`` with the tuned parameters, for ``experiments/``.

    Each table holds the whole configuration that was scored: the parameters held fixed
    during the search (the spec's, e.g. ``interactions`` of ``cf:interactions=user``, and the
    experiment's) followed by the tuned ones, so the table reproduces the reported scores on
    its own. Each table is preceded by a comment with the study and scores.
    """
    lines = [
        "# Tuned hyperparameters written by `xsell-eval tune`: paste into an experiment TOML",
        "# (replacing that experiment's own [adapters.<name>] table, if it has one).",
        "# Validation scores are from the study; test scores are in report.md.",
        "",
    ]
    for r in results:
        vals = ", ".join(f"{m} = {v:.4f}" for m, v in r.best_values.items())
        lines.append(
            f"# study '{r.study_name}': trial #{r.best_trial}, validation {vals or '—'}, "
            f"{r.budget.get('finished', 0)} finished trials"
        )
        lines.append(f"[adapters.{_toml_key(r.adapter)}]")
        fixed = {k: v for k, v in r.fixed_params.items() if k not in r.best_params}
        for k, v in sorted(fixed.items()):
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}  # held fixed during the search")
        for k, v in sorted(r.best_params.items()):
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


# =============================================================================== run directory
def read_tune_run(run_dir: str | Path) -> tuple[list[TuneResult], dict[str, Any]]:
    """Read ``tuning.json`` of a tune run directory back: (results, context)."""
    from xsell_eval.errors import RunDirError

    p = Path(run_dir) / "tuning.json"
    if not p.is_file():
        raise RunDirError(f"'{run_dir}' is not a tune run directory (no tuning.json)")
    raw = json.loads(p.read_text(encoding="utf-8"))
    return [TuneResult.from_dict(r) for r in raw["results"]], raw.get("context", {})
