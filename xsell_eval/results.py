"""Run directories: write a :class:`~xsell_eval.pipeline.CompareResult` and read it back.

Layout (format version 1)::

    runs/<YYYYmmdd-HHMMSS>-<name>/
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
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.errors import ConfigError, RunDirError
from xsell_eval.pipeline import AdapterOutcome, CompareConfig, CompareResult

FORMAT_VERSION = 1
_TABLES = ("summary", "comparisons", "buckets", "aggregates")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    return str(obj)


def _clean(obj: Any) -> Any:
    """Replace NaN/inf by None recursively (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dump_json(obj: Any, path: Path) -> None:
    """Strict, sorted, indented JSON (NaN -> null)."""
    text = json.dumps(_clean(json.loads(json.dumps(obj, default=_json_default))), indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


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


def new_run_dir(base: str | Path = "runs", name: str = "compare") -> Path:
    """A fresh ``runs/<timestamp>-<name>`` directory (suffix added if it exists)."""
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
        "adapters": result.adapters,
        "metrics": records(result.summary),
        "comparisons": records(result.comparisons),
        "buckets": records(result.buckets),
        "aggregates": records(result.aggregates),
        **({"extra": result.extra} if result.extra else {}),
    }


def save_outcome(run_dir: Path, outcome: AdapterOutcome) -> None:
    """Persist one adapter's outcome as soon as it finishes (for resume)."""
    d = run_dir / "adapters" / re.sub(r"[^A-Za-z0-9_.=,-]+", "_", outcome.name)
    d.mkdir(parents=True, exist_ok=True)
    dump_json(outcome.info() | {"traceback": outcome.traceback}, d / "info.json")
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
        nan = float("nan")
        out[info["spec"]] = AdapterOutcome(
            name=info["name"],
            spec=info["spec"],
            status="ok",
            params=info["params"],
            family=info.get("family", ""),
            fit_seconds=info["fit_seconds"] if info["fit_seconds"] is not None else nan,
            recommend_seconds=info["recommend_seconds"] if info["recommend_seconds"] is not None else nan,
            evaluate_seconds=info.get("evaluate_seconds") or nan,
            fallback_share=info.get("fallback_share"),
            empty_share=info.get("empty_share"),
            warnings=tuple(info.get("warnings") or ()),
            recs=recs,
            per_query=pd.read_parquet(d / "per_query.parquet"),
            per_query_items=items,
            aggregates=info.get("aggregates", {}),
            evaluated_on=info.get("evaluated_on") or {},  # none saved (older run): never matches, re-run
            latency=info.get("latency"),
        )
    return out


def write_run(result: CompareResult, run_dir: Path, *, report: str | None = None) -> Path:
    """Write every file of the run directory; ``report`` defaults to the Markdown render (+ plots/)."""
    from xsell_eval.report.markdown import render_run_report, with_decision

    result = with_decision(result)  # extra["decision"]: needs the per-query values, so before they are dropped
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_json(result.config.to_dict() | {"config_hash": result.config.hash}, run_dir / "config.json")
    dump_json(result.manifest, run_dir / "manifest.json")
    dump_json(
        {
            "data_card": result.data_card,
            "data_card_md": result.data_card_md,
            "split": result.split,
            "audit": result.audit,
            "n_queries": result.n_queries,
            "adapters": result.adapters,
            "extra": result.extra,
        },
        run_dir / "context.json",
    )
    dump_json(summary_dict(result), run_dir / "summary.json")
    tables = run_dir / "tables"
    tables.mkdir(exist_ok=True)
    for t in _TABLES:
        df: pd.DataFrame = getattr(result, t)
        df.to_parquet(tables / f"{t}.parquet", index=False)
    if result.queries_frame is not None:
        result.queries_frame.to_parquet(run_dir / "queries.parquet", index=False)
    if result.recs_frame is not None:
        result.recs_frame.to_parquet(run_dir / "recommendations.parquet", index=False)
    if result.per_query_frame is not None:
        result.per_query_frame.to_parquet(run_dir / "metrics.parquet", index=False)
    if report is None:
        report = render_run_report(result, run_dir)
    (run_dir / "report.md").write_text(report, encoding="utf-8")
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
    cfg_raw = json.loads((d / "config.json").read_text())
    cfg_raw.pop("config_hash", None)
    known = {f.name for f in fields(CompareConfig)}
    cfg_kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg_raw.items() if k in known}
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
        summary=tables["summary"],
        comparisons=tables["comparisons"],
        buckets=tables["buckets"],
        aggregates=tables["aggregates"],
        adapters=ctx["adapters"],
        extra=ctx.get("extra") or {},
    )
