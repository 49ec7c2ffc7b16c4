"""``compare --engine spark`` end to end: Spark prepares, recommends and scores; the driver does the statistics.

::

    Spark:  read → clean → index → temporal split → basket-completion queries
            → each adapter: fit(train) → recommend(requests, k) → per-query metrics
    driver: the per-query metric table of each adapter (one row per query), collected
            → the same bootstrap CIs, paired tests, Holm and decision as the pandas engine

Nothing else is collected: the driver's memory follows the number of queries (and the
catalog), not the number of lines.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell_eval.errors import ConfigError, NotApplicableError
from xsell_eval.result import NOT_APPLICABLE, AdapterOutcome

if TYPE_CHECKING:
    from xsell_eval.settings import CompareConfig
    from xsell_eval.spark.data import SparkData
    from xsell_eval.spark.prepare import SparkQueries, SparkSplit

ProgressFn = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True, eq=False)
class SparkPrepared:
    """Data, split and queries of a Spark run (frames stay in Spark)."""

    data: SparkData
    split: SparkSplit
    queries: SparkQueries
    timings: dict[str, float] = field(default_factory=dict)


def check_config(config: CompareConfig) -> None:
    """Stop before Spark starts when the run asks for what the Spark engine does not do."""
    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.spark.adapters import SPARK_ADAPTERS, create_spark_adapter
    from xsell_eval.spark.prepare import check_supported

    check_supported(config.split, config.protocol)
    for spec in config.adapters:
        name, _ = parse_spec(spec)
        if name not in SPARK_ADAPTERS:
            create_spark_adapter(name)  # raises the engines' list


def prepare_spark(config: CompareConfig, *, master: str, progress: ProgressFn | None = None) -> SparkPrepared:
    """Start (or reuse) the session, then load, split and build the queries in Spark."""
    from xsell_eval.spark.data import load
    from xsell_eval.spark.prepare import basket_completion, temporal_split
    from xsell_eval.spark.session import get_session

    emit = progress or (lambda *a: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    emit("stage_start", "load", {})
    spark = get_session(master)
    data = load(
        spark, config.data, loader=config.loader, columns=config.columns, catalog=config.catalog, policy=config.cleaning
    )
    emit("stage_end", "load", {"dataset": f"{data.name} (Spark, {data.cleaning.rows_out:,} lines)"})
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    emit("stage_start", "split", {})
    split = temporal_split(data, test_fraction=config.test_fraction, cutoff=config.cutoff)
    queries = basket_completion(
        split,
        seed=config.seed,
        reveal=config.reveal if config.hide is None else None,
        hide=config.hide,
        max_queries=config.max_queries,
    )
    timings["split_and_queries"] = time.perf_counter() - t0
    emit("stage_end", "split", {"queries": queries.n})
    return SparkPrepared(data, split, queries, timings)


def run_spark_adapter(
    spec: str, config: CompareConfig, prepared: SparkPrepared, *, progress: ProgressFn | None = None
) -> AdapterOutcome:
    """Fit, recommend and score one Spark adapter; failures are recorded, never raised."""
    from pyspark.sql import functions as F

    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.columns import Columns as C
    from xsell_eval.spark.adapters import create_spark_adapter
    from xsell_eval.spark.metrics import collect_per_query, coverage, per_query_frame

    emit = progress or (lambda *a: None)
    name, spec_params = parse_spec(spec)
    merged = {**config.params.get(name, {}), **config.params.get(spec, {}), **spec_params}
    adapter = None
    try:
        adapter = create_spark_adapter(name, merged, seed=config.seed)
        train = prepared.split.train.select(C.USER_IDX, C.ITEM_IDX, C.BASKET_IDX, C.TIMESTAMP, C.QUANTITY, C.PRICE)
        emit("adapter_step", spec, {"step": "fit"})
        t0 = time.perf_counter()
        adapter.fit(train)
        fit_s = time.perf_counter() - t0
        emit("adapter_step", spec, {"step": "recommend"})
        t0 = time.perf_counter()
        k = max(config.ks)
        recs = adapter.recommend(prepared.queries.requests, k).persist()
        n_recs = recs.count()  # Spark is lazy: the recommendations are computed here
        rec_s = time.perf_counter() - t0
        emit("adapter_step", spec, {"step": "evaluate"})
        t0 = time.perf_counter()
        pop = prepared.split.train.groupBy(C.ITEM_IDX).agg(F.countDistinct(C.BASKET_IDX).alias("count"))
        frame = per_query_frame(
            recs,
            prepared.queries,
            config.ks,
            item_popularity=pop,
            n_train_baskets=prepared.split.n_train_baskets,
            item_category=prepared.data.item_category,
            item_price_known=prepared.data.item_price_known,
            metrics=config.metrics,
        )
        per_query = collect_per_query(frame)
        agg = coverage(recs, prepared.queries, config.ks, pop)
        served = recs.where(F.col(C.RANK) == 1).count()
        empty = 1.0 - served / prepared.queries.n if prepared.queries.n else 0.0
        fb = None
        if getattr(adapter, "fallback_", None) is not None:
            fb = float(adapter.fallback_.agg(F.avg(F.col("fallback").cast("double"))).collect()[0][0] or 0.0)
        eval_s = time.perf_counter() - t0
        recs.unpersist()
    except NotApplicableError as exc:
        return AdapterOutcome(name=spec, spec=spec, status=NOT_APPLICABLE, params=merged, error=str(exc))
    except ConfigError:
        raise
    except Exception as exc:  # a failing adapter must not sink the run
        return AdapterOutcome(
            name=spec,
            spec=spec,
            status="failed",
            params=merged,
            family=getattr(adapter, "family", ""),
            error=f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}",
            traceback=traceback.format_exc(),
        )
    params = adapter.get_params() if hasattr(adapter, "get_params") else merged
    return AdapterOutcome(
        name=spec,
        spec=spec,
        status="ok",
        params={**params, "engine": "spark"},
        family=getattr(adapter, "family", ""),
        fit_seconds=fit_s,
        recommend_seconds=rec_s,
        evaluate_seconds=eval_s,
        fallback_share=fb,
        empty_share=float(empty),
        per_query=per_query,
        per_query_items={},
        aggregates={**agg, "recommendations": float(n_recs)},
    )


def per_query_tables(outcomes: list[AdapterOutcome]) -> dict[str, pd.DataFrame]:
    """``{adapter: per-query table}`` of the adapters that completed."""
    return {o.name: o.per_query for o in outcomes if o.status == "ok" and o.per_query is not None}
