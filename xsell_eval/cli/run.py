"""``xsell-eval run EXPERIMENT.toml``: everything one experiment file describes, in one run directory.

The work is :func:`xsell_eval.experiment.run_experiment`; this command parses, calls it, renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xsell_eval.cli._app import app, console, handle_errors, typed_command


@app.command()
@handle_errors
def run(
    experiment: Annotated[Path, typer.Argument(help="Experiment file, e.g. experiments/default_retail.toml.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            help="Override a key of the file: section.key=value (TOML value), e.g. --set protocol.max_queries=300 --set adapters.cf.k_neighbors=50. Repeatable.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default reports/<time>-<name>).")
    ] = None,
    html: Annotated[
        bool | None,
        typer.Option(
            "--html/--no-html",
            help="Also write report.html (default: the html key of the file's report section, true).",
        ),
    ] = None,
) -> None:
    """Run everything an experiment file describes: data, comparison, A/B simulation, tuning, report."""
    from rich.markup import escape

    from xsell_eval.cli._render import (
        compare_table,
        print_adapter_problems,
        print_report_path,
        progress_bar,
        progress_printer,
        quiet_optuna,
    )
    from xsell_eval.experiment import run_experiment

    quiet_optuna()
    with progress_bar() as bar:
        result, run_dir = run_experiment(
            experiment,
            list(set_ or []),
            run_dir=out,
            html=html,
            progress=progress_printer(bar, {}),
            command=typed_command(),
        )
    console.print(compare_table(result))
    print_adapter_problems(result.adapters)
    if result.decision is not None:
        text = result.decision.headline(failed=result.failed_adapters, n_completed=len(result.ok_adapters))
        console.print(f"[bold]Decision:[/] {escape(text)} (details in the report)")
    if result.abtest is not None:
        head = str(result.abtest.analysis.decision.text).partition(": ")[0]
        console.print(f"[bold]Simulated A/B test:[/] {escape(head)} (details in the report)")
    print_report_path(run_dir)
