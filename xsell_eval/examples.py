"""Example recommendations: what each adapter shows for a few frequent anchors and a few real carts.

Numbers say how often a list converts; a manager also wants to *see* the lists. This module picks,
without randomness beyond the run's seed,

- **anchors**: the items that are most often the whole cart of a test query (a one-item cart: the
  product a shopper has just added), each with its first such query;
- **carts**: a seeded sample of other real test queries, with what the shopper then bought,

and keeps, for each, every adapter's top-k with titles. The selection reads the run's query and
recommendation tables only (no adapter is called again), so the examples are the lists that were
scored. The report renders them side by side (:mod:`xsell_eval.report.examples_section`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C

Labelled = tuple[tuple[str, str], ...]
"""``((item_id, title), ...)``; the title is empty when the data has none."""


@dataclass(frozen=True)
class Example:
    """One test query and every adapter's list for it.

    Attributes:
        kind: ``"anchor"`` (a frequent one-item cart) or ``"cart"`` (a sampled real query).
        query_id: the test query shown.
        cart: the items in the cart, with titles.
        bought: the items the shopper then bought (the query's targets), with titles.
        lists: adapter -> its top-k, best first, with titles.
        n_queries: for an anchor, how many test queries have exactly this one-item cart.
    """

    kind: str
    query_id: int
    cart: Labelled
    bought: Labelled
    lists: dict[str, Labelled] = field(default_factory=dict)
    n_queries: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "kind": self.kind,
            "query_id": self.query_id,
            "cart": [list(p) for p in self.cart],
            "bought": [list(p) for p in self.bought],
            "lists": {a: [list(p) for p in items] for a, items in self.lists.items()},
            "n_queries": self.n_queries,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Example:
        """Inverse of :meth:`to_dict`."""

        def pairs(v: Any) -> Labelled:
            return tuple((str(a), str(b)) for a, b in v)

        return cls(
            kind=str(d["kind"]),
            query_id=int(d["query_id"]),
            cart=pairs(d["cart"]),
            bought=pairs(d["bought"]),
            lists={str(a): pairs(v) for a, v in d["lists"].items()},
            n_queries=int(d.get("n_queries", 0)),
        )


@dataclass(frozen=True)
class Examples:
    """The examples of a run (stored in the run directory, rendered in the report).

    Attributes:
        k: list length shown.
        adapters: the adapters, in report order.
        examples: anchors first, then carts.
    """

    k: int
    adapters: tuple[str, ...]
    examples: tuple[Example, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"k": self.k, "adapters": list(self.adapters), "examples": [e.to_dict() for e in self.examples]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Examples:
        """Inverse of :meth:`to_dict`."""
        return cls(
            k=int(d["k"]),
            adapters=tuple(str(a) for a in d["adapters"]),
            examples=tuple(Example.from_dict(e) for e in d["examples"]),
        )


def item_titles(catalog: pd.DataFrame | None) -> dict[str, str]:
    """``item_id -> title`` from a dataset catalog (empty when it has no titles)."""
    if catalog is None or C.TITLE not in catalog.columns or C.ITEM not in catalog.columns:
        return {}
    sel = catalog[[C.ITEM, C.TITLE]].dropna()
    return dict(zip(sel[C.ITEM].astype(str), sel[C.TITLE].astype(str), strict=True))


def _sizes_and_firsts(context: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Each cart's number of items and its first item as text ("" for an empty cart).

    Arrow list columns (``Queries.to_frame``) are read by Arrow, without a Python list per query.
    """
    if isinstance(context.dtype, pd.ArrowDtype):
        size = context.list.len().to_numpy(dtype=np.int64)
        first = pd.Series("", index=context.index, dtype=object)
        some = size > 0
        first[some] = context[some].list[0].astype(str).to_numpy(dtype=object)
        return size, first
    size = context.map(len).to_numpy()
    return size, context.map(lambda c: str(c[0]) if len(c) else "")  # one call per query, not per line


def select_examples(
    queries: pd.DataFrame,
    recs: pd.DataFrame,
    titles: Mapping[str, str],
    adapters: Sequence[str],
    *,
    k: int = 5,
    n_anchors: int = 3,
    n_carts: int = 3,
    seed: int = 0,
) -> Examples:
    """Pick the example queries and collect every adapter's top-``k`` for them.

    Args:
        queries: the run's query table (``query_id``, ``context`` and ``targets`` lists of item ids).
        recs: the run's recommendations (``query_id``, ``adapter``, ``rank``, ``item_id``).
        titles: item id -> title (:func:`item_titles`).
        adapters: the adapters to show, in order (those without lists are left out).
        k: list length shown.
        n_anchors: frequent one-item carts to show (the most frequent first; ties by item id).
        n_carts: other test queries to show, drawn with ``seed``.
        seed: the run's seed.

    Example:
        >>> q = pd.DataFrame({"query_id": [0, 1, 2], "context": [["a"], ["a"], ["b", "c"]],
        ...                   "targets": [["b"], ["c"], ["a"]]})
        >>> r = pd.DataFrame({"query_id": [0, 0, 2], "adapter": "x", "rank": [1, 2, 1], "item_id": ["b", "c", "a"]})
        >>> ex = select_examples(q, r, {"a": "Apple"}, ["x"], k=2, n_anchors=1, n_carts=1)
        >>> [(e.kind, e.query_id, e.lists["x"]) for e in ex.examples]
        [('anchor', 0, (('b', ''), ('c', ''))), ('cart', 2, (('a', 'Apple'),))]
    """
    shown = [a for a in adapters if recs is not None and len(recs) and (recs[C.ADAPTER] == a).any()]
    if queries is None or len(queries) == 0 or not shown:
        return Examples(k=k, adapters=tuple(shown), examples=())
    q = queries[[C.QUERY, "context", "targets"]].reset_index(drop=True)
    size, first_item = _sizes_and_firsts(q["context"])
    singles = q.loc[size == 1].assign(anchor=first_item[size == 1])
    counts = singles.groupby("anchor")[C.QUERY].agg(["size", "min"]).reset_index()
    counts = counts.sort_values(["size", "anchor"], ascending=[False, True], kind="stable").head(n_anchors)
    picked: list[tuple[str, int, int]] = [("anchor", int(r["min"]), int(r["size"])) for _, r in counts.iterrows()]
    used = {p[1] for p in picked}
    rest = q.loc[~q[C.QUERY].isin(used) & (size >= 1), C.QUERY].to_numpy()
    several = q.loc[~q[C.QUERY].isin(used) & (size >= 2), C.QUERY].to_numpy()
    pool = several if len(several) >= n_carts else rest  # prefer carts of several items when the protocol has them
    if len(pool):
        rng = np.random.default_rng([seed, 2024])
        draws = np.sort(rng.choice(pool, size=min(n_carts, len(pool)), replace=False))
        picked += [("cart", int(x), 0) for x in draws]

    def label(ids: Sequence[Any]) -> Labelled:
        return tuple((str(i), titles.get(str(i), "")) for i in ids)

    wanted = {p[1] for p in picked}
    sel = recs.loc[np.isin(recs[C.QUERY].to_numpy(), sorted(wanted))]  # a few queries first: small masks after
    sel = sel.loc[sel[C.ADAPTER].isin(shown) & (sel[C.RANK] <= k)]
    sel = sel.sort_values([C.QUERY, C.ADAPTER, C.RANK], kind="stable")
    lists = sel.groupby([C.QUERY, C.ADAPTER])[C.ITEM].agg(list).to_dict()
    by_id = q.set_index(C.QUERY)
    examples = []
    for kind, qid, n in picked:
        row = by_id.loc[qid]
        examples.append(
            Example(
                kind=kind,
                query_id=qid,
                cart=label(list(row["context"])),
                bought=label(list(row["targets"])),
                lists={a: label(lists.get((qid, a), [])) for a in shown},
                n_queries=n,
            )
        )
    return Examples(k=k, adapters=tuple(shown), examples=tuple(examples))


__all__ = ["Example", "Examples", "item_titles", "select_examples"]
