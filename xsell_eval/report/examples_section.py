"""``## Example recommendations``: every adapter's top-k for a few anchors and real carts, side by side.

Rendered from ``result.examples`` (:mod:`xsell_eval.examples`); absent when the run has none.
A cell is the item's title (shortened) and id; ✓ marks an item the shopper then bought.
"""

from __future__ import annotations

from xsell_eval.examples import Example, Examples, Labelled
from xsell_eval.result import CompareResult

TITLE_WIDTH = 32


def _cell(item: str, title: str, bought: set[str]) -> str:
    name = title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 1].rstrip() + "…"
    text = f"{name} `{item}`" if name else f"`{item}`"
    text = text.replace("|", "\\|")
    return f"✓ {text}" if item in bought else text


def _names(items: Labelled, limit: int = 6) -> str:
    shown = [_cell(i, t, set()) for i, t in items[:limit]]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(shown) + more if shown else "—"


def _heading(e: Example, n: int) -> str:
    if e.kind == "anchor":
        item, title = e.cart[0] if e.cart else ("?", "")
        return (
            f"**Anchor {n}: {_cell(item, title, set())}**, the whole cart of {e.n_queries:,} test queries "
            f"(shown: query {e.query_id})"
        )
    return f"**Cart {n}** (test query {e.query_id}): {_names(e.cart)}"


def example_table(e: Example, examples: Examples) -> str:
    """One Markdown table: rank rows, one column per adapter."""
    bought = {i for i, _ in e.bought}
    adapters = [a for a in examples.adapters if a in e.lists]
    lines = [
        "| rank | " + " | ".join(f"`{a}`" for a in adapters) + " |",
        "|---:|" + "---|" * len(adapters),
    ]
    for r in range(examples.k):
        cells = []
        for a in adapters:
            items = e.lists[a]
            cells.append(_cell(*items[r], bought) if r < len(items) else "—")
        lines.append(f"| {r + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def examples_section(result: CompareResult) -> list[str]:
    """The section's lines (empty when the run has no examples)."""
    ex = result.examples
    if ex is None or not ex.examples:
        return []
    parts = [
        "## Example recommendations",
        "",
        f"What each adapter showed, top {ex.k}, for the items most often alone in a test cart (anchors) and for "
        "a few test queries drawn with the run's seed (carts). ✓ = the shopper bought it in that basket. "
        "These are the lists that were scored, not chosen to flatter any adapter.",
        "",
    ]
    n = {"anchor": 0, "cart": 0}
    for e in ex.examples:
        n[e.kind] = n.get(e.kind, 0) + 1
        parts += [_heading(e, n[e.kind]), ""]
        if e.bought:
            shown = {i for items in e.lists.values() for i, _ in items}
            first = tuple(sorted(e.bought, key=lambda p: p[0] not in shown))  # recommended ones first (stable)
            parts += [f"Bought: {_names(first)}", ""]
        parts += [example_table(e, ex), ""]
    return parts


__all__ = ["example_table", "examples_section"]
