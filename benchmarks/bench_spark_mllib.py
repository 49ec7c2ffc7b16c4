"""Fit + recommend time of spark-als and spark-fpgrowth on a generated shop, Spark ``local[N]``.

Usage::

    python -m xsell_eval data generate --lines 3000000 --users 60000 --items 25000 --out /tmp/shop3m
    python benchmarks/bench_spark_mllib.py /tmp/shop3m [--master local[2]] [--k 10] [--max-queries N]

Stand-alone until the Spark engine lands: the shop's Parquet is read with Spark and indexed
by the digits of its ids (``U123`` -> 123, guests -1; the generator's ids; timestamps read
as long nanoseconds, see below), baskets are split
at the 80% quantile of their time, and every test basket with >= 2 items gives one query
revealing one item (chosen by a seeded hash) — the engine's own loading, split and query
construction replace this once merged. Times: ``fit`` (eager), ``recommend`` (forced with a
``noop`` write of the whole result). Memory: peak RSS (VmHWM) of the driver JVM and of the
Python driver process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shop", help="directory with interactions.parquet (xsell-eval data generate --lines ...)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--max-queries", type=int, default=None)
    ap.add_argument("--adapters", default="spark-fpgrowth,spark-als")
    args = ap.parse_args()

    root = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from xsell_eval.spark.mllib import SparkALSAdapter, SparkFPGrowthAdapter

    spark = (
        SparkSession.builder.master(args.master)
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        # the generator's Parquet stores timestamp[ns], which Spark refuses (PARQUET_TYPE_ILLEGAL)
        # unless read as long nanoseconds
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    jvm_pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())  # type: ignore[union-attr]

    def digits(col: str) -> F.Column:
        return F.regexp_extract(F.col(col), r"(\d+)", 1)

    t0 = time.perf_counter()
    raw = spark.read.parquet(str(Path(args.shop) / "interactions.parquet"))
    lines = raw.select(
        F.coalesce(digits("user_id").cast("int"), F.lit(-1)).alias("user_idx"),
        digits("item_id").cast("int").alias("item_idx"),
        digits("basket_id").cast("long").alias("basket_idx"),
        F.timestamp_micros((F.col("timestamp") / 1000).cast("long")).alias("timestamp"),
        "quantity",
        "price",
    ).cache()
    baskets = lines.groupBy("basket_idx").agg(F.min("timestamp").alias("t"))
    cut = baskets.agg(F.percentile_approx("t", 0.8)).first()[0]  # type: ignore[index]
    train = lines.join(baskets.filter(F.col("t") < F.lit(cut)), "basket_idx").drop("t").cache()
    test = lines.join(baskets.filter(F.col("t") >= F.lit(cut)), "basket_idx").drop("t")
    ranked = test.select(
        "basket_idx", "user_idx", "item_idx", F.xxhash64("basket_idx", "item_idx", F.lit(0)).alias("h")
    )
    queries = (
        ranked.groupBy("basket_idx", "user_idx")
        .agg(F.count("*").alias("n"), F.min_by("item_idx", "h").alias("reveal"))
        .filter(F.col("n") >= 2)
        .select(F.col("basket_idx").alias("query_id"), "user_idx", F.array("reveal").alias("cart"))
    )
    if args.max_queries:
        queries = queries.orderBy("query_id").limit(args.max_queries)
    queries = queries.cache()
    n_lines, n_train, n_queries = lines.count(), train.count(), queries.count()
    prep = time.perf_counter() - t0
    print(f"master {args.master}; lines {n_lines:,}; train lines {n_train:,}; queries {n_queries:,}; prep {prep:.1f} s")

    print("| adapter | fit s | recommend s | rules / factors |")
    print("|---|---:|---:|---|")
    for name in args.adapters.split(","):
        adapter = SparkALSAdapter() if name == "spark-als" else SparkFPGrowthAdapter()
        t = time.perf_counter()
        adapter.fit(train)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        adapter.recommend(queries, args.k).write.format("noop").mode("overwrite").save()
        rec_s = time.perf_counter() - t
        what = (
            f"{adapter.n_rules_:,} rules"
            if isinstance(adapter, SparkFPGrowthAdapter)
            else f"{adapter.item_factors_.shape[0]:,} items × {adapter.factors}"
        )
        print(f"| {name} | {fit_s:.1f} | {rec_s:.1f} | {what} |", flush=True)
    py_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: driver JVM {vm_hwm_mib(jvm_pid):,.0f} MiB, Python driver {py_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
