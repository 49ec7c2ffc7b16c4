"""Run directories already written: what they are, re-rendering their reports, listing and diffing them.

The library side of ``xsell-eval report``, ``runs list`` and ``runs diff``. Listing reads
only the small JSON files of a run directory (``config.json``, ``manifest.json``,
``summary.json``, ``experiment.json``, ``abtest.json``, ``tuning.json``), never the
per-query Parquet files, so it is fast.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FORMATS = ("md", "html")


@dataclass(frozen=True)
class RunDirState:
    """What a run directory is and whether ``report`` can render it.

    Attributes:
        kind: ``"compare"`` (also ``run`` directories), ``"abtest"`` or ``"tune"``.
        missing: files of :data:`xsell_eval.results.RUN_FILES` that are absent (compare only).
        format_version: ``manifest.json``'s format version (compare only; None if unreadable).
        problem: why ``report`` refuses it, as the end of a sentence starting with the
            directory ("is incomplete: missing ...", "has format version 0; ..."); ``""``
            when it can render it.
    """

    kind: str
    missing: tuple[str, ...] = ()
    format_version: Any = None
    problem: str = ""

    @property
    def complete(self) -> bool:
        """True when ``xsell-eval report`` can render the directory."""
        return not self.problem


def inspect_run_dir(d: Path) -> RunDirState | None:
    """The one completeness check shared by ``report`` and ``runs list`` (None: not a run directory).

    Reads only file names and ``manifest.json``; the same rules as :func:`rerender`: a
    directory with ``abtest.json`` or ``tuning.json`` and no ``context.json`` is an A/B or
    tuning run, anything else with a run file is a compare run that needs every file of
    :data:`xsell_eval.results.RUN_FILES` and the current format version.
    """
    from xsell_eval.results import (  # pandas: imported when a command runs, not at start-up
        FORMAT_VERSION,
        RUN_FILES,
        run_kind,
    )

    if not d.is_dir() or run_kind(d) is None:
        return None
    if not (d / "context.json").exists() and (d / "abtest.json").exists():
        return RunDirState("abtest")
    if not (d / "context.json").exists() and (d / "tuning.json").exists():
        return RunDirState("tune")
    missing = tuple(n for n in RUN_FILES if not (d / n).exists())
    if missing:
        problem = (
            f"is incomplete: missing {', '.join(missing)} (was the run interrupted? re-run `xsell-eval compare ... "
            "--out DIR --resume` to finish it)"
        )
        return RunDirState("compare", missing=missing, problem=problem)
    try:
        version = json.loads((d / "manifest.json").read_text(encoding="utf-8")).get("format_version")
    except (OSError, ValueError, AttributeError) as exc:
        return RunDirState("compare", problem=f"has an unreadable manifest.json ({type(exc).__name__}: {exc})")
    if version != FORMAT_VERSION:
        return RunDirState(
            "compare",
            format_version=version,
            problem=f"has format version {version!r}; this xsell-eval reads version {FORMAT_VERSION}",
        )
    return RunDirState("compare", format_version=version)


def resolve_run_dir(path: Path) -> Path:
    """``path`` itself, or the run directory holding the file ``path`` (e.g. ``runs/x/report.md``).

    Raises:
        RunDirError: ``path`` does not exist, or is a file outside any run directory.
    """
    from xsell_eval.errors import RunDirError

    d = Path(path)
    if d.is_dir():
        return d
    if d.is_file():
        if inspect_run_dir(d.parent) is not None:
            return d.parent
        raise RunDirError(
            f"'{d}' is a file, not a run directory: give the run directory (e.g. runs/NAME), not a file in it"
        )
    if inspect_run_dir(d.parent) is not None:
        raise RunDirError(f"'{d}' does not exist; give the run directory ('{d.parent}'), not a file in it")
    raise RunDirError(f"run directory '{d}' does not exist")


def read_compare_run(run_dir: Path) -> Any:
    """:func:`~xsell_eval.results.read_run` with unreadable files turned into one clear RunDirError."""
    from xsell_eval.errors import RunDirError, XsellError
    from xsell_eval.results import read_run

    try:
        return read_run(run_dir)
    except XsellError:
        raise
    except KeyError as exc:
        raise RunDirError(
            f"run directory '{run_dir}': context.json has no {exc} entry — written by an older or different "
            "xsell-eval; re-run the comparison"
        ) from None
    except (ValueError, OSError, TypeError) as exc:
        raise RunDirError(
            f"run directory '{run_dir}': a stored file could not be read ({type(exc).__name__}: {exc}); "
            "the run may be incomplete or corrupted — re-run it"
        ) from None


def rerender(run_dir: Path, fmt: str = "md") -> tuple[list[Path], bool]:
    """Re-render the report files of a run directory; returns (paths written, report.md unchanged).

    Compare / ``run`` directories are rendered from ``config.json``, ``manifest.json``,
    ``context.json`` and ``tables/`` (figures redrawn into ``plots/``); ``abtest`` and
    ``tune`` directories by their own renderers.

    ``run_dir`` may also be a file inside the run directory (``runs/x/report.md``).

    Raises:
        RunDirError: not a run directory, incomplete, or an older format (the check of
            :func:`inspect_run_dir`, which ``runs list`` shares).
    """
    from xsell_eval.errors import ConfigError, RunDirError
    from xsell_eval.results import write_report

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    d = resolve_run_dir(Path(run_dir))
    state = inspect_run_dir(d)
    if state is None:
        raise RunDirError(
            f"'{d}' is not a run directory (no config.json, manifest.json, context.json, abtest.json or tuning.json)"
        )
    if state.problem:
        raise RunDirError(f"run directory '{d}' {state.problem}")
    old = (d / "report.md").read_bytes() if (d / "report.md").is_file() else None
    if state.kind == "abtest":
        from xsell_eval.results import rerender_abtest_run

        text = rerender_abtest_run(d)
    elif state.kind == "tune":
        from xsell_eval.report.tuning import render_tuning_report
        from xsell_eval.tuning import read_tune_run

        results, ctx = read_tune_run(d)
        text = render_tuning_report([r.to_dict() for r in results], context=ctx)
    else:
        from xsell_eval.report.markdown import render_run_report

        result = read_compare_run(d)
        text = render_run_report(result, d)
    written = write_report(d, text, html=fmt == "html")
    return written, old == text.encode("utf-8")


_STAMP = re.compile(r"^(\d{8}-\d{6})")


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_info(d: Path) -> dict[str, Any] | None:
    """What ``runs list`` shows about one directory, or None if it is not a run directory.

    ``status`` comes from :func:`inspect_run_dir`, the check
    ``xsell-eval report`` applies: ``"complete"``, ``"incomplete"`` (files missing: an
    interrupted run), ``"unreadable"`` (another format version or a broken manifest) or
    ``"failed"`` (complete, but no adapter finished); ``problem`` says why in a sentence.
    """
    state = inspect_run_dir(d)
    if state is None:
        return None
    config = _json(d / "config.json")
    summary = _json(d / "summary.json")
    manifest = _json(d / "manifest.json") or {}
    kind = state.kind
    if (d / "experiment.json").exists():
        kind = "run" if kind == "compare" else kind
    status = "complete" if state.complete else "incomplete" if state.missing else "unreadable"
    if state.complete and summary is not None:
        adapters = summary.get("adapters") or []
        if adapters and not any(a.get("status") == "ok" for a in adapters):
            status = "failed"
    m = _STAMP.match(d.name)
    if m:
        date = datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").strftime("%Y-%m-%d %H:%M:%S")
    else:
        probe = next((d / f for f in ("summary.json", "manifest.json", "config.json") if (d / f).exists()), d)
        date = datetime.fromtimestamp(probe.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
    ds = manifest.get("dataset") or (summary or {}).get("dataset") or {}
    info: dict[str, Any] = {
        "run": d.name,
        "path": str(d),
        "date": date,
        "kind": kind,
        "data": ds.get("name", "?"),
        "fingerprint": ds.get("fingerprint", ""),
        "adapters": [],
        "primary_metric": "",
        "best": "",
        "best_value": None,
        "config_hash": (config or {}).get("config_hash", ""),
        "status": status,
        "problem": state.problem or ("has no adapter that completed" if status == "failed" else ""),
    }
    if summary is not None:
        info["adapters"] = [a.get("name") for a in summary.get("adapters", [])]
        prim = summary.get("primary_metric", "")
        info["primary_metric"] = prim
        rows = [r for r in summary.get("metrics", []) if r.get("metric") == prim and r.get("mean") is not None]
        if rows:
            top = sorted(rows, key=lambda r: (-float(r["mean"]), str(r["adapter"])))[0]
            info["best"], info["best_value"] = top["adapter"], float(top["mean"])
        decision = ((summary.get("extra") or {}).get("decision") or {}).get("winner")
        info["decision"] = decision or ((summary.get("extra") or {}).get("decision") or {}).get("verdict", "")
    elif kind == "tune":
        tuning = _json(d / "tuning.json") or {}
        ctx = tuning.get("context") or {}
        results = tuning.get("results") or []
        info["data"], info["fingerprint"] = ctx.get("data", "?"), ctx.get("fingerprint", "")
        info["adapters"] = [r.get("adapter") for r in results]
        info["primary_metric"] = ((results[0].get("metrics") or [""])[0] if results else "") + " (validation)"
    elif config is not None:
        info["adapters"] = list(config.get("adapters") or config.get("arms") or [])
        info["primary_metric"] = config.get("primary_metric", "")
    return info


def list_runs(base: Path) -> list[dict[str, Any]]:
    """Every run directory directly under ``base``, oldest first."""
    if not base.is_dir():
        return []
    infos = [run_info(d) for d in sorted(base.iterdir()) if d.is_dir()]
    return sorted((i for i in infos if i is not None), key=lambda i: (i["date"], i["run"]))


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; a list of named tables (adapters) is keyed by name."""
    if isinstance(obj, list) and obj and all(isinstance(e, dict) and "name" in e for e in obj):
        obj = {str(e["name"]): {k: v for k, v in e.items() if k != "name"} or "(listed)" for e in obj}
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def diff_runs(a: Path, b: Path) -> dict[str, Any]:
    """Config keys that changed, the data fingerprints, and metric deltas (B − A).

    Raises:
        RunDirError: either directory is not a readable run directory.
    """
    from xsell_eval.errors import RunDirError

    a, b = resolve_run_dir(a), resolve_run_dir(b)
    out: dict[str, Any] = {"a": str(a), "b": str(b)}
    infos = []
    for d in (a, b):
        info = run_info(d)
        if info is None:
            raise RunDirError(
                f"'{d}' is not a run directory (no config.json, summary.json, abtest.json or tuning.json)"
            )
        infos.append(info)
    cfg = [_flatten({k: v for k, v in (_json(d / "config.json") or {}).items() if k != "config_hash"}) for d in (a, b)]
    exp = [_flatten((_json(d / "experiment.json") or {}).get("resolved") or {}) for d in (a, b)]
    changes = []
    for label, (x, y) in (("config", cfg), ("experiment", exp)):
        for key in sorted(set(x) | set(y)):
            if x.get(key) != y.get(key):
                changes.append({"where": label, "key": key, "a": x.get(key, "(absent)"), "b": y.get(key, "(absent)")})
    out["changes"] = changes
    out["data"] = {"a": infos[0]["fingerprint"], "b": infos[1]["fingerprint"]}
    man = [_json(d / "manifest.json") or {} for d in (a, b)]
    out["git"] = {"a": man[0].get("git_revision"), "b": man[1].get("git_revision")}
    pk = [man[i].get("packages") or {} for i in (0, 1)]
    out["packages"] = [
        {"package": p, "a": pk[0].get(p, "(absent)"), "b": pk[1].get(p, "(absent)")}
        for p in sorted(set(pk[0]) | set(pk[1]))
        if pk[0].get(p) != pk[1].get(p)
    ]
    sums = [_json(d / "summary.json") or {} for d in (a, b)]
    idx = [{(r["adapter"], r["metric"]): r for r in s.get("metrics", [])} for s in sums]
    deltas = []
    for pair in sorted(set(idx[0]) | set(idx[1])):
        ra, rb = idx[0].get(pair), idx[1].get(pair)
        ma = None if ra is None else ra.get("mean")
        mb = None if rb is None else rb.get("mean")
        overlap = None
        if ra is not None and rb is not None and None not in (ra.get("ci_low"), ra.get("ci_high"), rb.get("ci_low")):
            overlap = not (rb["ci_low"] > ra["ci_high"] or rb["ci_high"] < ra["ci_low"])
        deltas.append(
            {
                "adapter": pair[0],
                "metric": pair[1],
                "a": ma,
                "b": mb,
                "delta": None if ma is None or mb is None else mb - ma,
                "cis_overlap": overlap,
            }
        )
    out["metrics"] = deltas
    out["primary_metric"] = {"a": sums[0].get("primary_metric"), "b": sums[1].get("primary_metric")}
    return out


__all__ = [
    "FORMATS",
    "RunDirState",
    "diff_runs",
    "inspect_run_dir",
    "list_runs",
    "read_compare_run",
    "rerender",
    "resolve_run_dir",
    "run_info",
]
