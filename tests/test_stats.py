"""Comparison statistics against scipy, statsmodels and naive references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from xsell_eval.errors import ConfigError, DataError, UnknownNameError
from xsell_eval.stats import (
    PAIRED_FIELDS,
    bootstrap_mean_ci,
    compare_to_baseline,
    holm,
    paired_comparison,
    summarize,
)


def scipy_bootstrap(data: tuple[np.ndarray, ...], statistic, seed: int, n_resamples: int, paired: bool = False):  # type: ignore[no-untyped-def]
    kw = dict(n_resamples=n_resamples, method="percentile", vectorized=True, paired=paired)
    try:
        return sps.bootstrap(data, statistic, rng=np.random.default_rng(seed), **kw)
    except TypeError:  # scipy < 1.15
        return sps.bootstrap(data, statistic, random_state=np.random.default_rng(seed), **kw)


# --------------------------------------------------------------------------- bootstrap_mean_ci
def test_bootstrap_ci_agrees_with_scipy_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(0)
    x = rng.exponential(2.0, size=400)
    ours = bootstrap_mean_ci(x, n_resamples=4000, seed=1)
    ref = scipy_bootstrap((x,), np.mean, seed=2, n_resamples=4000)
    se = x.std(ddof=1) / np.sqrt(len(x))  # standard error of the mean ~ spread of the bootstrap distribution
    assert ours.mean == pytest.approx(x.mean())
    assert ours.n == 400
    # Monte-Carlo error of a 2.5% percentile with 4000 resamples is ~0.05 SE; allow 0.2 SE
    assert abs(ours.low - ref.confidence_interval.low) < 0.2 * se
    assert abs(ours.high - ref.confidence_interval.high) < 0.2 * se
    # and both agree with the normal approximation to within a skewness-sized margin
    assert abs((ours.high - ours.low) - 2 * 1.96 * se) < 0.15 * 2 * 1.96 * se


def test_bootstrap_ci_drops_nan_and_is_seeded() -> None:
    x = np.array([1.0, np.nan, 0.0, 1.0, np.inf, 1.0])
    r = bootstrap_mean_ci(x, seed=3)
    assert r.n == 4 and r.mean == 0.75
    assert 0.0 <= r.low <= r.mean <= r.high <= 1.0
    assert bootstrap_mean_ci(x, seed=3) == r
    assert bootstrap_mean_ci(np.arange(50.0), seed=4) != bootstrap_mean_ci(np.arange(50.0), seed=5)
    empty = bootstrap_mean_ci([np.nan], seed=0)
    assert empty.n == 0 and np.isnan(empty.mean) and np.isnan(empty.low)
    one = bootstrap_mean_ci([2.0], seed=0)
    assert one.mean == 2.0 and np.isnan(one.low) and np.isnan(one.high)


def test_bootstrap_large_n_uses_chunks_and_matches_small_confidence() -> None:
    x = np.random.default_rng(1).random(30_000)  # > 2**21 / 30000 resamples per chunk -> several chunks
    r = bootstrap_mean_ci(x, n_resamples=200, seed=0)
    se = x.std() / np.sqrt(len(x))
    assert r.low < r.mean < r.high
    assert abs((r.high - r.low) / (2 * 1.96 * se) - 1) < 0.25
    r90 = bootstrap_mean_ci(x, n_resamples=200, seed=0, confidence=0.9)
    assert r.low <= r90.low and r90.high <= r.high


def test_bootstrap_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_mean_ci([1.0, 2.0], seed=0, confidence=1.5)
    with pytest.raises(ConfigError, match="n_resamples"):
        bootstrap_mean_ci([1.0, 2.0], seed=0, n_resamples=0)


# --------------------------------------------------------------------------- paired
def _naive_paired(a: np.ndarray, b: np.ndarray, seed: int, n_resamples: int, confidence: float):  # type: ignore[no-untyped-def]
    """Loop reference with the same draws as the implementation (one chunk of int32 indices)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_resamples, len(a)), dtype=np.int32)
    diffs = np.array([a[i].mean() - b[i].mean() for i in idx])
    rels = np.array([(a[i].mean() - b[i].mean()) / b[i].mean() for i in idx])
    q = [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2]
    return np.percentile(diffs, q), np.percentile(rels, q)


def test_paired_ci_matches_naive_loop_and_scipy() -> None:
    rng = np.random.default_rng(7)
    b = rng.random(80) + 0.5
    a = b + rng.normal(0.1, 0.3, size=80)
    res = paired_comparison(a, b, seed=11, n_resamples=500)
    (lo, hi), (rlo, rhi) = _naive_paired(a, b, 11, 500, 0.95)
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi), rel=1e-9)
    assert (res.rel_ci_low, res.rel_ci_high) == pytest.approx((rlo, rhi), rel=1e-9)
    assert res.diff == pytest.approx(a.mean() - b.mean())
    assert res.rel_diff == pytest.approx((a.mean() - b.mean()) / b.mean())
    # an independent implementation of the paired bootstrap, within Monte-Carlo error
    ref = scipy_bootstrap(
        (a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), seed=0, n_resamples=4000, paired=True
    )
    big = paired_comparison(a, b, seed=1, n_resamples=4000)
    se = (a - b).std(ddof=1) / np.sqrt(len(a))
    assert abs(big.ci_low - ref.confidence_interval.low) < 0.2 * se
    assert abs(big.ci_high - ref.confidence_interval.high) < 0.2 * se


def test_paired_p_values_match_scipy() -> None:
    rng = np.random.default_rng(3)
    a = (rng.random(500) < 0.3).astype(float) * rng.integers(1, 4, 500)
    b = (rng.random(500) < 0.25).astype(float) * rng.integers(1, 4, 500)
    w = paired_comparison(a, b, seed=0, n_resamples=10)
    assert w.p_value == pytest.approx(sps.wilcoxon(a - b, zero_method="pratt").pvalue, rel=1e-12)
    t = paired_comparison(a, b, seed=0, n_resamples=10, test="ttest")
    assert t.p_value == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
    assert w.test == "wilcoxon" and t.test == "ttest"


def test_paired_counts_nan_and_degenerate_cases() -> None:
    a = np.array([1.0, 0.0, 0.5, np.nan, 1.0, 0.0])
    b = np.array([0.0, 0.0, 1.0, 1.0, 1.0, np.nan])
    r = paired_comparison(a, b, seed=0, n_resamples=100)
    # pairs kept: (1,0) win, (0,0) tie, (0.5,1) loss, (1,1) tie
    assert (r.n, r.wins, r.ties, r.losses) == (4, 1, 2, 1)
    assert r.mean_a == pytest.approx(2.5 / 4) and r.mean_b == pytest.approx(0.5)
    same = paired_comparison([1.0, 0.0, 1.0], [1.0, 0.0, 1.0], seed=0)
    assert same.p_value == 1.0 and same.diff == 0.0 and same.ci_low == 0.0 == same.ci_high
    zero_base = paired_comparison([1.0, 0.0, 1.0], [0.0, 0.0, 0.0], seed=0)
    assert np.isnan(zero_base.rel_diff) and np.isnan(zero_base.rel_ci_low)
    with pytest.raises(DataError, match="same length"):
        paired_comparison([1.0], [1.0, 2.0], seed=0)
    with pytest.raises(ConfigError, match="test"):
        paired_comparison([1.0], [1.0], seed=0, test="mannwhitney")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- holm
def test_holm_matches_statsmodels_and_hand_values() -> None:
    # sorted p: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    p = np.random.default_rng(0).random(12) ** 3
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    out = holm([0.01, np.nan, 0.02])
    assert np.isnan(out[1]) and out[[0, 2]].tolist() == pytest.approx([0.02, 0.02])
    assert holm([]).shape == (0,)


# --------------------------------------------------------------------------- tables
def _per_query_tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(5)
    n = 400
    base_hit = (rng.random(n) < 0.2).astype(float)
    good_hit = np.maximum(base_hit, (rng.random(n) < 0.2).astype(float))
    bad_hit = base_hit * (rng.random(n) < 0.3)
    ndcg = base_hit * rng.random(n)
    rev = np.where(rng.random(n) < 0.1, np.nan, base_hit * 10)

    def table(ids: np.ndarray, hit: np.ndarray, nd: np.ndarray, rv: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"query_id": ids, "hit_rate@5": hit, "ndcg@5": nd, "revenue@5": rv})

    ids = np.arange(n)
    return {
        "popular": table(ids, base_hit, ndcg, rev),
        "good": table(ids, good_hit, np.maximum(ndcg, good_hit * 0.5), rev + good_hit).iloc[::-1],  # shuffled order
        "bad": table(ids, bad_hit, ndcg * bad_hit, rev * bad_hit),
        "same": table(ids, base_hit, ndcg, rev).iloc[50:],  # 350 queries in common
    }


def test_compare_to_baseline_rows_marks_and_holm() -> None:
    tables = _per_query_tables()
    metrics = ["hit_rate@5", "ndcg@5", "revenue@5"]
    out = compare_to_baseline(tables, "popular", metrics, seed=0, n_resamples=300)
    assert list(out.columns[:3]) == ["adapter", "metric", "n_joined"]
    assert set(PAIRED_FIELDS) <= set(out.columns) and {"p_holm", "significant", "mark"} <= set(out.columns)
    assert len(out) == 3 * 3
    np.testing.assert_allclose(out["p_holm"], holm(out["p_value"].to_numpy()))
    by = out.set_index(["adapter", "metric"])
    assert by.loc[("good", "hit_rate@5"), "mark"] == "▲"
    assert by.loc[("bad", "hit_rate@5"), "mark"] == "▼"
    assert by.loc[("same", "ndcg@5"), "mark"] == "" and by.loc[("same", "ndcg@5"), "p_value"] == 1.0
    assert by.loc[("same", "hit_rate@5"), "n_joined"] == 350 and by.loc[("good", "hit_rate@5"), "n_joined"] == 400
    assert by.loc[("good", "revenue@5"), "n"] < 400  # NaN revenues dropped pairwise
    # every row equals paired_comparison on the joined arrays (same seed -> same draws)
    base = tables["popular"].set_index("query_id")
    for (adapter, metric), row in by.iterrows():
        other = tables[adapter].set_index("query_id")
        ids = base.index.intersection(other.index, sort=False)
        ids = base.index[base.index.isin(ids)]  # the merge keeps the baseline's order
        ref = paired_comparison(other.loc[ids, metric], base.loc[ids, metric], seed=0, n_resamples=300)
        for f in ("n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "rel_diff", "p_value", "wins", "losses"):
            assert row[f] == pytest.approx(getattr(ref, f), rel=1e-9, nan_ok=True), (adapter, metric, f)


def test_compare_to_baseline_errors() -> None:
    tables = _per_query_tables()
    with pytest.raises(UnknownNameError, match="Did you mean 'popular'"):
        compare_to_baseline(tables, "populr", ["hit_rate@5"], seed=0)
    with pytest.raises(ConfigError, match="no column 'recall@5'"):
        compare_to_baseline(tables, "popular", ["recall@5"], seed=0)
    with pytest.raises(UnknownNameError, match="unknown metric"):
        compare_to_baseline(tables, "popular", ["hitrate@5"], seed=0)
    dup = {**tables, "dup": pd.concat([tables["popular"], tables["popular"]])}
    with pytest.raises(DataError, match="duplicated query_id"):
        compare_to_baseline(dup, "popular", ["hit_rate@5"], seed=0)


def test_summarize_equals_bootstrap_mean_ci_per_column() -> None:
    df = _per_query_tables()["popular"]
    s = summarize(df, ["hit_rate@5", "ndcg@5", "revenue@5"], seed=9, n_resamples=400)
    assert s["metric"].tolist() == ["hit_rate@5", "ndcg@5", "revenue@5"]
    for row in s.itertuples(index=False):
        ref = bootstrap_mean_ci(df[row.metric].to_numpy(), seed=9, n_resamples=400)
        assert (row.mean, row.ci_low, row.ci_high) == pytest.approx((ref.mean, ref.low, ref.high), rel=1e-9)
        assert row.n == ref.n
    assert s.set_index("metric").loc["revenue@5", "n"] == df["revenue@5"].notna().sum()
