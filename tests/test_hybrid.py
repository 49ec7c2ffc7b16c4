"""Tests of the ``hybrid`` adapter (weighted fusion of normalised component scores)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from _cch_helpers import BASKETS, TITLES, make_queries, shop
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval.adapters import hybrid as hybrid_mod
from xsell_eval.adapters import registry
from xsell_eval.adapters.base import BaseAdapter
from xsell_eval.adapters.baselines import PopularAdapter, RandomAdapter
from xsell_eval.adapters.content import ContentAdapter
from xsell_eval.adapters.hybrid import DEFAULT_WEIGHTS, HybridAdapter, fuse_top_k, normalise
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, UnknownNameError
from xsell_eval.queries import Queries, Recommendations, top_k
from xsell_eval.split import make_split
from xsell_eval.testing import check_adapter, toy_dataset, toy_queries

# ------------------------------------------------------------------ stub components
FIXED_A = np.array([5.0, 3.0, 1.0, -np.inf, -np.inf])  # items 0, 1, 2
FIXED_B = np.array([-np.inf, 10.0, 0.0, 20.0, -np.inf])  # items 1, 2, 3


class StubA(BaseAdapter):
    """Fixed scores for every query."""

    name = "stub-a"
    scores: ClassVar[np.ndarray] = FIXED_A

    def _fit(self, train: Dataset) -> None:
        pass

    def _score(self, batch: Queries) -> np.ndarray:
        return np.broadcast_to(self.scores, (len(batch), len(self.scores))).copy()


class StubB(StubA):
    name = "stub-b"
    scores = FIXED_B


class StubFlag(StubA):
    """Flags query rows with an even query_id as served by its fallback."""

    name = "stub-flag"

    def _recommend_batch(self, batch: Queries, k: int) -> Recommendations:
        items, s = top_k(self._score(batch), k, exclude=batch.context)
        return Recommendations(items, s, self.name, batch.query_id % 2 == 0)


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> None:
    real_get = registry.get
    extra = {"stub-a": StubA, "stub-b": StubB, "stub-flag": StubFlag}

    def fake_get(name: str) -> type[BaseAdapter]:
        return extra[name] if name in extra else real_get(name)

    monkeypatch.setattr(registry, "get", fake_get)


def tiny() -> Dataset:
    return shop(TITLES, BASKETS)  # 5 items A..E


# ------------------------------------------------------------------ conformance
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"popular": 0.3, "content": 0.7},
        {"cf": 0.7, "content": 0.3, "normalisation": "rank"},
        {"cf": 0.7, "content": 0.3, "normalisation": "zscore", "fallback": "none"},
        {"cf": 1.0, "random": 0.0, "components": {"cf": {"fallback": "popular", "k_neighbors": 10}}},
    ],
)
def test_conformance(params: dict[str, Any]) -> None:
    check_adapter(lambda seed: HybridAdapter(seed=seed, **params))


# ------------------------------------------------------------------ spec parsing and validation
def test_spec_parsed_by_registry() -> None:
    h = registry.create("hybrid:cf=0.7,content=0.3,normalisation=rank")
    assert isinstance(h, HybridAdapter)
    assert h.weights == {"cf": 0.7, "content": 0.3}
    assert h.get_params() == {
        "normalisation": "rank",
        "pool_size": 100,
        "fallback": "popular",
        "weight_cf": 0.7,
        "weight_content": 0.3,
    }


def test_default_weights() -> None:
    assert DEFAULT_WEIGHTS == {"cf": 0.7, "content": 0.3}
    assert HybridAdapter().weights == {"cf": 0.7, "content": 0.3}


def test_tunable_weights_declared_on_the_instance() -> None:
    h = registry.create("hybrid:popular=0.2,content=0.8")
    names = [p.name for p in h.hyperparams]
    assert names == ["normalisation", "pool_size", "fallback", "weight_popular", "weight_content"]
    w = {p.name: p for p in h.hyperparams}["weight_content"]
    assert (w.kind, w.default, w.low, w.tune_low, w.tune_high, w.tunable) == ("float", 0.8, 0.0, 0.0, 1.0, True)
    assert [p.name for p in HybridAdapter.hyperparams] == ["normalisation", "pool_size", "fallback"]
    # a tuner passes trial values back as weight_<name>; they win over the spec's plain form
    t = registry.create("hybrid:popular=0.2,content=0.8", params={"weight_popular": 0.9, "weight_content": 0.1})
    assert t.weights == {"popular": 0.9, "content": 0.1}
    # get_params round-trips
    again = HybridAdapter(seed=0, **t.get_params())
    assert again.get_params() == t.get_params()


def test_unknown_component_did_you_mean() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown adapter 'contnet'\. Did you mean 'content'"):
        registry.create("hybrid:cf=0.7,contnet=0.3")


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"cf": -0.1}, "weight of component 'cf' must be a finite number >= 0"),
        ({"cf": "high"}, "weight of component 'cf' must be a number >= 0"),
        ({"cf": True}, "weight of component 'cf' must be a number"),
        ({"cf": 0, "content": 0.0}, "all component weights are 0"),
        ({"hybrid": 1.0}, "cannot contain another 'hybrid'"),
        ({"cf": 1.0, "normalisation": "softmax"}, "'normalisation'"),
        ({"cf": 1.0, "pool_size": 0}, "'pool_size'"),
        ({"cf": 1.0, "fallback": "random"}, "'fallback'"),
        ({"cf": 1.0, "components": {"content": {"n_neighbors": 5}}}, "'components' has parameters for 'content'"),
        ({"content": 1.0, "components": {"content": {"n_neighbors": 0}}}, "'n_neighbors'"),
        ({"content": 1.0, "components": {"content": 3}}, r"components\['content'\] must be a table"),
        ({"content": 1.0, "components": {"content": {"seed": 3}}}, "must not set 'seed'"),
    ],
)
def test_bad_configuration(params: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        HybridAdapter(**params)


# ------------------------------------------------------------------ normalisation and fusion units
def test_normalise_hand_computed() -> None:
    s = np.array([[4.0, 2.0, 2.0, np.nan], [7.0, 7.0, np.nan, np.nan], [np.nan] * 4])
    valid = np.isfinite(s)
    n, f = normalise(s, valid, "minmax", 4)
    np.testing.assert_allclose(n, [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0] * 4])
    np.testing.assert_allclose(f, [0.0, 0.0, 0.0])
    n, f = normalise(s, valid, "rank", 4)
    np.testing.assert_allclose(n, [[1.0, 0.75, 0.5, 0.0], [1.0, 0.75, 0.0, 0.0], [0.0] * 4])
    n, f = normalise(s, valid, "zscore", 4)
    mean, std = 8 / 3, np.std([4.0, 2.0, 2.0])
    np.testing.assert_allclose(n[0, :3], (np.array([4.0, 2.0, 2.0]) - mean) / std)
    np.testing.assert_allclose(n[1], 0.0)  # std 0
    np.testing.assert_allclose(f, [(2.0 - mean) / std, 0.0, 0.0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_rows=st.integers(1, 5), n_items=st.integers(1, 9), k=st.integers(1, 12))
def test_fuse_top_k_matches_dense(seed: int, n_rows: int, n_items: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(0, 30))
    rows = rng.integers(0, n_rows, m)
    items = rng.integers(0, n_items, m)
    values = rng.integers(0, 4, m) / 4.0  # quarters: exact sums, many ties
    got_i, got_s = fuse_top_k(rows, items, values, n_rows, k)
    dense = np.full((n_rows, n_items), -np.inf)
    seen = np.zeros((n_rows, n_items), dtype=bool)
    seen[rows, items] = True
    dense[seen] = 0.0
    np.add.at(dense, (rows, items), values)
    want_i, want_s = top_k(dense, k)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s)


# ------------------------------------------------------------------ fusion end to end
def test_hand_computed_fusion(stubs: None) -> None:
    """A pool: items 0,1,2 with 5,3,1 -> minmax 1, .5, 0; B pool: 3,1,2 with 20,10,0 -> 1, .5, 0."""
    ds = tiny()
    q = make_queries(ds.n_items, [[4]])
    h = HybridAdapter(**{"stub-a": 0.6, "stub-b": 0.4}, fallback="none").fit(ds)
    recs = h.recommend(q, 5)
    # fused: item0 .6, item1 .6*.5+.4*.5=.5, item2 0, item3 .4 -> 0 (.6), 1 (.5), 3 (.4), 2 (0)
    assert recs.items[0].tolist() == [0, 1, 3, 2, -1]
    np.testing.assert_allclose(recs.scores[0, :4], [0.6, 0.5, 0.4, 0.0])
    assert recs.fallback is None

    r = HybridAdapter(**{"stub-a": 0.6, "stub-b": 0.4}, normalisation="rank", pool_size=4, fallback="none").fit(ds)
    # rank: A 0:1, 1:.75, 2:.5 ; B 3:1, 1:.75, 2:.5 -> 0 .6, 1 .75, 2 .5, 3 .4
    out = r.recommend(q, 4)
    assert out.items[0].tolist() == [1, 0, 2, 3]
    np.testing.assert_allclose(out.scores[0], [0.75, 0.6, 0.5, 0.4])

    z = HybridAdapter(**{"stub-a": 1.0, "stub-b": 1.0}, normalisation="zscore", fallback="none").fit(ds)
    za = (np.array([5.0, 3.0, 1.0]) - 3.0) / np.std([5.0, 3.0, 1.0])
    zb = (np.array([20.0, 10.0, 0.0]) - 10.0) / np.std([20.0, 10.0, 0.0])
    want = {0: za[0] + zb.min(), 1: za[1] + zb[1], 2: za[2] + zb[2], 3: za.min() + zb[0]}
    out = z.recommend(q, 4)
    order = sorted(want, key=lambda i: (-want[i], i))
    assert out.items[0].tolist() == order
    np.testing.assert_allclose(out.scores[0], [want[i] for i in order])


def test_context_excluded_and_popular_fill(stubs: None) -> None:
    ds = tiny()  # basket counts: A 3, B 2, C 2, D 3, E 0 (never bought)
    q = make_queries(ds.n_items, [[0]])  # A, the stub's best item, is in the cart
    recs = HybridAdapter(**{"stub-a": 1.0}).fit(ds).recommend(q, 4)
    # the stub's pool without the cart: B, C; then the best seller not listed: D; E is never sold
    assert recs.items[0].tolist() == [1, 2, 3, -1]
    assert recs.scores[0, 0] >= recs.scores[0, 1] > recs.scores[0, 2]
    assert recs.scores[0, 2] <= -1.0  # fill scores sit below every fused score
    assert recs.fallback is not None and recs.fallback.tolist() == [False]
    none = HybridAdapter(**{"stub-a": 1.0}, fallback="none").fit(ds).recommend(q, 4)
    assert none.items[0].tolist() == [1, 2, -1, -1]


def test_fallback_flags_combined(stubs: None) -> None:
    ds = tiny()
    q = make_queries(ds.n_items, [[4], [4], [4]])  # query ids 0, 1, 2
    only_flag = HybridAdapter(**{"stub-flag": 1.0}, fallback="none").fit(ds).recommend(q, 3)
    assert only_flag.fallback is not None
    assert only_flag.fallback.tolist() == [True, False, True]
    # another component serving genuinely un-flags every query
    both = HybridAdapter(**{"stub-flag": 1.0, "stub-b": 1.0}, fallback="none").fit(ds).recommend(q, 3)
    assert both.fallback is not None and not both.fallback.any()


def test_component_fallback_off_unless_given() -> None:
    ds = toy_dataset()
    h = HybridAdapter(cf=0.7, content=0.3).fit(ds)
    assert h.components_["cf"].params["fallback"] == "none"
    g = HybridAdapter(cf=0.7, content=0.3, components={"cf": {"fallback": "popular"}}).fit(ds)
    assert g.components_["cf"].params["fallback"] == "popular"
    assert g.get_params()["components"] == {"cf": {"fallback": "popular"}}


def test_zero_weight_component_not_fitted_and_single_component_keeps_order() -> None:
    ds = toy_dataset()
    train = make_split(ds, "temporal").train
    q = toy_queries(ds)
    h = HybridAdapter(content=1.0, popular=0.0, pool_size=ds.n_items, fallback="none").fit(train)
    assert list(h.components_) == ["content"]
    c = ContentAdapter().fit(train)
    # min-max is increasing: same ranking as the component alone (up to exact ties)
    np.testing.assert_array_equal(h.recommend(q, 10).items, c.recommend(q, 10).items)


def test_seed_passed_to_components() -> None:
    ds = toy_dataset()
    train = make_split(ds, "temporal").train
    q = toy_queries(ds)
    for seed in (0, 7):
        h = HybridAdapter(seed=seed, random=1.0, fallback="none", pool_size=ds.n_items).fit(train)
        r = RandomAdapter(seed=seed).fit(train)
        np.testing.assert_array_equal(h.recommend(q, 5).items, r.recommend(q, 5).items)
    a = HybridAdapter(seed=0, random=1.0).fit(train).recommend(q, 5).items
    b = HybridAdapter(seed=7, random=1.0).fit(train).recommend(q, 5).items
    assert not np.array_equal(a, b)


def test_hybrid_reaches_cold_items_through_content() -> None:
    ds = tiny()
    idx = {i: k for k, i in enumerate(ds.item_ids)}
    assert ds.item_basket_count[idx["E"]] == 0
    q = make_queries(ds.n_items, [[idx["A"]]])
    pop_only = PopularAdapter().fit(ds).recommend(q, 4)
    assert idx["E"] not in pop_only.items[0]
    h = HybridAdapter(popular=0.5, content=0.5)
    assert idx["E"] in h.fit(ds).recommend(q, 4).items[0]
    assert h.serves_cold_items is True
    assert HybridAdapter(popular=1.0).serves_cold_items is False


def test_component_import_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> type[BaseAdapter]:
        raise ModuleNotFoundError("No module named 'xsell_eval.adapters.knn'")

    monkeypatch.setattr(registry, "get", broken)
    with pytest.raises(hybrid_mod.AdapterError, match="component 'cf' is registered but cannot be imported"):
        HybridAdapter(cf=1.0)


def test_tuner_search_space_from_an_instance() -> None:
    """The tuning helper's ``search_space`` sees the weights when given an instance (not the class)."""
    from xsell_eval.tuning import describe_space, search_space

    space = describe_space(search_space(HybridAdapter(cf=0.7, content=0.3)))  # type: ignore[arg-type]
    assert space["weight_cf"] == "float [0, 1]" and space["weight_content"] == "float [0, 1]"
    assert "weight_cf" not in search_space(HybridAdapter)
