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
    """List registered adapters: name, cold-start abilities, required extra, family and description."""
    from rich.markup import escape
    from rich.table import Table

    from xsell_eval.adapters.registry import describe

    rows = describe()
    table = Table(title="Registered adapters (entry-point group xsell_eval.adapters)", show_lines=verbose)
    table.add_column("name", no_wrap=True, style="bold")  # the names users type: never cut
    table.add_column("cold\nusers", no_wrap=True)
    table.add_column("cold\nitems", no_wrap=True)
    table.add_column("extra", no_wrap=True)
    table.add_column("family · description", ratio=1, overflow="fold")
    extras = set()
    for row in rows:
        if row["error"]:
            table.add_row(row["name"], "", "", "", f"[red]unavailable:[/] {escape(row['error'])}")
            continue
        desc = escape(f"{row['family']} · {row['description']}")
        if verbose and row["hyperparams"]:
            desc += "\n[dim]" + escape("\n".join(row["hyperparams"])) + "[/]"
        if row["extra"]:
            extras.add(row["extra"])
        table.add_row(
            row["name"],
            "yes" if row["cold_users"] else "no",
            "yes" if row["cold_items"] else "no",
            row["extra"] or "—",
            desc,
        )
    console.print(table)
    if extras:
        hint = ", ".join(f"pip install 'xsell-eval[{e}]'" for e in sorted(extras))
        console.print(escape(f"An adapter with an extra needs it installed: {hint}."), soft_wrap=True)
