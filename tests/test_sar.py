"""sar: conformance, a hand-computed case (affinity, co-occurrence, Jaccard, lift, scores), a dense reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval.adapters.sar import SAR_SIMILARITIES, SARAdapter, cooccurrence, sar_affinity, sar_similarity
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.testing import check_adapter, toy_dataset, toy_queries


@pytest.mark.parametrize("similarity", SAR_SIMILARITIES)
def test_conformance_every_similarity(similarity: str) -> None:
    check_adapter(lambda seed: SARAdapter(seed=seed, similarity=similarity))


@pytest.mark.parametrize(
    "params", [{"profile": "cart"}, {"remove_seen": True, "threshold": 2}, {"half_life_days": 0.0}]
)
def test_conformance_options(params: dict) -> None:
    check_adapter(lambda seed: SARAdapter(seed=seed, **params))


# ---------------------------------------------------------------- the hand-computed shop
#   user  basket  item  day            affinity, half-life 30 days, now = day 60
#   u1    b1      a     60             1
#   u1    b2      b     30             0.5
#   u2    b3      a      0             0.25
#   u2    b4      c     60             1
#   u3    b5      b,c   60             1, 1
#   u4    b6      a     60             1
# co-occurrence (users): d = (a 3, b 2, c 2); C_ab = 1 (u1), C_ac = 1 (u2), C_bc = 1 (u3)
# jaccard: ab = 1/(3+2-1) = 1/4, ac = 1/4, bc = 1/(2+2-1) = 1/3, diagonal 1
# lift:    ab = 1/6, ac = 1/6, bc = 1/4, diagonal a 1/3, b 1/2, c 1/2
A, B, CC = 0, 1, 2


@pytest.fixture(scope="module")
def shop() -> Dataset:
    day = pd.Timestamp("2024-01-01")
    rows = [
        ("u1", "b1", "a", 60),
        ("u1", "b2", "b", 30),
        ("u2", "b3", "a", 0),
        ("u2", "b4", "c", 60),
        ("u3", "b5", "b", 60),
        ("u3", "b5", "c", 60),
        ("u4", "b6", "a", 60),
    ]
    inter = pd.DataFrame(rows, columns=[C.USER, C.BASKET, C.ITEM, "d"])
    inter[C.TIMESTAMP] = day + pd.to_timedelta(inter.pop("d"), unit="D")
    ds = Dataset.from_frames(inter, name="hand")
    assert list(ds.item_ids) == ["a", "b", "c"] and list(ds.user_ids) == ["u1", "u2", "u3", "u4"]
    return ds


def test_affinity_by_hand(shop: Dataset) -> None:
    aff = sar_affinity(shop, half_life_days=30.0).toarray()
    expected = np.array([[1.0, 0.5, 0.0], [0.25, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(aff, expected, rtol=1e-12)
    np.testing.assert_allclose(sar_affinity(shop, half_life_days=0.0).toarray(), (expected > 0).astype(float))


def test_cooccurrence_jaccard_lift_by_hand(shop: Dataset) -> None:
    co = cooccurrence(shop, threshold=1).toarray()
    np.testing.assert_array_equal(co, [[3, 1, 1], [1, 2, 1], [1, 1, 2]])
    jac = sar_similarity(sp.csr_matrix(co), "jaccard").toarray()
    np.testing.assert_allclose(jac, [[1, 1 / 4, 1 / 4], [1 / 4, 1, 1 / 3], [1 / 4, 1 / 3, 1]])
    lift = sar_similarity(sp.csr_matrix(co), "lift").toarray()
    np.testing.assert_allclose(lift, [[1 / 3, 1 / 6, 1 / 6], [1 / 6, 1 / 2, 1 / 4], [1 / 6, 1 / 4, 1 / 2]])
    # threshold 2 keeps only the diagonal (every pair co-occurs once)
    np.testing.assert_array_equal(cooccurrence(shop, threshold=2).toarray(), np.diag([3, 2, 2]))


def _query(ds: Dataset, users: list[int], carts: list[list[int]]) -> object:
    q = toy_queries(toy_dataset()).take(np.arange(len(users)))
    rows = np.repeat(np.arange(len(carts)), [len(c) for c in carts])
    cols = np.concatenate([np.asarray(c, dtype=np.int64) for c in carts]) if rows.size else np.zeros(0, np.int64)
    ctx = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), ds.n_items))
    return dataclasses.replace(
        q, user_idx=np.asarray(users, dtype=np.int64), context=ctx, targets=sp.csr_matrix(ctx.shape)
    )


def test_scores_by_hand(shop: Dataset) -> None:
    a = SARAdapter(similarity="jaccard", half_life_days=30.0).fit(shop)
    # u1, no cart: [1, .5, 0] @ S;  guest with cart {b}: S[b];  u2 with cart {b}: max([.25, 0, 1], cart b) @ S
    q = _query(shop, [0, -1, 1], [[], [B], [B]])
    s = a._score(q)
    np.testing.assert_allclose(s[0], [1 + 0.5 / 4, 1 / 4 + 0.5, 1 / 4 + 0.5 / 3])
    np.testing.assert_allclose(s[1], [1 / 4, 1, 1 / 3])
    np.testing.assert_allclose(s[2], [0.25 + 1 / 4 + 1 / 4, 0.25 / 4 + 1 + 1 / 3, 0.25 / 4 + 1 / 3 + 1])
    recs = a.recommend(q, 3)
    assert recs.items[0].tolist() == [A, B, CC]
    assert recs.items[1].tolist() == [CC, A, -1]  # the cart item b is never returned
    assert recs.items[2].tolist() == [CC, A, -1]
    lift = SARAdapter(similarity="lift", half_life_days=30.0, profile="cart").fit(shop)
    s = lift._score(q)
    assert (s[0] == -np.inf).all()  # "cart" ignores the history: an empty cart has no candidates
    np.testing.assert_allclose(s[1], [1 / 6, 1 / 2, 1 / 4])


def test_remove_seen_drops_history(shop: Dataset) -> None:
    q = _query(shop, [0], [[]])
    assert SARAdapter(remove_seen=True).fit(shop).recommend(q, 3).items[0].tolist() == [CC, -1, -1]
    assert SARAdapter(remove_seen=False).fit(shop).recommend(q, 3).items[0].tolist() == [A, B, CC]


@settings(max_examples=30, deadline=None)
@given(
    hits=st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=2, max_size=12),
    similarity=st.sampled_from(["jaccard", "lift", "cooccurrence", "cosine", "inclusion_index"]),
)
def test_similarity_matches_dense_recommenders_formula(hits: list[list[bool]], similarity: str) -> None:
    """Recommenders' dense formulas (python_utils.py) on pairs that co-occur; 0 elsewhere."""
    u = np.asarray(hits, dtype=float)
    co = u.T @ u
    d = np.diag(co)
    dr, dc = d[None, :], d[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dense = {
            "jaccard": co / (dr + dc - co),
            "lift": co / (dr * dc),
            "cooccurrence": co,
            "cosine": co / np.sqrt(dr * dc),
            "inclusion_index": co / np.minimum(dr, dc),
        }[similarity]
    ref = np.where(co > 0, dense, 0.0)
    ours = sar_similarity(sp.csr_matrix(co), similarity).toarray()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


def test_mutual_information_uses_the_number_of_indexed_items() -> None:
    co = sp.csr_matrix(np.array([[2.0, 1.0, 0.0], [1.0, 4.0, 0.0], [0.0, 0.0, 0.0]]))  # item 2 never seen
    mi = sar_similarity(co, "mutual_information").toarray()
    np.testing.assert_allclose(mi[0, 1], np.log2(2 * 1 / (2 * 4)))  # n = 2 indexed items
    lmi = sar_similarity(co, "lexicographers_mi").toarray()
    np.testing.assert_allclose(lmi[0, 0], 2 * np.log2(2 * 2 / 4))
    assert mi[0, 2] == 0.0 and lmi[2, 2] == 0.0


def test_guest_baskets_count_as_their_own_user() -> None:
    inter = pd.DataFrame({C.BASKET: ["g1", "g1", "g2"], C.ITEM: ["a", "b", "a"]})
    ds = Dataset.from_frames(inter, name="guests")
    np.testing.assert_array_equal(cooccurrence(ds, threshold=1).toarray(), [[2, 1], [1, 1]])
    a = SARAdapter().fit(ds)  # no users, no timestamps: cart-only, no decay
    assert a.half_life_days_ == 0.0
    assert a.recommend(_query(ds, [-1], [[0]]), 2).items[0].tolist() == [1, -1]


def test_rating_weight_needs_ratings(shop: Dataset) -> None:
    with pytest.raises(DataError, match=r"weight='rating' needs a 'rating' column"):
        SARAdapter(weight="rating").fit(shop)
    with pytest.raises(ConfigError, match=r"'similarity' must be one of"):
        SARAdapter(similarity="pearson")
    with pytest.raises(ConfigError, match=r"'threshold' must be >= 1"):
        SARAdapter(threshold=0)


@pytest.mark.parametrize("similarity", SAR_SIMILARITIES)
def test_dense_and_sparse_scoring_paths_agree(monkeypatch: pytest.MonkeyPatch, similarity: str) -> None:
    ds = toy_dataset()
    q = toy_queries(ds)
    dense = SARAdapter(similarity=similarity).fit(ds)
    assert dense.dense_  # the toy catalog is small and dense enough
    monkeypatch.setattr("xsell_eval.adapters.sar.DENSE_SIMILARITY_BYTES", 0)
    sparse = SARAdapter(similarity=similarity).fit(ds)
    assert not sparse.dense_ and sparse.similarity_dense_ is None
    s1, s2 = dense._score(q), sparse._score(q)
    np.testing.assert_array_equal(np.isfinite(s1), np.isfinite(s2))
    np.testing.assert_allclose(s1[np.isfinite(s1)], s2[np.isfinite(s2)], rtol=1e-12)
