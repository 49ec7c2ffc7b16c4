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
    from pyspark.sql import DataFrame

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
    #: ``item_idx``, ``count`` (train baskets containing the item), persisted: the metrics and coverage of
    #: every adapter use it (None: computed per adapter)
    train_popularity: DataFrame | None = None


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
    pop = train_popularity(split.train).persist()
    pop.count()
    timings["split_and_queries"] = time.perf_counter() - t0
    emit("stage_end", "split", {"queries": queries.n})
    return SparkPrepared(data, split, queries, timings, train_popularity=pop)


def train_popularity(train: DataFrame) -> DataFrame:
    """``item_idx``, ``count``: the number of train baskets containing each sold item."""
    from pyspark.sql import functions as F

    from xsell_eval.columns import Columns as C

    return train.groupBy(C.ITEM_IDX).agg(F.countDistinct(C.BASKET_IDX).alias("count"))


def run_spark_adapter(
    spec: str, config: CompareConfig, prepared: SparkPrepared, *, progress: ProgressFn | None = None
) -> AdapterOutcome:
    """Fit, recommend and score one Spark adapter; failures are recorded, never raised."""
    from pyspark.sql import functions as F

    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.columns import Columns as C
    from xsell_eval.spark.adapters import create_spark_adapter
    from xsell_eval.spark.data import on_disk
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
        recs = adapter.recommend(prepared.queries.requests, k).persist(on_disk())  # queries x k rows
        # Spark is lazy: the recommendations are computed here (one job: their number and the served queries)
        counted = recs.agg(F.count(F.lit(1)).alias("n"), F.sum((F.col(C.RANK) == 1).cast("long")).alias("served"))
        n_recs, served = (int(v or 0) for v in counted.collect()[0])
        rec_s = time.perf_counter() - t0
        emit("adapter_step", spec, {"step": "evaluate"})
        t0 = time.perf_counter()
        pop = prepared.train_popularity
        if pop is None:
            pop = train_popularity(prepared.split.train)
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
        per_query = collect_per_query(frame, config.ks)
        agg = coverage(recs, prepared.queries, config.ks, pop)
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


@dataclass(frozen=True, eq=False)
class SparkCompareResult:
    """A Spark comparison: statistics on the collected per-query tables, plus what Spark measured.

    ``estimates`` and ``comparisons`` come from :func:`xsell_eval.stats.summarize` and
    :func:`xsell_eval.stats.compare_to_baseline` (bootstrap CIs, paired tests, Holm), exactly as
    the pandas engine computes them.
    """

    config: CompareConfig
    master: str
    outcomes: tuple[AdapterOutcome, ...]
    estimates: pd.DataFrame
    comparisons: pd.DataFrame
    n_queries: int
    cleaning: dict[str, Any]
    split: dict[str, Any]
    timings: dict[str, float]

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (``summary.json`` of a Spark run directory)."""
        return {
            "engine": "spark",
            "spark_master": self.master,
            "config_hash": self.config.hash,
            "config": self.config.to_dict(),
            "n_queries": self.n_queries,
            "cleaning": self.cleaning,
            "split": self.split,
            "timings_seconds": self.timings,
            "adapters": [o.to_dict() for o in self.outcomes],
            "estimates": self.estimates.to_dict(orient="records"),
            "comparisons": self.comparisons.to_dict(orient="records"),
        }


def run_compare_spark(
    config: CompareConfig, *, master: str | None = None, progress: ProgressFn | None = None
) -> SparkCompareResult:
    """Run ``config`` on Spark: prepare and score in Spark, statistics on the collected per-query tables."""
    from xsell_eval.spark.session import DEFAULT_MASTER
    from xsell_eval.stats import compare_to_baseline, summarize

    started = time.perf_counter()
    config = config.validate()
    master = master or config.spark_master or DEFAULT_MASTER
    emit = progress or (lambda *a: None)
    prepared = prepare_spark(config, master=master, progress=progress)
    outcomes = []
    for spec in config.adapters:
        emit("adapter_start", spec, {})
        out = run_spark_adapter(spec, config, prepared, progress=progress)
        outcomes.append(out)
        emit("adapter_end", spec, {"status": out.status, "error": out.error})
    emit("stage_start", "statistics", {})
    per_query = per_query_tables(outcomes)
    metric_cols = [f"{m}@{k}" for m in config.metrics for k in config.ks]
    sums = []
    for name, pq in per_query.items():
        s = summarize(pq, [c for c in metric_cols if c in pq], **config.bootstrap_options)
        s.insert(0, "adapter", name)
        sums.append(s)
    estimates = pd.concat(sums, ignore_index=True) if sums else pd.DataFrame()
    comparisons = pd.DataFrame()
    if config.baseline in per_query and len(per_query) > 1:
        comparisons = compare_to_baseline(
            per_query,
            config.baseline,
            [c for c in metric_cols if c in per_query[config.baseline]],
            alpha=config.alpha,
            **config.bootstrap_options,
        )
    emit("stage_end", "statistics", {})
    timings = {**prepared.timings, "total": time.perf_counter() - started}
    return SparkCompareResult(
        config=config,
        master=master,
        outcomes=tuple(outcomes),
        estimates=estimates,
        comparisons=comparisons,
        n_queries=prepared.queries.n,
        cleaning=prepared.data.cleaning.to_dict(),
        split=prepared.split.describe,
        timings=timings,
    )


def write_spark_run(result: SparkCompareResult, run_dir: Any) -> None:
    """``summary.json``, ``estimates.csv``, ``comparisons.csv`` and ``per_query.parquet`` into ``run_dir``."""
    import json
    from pathlib import Path

    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "summary.json").write_text(json.dumps(result.summary(), indent=2, sort_keys=True, default=str))
    result.estimates.to_csv(d / "estimates.csv", index=False)
    result.comparisons.to_csv(d / "comparisons.csv", index=False)
    frames = [o.per_query.assign(adapter=o.name) for o in result.outcomes if o.per_query is not None]
    if frames:
        pd.concat(frames, ignore_index=True).to_parquet(d / "per_query.parquet", index=False)
