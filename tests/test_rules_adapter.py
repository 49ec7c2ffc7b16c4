"""The ``rules`` adapter (hand-computed scores, fallback, conformance) and ``xsell-eval rules mine``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _queries import context_queries
from typer.testing import CliRunner

from xsell_eval.adapters import registry
from xsell_eval.adapters.rules import AssociationRulesAdapter
from xsell_eval.cli import app
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError
from xsell_eval.mining import mine_rules
from xsell_eval.queries import Queries
from xsell_eval.testing import check_adapter

# items a b c d e -> 0..4; counts a 4, b 3, c 2, d 4, e 1; n = 8 baskets
# rules at support 0.25 (count >= 2), max_len 2:
#   a => b  conf 3/4  lift 2   conviction (1 - 3/8)/(1/4) = 2.5
#   b => a  conf 1    lift 2   conviction smoothed: conf 3/4 -> (1 - 1/2)/(1/4) = 2
#   a => c  conf 1/2  lift 2   conviction (1 - 2/8)/(1/2) = 1.5
#   c => a  conf 1    lift 2   conviction smoothed: conf 2/3 -> (1/2)/(1/3) = 1.5
BASKETS = [["a", "b"], ["a", "b"], ["a", "b", "c"], ["a", "c"], ["d"], ["d"], ["d"], ["d", "e"]]
A, B, Cc, D, E = range(5)


def tiny_dataset() -> Dataset:
    rows = [(f"t{i}", item) for i, basket in enumerate(BASKETS) for item in basket]
    return Dataset.from_frames(pd.DataFrame(rows, columns=[C.BASKET, C.ITEM]), name="tiny")


def make_queries(contexts: list[list[int]], n_items: int = 5) -> Queries:
    return context_queries(n_items, contexts)


def fit(**params: object) -> AssociationRulesAdapter:
    a = AssociationRulesAdapter(**{"min_support": 0.25, "min_confidence": 0.0, "max_len": 2, **params})
    return a.fit(tiny_dataset())  # type: ignore[return-value]


# --------------------------------------------------------------------------- scores
def test_max_confidence_scores_and_popular_fallback() -> None:
    a = fit()
    assert a.n_rules_ == 4
    recs = a.recommend(make_queries([[A], [D], [B, Cc], [A, B]]), 3)
    assert recs.items.tolist() == [[B, Cc, D], [A, B, Cc], [A, D, E], [Cc, D, E]]
    # rule scores, then fallback scores min(0, lowest rule score) - 1 + share / 2
    np.testing.assert_allclose(recs.scores[0], [0.75, 0.5, -1 + 0.5 * 4 / 8])
    np.testing.assert_allclose(recs.scores[1], [-1 + 0.5 * 4 / 8, -1 + 0.5 * 3 / 8, -1 + 0.5 * 2 / 8])
    np.testing.assert_allclose(recs.scores[2], [1.0, -1 + 0.5 * 4 / 8, -1 + 0.5 * 1 / 8])
    # {a, b}: a => b and b => a point into the cart; only a => c is left
    np.testing.assert_allclose(recs.scores[3][0], 0.5)
    assert recs.fallback is not None and recs.fallback.tolist() == [False, True, False, False]


def test_sum_aggregation_and_conviction() -> None:
    q = make_queries([[B, Cc], [A]])
    np.testing.assert_allclose(fit(aggregation="sum").recommend(q, 1).scores[:, 0], [2.0, 0.75])
    conv_max = fit(metric="conviction").recommend(q, 2)
    np.testing.assert_allclose(conv_max.scores[0, 0], 2.0)  # max(2, 1.5), finite for certain rules
    np.testing.assert_allclose(conv_max.scores[1], [2.5, 1.5])
    np.testing.assert_allclose(fit(metric="conviction", aggregation="sum").recommend(q, 1).scores[0, 0], 3.5)
    lev = fit(metric="leverage").recommend(q, 2)
    np.testing.assert_allclose(lev.scores[1], [3 / 8 - 4 / 8 * 3 / 8, 2 / 8 - 4 / 8 * 2 / 8])


def test_ties_go_to_the_more_popular_item() -> None:
    # with lift, a => b and a => c tie at 2; b is in 3 baskets, c in 2
    recs = fit(metric="lift").recommend(make_queries([[A]]), 2)
    assert recs.items.tolist() == [[B, Cc]] and recs.scores.tolist() == [[2.0, 2.0]]


def test_fallback_none_leaves_empty_slots() -> None:
    recs = fit(fallback="none").recommend(make_queries([[A], [D]]), 3)
    assert recs.items.tolist() == [[B, Cc, -1], [-1, -1, -1]]
    assert np.isnan(recs.scores[1]).all() and np.isnan(recs.scores[0, 2])
    assert recs.fallback is not None and not recs.fallback.any()


def test_fallback_never_repeats_and_pads_when_catalog_is_exhausted() -> None:
    recs = fit().recommend(make_queries([[A, D]]), 7)
    assert recs.items.tolist() == [[B, Cc, E, -1, -1, -1, -1]]
    assert np.all(np.diff(recs.scores[0, :3]) <= 0)


def test_fit_uses_only_the_train_baskets() -> None:
    ds = tiny_dataset()
    train = ds.subset(ds.interactions[C.BASKET_IDX].to_numpy() < 4)  # the a/b/c baskets only
    a = AssociationRulesAdapter(min_support=0.5, min_confidence=0.0, max_len=2).fit(train)
    assert a.rules_.n_baskets == 4 and a.rules_.n_items == 5
    expected = mine_rules(
        ds.basket_item[:4], min_support=0.5, min_confidence=0.0, max_len=2, max_consequent_len=1
    ).rules
    pd.testing.assert_frame_equal(a.rules_.rules, expected)


def test_refit_starts_over() -> None:
    a = fit()
    before = a.recommend(make_queries([[A]]), 2).items.copy()
    ds = tiny_dataset()
    a.fit(ds.subset(ds.interactions[C.BASKET_IDX].to_numpy() >= 4))  # only the d/e baskets
    assert a.n_rules_ == 2 and a.rules_.n_baskets == 4  # d => e and e => d
    after = a.recommend(make_queries([[A]]), 2)
    assert after.items.tolist() == [[D, E]] and after.fallback is not None and after.fallback.all()
    assert before.tolist() == [[B, Cc]]


def test_sparse_and_dense_top_k_paths_agree() -> None:
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split
    from xsell_eval.testing import toy_dataset

    split = make_split(toy_dataset(), "temporal")
    q = build_queries(split.train, split.test, "basket-completion", seed=0, hide=1)  # large contexts
    out = {}
    for share in (0.0, 1.0):  # 0: always partition the dense block; 1: always sort all candidates
        a = AssociationRulesAdapter(min_support=0.01, min_confidence=0.0, max_len=3, metric="lift")
        a._sparse_share = share
        out[share] = a.fit(split.train).recommend(q, 4)
    assert np.array_equal(out[0.0].items, out[1.0].items)
    np.testing.assert_array_equal(out[0.0].scores, out[1.0].scores)
    assert (out[0.0].items >= 0).all()


# --------------------------------------------------------------------------- contract
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"min_support": 0.01, "min_confidence": 0.05, "metric": "lift"},
        {"min_support": 0.01, "metric": "conviction", "aggregation": "sum", "max_len": 2},
        {"min_support": 0.01, "metric": "leverage", "fallback": "none"},
    ],
)
def test_conformance(params: dict[str, object]) -> None:
    check_adapter(lambda seed: AssociationRulesAdapter(seed=seed, **params))


def test_registered_and_declares_hyperparams() -> None:
    assert registry.get("rules") is AssociationRulesAdapter
    a = registry.create("rules:min_support=0.02,metric=lift,aggregation=sum")
    assert a.get_params()["min_support"] == 0.02 and a.get_params()["metric"] == "lift"
    names = [p.name for p in AssociationRulesAdapter.hyperparams]
    assert names == ["min_support", "min_confidence", "max_len", "metric", "aggregation", "fallback"]
    assert AssociationRulesAdapter.serves_cold_users and not AssociationRulesAdapter.serves_cold_items


def test_bad_hyperparameters() -> None:
    with pytest.raises(ConfigError, match=r"'min_support' must be > 0, got 0\.0"):
        AssociationRulesAdapter(min_support=0.0)
    with pytest.raises(ConfigError, match=r"'min_support' must be >= 0\.0, got -0\.1"):
        AssociationRulesAdapter(min_support=-0.1)
    with pytest.raises(ConfigError, match="'max_len' must be <= 4"):
        AssociationRulesAdapter(max_len=5)
    with pytest.raises(
        ConfigError, match=r"'metric' must be one of \['confidence', 'lift', 'conviction', 'leverage'\]"
    ):
        AssociationRulesAdapter(metric="jaccard")
    with pytest.raises(ConfigError, match="'aggregation' must be one of"):
        AssociationRulesAdapter(aggregation="mean")
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        AssociationRulesAdapter(min_supp=0.1)


def test_guard_reaches_the_user_at_fit() -> None:
    rng = np.random.default_rng(0)
    # 260 items, each pair co-bought: C(260, 3) ≈ 2.9M candidate triples > 2M
    rows = [(f"b{b}", f"i{i}") for b in range(100) for i in np.flatnonzero(rng.random(260) < 0.6)]
    ds = Dataset.from_frames(pd.DataFrame(rows, columns=[C.BASKET, C.ITEM]))
    with pytest.raises(ConfigError, match=r"candidate itemsets of length 3 .*raise min_support or lower max_len"):
        AssociationRulesAdapter(min_support=0.01, max_len=3).fit(ds)


# --------------------------------------------------------------------------- CLI
def write_lines(path: Path) -> Path:
    rows = []
    for i, basket in enumerate(BASKETS):
        day = "2024-01-01" if i < 4 else "2024-03-01"
        rows += [(f"t{i}", f"sku_{item}", day) for item in basket]
    pd.DataFrame(rows, columns=[C.BASKET, C.ITEM, C.TIMESTAMP]).to_csv(path, index=False)
    catalog = pd.DataFrame({C.ITEM: [f"sku_{x}" for x in "abcde"], C.TITLE: [f"Item {x.upper()}" for x in "abcde"]})
    catalog.to_csv(path.with_name("catalog.csv"), index=False)
    return path


def test_cli_mine_writes_rules(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "lines.csv")
    out = tmp_path / "out" / "rules.csv"
    res = CliRunner().invoke(
        app,
        ["rules", "mine", "--data", str(data), "--loader", "csv", "--min-support", "0.25", "--min-confidence", "0.6",
         "--max-len", "2", "--sort", "confidence", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "8 baskets (all baskets)" in res.output and "3 rules" in res.output
    frame = pd.read_csv(out)
    pairs = [(json.loads(a), json.loads(c)) for a, c in zip(frame["antecedent"], frame["consequent"], strict=True)]
    assert pairs == [(["sku_b"], ["sku_a"]), (["sku_c"], ["sku_a"]), (["sku_a"], ["sku_b"])]
    assert frame["confidence"].tolist() == [1.0, 1.0, 0.75]
    assert list(frame.columns[-8:]) == [
        "support", "confidence", "lift", "conviction", "leverage", "antecedent_support", "consequent_support", "count",
    ]  # fmt: skip


def test_cli_mine_before_a_date(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "lines.csv")
    res = CliRunner().invoke(
        app, ["rules", "mine", "--data", str(data), "--loader", "csv", "--min-support", "0.5", "--before", "2024-02-01"]
    )
    assert res.exit_code == 0, res.output
    assert "4 baskets (baskets before 2024-02-01)" in res.output


def test_cli_errors(tmp_path: Path) -> None:
    data = write_lines(tmp_path / "lines.csv")
    base = ["rules", "mine", "--data", str(data), "--loader", "csv"]
    cases = [
        (["--sort", "best"], "--sort must be one of lift"),
        (["--min-support", "0"], "min_support must be a number in (0, 1]"),
        (["--before", "not-a-date"], "--before must be a date"),
        (["--before", "2000-01-01"], "no basket of dataset"),
        (["--min-support", "0.1", "--max-itemsets", "1"], "raise min_support or lower max_len"),
    ]
    for extra, message in cases:
        res = CliRunner().invoke(app, base + extra)
        assert res.exit_code == 1, (extra, res.output)
        assert message in " ".join(res.output.split()), (extra, res.output)
