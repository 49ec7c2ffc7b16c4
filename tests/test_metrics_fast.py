"""The optimised metric path (issue 11's speed target) equals a straightforward per-query reference.

The reference below loops over queries and ranks in plain Python, straight from the definitions in
docs/metrics.md. Rankings are random: repeated items, -1 padding, lists shorter than k, queries
without targets, several batches, and both target lookups of ``metrics._lookup`` (the padded-target
comparison and the binary search used for queries with many targets, forced by shrinking
``_PAD_WIDTH``).
"""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval import metrics as M
from xsell_eval.queries import Queries, Recommendations

NAMES = ["precision", "recall", "hit_rate", "ndcg", "mrr", "map", "revenue", "diversity"]


def _reference(items: list[int], targets: dict[int, float], k: int, cat: list[int] | None = None) -> dict[str, float]:
    """Metrics of one query from the definitions (a repeated item counts once, at its first rank)."""
    if not targets:
        return dict.fromkeys(NAMES, math.nan)
    seen: set[int] = set()
    rel: list[int] = []
    revenue = 0.0
    for it in (items + [-1] * k)[:k]:
        hit = it >= 0 and it not in seen and it in targets
        if it >= 0:
            seen.add(it)
        rel.append(int(hit))
        revenue += targets[it] if hit else 0.0
    h = sum(rel)
    dcg = sum(r / math.log2(i + 2) for i, r in enumerate(rel))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(targets), k)))
    first = next((i + 1 for i, r in enumerate(rel) if r), None)
    distinct = list(dict.fromkeys(it for it in items[:k] if it >= 0))  # first occurrences, in rank order
    known = [cat[it] for it in distinct if cat is not None and cat[it] >= 0]
    pairs = [(a, b) for i, a in enumerate(known) for b in known[i + 1 :]]
    ap = sum(sum(rel[: i + 1]) / (i + 1) * r for i, r in enumerate(rel)) / min(len(targets), k)
    return {
        "precision": h / k,
        "recall": h / len(targets),
        "hit_rate": float(h > 0),
        "ndcg": dcg / idcg,
        "mrr": 0.0 if first is None else 1.0 / first,
        "map": ap,
        "revenue": revenue,
        "diversity": sum(a != b for a, b in pairs) / len(pairs) if pairs else math.nan,
    }


@st.composite
def _cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[int], int, int, np.ndarray]:
    n = draw(st.integers(1, 25))
    n_items = draw(st.integers(1, 15))
    width = draw(st.integers(1, 9))
    items = np.array(
        draw(st.lists(st.lists(st.integers(-1, n_items - 1), min_size=width, max_size=width), min_size=n, max_size=n))
    )
    cell = st.sampled_from([0.0, 0.0, 1.0, 2.5])
    dense = np.array(draw(st.lists(st.lists(cell, min_size=n_items, max_size=n_items), min_size=n, max_size=n)))
    ks = sorted(draw(st.sets(st.integers(1, 12), min_size=1, max_size=3)))
    pad_width = draw(st.sampled_from([1, 2, M._PAD_WIDTH]))
    batch = draw(st.integers(1, n))
    cat = np.array(draw(st.lists(st.integers(-1, 3), min_size=n_items, max_size=n_items)))
    return items, dense, ks, pad_width, batch, cat


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_optimised_metrics_equal_reference(
    case: tuple[np.ndarray, np.ndarray, list[int], int, int, np.ndarray],
) -> None:
    items, dense, ks, pad_width, batch, cat = case
    n, n_items = dense.shape
    t = sp.csr_matrix(dense)
    q = Queries(
        query_id=np.arange(n),
        user_idx=np.full(n, -1),
        basket_idx=np.arange(n),
        timestamp=np.full(n, "NaT", dtype="datetime64[ns]"),
        context=sp.csr_matrix((n, n_items)),
        targets=t,
        target_value=t * 3.0,
        context_value=np.ones(n),
        user_history=np.zeros(n, dtype=int),
    )
    recs = Recommendations(items=items, scores=np.zeros(items.shape))
    with mock.patch.object(M, "_PAD_WIDTH", pad_width):
        got = M.per_query_metrics(
            recs,
            q,
            ks,
            item_popularity=np.ones(n_items, dtype=int),
            n_train_baskets=1,
            item_category=cat,
            metrics=NAMES,
            batch_size=batch,
        )
    assert list(got.columns) == ["query_id"] + [f"{m}@{k}" for m in NAMES for k in ks]
    for row in range(n):
        targets = {int(j): 3.0 * dense[row, j] for j in np.flatnonzero(dense[row])}
        for k in ks:
            want = _reference([int(x) for x in items[row]], targets, k, [int(c) for c in cat])
            for m in NAMES:
                np.testing.assert_allclose(got[f"{m}@{k}"].iloc[row], want[m], rtol=1e-12, atol=0, equal_nan=True)


def test_many_targets_use_the_search_path_with_the_same_values() -> None:
    """A query with more than _PAD_WIDTH targets next to small ones: same values either way."""
    n_items = 3 * M._PAD_WIDTH
    dense = np.zeros((3, n_items))
    dense[0, :] = 1.0  # every item a target: the binary-search path
    dense[1, [2, 5]] = 1.0
    items = np.array([[0, 7, 7, -1], [5, 1, 2, 2], [3, 4, 5, 6]])  # query 2 has no targets
    t = sp.csr_matrix(dense)
    q = Queries(np.arange(3), np.full(3, -1), np.arange(3), np.full(3, "NaT", dtype="datetime64[ns]"),
                sp.csr_matrix((3, n_items)), t, t * 2.0, np.ones(3), np.zeros(3, dtype=int))  # fmt: skip
    kw = dict(item_popularity=np.ones(n_items, dtype=int), n_train_baskets=1, item_category=np.full(n_items, -1))
    got = M.per_query_metrics(Recommendations(items, np.zeros(items.shape)), q, [2, 4], metrics=NAMES, **kw)
    assert got["precision@4"].iloc[0] == 0.5  # 0 and 7 hit; the repeated 7 and the padding do not
    assert got["recall@4"].iloc[1] == 1.0 and got["mrr@4"].iloc[1] == 1.0
    assert got["revenue@2"].iloc[1] == 2.0
    assert np.isnan(got["ndcg@4"].iloc[2])
    for row in range(2):
        targets = {int(j): 2.0 for j in np.flatnonzero(dense[row])}
        for k in (2, 4):
            want = _reference([int(x) for x in items[row]], targets, k)
            for m in NAMES:
                np.testing.assert_allclose(got[f"{m}@{k}"].iloc[row], want[m], rtol=1e-12)
