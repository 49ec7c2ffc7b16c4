"""``xsell-eval runs list|diff``: past runs at a glance, and what changed between two of them.

Both read only the small JSON files of a run directory (``config.json``,
``manifest.json``, ``summary.json``, ``experiment.json``, ``abtest.json``,
``tuning.json``), never the per-query Parquet files, so listing is fast.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from xsell_eval.cli._app import app, console, handle_errors

runs_app = typer.Typer(help="List past runs and compare two of them.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

_STAMP = re.compile(r"^(\d{8}-\d{6})")


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_info(d: Path) -> dict[str, Any] | None:
    """What ``runs list`` shows about one directory, or None if it is not a run directory.

    ``status`` comes from :func:`~xsell_eval.cli.report.inspect_run_dir`, the check
    ``xsell-eval report`` applies: ``"complete"``, ``"incomplete"`` (files missing: an
    interrupted run), ``"unreadable"`` (another format version or a broken manifest) or
    ``"failed"`` (complete, but no adapter finished); ``problem`` says why in a sentence.
    """
    from xsell_eval.cli.report import inspect_run_dir

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


def _cv(x: Any) -> str:
    """A config value as written in JSON (strings bare)."""
    return x if isinstance(x, str) else json.dumps(x)


def diff_runs(a: Path, b: Path) -> dict[str, Any]:
    """Config keys that changed, the data fingerprints, and metric deltas (B − A).

    Raises:
        RunDirError: either directory is not a readable run directory.
    """
    from xsell_eval.cli.report import resolve_run_dir
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


def _v(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.4f}" if abs(x) < 100 else f"{x:,.1f}"
    if isinstance(x, (list, tuple)):
        return ", ".join(map(str, x))
    return str(x)


@runs_app.command("list")
@handle_errors
def list_cmd(
    base: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder holding the run directories (default: reports/, and runs/ of older versions)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """Past runs: name, date, data, adapters, primary metric and the best adapter on it."""
    from rich.table import Table

    from xsell_eval.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be 'table' or 'json', got {fmt!r}")
    from xsell_eval.results import DEFAULT_BASE, LEGACY_BASE

    bases = [base] if base is not None else [Path(DEFAULT_BASE), Path(LEGACY_BASE)]
    runs = sorted((r for b in bases for r in list_runs(b)), key=lambda i: (i["date"], i["run"]))
    where = " and ".join(f"'{b}'" for b in bases if base is not None or b.is_dir()) or f"'{DEFAULT_BASE}'"
    if fmt == "json":
        typer.echo(json.dumps(runs, indent=2, sort_keys=True))
        return
    if not runs:
        console.print(f"no runs under {where} (write one with `xsell-eval compare ...` or `xsell-eval run FILE`)")
        return
    table = Table(title=f"runs in {where}")
    for col in ("run", "date", "kind", "data", "adapters", "primary metric", "best (mean)"):
        table.add_column(col, justify="right" if col == "best (mean)" else "left")
    for r in runs:
        best = f"{r['best']} ({_v(r['best_value'])})" if r["best"] else "—"
        data = f"{r['data']} ({str(r['fingerprint'])[:8]})" if r["fingerprint"] else r["data"]
        kind = r["kind"] if r["status"] == "complete" else f"{r['kind']}: [bold]{r['status'].upper()}[/bold]"
        table.add_row(r["run"], r["date"], kind, data, _v(r["adapters"]), r["primary_metric"] or "—", best)
    console.print(table)
    for r in runs:
        if r["status"] != "complete":
            console.print(f"{r['run']} {r['problem']}", markup=False, highlight=False)


@runs_app.command("diff")
@handle_errors
def diff_cmd(
    run_a: Annotated[Path, typer.Argument(help="The earlier run directory (A).")],
    run_b: Annotated[Path, typer.Argument(help="The later run directory (B).")],
    all_metrics: Annotated[
        bool, typer.Option("--all", help="Every metric at every k (default: the primary metric's k).")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """What changed between two runs: config keys, data fingerprint, versions, metric deltas (B − A)."""
    from rich.table import Table

    from xsell_eval.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be 'table' or 'json', got {fmt!r}")
    d = diff_runs(run_a, run_b)
    if fmt == "json":
        typer.echo(json.dumps(d, indent=2, sort_keys=True, default=str))
        return
    same = d["data"]["a"] == d["data"]["b"]
    console.print(
        f"data fingerprint: {'same' if same else 'DIFFERENT'} ({d['data']['a'] or '?'} vs {d['data']['b'] or '?'}); "
        f"git: {d['git']['a'] or '?'} vs {d['git']['b'] or '?'}"
    )
    if d["changes"]:
        t = Table(title="configuration changes (A → B)")
        for col in ("where", "key", "A", "B"):
            t.add_column(col)
        for c in d["changes"]:
            t.add_row(c["where"], c["key"], _cv(c["a"]), _cv(c["b"]))
        console.print(t)
    else:
        console.print("configuration: identical")
    if d["packages"]:
        console.print(
            "package versions changed: " + ", ".join(f"{p['package']} {p['a']} → {p['b']}" for p in d["packages"])
        )
    prim = d["primary_metric"]["b"] or d["primary_metric"]["a"] or ""
    k = prim.partition("@")[2]
    rows = [m for m in d["metrics"] if all_metrics or m["metric"].endswith(f"@{k}")]
    if rows:
        t = Table(title="metrics: mean in A, in B, B − A (CIs overlap: the change may be noise)")
        for col in ("adapter", "metric", "A", "B", "B − A", "CIs overlap"):
            t.add_column(col, justify="left" if col in ("adapter", "metric") else "right")
        for m in rows:
            ov = "—" if m["cis_overlap"] is None else "yes" if m["cis_overlap"] else "no"
            delta = "—" if m["delta"] is None else f"{m['delta']:+.4f}"
            t.add_row(m["adapter"], m["metric"], _v(m["a"]), _v(m["b"]), delta, ov)
        console.print(t)
