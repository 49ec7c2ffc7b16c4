"""Per-query metrics as a Spark DataFrame: the definitions of :mod:`xsell_eval.metrics`, computed in Spark.

``per_query_frame`` joins an adapter's recommendations with the targets and returns one row
per query with ``query_id``, ``user_history`` and ``<metric>@<k>`` columns — the only table
of a Spark run that is collected to the driver (for the bootstrap CIs, paired tests and report).

Metrics: precision, recall, hit_rate, ndcg, mrr, map, revenue, uplift, novelty, diversity (see
``docs/metrics.md``). A repeated item counts once, at its best rank. Revenue is NaN when a
target's price is unknown (no finite price in the data or catalog), as in the pandas engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.metric_specs import PER_QUERY_METRICS, metric_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from xsell_eval.spark.prepare import SparkQueries

#: per-query metrics the Spark engine computes: every per-query metric of the registry
SPARK_METRICS: tuple[str, ...] = PER_QUERY_METRICS


def _array_lit(values: Sequence[float]) -> Column:
    from pyspark.sql import functions as F

    return F.array(*[F.lit(float(v)) for v in values])


def per_query_frame(
    recs: DataFrame,
    queries: SparkQueries,
    ks: Sequence[int],
    *,
    item_popularity: DataFrame,
    n_train_baskets: int,
    item_category: np.ndarray,
    item_price_known: np.ndarray,
    metrics: Sequence[str] | None = None,
) -> DataFrame:
    """One row per query and cut-off: ``query_id``, ``user_history``, ``k`` and one column per metric.

    Args:
        recs: ``query_id``, ``rank``, ``item_idx``, ``score`` (an adapter's answer).
        queries: the queries and their targets.
        item_popularity: ``item_idx``, ``count`` (train baskets containing the item).
        item_category: category code per item (-1 unknown); item_price_known: finite price per item.
        metrics: names among :data:`SPARK_METRICS` (None = all).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = recs.sparkSession
    names = [m for m in SPARK_METRICS if metrics is None or m in {str(x).split("@")[0] for x in metrics}]
    ks = sorted(set(int(k) for k in ks))
    k_max = ks[-1]
    # item side tables (item-sized: fine to ship from the driver)
    n_items = len(item_category)
    items = pd.DataFrame(
        {
            C.ITEM_IDX: np.arange(n_items, dtype=np.int32),
            "_cat": np.asarray(item_category, dtype=np.int64),
            "_priced": np.asarray(item_price_known, dtype=bool),
        }
    )
    item_df = spark.createDataFrame(items).join(item_popularity.select(C.ITEM_IDX, "count"), C.ITEM_IDX, "left")
    item_df = item_df.fillna(0, subset=["count"])
    # the best rank of each recommended item within k_max; rank -> dense position 1..k_max
    r = recs.where((F.col(C.RANK) >= 1) & (F.col(C.RANK) <= k_max) & (F.col(C.ITEM_IDX) >= 0))
    r = r.groupBy(C.QUERY, C.ITEM_IDX).agg(F.min(C.RANK).alias(C.RANK))
    t = queries.targets.select(C.QUERY, C.ITEM_IDX, F.col("value").alias("_tv"), F.lit(True).alias("_hit"))
    hits = (
        r.join(t, [C.QUERY, C.ITEM_IDX], "left")
        .join(F.broadcast(item_df), C.ITEM_IDX, "left")
        .withColumn("_hit", F.coalesce("_hit", F.lit(False)))
        .withColumn("_tv", F.when(F.col("_hit"), F.col("_tv")).otherwise(0.0))
        .withColumn(
            "_info", -F.log2(F.greatest(F.col("count").cast("double"), F.lit(1.0)) / F.lit(float(n_train_baskets)))
        )
    )
    w = Window.partitionBy(C.QUERY).orderBy(C.RANK).rowsBetween(Window.unboundedPreceding, 0)
    hits = hits.withColumn("_cum", F.sum(F.col("_hit").cast("double")).over(w))
    ks_df = spark.createDataFrame([(k,) for k in ks], "k int")
    per_k = hits.crossJoin(F.broadcast(ks_df)).where(F.col(C.RANK) <= F.col("k"))
    hit_d = F.col("_hit").cast("double")
    agg = per_k.groupBy(C.QUERY, "k").agg(
        F.sum(hit_d).alias("_h"),
        F.sum(hit_d / F.log2(F.col(C.RANK) + 1.0)).alias("_dcg"),
        F.min(F.when(F.col("_hit"), F.col(C.RANK))).alias("_first"),
        F.sum(F.when(F.col("_hit"), F.col("_cum") / F.col(C.RANK)).otherwise(0.0)).alias("_ap"),
        F.sum("_tv").alias("_rev"),
        F.count(F.lit(1)).alias("_n"),
        F.sum("_info").alias("_info"),
    )
    # diversity: pairs of categorised items, pairs with the same category
    cats = (
        per_k.where(F.col("_cat") >= 0)
        .groupBy(C.QUERY, "k", "_cat")
        .agg(F.count(F.lit(1)).alias("_c"))
        .groupBy(C.QUERY, "k")
        .agg(F.sum("_c").alias("_m"), F.sum(F.col("_c") * (F.col("_c") - 1) / 2.0).alias("_same"))
    )
    # per query: number of targets, whether a target's value is unknown
    unknown = (
        queries.targets.join(F.broadcast(item_df.select(C.ITEM_IDX, "_priced")), C.ITEM_IDX, "left")
        .groupBy(C.QUERY)
        .agg(F.max((~F.coalesce(F.col("_priced"), F.lit(False))).cast("int")).alias("_unknown"))
    )
    base = (
        queries.queries.select(C.QUERY, "user_history", "n_targets", "context_value")
        .join(unknown, C.QUERY, "left")
        .crossJoin(F.broadcast(ks_df))
        .join(agg, [C.QUERY, "k"], "left")
        .join(cats, [C.QUERY, "k"], "left")
    )
    disc = 1.0 / np.log2(np.arange(1, k_max + 1, dtype=np.float64) + 1.0)
    ideal = _array_lit(np.concatenate([[0.0], np.cumsum(disc)]).tolist())
    h = F.coalesce("_h", F.lit(0.0))
    nt = F.col("n_targets").cast("double")
    kd = F.col("k").cast("double")
    cnt = F.coalesce("_n", F.lit(0))
    rev = F.when(F.coalesce("_unknown", F.lit(0)) == 1, F.lit(float("nan"))).otherwise(F.coalesce("_rev", F.lit(0.0)))
    ctx = F.col("context_value")
    ctx_ok = ~F.isnan(ctx) & (ctx > 0) & ctx.isNotNull()
    # uplift's denominator: the mean cart value of the queries with targets and a positive cart (a ratio of
    # means, as xsell_eval.metrics); one number, aggregated in Spark
    mean_ctx = (
        queries.queries.where(ctx_ok & (F.col("n_targets") > 0)).agg(F.avg("context_value").alias("_m")).collect()[0]
    )["_m"]
    mean_ctx_lit = F.lit(float("nan") if mean_ctx is None else float(mean_ctx))
    m = F.coalesce("_m", F.lit(0)).cast("double")
    pairs = m * (m - 1.0) / 2.0
    nan = F.lit(float("nan"))
    exprs: dict[str, Column] = {
        "precision": h / kd,
        "recall": h / nt,
        "hit_rate": (h > 0).cast("double"),
        "ndcg": F.coalesce("_dcg", F.lit(0.0))
        / F.element_at(ideal, F.least(F.col("n_targets"), F.col("k")).cast("int") + 1),
        "mrr": F.when(F.col("_first").isNotNull(), 1.0 / F.col("_first").cast("double")).otherwise(0.0),
        "map": F.coalesce("_ap", F.lit(0.0)) / F.least(nt, kd),
        "revenue": rev,
        "uplift": F.when(ctx_ok, rev / mean_ctx_lit).otherwise(nan),
        "novelty": F.when(cnt > 0, F.col("_info") / cnt.cast("double")).otherwise(nan),
        "diversity": F.when(pairs > 0, 1.0 - F.coalesce("_same", F.lit(0.0)) / pairs).otherwise(nan),
    }
    rows = base.select(
        C.QUERY,
        "user_history",
        "k",
        *[F.when(F.col("n_targets") > 0, exprs[n]).otherwise(nan).alias(n) for n in names],
    )
    return rows


def collect_per_query(frame: DataFrame, ks: Sequence[int] | None = None) -> pd.DataFrame:
    """The per-query table on the driver (one row per query), sorted by query id, as the pandas engine's.

    ``frame`` has one row per query and cut-off (``k`` column); the pivot to ``metric@k`` columns
    happens in Spark (one aggregation), and the wide table is collected through Arrow
    (``spark.sql.execution.arrow.pyspark.enabled``, set by the engine's session): no Python row
    objects, so the driver holds little more than the table itself (int64 ids, float64 metrics).
    """
    from pyspark.sql import functions as F

    names = [c for c in frame.columns if c not in (C.QUERY, "user_history", "k")]
    if ks is None:
        ks = [int(r[0]) for r in frame.select("k").distinct().collect()]  # a handful of cut-offs
    ks = sorted(set(int(k) for k in ks))
    ordered = sorted(((n, k) for n in names for k in ks), key=lambda p: (SPARK_METRICS.index(p[0]), p[1]))
    # one value per (query, k): max over the single non-null cell (NaN kept: it is the only value)
    cells = [F.max(F.when(F.col("k") == k, F.col(n))).cast("double").alias(metric_column(n, k)) for n, k in ordered]
    wide = frame.groupBy(C.QUERY, "user_history").agg(*cells)
    wide = wide.select(
        F.col(C.QUERY).cast("long"), *[metric_column(n, k) for n, k in ordered], F.col("user_history").cast("long")
    )
    pdf = wide.toPandas()
    out = pdf.sort_values(C.QUERY, kind="stable").reset_index(drop=True)
    out = out.astype({metric_column(n, k): np.float64 for n, k in ordered})
    out[C.QUERY] = out[C.QUERY].astype(np.int64)
    out["user_history"] = out["user_history"].astype(np.int64)
    return out


def coverage(recs: DataFrame, queries: SparkQueries, ks: Sequence[int], sold: DataFrame) -> dict[str, float]:
    """``coverage@k``: distinct recommended items among the items sold in train / number of those items.

    One Spark job: each sold item's best rank among the queries with targets, then a count per ``k``.
    """
    from pyspark.sql import functions as F

    ks = sorted(set(int(k) for k in ks))
    with_targets = queries.queries.where(F.col("n_targets") > 0).select(C.QUERY)
    best = (
        recs.join(with_targets, C.QUERY)
        .groupBy(C.ITEM_IDX)
        .agg(F.min(C.RANK).alias("_best"))
        .join(sold.select(C.ITEM_IDX), C.ITEM_IDX, "right")
    )
    row = best.agg(
        F.count(F.lit(1)).alias("_sold"),
        *[F.sum((F.col("_best") <= k).cast("long")).alias(f"_k{k}") for k in ks],
    ).collect()[0]
    n_sold = int(row["_sold"])
    return {f"coverage@{k}": int(row[f"_k{k}"] or 0) / n_sold if n_sold else float("nan") for k in ks}


__all__ = ["SPARK_METRICS", "collect_per_query", "coverage", "per_query_frame"]
