"""``compare --engine spark`` end to end: Spark prepares, recommends and scores; the driver does the statistics.

::

    Spark:  read → clean → index → temporal split → basket-completion queries
            → each adapter: fit(train) → recommend(requests, k) → per-query metrics
    driver: the per-query metric table of each adapter (one row per query), collected
            → the same bootstrap CIs, paired tests, Holm and decision as the pandas engine

Nothing else is collected: the driver's memory follows the number of queries (and the
catalog), not the number of lines. :func:`write_spark_run` writes the pandas engine's run
directory and report (:mod:`xsell_eval.spark.result` makes the report's ``CompareResult``).
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

    from xsell_eval.result import CompareResult
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
    if config.reveal_seeds > 1:  # would be silently ignored: the Spark engine draws one reveal
        raise ConfigError(
            f"--reveal-seeds {config.reveal_seeds}: the Spark engine draws one reveal per run; "
            "use --engine pandas for the spread over reveals"
        )
    for spec in config.adapters:
        name, _ = parse_spec(spec)
        if name not in SPARK_ADAPTERS:
            create_spark_adapter(name)  # raises the engines' list


def prepare_spark(config: CompareConfig, *, master: str, progress: ProgressFn | None = None) -> SparkPrepared:
    """Start (or reuse) the session, then load, split and build the queries in Spark."""
    from xsell_eval.spark.data import load
    from xsell_eval.spark.prepare import config_queries, temporal_split
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
    queries = config_queries(split, config)
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
        per_query = collect_per_query(frame)
        agg = coverage(recs, prepared.queries, config.ks, pop)
        empty = 1.0 - served / prepared.queries.n if prepared.queries.n else 0.0
        fb = None
        if getattr(adapter, "fallback_", None) is not None:  # per-query flags, as the pandas engine's metrics
            per_query, fb = with_fallback_flags(per_query, adapter.fallback_)
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


def with_fallback_flags(per_query: pd.DataFrame, fallback: Any) -> tuple[pd.DataFrame, float]:
    """``per_query`` with ``served_by_fallback`` (1.0/0.0 per query) from an adapter's ``fallback_``, and its mean.

    The pandas engine's per-query table carries the same column (:data:`xsell_eval.headtohead.FALLBACK_COLUMN`):
    the head-to-head tie-break pairs it query by query. One query-sized column reaches the driver.
    """
    from pyspark.sql import functions as F

    from xsell_eval.columns import Columns as C
    from xsell_eval.headtohead import FALLBACK_COLUMN

    flags = fallback.select(F.col(C.QUERY).cast("long").alias(C.QUERY), F.col("fallback").cast("double")).toPandas()
    flags = flags.rename(columns={"fallback": FALLBACK_COLUMN}).astype({C.QUERY: "int64"})
    share = float(flags[FALLBACK_COLUMN].mean()) if len(flags) else 0.0
    return per_query.merge(flags, on=C.QUERY, how="left"), share


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
    data: dict[str, Any] = field(default_factory=dict)
    """Driver-side facts of the cleaned data for the report: ``name``, ``source``, ``lines``,
    ``catalog_items``, ``users``, ``baskets`` (see :func:`data_facts`)."""
    audit: dict[str, Any] = field(default_factory=dict)
    """The split's leakage audit (:func:`leakage_audit`: the pandas engine's ``LeakageAudit`` fields)."""

    def summary(self) -> dict[str, Any]:
        """JSON-able summary of what Spark measured (for notebooks; a run directory's ``summary.json`` has the
        pandas engine's schema, written by :func:`write_spark_run`)."""
        return {
            "engine": "spark",
            "spark_master": self.master,
            "config_hash": self.config.hash,
            "config": self.config.to_dict(),
            "n_queries": self.n_queries,
            "cleaning": self.cleaning,
            "split": self.split,
            "leakage_audit": self.audit,
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
    customers = query_customers(prepared.queries)
    outcomes = [with_customers(o, customers) for o in outcomes]
    per_query = per_query_tables(outcomes)
    metric_cols = [f"{m}@{k}" for m in config.metrics for k in config.ks]
    sums = []
    for name, pq in per_query.items():
        s = summarize(pq, [c for c in metric_cols if c in pq], **config.bootstrap_options, ci_unit=config.ci_unit)
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
            ci_unit=config.ci_unit,
            test=config.test,  # type: ignore[arg-type]  # checked by CompareConfig.validate
        )
    emit("stage_end", "statistics", {})
    t0 = time.perf_counter()
    audit = leakage_audit(prepared.split)
    timings = {**prepared.timings, "audit": time.perf_counter() - t0, "total": time.perf_counter() - started}
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
        data=data_facts(prepared),
        audit=audit,
    )


def leakage_audit(split: SparkSplit) -> dict[str, Any]:
    """The facts of :class:`xsell_eval.split.LeakageAudit`, counted in Spark (three small jobs).

    Same definitions as the pandas engine: a test customer (item) is cold when it has no line
    in train; ``train_end``/``test_start`` are the last train and first test timestamps.
    """
    from pyspark.sql import functions as F

    from xsell_eval.columns import Columns as C

    train, test = split.train, split.test
    d = split.describe
    train_end, test_start = (d.get("train") or {}).get("end"), (d.get("test") or {}).get("start")
    has_time = train_end is not None and test_start is not None
    seen_items = train.select(C.ITEM_IDX).distinct().withColumn("_seen_item", F.lit(True))
    seen_users = train.where(F.col(C.USER_IDX) >= 0).select(C.USER_IDX).distinct().withColumn("_seen_user", F.lit(True))
    t = test.join(seen_items, C.ITEM_IDX, "left").join(seen_users, C.USER_IDX, "left")
    known = F.col(C.USER_IDX) >= 0
    cold_item = F.col("_seen_item").isNull()
    r = t.agg(
        F.countDistinct(C.BASKET_IDX).alias("baskets"),
        F.countDistinct(F.when(known, F.col(C.USER_IDX))).alias("users"),
        F.countDistinct(F.when(known & F.col("_seen_user").isNull(), F.col(C.USER_IDX))).alias("cold_users"),
        F.countDistinct(C.ITEM_IDX).alias("items"),
        F.countDistinct(F.when(cold_item, F.col(C.ITEM_IDX))).alias("cold_items"),
        F.sum(cold_item.cast("long")).alias("cold_lines"),
    ).collect()[0]
    shared = test.select(C.BASKET_IDX).distinct().join(train.select(C.BASKET_IDX).distinct(), C.BASKET_IDX).count()
    late = 0
    if has_time:
        start = pd.Timestamp(str(test_start)).to_pydatetime()
        late = train.where(F.col(C.TIMESTAMP) >= F.lit(start).cast("timestamp_ntz")).count()
    return {
        "train_end": str(train_end) if has_time else "NaT",
        "test_start": str(test_start) if has_time else "NaT",
        "train_ends_before_test": bool(has_time and pd.Timestamp(str(train_end)) < pd.Timestamp(str(test_start))),
        "test_baskets_in_train": int(shared),
        "train_lines_after_test_start": int(late),
        "test_baskets": int(r["baskets"]),
        "test_users": int(r["users"]),
        "cold_test_users": int(r["cold_users"]),
        "test_items": int(r["items"]),
        "cold_test_items": int(r["cold_items"]),
        "test_lines_on_cold_items": int(r["cold_lines"] or 0),
    }


def query_customers(queries: SparkQueries) -> pd.Series:
    """Each query's customer number (index ``query_id``), as the pandas engine numbers them.

    Customers are numbered 0, 1, ... in order of their first query (guests -1): the clusters of
    the customer bootstrap (``ci_unit = "customer"``). One query-sized column reaches the driver.
    """
    import numpy as np

    from xsell_eval.columns import Columns as C

    pdf = queries.queries.select(C.QUERY, C.USER_IDX).toPandas().sort_values(C.QUERY, kind="stable")
    user_idx = pdf[C.USER_IDX].to_numpy(dtype=np.int64)
    known = user_idx >= 0
    user = np.full(len(user_idx), -1, dtype=np.int64)
    user[known] = pd.factorize(user_idx[known])[0]
    return pd.Series(user, index=pdf[C.QUERY].to_numpy(dtype=np.int64), name="customer")


def with_customers(outcome: AdapterOutcome, customers: pd.Series) -> AdapterOutcome:
    """``outcome`` with the customer column (:data:`~xsell_eval.resampling.CLUSTER_COLUMN`) in its per-query table."""
    from dataclasses import replace

    from xsell_eval.columns import Columns as C
    from xsell_eval.resampling import CLUSTER_COLUMN

    pq = outcome.per_query
    if pq is None or CLUSTER_COLUMN in pq.columns:
        return outcome
    codes = customers.reindex(pq[C.QUERY].to_numpy()).to_numpy()
    return replace(outcome, per_query=pq.assign(**{CLUSTER_COLUMN: codes.astype("int64")}))


def data_facts(prepared: SparkPrepared) -> dict[str, Any]:
    """What the report's data card shows of a Spark run (all known on the driver already; no Spark job)."""
    d = prepared.data
    return {
        "name": d.name,
        "source": d.source,
        "lines": int(d.cleaning.rows_out),
        "catalog_items": int(d.n_items),
        "users": int(d.n_users),
        "baskets": int(d.n_baskets),
    }


def write_spark_run(
    result: SparkCompareResult, run_dir: Any, *, html: bool = False, command: str | None = None
) -> CompareResult:
    """The run directory of a Spark comparison: the pandas engine's files and report, plus two CSVs.

    :func:`xsell_eval.spark.result.compare_result` makes the report's result, which
    :func:`xsell_eval.results.write_run` writes (``config.json``, ``manifest.json``, ``context.json``,
    ``summary.json``, ``tables/``, ``metrics.parquet``, ``plots/``, ``report.md``, and ``report.html``
    when ``html``); ``estimates.csv`` and ``comparisons.csv`` are the same tables as CSV.
    Returns that result (its ``decision`` is what the CLI prints).
    """
    from pathlib import Path

    from xsell_eval.results import write_run
    from xsell_eval.spark.result import compare_result

    d = Path(run_dir)
    out = compare_result(result, command=command)
    write_run(out, d, html=html)
    result.estimates.to_csv(d / "estimates.csv", index=False)
    result.comparisons.to_csv(d / "comparisons.csv", index=False)
    return out
