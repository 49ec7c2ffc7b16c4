"""``xsell-eval data describe|list`` — inspect datasets and the available loaders.

(``data generate`` lives in :mod:`xsell_eval.cli.generate`.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xsell_eval.cli._app import CleanOption, ColumnsOption, console, data_app, handle_errors, parse_columns


@data_app.command("describe")
@handle_errors
def describe(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Data file or folder. Default: the embedded UCI Online Retail (data/online_retail.csv.gz)."
        ),
    ] = None,
    loader: Annotated[
        str, typer.Option("--loader", "-l", help="Loader name (see `xsell-eval data list`) or 'auto'.")
    ] = "auto",
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog file: item_id + title/description/category/price.")
    ] = None,
    columns: ColumnsOption = None,
    clean: CleanOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Output: table (rich) or json (machine-readable, stdout).")
    ] = "table",
) -> None:
    """Load, clean and summarise a dataset: users, items, baskets, dates, basket sizes, prices, cleaning."""
    from xsell_eval.data.describe import cleaning_table, data_card, data_card_table
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be 'table' or 'json', got {fmt!r}")
    policy = clean or None
    if fmt == "table":
        with console.status("loading and cleaning…"):
            ds = load_dataset(path, loader=loader, catalog=catalog, columns=parse_columns(columns), policy=policy)
            card = data_card(ds)
    else:
        ds = load_dataset(path, loader=loader, catalog=catalog, columns=parse_columns(columns), policy=policy)
        card = data_card(ds)
    if fmt == "json":
        typer.echo(json.dumps(card.to_dict(), indent=2, ensure_ascii=False))
        return
    console.print(data_card_table(card))
    table = cleaning_table(card)
    if table is not None:
        console.print(table)
    for note in card.notes:
        console.print(f"[dim]•[/] {note}", highlight=False)


@data_app.command("list")
@handle_errors
def list_loaders(
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output: table or json.")] = "table",
) -> None:
    """List the loaders and where the embedded default dataset is."""
    from rich.table import Table

    from xsell_eval.data.loaders import EMBEDDED_FILE, LOADERS, data_dir
    from xsell_eval.errors import ConfigError

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be 'table' or 'json', got {fmt!r}")
    embedded = data_dir() / EMBEDDED_FILE
    present = embedded.is_file()
    if fmt == "json":
        payload = {
            "loaders": [{"name": n, "description": spec.description} for n, spec in LOADERS.items()],
            "embedded": {
                "path": str(embedded),
                "present": present,
                "size_bytes": embedded.stat().st_size if present else None,
            },
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    table = Table(title="Loaders (--loader NAME; 'auto' detects from names and columns)", header_style="bold")
    table.add_column("name", style="cyan", no_wrap=True)
    table.add_column("reads")
    for name, spec in LOADERS.items():
        table.add_row(name, spec.description)
    console.print(table)
    if present:
        size = embedded.stat().st_size / 1e6
        console.print(
            f"Embedded default dataset: UCI Online Retail (CC BY 4.0), [bold]{embedded}[/] ({size:.1f} MB) — "
            "used when no PATH/--data is given.",
            highlight=False,
        )
    else:
        console.print(
            f"Embedded default dataset: [yellow]missing[/] (expected {embedded}); see data/README.md or set XSELL_DATA_DIR.",
            highlight=False,
        )
