"""Time the metrics and the comparison statistics on random data and print the figures.

    python benchmarks/bench_metrics.py [--queries 20000] [--items 4000] [--adapters 10]
    python benchmarks/bench_metrics.py --scale-only [--scale-queries 1000000]

First, at scale (default 1,000,000 queries, 4,000 items, top-10 lists of distinct items):
P/R/hit/NDCG/MRR@10 with ``per_query_metrics(..., metrics=[...])`` side by side with a plain
numpy reference written in this file (keys ``query × n_items + item``, ``np.isin``, cumulative
sums), checked equal; then all ten metrics at k in (5, 10, 20) and the full evaluation of one
ranking (``evaluate_ranking``: per-query metrics + the three item buckets from one hit matrix).

Then the statistics on ``--queries`` random queries (1-6 targets, Zipf-like item popularity),
random top-20 lists, k in (5, 10, 20). Timings are wall-clock on whatever else the machine is
running.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from xsell_eval.metrics import (
    aggregate_metrics,
    evaluate_ranking,
    per_query_metrics,
    per_query_metrics_by_item_bucket,
)
from xsell_eval.queries import Queries, Recommendations
from xsell_eval.stats import bootstrap_mean_ci, compare_to_baseline, summarize


def make_queries(n: int, n_items: int, rng: np.random.Generator) -> tuple[Queries, np.ndarray]:
    """Random queries with Zipf-like target popularity; returns (queries, popularity weights)."""
    w = 1.0 / np.arange(1, n_items + 1) ** 0.9
    w /= w.sum()
    n_t = rng.integers(1, 7, size=n)
    rows = np.repeat(np.arange(n), n_t)
    cols = rng.choice(n_items, size=len(rows), p=w)
    qty = rng.integers(1, 4, size=len(rows)).astype(float)
    price = rng.lognormal(1.0, 0.8, size=n_items)
    t = sp.csr_matrix((qty, (rows, cols)), shape=(n, n_items))
    t.sum_duplicates()
    tv = t.multiply(price[None, :]).tocsr()
    q = Queries(
        query_id=np.arange(n),
        user_idx=rng.integers(-1, n // 4, size=n),
        basket_idx=np.arange(n),
        timestamp=np.full(n, "NaT", dtype="datetime64[ns]"),
        context=sp.csr_matrix((n, n_items)),
        targets=t,
        target_value=tv,
        context_value=rng.lognormal(3.0, 1.0, size=n),
        user_history=rng.poisson(3.0, size=n),
    )
    return q, w


def make_recs(n: int, n_items: int, k: int, w: np.ndarray, rng: np.random.Generator, name: str) -> Recommendations:
    """Random top-k lists favouring popular items (distinct items per row)."""
    keys = rng.random((n, n_items // 4)) ** (1.0 / (w[: n_items // 4] * n_items))  # weighted sampling w/o repl.
    items = np.argsort(-keys, axis=1)[:, :k].astype(np.int64)
    return Recommendations(items=items, scores=-np.arange(k, dtype=float)[None, :].repeat(n, 0), adapter=name)


def timed(label: str, fn, repeat: int = 3):  # type: ignore[no-untyped-def]
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<62s} {best * 1000:9.1f} ms (best of {repeat})")
    return out


def distinct_recs(n: int, n_items: int, k: int, w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n × k lists of distinct items: a popularity-weighted first item, then random strides (< n_items in total)."""
    first = np.searchsorted(np.cumsum(w), rng.random(n)).clip(0, n_items - 1)
    steps = np.cumsum(rng.integers(1, max(2, n_items // (4 * k)), size=(n, k)), axis=1) - 1
    return ((first[:, None] + steps) % n_items).astype(np.int64)


def reference_top10(items: np.ndarray, targets: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Plain numpy P/R/hit/NDCG/MRR@k (k = items.shape[1]); distinct items per row assumed."""
    n, k = items.shape
    n_items = targets.shape[1]
    t_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(targets.indptr)) * n_items + targets.indices
    r_keys = np.arange(n, dtype=np.int64)[:, None] * n_items + items
    hits = np.isin(r_keys, t_keys)
    nt = np.diff(targets.indptr)
    h = hits.sum(axis=1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    idcg = np.cumsum(disc)[np.minimum(nt, k) - 1]
    first = hits.argmax(axis=1)
    return {
        f"precision@{k}": h / k,
        f"recall@{k}": h / nt,
        f"hit_rate@{k}": (h > 0).astype(float),
        f"ndcg@{k}": (hits * disc).sum(axis=1) / idcg,
        f"mrr@{k}": np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0),
    }


def scale(n: int, n_items: int, repeat: int) -> None:
    """1M-query timings of the metrics against the numpy reference."""
    rng = np.random.default_rng(1)
    q, w = make_queries(n, n_items, rng)
    t = sp.csr_matrix(q.targets)
    t.sum_duplicates()
    items = distinct_recs(n, n_items, 20, w, rng)
    recs = Recommendations(items=items, scores=-np.arange(20, dtype=float)[None, :].repeat(n, 0), adapter="x")
    pop = np.round(w / w.max() * 5000).astype(np.int64)
    kw = dict(item_popularity=pop, n_train_baskets=5000, item_category=rng.integers(-1, 40, size=n_items))
    five = ["precision", "recall", "hit_rate", "ndcg", "mrr"]
    print(f"--- scale: {n:,} queries × {n_items:,} items, {t.nnz:,} targets")
    ref = timed("plain numpy reference: P/R/hit/NDCG/MRR@10", lambda: reference_top10(items[:, :10], t), repeat)
    r10 = Recommendations(items[:, :10].copy(), recs.scores[:, :10].copy(), "x")
    got = timed(
        "per_query_metrics(metrics=P/R/hit/NDCG/MRR, ks=[10])",
        lambda: per_query_metrics(r10, q, [10], metrics=five, **kw),
        repeat,
    )
    same = all(np.allclose(got[c].to_numpy(), v, rtol=1e-12, equal_nan=True) for c, v in ref.items())
    print(f"{'  same values as the reference':<62s} {same}")
    timed("per_query_metrics: 10 metrics × k in (5, 10, 20)", lambda: per_query_metrics(recs, q, (5, 10, 20), **kw), 1)
    timed(
        "evaluate_ranking: 10 metrics × 3 ks + 3 item buckets (1 pass)",
        lambda: evaluate_ranking(recs, q, (5, 10, 20), item_buckets_of=True, **kw),
        1,
    )
    if not same:
        raise SystemExit("the metrics disagree with the reference")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale-queries", type=int, default=1_000_000)
    ap.add_argument("--scale-only", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--queries", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=4_000)
    ap.add_argument("--adapters", type=int, default=10)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    scale(args.scale_queries, args.items, args.repeat)
    if args.scale_only:
        return
    n, n_items, ks = args.queries, args.items, (5, 10, 20)
    rng = np.random.default_rng(0)
    q, w = make_queries(n, n_items, rng)
    pop = np.round(w / w.max() * 5000).astype(np.int64)
    pop[rng.random(n_items) < 0.05] = 0
    cat = rng.integers(-1, 40, size=n_items)
    recs = [make_recs(n, n_items, max(ks), w, rng, f"a{i}") for i in range(args.adapters)]
    print(f"{n:,} queries × {n_items:,} items, k in {ks}, {q.targets.nnz:,} targets, {args.adapters} adapters")

    kw = dict(item_popularity=pop, n_train_baskets=5000, item_category=cat)
    df = timed("per_query_metrics (10 metrics × 3 ks)", lambda: per_query_metrics(recs[0], q, ks, **kw))
    timed("aggregate_metrics (coverage × 3 ks)", lambda: aggregate_metrics(recs[0], q, ks, n_items))
    timed(
        "per_query_metrics_by_item_bucket (3 buckets)",
        lambda: per_query_metrics_by_item_bucket(recs[0], q, ks, item_popularity=pop),
    )

    x = df["recall@10"].to_numpy()
    timed(
        f"bootstrap_mean_ci n={n:,} B={args.resamples}",
        lambda: bootstrap_mean_ci(x, n_resamples=args.resamples, seed=0),
        3,
    )
    timed(
        f"scipy.stats.bootstrap percentile n={n:,} B={args.resamples} (reference)",
        lambda: sps.bootstrap((x,), np.mean, n_resamples=args.resamples, method="percentile", rng=0, vectorized=True),
        1,
    )
    cols = [c for c in df.columns if c != "query_id"]
    timed(f"summarize {len(cols)} metric columns", lambda: summarize(df, cols, seed=0, n_resamples=args.resamples), 1)

    per = {r.adapter: per_query_metrics(r, q, ks, **kw) for r in recs}
    metrics = ["precision@10", "recall@10", "hit_rate@10", "ndcg@10", "mrr@10", "map@10", "revenue@10", "uplift@10",
               "novelty@10", "diversity@10"]  # fmt: skip
    res = timed(
        f"compare_to_baseline {args.adapters - 1} adapters × {len(metrics)} metrics (wilcoxon)",
        lambda: compare_to_baseline(per, "a0", metrics, seed=0, n_resamples=args.resamples),
        1,
    )
    timed(
        f"compare_to_baseline {args.adapters - 1} adapters × {len(metrics)} metrics (ttest)",
        lambda: compare_to_baseline(per, "a0", metrics, seed=0, n_resamples=args.resamples, test="ttest"),
        1,
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res[["adapter", "metric", "n", "diff", "ci_low", "ci_high", "p_value", "p_holm", "mark"]].head(4))


if __name__ == "__main__":
    main()
