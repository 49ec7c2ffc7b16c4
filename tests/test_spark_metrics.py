"""The Spark engine's per-query metrics (one conditional aggregation per query) on a case computed by hand.

The agreement with the pandas engine on real data is tests/test_spark_engine.py and tests/test_spark_scale.py;
this case pins each metric's arithmetic at two cut-offs, the NaN rules and the absence of a cross join.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _spark import spark  # noqa: F401

pytestmark = pytest.mark.xdist_group("spark")  # one xdist worker, one JVM for every Spark test (tests/_spark.py)

KS = (1, 3)
N_TRAIN_BASKETS = 8
#: train baskets per item (item 4 unsold: counted as 1); information -log2(max(count, 1) / 8)
POPULARITY = {0: 4, 1: 2, 2: 1, 3: 8, 5: 2}
INFO = {0: 1.0, 1: 2.0, 2: 3.0, 3: 0.0, 4: 3.0, 5: 2.0}
CATEGORY = np.array([0, 0, 1, -1, 1, 0])  # item 3 uncategorised
PRICE_KNOWN = np.array([False, True, True, True, True, True])  # item 0's price unknown


@pytest.fixture(scope="module")
def table(spark):  # noqa: F811
    from xsell_eval.spark.metrics import collect_per_query, per_query_frame
    from xsell_eval.spark.prepare import SparkQueries

    # query 1: targets 1 and 4, hits at ranks 1 and 3 (rank 4 is beyond the largest k: ignored)
    # query 2: target 2, hit at rank 3 only; its cart value is 0 (no uplift)
    # query 3: target 0 (unknown price), nothing recommended
    # query 4: no targets (every metric NaN)
    queries = spark.createDataFrame(
        [(1, 10.0, 3, 2), (2, 0.0, 0, 1), (3, 6.0, 1, 1), (4, 5.0, 2, 0)],
        "query_id long, context_value double, user_history long, n_targets long",
    )
    targets = spark.createDataFrame(
        [(1, 1, 1.0, 5.0), (1, 4, 1.0, 3.0), (2, 2, 1.0, 4.0), (3, 0, 1.0, 2.0)],
        "query_id long, item_idx int, quantity double, value double",
    )
    recs = spark.createDataFrame(
        [
            *[(1, 1, 1, 0.9), (1, 2, 0, 0.8), (1, 3, 4, 0.7), (1, 4, 2, 0.6)],
            *[(2, 1, 5, 0.9), (2, 2, 3, 0.8), (2, 3, 2, 0.7), (4, 1, 1, 0.9)],
        ],
        "query_id long, rank int, item_idx int, score double",
    )
    pop = spark.createDataFrame(list(POPULARITY.items()), "item_idx int, count long")
    frame = per_query_frame(
        recs,
        SparkQueries(queries=queries, targets=targets, n=4),
        KS,
        item_popularity=pop,
        n_train_baskets=N_TRAIN_BASKETS,
        item_category=CATEGORY,
        item_price_known=PRICE_KNOWN,
    )
    return frame, collect_per_query(frame)


def _expected() -> pd.DataFrame:
    nan = math.nan
    ideal2 = 1.0 + 1.0 / math.log2(3.0)  # two targets within k = 3
    mean_cart = (10.0 + 6.0) / 2  # queries with targets and a positive cart: 1 and 3
    every_metric = (
        "precision",
        "recall",
        "hit_rate",
        "ndcg",
        "mrr",
        "map",
        "revenue",
        "uplift",
        "novelty",
        "diversity",
    )
    rows = {
        # query 1: ranks 1 (item 1, hit, cat 0), 2 (item 0, cat 0), 3 (item 4, hit, cat 1)
        1: {
            "precision": (1.0, 2 / 3),
            "recall": (0.5, 1.0),
            "hit_rate": (1.0, 1.0),
            "ndcg": (1.0, (1.0 + 1.0 / math.log2(4.0)) / ideal2),
            "mrr": (1.0, 1.0),
            "map": (1.0, (1.0 + 2 / 3) / 2),
            "revenue": (5.0, 8.0),
            "uplift": (5.0 / mean_cart, 8.0 / mean_cart),
            "novelty": (INFO[1], (INFO[1] + INFO[0] + INFO[4]) / 3),
            "diversity": (nan, 1.0 - 1 / 3),  # three categorised items, one same-category pair
        },
        # query 2: ranks 1 (item 5, cat 0), 2 (item 3, no category), 3 (item 2, hit, cat 1)
        2: {
            "precision": (0.0, 1 / 3),
            "recall": (0.0, 1.0),
            "hit_rate": (0.0, 1.0),
            "ndcg": (0.0, 1.0 / math.log2(4.0)),
            "mrr": (0.0, 1 / 3),
            "map": (0.0, 1 / 3),
            "revenue": (0.0, 4.0),
            "uplift": (nan, nan),
            "novelty": (INFO[5], (INFO[5] + INFO[3] + INFO[2]) / 3),
            "diversity": (nan, 1.0),  # two categorised items, different categories
        },
        3: {
            **{m: (0.0, 0.0) for m in ("precision", "recall", "hit_rate", "ndcg", "mrr", "map")},
            "revenue": (nan, nan),
            "uplift": (nan, nan),
            "novelty": (nan, nan),
            "diversity": (nan, nan),
        },
        4: {m: (nan, nan) for m in every_metric},
    }
    out = []
    for q, metrics in rows.items():
        row: dict[str, float] = {"query_id": q}
        for m, (at1, at3) in metrics.items():
            row[f"{m}@1"], row[f"{m}@3"] = at1, at3
        out.append(row)
    return pd.DataFrame(out)


def test_metrics_equal_the_hand_computed_values(table) -> None:
    _, got = table
    want = _expected()
    assert list(got["query_id"]) == [1, 2, 3, 4]
    assert list(got["user_history"]) == [3, 0, 1, 2]
    for col in want.columns.drop("query_id"):
        np.testing.assert_allclose(
            got[col].to_numpy(float), want[col].to_numpy(float), rtol=0, atol=1e-12, equal_nan=True, err_msg=col
        )


def test_columns_are_ordered_and_typed_as_the_pandas_table(table) -> None:
    from xsell_eval.spark.metrics import SPARK_METRICS

    _, got = table
    metric_cols = [f"{m}@{k}" for m in SPARK_METRICS for k in KS]
    assert list(got.columns) == ["query_id", *metric_cols, "user_history"]
    assert got["query_id"].dtype == np.int64 and got["user_history"].dtype == np.int64
    assert all(got[c].dtype == np.float64 for c in metric_cols)


def test_plan_has_no_cross_join_and_one_row_per_query(table) -> None:
    frame, got = table
    plan = frame._sc._jvm.PythonSQLUtils.explainString(frame._jdf.queryExecution(), "simple")
    physical = plan.split("== Physical Plan ==")[-1]
    assert "CartesianProduct" not in physical and "BroadcastNestedLoopJoin" not in physical
    assert "Expand" not in physical  # no pivot / per-k expansion
    assert "k" not in frame.columns and len(got) == 4
