"""The sparse scoring paths (issue 11) give the same top-k as the dense code they replaced.

The reference is a frozen copy of the old dense code (``tests/_legacy_scoring.py``). Ties are
broken the documented way everywhere: higher score first, then the lower item index (rules:
then higher train popularity, then the lower item index).
"""

from __future__ import annotations

import os
from pathlib import Path

import _legacy_scoring as legacy
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval._kernels import NO_NUMBA_ENV
from xsell_eval.adapters.base import BaseAdapter
from xsell_eval.adapters.baselines import PopularAdapter
from xsell_eval.adapters.content import ContentAdapter
from xsell_eval.adapters.knn import ItemKNNAdapter, UserKNNAdapter
from xsell_eval.adapters.rules import AssociationRulesAdapter
from xsell_eval.queries import Queries, Recommendations, row_top_entries, top_k, top_k_sparse
from xsell_eval.similarity import aggregate_rows, aggregate_sparse, item_similarity, prune_rows

EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "online_retail.csv.gz"


# ----------------------------------------------------------------------------- building blocks
def test_top_k_sparse_hand_computed() -> None:
    s = sp.csr_matrix(np.array([[0.0, 0.9, 0.9, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]))
    ex = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]))
    fill = np.array([-0.5, -0.1, -0.2, -np.inf, -0.3])
    items, top, n = top_k_sparse(s, 4, ex, fill=fill)
    assert items.tolist() == [[2, 3, 4, 0], [1, 2, 0, -1]]  # row 2: item 4 excluded, item 3 never filled
    np.testing.assert_array_equal(top, [[0.9, 0.2, -0.3, -0.5], [-0.1, -0.2, -0.5, np.nan]])
    assert n.tolist() == [2, 0]


def test_top_k_sparse_rejects_fill_above_candidates() -> None:
    with pytest.raises(ValueError, match="fill score must be below"):
        top_k_sparse(sp.csr_matrix(np.array([[0.0, 0.1]])), 2, fill=np.array([0.5, 0.0]))


@st.composite
def _score_rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    stored = rng.random((n, m)) < rng.random()
    scores = np.where(stored, rng.integers(1, 4, (n, m)) / 2.0, 0.0)  # many ties
    excluded = rng.random((n, m)) < 0.2
    fill = np.where(rng.random(m) < 0.8, -rng.integers(1, 5, m) / 10.0, -np.inf)
    return scores, excluded, fill, draw(st.integers(1, 12))


@settings(max_examples=150, deadline=None)
@given(_score_rows(), st.booleans(), st.integers(1, 60))
def test_top_k_sparse_equals_dense_top_k(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, int], with_fill: bool, block: int
) -> None:
    import xsell_eval.queries as q_mod

    scores, excluded, fill, k = case
    old_block = q_mod._KTH_BLOCK_CELLS
    q_mod._KTH_BLOCK_CELLS = block  # many k-th-value blocks
    try:
        items, top, n_cand = top_k_sparse(
            sp.csr_matrix(scores), k, sp.csr_matrix(excluded.astype(float)), fill=fill if with_fill else None
        )
    finally:
        q_mod._KTH_BLOCK_CELLS = old_block
    dense = np.where(scores > 0, scores, fill[None, :] if with_fill else -np.inf)
    ref_items, ref_top = top_k(dense, k, exclude=sp.csr_matrix(excluded.astype(float)))
    np.testing.assert_array_equal(items, ref_items)
    np.testing.assert_array_equal(top, ref_top)
    np.testing.assert_array_equal(n_cand, np.minimum(((scores > 0) & ~excluded).sum(axis=1), k))


@settings(max_examples=100, deadline=None)
@given(_score_rows())
def test_prune_rows_equals_dense_top_k_per_row(case: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
    scores, excluded, _, k = case
    signed = np.where(excluded, -scores, scores)  # negatives are never kept
    r, c, v = legacy.top_k_per_row(signed, k)
    got = prune_rows(sp.csr_matrix(signed), k)
    assert got.has_canonical_format
    ref = sp.csr_matrix((v, (r, c)), shape=signed.shape)
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.data, ref.data)


def test_row_top_entries_keeps_ties_past_k() -> None:
    cols = np.array([3, 1, 0, 2, 0])  # unsorted within the row: the column is a sort key
    pos, rank = row_top_entries(np.array([0, 4, 5]), cols, np.array([0.3, 0.5, 0.3, 0.1, 0.7]), 2)
    assert pos.tolist() == [1, 2, 0, 4]  # row 0: 0.5, then the two 0.3 by column (0 before 3)
    assert rank.tolist() == [0, 1, 2, 0]
    pos, rank = row_top_entries(np.array([0, 4, 5]), cols, np.array([0.3, 0.5, 0.3, 0.1, 0.7]), 1, np.array([2, 0]))
    assert pos.tolist() == [1, 2, 0, 4]  # k + extra = 3 in row 0


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**31),
    st.sampled_from(["cosine", "jaccard", "asymmetric", "lift"]),
    st.sampled_from([1, 3, None]),
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 1.5]),
    st.integers(1, 9),
    st.integers(1, 2),
    st.booleans(),
)
def test_item_similarity_bit_identical_to_dense(
    seed: int, sim: str, k: int | None, alpha: float, shrink: float, chunk: int, threads: int, numpy_path: bool
) -> None:
    # both paths: the compiled co-count pass ([fast] extra) and the scipy product (XSELL_EVAL_NO_NUMBA=1)
    rng = np.random.default_rng(seed)
    x = sp.random(int(rng.integers(3, 60)), int(rng.integers(2, 30)), density=0.3 * rng.random(), random_state=seed)
    kw = {"similarity": sim, "alpha": alpha, "shrink": shrink, "k_neighbors": k}
    ref = legacy.item_similarity(x, **kw)
    before = os.environ.get(NO_NUMBA_ENV)
    os.environ[NO_NUMBA_ENV] = "1" if numpy_path else "0"
    try:
        got = item_similarity(x, chunk_rows=chunk, n_threads=threads, **kw)
    finally:
        if before is None:
            del os.environ[NO_NUMBA_ENV]
        else:
            os.environ[NO_NUMBA_ENV] = before
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.data, ref.data)


@pytest.mark.parametrize("how", ["sum", "max"])
def test_aggregate_sparse_equals_dense(how: str) -> None:
    rng = np.random.default_rng(3)
    s = sp.random(30, 30, density=0.2, random_state=4, format="csr")
    ctx = sp.random(12, 30, density=0.1, random_state=5, format="csr")
    ctx.data[:] = rng.integers(1, 4, ctx.nnz)  # quantities: binarised
    np.testing.assert_array_equal(aggregate_sparse(ctx, s, how).toarray(), aggregate_rows(ctx, s, how))


# ----------------------------------------------------------------------------- adapters on Online Retail
@pytest.fixture(scope="module")
def retail() -> tuple[object, Queries, Queries]:
    if not EMBEDDED.is_file():
        pytest.skip("the embedded UCI Online Retail (data/online_retail.csv.gz) is absent")
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split

    split = make_split(load_dataset(None), "temporal")
    cart = build_queries(split.train, split.test, "basket-completion", seed=0, max_queries=1500).without_targets()
    history = build_queries(split.train, split.test, "next-basket", seed=0, max_queries=600).without_targets()
    return split.train, cart, history


def _assert_same(new: Recommendations, old: Recommendations, *, rtol: float = 1e-12) -> None:
    np.testing.assert_array_equal(new.items, old.items)
    np.testing.assert_allclose(new.scores, old.scores, rtol=rtol, atol=0.0)
    if old.fallback is None:
        assert new.fallback is None
    else:
        assert new.fallback is not None
        np.testing.assert_array_equal(new.fallback, old.fallback)
    assert (new.items >= 0).any()  # a real comparison, not two empty lists


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"similarity": "jaccard"},
        {"similarity": "asymmetric", "alpha": 0.2},
        {"similarity": "lift", "shrink": 0.0, "k_neighbors": 7},
        {"aggregation": "max"},
        {"interactions": "user"},
        {"fallback": "none"},
    ],
)
def test_cf_same_top_k_as_dense(retail: tuple[object, Queries, Queries], params: dict[str, object]) -> None:
    train, cart, history = retail
    a = ItemKNNAdapter(**params).fit(train)  # type: ignore[arg-type]
    a.legacy_similarity_ = legacy.legacy_cf_similarity(a, train)
    assert (a.legacy_similarity_ != a.similarity_).nnz == 0
    for q in (cart, history):
        _assert_same(a.recommend(q, 20), legacy.legacy_cf_recommend(a, q, 20))


@pytest.mark.parametrize("params", [{}, {"similarity": "pearson", "k_neighbors": 5}])
def test_user_knn_same_top_k_as_dense(retail: tuple[object, Queries, Queries], params: dict[str, object]) -> None:
    train, cart, history = retail
    a = UserKNNAdapter(**params).fit(train)  # type: ignore[arg-type]
    for q in (cart.take(slice(0, 600)), history):
        _assert_same(a.recommend(q, 20), legacy.legacy_user_knn_recommend(a, q, 20))


@pytest.mark.parametrize(
    "params", [{}, {"aggregation": "sum", "metric": "lift"}, {"metric": "leverage", "fallback": "none"}]
)
def test_rules_same_top_k_as_dense(retail: tuple[object, Queries, Queries], params: dict[str, object]) -> None:
    train, cart, history = retail
    a = AssociationRulesAdapter(**params).fit(train)  # type: ignore[arg-type]
    for q in (cart, history):
        _assert_same(a.recommend(q, 20), legacy.legacy_rules_recommend(a, q, 20))


@pytest.mark.parametrize("params", [{}, {"aggregation": "max", "popularity_weight": 0.0}])
def test_content_same_top_k_as_dense(retail: tuple[object, Queries, Queries], params: dict[str, object]) -> None:
    train, cart, history = retail
    a = ContentAdapter(**params).fit(train)  # type: ignore[arg-type]
    for q in (cart, history):
        _assert_same(a.recommend(q, 20), legacy.legacy_content_recommend(a, q, 20))


def test_popular_same_top_k_as_dense(retail: tuple[object, Queries, Queries]) -> None:
    train, cart, history = retail
    a = PopularAdapter().fit(train)  # type: ignore[arg-type]
    for q in (cart, history):
        old = Recommendations.concat([BaseAdapter._recommend_batch(a, b, 20) for b in q.batches(a.batch_size)])
        _assert_same(a.recommend(q, 20), Recommendations(old.items, old.scores, a.name))


def test_lightfm_blocked_same_top_k_as_dense(retail: tuple[object, Queries, Queries]) -> None:
    pytest.importorskip("lightfm")
    from xsell_eval.adapters.lightfm_adapter import LightFMAdapter

    train, cart, history = retail
    a = LightFMAdapter(epochs=1, no_components=8).fit(train)  # type: ignore[arg-type]
    for q in (cart, history):
        _assert_same(a.recommend(q, 20), legacy.legacy_lightfm_recommend(a, q, 20))
