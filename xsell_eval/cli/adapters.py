"""``xsell-eval adapters``: what can be compared."""

from __future__ import annotations

from typing import Annotated

import typer

from xsell_eval.cli._app import app, console, handle_errors


@app.command("adapters")
@handle_errors
def list_adapters(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list each adapter's hyperparameters.")] = False,
) -> None:
    """List registered adapters: name, family, description, cold-start abilities, required extra."""
    from rich.table import Table

    from xsell_eval.adapters.registry import describe

    table = Table(title="Registered adapters (entry-point group xsell_eval.adapters)")
    for col in ("name", "family", "description", "cold users", "cold items", "needs extra"):
        table.add_column(col)
    for row in describe():
        if row["error"]:
            table.add_row(row["name"], "[red]unavailable[/]", row["error"], "", "", "")
            continue
        desc = row["description"]
        if verbose and row["hyperparams"]:
            desc += "\n[dim]" + "\n".join(row["hyperparams"]) + "[/]"
        table.add_row(
            row["name"],
            row["family"],
            desc,
            "yes" if row["cold_users"] else "no",
            "yes" if row["cold_items"] else "no",
            f"pip install 'xsell-eval[{row['extra']}]'" if row["extra"] else "",
        )
    console.print(table)
