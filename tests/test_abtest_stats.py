"""A/B statistics against statsmodels / scipy / R / published group-sequential tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from xsell_eval.abtest.sequential import (
    SequentialResult,
    first_crossing,
    first_naive,
    obrien_fleming_spending,
    pocock_spending,
    spending_bounds,
)
from xsell_eval.abtest.stats import (
    Comparison,
    PowerPlan,
    bootstrap_means,
    conversion_test,
    decide,
    required_sample_size,
    srm_test,
)
from xsell_eval.errors import ConfigError, UnknownNameError

# ---------------------------------------------------------------------- sample size


def test_textbook_sample_size_pooled_and_cohen():
    """Baseline 5 %, +10 % relative, alpha .05 two-sided, power .8: 31,234 (pooled) / 31,218 (Cohen's h)."""
    assert math.ceil(required_sample_size(0.05, 0.10)) == 31_234
    assert math.ceil(required_sample_size(0.05, 0.10, method="cohen")) == 31_218
    # the same numbers straight from statsmodels
    assert math.ceil(samplesize_proportions_2indep_onetail(0.005, 0.05, 0.8, alpha=0.05)) == 31_234
    h = proportion_effectsize(0.055, 0.05)
    assert math.ceil(NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8)) == 31_218


def test_pooled_formula_matches_r_power_prop_test_by_hand():
    """R power.prop.test: n = (z_{a/2} sqrt(2 pbar qbar) + z_b sqrt(p1 q1 + p2 q2))^2 / d^2."""
    for p1, p2, power in [(0.05, 0.055, 0.8), (0.5, 0.75, 0.9), (0.2, 0.15, 0.8)]:
        za, zb = stats.norm.isf(0.025), stats.norm.isf(1 - power)
        pbar = (p1 + p2) / 2
        n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (
            p2 - p1
        ) ** 2
        assert required_sample_size(p1, p2 / p1 - 1, power=power) == pytest.approx(n, rel=1e-9)
    # R documentation example: power.prop.test(p1 = .50, p2 = .75, power = .90) prints n = 76.7
    assert required_sample_size(0.5, 0.5, power=0.9) == pytest.approx(76.7, abs=0.05)


def test_sample_size_errors_and_zero_effect():
    assert required_sample_size(0.05, 0.0) == math.inf
    with pytest.raises(ConfigError, match="baseline conversion must be in"):
        required_sample_size(0.0, 0.1)
    with pytest.raises(ConfigError, match="impossible rate"):
        required_sample_size(0.6, 1.0)
    with pytest.raises(ConfigError, match="sample-size method"):
        required_sample_size(0.05, 0.1, method="magic")


# ---------------------------------------------------------------------- conversion tests


def test_conversion_test_equals_statsmodels_scalar():
    r = conversion_test(60, 1000, 45, 1100)
    z, p = proportions_ztest([60, 45], [1000, 1100])
    assert float(r["z"]) == pytest.approx(z, rel=1e-12)
    assert float(r["p_value"]) == pytest.approx(p, rel=1e-12)
    lo, hi = confint_proportions_2indep(60, 1000, 45, 1100, method="newcomb", compare="diff")
    assert (float(r["diff_low"]), float(r["diff_high"])) == pytest.approx((lo, hi))
    # Katz log-ratio CI by hand
    ratio = (60 / 1000) / (45 / 1100)
    se = math.sqrt(1 / 60 - 1 / 1000 + 1 / 45 - 1 / 1100)
    z975 = stats.norm.isf(0.025)
    assert float(r["lift"]) == pytest.approx(ratio - 1)
    assert float(r["lift_low"]) == pytest.approx(ratio * math.exp(-z975 * se) - 1, rel=1e-9)
    assert float(r["lift_high"]) == pytest.approx(ratio * math.exp(z975 * se) - 1, rel=1e-9)


def test_conversion_test_hand_computed_z():
    # p1 = .1 (n 500), p2 = .08 (n 500): pooled .09; se = sqrt(.09*.91*(2/500)) ; z = .02/se
    r = conversion_test(50, 500, 40, 500)
    se = math.sqrt(0.09 * 0.91 * (2 / 500))
    assert float(r["z"]) == pytest.approx(0.02 / se)
    assert float(r["p_value"]) == pytest.approx(2 * stats.norm.sf(0.02 / se))


def test_conversion_test_vectorised_and_undefined():
    ct = np.array([[60, 0], [10, 5]])
    r = conversion_test(ct, 1000, np.array([[45, 0], [12, 0]]), 1000)
    assert r["z"].shape == (2, 2)
    z, _ = proportions_ztest([10, 12], [1000, 1000])
    assert r["z"][1, 0] == pytest.approx(z)
    assert np.isnan(r["z"][0, 1]) and np.isnan(r["lift"][1, 1]) and np.isnan(r["lift_low"][1, 1])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 400),
    st.integers(401, 3000),
    st.integers(1, 400),
    st.integers(401, 3000),
)
def test_conversion_intervals_contain_estimates(ct, nt, cc, nc):
    r = conversion_test(ct, nt, cc, nc)
    assert float(r["lift_low"]) <= float(r["lift"]) <= float(r["lift_high"])
    assert float(r["diff_low"]) <= float(r["diff"]) + 1e-12 and float(r["diff"]) <= float(r["diff_high"]) + 1e-12
    assert 0.0 <= float(r["p_value"]) <= 1.0
    assert np.sign(float(r["z"])) == np.sign(float(r["diff"]))


# ---------------------------------------------------------------------- bootstrap


def test_sparse_bootstrap_matches_scipy_bootstrap():
    rng = np.random.default_rng(0)
    x = np.where(rng.random(300) < 0.2, rng.lognormal(1.0, 0.8, 300), 0.0)
    means = bootstrap_means(x, 20_000, np.random.default_rng(1))
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile", random_state=2)
    sd = x.std(ddof=0) / math.sqrt(len(x))
    lo, hi = np.percentile(means, [2.5, 97.5])
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.1 * sd)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.1 * sd)
    # the bootstrap distribution of the mean: centre x.mean(), spread sd (plug-in)
    assert means.mean() == pytest.approx(x.mean(), abs=0.05 * sd)
    assert means.std() == pytest.approx(sd, rel=0.03)


def test_bootstrap_edge_cases():
    rng = np.random.default_rng(0)
    assert np.all(bootstrap_means(np.zeros(10), 5, rng) == 0)
    assert np.isnan(bootstrap_means(np.zeros(0), 3, rng)).all()
    assert np.all(bootstrap_means(np.full(7, 2.0), 4, rng) == 2.0)


# ---------------------------------------------------------------------- SRM and Holm


def test_srm_chisquare_hand_computed():
    chi2, p = srm_test(np.array([480, 520]), np.array([0.5, 0.5]))
    assert chi2 == pytest.approx(1.6)
    assert p == pytest.approx(stats.chi2.sf(1.6, 1))
    chi2, p = srm_test(np.array([700, 300]), np.array([0.7, 0.3]))
    assert chi2 == pytest.approx(0.0) and p == pytest.approx(1.0)


def test_holm_reference():
    adj = multipletests([0.01, 0.04, 0.03], method="holm")[1]
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06])


# ---------------------------------------------------------------------- sequential


def test_obrien_fleming_bounds_match_published_values():
    """gsDesign(k=5, test.type=2, alpha=0.025, sfu=sfLDOF) / ldbounds: 4.877 3.357 2.680 2.290 2.031."""
    b = spending_bounds(np.linspace(0.2, 1.0, 5), alpha=0.05, spending="obrien-fleming")
    np.testing.assert_allclose(b, [4.8769, 3.3569, 2.6803, 2.2898, 2.0310], atol=1e-3)


def test_pocock_bounds_match_published_values():
    """Lan-DeMets Pocock-type, 5 equal looks, alpha .05 two-sided: 2.438 2.427 2.410 2.397 2.386."""
    b = spending_bounds(np.linspace(0.2, 1.0, 5), alpha=0.05, spending="pocock")
    np.testing.assert_allclose(b, [2.438, 2.427, 2.410, 2.397, 2.386], atol=2e-3)


def test_single_look_is_the_fixed_test():
    assert spending_bounds(np.array([1.0]))[0] == pytest.approx(stats.norm.isf(0.025))
    assert float(obrien_fleming_spending(np.array([1.0]), 0.05)[0]) == pytest.approx(0.05)
    assert float(pocock_spending(np.array([1.0]), 0.05)[0]) == pytest.approx(0.05)


def test_bounds_keep_alpha_by_monte_carlo():
    """Seeded 200,000 Brownian paths at 14 unequally spaced looks: P(cross) = alpha ± 4 SE."""
    rng = np.random.default_rng(2024)
    t = np.cumsum(rng.uniform(0.5, 1.5, 14))
    t /= t[-1]
    b = spending_bounds(t)
    paths = 200_000
    s = np.cumsum(rng.standard_normal((paths, len(t))) * np.sqrt(np.diff(np.r_[0.0, t])), axis=1)
    z = s / np.sqrt(t)
    seq = float((first_crossing(z, b) >= 0).mean())
    naive = float((first_naive(2 * stats.norm.sf(np.abs(z)), 0.05) >= 0).mean())
    se = math.sqrt(0.05 * 0.95 / paths)
    assert abs(seq - 0.05) < 4 * se, seq
    assert naive > 0.15  # peeking at 14 looks: far above alpha


def test_first_crossing_and_naive():
    z = np.array([[0.5, 3.0, 1.0], [np.nan, 1.0, 2.5], [0.1, 0.2, 0.3]])
    b = np.array([np.inf, 2.9, 2.4])
    np.testing.assert_array_equal(first_crossing(z, b), [1, 2, -1])
    p = np.array([[0.2, 0.04, 0.5], [np.nan, 0.9, 0.01]])
    np.testing.assert_array_equal(first_naive(p, 0.05), [1, 2])


def test_spending_bounds_errors():
    with pytest.raises(ConfigError, match="strictly increasing"):
        spending_bounds(np.array([0.5, 0.5, 1.0]))
    with pytest.raises(ConfigError, match="strictly increasing"):
        spending_bounds(np.array([0.5, 1.2]))
    with pytest.raises(UnknownNameError, match="unknown spending function 'obf'"):
        spending_bounds(np.array([1.0]), spending="obf")


def test_sequential_result_json_roundtrip():
    s = SequentialResult(
        arm="b",
        control="a",
        alpha=0.05,
        spending="obrien-fleming",
        days=[1, 2],
        info=[0.5, 1.0],
        visitors=[10, 20],
        lift=[0.1, float("nan")],
        lift_low=[0.0, 0.0],
        lift_high=[0.2, 0.2],
        z=[1.0, 2.0],
        p_naive=[0.3, 0.04],
        bound=[float("inf"), 1.97],
        decision_day=2,
        naive_day=2,
    )
    back = SequentialResult.from_dict(s.to_dict())
    assert back.bound[0] == math.inf and math.isnan(back.lift[1]) and back.days == [1, 2]


# ---------------------------------------------------------------------- decision


def _comp(lift: float, p: float, arm: str = "B") -> Comparison:
    nan = float("nan")
    return Comparison(
        arm=arm, control="A", diff=lift * 0.05, diff_low=nan, diff_high=nan, z=nan, p_value=p, p_holm=p,
        lift=lift, lift_low=lift - 0.05, lift_high=lift + 0.05, expected_lift=nan, rpv_diff=nan,
        rpv_diff_low=nan, rpv_diff_high=nan, welch_t=nan, rpv_p_value=nan, rpv_p_holm=nan, rpv_lift=nan,
        rpv_lift_low=nan, rpv_lift_high=nan, expected_rpv_lift=nan, power_observed=nan, n_for_observed=nan,
        significant=p < 0.05,
    )  # fmt: skip


def _plan(total: float) -> PowerPlan:
    return PowerPlan(0.05, 0.1, 0.05, 0.05, 0.8, "pooled", total / 2, total / 2, "cohen", total)


def test_decisions():
    kw = {"n_visitors": 20_000, "traffic_per_day": 1_000, "alpha": 0.05}
    d = decide([_comp(0.12, 0.001), _comp(0.2, 0.01, "C")], [], _plan(62_468), **kw)
    assert d.kind == "ship" and d.arm == "C" and d.text.startswith("ship C")
    d = decide([_comp(-0.2, 0.001)], [], _plan(62_468), **kw)
    assert d.kind == "keep-control" and d.arm == "A"
    d = decide([_comp(0.02, 0.4)], [], _plan(15_000), **kw)
    assert d.kind == "no-difference" and "no detectable difference" in d.text
    d = decide([_comp(0.02, 0.4)], [], _plan(62_468), **kw)
    assert d.kind == "needs-more"
    assert d.more_visitors == 42_468 and d.more_days == 43
    assert "needs about 42,468 more visitors ≈ 43 more day(s) at 1,000 visitors/day" in d.text


def test_bootstrap_sparse_sums_are_exact_with_tiny_support():
    """With one nonzero value v in n, each resampled mean is v * Binomial(n, 1/n) / n (empty draws included)."""
    x = np.zeros(50)
    x[7] = 3.0
    means = bootstrap_means(x, 5_000, np.random.default_rng(5))
    counts = means * 50 / 3.0
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert (counts == 0).mean() == pytest.approx((49 / 50) ** 50, abs=0.03)
    assert counts.mean() == pytest.approx(1.0, abs=0.05)
