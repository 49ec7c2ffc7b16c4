"""``xsell-eval report RUN_DIR``: re-render a run's report from its stored results alone (:mod:`xsell_eval.runs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xsell_eval.cli._app import app, console, handle_errors


@app.command()
@handle_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by compare, run, abtest or tune.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="md: report.md | html: report.md and a standalone report.html")
    ] = "md",
) -> None:
    """Re-render a run's report from its stored results (byte-identical for the same run)."""
    from xsell_eval.runs import rerender, resolve_run_dir

    d = resolve_run_dir(run_dir)
    if d != run_dir:
        console.print(f"'{run_dir}' is a file; re-rendering its run directory '{d}'")
    paths, unchanged = rerender(d, fmt)
    state = "unchanged (byte-identical)" if unchanged else "rewritten"
    console.print(f"report.md {state}; wrote {', '.join(str(p) for p in paths)}")
