"""The customer-clustered bootstrap and the bootstrap test, against hand-computed cases,
the analytic variance of the ratio estimator and a simulation with known intra-customer
correlation."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from xsell_eval.errors import ConfigError, DataError
from xsell_eval.resampling import cluster_codes, inversion_p_value, resampled_means
from xsell_eval.stats import bootstrap_mean_ci, paired_comparison, summarize


# --------------------------------------------------------------------------- clusters
def test_cluster_codes_group_customers_and_split_guests() -> None:
    codes = cluster_codes(np.array([5, -1, 5, 2, -1, 9]))
    assert codes[0] == codes[2]  # the same customer
    assert len(set(codes.tolist())) == 5  # 3 customers + 2 guests, each guest alone
    assert sorted(set(codes.tolist())) == list(range(5))
    with pytest.raises(DataError, match="customer"):
        cluster_codes(np.array(["a", "b"]))


# --------------------------------------------------------------------------- hand-computed cases
def _exact_distribution(sums: list[int], sizes: list[int]) -> dict[Fraction, Fraction]:
    """Exact bootstrap distribution of the ratio estimator: every Multinomial(C, 1/C) draw of the C clusters."""
    c = len(sums)
    dist: dict[Fraction, Fraction] = {}
    for w in itertools.product(range(c + 1), repeat=c):
        if sum(w) != c:
            continue
        prob = Fraction(math.factorial(c), math.prod(math.factorial(x) for x in w)) / c**c
        value = Fraction(
            sum(a * s for a, s in zip(w, sums, strict=True)), sum(a * n for a, n in zip(w, sizes, strict=True))
        )
        dist[value] = dist.get(value, Fraction(0)) + prob
    return dist


def test_two_clusters_by_hand() -> None:
    """Customer A bought once and hit (1); customer B came twice and missed (0, 0).

    Draws of 2 customers: AA (1/4) -> 1, AB or BA (1/2) -> 1/3, BB (1/4) -> 0. The 95% percentile
    CI is therefore [0, 1]; resampling the 3 queries instead gives other weights (mean 1/3 ± ...).
    """
    x = np.array([1.0, 0.0, 0.0])
    users = np.array([10, 20, 20])
    boot = resampled_means(x[:, None], cluster_codes(users), 40_000, seed=0)[:, 0]
    values, counts = np.unique(np.round(boot, 12), return_counts=True)
    assert values.tolist() == [0.0, round(1 / 3, 12), 1.0]
    freq = counts / len(boot)
    for f, p in zip(freq, (0.25, 0.5, 0.25), strict=True):
        assert abs(f - p) < 5 * math.sqrt(p * (1 - p) / len(boot))
    r = bootstrap_mean_ci(x, clusters=users, n_resamples=4000, seed=1)
    assert (r.mean, r.low, r.high, r.n) == (pytest.approx(1 / 3), 0.0, 1.0, 3)


def test_three_clusters_match_exact_enumeration() -> None:
    """Unequal clusters (2, 1 and 3 queries): replicate frequencies and moments against the 10 exact draws."""
    x = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    users = np.array([0, 0, 1, 2, 2, 2])
    exact = _exact_distribution([2, 0, 1], [2, 1, 3])
    assert sum(exact.values()) == 1
    b = 60_000
    boot = resampled_means(x[:, None], cluster_codes(users), b, seed=3)[:, 0]
    for value, prob in exact.items():
        f = float(np.isclose(boot, float(value), rtol=0, atol=1e-12).mean())
        p = float(prob)
        assert abs(f - p) < 5 * math.sqrt(p * (1 - p) / b) + 1e-12, (value, f, p)
    mean = sum(v * p for v, p in exact.items())
    var = sum((v - mean) ** 2 * p for v, p in exact.items())
    assert boot.mean() == pytest.approx(float(mean), abs=5 * math.sqrt(float(var) / b))
    assert boot.var() == pytest.approx(float(var), rel=0.05)


def test_variance_of_the_ratio_estimator_is_the_analytic_one() -> None:
    """Multinomial weights: Var*(Σ w_c z_c) = Σ (z_c − z̄)², so Var*(ratio) ≈ Σ_c (S_c − R n_c)² / N².

    Exact for equal cluster sizes; the delta method for unequal ones (200 clusters: accurate to ~2%).
    """
    rng = np.random.default_rng(5)
    for sizes in (np.full(60, 3), rng.integers(1, 8, size=200)):
        codes = np.repeat(np.arange(len(sizes)), sizes)
        x = rng.random(len(codes)) + 0.5 * rng.random(len(sizes))[codes]  # a customer effect
        s = np.bincount(codes, weights=x)
        big_n = len(codes)
        ratio = s.sum() / big_n
        analytic = float(((s - ratio * sizes) ** 2).sum() / big_n**2)
        boot = resampled_means(x[:, None], codes, 20_000, seed=7)[:, 0]
        assert boot.var() == pytest.approx(analytic, rel=0.06)


def test_one_query_per_customer_is_the_per_query_bootstrap() -> None:
    x = np.random.default_rng(2).random(300)
    per_query = bootstrap_mean_ci(x, n_resamples=500, seed=4)
    singletons = bootstrap_mean_ci(x, clusters=np.arange(300), n_resamples=500, seed=4)
    guests = bootstrap_mean_ci(x, clusters=np.full(300, -1), n_resamples=500, seed=4)
    assert per_query == pytest.approx(singletons) and per_query == pytest.approx(guests)


def test_summarize_reads_the_customer_column_and_explains_a_missing_column() -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(50), 4)
    df = pd.DataFrame({"query_id": np.arange(200), "hit_rate@5": (rng.random(200) < 0.3).astype(float)})
    df["customer"] = users
    s = summarize(df, ["hit_rate@5"], seed=1, n_resamples=300, ci_unit="customer").iloc[0]
    ref = bootstrap_mean_ci(df["hit_rate@5"], clusters=users, seed=1, n_resamples=300)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((ref.low, ref.high))
    with pytest.raises(DataError, match="'customer' column"):
        summarize(df.drop(columns="customer"), ["hit_rate@5"], seed=1, ci_unit="customer")
    with pytest.raises(ConfigError, match="ci_unit"):
        summarize(df, ["hit_rate@5"], seed=1, ci_unit="basket")


# --------------------------------------------------------------------------- the bootstrap test
def test_inversion_p_value_by_hand_and_against_the_counting_formula() -> None:
    # Q crosses 0 a quarter of the way from -1 to 3, at position 1.25 of 4: q = 0.3125 -> p = 0.625
    d = np.array([-3.0, -1.0, 3.0, 4.0, 5.0])
    assert inversion_p_value(d) == pytest.approx(0.625)
    assert np.percentile(d, 100 * 0.625 / 2) == pytest.approx(0.0)  # the 37.5% CI just touches 0
    assert inversion_p_value(np.zeros(50)) == 1.0
    assert inversion_p_value(-np.arange(1.0, 201.0)) == 1 / 200  # no draw crosses 0: the 1/B bound
    # beyond the resolution the normal approximation from the same draws takes over (never above 1/B)
    far = np.random.default_rng(1).normal(10.0, 1.0, size=1000)
    assert inversion_p_value(far) == pytest.approx(2 * sps.norm.sf(far.mean() / far.std(ddof=1)))
    assert inversion_p_value(far, estimate=5.0) == pytest.approx(2 * sps.norm.sf(5.0 / far.std(ddof=1)))
    one_crosses = np.r_[-0.1, far[1:]]
    assert inversion_p_value(one_crosses) <= 2 / 1000
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.5, 1.5, 2.5):
        d = rng.normal(shift, 1.0, size=1000)
        counting = min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean()))
        if counting >= 0.012:  # resolved: the inversion value
            assert abs(inversion_p_value(d) - counting) <= 2 / 1000
        else:  # within the resolution: never above the counting value (+ interpolation)
            assert inversion_p_value(d) <= max(counting, 1 / 1000) + 2 / 1000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.lists(st.integers(0, 3), min_size=4, max_size=40),
    shift=st.integers(-2, 2),
    n_users=st.integers(2, 8),
    b=st.integers(100, 400),
    confidence=st.floats(0.6, 0.99),
    seed=st.integers(0, 2**16),
)
def test_p_value_and_ci_always_agree(
    a: list[int], shift: int, n_users: int, b: int, confidence: float, seed: int
) -> None:
    """p < 1 − confidence exactly when the paired CI excludes 0 (same draws), for 1 − confidence >= 10/B."""
    rng = np.random.default_rng(seed)
    xa = np.array(a, dtype=float)
    xb = np.clip(xa + rng.integers(-1, 2, size=len(xa)) + shift * (rng.random(len(xa)) < 0.5), 0, None)
    users = rng.integers(-1, n_users, size=len(xa))
    r = paired_comparison(xa, xb, clusters=users, seed=seed, n_resamples=b, confidence=confidence, test="bootstrap")
    if not np.isfinite(r.ci_low):
        assert not np.isfinite(r.p_value) or r.p_value == 1.0
        return
    alpha = 1 - confidence
    excludes = r.ci_low > 0 or r.ci_high < 0
    assert 0.0 <= r.p_value <= 1.0
    if excludes:
        assert r.p_value <= max(alpha, 1 / b) + 1e-9
    if r.p_value < alpha - 1e-9 and alpha >= 10 / b:  # above the resolution of the draws
        assert excludes


def test_bootstrap_test_uses_the_ci_draws_of_the_customers() -> None:
    """A, B differ only through a few customers: the clustered p-value is larger than the per-query one."""
    rng = np.random.default_rng(11)
    users = np.repeat(np.arange(40), 10)
    effect = rng.normal(0.0, 1.0, 40)[users]  # the difference is a customer trait
    b = rng.random(400)
    a = b + 0.1 + 0.5 * effect
    clustered = paired_comparison(a, b, clusters=users, seed=0, n_resamples=2000, test="bootstrap")
    per_query = paired_comparison(a, b, seed=0, n_resamples=2000, test="bootstrap")
    assert clustered.diff == per_query.diff
    assert clustered.ci_high - clustered.ci_low > 2 * (per_query.ci_high - per_query.ci_low)
    assert clustered.p_value > per_query.p_value
    assert paired_comparison(a, b, seed=0, test="wilcoxon").test == "wilcoxon"
    with pytest.raises(ConfigError, match="bootstrap"):
        paired_comparison(a, b, seed=0, test="permutation")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- coverage simulation
def _coverage(n_rep: int, n_users: int, n_boot: int) -> tuple[float, float]:
    """Share of 95% CIs (customer / query unit) covering the true mean 0.25.

    Each customer has 1 + Poisson(1.5) queries (mean 2.5) and a hit probability p_u ~ Beta(0.5, 1.5)
    (mean 0.25, intra-customer correlation 1/(0.5 + 1.5 + 1) = 1/3, design effect ≈ 1.7): the
    target of the ratio estimator is E[m p] / E[m] = E[p] = 0.25 (sizes independent of p).
    """
    rng = np.random.default_rng(2024)
    cover = np.zeros((n_rep, 2), dtype=bool)
    for r in range(n_rep):
        sizes = 1 + rng.poisson(1.5, n_users)
        users = np.repeat(np.arange(n_users), sizes)
        p = rng.beta(0.5, 1.5, n_users)[users]
        x = (rng.random(len(users)) < p).astype(float)
        for j, clusters in enumerate((users, None)):
            ci = bootstrap_mean_ci(x, clusters=clusters, n_resamples=n_boot, seed=r)
            cover[r, j] = ci.low <= 0.25 <= ci.high
    customer, query = cover.mean(axis=0)
    return float(customer), float(query)


def test_clustered_ci_covers_where_the_per_query_ci_under_covers() -> None:
    """300 replications (Monte-Carlo sd of a 95% coverage: 1.3 points): 3 sd around 95% for the clustered CI."""
    customer, query = _coverage(n_rep=300, n_users=150, n_boot=400)
    assert 0.912 <= customer <= 0.988, customer
    assert query < 0.91 and query < customer - 0.04, (query, customer)


@pytest.mark.slow
def test_clustered_ci_coverage_is_93_to_97_percent() -> None:
    """2,000 replications (Monte-Carlo sd 0.5 points), 1,000 resamples each."""
    customer, query = _coverage(n_rep=2000, n_users=150, n_boot=1000)
    assert 0.93 <= customer <= 0.97, customer
    assert query < 0.91, query
