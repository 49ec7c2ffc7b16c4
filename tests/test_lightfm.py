"""lightfm: conformance, LightFM's own predict as the reference, carts, item features, epochs, errors."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _extras import run_without

from xsell_eval.adapters.lightfm_adapter import LightFMAdapter, item_feature_matrix
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, MissingExtraError
from xsell_eval.split import make_split
from xsell_eval.testing import check_adapter, toy_dataset, toy_interactions, toy_queries

pytest.importorskip("lightfm")

FAST = {"epochs": 3, "no_components": 8}


@pytest.fixture(scope="module")
def toy() -> Dataset:
    return toy_dataset()


@pytest.fixture(scope="module")
def train(toy: Dataset) -> Dataset:
    return make_split(toy, "temporal").train


@pytest.mark.parametrize(
    "params",
    [FAST, {**FAST, "use_item_features": True}, {**FAST, "loss": "bpr"}, {**FAST, "loss": "warp-kos"}],
    ids=["warp", "warp-features", "bpr", "warp-kos"],
)
def test_conformance(params: dict) -> None:
    check_adapter(lambda seed: LightFMAdapter(seed=seed, **params))


def test_default_is_deterministic_single_thread() -> None:
    assert LightFMAdapter().params["num_threads"] == 1


def test_scores_equal_lightfm_predict_for_known_users(train: Dataset, toy: Dataset) -> None:
    """Empty cart + known user: score = LightFM's predict(u, i) − user bias, for every item it can score."""
    for params in (FAST, {**FAST, "use_item_features": True}):
        a = LightFMAdapter(**params).fit(train)
        q = toy_queries(toy)
        q = dataclasses.replace(q, context=sp.csr_matrix(q.context.shape))
        known = a.user_known_[np.maximum(q.user_idx, 0)] & (q.user_idx >= 0)
        q = q.take(np.flatnonzero(known)[:5])
        scores = a._score(q)
        bought = np.flatnonzero(a.item_bought_)
        for row, u in enumerate(q.user_idx):
            ref = (
                a.model_.predict(int(u), bought.astype(np.int32), item_features=a.item_features_)
                - a.model_.user_biases[u]
            )
            np.testing.assert_allclose(scores[row, bought], ref, rtol=1e-4, atol=1e-5)


def test_cart_is_mean_item_embedding_added_to_user(train: Dataset) -> None:
    a = LightFMAdapter(**FAST).fit(train)
    u = int(np.flatnonzero(a.user_known_)[0])
    q = toy_queries(toy_dataset()).take(np.arange(2))
    cart = [1, 2, 3]
    ctx = sp.csr_matrix((np.ones(6), ([0, 0, 0, 1, 1, 1], cart * 2)), shape=q.context.shape)
    q = dataclasses.replace(q, user_idx=np.array([u, -1]), context=ctx)
    scores = a._score(q)
    mean = a.item_emb_[cart].mean(axis=0)
    for row, vec in enumerate([a.user_emb_[u] + mean, mean]):
        ref = a.item_emb_ @ vec + a.item_bias_
        ok = a.scorable_
        np.testing.assert_allclose(scores[row, ok], ref[ok], rtol=1e-5, atol=1e-6)
        assert (scores[row, ~ok] == -np.inf).all()


def test_guest_without_known_cart_items_gets_nothing(train: Dataset) -> None:
    a = LightFMAdapter(**FAST).fit(train)
    q = toy_queries(toy_dataset()).take(np.arange(1))
    q = dataclasses.replace(q, user_idx=np.array([-1]), context=sp.csr_matrix(q.context.shape))
    assert (a.recommend(q, 5).items == -1).all()


def _shop_with_new_item() -> tuple[Dataset, int]:
    inter, catalog = toy_interactions()
    new = pd.DataFrame(
        {
            C.ITEM: ["i999"],
            C.TITLE: ["mugs item new"],
            C.DESCRIPTION: ["a lovely mugs number 3"],
            C.CATEGORY: ["mugs"],
            C.PRICE: [2.0],
        }
    )
    ds = Dataset.from_frames(inter, pd.concat([catalog, new], ignore_index=True), name="toy+new")
    return ds, int(np.flatnonzero(ds.item_ids == "i999")[0])


def test_item_features_make_cold_items_scorable() -> None:
    ds, new = _shop_with_new_item()
    train = make_split(ds, "temporal").train
    assert train.item_basket_count[new] == 0
    q = toy_queries(ds).take(np.arange(20))
    plain = LightFMAdapter(**FAST).fit(train)._score(q)
    hybrid_adapter = LightFMAdapter(**FAST, use_item_features=True).fit(train)
    hybrid = hybrid_adapter._score(q)
    assert (plain[:, new] == -np.inf).all()
    assert np.isfinite(hybrid[:, new]).all()
    # the cold item is scored from its content features only (no identity feature)
    row = hybrid_adapter.score_features_[new]
    names = np.array(hybrid_adapter.feature_names_)[row.indices]
    assert not any(n.startswith("item:") for n in names)
    assert {"category:mugs", "word:mugs", "word:lovely"} <= set(names)
    assert row.sum() == pytest.approx(1.0)


def test_item_feature_matrix_rows_and_min_df(toy: Dataset) -> None:
    f, names = item_feature_matrix(toy, min_df=2)
    assert f.shape == (toy.n_items, len(names))
    np.testing.assert_allclose(np.asarray(f.sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    assert names[: toy.n_items] == [f"item:{i}" for i in toy.item_ids]
    words = [n for n in names if n.startswith("word:")]
    assert "word:lovely" in words and not any(ch.isdigit() for w in words for ch in w)
    # item 0 is "mugs item 0" / "a lovely mugs number 0": identity, category "mugs" and the
    # words mugs, item, lovely, number ("a" is too short, digits are not words): 6 features of 1/6
    row = f[0]
    assert sorted(np.array(names)[row.indices]) == sorted(
        ["item:i000", "category:mugs", "word:mugs", "word:item", "word:lovely", "word:number"]
    )
    np.testing.assert_allclose(row.data, 1 / 6, rtol=1e-6)
    f_high, names_high = item_feature_matrix(toy, min_df=toy.n_items + 1)  # no word survives
    assert not any(n.startswith("word:") for n in names_high)
    assert f_high.shape[1] == toy.n_items + 4


def test_item_features_need_catalog_text() -> None:
    ds = Dataset.from_frames(pd.DataFrame({C.USER: ["a", "b"], C.BASKET: ["1", "2"], C.ITEM: ["x", "y"]}))
    with pytest.raises(DataError, match="use_item_features=true needs catalog text"):
        LightFMAdapter(**FAST, use_item_features=True).fit(ds)


def test_iter_fit_yields_epochs_and_equals_fit(train: Dataset, toy: Dataset) -> None:
    q = toy_queries(toy)
    a = LightFMAdapter(**FAST)
    seen = []
    for epoch in a.iter_fit(train):
        assert a.fitted_ and a.epochs_done_ == epoch
        seen.append(a.recommend(q, 5).items)
    assert [len(seen)] == [FAST["epochs"]]
    b = LightFMAdapter(**FAST).fit(train)
    np.testing.assert_array_equal(seen[-1], b.recommend(q, 5).items)
    assert not np.array_equal(seen[0], seen[-1])  # the model changed between epochs
    with pytest.raises(DataError, match="empty"):
        next(LightFMAdapter(**FAST).iter_fit(train.subset(np.zeros(len(train.interactions), dtype=bool))))


def test_more_threads_warns_about_determinism(train: Dataset) -> None:
    with pytest.warns(RuntimeWarning, match="non-deterministic"):
        LightFMAdapter(**FAST, num_threads=2).fit(train)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"loss": "hinge"}, r"'loss' must be one of \['warp', 'bpr', 'warp-kos'\], got 'hinge'"),
        ({"no_components": 0}, "no_components"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"item_alpha": -1.0}, "item_alpha"),
        ({"epochs": 0}, "epochs"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_bad_params(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LightFMAdapter(**params)


def test_extra_and_non_tunable_threads() -> None:
    # declared ranges of every adapter: tests/test_core_adapters.py (check_hyperparams)
    assert LightFMAdapter.extra == "lightfm"
    assert not next(p for p in LightFMAdapter.hyperparams if p.name == "num_threads").tunable


def test_missing_lightfm_gives_install_hint(monkeypatch: pytest.MonkeyPatch, train: Dataset) -> None:
    monkeypatch.setitem(sys.modules, "lightfm", None)
    with pytest.raises(MissingExtraError, match=r"rectools-lightfm.*pip install 'xsell-eval\[lightfm\]'"):
        LightFMAdapter(**FAST).fit(train)
    with pytest.raises(MissingExtraError, match="rectools-lightfm"):
        next(LightFMAdapter(**FAST).iter_fit(train))


def test_module_imports_and_lists_without_lightfm() -> None:
    out = run_without("lightfm", ("lightfm",), "lightfm:epochs=2")
    assert out["errors"] == {"lightfm": ""} and out["extras"] == {"lightfm": "lightfm"}
    assert out["raised"].startswith("MissingExtraError")
    assert "pip install 'xsell-eval[lightfm]'" in out["raised"]
