"""surprise-knn / surprise-svd: conformance, Surprise's own predictions as the reference, carts, errors."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from _extras import run_without
from _queries import context_queries

from xsell_eval.adapters.surprise_adapters import (
    SurpriseKNNAdapter,
    SurpriseSVDAdapter,
    _topk_mask,
    surprise_ratings,
)
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, MissingExtraError
from xsell_eval.queries import Queries
from xsell_eval.split import make_split
from xsell_eval.testing import check_adapter, toy_dataset, toy_queries

surprise = pytest.importorskip("surprise")


@pytest.fixture(scope="module")
def toy() -> Dataset:
    return toy_dataset()


@pytest.fixture(scope="module")
def toy_train(toy: Dataset) -> Dataset:
    """Temporal train of the toy shop without user 0 and item 0 (so Surprise must refuse some pairs)."""
    train = make_split(toy, "temporal").train
    df = train.interactions
    return train.subset((df[C.USER_IDX] != 0).to_numpy() & (df[C.ITEM_IDX] != 0).to_numpy())


def _queries(n_items: int, users: list[int], carts: list[list[int]]) -> Queries:
    """Hand-made queries (targets empty) for scoring tests."""
    return context_queries(n_items, carts, user_idx=users, context_value=0.0)


# ---------------------------------------------------------------- conformance
@pytest.mark.parametrize(
    "factory",
    [
        lambda seed: SurpriseKNNAdapter(seed=seed),
        lambda seed: SurpriseKNNAdapter(seed=seed, sim="cosine", k=5, profile="cart"),
        lambda seed: SurpriseKNNAdapter(seed=seed, user_based=True, sim="msd", k=10),
        lambda seed: SurpriseSVDAdapter(seed=seed, n_factors=8, n_epochs=10),
        lambda seed: SurpriseSVDAdapter(seed=seed, n_factors=8, n_epochs=10, profile="cart"),
    ],
    ids=["knn-default", "knn-cart", "knn-user-based", "svd", "svd-cart"],
)
def test_conformance(factory) -> None:  # type: ignore[no-untyped-def]
    check_adapter(factory)


# ---------------------------------------------------------------- ratings rule
def test_implicit_ratings_rule_hand_computed() -> None:
    inter = pd.DataFrame(
        {
            C.USER: ["a", "a", "a", "a", "b", None],
            C.BASKET: ["b1", "b2", "b3", "b3", "b4", "b5"],
            C.ITEM: ["x", "x", "x", "y", "y", "x"],
            C.QUANTITY: [1, 50, 2, 1, 7, 3],
        }
    )
    r = surprise_ratings(Dataset.from_frames(inter))
    assert not r.explicit
    # a bought x in 3 baskets, y in 1; b bought y once; the guest line is not used
    got = {(u, i): v for u, i, v in r.frame[[C.USER_IDX, C.ITEM_IDX, C.RATING]].itertuples(index=False)}
    assert got == pytest.approx({(0, 0): 1 + np.log(3), (0, 1): 1.0, (1, 1): 1.0})
    assert r.rating_scale == pytest.approx((1.0, 1 + np.log(3)))


def test_explicit_ratings_are_used_and_duplicates_averaged() -> None:
    inter = pd.DataFrame(
        {
            C.USER: ["a", "a", "b", "b"],
            C.BASKET: ["1", "2", "3", "4"],
            C.ITEM: ["x", "x", "x", "y"],
            C.RATING: [4.0, 2.0, 5.0, 1.0],
        }
    )
    r = surprise_ratings(Dataset.from_frames(inter))
    assert r.explicit
    assert r.frame[C.RATING].tolist() == [3.0, 5.0, 1.0]
    assert r.rating_scale == (1.0, 5.0)


def test_all_guest_data_is_a_data_error() -> None:
    ds = Dataset.from_frames(pd.DataFrame({C.BASKET: ["1", "1"], C.ITEM: ["x", "y"]}))
    with pytest.raises(DataError, match="needs user ids"):
        SurpriseKNNAdapter().fit(ds)
    with pytest.raises(DataError, match="needs user ids"):
        surprise_ratings(ds)


# ---------------------------------------------------------------- vectorised = algo.predict
def _pairs(ds: Dataset, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs plus pairs with user 0 / item 0 (absent from ``toy_train``)."""
    rng = np.random.default_rng(1)
    users = np.r_[rng.integers(0, ds.n_users, n), np.zeros(5, np.int64), rng.integers(1, ds.n_users, 5)]
    items = np.r_[rng.integers(0, ds.n_items, n), rng.integers(1, ds.n_items, 5), np.zeros(5, np.int64)]
    return users, items


def _check_against_predict(adapter, ds: Dataset, *, unknown_is_impossible: bool) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """predict_ratings == algo.predict(clip=False).est where user and item are known; NaN elsewhere.

    Returns the numbers of (known, unknown) pairs checked.
    """
    users, items = _pairs(ds)
    est = adapter.predict_ratings(np.arange(ds.n_users))
    known = unknown = 0
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        pred = adapter.algo_.predict(u, i, clip=False)
        if adapter.user_inner_[u] >= 0 and adapter.item_inner_[i] >= 0:
            known += 1
            assert not pred.details["was_impossible"]
            assert est[u, i] == pytest.approx(pred.est, abs=1e-9, rel=1e-9), (u, i)
        else:
            unknown += 1
            assert np.isnan(est[u, i]), (u, i)
            # KNN refuses such pairs; biased SVD answers mu (+ b_u or b_i): never a ranking candidate here
            assert pred.details["was_impossible"] == unknown_is_impossible
    return known, unknown


@pytest.mark.parametrize(
    "params",
    [
        {"sim": "cosine", "k": 3, "min_k": 2},
        {"sim": "msd", "k": 2},
        {"sim": "pearson", "k": 4, "min_k": 3},
        {"sim": "pearson_baseline", "k": 6, "shrinkage": 10},
        {"sim": "cosine", "k": 40, "min_support": 3},
        {"user_based": True, "sim": "msd", "k": 5, "min_k": 2},
        {"user_based": True, "sim": "pearson", "k": 3},
    ],
)
def test_knn_vectorised_estimates_equal_surprise_predict(toy_train: Dataset, params: dict) -> None:
    a = SurpriseKNNAdapter(**params).fit(toy_train)
    known, unknown = _check_against_predict(a, toy_train, unknown_is_impossible=True)
    # the sample must exercise both known pairs and pairs Surprise cannot predict
    assert known > 100
    assert unknown >= 10


def test_svd_vectorised_estimates_equal_surprise_predict(toy_train: Dataset) -> None:
    for params in ({}, {"biased": False, "n_factors": 5}):
        a = SurpriseSVDAdapter(n_epochs=5, **params).fit(toy_train)
        known, unknown = _check_against_predict(a, toy_train, unknown_is_impossible=not a.params["biased"])
        assert known > 100 and unknown >= 10


def test_knn_tie_break_matches_surprise() -> None:
    """Equal similarities at the k-th place: only Surprise's stable order (earlier rating first) agrees."""
    rng = np.random.default_rng(3)
    rows = [
        (f"u{u}", f"b{u}-{i}-{b}", f"i{i}")
        for u in range(8)
        for i in range(8)
        if rng.random() < 0.6
        for b in range(int(rng.integers(1, 4)))
    ]
    ds = Dataset.from_frames(pd.DataFrame(rows, columns=[C.USER, C.BASKET, C.ITEM]))
    decided_by_ties = 0
    for k in (1, 2, 3):
        a = SurpriseKNNAdapter(sim="msd", k=k).fit(ds)
        est = a.predict_ratings(np.arange(ds.n_users))
        for u in range(ds.n_users):
            x = a.user_inner_[u]
            j = a.item_inner_[a.profile_[x].indices]
            r = a.profile_[x].data
            # the same formula with the opposite tie-break (later rating first)
            reverse = a._est_item_based(j[::-1], r[::-1])
            for i in range(ds.n_items):
                pred = a.algo_.predict(u, i, clip=False)
                assert est[u, i] == pytest.approx(pred.est, abs=1e-12)
                if abs(reverse[a.item_inner_[i]] - pred.est) > 1e-9:
                    decided_by_ties += 1
    assert decided_by_ties > 0  # the data really has ties at the cut that change the estimate


def test_topk_mask_is_stable_nlargest() -> None:
    rng = np.random.default_rng(0)
    s = rng.integers(-2, 3, size=(50, 9)).astype(float)
    for k in (1, 3, 8, 9, 12):
        got = _topk_mask(s, k)
        for row in range(len(s)):
            import heapq

            top = heapq.nlargest(k, range(s.shape[1]), key=lambda c, r=row: s[r, c])
            assert set(np.flatnonzero(got[row])) == set(top)


def test_predict_ratings_before_fit_raises() -> None:
    from xsell_eval.errors import NotFittedError

    with pytest.raises(NotFittedError, match="fit"):
        SurpriseSVDAdapter().predict_ratings(np.array([0]))


# ---------------------------------------------------------------- same fit as Surprise itself
def _explicit_data(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_u, n_i, n = 40, 30, 700
    u = rng.integers(0, n_u, n)
    i = rng.integers(0, n_i, n)
    df = pd.DataFrame({"u": [f"user{x:03d}" for x in u], "i": [f"item{x:03d}" for x in i]}).drop_duplicates()
    taste = rng.normal(size=(n_u, 3)) @ rng.normal(size=(3, n_i))
    uu = df["u"].str[4:].astype(int).to_numpy()
    ii = df["i"].str[4:].astype(int).to_numpy()
    df["r"] = np.clip(np.round(3 + taste[uu, ii] + rng.normal(0, 0.5, len(df))), 1, 5)
    df = df.reset_index(drop=True)
    test = rng.random(len(df)) < 0.2
    return df, test


@pytest.mark.parametrize(
    "make",
    [
        lambda: SurpriseSVDAdapter(seed=7, n_factors=6, n_epochs=15),
        lambda: SurpriseKNNAdapter(sim="pearson", k=10, user_based=True),
        lambda: SurpriseKNNAdapter(sim="msd", k=10),
    ],
    ids=["svd", "knn-user", "knn-item"],
)
def test_adapter_training_reproduces_surprise_fit(make) -> None:  # type: ignore[no-untyped-def]
    """Same data, same order, same random_state: the adapter's RMSE is Surprise's own to 1e-9."""
    df, test = _explicit_data()
    assert {1.0, 5.0} <= set(df["r"][~test])  # both ends of the scale are in train
    inter = pd.DataFrame(
        {C.USER: df["u"], C.ITEM: df["i"], C.BASKET: np.arange(len(df)).astype(str), C.RATING: df["r"]}
    )
    ds = Dataset.from_frames(inter)
    adapter = make().fit(ds.subset(~test))

    # Surprise on its own: ratings sorted by (user, item) string ids, Reader(1, 5)
    train_df = df[~test].sort_values(["u", "i"])[["u", "i", "r"]]
    data = surprise.Dataset.load_from_df(train_df, surprise.Reader(rating_scale=(1, 5)))
    trainset = data.build_full_trainset()
    algo = adapter.build_algo()
    algo.fit(trainset)
    testset = list(df[test][["u", "i", "r"]].itertuples(index=False, name=None))
    rmse_surprise = surprise.accuracy.rmse(algo.test(testset), verbose=False)

    # the adapter: vectorised estimates, clipped like predict(); pairs outside the trainset
    # (never ranking candidates) take Surprise's own fallback
    u_idx = pd.Index(ds.user_ids).get_indexer(df["u"][test])
    i_idx = pd.Index(ds.item_ids).get_indexer(df["i"][test])
    est = np.clip(adapter.predict_ratings(u_idx)[np.arange(len(u_idx)), i_idx], 1, 5)
    outside = np.flatnonzero(np.isnan(est))
    for k in outside:
        est[k] = adapter.algo_.predict(int(u_idx[k]), int(i_idx[k])).est
    assert len(outside) < len(est) // 10
    rmse_ours = float(np.sqrt(np.mean((est - df["r"][test].to_numpy()) ** 2)))
    assert rmse_ours == pytest.approx(rmse_surprise, abs=1e-9)
    assert 0.3 < rmse_ours < 2.0  # a real fit, not a degenerate one


# ---------------------------------------------------------------- carts and cold users
def test_knn_cold_user_scores_are_cart_similarity_sums(toy_train: Dataset) -> None:
    a = SurpriseKNNAdapter(sim="cosine", k=2).fit(toy_train)
    cart = [3, 4, 5]
    q = _queries(toy_train.n_items, [-1], [cart])
    scores = a._score(q)[0]
    inner = a.item_inner_[cart]
    for i in range(toy_train.n_items):
        ii = a.item_inner_[i]
        if ii < 0:
            assert scores[i] == -np.inf
            continue
        sims = a.sim_[ii, inner]
        top = sorted(range(3), key=lambda c, s=sims: -s[c])[:2]  # stable: lower position wins ties
        expected = sum(sims[c] for c in top if sims[c] > 0)
        assert scores[i] == (pytest.approx(expected) if expected > 0 else -np.inf)


def test_knn_user_based_cannot_serve_a_cart(toy_train: Dataset) -> None:
    a = SurpriseKNNAdapter(user_based=True, k=5).fit(toy_train)
    q = _queries(toy_train.n_items, [-1], [[1, 2]])
    recs = a.recommend(q, 5)
    assert (recs.items == -1).all()


def test_known_user_history_profile_ignores_cart_and_equals_predict(toy_train: Dataset) -> None:
    a = SurpriseSVDAdapter(n_factors=4, n_epochs=5).fit(toy_train)
    u = int(np.flatnonzero(a.user_inner_ >= 0)[0])
    s1 = a._score(_queries(toy_train.n_items, [u], [[1]]))[0]
    s2 = a._score(_queries(toy_train.n_items, [u], [[7, 8]]))[0]
    ok = np.isfinite(s1)
    np.testing.assert_allclose(s1[ok], s2[ok])
    np.testing.assert_allclose(s1[ok], a.predict_ratings(np.array([u]))[0][ok])


def test_svd_fold_in_solves_the_regularised_least_squares(toy_train: Dataset) -> None:
    """Zero gradient of Σ (r_max − μ − b_j − b − p·q_j)² + λ n (b² + |p|²) at the fold-in solution."""
    for reg in (0.02, 0.5):
        a = SurpriseSVDAdapter(n_factors=6, n_epochs=5, reg_all=reg).fit(toy_train)
        carts = [[2], [2, 5, 9], list(range(0, 30))]  # dual (n < f+1) and primal (n > f+1) branches
        q = _queries(toy_train.n_items, [-1] * 3, carts)
        b, p, has = a.fold_in(q.context)
        assert has.all()
        for row, cart in enumerate(carts):
            j = a.item_inner_[cart]
            j = j[j >= 0]
            resid = a.cart_rating_ - a.mu_ - a.bi_[j] - b[row] - a.qi_[j] @ p[row]
            lam = reg * len(j)
            grad_b = -resid.sum() + lam * b[row]
            grad_p = -(a.qi_[j].T @ resid) + lam * p[row]
            assert abs(grad_b) < 1e-8
            np.testing.assert_allclose(grad_p, 0.0, atol=1e-8)
        scores = a._score(q)
        est = a.mu_ + b[:, None] + a.bi_[None, :] + p @ a.qi_.T
        known = a.known_items_
        np.testing.assert_allclose(scores[:, known], est[:, a.known_inner_])


def test_svd_fold_in_without_regularisation_is_minimum_norm(toy_train: Dataset) -> None:
    a = SurpriseSVDAdapter(n_factors=6, n_epochs=5, reg_all=0.0, biased=False).fit(toy_train)
    q = _queries(toy_train.n_items, [-1], [[2, 5]])
    _, p, _ = a.fold_in(q.context)
    j = a.item_inner_[[2, 5]]
    np.testing.assert_allclose(p[0], np.linalg.pinv(a.qi_[j]) @ np.full(2, a.cart_rating_), atol=1e-10)


def test_unknown_cart_items_give_empty_lists(toy_train: Dataset) -> None:
    assert toy_train.item_basket_count[0] == 0  # item 0 is not in this train
    for a in (SurpriseKNNAdapter(k=5), SurpriseSVDAdapter(n_factors=4, n_epochs=3)):
        a.fit(toy_train)
        recs = a.recommend(_queries(toy_train.n_items, [-1], [[0]]), 3)
        assert (recs.items == -1).all()
        assert a._score(_queries(toy_train.n_items, [5], [[1]]))[0, 0] == -np.inf  # never a candidate


def test_recommendations_beat_nothing_on_toy(toy: Dataset) -> None:
    """Sanity: the cart-based KNN finds the toy shop's planted i → i+1 pairs more often than chance."""
    q = toy_queries(toy)
    split = make_split(toy, "temporal")
    recs = SurpriseKNNAdapter(profile="cart").fit(split.train).recommend(q, 5)
    valid = recs.items >= 0
    r = np.repeat(np.arange(len(q)), 5).reshape(-1, 5)[valid]
    hit = np.zeros(recs.items.shape, dtype=bool)
    hit[valid] = np.asarray(q.targets[r, recs.items[valid]]).ravel() > 0
    assert hit.any(axis=1).mean() > 5 / toy.n_items


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k": 0}, "'k' must be >= 1"),
        ({"min_k": 5, "k": 3}, "'min_k'"),
        ({"sim": "jaccard"}, "'sim' must be one of"),
        ({"user_based": True, "profile": "cart"}, "profile='cart' needs item-based"),
        ({"profile": "session"}, "'profile' must be one of"),
    ],
)
def test_knn_bad_params(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SurpriseKNNAdapter(**params)


@pytest.mark.parametrize(
    ("params", "match"),
    [({"n_factors": 0}, "n_factors"), ({"lr_all": 0.0}, "lr_all"), ({"reg_all": -1.0}, "reg_all")],
)
def test_svd_bad_params(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SurpriseSVDAdapter(**params)


def test_declared_extra() -> None:
    # declared ranges of every adapter: tests/test_core_adapters.py (check_hyperparams)
    assert SurpriseKNNAdapter.extra == SurpriseSVDAdapter.extra == "surprise"


# ---------------------------------------------------------------- missing library
def test_missing_surprise_gives_install_hint(monkeypatch: pytest.MonkeyPatch, toy_train: Dataset) -> None:
    monkeypatch.setitem(sys.modules, "surprise", None)  # makes `import surprise` fail
    for a in (SurpriseKNNAdapter(), SurpriseSVDAdapter()):
        with pytest.raises(MissingExtraError, match=r"scikit-surprise.*pip install 'xsell-eval\[surprise\]'"):
            a.fit(toy_train)


def test_module_imports_and_lists_without_surprise() -> None:
    out = run_without("surprise", ("surprise-knn", "surprise-svd"), "surprise-knn:k=10")
    assert out["errors"] == {"surprise-knn": "", "surprise-svd": ""}
    assert out["extras"] == {"surprise-knn": "surprise", "surprise-svd": "surprise"}
    assert out["params"]["k"] == 10
    assert out["raised"].startswith("MissingExtraError")
    assert "pip install 'xsell-eval[surprise]'" in out["raised"]
