"""A fixed, hand-built comparison result for report and runs tests (no adapters, no clock)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from xsell_eval.data.dataset import Dataset
from xsell_eval.examples import Example, Examples
from xsell_eval.fairness import FairnessSummary, fairness_summary
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
        fairness=_fairness(pq),
        examples=_examples(),
    )


def _fairness(pq: dict[str, pd.DataFrame]) -> FairnessSummary:
    """The fairness summary of the fixed result: seeded lists over 24 items, 40 customers in 3 countries."""
    rng = np.random.default_rng(11)
    n_users, n = 40, len(next(iter(pq.values())))
    rows = [  # item i is in the baskets b with b % 24 >= i: a skewed popularity
        (f"b{b}", f"u{b % n_users:02d}", f"i{i:02d}", 1.0 + b % 7, 1.0) for b in range(200) for i in range(1 + b % 24)
    ]
    train = Dataset.from_frames(pd.DataFrame(rows, columns=["basket_id", "user_id", "item_id", "price", "quantity"]))
    user_idx, n_items = np.arange(n) % n_users, train.n_items
    popular = np.tile(np.argsort(-train.item_basket_count, kind="stable")[:10], (n, 1))
    recs = {
        "popular": popular,
        "cf": np.array([rng.permutation(n_items)[:10] for _ in range(n)]),
        "rules": np.where(rng.random((n, 10)) < 0.7, popular, rng.integers(0, n_items, (n, 10))),
        "random": np.array([rng.permutation(n_items)[:10] for _ in range(n)]),
    }
    country = np.array(["UK"] * 28 + ["FR"] * 8 + ["DE"] * 4, dtype=object)
    return fairness_summary(
        recs,
        pq,
        train=train,
        user_idx=user_idx,
        user_history=pq["popular"]["user_history"].to_numpy(),
        k=10,
        metrics=("hit_rate@10",),
        country=country,
    )


def _examples() -> Examples:
    """One anchor and one cart, every adapter's top 5 (titles as a catalog would give them)."""
    t = {
        "85123A": "WHITE HANGING HEART T-LIGHT HOLDER",
        "21733": "RED HANGING HEART T-LIGHT HOLDER",
        "22423": "REGENCY CAKESTAND 3 TIER",
        "47566": "PARTY BUNTING",
        "20725": "LUNCH BAG RED RETROSPOT",
        "22804": "CANDLEHOLDER PINK HANGING HEART",
        "23209": "LUNCH BAG VINTAGE DOILY",
        "22382": "LUNCH BAG SPACEBOY DESIGN",
        "84879": "ASSORTED COLOUR BIRD ORNAMENT",
        "22470": "HEART OF WICKER LARGE",
    }

    def lab(*ids: str) -> tuple[tuple[str, str], ...]:
        return tuple((i, t.get(i, "")) for i in ids)

    pop = lab("85123A", "22423", "47566", "84879", "22470")
    anchor = Example(
        kind="anchor",
        query_id=12,
        cart=lab("85123A"),
        bought=lab("21733", "20725"),
        lists={
            "popular": lab("22423", "47566", "20725", "84879", "23209"),
            "cf": lab("21733", "22804", "22470", "47566", "23209"),
            "rules": lab("21733", "47566", "22804"),
            "random": lab("22382", "84879", "X1", "22470", "22423"),
        },
        n_queries=24,
    )
    cart = Example(
        kind="cart",
        query_id=301,
        cart=lab("20725"),
        bought=lab("23209", "22382", "85123A"),
        lists={
            "popular": pop,
            "cf": lab("23209", "22382", "47566", "85123A", "22423"),
            "rules": lab("23209", "22382", "84879", "22470", "21733"),
            "random": lab("22470", "21733", "22804", "47566", "X2"),
        },
    )
    return Examples(k=5, adapters=("popular", "cf", "rules", "random"), examples=(anchor, cart))
