"""``xsell-eval data generate``: write a seeded synthetic shop with its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xsell_eval.cli._app import console, data_app, handle_errors
from xsell_eval.config import GenerateSection

_G = GenerateSection()  # the same defaults as an experiment's [data] generate


@data_app.command("generate")
@handle_errors
def generate(
    seed: Annotated[int, typer.Option(help="Seed of every random draw.")] = _G.seed,
    users: Annotated[int, typer.Option(help="Registered users (guests come on top).")] = _G.users,
    items: Annotated[int, typer.Option(help="Items in the catalog.")] = _G.items,
    days: Annotated[int, typer.Option(help="Days of purchase history.")] = _G.days,
    lines: Annotated[
        int | None,
        typer.Option(help="Target number of lines: a shop at scale (Zipf popularity, ~10 items per basket)."),
    ] = None,
    baskets: Annotated[int | None, typer.Option(help="Number of baskets (scale model; overrides --lines).")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or parquet; default parquet with --lines/--baskets, else csv.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write interactions.csv, catalog.csv and the truth into.")
    ] = Path("synthetic-shop"),
) -> None:
    """Generate a synthetic shop: categories, prices, segments, known complements, baskets over time.

    --lines/--baskets switch to the scale model (Instacart-like sizes, written as Parquet).
    """
    import time

    from rich.table import Table

    from xsell_eval.columns import Columns as C
    from xsell_eval.data.synthetic import check_output_dir, generate_shop

    t0 = time.perf_counter()
    check_output_dir(out, what="--out")  # before generating: not a file
    shop = generate_shop(seed=seed, n_users=users, n_items=items, n_days=days, n_lines=lines, n_baskets=baskets)
    paths = shop.save(out, fmt=fmt or ("parquet" if lines or baskets else "csv"))
    elapsed = time.perf_counter() - t0
    inter = shop.interactions
    table = Table(title=f"synthetic shop (seed {seed}) written to {out}")
    table.add_column("file")
    table.add_column("content")
    table.add_column("size", justify="right")
    content = {
        paths[0].name: f"{len(inter):,} lines, {inter[C.BASKET].nunique():,} baskets, "
        f"{inter[C.USER].nunique():,} users ({inter[C.USER].isna().mean():.0%} guest lines), "
        f"{inter[C.TIMESTAMP].min():%Y-%m-%d} to {inter[C.TIMESTAMP].max():%Y-%m-%d}",
        paths[1].name: f"{len(shop.catalog):,} items in {shop.catalog[C.CATEGORY].nunique()} categories",
        "truth.npz": f"complements ({shop.truth.complements.nnz:,} pairs), base purchase probabilities of "
        f"{shop.truth.n_segments} segments, user segments, release/join days",
        "truth.json": "generator parameters and the acceptance formula",
    }
    for p in paths:
        table.add_row(p.name, content.get(p.name, ""), f"{p.stat().st_size / 1024:,.0f} KiB")
    console.print(table)
    console.print(
        f"generated in {elapsed:.1f} s. Try: [bold]xsell-eval abtest rules cf --data {out} --response truth[/]"
    )
