"""The statistics stage at scale gives bit-identical numbers to the code it replaced.

``tests/_legacy_stats.py`` is a reference copy of the statistics before the scale work; every
CI, p-value, Holm column and bucket table here must equal it exactly (``assert_array_equal``):
the same RNG streams, the same products, only less redrawing, sorting and copying.
"""

from __future__ import annotations

from types import SimpleNamespace

import _legacy_stats as legacy
import numpy as np
import pandas as pd
import pytest

from xsell_eval import pipeline
from xsell_eval.resampling import (
    _dense_ranks,
    cluster_codes,
    resampled_columns,
    resampled_columns_many,
    resampled_means,
)
from xsell_eval.stats import (
    PAIRED_FIELDS,
    bootstrap_mean_ci,
    compare_to_baseline,
    paired_comparison,
    summarize,
    summarize_many,
)

METRICS = ["hit_rate@5", "recall@5", "ndcg@5", "revenue@5", "hit_rate@10"]
OPTS = {"seed": 3, "n_resamples": 300, "confidence": 0.9}


def _customers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Customer numbers of n queries: cluster sizes from 1 to ~40 (geometric), 15% guests (-1), shuffled."""
    sizes = np.minimum(rng.geometric(0.15, size=n), 40)
    ids = np.repeat(np.arange(len(sizes)), sizes)[:n]
    ids = rng.permutation(ids)
    ids[rng.random(n) < 0.15] = -1
    return ids


def _tables(seed: int = 0, n: int = 4000) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    customer = _customers(rng, n)
    out = {}
    for a, p in (("popular", 0.2), ("cf", 0.3), ("rules", 0.25)):
        hit5 = (rng.random(n) < p).astype(float)
        df = pd.DataFrame(
            {
                "query_id": np.arange(n) * 3 + 7,
                "hit_rate@5": hit5,
                "recall@5": hit5 * rng.random(n),
                "ndcg@5": hit5 * rng.random(n) * 0.8,
                "revenue@5": np.where(rng.random(n) < 0.05, np.nan, hit5 * rng.gamma(2.0, 10.0, n)),
                "hit_rate@10": np.maximum(hit5, (rng.random(n) < p / 2).astype(float)),
                "user_history": rng.integers(0, 15, n),
                "customer": customer,
            }
        )
        out[a] = df
    out["cf"]["recall@5"] = out["popular"]["recall@5"]  # identical columns are resampled once
    # rules: a shuffled subset of the queries (the join path) with an all-NaN-in-places column
    out["rules"] = out["rules"].sample(frac=0.9, random_state=1).reset_index(drop=True)
    return out


@pytest.mark.parametrize("ci_unit", ["customer", "query"])
def test_summaries_and_comparisons_equal_the_old_code_bit_for_bit(ci_unit: str) -> None:
    tables = _tables()
    many = summarize_many([(df, METRICS) for df in tables.values()], **OPTS, ci_unit=ci_unit)
    for df, got in zip(tables.values(), many, strict=True):
        old = legacy.summarize(df, METRICS, **OPTS, ci_unit=ci_unit)
        pd.testing.assert_frame_equal(got, old, check_exact=True)
        pd.testing.assert_frame_equal(summarize(df, METRICS, **OPTS, ci_unit=ci_unit), old, check_exact=True)
        assert np.isfinite(old["ci_low"]).all()  # the comparison is not between NaNs
    for test in ("bootstrap", "wilcoxon", "ttest"):
        new = compare_to_baseline(tables, "popular", METRICS, **OPTS, test=test, ci_unit=ci_unit)  # type: ignore[arg-type]
        old = legacy.compare_to_baseline(tables, "popular", METRICS, **OPTS, test=test, ci_unit=ci_unit)
        pd.testing.assert_frame_equal(new, old, check_exact=True)
        assert set(new["n_joined"]) == {4000, 3600}  # the aligned (identity) and the joined path both ran
        assert new["p_value"].notna().all()


def test_paired_and_single_cis_equal_the_old_code() -> None:
    t = _tables(seed=4)
    a, b, cust = t["cf"]["revenue@5"].to_numpy(), t["popular"]["revenue@5"].to_numpy(), t["cf"]["customer"].to_numpy()
    for clusters in (cust, None, cust.astype(float)):
        for test in ("bootstrap", "wilcoxon"):
            new = paired_comparison(a, b, **OPTS, test=test, clusters=clusters)  # type: ignore[arg-type]
            old = legacy.paired_comparison(a, b, **OPTS, test=test, clusters=clusters)
            assert new.test == old.test == test
            nums = [f for f in PAIRED_FIELDS if f != "test"]
            np.testing.assert_array_equal(
                np.array([getattr(new, f) for f in nums], dtype=float),
                np.array([getattr(old, f) for f in nums], dtype=float),
            )
        new_ci = bootstrap_mean_ci(a, **OPTS, clusters=clusters)
        old_mean, old_low, old_high, old_n = legacy._mean_cis(
            a[:, None], **OPTS, codes=None if clusters is None else legacy.cluster_codes(clusters)
        )
        np.testing.assert_array_equal(
            np.array(new_ci, dtype=float), np.array([old_mean[0], old_low[0], old_high[0], old_n[0]], dtype=float)
        )


def test_bucket_tables_equal_the_old_loop() -> None:
    tables = _tables(seed=2)
    rng = np.random.default_rng(9)

    def items(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
        cols = ["query_id", "hit_rate@5", "recall@5", "ndcg@5", "customer"]
        return {b: df.loc[rng.random(len(df)) < share, cols] for b, share in (("unseen", 0.1), ("tail", 0.9))}

    outcomes = [
        SimpleNamespace(status="ok", name=a, per_query=df, per_query_items=items(df)) for a, df in tables.items()
    ]
    config = SimpleNamespace(primary_metric="hit_rate@5", bootstrap_options=OPTS, ci_unit="customer")
    new = pipeline._bucket_tables(outcomes, config)  # type: ignore[arg-type]
    rows = []
    from xsell_eval.metrics import user_bucket

    cols = ["hit_rate@5", "recall@5", "ndcg@5", "revenue@5"]
    for o in outcomes:
        ub = user_bucket(o.per_query["user_history"].to_numpy())
        parts = [("user history (train baskets)", b, o.per_query[ub == b]) for b in pipeline.USER_BUCKETS]
        parts += [("target item popularity", b, df) for b, df in o.per_query_items.items()]
        for kind, b, df in parts:
            s = legacy.summarize(df, [c for c in cols if c in df], **OPTS, ci_unit="customer")
            rows.extend((kind, b, o.name, r.metric, r.mean, r.ci_low, r.ci_high, r.n) for r in s.itertuples())
    old = pd.DataFrame(rows, columns=new.columns)
    assert len(new) == 3 * (4 * 4 + 2 * 3)
    pd.testing.assert_frame_equal(new, old, check_exact=True)


def test_resampling_core_equals_the_old_code() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    cust = _customers(rng, n)
    x = rng.random((n, 3))
    x[:, 2] = x[:, 0]
    codes = cluster_codes(cust)
    np.testing.assert_array_equal(codes, legacy.cluster_codes(cust))
    sparse_ids = cust * 10_000_019  # a wide id range: the sorting fallback
    np.testing.assert_array_equal(cluster_codes(sparse_ids), legacy.cluster_codes(sparse_ids))
    for u in (np.array([5, 5, -3, 9, 2**40]), rng.integers(-50, 50, 500), np.zeros(0, dtype=np.int64)):
        np.testing.assert_array_equal(_dense_ranks(u), np.unique(u, return_inverse=True)[1].ravel())
    for cc in (None, codes):
        np.testing.assert_array_equal(resampled_means(x, cc, 250, 5), legacy.resampled_means(x, cc, 250, 5))
        np.testing.assert_array_equal(
            resampled_means(x[:, :1], cc, 250, 5), legacy.resampled_means(x[:, :1], cc, 250, 5)
        )
    cols = [x[:, 0], x[:, 1], x[:, 2], x[: n // 2, 1]]
    ccs = [codes, codes, codes, codes[: n // 2] + 7]  # codes of any integers; a subset over other units
    one = resampled_columns(cols, 200, 11, ccs)
    np.testing.assert_array_equal(one, legacy.resampled_columns(cols, 200, 11, ccs))
    np.testing.assert_array_equal(one[:, 0], one[:, 2])  # identical columns get identical replicates
    both = resampled_columns_many([(cols, ccs), (cols[:2], None)], 200, 11)
    np.testing.assert_array_equal(both[0], one)
    np.testing.assert_array_equal(both[1], legacy.resampled_columns(cols[:2], 200, 11, None))
    tiny = resampled_columns([np.array([1.0]), np.array([1.0, 2.0])], 50, 0, [np.array([4]), np.array([4, 4])])
    assert np.isnan(tiny).all()  # fewer than 2 units: no spread, NaN (as before)


def test_shared_draws_reuse_the_counts_and_change_no_number(monkeypatch: pytest.MonkeyPatch) -> None:
    from xsell_eval import resampling

    tables = _tables(seed=5)
    calls: list[int] = []
    real = resampling.count_chunks

    def counting(n: int, n_resamples: int, seed: int | None):  # type: ignore[no-untyped-def]
        calls.append(n)
        return real(n, n_resamples, seed)

    monkeypatch.setattr(resampling, "count_chunks", counting)
    plain = [summarize(df, METRICS, **OPTS, ci_unit="customer") for df in tables.values()]
    comp = compare_to_baseline(tables, "popular", METRICS, **OPTS, test="bootstrap", ci_unit="customer")
    plain_calls = list(calls)
    assert len(set(plain_calls)) < len(plain_calls)  # the same units are drawn again and again without the store
    calls.clear()
    with resampling.shared_draws():
        shared = [summarize(df, METRICS, **OPTS, ci_unit="customer") for df in tables.values()]
        comp2 = compare_to_baseline(tables, "popular", METRICS, **OPTS, test="bootstrap", ci_unit="customer")
        assert sorted(calls) == sorted(set(plain_calls))  # with it, each number of units is drawn once
        calls.clear()
        other_seed = summarize(tables["cf"], METRICS, **{**OPTS, "seed": 4}, ci_unit="customer")
        unseeded = summarize(tables["cf"], METRICS, **{**OPTS, "seed": None}, ci_unit="customer")
        assert len(calls) == 4  # another seed, and no seed, draw afresh (cf: the full and the revenue units)
    for a, b in zip(plain, shared, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(comp, comp2, check_exact=True)
    pd.testing.assert_frame_equal(
        other_seed, legacy.summarize(tables["cf"], METRICS, **{**OPTS, "seed": 4}, ci_unit="customer"), check_exact=True
    )
    assert not unseeded["ci_low"].equals(shared[1]["ci_low"])  # fresh entropy is never served from the store
    with resampling.shared_draws(max_bytes=10):  # nothing fits: every pass draws, same numbers
        tight = summarize(tables["cf"], METRICS, **OPTS, ci_unit="customer")
    pd.testing.assert_frame_equal(tight, plain[1], check_exact=True)


def test_a_compare_run_gives_the_old_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the summaries, comparisons and decision of a run equal the old code's (the store changes nothing)."""
    from xsell_eval.decision import decide
    from xsell_eval.pipeline import CompareConfig, run_compare
    from xsell_eval.testing import toy_dataset

    config = CompareConfig(adapters=("random", "cf"), ks=(5, 10), n_bootstrap=200, ci_unit="customer", test="bootstrap")
    result = run_compare(config, dataset=toy_dataset())
    pq = result.per_query_frame
    per_query = {a: pq[pq["adapter"] == a].drop(columns="adapter").reset_index(drop=True) for a in result.adapter_names}
    cfg = result.config
    metric_cols = [f"{m}@{k}" for m in cfg.metrics for k in cfg.ks]
    opts = cfg.bootstrap_options
    for a, df in per_query.items():
        got = result.estimates[result.estimates["adapter"] == a].drop(columns="adapter").reset_index(drop=True)
        old = legacy.summarize(df, [c for c in metric_cols if c in df], **opts, ci_unit="customer")
        pd.testing.assert_frame_equal(got, old, check_exact=True)
    old = legacy.compare_to_baseline(
        per_query, cfg.baseline, metric_cols, alpha=cfg.alpha, **opts, test="bootstrap", ci_unit="customer"
    )
    pd.testing.assert_frame_equal(result.comparisons, old, check_exact=True)
    assert result.decision is not None and result.decision.runner_up is not None
    assert result.decision.runner_up.paired is not None  # the decision ran a paired test
    assert result.decision.to_dict() == decide(result).to_dict()  # without the store: the same decision
    import xsell_eval.stats

    monkeypatch.setattr(xsell_eval.stats, "paired_comparison", legacy.paired_comparison)
    assert result.decision.to_dict() == decide(result).to_dict()  # with the old paired test: the same decision
