"""Temporal split and basket-completion queries in Spark, equal to :mod:`xsell_eval.split` and
:mod:`xsell_eval.protocols` query for query.

The reveal is the pandas engine's, reproduced exactly: the pandas engine draws one uniform
double per eligible (basket, item) line, in (basket, item) order, from
``numpy.random.default_rng([seed, 1])`` (PCG64; after the ``max_queries`` sample when there is
one). Each Spark partition numbers its lines globally (:func:`~xsell_eval.spark.data.row_index`)
and draws its share of the same stream with ``PCG64.advance(first position)``: the same doubles,
without any line reaching the driver. Items are then revealed in (basket, key, item) order.

Only ``basket-completion`` on a ``temporal`` split runs here; other protocols and splits stop
with a clear error (``--engine pandas`` runs them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError, DataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from xsell_eval.settings import CompareConfig
    from xsell_eval.spark.data import SparkData

SPARK_SPLITS = ("temporal",)
SPARK_PROTOCOLS = ("basket-completion",)


@dataclass(frozen=True, eq=False)
class SparkSplit:
    """Train and test lines (Spark) plus the driver-side description."""

    train: DataFrame
    test: DataFrame
    n_train_baskets: int
    test_start: str
    describe: dict[str, Any]


@dataclass(frozen=True, eq=False)
class SparkQueries:
    """Basket-completion queries as Spark frames.

    Attributes:
        queries: ``query_id`` long, ``user_idx`` int, ``basket_idx`` long, ``cart`` array<int> (sorted),
            ``context_value`` double, ``user_history`` long, ``n_targets`` long.
        targets: ``query_id`` long, ``item_idx`` int, ``quantity`` double, ``value`` double.
        n: number of queries.
    """

    queries: DataFrame
    targets: DataFrame
    n: int

    @property
    def requests(self) -> DataFrame:
        """What adapters see: ``query_id``, ``user_idx``, ``cart`` (never the targets)."""
        return self.queries.select(C.QUERY, C.USER_IDX, "cart")


def temporal_split(data: SparkData, *, test_fraction: float = 0.2, cutoff: str | None = None) -> SparkSplit:
    """:func:`xsell_eval.split.temporal_split`'s train/test cut (baskets by first-line time, whole timestamp groups)."""
    from pyspark.sql import functions as F

    from xsell_eval.spark.data import on_disk, persist, release_persisted, row_index
    from xsell_eval.split import _check_fraction

    lines = data.lines
    if lines.where(F.col(C.TIMESTAMP).isNull()).limit(1).count():
        raise DataError(
            f"dataset '{data.name}' has no timestamps; a temporal split needs them. Use --engine pandas with "
            "--split random-basket (and accept its stated leakage) or load data with a timestamp column"
        )
    baskets = persist(lines.groupBy(C.BASKET_IDX).agg(F.min(C.TIMESTAMP).alias("t")))
    n = baskets.count()
    if n < 3:
        raise DataError(f"dataset '{data.name}' has {n} baskets; a split needs at least 3")
    if cutoff is not None:
        try:
            cut = pd.Timestamp(cutoff)
        except (ValueError, TypeError):
            raise ConfigError(f"cutoff must be a date like 2011-09-01, got {cutoff!r}") from None
        cut_lit = F.lit(cut.to_pydatetime()).cast("timestamp_ntz")
    else:
        _check_fraction("test_fraction", test_fraction)
        pos = min(max(int(np.floor(n * (1.0 - test_fraction))), 1), n - 1)
        ranked = row_index(baskets, ["t", C.BASKET_IDX], "_pos")
        cut = pd.Timestamp(ranked.where(F.col("_pos") == pos).select("t").collect()[0][0])
        cut_lit = F.lit(cut.to_pydatetime()).cast("timestamp_ntz")
    side = baskets.select(C.BASKET_IDX, (F.col("t") >= cut_lit).alias("_test"))
    tagged = persist(lines.join(side, C.BASKET_IDX))  # one join for both sides
    train = tagged.where(~F.col("_test")).drop("_test").localCheckpoint(storageLevel=on_disk())
    test = tagged.where(F.col("_test")).drop("_test").localCheckpoint(storageLevel=on_disk())
    release_persisted()  # the per-basket times and their ranking: train and test are materialised
    spans = {}
    for name, df in (("train", train), ("test", test)):
        r = df.agg(
            F.count(F.lit(1)).alias("lines"),
            F.countDistinct(C.BASKET_IDX).alias("baskets"),
            F.min(C.TIMESTAMP).alias("start"),
            F.max(C.TIMESTAMP).alias("end"),
        ).collect()[0]
        spans[name] = {
            "lines": int(r["lines"]),
            "baskets": int(r["baskets"]),
            "start": None if r["start"] is None else str(pd.Timestamp(r["start"])),
            "end": None if r["end"] is None else str(pd.Timestamp(r["end"])),
        }
    if spans["train"]["baskets"] == 0 or spans["test"]["baskets"] == 0:
        raise DataError(
            f"cutoff {cut} leaves {spans['train']['baskets']} train and {spans['test']['baskets']} test baskets"
        )
    describe = {
        "kind": "temporal",
        "params": {"test_fraction": test_fraction if cutoff is None else None, "test_start": str(cut)},
        **spans,
        "leakage": "none: every training line precedes every test line (global time cutoff)",
    }
    return SparkSplit(train, test, int(spans["train"]["baskets"]), str(cut), describe)  # type: ignore[arg-type]


def _key_maker(state: Any) -> Any:
    """mapInPandas function: the ``key`` of each line = the ``_g``-th double of the PCG64 stream in ``state``."""

    def make(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            g = pdf["_g"].to_numpy(dtype=np.int64)
            out = np.empty(len(g))
            if len(g):
                order = np.argsort(g, kind="stable")
                gs = g[order]
                cuts = np.flatnonzero(np.diff(gs) != 1) + 1
                for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(gs)], strict=True):  # runs of consecutive positions
                    bg = np.random.PCG64()
                    bg.state = state  # type: ignore[assignment]
                    bg.advance(int(gs[s]))
                    out[order[s:e]] = np.random.Generator(bg).random(int(e - s))
            yield pdf.assign(key=out)

    return make


def basket_completion(
    split: SparkSplit, *, seed: int = 0, reveal: int | None = 1, hide: int | None = None, max_queries: int | None = None
) -> SparkQueries:
    """:func:`xsell_eval.protocols.basket_completion` in Spark (same query ids, carts, targets, values)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from xsell_eval.spark.data import on_disk, release_persisted, row_index

    if (reveal is None) == (hide is None):
        raise ConfigError("basket-completion: set exactly one of reveal (items shown) or hide (items hidden)")
    n_param = reveal if reveal is not None else hide
    if n_param is None or n_param < 1:
        raise ConfigError(f"basket-completion: reveal/hide must be >= 1, got {n_param!r}")
    value = F.col(C.PRICE) * F.col(C.QUANTITY)
    lines = split.test.groupBy(C.BASKET_IDX, C.ITEM_IDX).agg(
        F.first(C.USER_IDX).alias(C.USER_IDX),  # one user per basket
        F.sum(C.QUANTITY).alias("q"),
        F.sum(F.when(F.isnan(value), 0.0).otherwise(value)).alias("v"),  # pandas' sum skips NaN
    )
    size = F.count(F.lit(1)).over(Window.partitionBy(C.BASKET_IDX))
    lines = lines.withColumn("_size", size).where(F.col("_size") >= n_param + 1)
    rng = np.random.default_rng([seed, 1])
    if max_queries is not None:  # the same seeded sample of baskets (one id per query reaches the driver)
        # collected through Arrow into one int64 array (8 bytes per eligible basket, no Python rows)
        ids = lines.select(C.BASKET_IDX).distinct().toPandas()[C.BASKET_IDX]
        eligible = np.sort(ids.to_numpy(dtype=np.int64))
        if len(eligible) > max_queries:
            keep = rng.choice(eligible, size=max_queries, replace=False)
            kept = lines.sparkSession.createDataFrame([(int(b),) for b in keep], f"{C.BASKET_IDX} long")
            lines = lines.join(F.broadcast(kept), C.BASKET_IDX)
    state = rng.bit_generator.state
    numbered = row_index(lines, [C.BASKET_IDX, C.ITEM_IDX], "_g")
    from pyspark.sql import types as T

    schema = T.StructType([*numbered.schema.fields, T.StructField("key", T.DoubleType())])
    keyed = numbered.mapInPandas(_key_maker(state), schema)
    w = Window.partitionBy(C.BASKET_IDX).orderBy("key", C.ITEM_IDX)
    ranked = keyed.withColumn("_pos", F.row_number().over(w) - 1)
    shown = F.col("_pos") < (F.lit(reveal) if reveal is not None else F.col("_size") - F.lit(int(hide or 0)))
    ranked = ranked.withColumn("_shown", shown).localCheckpoint(storageLevel=on_disk())
    qids = row_index(ranked.select(C.BASKET_IDX).distinct(), [C.BASKET_IDX], C.QUERY)
    ranked = ranked.join(qids, C.BASKET_IDX)
    hist = (
        split.train.where(F.col(C.USER_IDX) >= 0)
        .groupBy(C.USER_IDX)
        .agg(F.countDistinct(C.BASKET_IDX).alias("user_history"))
    )
    queries = (
        ranked.groupBy(C.QUERY, C.BASKET_IDX)
        .agg(
            F.first(C.USER_IDX).alias(C.USER_IDX),
            F.sort_array(F.collect_list(F.when(F.col("_shown"), F.col(C.ITEM_IDX)))).alias("cart"),
            F.sum(F.when(F.col("_shown"), F.col("v")).otherwise(0.0)).alias("context_value"),
            F.sum(F.when(~F.col("_shown"), 1).otherwise(0)).cast("long").alias("n_targets"),
        )
        .join(hist, C.USER_IDX, "left")
        .withColumn("user_history", F.coalesce(F.col("user_history"), F.lit(0)).cast("long"))
        .withColumn(C.USER_IDX, F.col(C.USER_IDX).cast("int"))
        .withColumn("cart", F.col("cart").cast("array<int>"))
        .select(C.QUERY, C.USER_IDX, C.BASKET_IDX, "cart", "context_value", "user_history", "n_targets")
        .localCheckpoint(storageLevel=on_disk())
    )
    targets = (
        ranked.where(~F.col("_shown"))
        .select(
            C.QUERY,
            F.col(C.ITEM_IDX).cast("int").alias(C.ITEM_IDX),
            F.col("q").alias(C.QUANTITY),
            F.col("v").alias("value"),
        )
        .localCheckpoint(storageLevel=on_disk())
    )
    n = queries.count()
    release_persisted()  # row numbers of the lines and queries: both tables are materialised
    if n == 0:
        raise DataError(
            f"protocol 'basket-completion' yields no queries: no test basket has more than {n_param} distinct item(s)"
        )
    return SparkQueries(queries=queries, targets=targets, n=int(n))


def config_queries(split: SparkSplit, config: CompareConfig) -> SparkQueries:
    """:func:`basket_completion` with a run's seed, reveal/hide and ``max_queries`` (test or validation split)."""
    return basket_completion(
        split,
        seed=config.seed,
        reveal=config.reveal if config.hide is None else None,
        hide=config.hide,
        max_queries=config.max_queries,
    )


def check_supported(split: str, protocol: str) -> None:
    """Stop early on a split or protocol the Spark engine does not run."""
    if split not in SPARK_SPLITS:
        raise ConfigError(
            f"--engine spark runs the split(s) {', '.join(SPARK_SPLITS)}; '{split}' needs --engine pandas"
        )
    if protocol not in SPARK_PROTOCOLS:
        raise ConfigError(
            f"--engine spark runs the protocol(s) {', '.join(SPARK_PROTOCOLS)}; '{protocol}' needs --engine pandas"
        )
