"""Metrics computed once per ranking (issue 11) equal the previous implementation.

The reference is a frozen copy of ``xsell_eval/metrics.py`` before the rewrite
(``tests/_legacy_metrics.py``), run on generated data with the awkward cases: repeated
items, short and empty lists, queries without targets, unknown prices, several batches.
"""

from __future__ import annotations

import _legacy_metrics as legacy
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval import metrics as M
from xsell_eval.errors import UnknownNameError
from xsell_eval.queries import Queries, Recommendations


def _case(
    seed: int, n: int = 700, n_items: int = 60, k: int = 12
) -> tuple[Recommendations, Queries, dict[str, object]]:
    rng = np.random.default_rng(seed)
    n_t = rng.integers(0, 6, size=n)  # some queries without targets
    rows = np.repeat(np.arange(n), n_t)
    cols = rng.integers(0, n_items, size=len(rows))
    qty = rng.choice([1.0, 2.0, -1.0], size=len(rows), p=[0.7, 0.25, 0.05])  # a few returns
    t = sp.csr_matrix((qty, (rows, cols)), shape=(n, n_items))
    price = rng.lognormal(1.0, 0.5, size=n_items)
    price[rng.random(n_items) < 0.05] = np.nan
    tv = sp.csr_matrix(t.multiply(np.nan_to_num(price)[None, :]))
    q = Queries(
        query_id=np.arange(n) + 100,
        user_idx=np.full(n, -1),
        basket_idx=np.arange(n),
        timestamp=np.full(n, "NaT", dtype="datetime64[ns]"),
        context=sp.csr_matrix((n, n_items)),
        targets=t,
        target_value=tv,
        context_value=np.where(rng.random(n) < 0.1, 0.0, rng.lognormal(2.0, 1.0, size=n)),
        user_history=np.zeros(n, dtype=int),
    )
    items = rng.integers(-1, n_items, size=(n, k))  # -1 padding and repeated items
    recs = Recommendations(items, -np.arange(k, dtype=float)[None, :].repeat(n, 0), "x")
    pop = rng.integers(0, 50, size=n_items)
    pop[:5] = 0
    kw: dict[str, object] = {
        "item_popularity": pop,
        "n_train_baskets": 60,
        "item_category": rng.integers(-1, 6, size=n_items),
        "item_price": price,
    }
    return recs, q, kw


HIT_MASK_PATHS = {  # (_DENSE_CELLS, _DENSE_MIN_ROWS) of metrics._hit_mask
    "dense, one chunk": (1 << 22, 64),
    "dense, chunks of 64 rows": (64 * 60, 64),  # 700 queries of a 60-item catalog: 11 chunks, the last partial
    "binary search": (1 << 22, 10**9),
}


@pytest.fixture(params=list(HIT_MASK_PATHS))
def hit_mask_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    cells, min_rows = HIT_MASK_PATHS[request.param]
    monkeypatch.setattr(M, "_DENSE_CELLS", cells)
    monkeypatch.setattr(M, "_DENSE_MIN_ROWS", min_rows)
    return str(request.param)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("batch_size", [100_000, 97])
def test_per_query_metrics_equal_previous_implementation(seed: int, batch_size: int, hit_mask_path: str) -> None:
    recs, q, kw = _case(seed)
    ks = [1, 5, 10, 20]  # 20 > list length: padded
    new = M.per_query_metrics(recs, q, ks, batch_size=batch_size, **kw)  # type: ignore[arg-type]
    old = legacy.per_query_metrics(recs, q, ks, batch_size=batch_size, **kw)
    # uplift is a ratio of means now (the legacy code divided each query by its own cart value): compared apart
    up = [c for c in new.columns if c.startswith("uplift@")]
    pd.testing.assert_frame_equal(new.drop(columns=up), old.drop(columns=up), check_exact=False, rtol=1e-12)
    ctx = np.asarray(q.context_value, dtype=float)
    ok = np.isfinite(ctx) & (ctx > 0) & (np.diff(q.targets.indptr) > 0)
    for c in up:  # new uplift = legacy uplift × own cart value / the mean cart value
        expected = old[c].to_numpy() * ctx / ctx[ok].mean()
        np.testing.assert_allclose(new[c].to_numpy(), expected, rtol=1e-12, equal_nan=True)
    assert new["hit_rate@10"].sum() > 0  # the case has hits


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("batch_size", [100_000, 131])
def test_item_buckets_equal_previous_implementation(seed: int, batch_size: int, hit_mask_path: str) -> None:
    recs, q, kw = _case(seed)
    new = M.per_query_metrics_by_item_bucket(
        recs,
        q,
        [3, 10],
        item_popularity=kw["item_popularity"],  # type: ignore[arg-type]
        item_price=kw["item_price"],  # type: ignore[arg-type]
        batch_size=batch_size,
    )
    old = legacy.per_query_metrics_by_item_bucket(
        recs, q, [3, 10], item_popularity=kw["item_popularity"], item_price=kw["item_price"], batch_size=batch_size
    )
    assert list(new) == list(old) == list(M.ITEM_BUCKETS)
    for b in M.ITEM_BUCKETS:
        pd.testing.assert_frame_equal(new[b].reset_index(drop=True), old[b], check_exact=False, rtol=1e-12)
        assert len(new[b]) > 0


def test_evaluate_ranking_computes_only_requested_metrics() -> None:
    recs, q, kw = _case(4)
    full = M.per_query_metrics(recs, q, [5, 10], **kw)  # type: ignore[arg-type]
    res = M.evaluate_ranking(recs, q, [5, 10], metrics=["ndcg@10", "hit_rate", "coverage"], item_buckets_of=True, **kw)  # type: ignore[arg-type]
    assert list(res.per_query.columns) == ["query_id", "hit_rate@5", "hit_rate@10", "ndcg@5", "ndcg@10"]
    pd.testing.assert_frame_equal(res.per_query, full[res.per_query.columns])
    old_b = legacy.per_query_metrics_by_item_bucket(
        recs, q, [5, 10], item_popularity=kw["item_popularity"], item_price=kw["item_price"]
    )
    for b in M.ITEM_BUCKETS:
        pd.testing.assert_frame_equal(res.by_item_bucket[b], old_b[b], check_exact=False, rtol=1e-12)


def test_unknown_metric_name_is_named() -> None:
    recs, q, kw = _case(5, n=10)
    with pytest.raises(UnknownNameError, match="ndgc"):
        M.per_query_metrics(recs, q, [5], metrics=["ndgc"], **kw)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    n_items=st.integers(1, 30),
    width=st.integers(1, 8),
    density=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**16),
    cells=st.sampled_from([1, 7, 64, 1 << 22]),
)
def test_hit_mask_is_set_membership_on_every_path(
    n: int, n_items: int, width: int, density: float, seed: int, cells: int
) -> None:
    """Each slot is a hit exactly when it is valid and its item is one of its row's targets."""
    rng = np.random.default_rng(seed)
    t = sp.random(n, n_items, density=density, format="csr", random_state=rng)
    t.sum_duplicates()
    items = rng.integers(-1, n_items, size=(n, width))
    valid = items >= 0
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(t.indptr))
    expected = np.array(
        [
            [
                bool(v) and int(i) in set(t.indices[t.indptr[r] : t.indptr[r + 1]])
                for i, v in zip(items[r], valid[r], strict=True)
            ]
            for r in range(n)
        ],
        dtype=bool,
    ).reshape(n, width)
    for min_rows in (1, 10**9):  # dense row chunks (any chunk size) and the binary search
        old = (M._DENSE_CELLS, M._DENSE_MIN_ROWS)
        M._DENSE_CELLS, M._DENSE_MIN_ROWS = cells, min_rows
        try:
            got = M._hit_mask(rows, t.indices, items, valid, n_items)
        finally:
            M._DENSE_CELLS, M._DENSE_MIN_ROWS = old
        np.testing.assert_array_equal(got, expected)
