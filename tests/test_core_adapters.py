"""Baselines, the registry and the conformance suite itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xsell_eval.adapters import registry
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.adapters.baselines import PopularAdapter, RandomAdapter
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, NotFittedError, UnknownNameError
from xsell_eval.queries import Queries
from xsell_eval.testing import check_adapter, check_hyperparams, toy_dataset, toy_queries


@pytest.mark.parametrize("cls", [PopularAdapter, RandomAdapter])
def test_baselines_pass_conformance(cls: type[BaseAdapter]) -> None:
    check_adapter(lambda seed: cls(seed=seed))


EXAMPLE_RULES = Path(__file__).resolve().parents[1] / "experiments" / "rules" / "online_retail.toml"


@pytest.mark.parametrize("name", sorted(registry.available()))
def test_every_registered_adapter_declares_usable_hyperparameters(name: str) -> None:
    required = {"path": str(EXAMPLE_RULES)} if name == "business-rules" else None  # the rules file must be given
    check_hyperparams(registry.get(name), required=required)


def test_check_hyperparams_names_the_faulty_declaration() -> None:
    def adapter(*params: HyperParam) -> type[BaseAdapter]:
        return type("Faulty", (PopularAdapter,), {"name": "faulty", "hyperparams": params})

    cases = [
        (HyperParam("k", "int", 0, low=1, high=10, help="h"), r"'faulty', hyperparameter 'k': default 0 is invalid"),
        (HyperParam("k", "int", 5, low=1, high=10, tune_low=1, tune_high=50, help="h"), r"outside the valid range"),
        (HyperParam("a", "float", 0.5, low=0.0, high=1.0, log=True, help="h"), r"log-scaled .* starts at 0"),
        (HyperParam("k", "int", 5, low=1, help="h"), r"without a bounded tuning range"),
        (HyperParam("k", "int", 5, low=1, high=10, tune_low=5, tune_high=5, help="h"), r"range \[5, 5\] is empty"),
        (HyperParam("s", "categorical", "x", choices=("a", "b"), help="h"), r"default 'x' is invalid"),
        (HyperParam("k", "int", 5, low=1, high=10), r"'k': no help text"),
    ]
    for param, pattern in cases:
        with pytest.raises(AssertionError, match=pattern):
            check_hyperparams(adapter(param))
    ok = HyperParam("k", "int", 5, low=1, high=10, help="h")
    with pytest.raises(AssertionError, match=r"duplicate hyperparameter names"):
        check_hyperparams(adapter(ok, ok))
    child = HyperParam("a", "float", 0.5, low=0.0, high=1.0, help="h", active_if=("mode", ("x",)))
    mode = HyperParam("mode", "categorical", "y", choices=("y", "z"), help="h")
    with pytest.raises(AssertionError, match=r"'a': active_if names 'mode', which is not declared before it"):
        check_hyperparams(adapter(child, mode))
    with pytest.raises(AssertionError, match=r"'a': active_if value 'x' is not valid for 'mode'"):
        check_hyperparams(adapter(mode, child))


def test_popular_skips_carts_of_best_sellers_one_query_at_a_time() -> None:
    # only the first k + (largest cart) items of the ranking are kept per batch: carts holding the
    # best-sellers (ties included) must still get the same lists as the dense ranking, alone or batched
    import scipy.sparse as sp

    from xsell_eval.queries import Requests

    ds = toy_dataset()
    a = PopularAdapter().fit(ds)
    pop = ds.item_basket_count.astype(float)
    ranking = [i for i in np.lexsort((np.arange(len(pop)), -pop)) if pop[i] > 0]
    tie = next(t for t in range(len(ranking) - 1) if pop[ranking[t]] == pop[ranking[t + 1]])  # tied items
    carts = [ranking[:8], ranking[1:12:2], [ranking[0]], [], ranking[:tie], ranking[: tie + 1], [ranking[-1]]]
    rows = np.repeat(np.arange(len(carts)), [len(c) for c in carts])
    ctx = sp.csr_matrix(
        (np.ones(len(rows)), (rows, np.concatenate([np.asarray(c, dtype=np.int64) for c in carts]))),
        shape=(len(carts), ds.n_items),
    )
    n = len(carts)
    req = Requests(
        np.arange(n),
        np.full(n, -1),
        np.full(n, "NaT", dtype="datetime64[ns]"),
        ctx,
        np.full(n, np.nan),
        np.zeros(n, dtype=np.int64),
    )
    batched = a._recommend_batch(req, 4)
    for r, cart in enumerate(carts):
        expected = [i for i in ranking if i not in set(cart)][:4]
        assert batched.items[r].tolist() == expected
        assert a._recommend_batch(req.take([r]), 4).items[0].tolist() == expected
        np.testing.assert_array_equal(batched.scores[r], pop[expected])
    # a refit on other data ranks that data, not the cached ranking of the first fit
    other = toy_dataset(seed=1)
    refit = a.fit(other)._recommend_batch(req.take([3]), 4)
    assert refit.items[0].tolist() == PopularAdapter().fit(other)._recommend_batch(req.take([3]), 4).items[0].tolist()
    pop1 = other.item_basket_count.astype(float)
    assert refit.items[0].tolist() == np.lexsort((np.arange(len(pop1)), -pop1))[:4].tolist()


def test_popular_ranks_by_train_basket_count_and_skips_context() -> None:
    ds = toy_dataset()
    q = toy_queries(ds)
    recs = PopularAdapter().fit(ds).recommend(q, 3)
    pop = ds.item_basket_count.astype(float)
    for r in range(5):
        ctx = set(q.context[r].indices)
        expected = [i for i in np.lexsort((np.arange(len(pop)), -pop)) if i not in ctx][:3]
        assert recs.items[r].tolist() == expected


def test_random_depends_on_seed_not_on_batching() -> None:
    ds = toy_dataset()
    q = toy_queries(ds)
    a = RandomAdapter(seed=1).fit(ds).recommend(q, 5).items
    b = RandomAdapter(seed=2).fit(ds).recommend(q, 5).items
    assert not np.array_equal(a, b)
    c = RandomAdapter(seed=1).fit(ds).recommend(q.take(np.arange(len(q))[::-1]), 5).items
    np.testing.assert_array_equal(c[::-1], a)


def test_recommend_before_fit_and_bad_k() -> None:
    with pytest.raises(NotFittedError, match="call fit"):
        PopularAdapter().recommend(toy_queries(toy_dataset()), 5)
    ds = toy_dataset()
    with pytest.raises(ConfigError, match="k must be an integer >= 1, got 0"):
        PopularAdapter().fit(ds).recommend(toy_queries(ds), 0)


def test_registry_unknown_name_suggests() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown adapter 'popluar'\. Did you mean 'popular'"):
        registry.get("popluar")
    assert {"popular", "random", "cf", "rules", "content"} <= set(registry.available())


def test_spec_parsing_and_hyperparameter_validation() -> None:
    assert registry.parse_spec("cf:k_neighbors=50,similarity=jaccard") == (
        "cf",
        {"k_neighbors": 50, "similarity": "jaccard"},
    )
    with pytest.raises(ConfigError, match="expected key=value"):
        registry.parse_spec("cf:oops")
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        registry.create("popular:alpha=1")
    p = HyperParam("k_neighbors", "int", 10, low=1, high=1000)
    with pytest.raises(ConfigError, match="'k_neighbors' must be >= 1, got 0"):
        p.validate(0)
    with pytest.raises(ConfigError, match="must be an integer"):
        p.validate("ten")
    c = HyperParam("similarity", "categorical", "cosine", choices=("cosine", "jaccard"))
    with pytest.raises(ConfigError, match="must be one of"):
        c.validate("euclid")


class _Broken(BaseAdapter):
    name = "broken"

    def _fit(self, train: Dataset) -> None:
        self.n_ = train.n_items

    def _score(self, batch: Queries) -> np.ndarray:
        s = np.zeros((len(batch), self.n_))
        s[:, 0] = 1.0  # recommends item 0 even when it is in the cart? base class removes it
        return s


class _Duplicates(PopularAdapter):
    name = "dups"

    def _recommend_batch(self, batch: Queries, k: int):  # type: ignore[no-untyped-def]
        recs = super()._recommend_batch(batch, k)
        items = recs.items.copy()
        items[:, 1] = items[:, 0]
        return type(recs)(items, recs.scores, recs.adapter)


def test_conformance_suite_catches_violations() -> None:
    check_adapter(lambda seed: _Broken(seed=seed))  # base class guarantees hold
    with pytest.raises(AssertionError, match="duplicate items"):
        check_adapter(lambda seed: _Duplicates(seed=seed))
