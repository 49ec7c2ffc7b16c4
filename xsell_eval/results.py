"""Run directories: the one module that writes them (compare, run, abtest, tune) and reads them back.

A :class:`~xsell_eval.result.CompareResult` is written by :func:`write_run` (adapters as they
finish by :func:`save_outcome`), an A/B test by :func:`write_abtest_run`, a tuning run by
:func:`write_tune_run`, re-rendered reports by :func:`write_report`. New directories go under
``reports/`` (:data:`DEFAULT_BASE`); directories under ``runs/`` from earlier versions are read alike.
:func:`plain` is the one JSON sanitiser (NaN -> null, numpy -> Python).

Layout (format version 1)::

    reports/<YYYYmmdd-HHMMSS>-<name>/
      config.json            resolved config (+ its hash)
      manifest.json          dataset fingerprint, versions, seed, git revision, timings
      summary.json           machine-readable results (schema: docs/output.md)
      queries.parquet        query_id, user_id, timestamp, context, targets (+ price, quantity)
      recommendations.parquet  query_id, adapter, rank, item_id, score
      metrics.parquet        per-query metrics, one row per (adapter, query)
      tables/*.parquet       summary, comparisons, buckets, aggregates
      adapters/<name>/       written as soon as an adapter finishes (resume)
      report.md              rendered from the files above only

Reports render from the directory alone, so ``xsell-eval report RUN_DIR`` is
deterministic.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval.errors import ConfigError, RunDirError
from xsell_eval.result import (
    AdapterOutcome,
    CompareResult,
    ExperimentInfo,
    ReportSettings,
    ResumeInfo,
    TuningSummary,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from xsell_eval.abtest.result import ABTestReport
    from xsell_eval.tuning.run import TuneResult

FORMAT_VERSION = 1
_TABLES = ("summary", "comparisons", "buckets", "aggregates")
_FIELD = {"summary": "estimates"}
"""Result field of a stored table (``tables/summary.parquet`` holds ``CompareResult.estimates``)."""


DEFAULT_BASE = "reports"
"""Folder of new run directories (``reports/<time>-<name>``)."""
LEGACY_BASE = "runs"
"""Where earlier versions wrote them; ``runs list`` still lists it, ``report``/``--resume`` still read it."""


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    return str(obj)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def plain(obj: Any) -> Any:
    """The JSON sanitiser: numpy scalars and arrays to Python, NaN/inf to None, tuples to lists.

    The one place that decides how a value looks in a run directory; applying it in memory
    (the report renders a result through it) makes memory and disk render alike.
    """
    return _finite(json.loads(json.dumps(obj, default=_json_default)))


def dump_json(obj: Any, path: Path) -> None:
    """Strict, sorted, indented JSON (NaN -> null)."""
    path.write_text(json.dumps(plain(obj), indent=2, sort_keys=True) + "\n", encoding="utf-8")


RUN_FILES = ("config.json", "manifest.json", "context.json", *(f"tables/{t}.parquet" for t in _TABLES))
"""The files :func:`read_run` needs: a compare/run directory without one of them is incomplete."""


def run_kind(path: Path) -> str | None:
    """``"tune"``, ``"abtest"``, ``"compare"`` (also ``run`` and interrupted compare runs) or None."""
    if (path / "tuning.json").exists():
        return "tune"
    if (path / "abtest.json").exists() and not (path / "summary.json").exists():
        return "abtest"
    if any((path / m).exists() for m in ("summary.json", "context.json", "config.json", "manifest.json", "adapters")):
        return "compare"
    return None


#: What a run writes (every kind): replaced wholesale when a new run reuses the folder.
RUN_OUTPUTS = (
    "adapters",
    "tables",
    "plots",
    "figures",
    "data",
    "config.json",
    "manifest.json",
    "context.json",
    "summary.json",
    "experiment.json",
    "experiment.toml",
    "tuning.json",
    "abtest.json",
    "best_params.toml",
    "report.md",
    "report.html",
    "queries.parquet",
    "recommendations.parquet",
    "metrics.parquet",
    "visitors.parquet",
    "daily.parquet",
)


def clear_run_dir(path: Path) -> list[str]:
    """Remove an earlier run's outputs from ``path`` before a new run writes there; returns what went.

    Done before any work, so a new run that fails or is interrupted leaves an incomplete folder
    (which ``report`` and ``runs list`` call incomplete), never the old run's report under the new
    run's config. Files a run does not write (a user's notes) are left alone.
    """
    import shutil

    gone = []
    for name in (*RUN_OUTPUTS, *(p.name for p in path.glob("trials_*.csv"))):
        p = path / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
        else:
            continue
        gone.append(name)
    return gone


def check_out_dir(path: Path | None, kind: str | None = None) -> None:
    """Refuse ``--out`` pointing at a file, at another kind of run, or at a folder that is not a run.

    A run directory of the same kind may be written again (see :func:`clear_run_dir`); a run
    directory of another kind (a compare run given to ``tune --out``) or any other folder with
    files in it (a data folder, a home directory) is not ours to write into.

    Raises:
        ConfigError: naming the path and a few of the files found.
    """
    if path is None:
        return
    if not path.exists():
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(f"--out {path} cannot be created: '{parent}' is a file, not a folder")
                break
        return
    if not path.is_dir():
        raise ConfigError(f"--out {path} is a file; give a folder for the run directory")
    held = run_kind(path)
    if held is not None:
        if kind is None or kind == held:
            return
        raise ConfigError(f"--out {path} holds a {held} run; a {kind} run would overwrite it: give another folder")
    found = sorted(p.name for p in path.iterdir())
    if found:
        shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
        raise ConfigError(
            f"--out {path} is an existing folder that is not a run directory (it holds {shown}); "
            "give a new or empty folder"
        )


def prepare_out_dir(path: Path | None, kind: str, *, resume: bool = False) -> list[str]:
    """:func:`check_out_dir`, then (unless resuming) :func:`clear_run_dir`; returns what was removed."""
    check_out_dir(path, kind)
    if path is None or resume or not path.is_dir():
        return []
    return clear_run_dir(path)


def new_run_dir(base: str | Path = DEFAULT_BASE, name: str = "compare") -> Path:
    """A fresh ``reports/<timestamp>-<name>`` directory (suffix added if it exists)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    path = Path(base) / f"{stamp}-{slug}"
    i = 1
    while path.exists():
        i += 1
        path = Path(base) / f"{stamp}-{slug}-{i}"
    path.mkdir(parents=True)
    return path


def summary_dict(result: CompareResult) -> dict[str, Any]:
    """The machine-readable summary (also printed by ``--format json``)."""

    def records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [] if df is None or df.empty else json.loads(df.to_json(orient="records"))

    return {
        "format_version": FORMAT_VERSION,
        "name": result.config.name,
        "config_hash": result.config.hash,
        "dataset": result.manifest.get("dataset", {}),
        "protocol": result.config.protocol,
        "split": result.split,
        "leakage_audit": result.audit,
        "n_queries": result.n_queries,
        "baseline": result.config.baseline,
        "primary_metric": result.config.primary_metric,
        "ci_unit": result.config.ci_unit,
        "test": result.config.test,
        "adapters": [a.to_dict() for a in result.adapters],
        "metrics": records(result.estimates),
        "comparisons": records(result.comparisons),
        "buckets": records(result.buckets),
        "aggregates": records(result.aggregates),
        **({"extra": extra_dict(result)} if extra_dict(result) else {}),
        **({"engine": result.manifest["engine"]} if result.manifest.get("engine") else {}),  # --engine spark
    }


def extra_dict(result: CompareResult) -> dict[str, Any]:
    """The optional parts of a result as stored under ``extra`` (``decision``, ``abtest``, ``tuning``, ...)."""
    parts: dict[str, Any] = {
        "decision": result.decision,
        "abtest": result.abtest,
        "tuning": result.tuning,
        "resume": result.resume,
        "experiment": result.experiment,
        "report": result.settings,
        "fairness": result.fairness,
        "examples": result.examples,
    }
    out = {k: v.to_dict() for k, v in parts.items() if v is not None}
    if result.command:
        out["command"] = result.command
    return out


def parts_from_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`extra_dict`: the keyword arguments of :class:`CompareResult` for the optional parts."""
    from xsell_eval.decision import Decision

    out: dict[str, Any] = {}
    if extra.get("decision"):
        out["decision"] = Decision.from_dict(extra["decision"])
    if extra.get("abtest"):
        from xsell_eval.abtest.result import ABTestReport

        out["abtest"] = ABTestReport.from_dict(extra["abtest"])
    if extra.get("tuning"):
        out["tuning"] = TuningSummary.from_dict(extra["tuning"])
    if extra.get("resume"):
        out["resume"] = ResumeInfo.from_dict(extra["resume"])
    if extra.get("experiment"):
        out["experiment"] = ExperimentInfo.from_dict(extra["experiment"])
    if extra.get("report"):
        out["settings"] = ReportSettings.from_dict(extra["report"])
    if extra.get("command"):
        out["command"] = str(extra["command"])
    if extra.get("fairness"):
        from xsell_eval.fairness import FairnessSummary

        out["fairness"] = FairnessSummary.from_dict(extra["fairness"])
    if extra.get("examples"):
        from xsell_eval.examples import Examples

        out["examples"] = Examples.from_dict(extra["examples"])
    return out


def save_outcome(run_dir: Path, outcome: AdapterOutcome) -> None:
    """Persist one adapter's outcome as soon as it finishes (for resume)."""
    d = run_dir / "adapters" / re.sub(r"[^A-Za-z0-9_.=,-]+", "_", outcome.name)
    d.mkdir(parents=True, exist_ok=True)
    dump_json(outcome.to_dict() | {"traceback": outcome.traceback}, d / "info.json")
    if outcome.recs is not None:
        np.savez_compressed(
            d / "recs.npz",
            items=outcome.recs.items,
            scores=outcome.recs.scores,
            fallback=outcome.recs.fallback if outcome.recs.fallback is not None else np.zeros(0, bool),
            has_fallback=np.array(outcome.recs.fallback is not None),
        )
    if outcome.per_query is not None:
        outcome.per_query.to_parquet(d / "per_query.parquet", index=False)
    for bucket, df in (outcome.per_query_items or {}).items():
        df.to_parquet(d / f"per_query_items_{bucket}.parquet", index=False)


def load_outcomes(run_dir: Path) -> dict[str, AdapterOutcome]:
    """Outcomes saved by :func:`save_outcome` (completed adapters only)."""
    from xsell_eval.queries import Recommendations

    out: dict[str, AdapterOutcome] = {}
    for d in sorted((run_dir / "adapters").glob("*")):
        info_path = d / "info.json"
        if not info_path.exists():
            continue
        info = json.loads(info_path.read_text())
        if info["status"] != "ok" or not (d / "recs.npz").exists() or not (d / "per_query.parquet").exists():
            continue
        z = np.load(d / "recs.npz")
        recs = Recommendations(
            items=z["items"],
            scores=z["scores"],
            adapter=info["name"],
            fallback=z["fallback"] if bool(z["has_fallback"]) else None,
        )
        items = {
            p.stem.removeprefix("per_query_items_"): pd.read_parquet(p) for p in d.glob("per_query_items_*.parquet")
        }
        out[info["spec"]] = replace(  # evaluated_on none saved (older run): never matches, re-run
            AdapterOutcome.from_dict(info),
            traceback="",
            recs=recs,
            per_query=pd.read_parquet(d / "per_query.parquet"),
            per_query_items=items,
        )
    return out


def write_run(result: CompareResult, run_dir: Path, *, report: str | None = None, html: bool = False) -> Path:
    """Write every file of the run directory; ``report`` defaults to the Markdown render (+ plots/).

    ``html`` also writes a standalone ``report.html`` (figures embedded).
    """
    from xsell_eval.report.markdown import render_run_report

    if result.decision is None:  # a result assembled by hand: decide while the per-query values are here
        result = result.with_decision()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, result.config)
    dump_json(result.manifest, run_dir / "manifest.json")
    dump_json(
        {
            "data_card": result.data_card,
            "data_card_md": result.data_card_md,
            "split": result.split,
            "audit": result.audit,
            "n_queries": result.n_queries,
            "adapters": [a.to_dict() for a in result.adapters],
            "extra": extra_dict(result),
        },
        run_dir / "context.json",
    )
    dump_json(summary_dict(result), run_dir / "summary.json")
    tables = run_dir / "tables"
    tables.mkdir(exist_ok=True)
    for t in _TABLES:
        df: pd.DataFrame = getattr(result, _FIELD.get(t, t))
        df.to_parquet(tables / f"{t}.parquet", index=False)
    from xsell_eval.run_frames import write_parquet  # lean columns written as the plain ones (same files)

    if result.queries_frame is not None:
        write_parquet(result.queries_frame, run_dir / "queries.parquet")
    if result.recs_frame is not None:
        write_parquet(result.recs_frame, run_dir / "recommendations.parquet")
    if result.per_query_frame is not None:
        result.per_query_frame.to_parquet(run_dir / "metrics.parquet", index=False)
    if report is None:
        report = render_run_report(result, run_dir)
    write_report(run_dir, report, html=html)
    return run_dir


def read_run(run_dir: str | Path) -> CompareResult:
    """Read a run directory back (tables and JSON only; per-query files are not loaded).

    Raises:
        RunDirError: missing directory, missing file, or an unsupported format version.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise RunDirError(f"run directory '{d}' does not exist")
    missing = [n for n in RUN_FILES if not (d / n).exists()]
    if missing:
        raise RunDirError(
            f"run directory '{d}' is incomplete: missing {', '.join(missing)} (was the run interrupted? "
            "re-run `xsell-eval compare ... --out DIR --resume` to finish it)"
        )
    manifest = json.loads((d / "manifest.json").read_text())
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise RunDirError(
            f"run directory '{d}' has format version {version!r}; this xsell-eval reads version {FORMAT_VERSION}"
        )
    from xsell_eval.pipeline import CompareConfig

    cfg_raw = json.loads((d / "config.json").read_text())
    cfg_raw.pop("config_hash", None)
    known = {f.name for f in fields(CompareConfig)}
    cfg_kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg_raw.items() if k in known}
    if "ci_unit" not in cfg_raw:  # written before the customer bootstrap: queries were resampled, Wilcoxon tested
        cfg_kwargs |= {"ci_unit": "query", "test": "wilcoxon"}
    config = CompareConfig(**cfg_kwargs)
    ctx = json.loads((d / "context.json").read_text())
    tables = {t: pd.read_parquet(d / "tables" / f"{t}.parquet") for t in _TABLES}
    return CompareResult(
        config=config,
        manifest=manifest,
        data_card=ctx["data_card"],
        data_card_md=ctx["data_card_md"],
        split=ctx["split"],
        audit=ctx["audit"],
        n_queries=ctx["n_queries"],
        estimates=tables["summary"],
        comparisons=tables["comparisons"],
        buckets=tables["buckets"],
        aggregates=tables["aggregates"],
        adapters=tuple(AdapterOutcome.from_dict(a) for a in ctx["adapters"]),
        **parts_from_extra(ctx.get("extra") or {}),
    )


# ---------------------------------------------------------------------- abtest and tune run directories
def write_abtest_run(
    report: ABTestReport,
    run_dir: str | Path,
    *,
    sim: Any = None,
    settings: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
) -> ABTestReport:
    """Write an ``abtest`` run directory: figures, ``abtest.json``, visitors (if ``sim``), ``report.md``.

    ``settings`` and ``manifest`` (the command's settings; versions and timings) go to
    ``config.json`` and ``manifest.json`` when given.

    Layout::

        reports/<time>-abtest/
          abtest.json                  the ABTestReport (everything the report shows)
          config.json, manifest.json   the command's settings; data fingerprint, versions, seed, timings
          visitors.parquet             one row per simulated visitor
          daily.parquet                per (day, arm) visitors, conversions, revenue
          figures/abtest_lift.png      lift with CI per treatment arm
          figures/abtest_sequential.png cumulative lift and p-value by day with the sequential boundary
          report.md

    Returns the report with its ``figures`` filled in.
    """
    from xsell_eval.report.abtest import LIFT_PNG, SEQ_PNG, plot_lift, plot_sequential, render_report

    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    plot_lift(report, d / LIFT_PNG)
    plot_sequential(report, d / SEQ_PNG)
    report = replace(report, figures={"lift": LIFT_PNG, "sequential": SEQ_PNG})
    if settings is not None:
        dump_json(settings, d / "config.json")
    if manifest is not None:
        dump_json(manifest, d / "manifest.json")
    (d / "abtest.json").write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if sim is not None:
        sim.to_frame().to_parquet(d / "visitors.parquet", index=False)
        daily = sim.daily()
        daily["arm"] = np.asarray(sim.arms, dtype=object)[daily["arm"].to_numpy()]
        daily.to_parquet(d / "daily.parquet", index=False)
    (d / "report.md").write_text(render_report(report), encoding="utf-8")
    return report


def read_abtest_run(run_dir: str | Path) -> ABTestReport:
    """Read ``abtest.json`` of a run directory.

    Raises:
        RunDirError: no such directory or no ``abtest.json``.
    """
    d = Path(run_dir)
    if not (d / "abtest.json").is_file():
        raise RunDirError(f"'{d}' is not an abtest run directory (no abtest.json)")
    try:
        raw = json.loads((d / "abtest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{d / 'abtest.json'}: unreadable: {exc}") from exc
    from xsell_eval.abtest.result import ABTestReport

    return ABTestReport.from_dict(raw)


def rerender_abtest_run(run_dir: str | Path) -> str:
    """Re-render ``report.md`` of an abtest run from ``abtest.json`` alone (plots redrawn); returns the text."""
    from xsell_eval.report.abtest import LIFT_PNG, SEQ_PNG, plot_lift, plot_sequential, render_report

    d = Path(run_dir)
    report = read_abtest_run(d)
    plot_lift(report, d / LIFT_PNG)
    plot_sequential(report, d / SEQ_PNG)
    text = render_report(report)
    (d / "report.md").write_text(text, encoding="utf-8")
    return text


def write_tune_run(
    results: Sequence[TuneResult], run_dir: str | Path, *, context: Mapping[str, Any] | None = None
) -> list[TuneResult]:
    """Write a ``tune`` run directory; returns the results with their figure paths.

    Layout::

        reports/<time>-tune-<adapters>/
          tuning.json          every TuneResult (budget, best params, test vs default, Pareto front)
          trials_<adapter>.csv every trial of the study (state, values, seconds, worker, params)
          best_params.toml     [adapters.<name>] snippets for experiments/
          figures/*.png        optimisation history, parameter importance, Pareto front
          report.md            rendered from tuning.json only
    """
    from xsell_eval.report.tuning import render_tuning_report, save_tuning_figures
    from xsell_eval.tuning.run import best_params_toml
    from xsell_eval.tuning.study import trials_frame

    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    out: list[TuneResult] = []
    for r in results:
        figs: dict[str, str] = {}
        if r.study is not None:
            figs = save_tuning_figures(r.study, r.to_dict(), d)
            trials_frame(r.study).to_csv(d / f"trials_{r.adapter}.csv", index=False)
        out.append(replace(r, figures=figs))
    ctx = dict(context or {})
    payload = {"format_version": 1, "kind": "tune", "context": ctx, "results": [r.to_dict() for r in out]}
    dump_json(payload, d / "tuning.json")
    (d / "best_params.toml").write_text(best_params_toml(out), encoding="utf-8")
    (d / "report.md").write_text(render_tuning_report([r.to_dict() for r in out], context=ctx), encoding="utf-8")
    return out


def write_report(run_dir: str | Path, markdown: str, *, html: bool = False) -> list[Path]:
    """(Re)write ``report.md`` of a run directory, and ``report.html`` (figures embedded) when ``html``."""
    d = Path(run_dir)
    (d / "report.md").write_text(markdown, encoding="utf-8")
    written = [d / "report.md"]
    if html:
        from xsell_eval.report.html import render_html_for

        (d / "report.html").write_text(render_html_for(d, markdown), encoding="utf-8")
        written.append(d / "report.html")
    return written


def start_run_dir(
    out: Path | None, name: str, *, config: Any = None, experiment: tuple[Path, dict[str, Any]] | None = None
) -> Path:
    """The run directory of a new compare/run (``out``, or a fresh ``reports/<time>-<name>``), created.

    Writes what is known before any work: ``config.json`` (``config``, a CompareConfig) and, for
    ``xsell-eval run``, a copy of the experiment file as ``experiment.toml`` plus ``experiment.json``
    (``experiment``: the file's path and its resolved description).
    """
    run_dir = out if out is not None else new_run_dir(DEFAULT_BASE, name)
    run_dir.mkdir(parents=True, exist_ok=True)
    if experiment is not None:
        src, info = experiment
        (run_dir / "experiment.toml").write_text(Path(src).read_text(encoding="utf-8"), encoding="utf-8")
        dump_json(info, run_dir / "experiment.json")
    if config is not None:
        write_config(run_dir, config)
    return run_dir


def write_config(run_dir: Path, config: Any) -> None:
    """``config.json``: the resolved CompareConfig and its hash."""
    dump_json(config.to_dict() | {"config_hash": config.hash}, run_dir / "config.json")
