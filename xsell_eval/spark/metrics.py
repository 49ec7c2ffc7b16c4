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
    """One row per query: ``query_id``, one ``<metric>@<k>`` column per metric and cut-off, ``user_history``.

    One conditional aggregation per query: the recommendations are shuffled once by query (every later
    step — the best rank per item, the join with the targets, the two windows, the ``groupBy`` —
    keeps that partitioning), each recommended item carries its hit, gain and category counters, and
    one ``agg`` sums them under ``rank <= k`` for every cut-off. No cross join with the cut-offs, no
    pivot. Columns are ordered as :func:`collect_per_query` returns them (metrics in
    :data:`SPARK_METRICS` order, then k).

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
    # per query: its targets (item, value) and whether a target's value is unknown (targets shuffled once),
    # with the query's own columns (the queries shuffled once)
    per_query_targets = (
        queries.targets.join(F.broadcast(item_df.select(C.ITEM_IDX, "_priced")), C.ITEM_IDX, "left")
        .groupBy(C.QUERY)
        .agg(
            F.collect_list(F.struct(F.col(C.ITEM_IDX).alias("i"), F.col("value").alias("v"))).alias("_targets"),
            F.max((~F.coalesce(F.col("_priced"), F.lit(False))).cast("int")).alias("_unknown"),
        )
    )
    query_cols = ["user_history", "n_targets", "context_value", "_unknown"]
    qt = queries.queries.select(C.QUERY, "user_history", "n_targets", "context_value").join(
        per_query_targets, C.QUERY, "left"
    )
    # the best rank of each recommended item within k_max: the recommendations are shuffled once, by query,
    # and every later step (best rank, the join with the queries, the windows, the aggregation) keeps that
    # partitioning; a query without recommendations keeps one row (null rank: counted nowhere)
    r = recs.where((F.col(C.RANK) >= 1) & (F.col(C.RANK) <= k_max) & (F.col(C.ITEM_IDX) >= 0))
    r = r.repartition(C.QUERY).groupBy(C.QUERY, C.ITEM_IDX).agg(F.min(C.RANK).alias(C.RANK))
    matched = F.filter(F.col("_targets"), lambda s: s["i"] == F.col(C.ITEM_IDX))
    hits = (
        qt.join(r, C.QUERY, "left")
        .withColumn("_match", matched)
        .withColumn("_hit", F.coalesce(F.size("_match") > 0, F.lit(False)))
        .withColumn("_tv", F.when(F.col("_hit"), F.col("_match")[0]["v"]).otherwise(0.0))
        .drop("_targets", "_match")
        .join(F.broadcast(item_df), C.ITEM_IDX, "left")
        .withColumn(
            "_info", -F.log2(F.greatest(F.col("count").cast("double"), F.lit(1.0)) / F.lit(float(n_train_baskets)))
        )
    )
    # hits at or before this rank (average precision); earlier items of the same category (diversity: an
    # item closes one same-category pair with each of them, so the pairs within rank <= k are their sum)
    w = Window.partitionBy(C.QUERY).orderBy(C.RANK).rowsBetween(Window.unboundedPreceding, 0)
    w_cat = Window.partitionBy(C.QUERY, "_cat").orderBy(C.RANK)
    hits = hits.withColumn("_cum", F.sum(F.col("_hit").cast("double")).over(w)).withColumn(
        "_before", (F.row_number().over(w_cat) - 1).cast("double")
    )
    hit_d = F.col("_hit").cast("double")
    categorised = F.col("_cat") >= 0
    sums: list[Column] = [F.min(F.when(F.col("_hit"), F.col(C.RANK))).alias("_first")]
    for k in ks:
        top = F.col(C.RANK) <= k
        sums += [
            F.sum(F.when(top, hit_d)).alias(f"_h{k}"),
            F.sum(F.when(top, hit_d / F.log2(F.col(C.RANK) + 1.0))).alias(f"_dcg{k}"),
            F.sum(F.when(top & F.col("_hit"), F.col("_cum") / F.col(C.RANK))).alias(f"_ap{k}"),
            F.sum(F.when(top, F.col("_tv"))).alias(f"_rev{k}"),
            F.count(F.when(top, F.lit(1))).alias(f"_n{k}"),
            F.sum(F.when(top, F.col("_info"))).alias(f"_info{k}"),
            F.count(F.when(top & categorised, F.lit(1))).alias(f"_m{k}"),
            F.sum(F.when(top & categorised, F.col("_before"))).alias(f"_same{k}"),
        ]
    base = hits.groupBy(C.QUERY).agg(*[F.first(c).alias(c) for c in query_cols], *sums)
    disc = 1.0 / np.log2(np.arange(1, k_max + 1, dtype=np.float64) + 1.0)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])  # ideal DCG at 0..k_max hits
    ideal_at = _array_lit(ideal.tolist())
    nt = F.col("n_targets").cast("double")
    ctx = F.col("context_value")
    ctx_ok = ~F.isnan(ctx) & (ctx > 0) & ctx.isNotNull()
    # uplift's denominator: the mean cart value of the queries with targets and a positive cart (a ratio of
    # means, as xsell_eval.metrics); one number, aggregated in Spark
    mean_ctx = (
        queries.queries.where(ctx_ok & (F.col("n_targets") > 0)).agg(F.avg("context_value").alias("_m")).collect()[0]
    )["_m"]
    mean_ctx_lit = F.lit(float("nan") if mean_ctx is None else float(mean_ctx))
    nan = F.lit(float("nan"))
    unknown_value = F.coalesce("_unknown", F.lit(0)) == 1
    first = F.col("_first")
    cells: list[Column] = []
    by_metric: dict[str, dict[int, Column]] = {n: {} for n in SPARK_METRICS}
    for k in ks:
        kd = F.lit(float(k))
        h = F.coalesce(f"_h{k}", F.lit(0.0))
        cnt = F.coalesce(f"_n{k}", F.lit(0))
        rev = F.when(unknown_value, nan).otherwise(F.coalesce(f"_rev{k}", F.lit(0.0)))
        m = F.coalesce(f"_m{k}", F.lit(0)).cast("double")
        pairs = m * (m - 1.0) / 2.0
        exprs = {
            "precision": h / kd,
            "recall": h / nt,
            "hit_rate": (h > 0).cast("double"),
            "ndcg": F.coalesce(f"_dcg{k}", F.lit(0.0))
            / F.element_at(ideal_at, F.least(F.col("n_targets"), F.lit(k)).cast("int") + 1),
            "mrr": F.when(first.isNotNull() & (first <= k), 1.0 / first.cast("double")).otherwise(0.0),
            "map": F.coalesce(f"_ap{k}", F.lit(0.0)) / F.least(nt, kd),
            "revenue": rev,
            "uplift": F.when(ctx_ok, rev / mean_ctx_lit).otherwise(nan),
            "novelty": F.when(cnt > 0, F.col(f"_info{k}") / cnt.cast("double")).otherwise(nan),
            "diversity": F.when(pairs > 0, 1.0 - F.coalesce(f"_same{k}", F.lit(0.0)) / pairs).otherwise(nan),
        }
        for n in names:
            by_metric[n][k] = exprs[n]
    for n in names:
        for k in ks:
            cell = F.when(F.col("n_targets") > 0, by_metric[n][k]).otherwise(nan)
            cells.append(cell.cast("double").alias(metric_column(n, k)))
    return base.select(F.col(C.QUERY).cast("long").alias(C.QUERY), *cells, F.col("user_history").cast("long"))


def collect_per_query(frame: DataFrame) -> pd.DataFrame:
    """The per-query table on the driver (one row per query), sorted by query id, as the pandas engine's.

    ``frame`` is :func:`per_query_frame`'s wide table; it is collected through Arrow
    (``spark.sql.execution.arrow.pyspark.enabled``, set by the engine's session): no Python row
    objects, so the driver holds little more than the table itself (int64 ids, float64 metrics).
    """
    metric_cols = [c for c in frame.columns if c not in (C.QUERY, "user_history")]
    pdf = frame.toPandas()
    out = pdf.sort_values(C.QUERY, kind="stable").reset_index(drop=True)
    out = out.astype({c: np.float64 for c in metric_cols})
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
