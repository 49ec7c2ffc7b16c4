"""``segments``: K-means customer segments recommending their own best sellers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _queries import cart_queries, names
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from xsell_eval.adapters.registry import create
from xsell_eval.adapters.segments import SegmentsAdapter
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.testing import check_adapter, toy_dataset

# Two shopper groups that never overlap. Basket counts per item:
#   group A: p 8, q 5, r 2        group B: x 6, y 4, z 3      (w: in the catalog, never sold)
# Global popularity order: p 8, x 6, q 5, y 4, z 3, r 2.
A_BASKETS = [["p", "q"], ["p", "q"], ["p", "q", "r"], ["p"], ["p", "q"], ["p", "r"], ["p", "q"], ["p"]]
B_BASKETS = [["x", "y"], ["x", "y", "z"], ["x", "z"], ["x", "y"], ["x", "y"], ["x", "z"]]


def groups_dataset(*, with_categories: bool = True, users: bool = True) -> Dataset:
    rows = []
    for b, items in enumerate(A_BASKETS):
        rows += [(f"a{b}", i, f"uA{b % 4}") for i in items]
    for b, items in enumerate(B_BASKETS):
        rows += [(f"b{b}", i, f"uB{b % 3}") for i in items]
    df = pd.DataFrame(rows, columns=[C.BASKET, C.ITEM, C.USER])
    if not users:
        df = df.drop(columns=[C.USER])
    catalog = pd.DataFrame({C.ITEM: list("pqrwxyz")})
    if with_categories:
        catalog[C.CATEGORY] = ["mugs"] * 4 + ["cards"] * 3
    return Dataset.from_frames(df, catalog, name="groups")


def test_known_and_cold_users_get_their_segment() -> None:
    ds = groups_dataset()
    a = SegmentsAdapter(n_clusters=2, n_components=2).fit(ds)
    users = ds.user_ids.tolist()
    labels = a.labels_[[users.index(u) for u in ("uA0", "uA1", "uA2", "uA3", "uB0", "uB1", "uB2")]]
    assert len(set(labels[:4])) == 1 and len(set(labels[4:])) == 1 and labels[0] != labels[4]
    q = cart_queries(
        ds,
        [[], ["y"], ["w"], [], ["x"]],
        ["uA3", None, None, None, "uA0"],
    )
    recs = a.recommend(q, k=6)
    # known A user: A's favourites p 8, q 5, r 2, then the rest by global popularity x, y, z
    assert names(ds, recs.items[0]) == ["p", "q", "r", "x", "y", "z"]
    # guest whose cart {y} lies in segment B: x 6, z 3, then p, q, r by popularity (y is in the cart)
    assert names(ds, recs.items[1]) == ["x", "z", "p", "q", "r", "-"]
    # unprojectable cart (w never sold) and empty cart: global popularity, flagged as fallback
    assert names(ds, recs.items[2]) == ["p", "x", "q", "y", "z", "r"]
    assert names(ds, recs.items[3]) == ["p", "x", "q", "y", "z", "r"]
    # a known user keeps their train segment whatever the cart holds
    assert names(ds, recs.items[4]) == ["p", "q", "r", "y", "z", "-"]
    assert recs.fallback is not None
    assert recs.fallback.tolist() == [False, False, True, True, False]


def test_category_profiles_project_unsold_items() -> None:
    ds = groups_dataset()
    a = SegmentsAdapter(n_clusters=2, profile="categories").fit(ds)
    recs = a.recommend(cart_queries(ds, [["w"]], [None]), k=3)
    # w was never sold but is a mug: the cart projects to the mug segment (A)
    assert names(ds, recs.items[0]) == ["p", "q", "r"]
    assert recs.fallback is not None and not recs.fallback[0]


def test_segment_favourites_equal_basket_counts_per_segment() -> None:
    ds = toy_dataset()
    a = SegmentsAdapter(n_clusters=5, n_components=6, seed=3).fit(ds)
    df = ds.interactions
    df = df[df[C.USER_IDX] >= 0]
    seg = a.labels_[df[C.USER_IDX].to_numpy()]
    counts = pd.crosstab(seg, df[C.ITEM_IDX].to_numpy())  # lines = (basket, item) pairs: baskets per item
    expected = np.zeros((a.n_clusters_, ds.n_items))
    expected[np.ix_(counts.index.to_numpy(), counts.columns.to_numpy())] = counts.to_numpy()
    np.testing.assert_array_equal(a.cluster_counts_, expected)


def test_labels_match_the_documented_sklearn_pipeline() -> None:
    ds = toy_dataset()
    seed = 7
    a = SegmentsAdapter(n_clusters=4, n_components=5, seed=seed).fit(ds)
    ui = ds.user_item.copy()
    ui.data[:] = 1.0
    active = np.flatnonzero(np.diff(ui.indptr) > 0)
    z = normalize(TruncatedSVD(5, random_state=seed).fit_transform(normalize(ui[active])))
    km = KMeans(4, n_init=4, random_state=seed).fit(z)
    np.testing.assert_array_equal(a.labels_[active], km.labels_)
    assert (np.delete(a.labels_, active) == -1).all()


def test_no_svd_path_and_cluster_cap() -> None:
    ds = groups_dataset()
    # one category feature -> nothing to reduce; every profile is the same unit vector -> 1 cluster
    flat = Dataset.from_frames(
        ds.interactions[[C.BASKET, C.ITEM, C.USER]],
        pd.DataFrame({C.ITEM: list("pqrwxyz"), C.CATEGORY: ["all"] * 7}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no k-means "fewer distinct points than clusters" warning
        a = SegmentsAdapter(n_clusters=3, profile="categories").fit(flat)
    assert a.svd_ is None and a.n_clusters_ == 1
    # 7 users with 6 distinct item profiles (uA1 and uA2 both bought p, q, r); 10 components >= 7 item
    # items, so no reduction: at most 6 clusters
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = SegmentsAdapter(n_clusters=50, n_components=10).fit(ds)
    assert b.svd_ is None and b.n_clusters_ == 6
    # after a 3-dimensional SVD fewer profiles stay distinct; the cap follows, with no warning either
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = SegmentsAdapter(n_clusters=50, n_components=3).fit(ds)
    assert c.svd_ is not None and 2 <= c.n_clusters_ < 6


def test_bad_data_and_parameters() -> None:
    with pytest.raises(DataError, match="profile='categories' needs item categories"):
        SegmentsAdapter(profile="categories").fit(groups_dataset(with_categories=False))
    with pytest.raises(DataError, match="needs user ids"):
        SegmentsAdapter().fit(groups_dataset(users=False))
    for params, match in [
        ({"n_clusters": 0}, "'n_clusters' must be >= 1"),
        ({"n_components": 0}, "'n_components' must be >= 1"),
        ({"profile": "brands"}, "'profile' must be one of"),
        ({"n_threads": 0}, "'n_threads' must be >= 1"),
    ]:
        with pytest.raises(ConfigError, match=match):
            SegmentsAdapter(**params)  # type: ignore[arg-type]


def test_registry_spec_sets_parameters() -> None:
    a = create("segments:n_clusters=8")
    assert isinstance(a, SegmentsAdapter) and a.get_params()["n_clusters"] == 8


@pytest.mark.parametrize("params", [{}, {"profile": "categories", "n_clusters": 3}, {"n_clusters": 1}])
def test_segments_conformance(params: dict[str, object]) -> None:
    check_adapter(lambda seed: SegmentsAdapter(seed=seed, **params))
