# ruff: noqa: F811  (the shared `spark` fixture is imported from _spark and named as a test argument)
"""spark-als and spark-fpgrowth (xsell_eval.spark.mllib) on a local Spark session.

The session is the one all Spark tests share (tests/_spark.py); the module skips when pyspark or Java is
missing. Small results are collected to compare with the single-machine code.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'xsell-eval[spark]')")

from _spark import spark  # noqa: F401

from xsell_eval.adapters.rules import AssociationRulesAdapter
from xsell_eval.errors import ConfigError, DataError, NotFittedError
from xsell_eval.mining import mine_rules
from xsell_eval.spark.mllib import (
    SparkALSAdapter,
    SparkFPGrowthAdapter,
    fold_in,
)

pytestmark = pytest.mark.xdist_group("spark")  # one xdist worker, one JVM for every Spark test (tests/_spark.py)

ROOT = Path(__file__).resolve().parents[1]
GROCERIES = ROOT.parent / "shared" / "data" / "groceries_arules" / "groceries.csv"
if not GROCERIES.exists():
    GROCERIES = Path("/work/shared/data/groceries_arules/groceries.csv")


def train_frame(spark, lines: pd.DataFrame):  # type: ignore[no-untyped-def]
    """Spark train DataFrame with the engine's columns from (user_idx, basket_idx, item_idx) lines."""
    df = pd.DataFrame(
        {
            "user_idx": lines["user_idx"].astype("int32"),
            "item_idx": lines["item_idx"].astype("int32"),
            "basket_idx": lines["basket_idx"].astype("int64"),
            "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(lines["basket_idx"], unit="h"),
            "quantity": 1.0,
            "price": 1.0,
        }
    )
    return spark.createDataFrame(df)


def query_frame(spark, query_id, user_idx, carts):  # type: ignore[no-untyped-def]
    rows = [(int(q), int(u), [int(i) for i in c]) for q, u, c in zip(query_id, user_idx, carts, strict=True)]
    return spark.createDataFrame(rows, "query_id long, user_idx int, cart array<int>")


def by_query(recs: pd.DataFrame) -> dict[int, list[int]]:
    recs = recs.sort_values(["query_id", "rank"])
    return {int(q): g["item_idx"].tolist() for q, g in recs.groupby("query_id")}


# --------------------------------------------------------------------------- planted data
def planted_lines(seed: int = 0) -> pd.DataFrame:
    """Two groups of 20 users; in group A items 0 and 1 are always bought together (6 and 7 in group B).

    Item 2 is a popular distractor (half of all baskets, both groups); each user also has one
    favourite extra (3-5 in group A, 8-11 in group B) in half of their baskets. A few guest
    baskets (user -1) buy 0 + 1.
    """
    rng = np.random.default_rng(seed)
    rows = []
    b = 0
    for u in range(40):
        pair, extras = ((0, 1), (3, 4, 5)) if u < 20 else ((6, 7), (8, 9, 10, 11))
        for _ in range(6):
            items = set(pair)
            if rng.random() < 0.5:
                items.add(extras[u % len(extras)])
            if rng.random() < 0.5:
                items.add(2)
            rows += [(u, b, i) for i in sorted(items)]
            b += 1
    for _ in range(5):
        rows += [(-1, b, 0), (-1, b, 1)]
        b += 1
    return pd.DataFrame(rows, columns=["user_idx", "basket_idx", "item_idx"])


ALS_PARAMS = {"factors": 4, "reg": 0.1, "alpha": 10.0, "iterations": 10, "seed": 3}


@pytest.fixture(scope="module")
def planted_als(spark):  # type: ignore[no-untyped-def]
    lines = planted_lines()
    adapter = SparkALSAdapter(**ALS_PARAMS)
    adapter.fit(train_frame(spark, lines))
    return lines, adapter


def planted_queries(spark):  # type: ignore[no-untyped-def]
    # 1: guest [0]; 2: guest [6]; 3: known user 5 (group A) [0]; 4: known user 30 (group B) [6];
    # 5: unknown user 99 [0, 2]; 6: guest with an empty cart
    return query_frame(spark, [1, 2, 3, 4, 5, 6], [-1, -1, 5, 30, 99, -1], [[0], [6], [0], [6], [0, 2], []])


def test_als_planted_complement_ranked_first(spark, planted_als) -> None:  # type: ignore[no-untyped-def]
    _, adapter = planted_als
    recs = adapter.recommend(planted_queries(spark), k=3).toPandas()
    got = by_query(recs)
    # cart folded in (guest, unknown user): the complement first — on this data for every seed
    # in 0-3 and 5-15 iterations, checked when the data was designed
    assert got[1][0] == 1 and got[5][0] == 1  # cart [0] -> 1
    assert got[2][0] == 7  # cart [6] -> 7, ahead of the popular distractor 2
    # a known user is scored by the trained factor (the cart only filters): the complement is
    # in the top 3, next to the user's own favourite extra
    assert 1 in got[3] and 7 in got[4]
    assert all(len(v) == 3 for v in got.values())
    # cart items never come back; ranks are 1..k; scores non-increasing
    carts = {1: {0}, 2: {6}, 3: {0}, 4: {6}, 5: {0, 2}, 6: set()}
    assert all(not (set(v) & carts[q]) for q, v in got.items())
    for _, g in recs.sort_values(["query_id", "rank"]).groupby("query_id"):
        assert g["rank"].tolist() == [1, 2, 3]
        assert (np.diff(g["score"].to_numpy()) <= 0).all()
    # an empty guest cart has no ALS vector: served by the popularity fallback (basket count desc, item asc)
    lines, _ = planted_als
    pop = lines.groupby("item_idx")["basket_idx"].nunique()
    assert got[6] == sorted(pop.index, key=lambda i: (-pop[i], i))[:3]
    assert recs.dtypes.to_dict() == {
        "query_id": np.dtype("int64"),
        "rank": np.dtype("int32"),
        "item_idx": np.dtype("int32"),
        "score": np.dtype("float64"),
    }


def test_als_deterministic_for_a_seed(spark, planted_als) -> None:  # type: ignore[no-untyped-def]
    lines, first = planted_als
    again = SparkALSAdapter(**ALS_PARAMS)
    again.fit(train_frame(spark, lines))
    np.testing.assert_array_equal(first.item_factors_, again.item_factors_)
    a = first.recommend(planted_queries(spark), k=4).toPandas().sort_values(["query_id", "rank"])
    b = again.recommend(planted_queries(spark), k=4).toPandas().sort_values(["query_id", "rank"])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_als_fold_in_reproduces_spark_user_factor(spark, planted_als) -> None:  # type: ignore[no-untyped-def]
    """Folding a user's whole history in (counts as ratings) gives the factor Spark's last user step solved."""
    lines, adapter = planted_als
    pos_of = {int(i): p for p, i in enumerate(adapter.item_ids_)}
    factors = {int(r.user_idx): np.asarray(r.user_features) for r in adapter.user_factors_.collect()}
    for user in (0, 25):
        counts = lines[lines.user_idx == user].groupby("item_idx")["basket_idx"].nunique()
        pos = np.array([pos_of[int(i)] for i in counts.index])
        x = fold_in(
            adapter.item_factors_,
            np.zeros(len(pos), dtype=np.int64),
            pos,
            counts.to_numpy(dtype=np.float64),
            alpha=ALS_PARAMS["alpha"],
            reg=ALS_PARAMS["reg"],
        )
        np.testing.assert_allclose(x[0], factors[user], rtol=1e-4, atol=1e-5)


def test_als_same_top_item_as_implicit(spark, planted_als) -> None:  # type: ignore[no-untyped-def]
    implicit_als = pytest.importorskip("implicit.cpu.als", reason="the implicit library is not installed")
    lines, adapter = planted_als
    counts = lines[lines.user_idx >= 0].groupby(["user_idx", "item_idx"])["basket_idx"].nunique()
    u = counts.index.get_level_values(0).to_numpy()
    i = counts.index.get_level_values(1).to_numpy()
    alpha = ALS_PARAMS["alpha"]
    conf = sp.csr_matrix((1.0 + alpha * counts.to_numpy(dtype=np.float32), (u, i)), shape=(40, 12))
    model = implicit_als.AlternatingLeastSquares(
        factors=4, regularization=0.1, alpha=1.0, iterations=10, random_state=3, num_threads=1
    )
    model.fit(conf, show_progress=False)
    spark_top = by_query(adapter.recommend(planted_queries(spark), k=1).toPandas())
    for qid, cart in ((1, [0]), (2, [6])):
        row = sp.csr_matrix((np.full(len(cart), 1.0 + alpha, np.float32), ([0] * len(cart), cart)), shape=(1, 12))
        ids, _ = model.recommend(0, row, N=1, filter_already_liked_items=True, recalculate_user=True)
        assert int(ids[0]) == spark_top[qid][0]


def test_als_errors(spark) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="'factors'"):
        SparkALSAdapter(factors=0)
    with pytest.raises(ConfigError, match="'alpha'"):
        SparkALSAdapter(alpha=-1.0)
    with pytest.raises(NotFittedError):
        SparkALSAdapter().recommend(planted_queries(spark), k=3)
    bad = spark.createDataFrame([(1, 2)], "user_idx int, item_idx int")
    with pytest.raises(DataError, match="basket_idx"):
        SparkALSAdapter().fit(bad)


# --------------------------------------------------------------------------- FPGrowth
TOY = [[0, 1, 2], [0, 1], [0, 2], [1, 2], [0, 1, 3]]


def basket_lines(baskets: list[list[int]]) -> pd.DataFrame:
    rows = [(-1, b, i) for b, items in enumerate(baskets) for i in items]
    return pd.DataFrame(rows, columns=["user_idx", "basket_idx", "item_idx"])


def spark_rule_dict(adapter: SparkFPGrowthAdapter) -> dict[tuple[tuple[int, ...], int], tuple[float, ...]]:
    cols = ["antecedent", "consequent", "support", "confidence", "lift", "leverage"]
    out = {}
    for r in adapter.rules_.select(*cols).collect():
        out[(tuple(sorted(r.antecedent)), int(r.consequent))] = (r.support, r.confidence, r.lift, r.leverage)
    return out


def pandas_rule_dict(x: sp.csr_matrix, **kw: float) -> dict[tuple[tuple[int, ...], int], tuple[float, ...]]:
    rs = mine_rules(x, max_consequent_len=1, **kw)  # type: ignore[arg-type]
    return {
        (tuple(r.antecedent), int(r.consequent[0])): (r.support, r.confidence, r.lift, r.leverage)
        for r in rs.rules.itertuples(index=False)
    }


def csr(baskets: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = np.repeat(np.arange(len(baskets)), [len(b) for b in baskets])
    c = np.array([i for b in baskets for i in b], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(baskets), n_items))


def test_fpgrowth_rules_equal_mining_on_toy(spark) -> None:  # type: ignore[no-untyped-def]
    adapter = SparkFPGrowthAdapter(min_support=0.4, min_confidence=0.0, max_len=3)
    adapter.fit(train_frame(spark, basket_lines(TOY)))
    got = spark_rule_dict(adapter)
    want = pandas_rule_dict(csr(TOY, 4), min_support=0.4, min_confidence=0.0, max_len=3)
    assert got.keys() == want.keys() and len(got) == 6
    for key, vals in want.items():
        assert got[key] == pytest.approx(vals, rel=0, abs=0)  # same double arithmetic
    assert adapter.min_count_ == 2


def test_fpgrowth_min_count_exact_where_ceil_overshoots(spark) -> None:  # type: ignore[no-untyped-def]
    """0.07 · 100 = 7.000000000000001: Spark's ceil would ask for 8 baskets, the stated support needs 7."""
    baskets = [[0, 1]] * 7 + [[2]] * 93
    adapter = SparkFPGrowthAdapter(min_support=0.07, min_confidence=0.5, max_len=2)
    adapter.fit(train_frame(spark, basket_lines(baskets)))
    assert adapter.min_count_ == 7 and adapter.n_rules_ == 2


def test_fpgrowth_recommend_fires_rules_and_fills(spark) -> None:  # type: ignore[no-untyped-def]
    adapter = SparkFPGrowthAdapter(min_support=0.4, min_confidence=0.0, max_len=3, metric="confidence")
    adapter.fit(train_frame(spark, basket_lines(TOY)))
    q = query_frame(spark, [10, 11, 12], [-1, 3, -1], [[2], [0, 1], []])
    recs = adapter.recommend(q, k=3).toPandas().sort_values(["query_id", "rank"])
    got = by_query(recs)
    # cart [2]: 2=>0 and 2=>1 both 2/3, tie -> more popular (0 and 1 both in 4 baskets) -> lower index;
    # then the fallback: 3 (1 basket) is the only other sold item
    assert got[10] == [0, 1, 3]
    s10 = recs[recs.query_id == 10]["score"].to_numpy()
    assert s10[:2] == pytest.approx([2 / 3, 2 / 3]) and s10[2] == pytest.approx(-1 + 0.5 * 1 / 5)
    # cart [0, 1]: {0,1}=>2 is not frequent at 0.4 (count 1); 0=>2 (2/4), 1=>2 (2/4) fire -> 2, then fill 3
    assert got[11] == [2, 3]
    # empty cart: popularity order (0, 1, 2 in 4, 4, 3 baskets)
    assert got[12] == [0, 1, 2]
    assert recs[recs.query_id == 12]["score"].to_numpy() == pytest.approx([-1 + 0.4, -1 + 0.4, -1 + 0.3])
    none = SparkFPGrowthAdapter(min_support=0.4, min_confidence=0.0, max_len=3, fallback="none")
    none.fit(train_frame(spark, basket_lines(TOY)))
    assert by_query(none.recommend(q, k=3).toPandas()) == {10: [0, 1], 11: [2]}


def test_fpgrowth_errors(spark) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="'min_support'"):
        SparkFPGrowthAdapter(min_support=0.0)
    with pytest.raises(ConfigError, match="'metric'"):
        SparkFPGrowthAdapter(metric="jaccard")
    with pytest.raises(ConfigError, match="k must be"):
        a = SparkFPGrowthAdapter(min_support=0.4)
        a.fit(train_frame(spark, basket_lines(TOY)))
        a.recommend(query_frame(spark, [1], [-1], [[0]]), k=0)
    no_cart = spark.createDataFrame([(1, 2)], "query_id long, user_idx int")
    with pytest.raises(DataError, match="cart"):
        a.recommend(no_cart, k=3)


@pytest.mark.parametrize(("metric", "max_len"), [("confidence", 3), ("lift", 3), ("conviction", 2)])
def test_fpgrowth_recommendations_equal_rules_adapter(spark, metric: str, max_len: int) -> None:  # type: ignore[no-untyped-def]
    """On a generated shop, spark-fpgrowth and ``rules`` at the same thresholds give the same lists and scores."""
    from xsell_eval.data.synthetic import generate_shop
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split

    ds = generate_shop(seed=4, n_users=300, n_items=40, n_days=60).to_dataset()
    split = make_split(ds, "temporal")
    req = build_queries(split.train, split.test, "basket-completion", seed=0, reveal=2).requests
    params = {"min_support": 0.01, "min_confidence": 0.05, "max_len": max_len, "metric": metric}
    k = 10
    want = AssociationRulesAdapter(**params).fit(split.train).recommend(req, k)

    inter = split.train.interactions
    adapter = SparkFPGrowthAdapter(**params)
    adapter.fit(train_frame(spark, inter[["user_idx", "basket_idx", "item_idx"]]))
    ctx = req.context.tocsr()
    carts = [ctx.indices[ctx.indptr[r] : ctx.indptr[r + 1]].tolist() for r in range(len(req))]
    got = adapter.recommend(query_frame(spark, req.query_id, req.user_idx, carts), k).toPandas()
    got = got.sort_values(["query_id", "rank"])
    assert adapter.n_rules_ > 50
    items = np.full((len(req), k), -1)
    scores = np.full((len(req), k), np.nan)
    row_of = {int(q): r for r, q in enumerate(req.query_id)}
    rows = got["query_id"].map(row_of).to_numpy()
    items[rows, got["rank"].to_numpy() - 1] = got["item_idx"].to_numpy()
    scores[rows, got["rank"].to_numpy() - 1] = got["score"].to_numpy()
    np.testing.assert_array_equal(items, want.items)
    np.testing.assert_allclose(scores, want.scores, rtol=1e-12, atol=0)
    assert len(req) > 50 and (want.scores[:, 0] > 0).sum() > 30  # many queries served by rules, not the fill


# --------------------------------------------------------------------------- Groceries (R arules)
def groceries_lines() -> tuple[pd.DataFrame, sp.csr_matrix]:
    with GROCERIES.open(newline="") as fh:
        baskets = list(csv.reader(fh))  # quoted labels contain commas
    labels = {lab: i for i, lab in enumerate(sorted({x for b in baskets for x in b}))}
    coded = [sorted({labels[x] for x in b}) for b in baskets]
    return basket_lines(coded), csr(coded, len(labels))


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.skipif(not GROCERIES.exists(), reason=f"Groceries data not found at {GROCERIES}")
def test_fpgrowth_groceries_matches_arules(spark) -> None:  # type: ignore[no-untyped-def]
    """arules apriori(Groceries, supp = 0.001, conf = 0.8 / 0.5, maxlen = 10): 410 / 5,668 rules."""
    lines, x = groceries_lines()
    assert x.shape == (9835, 169)
    train = train_frame(spark, lines).cache()
    for conf, n_rules in ((0.8, 410), (0.5, 5668)):
        adapter = SparkFPGrowthAdapter(min_support=0.001, min_confidence=conf, max_len=10)
        adapter.fit(train)
        assert adapter.min_count_ == math.ceil(9835 * 0.001) == 10
        assert adapter.n_rules_ == n_rules
        got = spark_rule_dict(adapter)
        want = pandas_rule_dict(x, min_support=0.001, min_confidence=conf, max_len=10)
        assert got.keys() == want.keys()
        assert all(got[key] == want[key] for key in want)
