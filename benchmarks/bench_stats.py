"""The statistics stage alone: time and peak memory of each part, on a run directory or a synthetic table.

Usage::

    python benchmarks/bench_stats.py --run /tmp/prof/ladder/run-30M      # a compare run's metrics.parquet
    python benchmarks/bench_stats.py --queries 576000 --customers 200000  # seeded synthetic per-query table
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_stats.py --run DIR --code ""   # other code

It calls what :func:`xsell_eval.pipeline.assemble` and the decision call, with the run's settings
(``n_bootstrap``, ``confidence``, ``seed``, ``ci_unit``, ``test``, metrics, ks): the per-adapter
summaries, :func:`~xsell_eval.stats.compare_to_baseline`, the bucket tables
(``pipeline._bucket_tables``) and two paired comparisons on the primary metric (the decision's
runner-up test and a head-to-head row). A run directory does not keep the per-item-bucket tables, so
their three buckets ("unseen", "tail", "head") are seeded random subsets of 11%, 93% and 92% of the
queries (the shares of the 30M ladder run) with hit_rate/recall/ndcg at the primary k.

Each part is timed (wall and CPU seconds of the process: on a shared machine the CPU time is the
steadier figure) and its peak resident memory is ``VmHWM`` after resetting it at the part's start
(``/proc/self/clear_refs``, Linux); "above start" is that peak minus the resident memory at the start.
Figures only, no assertions. ``--code`` (default: the checkout this script sits in) is put first on
``sys.path``; ``--code ""`` keeps ``PYTHONPATH``, to time another checkout (code without
``summarize_many`` is run one ``summarize`` per adapter and bucket, as it did).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def synthetic(n_queries: int, n_customers: int, adapters: int, seed: int) -> Any:
    """A per-query table of ``adapters`` adapters over the same queries: binary hits, graded metrics, revenue.

    Customers get Zipf-like numbers of queries (every customer at least one), 15% of the queries are
    guests (-1); 3% of the revenue values are NaN (unknown price).
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_customers + 1) ** 0.6
    customer = np.concatenate(
        [np.arange(n_customers), rng.choice(n_customers, n_queries - n_customers, p=weights / weights.sum())]
    )
    customer = rng.permutation(customer)[:n_queries]
    customer[rng.random(n_queries) < 0.15] = -1
    frames = []
    for a in range(adapters):
        base = rng.random(n_queries) < 0.2 + 0.1 * a
        cols: dict[str, Any] = {"query_id": np.arange(n_queries), "customer": customer}
        cols["user_history"] = rng.integers(0, 20, n_queries)
        for k in (5, 10, 20):
            hit = (base | (rng.random(n_queries) < 0.02 * k)).astype(float)
            cols[f"hit_rate@{k}"] = hit
            cols[f"recall@{k}"] = hit * rng.random(n_queries)
            cols[f"precision@{k}"] = hit / k
            cols[f"ndcg@{k}"] = hit * rng.random(n_queries) * 0.9
            cols[f"mrr@{k}"] = hit * rng.random(n_queries)
            rev = hit * rng.gamma(2.0, 15.0, n_queries)
            rev[rng.random(n_queries) < 0.03] = np.nan
            cols[f"revenue@{k}"] = rev
        frames.append(pd.DataFrame(cols).assign(adapter=["popular", "cf", "rules", "content"][a % 4] + "_" * (a // 4)))
    config = {
        "seed": 0,
        "n_bootstrap": 1000,
        "confidence": 0.95,
        "ci_unit": "customer",
        "test": "bootstrap",
        "alpha": 0.05,
        "baseline": "popular",
        "primary_metric": "hit_rate@10",
        "metrics": ["precision", "recall", "hit_rate", "ndcg", "mrr", "revenue"],
        "ks": [5, 10, 20],
    }
    return pd.concat(frames, ignore_index=True), config


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a compare run directory (metrics.parquet + config.json)")
    ap.add_argument("--queries", type=int, default=200_000, help="synthetic: test queries")
    ap.add_argument("--customers", type=int, default=60_000, help="synthetic: customers")
    ap.add_argument("--adapters", type=int, default=3, help="synthetic: adapters (the first is the baseline)")
    ap.add_argument("--n-resamples", type=int, default=None, help="override the run's n_bootstrap")
    ap.add_argument("--code", default=str(HERE), help="checkout to import xsell_eval from ('' = PYTHONPATH)")
    args = ap.parse_args(argv)
    if args.code:
        sys.path.insert(0, args.code)
    import numpy as np
    import pandas as pd

    import xsell_eval
    from xsell_eval import pipeline, stats

    t0 = time.perf_counter()
    if args.run:
        pq = pd.read_parquet(Path(args.run) / "metrics.parquet")
        cfg = json.loads((Path(args.run) / "config.json").read_text())
        source = f"run {args.run}"
    else:
        pq, cfg = synthetic(args.queries, args.customers, args.adapters, seed=0)
        source = f"synthetic {args.queries:,} queries / {args.customers:,} customers / {args.adapters} adapters"
    per_query = {a: d.drop(columns=["adapter"]).reset_index(drop=True) for a, d in pq.groupby("adapter", sort=False)}
    del pq
    if cfg["baseline"] in per_query:  # the baseline first, as a run lists it
        per_query = {cfg["baseline"]: per_query.pop(cfg["baseline"]), **per_query}
    load_s = time.perf_counter() - t0
    opts = {"seed": cfg["seed"], "n_resamples": args.n_resamples or cfg["n_bootstrap"], "confidence": cfg["confidence"]}
    ci_unit, test, prim = cfg["ci_unit"], cfg["test"], cfg["primary_metric"]
    metric_cols = [f"{m}@{k}" for m in cfg["metrics"] for k in cfg["ks"]]
    k = prim.split("@")[1]
    rng = np.random.default_rng(1)
    item_cols = ["query_id", f"hit_rate@{k}", f"recall@{k}", f"ndcg@{k}", "customer"]
    n_rows = len(next(iter(per_query.values())))
    buckets = {b: rng.random(n_rows) < share for b, share in (("unseen", 0.11), ("tail", 0.93), ("head", 0.92))}
    outcomes = [  # the same queries in a bucket for every adapter (a bucket is a property of the targets)
        SimpleNamespace(
            status="ok", name=a, per_query=d, per_query_items={b: d.loc[m, item_cols] for b, m in buckets.items()}
        )
        for a, d in per_query.items()
    ]
    config = SimpleNamespace(primary_metric=prim, bootstrap_options=opts, ci_unit=ci_unit)
    names = list(per_query)
    a, b = (names[1], names[0]) if len(names) > 1 else (names[0], names[0])

    def summaries() -> None:
        tables = [(d, [c for c in metric_cols if c in d]) for d in per_query.values()]
        if hasattr(stats, "summarize_many"):
            stats.summarize_many(tables, **opts, ci_unit=ci_unit)
        else:
            for d, cols in tables:
                stats.summarize(d, cols, **opts, ci_unit=ci_unit)

    def paired() -> None:
        x, y = per_query[a], per_query[b]
        j = x[["query_id", "customer", prim]].merge(y[["query_id", prim]], on="query_id", suffixes=("_a", "_b"))
        stats.paired_comparison(
            j[f"{prim}_a"].to_numpy(dtype=float),
            j[f"{prim}_b"].to_numpy(dtype=float),
            **opts,
            test=test,
            clusters=j["customer"].to_numpy() if ci_unit == "customer" else None,
        )

    parts = {
        "summaries (every adapter × metric × k)": summaries,
        "compare_to_baseline (paired + Holm)": lambda: stats.compare_to_baseline(
            per_query, cfg["baseline"], metric_cols, alpha=cfg["alpha"], **opts, ci_unit=ci_unit, test=test
        ),
        "bucket tables (_bucket_tables)": lambda: pipeline._bucket_tables(outcomes, config),
        f"paired_comparison {a} vs {b} on {prim} (×2: decision, head-to-head)": lambda: (paired(), paired()),
    }
    n = len(next(iter(per_query.values())))
    customers = int(per_query[names[0]]["customer"].max()) + 1
    print(f"xsell_eval from {Path(xsell_eval.__file__).parent.parent}")
    print(
        f"{source}: {len(per_query)} adapters × {n:,} queries, {customers:,} customers; "
        f"{opts['n_resamples']} resamples, ci_unit={ci_unit}, test={test}"
    )
    print(f"load average {os.getloadavg()[0]:.2f}; table read in {load_s:.1f} s, RSS {_status_mib('VmRSS'):,.0f} MiB")
    print("| part | wall s | CPU s | peak MiB | above start MiB |\n|---|---:|---:|---:|---:|")
    total = cpu_total = 0.0
    draws = getattr(__import__("xsell_eval.resampling").resampling, "shared_draws", contextlib.nullcontext)
    stack = contextlib.ExitStack()
    stack.enter_context(draws())  # as assemble runs the statistics and the decision (when the code has it)
    for label, fn in parts.items():
        start = _status_mib("VmRSS")
        _reset_peak()
        t, c = time.perf_counter(), time.process_time()
        fn()
        s, cpu = time.perf_counter() - t, time.process_time() - c
        total += s
        cpu_total += cpu
        peak = _status_mib("VmHWM")
        print(f"| {label} | {s:.1f} | {cpu:.1f} | {peak:,.0f} | {peak - start:,.0f} |", flush=True)
    print(f"| total | {total:.1f} | {cpu_total:.1f} | | |")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
