"""``xsell-eval runs list|diff``: past runs at a glance, and what changed between two of them.

Both read only the small JSON files of a run directory (``config.json``,
``manifest.json``, ``summary.json``, ``experiment.json``, ``abtest.json``,
``tuning.json``), never the per-query Parquet files, so listing is fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from xsell_eval.cli._app import app, console, handle_errors

runs_app = typer.Typer(help="List past runs and compare two of them.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


def _cv(x: Any) -> str:
    """A config value as written in JSON (strings bare)."""
    return x if isinstance(x, str) else json.dumps(x)


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
        typer.Option(
            "--dir", help="Folder holding the run directories (default: reports/, and runs/ of older versions)."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """Past runs: name, date, data, adapters, primary metric and the best adapter on it."""
    import textwrap

    from rich.markup import escape

    from xsell_eval.cli._tables import Cell, Column, FitTable
    from xsell_eval.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be 'table' or 'json', got {fmt!r}")
    from xsell_eval.results import DEFAULT_BASE, LEGACY_BASE
    from xsell_eval.runs import list_runs

    bases = [base] if base is not None else [Path(DEFAULT_BASE), Path(LEGACY_BASE)]
    runs = sorted((r for b in bases for r in list_runs(b)), key=lambda i: (i["date"], i["run"]))
    where = " and ".join(f"'{b}'" for b in bases if base is not None or b.is_dir()) or f"'{DEFAULT_BASE}'"
    if fmt == "json":
        typer.echo(json.dumps(runs, indent=2, sort_keys=True))
        return
    if not runs:
        console.print(f"no runs under {where} (write one with `xsell-eval compare ...` or `xsell-eval run FILE`)")
        return
    cells: dict[str, list[Cell]] = {h: [] for h in ("date", "kind", "data", "adapters", "primary metric", "best")}
    for r in runs:
        kind = r["kind"] if r["status"] == "complete" else f"{r['kind']}: [bold]{r['status'].upper()}[/bold]"
        fp = f"({str(r['fingerprint'])[:8]})" if r["fingerprint"] else ""
        cells["date"].append(Cell(*str(r["date"]).split(" ", 1)))
        cells["kind"].append(Cell(kind))
        cells["data"].append(Cell(escape(str(r["data"])), fp))
        cells["adapters"].append(Cell("\n".join(textwrap.wrap(escape(_v(r["adapters"])), 26)) or "—"))
        cells["primary metric"].append(Cell(escape(str(r["primary_metric"] or "—"))))
        cells["best"].append(Cell(escape(str(r["best"])), f"({_v(r['best_value'])})") if r["best"] else Cell("—"))
    group = {"date": "a", "kind": "a", "data": "a", "adapters": "b", "primary metric": "b", "best": "b"}
    heads = {"primary metric": "primary\nmetric", "best": "best\n(mean)"}
    columns = [
        Column(heads.get(h, h), c, group=group[h], justify="right" if h == "best" else "left") for h, c in cells.items()
    ]
    table = FitTable(
        title=f"runs in {where}", key_header="run", keys=[escape(str(r["run"])) for r in runs], columns=columns
    )
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
    from xsell_eval.runs import diff_runs

    d = diff_runs(run_a, run_b)
    if fmt == "json":
        typer.echo(json.dumps(d, indent=2, sort_keys=True, default=str))
        return
    fa, fb = d["data"]["a"], d["data"]["b"]
    same = "unknown" if not (fa and fb) else "same" if fa == fb else "DIFFERENT"  # a Spark run has no fingerprint
    console.print(
        f"data fingerprint: {same} ({fa or '?'} vs {fb or '?'}); git: {d['git']['a'] or '?'} vs {d['git']['b'] or '?'}"
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
