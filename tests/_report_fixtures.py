"""A fixed, hand-built comparison result for report and runs tests (no adapters, no clock)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from xsell_eval.pipeline import AdapterOutcome, CompareConfig, CompareResult
from xsell_eval.stats import compare_to_baseline, summarize


def _per_query(n: int = 400, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Per-query metrics of four adapters with known hit rates (common random numbers)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    value = np.round(rng.lognormal(2.0, 0.6, n), 2)
    share = rng.random(n)
    nov = rng.normal(0, 0.3, n)
    rates = {"popular": (0.20, 0.30), "cf": (0.30, 0.45), "rules": (0.29, 0.43), "random": (0.02, 0.05)}
    out = {}
    for a, (p5, p10) in rates.items():
        cols: dict[str, np.ndarray] = {"query_id": np.arange(n)}
        for k, p in ((5, p5), (10, p10)):
            hit = (u < p).astype(float)
            cols[f"hit_rate@{k}"] = hit
            cols[f"recall@{k}"] = hit * share
            cols[f"precision@{k}"] = hit / k
            cols[f"ndcg@{k}"] = hit * (0.3 + 0.5 * share)
            cols[f"revenue@{k}"] = hit * value
            cols[f"uplift@{k}"] = hit * value / 20.0
            cols[f"novelty@{k}"] = {"popular": 3.0, "cf": 5.0, "rules": 4.0, "random": 8.0}[a] + nov
            cols[f"diversity@{k}"] = np.full(n, np.nan)  # no categories: the report must say so
        cols["user_history"] = np.arange(n) % 12
        out[a] = pd.DataFrame(cols)
    return out


@functools.lru_cache(maxsize=1)
def fixed_result() -> CompareResult:
    """A small comparison built from fixed per-query values (no adapters, no clock); treat as read-only."""
    config = CompareConfig(
        adapters=("popular", "cf", "rules", "random"),
        data="shop/interactions.csv",
        ks=(5, 10),
        metrics=("precision", "recall", "hit_rate", "ndcg", "revenue", "uplift", "novelty", "diversity"),
        primary_metric="hit_rate@10",
        baseline="popular",
        seed=0,
        n_bootstrap=200,
        ci_unit="query",  # the values below are per query, without customers
        test="wilcoxon",
        name="golden",
    )
    pq = _per_query()
    metric_cols = [f"{m}@{k}" for m in config.metrics for k in config.ks]
    sums = []
    for a, df in pq.items():
        s = summarize(df, metric_cols, seed=0, n_resamples=200)
        s.insert(0, "adapter", a)
        sums.append(s)
    summary = pd.concat(sums, ignore_index=True)
    comparisons = compare_to_baseline(pq, "popular", metric_cols, seed=0, n_resamples=200)
    rows = []
    for a, df in pq.items():
        for b, sel in (("0", df["user_history"] == 0), ("1-2", df["user_history"].between(1, 2))):
            s = summarize(df[sel], ["hit_rate@10"], seed=0, n_resamples=200)
            r = s.iloc[0]
            rows.append(
                ("user history (train baskets)", b, a, "hit_rate@10", r["mean"], r["ci_low"], r["ci_high"], r["n"])
            )
    buckets = pd.DataFrame(
        rows, columns=["bucket_type", "bucket", "adapter", "metric", "mean", "ci_low", "ci_high", "n"]
    )
    aggregates = pd.DataFrame(
        [
            (a, f"coverage@{k}", c * k / 10)
            for a, c in (("popular", 0.01), ("cf", 0.6), ("rules", 0.3), ("random", 1.0))
            for k in (5, 10)
        ],
        columns=["adapter", "metric", "value"],
    )
    adapters = [
        {
            "name": a,
            "spec": a,
            "status": "ok",
            "family": "baseline" if a in ("popular", "random") else "x",
            "params": {"k": 10} if a == "cf" else {},
            "error": "",
            "fit_seconds": 0.5,
            "recommend_seconds": 0.25,
            "evaluate_seconds": 0.1,
            "fallback_share": 0.125 if a == "rules" else None,
            "aggregates": {},
        }
        for a in config.adapters
    ]
    adapters.append(
        {
            "name": "lightfm",
            "spec": "lightfm",
            "status": "failed",
            "family": "",
            "params": {},
            "error": "MissingExtraError: pip install xsell-eval[lightfm]",
            "fit_seconds": None,
            "recommend_seconds": None,
            "evaluate_seconds": None,
            "fallback_share": None,
            "aggregates": {},
        }
    )
    per_query_frame = pd.concat([df.assign(adapter=a) for a, df in pq.items()], ignore_index=True)
    return CompareResult(
        config=config,
        manifest={
            "format_version": 1,
            "dataset": {"name": "golden-shop", "fingerprint": "0123456789abcdef", "source": "shop/interactions.csv"},
            "git_revision": "0000000",
            "packages": {"numpy": "x", "xsell-eval": "0.1.0"},
            "timings_seconds": {"total": 1.0},
        },
        data_card={"loader": "online-retail", "name": "golden-shop"},
        data_card_md="### Data: golden-shop\n\n| statistic | value |\n|---|---|\n| lines | 1,000 |\n",
        split={
            "kind": "temporal",
            "leakage": "none: every training line precedes every test line (global time cutoff)",
            "train": {"baskets": 1600, "start": "2024-01-01", "end": "2024-03-01"},
            "test": {"baskets": 400, "start": "2024-03-02", "end": "2024-04-01"},
            "validation": {"baskets": 160, "start": "2024-02-20", "end": "2024-03-01"},
        },
        audit={
            "train_ends_before_test": True,
            "train_lines_after_test_start": 0,
            "test_baskets_in_train": 0,
            "test_users": 90,
            "cold_test_users": 12,
            "test_items": 80,
            "cold_test_items": 5,
            "test_lines_on_cold_items": 9,
        },
        n_queries=400,
        estimates=summary,
        comparisons=comparisons,
        buckets=buckets,
        aggregates=aggregates,
        adapters=tuple(AdapterOutcome.from_dict(a) for a in adapters),
        per_query_frame=per_query_frame,
    )
