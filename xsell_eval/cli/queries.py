"""``xsell-eval queries export``: the test queries, for a shop to answer with its own recommender."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xsell_eval.cli._app import (
    CatalogOption,
    CleanOption,
    ColumnsOption,
    DataOption,
    HideOption,
    LoaderOption,
    ProtocolOption,
    RevealOption,
    SplitOption,
    TestFractionOption,
    app,
    console,
    handle_errors,
    parse_columns,
)
from xsell_eval.settings import CompareConfig

_D = CompareConfig()  # the same defaults as `compare`, so the exported queries are the compared ones

queries_app = typer.Typer(help="Export the test queries (for scoring your own recommendations).", no_args_is_help=True)
app.add_typer(queries_app, name="queries")


@queries_app.command("export")
@handle_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .parquet, .csv or .csv.gz.")],
    data: DataOption = None,
    loader: LoaderOption = _D.loader,
    catalog: CatalogOption = None,
    columns: ColumnsOption = None,
    clean: CleanOption = None,
    protocol: ProtocolOption = _D.protocol,
    split: SplitOption = _D.split,
    seed: Annotated[int, typer.Option(help="Seed for every random step.")] = _D.seed,
    reveal: RevealOption = _D.reveal,
    hide: HideOption = None,
    max_queries: Annotated[
        int | None, typer.Option(help="Export a seeded sample of at most this many queries.")
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(help=f"temporal split: test starts at this date instead of the last {_D.test_fraction:.0%}."),
    ] = None,
    test_fraction: TestFractionOption = _D.test_fraction,
) -> None:
    """Write the test queries (query_id, user_id, timestamp, cart) that `compare` scores, without the answers.

    Give `compare` the same data, split, protocol and seed options, then `--recs production=FILE`
    with your lists (query_id, rank, item_id); see docs/production.md.
    """
    from xsell_eval.query_export import export_queries

    config = CompareConfig(
        adapters=(_D.baseline,),
        data=data,
        loader=loader,
        catalog=catalog,
        columns=parse_columns(columns),
        cleaning=clean or None,
        split=split,
        test_fraction=test_fraction,
        cutoff=cutoff,
        protocol=protocol,
        reveal=reveal,
        hide=hide,
        max_queries=max_queries,
        seed=seed,
    )
    with console.status("loading, splitting, building the queries…"):
        info = export_queries(config, out)
    console.print(
        f"Wrote {info.n_queries:,} {info.protocol} test queries to {info.path} "
        "(query_id, user_id, timestamp, cart). Answer each with your recommender as query_id, rank, item_id "
        "and score it: xsell-eval compare ... --recs production=FILE (same data, split, protocol and seed options).",
        highlight=False,
    )
