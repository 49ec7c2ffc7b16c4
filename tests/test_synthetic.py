"""The synthetic shop: shape, determinism, persistence, and the truth's exact law."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.data.synthetic import ShopTruth, generate_shop, has_truth, load_truth, truth_of
from xsell_eval.errors import ConfigError, DataError

SMALL = {"n_users": 300, "n_items": 60, "n_days": 40}


@pytest.fixture(scope="module")
def shop():
    return generate_shop(seed=3, **SMALL)


def test_canonical_frames_and_dataset(shop):
    inter, cat = shop.interactions, shop.catalog
    assert list(inter.columns) == list(C.INTERACTIONS)
    assert list(cat.columns) == list(C.CATALOG)
    assert len(cat) == SMALL["n_items"]
    assert inter[C.ITEM].isin(cat[C.ITEM]).all()
    assert pd.api.types.is_datetime64_any_dtype(inter[C.TIMESTAMP])
    assert (inter[C.PRICE] > 0).all() and (inter[C.QUANTITY] >= 1).all()
    assert not inter.duplicated([C.BASKET, C.ITEM]).any()
    # one user and one timestamp per basket
    per_b = inter.groupby(C.BASKET).agg(u=(C.USER, "nunique"), t=(C.TIMESTAMP, "nunique"))
    assert (per_b["u"] <= 1).all() and (per_b["t"] == 1).all()
    ds = Dataset.from_frames(inter, cat, name="synthetic")
    assert ds.n_items == SMALL["n_items"] and ds.has_timestamps and ds.has_prices and ds.has_catalog_text
    assert 0 < inter[C.USER].isna().mean() < 0.2  # some guests
    # prices vary by category (log-normal levels per category)
    med = cat.groupby(C.CATEGORY)[C.PRICE].median()
    assert med.max() / med.min() > 2


def test_deterministic_and_seed_dependent():
    a = generate_shop(seed=5, **SMALL)
    b = generate_shop(seed=5, **SMALL)
    c = generate_shop(seed=6, **SMALL)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.catalog, b.catalog)
    assert (a.truth.complements != b.truth.complements).nnz == 0
    assert not a.interactions.equals(c.interactions)


def test_new_users_and_items_appear_over_time(shop):
    inter = shop.interactions
    first_day = (inter.groupby(C.USER)[C.TIMESTAMP].min() - inter[C.TIMESTAMP].min()).dt.days
    assert (first_day > SMALL["n_days"] // 2).any()
    item_first = (inter.groupby(C.ITEM)[C.TIMESTAMP].min() - inter[C.TIMESTAMP].min()).dt.days
    released_late = shop.truth.item_release_day > SMALL["n_days"] // 2
    ids = shop.truth.item_ids[released_late]
    sold = [i for i in ids if i in item_first.index]
    assert sold, "some late-released items should sell"
    # an item is never sold before its release day
    rel = pd.Series(shop.truth.item_release_day, index=shop.truth.item_ids)
    assert (item_first >= rel.loc[item_first.index]).all()


def test_save_and_load_truth_roundtrip(shop, tmp_path):
    paths = shop.save(tmp_path / "shop")
    assert {p.name for p in paths} == {"interactions.csv", "catalog.csv", "truth.npz", "truth.json"}
    assert has_truth(tmp_path / "shop")
    t = load_truth(tmp_path / "shop")
    assert list(t.item_ids) == list(shop.truth.item_ids)
    assert (t.complements != shop.truth.complements).nnz == 0
    np.testing.assert_allclose(t.base_prob, shop.truth.base_prob)
    np.testing.assert_array_equal(t.user_segment, shop.truth.user_segment)
    assert t.params == shop.truth.params
    back = pd.read_csv(tmp_path / "shop" / "interactions.csv", dtype={C.USER: str})
    assert len(back) == len(shop.interactions)


def test_load_truth_missing(tmp_path):
    with pytest.raises(DataError, match="no ground truth"):
        load_truth(tmp_path)


def _tiny_truth() -> ShopTruth:
    q = sp.csr_matrix(np.array([[0, 0.5, 0.2, 0], [0, 0, 0.4, 0], [0, 0, 0, 0], [0, 0.1, 0, 0]]))
    return ShopTruth(
        item_ids=np.array(["a", "b", "c", "d"], dtype=object),
        user_ids=np.array(["u1", "u2"], dtype=object),
        user_segment=np.array([0, 1]),
        segment_share=np.array([0.25, 0.75]),
        base_prob=np.array([[0.1, 0.0, 0.05, 0.2], [0.0, 0.3, 0.1, 0.0]]),
        complements=q,
        item_category=np.zeros(4, dtype=np.int64),
        categories=("x",),
        item_price=np.ones(4),
        item_release_day=np.zeros(4, dtype=np.int64),
        user_join_day=np.zeros(2, dtype=np.int64),
    )


def test_accept_prob_hand_computed():
    t = _tiny_truth()
    ctx = sp.csr_matrix(np.array([[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]]))
    items = np.array([[1, 2, -1], [2, 3, 0], [1, 2, 3]])
    seg = np.array([0, -1, 1])
    p = t.accept_prob(ctx, items, seg)
    # row 0, segment 0, cart {a, d}: item b: 1 - (1-0)(1-.5)(1-.1) = .55; item c: 1 - (1-.05)(1-.2) = .24
    # row 1, guest: base = .25*b0 + .75*b1 = [.025, .225, .0875, .05]; cart {a, b}
    #   item c: 1 - (1-.0875)(1-.2)(1-.4) = .562; item d: .05; item a is in the cart: 0
    # row 2, segment 1, empty cart: base only
    expected = np.array(
        [
            [0.55, 0.24, 0.0],
            [1 - 0.9125 * 0.8 * 0.6, 0.05, 0.0],
            [0.3, 0.1, 0.0],
        ]
    )
    np.testing.assert_allclose(p, expected, atol=1e-12)


def test_aligned_permutes_items_and_marks_unknown_users():
    t = _tiny_truth()
    a = t.aligned(np.array(["d", "a", "c", "b"], dtype=object), np.array(["u2", "zz"], dtype=object))
    np.testing.assert_array_equal(a.user_segment, [1, -1])
    assert a.complements[3, 2] == pytest.approx(0.4)  # b -> c
    assert a.complements[0, 3] == pytest.approx(0.1)  # d -> b
    with pytest.raises(DataError, match="does not know 1 item"):
        t.aligned(np.array(["a", "nope"], dtype=object), np.array([], dtype=object))


def test_marginals_match_base_probabilities_without_complements():
    """With no complements, P(j in basket | segment) = b[s, j] / P(basket non-empty) exactly."""
    shop = generate_shop(
        seed=11, n_users=800, n_items=40, n_days=60, complements_per_item=0, new_item_share=0.0, guest_share=0.0
    )
    ds = shop.to_dataset()
    truth = truth_of(ds)
    assert truth is not None
    b = ds.baskets
    seg = truth.segments_of(b[C.USER_IDX].to_numpy())
    bi = ds.basket_item[b[C.BASKET_IDX].to_numpy()]
    for s in range(truth.n_segments):
        rows = seg == s
        n = int(rows.sum())
        if n < 500:
            continue
        freq = np.asarray(bi[rows].mean(axis=0)).ravel()
        base = truth.base_prob[s]
        expect = base / (1.0 - np.prod(1.0 - base))
        se = np.sqrt(expect * (1 - expect) / n)
        z = (freq - expect) / np.maximum(se, 1e-9)
        assert np.abs(z).max() < 4.5, f"segment {s}: max |z| {np.abs(z).max():.2f}"


def test_complement_pairs_cooccur_far_above_independence(shop):
    ds = shop.to_dataset()
    truth = truth_of(ds)
    assert truth is not None
    bi = ds.basket_item
    n_b = bi.shape[0]
    co = (bi.T @ bi).toarray()
    freq = np.asarray(bi.sum(axis=0)).ravel() / n_b
    lift = (co + 1) / (np.outer(freq, freq) * n_b + 1)  # observed / expected-if-independent co-purchases
    qi, qj = truth.complements.nonzero()
    strong = np.asarray(truth.complements[qi, qj]).ravel() > 0.2
    other = np.ones(co.shape, dtype=bool)
    other[qi, qj] = other[qj, qi] = False
    np.fill_diagonal(other, False)
    assert np.median(lift[qi, qj][strong]) > 1.8
    assert np.median(lift[other]) < 1.2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_users": 0}, "n_users must be an integer >= 1"),
        ({"n_items": 1}, "n_items must be an integer >= 2"),
        ({"n_categories": 500}, "n_categories must be <= n_items"),
        ({"complement_prob": (0.5, 0.2)}, "complement_prob"),
        ({"guest_share": 1.0}, "guest_share"),
        ({"start": "not a date"}, "start must be a date"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        generate_shop(**kwargs)
