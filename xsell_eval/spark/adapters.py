"""Adapters that fit and recommend on Spark DataFrames, and their registry.

The protocol (:class:`SparkAdapter`) — every Spark adapter, ours and MLlib's, follows it::

    fit(train)             train: user_idx int (-1 guests), item_idx int, basket_idx long,
                                  timestamp, quantity double, price double
    recommend(queries, k)  queries: query_id long, user_idx int, cart array<int> (targets never given)
                           returns: query_id long, rank int (1-based), item_idx int, score double

A query may get fewer than ``k`` rows (no empty slots are returned). Cart items are never
recommended. ``fallback_`` (optional) is a frame ``query_id``, ``fallback`` boolean: the
queries served by a fallback alone.

``popular`` and ``rules`` give the pandas adapters' lists exactly (same scores, same tie-breaks,
same popularity fill), so both engines can be compared query for query.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError, unknown_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@runtime_checkable
class SparkAdapter(Protocol):
    """What ``compare --engine spark`` runs (see the module docstring for the columns)."""

    name: str

    def fit(self, train: DataFrame) -> None: ...

    def recommend(self, queries: DataFrame, k: int) -> DataFrame: ...


def _check_params(name: str, params: dict[str, Any], allowed: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"adapter '{name}' (spark): unknown hyperparameter(s) {unknown}; it takes {sorted(allowed)}")
    return {**allowed, **params}


def _item_counts(train: DataFrame) -> DataFrame:
    """``item_idx``, ``count`` = number of train baskets containing the item."""
    from pyspark.sql import functions as F

    return train.groupBy(C.ITEM_IDX).agg(F.countDistinct(C.BASKET_IDX).alias("count"))


def _max_cart(queries: DataFrame) -> int:
    from pyspark.sql import functions as F

    v = queries.agg(F.max(F.size("cart"))).collect()[0][0]
    return max(int(v or 0), 0)


def _popular_fill(
    queries: DataFrame, popular: DataFrame, k: int, taken: DataFrame | None, base: DataFrame | None
) -> DataFrame:
    """Each query's best popular items not in its cart nor already ``taken`` (query_id, item_idx, n_taken).

    ``popular``: ``item_idx``, ``count``, ``share`` of the sold items; only the first
    ``k + longest cart + k`` can be needed: those few rows go to the driver and come back as one
    array literal, which each query filters (cart and taken items out) and slices — no cross join,
    no shuffle, no window over the queries.
    Returns ``query_id, rank, item_idx, score`` of the fill, ranks after the taken ones; the score is
    the pandas rules adapter's ``base + share / 2`` (``base`` per query, ``-1`` when not given).
    """
    from pyspark.sql import functions as F

    width = k + _max_cart(queries) + (k if taken is not None else 0)
    top = popular.orderBy(F.desc("count"), C.ITEM_IDX).limit(width).collect()  # `width` rows
    q = queries.select(C.QUERY, "cart")
    if taken is not None:
        chosen = taken.groupBy(C.QUERY).agg(F.collect_list(C.ITEM_IDX).alias("_taken"), F.count(F.lit(1)).alias("_n"))
        q = q.join(chosen, C.QUERY, "left")
    else:
        q = q.withColumn("_taken", F.array().cast("array<int>")).withColumn("_n", F.lit(0))
    q = q.withColumn("_taken", F.coalesce("_taken", F.array().cast("array<int>"))).withColumn(
        "_n", F.coalesce("_n", F.lit(0))
    )
    if base is not None:
        q = q.join(base, C.QUERY, "left").withColumn("_base", F.coalesce("_base", F.lit(-1.0)))
    else:
        q = q.withColumn("_base", F.lit(None).cast("double"))
    out_cols = (C.QUERY, C.RANK, C.ITEM_IDX, C.SCORE)
    if not top:
        empty = q.limit(0).select(
            C.QUERY, F.lit(0).alias(C.RANK), F.lit(0).alias(C.ITEM_IDX), F.lit(0.0).alias(C.SCORE)
        )
        return empty.select(*out_cols)
    ranked_top = F.array(
        *[
            F.struct(
                F.lit(int(r[C.ITEM_IDX])).cast("int").alias("i"),
                F.lit(float(r["count"])).alias("c"),
                F.lit(float(r["share"])).alias("s"),
            )
            for r in top
        ]
    )  # in (count desc, item) order
    free = F.filter(
        ranked_top, lambda x: ~F.array_contains(F.col("cart"), x["i"]) & ~F.array_contains(F.col("_taken"), x["i"])
    )
    picked = F.slice(free, F.lit(1), F.greatest(F.lit(k) - F.col("_n"), F.lit(0)).cast("int"))
    cand = q.select(C.QUERY, "_n", "_base", F.posexplode(picked).alias("_r0", "_x"))
    score = F.when(F.col("_base").isNull(), F.col("_x.c")).otherwise(F.col("_base") + 0.5 * F.col("_x.s"))
    return cand.select(
        C.QUERY,
        (F.col("_n") + F.col("_r0") + 1).cast("int").alias(C.RANK),
        F.col("_x.i").cast("int").alias(C.ITEM_IDX),
        score.cast("double").alias(C.SCORE),
    )


class SparkPopularAdapter:
    """``popular`` on Spark: the most bought train items (baskets containing them), cart items skipped.

    Scores are the basket counts; ties go to the lower item index (as the pandas adapter).
    """

    name = "popular"
    family = "baseline"

    def __init__(self, **params: Any) -> None:
        self.params = _check_params(self.name, params, {})

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def fit(self, train: DataFrame) -> None:
        from pyspark.sql import functions as F

        counts = _item_counts(train)
        n = train.select(C.BASKET_IDX).distinct().count()
        self.popular_ = counts.withColumn("share", F.col("count") / F.lit(float(max(n, 1)))).persist()

    def recommend(self, queries: DataFrame, k: int) -> DataFrame:
        return _popular_fill(queries, self.popular_, k, None, None)


class SparkRulesAdapter:
    """``rules`` on Spark: pair rules ``{a} ⇒ {j}`` mined in Spark, scored and filled as the pandas adapter.

    Same thresholds as :func:`xsell_eval.mining.mine_rules` (``count >= min_count_for(min_support,
    n_baskets)``, ``confidence >= min_confidence - 1e-12``), same measures (confidence, lift,
    conviction made finite, leverage), aggregation max or sum over fired rules, ties by train
    popularity then item index, and the popular fill below every rule score of the query
    (``min(0, lowest rule score) - 1 + share / 2``). Only pair rules (``max_len=2``, the default):
    longer antecedents need the pandas engine.
    """

    name = "rules"
    family = "association rules"
    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "min_support": 0.001,
        "min_confidence": 0.1,
        "max_len": 2,
        "metric": "confidence",
        "aggregation": "max",
        "fallback": "popular",
    }

    def __init__(self, **params: Any) -> None:
        p = _check_params(self.name, params, self._DEFAULTS)
        if p["max_len"] != 2:
            raise ConfigError(
                f"adapter 'rules' (spark): max_len={p['max_len']} is not supported on Spark (pair rules only, "
                "max_len=2); use --engine pandas for longer rules"
            )
        if not 0 < float(p["min_support"]) <= 1:
            raise ConfigError(f"adapter 'rules': hyperparameter 'min_support' must be > 0, got {p['min_support']!r}")
        if not 0 <= float(p["min_confidence"]) <= 1:
            raise ConfigError(f"adapter 'rules': min_confidence must be in [0, 1], got {p['min_confidence']!r}")
        for key, choices in (
            ("metric", ("confidence", "lift", "conviction", "leverage")),
            ("aggregation", ("max", "sum")),
            ("fallback", ("popular", "none")),
        ):
            if p[key] not in choices:
                raise unknown_name(f"rules {key}", str(p[key]), choices)
        self.params = p

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def fit(self, train: DataFrame) -> None:
        from pyspark.sql import functions as F

        from xsell_eval.mining import CONFIDENCE_TOL, min_count_for

        p = self.params
        from xsell_eval.spark.data import on_disk

        pairs_in = train.select(C.BASKET_IDX, C.ITEM_IDX).distinct().persist(on_disk())  # line-sized
        n = pairs_in.select(C.BASKET_IDX).distinct().count()
        counts = pairs_in.groupBy(C.ITEM_IDX).agg(F.count(F.lit(1)).alias("count")).persist()
        self.popular_ = counts.withColumn("share", F.col("count") / F.lit(float(max(n, 1)))).persist()
        mc = min_count_for(float(p["min_support"]), int(n))
        frequent = counts.where(F.col("count") >= mc).select(C.ITEM_IDX)
        fb = pairs_in.join(F.broadcast(frequent), C.ITEM_IDX)
        a, b = fb.alias("a"), fb.alias("b")
        pair = (
            a.join(
                b,
                (F.col(f"a.{C.BASKET_IDX}") == F.col(f"b.{C.BASKET_IDX}"))
                & (F.col(f"a.{C.ITEM_IDX}") < F.col(f"b.{C.ITEM_IDX}")),
            )
            .groupBy(F.col(f"a.{C.ITEM_IDX}").alias("i"), F.col(f"b.{C.ITEM_IDX}").alias("j"))
            .agg(F.count(F.lit(1)).alias("c"))
            .where(F.col("c") >= mc)
        )
        both = pair.select("i", "j", "c").unionByName(pair.select(F.col("j").alias("i"), F.col("i").alias("j"), "c"))
        ca = counts.select(F.col(C.ITEM_IDX).alias("i"), F.col("count").alias("ca"))
        cc = counts.select(F.col(C.ITEM_IDX).alias("j"), F.col("count").alias("cc"))
        rules = both.join(ca, "i").join(cc, "j")
        nf = float(n)
        conf = F.col("c").cast("double") / F.col("ca").cast("double")
        rules = rules.withColumn("confidence", conf).where(
            F.col("confidence") >= F.lit(float(p["min_confidence"]) - CONFIDENCE_TOL)
        )
        s_c = F.col("cc") / F.lit(nf)
        s_a = F.col("ca") / F.lit(nf)
        metric = p["metric"]
        if metric == "confidence":
            weight = F.col("confidence")
        elif metric == "lift":
            weight = F.col("confidence") / s_c
        elif metric == "leverage":
            weight = F.col("c") / F.lit(nf) - s_a * s_c
        else:  # conviction, finite for certain rules (see xsell_eval.adapters.rules)
            ca_d = F.col("ca").cast("double")
            conf2 = F.when(F.col("c") >= F.col("ca"), ca_d / (ca_d + 1.0)).otherwise(F.col("confidence"))
            weight = (1.0 - s_c) / (1.0 - conf2)
        self.rules_ = rules.select(F.col("i").alias("_a"), F.col("j").alias(C.ITEM_IDX), weight.alias("_w")).persist()
        self.n_rules_ = self.rules_.count()
        pairs_in.unpersist()

    def recommend(self, queries: DataFrame, k: int) -> DataFrame:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        carts = queries.select(C.QUERY, "cart", F.explode("cart").alias("_a"))
        fired = carts.join(self.rules_, "_a").where(~F.array_contains("cart", F.col(C.ITEM_IDX)))
        agg = F.max("_w") if self.params["aggregation"] == "max" else F.sum("_w")
        cand = fired.groupBy(C.QUERY, C.ITEM_IDX).agg(agg.alias(C.SCORE)).where(~F.isnan(C.SCORE))
        cand = cand.join(self.popular_.select(C.ITEM_IDX, "count"), C.ITEM_IDX, "left").fillna(0, subset=["count"])
        w = Window.partitionBy(C.QUERY).orderBy(F.desc(C.SCORE), F.desc("count"), C.ITEM_IDX)
        ranked = (
            cand.withColumn(C.RANK, F.row_number().over(w))
            .where(F.col(C.RANK) <= k)
            .select(
                C.QUERY,
                F.col(C.RANK).cast("int").alias(C.RANK),
                F.col(C.ITEM_IDX).cast("int").alias(C.ITEM_IDX),
                C.SCORE,
            )
            .persist()
        )
        served = ranked.groupBy(C.QUERY).agg(F.count(F.lit(1)).alias("_n"))
        self.fallback_ = (
            queries.select(C.QUERY)
            .join(served, C.QUERY, "left")
            .select(C.QUERY, F.col("_n").isNull().alias("fallback"))
        )
        if self.params["fallback"] == "none":
            self.fallback_ = self.fallback_.withColumn("fallback", F.lit(False))
            return ranked
        base = ranked.groupBy(C.QUERY).agg((F.least(F.lit(0.0), F.min(C.SCORE)) - 1.0).alias("_base"))
        fill = _popular_fill(queries, self.popular_, k, ranked.select(C.QUERY, C.ITEM_IDX), base)
        return ranked.unionByName(fill)


#: Spark adapters by name: a class, or a lazy "module:Class" import string (constructor takes **params)
SPARK_ADAPTERS: dict[str, Any] = {
    "popular": SparkPopularAdapter,
    "rules": SparkRulesAdapter,
    "spark-als": "xsell_eval.spark.mllib:SparkALSAdapter",
    "spark-fpgrowth": "xsell_eval.spark.mllib:SparkFPGrowthAdapter",
}


def create_spark_adapter(name: str, params: dict[str, Any] | None = None, *, seed: int = 0) -> Any:
    """Build the Spark adapter ``name`` (a ``seed`` parameter is passed when its constructor takes one).

    Raises:
        ConfigError: a pandas-only adapter (the message lists which adapters run on which engine).
        UnknownNameError: an unknown name.
    """
    import inspect

    target = SPARK_ADAPTERS.get(name)
    if target is None:
        from xsell_eval.adapters.registry import available

        pandas_only = sorted(a for a in available() if a not in SPARK_ADAPTERS)
        if name in available():
            raise ConfigError(
                f"adapter '{name}' runs with --engine pandas only. --engine spark runs: {', '.join(SPARK_ADAPTERS)}; "
                f"--engine pandas runs: {', '.join(pandas_only)} and popular, rules"
            )
        raise unknown_name("spark adapter", name, SPARK_ADAPTERS)
    if isinstance(target, str):
        module, _, cls_name = target.partition(":")
        target = getattr(importlib.import_module(module), cls_name)
    kwargs = dict(params or {})
    try:
        takes_seed = "seed" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        takes_seed = False
    if takes_seed and "seed" not in kwargs:
        kwargs["seed"] = seed
    return target(**kwargs)


__all__ = ["SPARK_ADAPTERS", "SparkAdapter", "SparkPopularAdapter", "SparkRulesAdapter", "create_spark_adapter"]
