"""``xsell-eval rules mine`` — mine association rules from a dataset's baskets and export them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xsell_eval.cli._app import app, console, handle_errors

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table


rules_app = typer.Typer(help="Association rules: mine them from baskets and export them.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

SORT_KEYS = ("lift", "confidence", "support", "conviction", "leverage", "count")


def _label(ids: tuple[Any, ...], titles: tuple[Any, ...] | None) -> str:
    if titles is None:
        return "{" + ", ".join(map(str, ids)) + "}"
    parts = [str(t) if t and str(t) != str(i) else str(i) for i, t in zip(ids, titles, strict=True)]
    return "{" + ", ".join(parts) + "}"


def _table(frame: pd.DataFrame, top: int, sort: str, has_titles: bool) -> Table:
    from rich.table import Table

    table = Table(
        title=f"Top {min(top, len(frame))} of {len(frame):,} rules by {sort}",
        caption="conviction and leverage: see the --out CSV",
    )
    table.add_column("#", justify="right")
    table.add_column("antecedent", overflow="fold")
    table.add_column("⇒ consequent", overflow="fold")
    for col in ("support", "conf.", "lift", "count"):
        table.add_column(col, justify="right", no_wrap=True)
    for i, row in enumerate(frame.head(top).to_dict("records"), start=1):
        table.add_row(
            str(i),
            _label(row["antecedent"], row["antecedent_titles"] if has_titles else None),
            _label(row["consequent"], row["consequent_titles"] if has_titles else None),
            f"{row['support']:.4f}",
            f"{row['confidence']:.3f}",
            f"{row['lift']:.2f}",
            f"{row['count']:,}",
        )
    return table


@rules_app.command("mine")
@handle_errors
def mine(
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", help="Data file or folder. Default: the embedded UCI Online Retail."),
    ] = None,
    loader: Annotated[
        str, typer.Option("--loader", "-l", help="Loader name (see `xsell-eval data list`) or 'auto'.")
    ] = "auto",
    min_support: Annotated[
        float, typer.Option("--min-support", help="Minimum support of antecedent ∪ consequent, in (0, 1].")
    ] = 0.01,
    min_confidence: Annotated[float, typer.Option("--min-confidence", help="Minimum confidence, in [0, 1].")] = 0.5,
    max_len: Annotated[int, typer.Option("--max-len", help="Most items in antecedent ∪ consequent (>= 2).")] = 3,
    consequent_len: Annotated[
        int,
        typer.Option(
            "--consequent-len",
            help="Most items in the consequent; 1 = single-item consequents (as R arules), 0 = any split (as mlxtend).",
        ),
    ] = 1,
    sort: Annotated[str, typer.Option("--sort", help=f"Order of the table and file: {', '.join(SORT_KEYS)}.")] = "lift",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write all rules to this CSV file.")] = None,
    top: Annotated[int, typer.Option("--top", help="Rules shown in the table.")] = 20,
    before: Annotated[
        str | None,
        typer.Option("--before", help="Mine only baskets that start before this date (e.g. 2011-09-09)."),
    ] = None,
    max_itemsets: Annotated[
        int,
        typer.Option("--max-itemsets", help="Guard: stop with an error above this many candidate itemsets per length."),
    ] = 2_000_000,
) -> None:
    """Mine association rules from ALL baskets of a dataset (or those before --before) and export them.

    Rules come with support, confidence, lift, conviction, leverage and count; the CSV
    holds item ids and titles as JSON lists.
    """
    from xsell_eval.columns import Columns as C
    from xsell_eval.data.dataset import baskets_before
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.errors import ConfigError
    from xsell_eval.mining import mine_rules, write_rules_csv

    if sort not in SORT_KEYS:
        raise ConfigError(f"--sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
    if top < 0:
        raise ConfigError(f"--top must be >= 0, got {top}")
    if consequent_len < 0:
        raise ConfigError(f"--consequent-len must be >= 0 (0 = any), got {consequent_len}")
    with console.status("loading…"):
        ds = load_dataset(data, loader=loader)
    part = baskets_before(ds, before)
    rows = part.baskets[C.BASKET_IDX].to_numpy()
    with console.status(f"mining {len(rows):,} baskets…"):
        rs = mine_rules(
            part.basket_item[rows],
            min_support=min_support,
            min_confidence=min_confidence,
            max_len=max_len,
            max_itemsets=max_itemsets,
            max_consequent_len=consequent_len or None,
        )
    titles = ds.catalog[C.TITLE].to_numpy(dtype=object)
    has_titles = bool((titles != "").any())
    frame = rs.to_frame(ds.item_ids, titles if has_titles else None)
    frame = frame.sort_values(sort, ascending=False, kind="stable").reset_index(drop=True)
    scope = f"baskets before {before}" if before else "all baskets"
    lengths = ", ".join(f"{n:,}×{i}" for i, n in enumerate(rs.itemset_counts, start=1))
    console.print(
        f"[bold]{ds.name}[/]: {rs.n_baskets:,} baskets ({scope}); min count {rs.min_count:,}; "
        f"frequent itemsets {lengths or 'none'}; [bold]{len(frame):,} rules[/]",
        highlight=False,
    )
    if len(frame) and top:
        console.print(_table(frame, top, sort, has_titles))
    if out is not None:
        write_rules_csv(frame, out)
        console.print(f"wrote {len(frame):,} rules to {out}", highlight=False)
