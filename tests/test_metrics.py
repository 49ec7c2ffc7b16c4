"""Metrics: hand-computed cases, scikit-learn / reference implementations, properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from xsell_eval.errors import ConfigError, DataError, UnknownNameError
from xsell_eval.metrics import (
    ITEM_BUCKETS,
    METRICS,
    PER_QUERY_METRICS,
    aggregate_metrics,
    item_buckets,
    parse_metric,
    per_query_metrics,
    per_query_metrics_by_item_bucket,
    user_bucket,
)
from xsell_eval.queries import Queries, Recommendations


def make_queries(
    targets: list[dict[int, float]],
    n_items: int,
    price: np.ndarray | None = None,
    context_value: list[float] | None = None,
    user_history: list[int] | None = None,
) -> Queries:
    """Queries from {item: quantity} dicts; target_value = price × quantity (0 where price NaN)."""
    n = len(targets)
    rows = [q for q, t in enumerate(targets) for _ in t]
    cols = [i for t in targets for i in t]
    qty = [v for t in targets for v in t.values()]
    t = sp.csr_matrix((np.array(qty, float), (rows, cols)), shape=(n, n_items))
    p = np.ones(n_items) if price is None else np.nan_to_num(np.asarray(price, float), nan=0.0)
    return Queries(
        query_id=np.arange(100, 100 + n),
        user_idx=np.full(n, -1),
        basket_idx=np.arange(n),
        timestamp=np.full(n, "NaT", dtype="datetime64[ns]"),
        context=sp.csr_matrix((n, n_items)),
        targets=t,
        target_value=t.multiply(p[None, :]).tocsr(),
        context_value=np.array(context_value if context_value is not None else [1.0] * n, dtype=float),
        user_history=np.array(user_history if user_history is not None else [0] * n),
    )


def recs_of(items: list[list[int]]) -> Recommendations:
    a = np.array(items, dtype=np.int64)
    scores = np.where(a >= 0, -np.arange(a.shape[1], dtype=float)[None, :], np.nan)
    return Recommendations(items=a, scores=scores, adapter="test")


def metrics_of(recs, queries, ks, *, pop=None, n_train=10, cat=None, item_price=None) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    n_items = queries.n_items
    return per_query_metrics(
        recs,
        queries,
        ks,
        item_popularity=np.ones(n_items, dtype=int) if pop is None else np.asarray(pop),
        n_train_baskets=n_train,
        item_category=np.full(n_items, -1) if cat is None else np.asarray(cat),
        item_price=item_price,
    )


# --------------------------------------------------------------------------- hand-computed
def test_every_metric_hand_computed() -> None:
    # 6 items; targets {1: qty 2, 3: qty 1, 5: qty 1}; prices 1->10, 3->5, 5->2
    # target values: item1 = 20, item3 = 5, item5 = 2; context value 50.
    price = np.array([1.0, 10.0, 1.0, 5.0, 1.0, 2.0])
    q = make_queries([{1: 2, 3: 1, 5: 1}], 6, price=price, context_value=[50.0])
    recs = recs_of([[3, 0, 1, 4]])  # hits at ranks 1 and 3; |T| = 3
    pop = np.array([10, 5, 0, 1, 2, 4])  # N = 10 train baskets
    cat = np.array([0, 1, 2, 0, 1, -1])
    df = metrics_of(recs, q, [1, 2, 4], pop=pop, n_train=10, cat=cat)
    row = df.iloc[0]
    d = [1.0, 1 / math.log2(3), 0.5, 1 / math.log2(5)]  # discounts of ranks 1..4
    expected = {
        # precision: hits / k -> 1/1, 1/2, 2/4
        "precision@1": 1.0,
        "precision@2": 0.5,
        "precision@4": 0.5,
        # recall: hits / |T| -> 1/3, 1/3, 2/3
        "recall@1": 1 / 3,
        "recall@2": 1 / 3,
        "recall@4": 2 / 3,
        "hit_rate@1": 1.0,
        "hit_rate@2": 1.0,
        "hit_rate@4": 1.0,
        # ndcg: DCG@1 = 1 / IDCG 1; DCG@2 = 1 / (1 + d2); DCG@4 = 1 + d3 over IDCG of min(3, 4) = 3 hits
        "ndcg@1": 1.0,
        "ndcg@2": 1.0 / (d[0] + d[1]),
        "ndcg@4": (d[0] + d[2]) / (d[0] + d[1] + d[2]),
        "mrr@1": 1.0,
        "mrr@2": 1.0,
        "mrr@4": 1.0,
        # AP@1 = P@1 / min(3,1) = 1; AP@2 = P@1 / 2 = 0.5; AP@4 = (P@1 + P@3) / 3 = (1 + 2/3) / 3
        "map@1": 1.0,
        "map@2": 0.5,
        "map@4": (1 + 2 / 3) / 3,
        # revenue: item 3 (value 5) at rank 1, item 1 (value 20) at rank 3
        "revenue@1": 5.0,
        "revenue@2": 5.0,
        "revenue@4": 25.0,
        # uplift = revenue / 50
        "uplift@1": 0.1,
        "uplift@2": 0.1,
        "uplift@4": 0.5,
        # self-information -log2(pop/10): item3 -> log2 10, item0 -> 0, item1 -> 1, item4 -> log2 5
        "novelty@1": math.log2(10),
        "novelty@2": math.log2(10) / 2,
        "novelty@4": (math.log2(10) + 0 + 1 + math.log2(5)) / 4,
        # categories of 3, 0, 1, 4 = 0, 0, 1, 1. @1 one item -> NaN; @2 the pair (0, 0) is same -> 0;
        # @4 six pairs, two same ((3,0) and (1,4)) -> 1 - 2/6
        "diversity@1": np.nan,
        "diversity@2": 0.0,
        "diversity@4": 1 - 2 / 6,
    }
    for col, v in expected.items():
        assert row[col] == pytest.approx(v, nan_ok=True), col
    assert set(df.columns) == {"query_id", *expected}
    assert df["query_id"].tolist() == [100]


def test_uplift_is_a_ratio_of_means_not_a_mean_of_ratios() -> None:
    # Two baskets: a 1.00 one-item cart whose 2.00 recommendation was bought, and a 99.00 cart with no hit.
    # Mean of ratios (the old definition) = (2 / 1 + 0 / 99) / 2 = 1.0 ("+100%"); ratio of means =
    # (2 + 0) / (1 + 99) = 0.02: the recommended items added 2% to the value of the carts shown.
    price = np.array([2.0, 5.0])
    q = make_queries([{0: 1}, {1: 1}], 2, price=price, context_value=[1.0, 99.0])
    df = metrics_of(recs_of([[0], [0]]), q, [1], item_price=price)
    assert df["uplift@1"].tolist() == pytest.approx([2.0 / 50.0, 0.0])
    assert df["uplift@1"].mean() == pytest.approx((2.0 + 0.0) / (1.0 + 99.0))
    assert df["uplift@1"].mean() == pytest.approx(df["revenue@1"].sum() / q.context_value.sum())


def test_edge_cases_padding_no_targets_prices_context() -> None:
    price = np.array([1.0, 2.0, 3.0, np.nan, 4.0])  # item 3 has an unknown price
    q = make_queries(
        [{2: 1}, {}, {3: 1, 4: 1}, {4: 2}],
        5,
        price=price,
        context_value=[6.0, 1.0, 2.0, 0.0],
    )
    recs = recs_of([[2, -1, -1], [0, 1, 2], [4, 0, -1], [4, 1, 0]])
    df = metrics_of(recs, q, [3], item_price=price)
    r0, r1, r2, r3 = (df.iloc[i] for i in range(4))
    # query 0: one recommendation, a hit. precision divides by k=3; ideal DCG uses min(|T|, k) = 1
    assert r0["precision@3"] == pytest.approx(1 / 3)
    assert r0["recall@3"] == 1.0
    assert r0["ndcg@3"] == 1.0
    assert r0["map@3"] == 1.0
    assert r0["revenue@3"] == 3.0  # price 3 × qty 1
    # uplift: revenue / the mean cart value of the queries with targets and a positive cart (0 and 2: (6 + 2) / 2)
    assert r0["uplift@3"] == pytest.approx(3 / 4)
    assert np.isnan(r0["diversity@3"])  # fewer than two categorised items
    assert r0["novelty@3"] == pytest.approx(math.log2(10))  # pop 1 of N = 10
    # query 1: no targets -> every metric NaN
    assert r1.drop("query_id").isna().all()
    # query 2: item 4 hit (value 4) but item 3's price is unknown -> revenue and uplift NaN
    assert r2["recall@3"] == 0.5
    assert np.isnan(r2["revenue@3"]) and np.isnan(r2["uplift@3"])
    # query 3: context value 0 -> uplift NaN, revenue 8 (price 4 × qty 2)
    assert r3["revenue@3"] == 8.0
    assert np.isnan(r3["uplift@3"])
    # without item_price the zero-valued unknown line simply counts 0
    df2 = metrics_of(recs, q, [3])
    assert df2.iloc[2]["revenue@3"] == 4.0


def test_nan_stored_in_target_value_makes_revenue_nan() -> None:
    q = make_queries([{0: 1, 1: 1}], 3)
    tv = q.target_value.copy()
    tv.data[1] = np.nan  # item 1's value unknown
    q2 = Queries(**{**q.__dict__, "target_value": tv})
    df = metrics_of(recs_of([[0, 2]]), q2, [2])
    assert np.isnan(df.loc[0, "revenue@2"])
    assert df.loc[0, "recall@2"] == 0.5


def test_repeated_item_counts_once_and_short_lists_are_padded() -> None:
    q = make_queries([{2: 1, 3: 1}], 5)
    df = metrics_of(recs_of([[2, 2, 3]]), q, [3, 5])  # k=5 > list length 3
    # the repeated 2 at rank 2 is ignored: hits at ranks 1 and 3 -> precision@3 = 2/3, @5 = 2/5
    assert df.loc[0, "precision@3"] == pytest.approx(2 / 3)
    assert df.loc[0, "precision@5"] == pytest.approx(2 / 5)
    assert df.loc[0, "recall@5"] == 1.0
    # AP@3 = (1/1 + 2/3) / 2
    assert df.loc[0, "map@3"] == pytest.approx((1 + 2 / 3) / 2)


def test_mrr_zero_without_hit_within_k() -> None:
    q = make_queries([{3: 1}], 5)
    df = metrics_of(recs_of([[0, 1, 3]]), q, [2, 3])
    assert df.loc[0, "mrr@2"] == 0.0  # first hit at rank 3
    assert df.loc[0, "mrr@3"] == pytest.approx(1 / 3)
    assert df.loc[0, "hit_rate@2"] == 0.0


# --------------------------------------------------------------------------- references
def _random_case(seed: int, n: int = 60, n_items: int = 30, k: int = 10) -> tuple[Queries, Recommendations]:
    rng = np.random.default_rng(seed)
    targets = []
    for _ in range(n):
        m = int(rng.integers(1, 8))
        targets.append({int(i): float(rng.integers(1, 4)) for i in rng.choice(n_items, m, replace=False)})
    items = np.array([rng.choice(n_items, k, replace=False) for _ in range(n)])
    return make_queries(targets, n_items), recs_of(items.tolist())


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_sklearn(k: int) -> None:
    q, recs = _random_case(0)
    df = metrics_of(recs, q, [k])
    y_true = (q.targets.toarray() > 0).astype(float)
    y_score = np.zeros_like(y_true)
    rows = np.arange(len(q))[:, None]
    y_score[rows, recs.items] = recs.k - np.arange(recs.k)[None, :]  # distinct scores: no ties in the list
    ref = [ndcg_score(y_true[i : i + 1], y_score[i : i + 1], k=k) for i in range(len(q))]
    np.testing.assert_allclose(df[f"ndcg@{k}"].to_numpy(), ref, rtol=1e-12)


def _apk_reference(actual: set[int], predicted: list[int], k: int) -> float:
    """Average precision at k as in the classic ml_metrics ``apk`` (min(|actual|, k) normaliser)."""
    score, hits = 0.0, 0
    for i, p in enumerate(predicted[:k]):
        if p in actual and p not in predicted[:i]:
            hits += 1
            score += hits / (i + 1.0)
    return score / min(len(actual), k)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_map_matches_reference(k: int) -> None:
    q, recs = _random_case(1)
    df = metrics_of(recs, q, [k])
    t = q.targets.tolil().rows
    ref = [_apk_reference(set(t[i]), recs.items[i].tolist(), k) for i in range(len(q))]
    np.testing.assert_allclose(df[f"map@{k}"].to_numpy(), ref, rtol=1e-12)


def test_precision_recall_hit_match_set_reference() -> None:
    q, recs = _random_case(2)
    df = metrics_of(recs, q, [4])
    t = q.targets.tolil().rows
    for i in range(len(q)):
        h = len(set(recs.items[i, :4].tolist()) & set(t[i]))
        assert df.loc[i, "precision@4"] == pytest.approx(h / 4)
        assert df.loc[i, "recall@4"] == pytest.approx(h / len(t[i]))
        assert df.loc[i, "hit_rate@4"] == float(h > 0)


# --------------------------------------------------------------------------- properties
@st.composite
def cases(draw):  # type: ignore[no-untyped-def]
    n_items = draw(st.integers(3, 12))
    n = draw(st.integers(1, 6))
    K = draw(st.integers(1, n_items))
    targets, items = [], []
    for _ in range(n):
        t = draw(st.lists(st.integers(0, n_items - 1), max_size=n_items, unique=True))
        targets.append({i: float(draw(st.integers(1, 3))) for i in t})
        lst = draw(st.lists(st.integers(0, n_items - 1), max_size=K, unique=True))
        items.append(lst + [-1] * (K - len(lst)))
    pop = draw(st.lists(st.integers(0, 20), min_size=n_items, max_size=n_items))
    cat = draw(st.lists(st.integers(-1, 3), min_size=n_items, max_size=n_items))
    ctx = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 100.0)), min_size=n, max_size=n))
    return make_queries(targets, n_items, price=np.linspace(1, 3, n_items), context_value=ctx), recs_of(items), pop, cat


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_bounds_and_monotonicity(case) -> None:  # type: ignore[no-untyped-def]
    q, recs, pop, cat = case
    ks = list(range(1, recs.k + 1))
    df = metrics_of(recs, q, ks, pop=pop, n_train=20, cat=cat)
    has_t = np.diff(q.targets.indptr) > 0
    for name in PER_QUERY_METRICS:
        for k in ks:
            v = df[f"{name}@{k}"].to_numpy()
            assert np.isnan(v[~has_t]).all()
            v = v[has_t]
            v = v[~np.isnan(v)]
            if name in ("precision", "recall", "hit_rate", "ndcg", "mrr", "map", "diversity"):
                assert ((v >= -1e-12) & (v <= 1 + 1e-12)).all(), (name, k, v)
            elif name == "novelty":
                assert ((v >= 0) & (v <= math.log2(20) + 1e-12)).all()
            else:
                assert (v >= 0).all()
    for name in ("hit_rate", "recall", "revenue", "uplift"):
        m = df[[f"{name}@{k}" for k in ks]].to_numpy()[has_t]
        m = m[~np.isnan(m).any(axis=1)]
        assert (np.diff(m, axis=1) >= -1e-12).all(), name
    # precision / recall / hit never NaN for queries with targets
    assert not df.loc[has_t, [f"recall@{k}" for k in ks]].isna().any().any()


@settings(max_examples=40, deadline=None)
@given(cases())
def test_perfect_recommender(case) -> None:  # type: ignore[no-untyped-def]
    q, _, pop, cat = case
    n_items = q.n_items
    t = q.targets.tolil().rows
    items = [list(r) + [-1] * (n_items - len(r)) for r in t]  # the targets first, then padding
    df = metrics_of(recs_of(items), q, list(range(1, n_items + 1)), pop=pop, n_train=20, cat=cat)
    for i, r in enumerate(t):
        if not r:
            continue
        for k in range(len(r), n_items + 1):  # |targets| <= k
            assert df.loc[i, f"recall@{k}"] == pytest.approx(1.0)
            assert df.loc[i, f"ndcg@{k}"] == pytest.approx(1.0)
            assert df.loc[i, f"map@{k}"] == pytest.approx(1.0)
        for k in range(1, len(r) + 1):
            assert df.loc[i, f"precision@{k}"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- aggregate, buckets
def test_coverage() -> None:
    q = make_queries([{0: 1}, {1: 1}, {}], 6)
    recs = recs_of([[0, 1, -1], [0, 2, 5], [3, 4, 5]])  # query 2 has no targets: ignored
    # catalog as an int: distinct {0} @1 -> 1/6; {0, 1, 2, 5} @3 -> 4/6
    assert aggregate_metrics(recs, q, [1, 3], 6) == pytest.approx({"coverage@1": 1 / 6, "coverage@3": 4 / 6})
    # catalog = items sold in train {0, 1, 3}: only 0 and 1 of it get recommended -> 2/3 at k=3
    assert aggregate_metrics(recs, q, [3], np.array([0, 1, 3]))["coverage@3"] == pytest.approx(2 / 3)
    mask = np.array([True, True, False, True, False, False])
    assert aggregate_metrics(recs, q, [3], mask)["coverage@3"] == pytest.approx(2 / 3)


def test_user_bucket_thresholds() -> None:
    assert user_bucket(np.array([0, 1, 2, 3, 9, 10, 11])).tolist() == ["0", "1-2", "1-2", "3-9", "3-9", "10+", "10+"]


def test_item_buckets_rule() -> None:
    # occurrences 40+30+20+10 = 100; head covers >= 50%: 40 (40%) is not enough, 40+30 is -> head = {40, 30}
    pop = np.array([10, 0, 40, 20, 30])
    assert item_buckets(pop).tolist() == ["tail", "unseen", "head", "tail", "head"]
    # ties with the boundary item are head too: 25, 25, 25, 25 -> first 25 reaches 25% < 50%, second 50%
    assert item_buckets(np.array([25, 25, 25, 25])).tolist() == ["head"] * 4
    assert item_buckets(pop, head_share=0.2).tolist() == ["tail", "unseen", "head", "tail", "tail"]
    with pytest.raises(ConfigError, match="head_share"):
        item_buckets(pop, head_share=0.0)


def test_metrics_by_item_bucket() -> None:
    pop = np.array([50, 30, 5, 0, 0, 15])  # total 100: head = {0, 1} (80%), tail = {2, 5}, unseen = {3, 4}
    q = make_queries([{0: 1, 3: 1}, {2: 1, 5: 1}, {4: 2}], 6, price=np.arange(1.0, 7.0))
    recs = recs_of([[3, 1], [5, 0], [0, 1]])
    out = per_query_metrics_by_item_bucket(recs, q, [1, 2], item_popularity=pop)
    assert list(out) == list(ITEM_BUCKETS)
    head, tail, unseen = out["head"], out["tail"], out["unseen"]
    # head targets: q0 {0} only -> n = 1; recs [3, 1] miss it
    assert head["query_id"].tolist() == [100] and head["recall@2"].tolist() == [0.0]
    # tail: q1 {2, 5}; item 5 at rank 1 -> recall 1/2, revenue = price 6 × qty 1
    assert tail["query_id"].tolist() == [101]
    assert tail["recall@1"].tolist() == [0.5] and tail["revenue@2"].tolist() == [6.0]
    # unseen: q0 {3} hit at rank 1 (value 4), q2 {4} missed
    assert unseen["query_id"].tolist() == [100, 102]
    assert unseen["hit_rate@1"].tolist() == [1.0, 0.0]
    assert unseen["revenue@1"].tolist() == [4.0, 0.0]


# --------------------------------------------------------------------------- parsing & errors
def test_parse_metric() -> None:
    assert parse_metric("ndcg@10") == ("ndcg", 10)
    assert parse_metric(" Hit_Rate@5 ") == ("hit_rate", 5)
    assert parse_metric("coverage", default_k=20) == ("coverage", 20)
    with pytest.raises(UnknownNameError, match=r"unknown metric 'ndgc'.*Did you mean 'ndcg'"):
        parse_metric("ndgc@10")
    with pytest.raises(ConfigError, match="k must be an int >= 1, got 0"):
        parse_metric("ndcg@0")
    with pytest.raises(ConfigError, match="needs a cut-off"):
        parse_metric("mrr")
    with pytest.raises(ConfigError, match="must look like"):
        parse_metric("ndcg@ten")


def test_registry_is_complete() -> None:
    assert set(METRICS) == {
        "precision", "recall", "hit_rate", "ndcg", "mrr", "map", "revenue", "uplift",
        "coverage", "novelty", "diversity",
    }  # fmt: skip
    assert METRICS["coverage"].scope == "aggregate"
    assert all(s.description and s.unit for s in METRICS.values())


def test_bad_inputs() -> None:
    q = make_queries([{0: 1}], 4)
    with pytest.raises(ConfigError, match="`k` must be an int >= 1, got 0"):
        metrics_of(recs_of([[0]]), q, [0])
    with pytest.raises(DataError, match="one row per query"):
        metrics_of(recs_of([[0], [1]]), q, [1])
    with pytest.raises(DataError, match="outside"):
        metrics_of(recs_of([[7]]), q, [1])
    with pytest.raises(DataError, match="item_popularity"):
        metrics_of(recs_of([[0]]), q, [1], pop=np.ones(3, dtype=int))
    with pytest.raises(ConfigError, match="n_train_baskets"):
        metrics_of(recs_of([[0]]), q, [1], n_train=0)


def test_batching_gives_the_same_tables() -> None:
    q, recs = _random_case(3, n=25)
    pop = np.arange(q.n_items) % 7
    cat = np.arange(q.n_items) % 4
    kw = dict(item_popularity=pop, n_train_baskets=10, item_category=cat)
    whole = per_query_metrics(recs, q, [2, 5], **kw)  # type: ignore[arg-type]
    batched = per_query_metrics(recs, q, [2, 5], batch_size=7, **kw)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(whole, batched)
    b1 = per_query_metrics_by_item_bucket(recs, q, [2, 5], item_popularity=pop)
    b2 = per_query_metrics_by_item_bucket(recs, q, [2, 5], item_popularity=pop, batch_size=4)
    for b in ITEM_BUCKETS:
        pd.testing.assert_frame_equal(b1[b], b2[b])
