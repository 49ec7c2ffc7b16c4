"""The compiled item-kNN kernel (``[fast]`` extra) gives exactly the NumPy path's lists and scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval import _kernels
from xsell_eval.adapters.knn import ItemKNNAdapter
from xsell_eval.queries import top_k_sparse
from xsell_eval.similarity import aggregate_sparse, prune_rows
from xsell_eval.testing import toy_dataset, toy_queries

pytestmark = pytest.mark.skipif(not _kernels.available(), reason="numba is not installed (the [fast] extra)")


def _numpy_path(ctx: sp.csr_matrix, sim: sp.csr_matrix, k: int, fill: np.ndarray | None):  # type: ignore[no-untyped-def]
    return top_k_sparse(prune_rows(aggregate_sparse(ctx, sim, "sum"), None), k, exclude=ctx, fill=fill)


def _assert_same(a, b) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])  # bit-identical scores, NaN where empty
    np.testing.assert_array_equal(a[2], b[2])


def test_hand_made_ties_exclusions_and_fill() -> None:
    # item 0 in the cart; its neighbours 1, 2 tie at 0.5, item 3 at 0.2; item 4 unreachable
    sim = sp.csr_matrix(
        np.array(
            [
                [0, 0.5, 0.5, 0.2, 0],
                [0.5, 0, 0.1, 0, 0],
                [0.5, 0.1, 0, 0, 0],
                [0.2, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
            ]
        )
    )
    ctx = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=float))
    fill = np.array([-0.1, -0.2, -0.9, -0.5, -0.3])
    got = _kernels.knn_topk(ctx, sim, 4, fill=fill)
    assert got[0].tolist() == [[1, 2, 3, 4], [2, 3, 4, -1], [0, 1, 4, 3]]
    assert got[2].tolist() == [3, 2, 0]
    _assert_same(got, _numpy_path(ctx, sim, 4, fill))
    _assert_same(_kernels.knn_topk(ctx, sim, 2), _numpy_path(ctx, sim, 2, None))


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 30),
    n_items=st.integers(1, 25),
    k=st.integers(1, 8),
    seed=st.integers(0, 2**16),
    with_fill=st.booleans(),
    coarse=st.booleans(),
)
def test_random_matrices_equal_the_numpy_path(
    n: int, n_items: int, k: int, seed: int, with_fill: bool, coarse: bool
) -> None:
    rng = np.random.default_rng(seed)
    sim = sp.random(n_items, n_items, density=0.3, format="csr", random_state=rng)
    if coarse:  # many exact ties
        sim.data = np.round(sim.data * 4) / 4
        sim.eliminate_zeros()
    ctx = sp.random(n, n_items, density=0.2, format="csr", random_state=rng)
    fill = None
    if with_fill:
        fill = -rng.random(n_items) * 0.9 - 0.05
        fill[rng.random(n_items) < 0.2] = -np.inf  # never filled (unsold)
        fill[rng.random(n_items) < 0.2] = -0.5  # ties in the fill order
    _assert_same(_kernels.knn_topk(ctx, sim, k, fill=fill), _numpy_path(ctx, sim, k, fill))


def test_the_adapter_gives_the_same_recommendations_with_and_without_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = toy_dataset()
    q = toy_queries(ds)
    a = ItemKNNAdapter(k_neighbors=20).fit(ds)
    fast = a.recommend(q, 10)
    monkeypatch.setenv(_kernels.NO_NUMBA_ENV, "1")
    assert not _kernels.available()
    slow = a.recommend(q, 10)
    np.testing.assert_array_equal(fast.items, slow.items)
    np.testing.assert_array_equal(fast.scores, slow.scores)
    np.testing.assert_array_equal(fast.fallback, slow.fallback)
    assert (fast.items >= 0).any()


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 20),
    n_cols=st.integers(1, 40),
    k=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    coarse=st.booleans(),
)
def test_prune_rows_keeps_the_same_entries_with_and_without_numba(
    n: int, n_cols: int, k: int, seed: int, coarse: bool
) -> None:
    import os

    rng = np.random.default_rng(seed)
    m = sp.random(n, n_cols, density=0.6, format="csr", random_state=rng)
    m.data = m.data - 0.2  # some non-positive entries, dropped by both
    if coarse:  # many exact ties at the cut
        m.data = np.round(m.data * 3) / 3
    odd = rng.random(m.nnz)
    m.data[odd < 0.05] = np.inf  # non-finite entries are dropped by both
    m.data[(odd >= 0.05) & (odd < 0.1)] = np.nan
    fast = prune_rows(m, k)
    os.environ[_kernels.NO_NUMBA_ENV] = "1"
    try:
        slow = prune_rows(m, k)
    finally:
        del os.environ[_kernels.NO_NUMBA_ENV]
    np.testing.assert_array_equal(fast.indptr, slow.indptr)
    np.testing.assert_array_equal(fast.indices, slow.indices)
    np.testing.assert_array_equal(fast.data, slow.data)


def test_prune_rows_hand_made_tie_at_the_cut() -> None:
    m = sp.csr_matrix((np.array([0.5, 0.9, 0.5, 0.5, 0.1]), np.array([4, 0, 2, 1, 3]), np.array([0, 5])), shape=(1, 5))
    keep = _kernels.top_k_keep(m.indptr, m.indices, m.data, 3)
    assert keep.tolist() == [False, True, True, True, False]  # 0.9, then the 0.5 ties at columns 1 and 2


def test_cooc_similarity_hand_made_tie_at_the_cut_and_empty_rows() -> None:
    # baskets: item 0 bought with 1, 2 and 3 once each (equal cosine to all three); item 4 never bought
    x = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 0, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=float))
    xt = x.T.tocsr()
    counts = np.asarray(x.sum(axis=0)).ravel()
    lengths, cols, vals = _kernels.cooc_similarity(
        x, xt, (0, 5), counts, similarity="cosine", n_rows_total=3, shrink=0.0, k=2, cap=10
    )
    assert lengths.tolist() == [2, 1, 1, 1, 0]  # item 4 has no neighbours
    assert cols.tolist() == [1, 2, 0, 0, 0]  # item 0 keeps the tied 1 and 2 (lower columns), not 3
    np.testing.assert_array_equal(vals, np.array([1.0, 1.0, 1.0, 1.0, 1.0]) / np.sqrt(3.0))
