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
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (default runs/<time>-<name>).")] = None,
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
        decision_line,
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
    text = decision_line(
        result.extra.get("decision") or {},
        failed=[a["name"] for a in result.adapters if a["status"] != "ok"],
        n_completed=len(result.ok_adapters),
    )
    if text:
        console.print(f"[bold]Decision:[/] {escape(text)} (details in the report)")
    ab = (result.extra.get("abtest") or {}).get("analysis", {}).get("decision", {}).get("text")
    if ab:
        head = str(ab).partition(": ")[0]
        console.print(f"[bold]Simulated A/B test:[/] {escape(head)} (details in the report)")
    print_report_path(run_dir)
