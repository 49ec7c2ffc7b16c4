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
    ArmStats,
    Comparison,
    PowerPlan,
    bootstrap_means,
    conversion_test,
    decide,
    level_label,
    p_text,
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


def _comp(
    lift: float,
    p: float,
    arm: str = "B",
    *,
    rpv_lift: float = float("nan"),
    rpv_p: float = float("nan"),
    alpha: float = 0.05,
) -> Comparison:
    nan = float("nan")
    return Comparison(
        arm=arm, control="A", diff=lift * 0.05, diff_low=nan, diff_high=nan, z=nan, p_value=p, p_holm=p,
        lift=lift, lift_low=lift - 0.05, lift_high=lift + 0.05, expected_lift=nan, rpv_diff=nan,
        rpv_diff_low=nan, rpv_diff_high=nan, welch_t=nan, rpv_p_value=rpv_p, rpv_p_holm=rpv_p, rpv_lift=rpv_lift,
        rpv_lift_low=rpv_lift - 0.05, rpv_lift_high=rpv_lift + 0.05, expected_rpv_lift=nan, power_observed=nan,
        n_for_observed=nan, significant=p < alpha,
    )  # fmt: skip


def _arm(name: str, visitors: int, conversions: int, weight: float = 0.5) -> ArmStats:
    nan = float("nan")
    return ArmStats(
        name=name, adapter=name, weight=weight, visitors=visitors, conversions=conversions,
        conversion=conversions / visitors, conversion_low=nan, conversion_high=nan, revenue_per_visitor=1.0,
        rpv_low=nan, rpv_high=nan, items_per_visitor=nan, accepted_per_visitor=nan, basket_value=nan,
        fill_rate=1.0, expected_conversion=nan, expected_rpv=nan,
    )  # fmt: skip


def _seq(arm: str, decision_day: int | None, z: list[float], bound: list[float]) -> SequentialResult:
    n = len(z)
    return SequentialResult(
        arm=arm, control="A", alpha=0.05, spending="obrien-fleming", days=list(range(1, n + 1)),
        info=[(i + 1) / n for i in range(n)], visitors=[100 * (i + 1) for i in range(n)], lift=[0.1] * n,
        lift_low=[0.0] * n, lift_high=[0.2] * n, z=z, p_naive=[0.5] * n, bound=bound, decision_day=decision_day,
        naive_day=None,
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


KW = {"n_visitors": 20_000, "traffic_per_day": 1_000}


def test_level_label_and_p_text():
    assert [level_label(a) for a in (0.05, 0.2, 0.01, 0.025, 0.001)] == ["95%", "80%", "99%", "97.5%", "99.9%"]
    assert p_text(0.0) == "< 1e-300" and p_text(1e-320) == "< 1e-300"
    assert p_text(0.0451) == "= 0.045" and p_text(float("nan")) == "= n/a"


def test_decision_states_the_interval_level_of_alpha():
    """Finding 1: an alpha of 0.2 gives 80% intervals, and the text must say so."""
    d = decide([_comp(0.3, 0.1, alpha=0.2)], [], _plan(62_468), alpha=0.2, **KW)
    assert d.kind == "ship" and "80% CI" in d.text and "95%" not in d.text
    d = decide([_comp(0.02, 0.4)], [], _plan(62_468), alpha=0.2, **KW)
    assert "80% CI" in d.text and "95%" not in d.text


def test_decision_when_fixed_horizon_and_monitor_disagree():
    """Finding 2: significant at the horizon while the boundary was never crossed, and the reverse."""
    not_crossed = _seq("B", None, [0.5, 1.2, 2.0], [np.inf, 2.5, 2.2])
    d = decide([_comp(0.12, 0.045)], [not_crossed], _plan(15_000), alpha=0.05, **KW)
    assert d.kind == "ship" and d.sequential == "fixed-only"
    assert "significant at the planned horizon, but the day-by-day monitor" in d.text
    assert "never crossed its boundary (final |z| 2.00 < boundary 2.20)" in d.text
    assert "if the team looked at results daily, this is not yet conclusive" in d.text
    assert d.text.startswith("ship B on conversion, if nobody acted on interim looks:")
    crossed = _seq("B", 2, [0.5, 3.1, 1.5], [np.inf, 2.9, 2.0])
    d = decide([_comp(0.12, 0.001)], [crossed], _plan(15_000), alpha=0.05, **KW)
    assert d.sequential == "agrees" and "agrees: it crossed its boundary on day 2" in d.text
    d = decide([_comp(0.02, 0.4)], [crossed], _plan(15_000), alpha=0.05, **KW)
    assert d.kind == "no-difference" and d.sequential == "sequential-only"
    assert "The two readings disagree" in d.text and "crossed its boundary on day 2 with B better" in d.text
    assert "would have stopped and shipped B then" in d.text


def test_aa_mode_gives_an_aa_verdict():
    """Finding 3: A/A mode never says ship / needs more visitors."""
    d = decide([_comp(0.33, 0.046)], [], _plan(62_468), alpha=0.05, srm_p=0.82, aa=True, **KW)
    assert d.kind == "aa-flag" and d.text.startswith("A/A check flagged a difference:")
    assert "expected in about 5% of runs by chance" in d.text and "re-run with another seed" in d.text
    assert "set-up (assignment, logging) is broken" in d.text and "Sample-ratio check OK (p = 0.82)" in d.text
    d = decide([_comp(0.02, 0.4, rpv_lift=0.01, rpv_p=0.7)], [], _plan(62_468), alpha=0.05, srm_p=0.5, aa=True, **KW)
    assert d.kind == "aa-pass" and d.text.startswith("A/A check passed: no significant difference (as expected)")
    assert "ship" not in d.text and "needs" not in d.text and "more visitors" not in d.text
    d = decide([_comp(0.02, 0.4, rpv_lift=0.2, rpv_p=0.01)], [], _plan(62_468), alpha=0.05, aa=True, **KW)
    assert d.kind == "aa-flag" and "revenue per visitor" in d.text


def test_decision_names_its_metric_and_flags_revenue():
    """Finding 4: the headline says conversion and flags a significant revenue result, above all an opposite one."""
    c = _comp(0.019, 0.54, "cf", rpv_lift=-0.105, rpv_p=0.011)
    d = decide([c], [], _plan(15_000), alpha=0.05, **KW)
    head = d.text.partition(": ")[0]
    assert head == "no detectable difference in conversion, but cf has significantly lower revenue per visitor (-10.5%)"
    assert d.revenue == "significant" and "opposite direction of the (not significant) conversion estimate" in d.text
    d = decide([_comp(0.2, 0.001, rpv_lift=-0.1, rpv_p=0.001)], [], _plan(15_000), alpha=0.05, **KW)
    assert d.kind == "ship" and d.revenue == "opposite"
    assert (
        d.text.partition(": ")[0] == "ship B on conversion, but B has significantly lower revenue per visitor (-10.0%)"
    )
    assert "moves the OTHER way" in d.text
    d = decide([_comp(0.2, 0.001, rpv_lift=0.3, rpv_p=0.001)], [], _plan(15_000), alpha=0.05, **KW)
    assert d.revenue == "same-direction" and "and B has significantly higher revenue per visitor" in d.text
    d = decide([_comp(0.2, 0.001, rpv_lift=0.3, rpv_p=0.2)], [], _plan(15_000), alpha=0.05, **KW)
    assert d.revenue == "" and d.text.partition(": ")[0] == "ship B on conversion" and "not significant" in d.text


def test_best_two_treatments_are_tested_head_to_head():
    """Finding 5: two significant treatments whose difference is noise are 'not separable'."""
    arms = [_arm("A", 15_000, 1_620), _arm("rules", 7_500, 1_277, 0.25), _arm("cf", 7_500, 1_271, 0.25)]
    comps = [_comp(0.577, 1e-39, "rules"), _comp(0.570, 1e-38, "cf")]
    d = decide(comps, [], _plan(15_000), alpha=0.05, arms=arms, **KW)
    _z, p = proportions_ztest([1_277, 1_271], [7_500, 7_500])
    assert d.head_to_head is not None and d.head_to_head["p_value"] == pytest.approx(p)
    ratio = (1_277 / 7_500) / (1_271 / 7_500)
    assert d.head_to_head["lift"] == pytest.approx(ratio - 1)
    lo, hi = confint_proportions_2indep(1_277, 7_500, 1_271, 7_500, method="log", compare="ratio")
    assert (d.head_to_head["lift_low"], d.head_to_head["lift_high"]) == pytest.approx((lo - 1, hi - 1))
    assert d.kind == "ship" and d.arm == "rules" and d.tied_with == "cf"
    assert d.text.startswith("ship rules or cf on conversion (not separable in this test)")
    assert "rules or cf: not separable in this test" in d.text
    comps = [
        _comp(0.577, 1e-39, "rules", rpv_lift=2.98, rpv_p=1e-60),
        _comp(0.57, 1e-38, "cf", rpv_lift=3.3, rpv_p=1e-70),
    ]
    d = decide(comps, [], _plan(15_000), alpha=0.05, arms=arms, **KW)
    assert d.text.partition(": ")[0] == (
        "ship rules or cf on conversion (not separable in this test), "
        "and both have significantly higher revenue per visitor (rules +298.0%, cf +330.0%)"
    )
    assert "Revenue per visitor of rules vs A moves" in d.text and "Revenue per visitor of cf vs A moves" in d.text
    arms[2] = _arm("cf", 7_500, 1_000, 0.25)
    d = decide([_comp(0.577, 1e-39, "rules"), _comp(0.2, 1e-5, "cf")], [], _plan(15_000), alpha=0.05, arms=arms, **KW)
    assert d.tied_with is None and "rules is ahead" in d.text and d.text.startswith("ship rules on conversion:")


def test_sample_ratio_mismatch_blocks_the_decision():
    """Finding 10: a broken split is not shipped."""
    arms = [_arm("A", 10_500, 500), _arm("B", 9_500, 600)]
    d = decide([_comp(0.3, 1e-6)], [], _plan(15_000), alpha=0.05, arms=arms, srm_p=1.5e-12, **KW)
    assert d.kind == "srm" and d.text.startswith("do not trust this result: the traffic split is off")
    assert "A 10,500, B 9,500 visitors for a planned 50%/50% split" in d.text and "ship" not in d.text
    d = decide([_comp(0.0, 0.9)], [], _plan(15_000), alpha=0.05, arms=arms, srm_p=1e-9, aa=True, **KW)
    assert d.kind == "aa-flag" and "traffic split is off" in d.text


def test_decision_small_messages():
    """Finding 10: an MDE implying a rate above 100%; a p-value of 0 is '< 1e-300'."""
    inf = float("inf")
    plan = PowerPlan(0.108, 9.0, 0.05, 0.05, 0.8, "pooled", inf, inf, "cohen", inf)
    d = decide([_comp(0.02, 0.4)], [], plan, alpha=0.05, **KW)
    assert "implies a rate of 108%, above 100%" in d.text and "choose a smaller --mde" in d.text
    assert "too rarely" not in d.text
    d = decide([_comp(0.5, 0.0)], [], _plan(15_000), alpha=0.05, **KW)
    assert "Holm-adjusted p < 1e-300" in d.text and "p = 0)" not in d.text


# ---------------------------------------------------------------------- audit 2


def test_tied_arms_get_a_welch_test_of_revenue_per_visitor():
    """Audit 2 #2: two arms tied on conversion are compared on revenue per visitor (Welch), money not in e-notation."""
    from dataclasses import replace

    rng = np.random.default_rng(3)
    x, y = rng.exponential(1_230.0, 400), rng.exponential(1_250.0, 400)  # revenue per visitor of rules and cf
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(0.95)
    arms = [
        _arm("A", 15_000, 1_620),
        replace(_arm("rules", 7_500, 1_277, 0.25), revenue_per_visitor=float(x.mean())),
        replace(_arm("cf", 7_500, 1_271, 0.25), revenue_per_visitor=float(y.mean())),
    ]
    comps = [_comp(0.577, 1e-39, "rules"), _comp(0.570, 1e-38, "cf")]
    tests = {("cf", "rules"): (-res.statistic, res.pvalue, -ci.high, -ci.low)}  # the other order is looked up too
    d = decide(comps, [], _plan(15_000), alpha=0.05, arms=arms, rpv_tests=tests, **KW)
    assert d.tied_with == "cf" and d.head_to_head is not None
    assert d.head_to_head["rpv_p_value"] == pytest.approx(res.pvalue)
    assert (d.head_to_head["rpv_diff_low"], d.head_to_head["rpv_diff_high"]) == pytest.approx((ci.low, ci.high))
    assert d.head_to_head["rpv_diff"] == pytest.approx(x.mean() - y.mean())
    assert res.pvalue > 0.05 and "not significant either" in d.text
    assert f"{x.mean() - y.mean():+,.2f} per visitor (95% CI {ci.low:+,.2f} to {ci.high:+,.2f}" in d.text
    assert "e+0" not in d.text and f"rules {x.mean():,.2f}, cf {y.mean():,.2f} per visitor" in d.text
    tests = {("rules", "cf"): (3.0, 0.003, 0.1, 0.5)}
    arms[1] = replace(arms[1], revenue_per_visitor=1.2)
    arms[2] = replace(arms[2], revenue_per_visitor=0.9)
    d = decide(comps, [], _plan(15_000), alpha=0.05, arms=arms, rpv_tests=tests, **KW)
    assert "rules earns significantly more per visitor than cf" in d.text and "+0.300 per visitor" in d.text


def test_every_significant_revenue_result_is_reported_when_conversion_shows_nothing():
    """Audit 2 #4: not only the smallest p; the one against the conversion estimate comes first."""
    comps = [_comp(0.01, 0.5, "B", rpv_lift=0.2, rpv_p=0.001), _comp(0.01, 0.5, "C", rpv_lift=-0.2, rpv_p=0.002)]
    d = decide(comps, [], _plan(15_000), alpha=0.05, **KW)
    assert d.text.partition(": ")[0] == (
        "no detectable difference in conversion, but C has significantly lower revenue per visitor (-20.0%) and "
        "B has significantly higher revenue per visitor (+20.0%)"
    )
    for arm in ("B", "C"):
        assert f"Revenue per visitor of {arm} vs A does differ" in d.text


def test_fixed_only_blames_the_monitor_level_not_the_looks_when_the_final_look_fails_it_too():
    """Audit 2 #5: the monitor runs each of m treatments at alpha/m (Bonferroni); Holm can be less strict."""
    from dataclasses import replace

    crit = stats.norm.isf(0.025 / 2)  # 2.24: a single look at alpha/2
    c = _comp(0.12, 0.04, "C")  # the second of two treatments: Holm-adjusted p 0.04 (raw p 0.04 > alpha / 2)
    s = replace(_seq("C", None, [0.5, 2.1], [4.0, 2.5]), alpha=0.025)  # the monitor at alpha / 2, never crossed
    d = decide([c], [s], _plan(15_000), alpha=0.05, **KW)
    assert d.sequential == "fixed-only" and "interim looks" not in d.text.partition(": ")[0]
    assert d.text.startswith("ship C on conversion, by the fixed-horizon Holm test (the daily monitor's stricter")
    assert "tests each of the 2 treatments at alpha / 2 = 0.025 (Bonferroni), which is stricter" in d.text
    assert f"(|z| 2.10 < {crit:.2f})" in d.text and "not from the interim looks" in d.text
    s = replace(s, z=[0.5, 2.4])  # significant at alpha / 2 on the last look alone: the looks are to blame
    d = decide([c], [s], _plan(15_000), alpha=0.05, **KW)
    assert d.text.startswith("ship C on conversion, if nobody acted on interim looks:")


def test_aa_with_srm_and_simulated_srm_wording():
    """Audit 2 #6: 'traffic split is off' said once; a simulated SRM is chance."""
    arms = [_arm("A", 10_500, 500), _arm("B", 9_500, 600)]
    for aa in (True, False):
        d = decide([_comp(0.0, 0.9)], [], _plan(15_000), alpha=0.05, arms=arms, srm_p=1e-9, aa=aa, **KW)
        assert d.text.count("traffic split is off") == 1
        assert "in a live test this would point to an assignment or logging fault" in d.text.lower()
        assert "in this simulation" in d.text and "it is chance — re-run with another seed" in d.text


def test_p_values_near_alpha_print_on_the_right_side_of_it():
    """Audit 2 #6: p = 0.04995 is significant and must not print as 0.05."""
    from xsell_eval.abtest.stats import format_p
    from xsell_eval.report.abtest import _p

    assert p_text(0.04995, 0.05) == "= 0.04995" and p_text(0.0451, 0.05) == "= 0.0451"
    assert p_text(0.0505, 0.05) == "= 0.0505" and p_text(0.3, 0.05) == "= 0.3" and p_text(0.0451) == "= 0.045"
    assert format_p(0.0499999, 0.05) == "0.0499999" and format_p(0.05, 0.05) == "0.05"
    assert _p(0.04995, 0.05) == "0.04995" and _p(0.0502, 0.05) == "0.0502" and _p(0.2, 0.05) == "0.200"
    d = decide([_comp(0.12, 0.04995)], [], _plan(15_000), alpha=0.05, **KW)
    assert d.kind == "ship" and "Holm-adjusted p = 0.04995)" in d.text


def test_many_more_days_get_a_thousands_separator_and_years():
    """Audit 2 #6: '≈ 14375 more day(s)' → '≈ 14,375 more days (about 39 years)'."""
    d = decide([_comp(0.02, 0.4)], [], _plan(28_770), n_visitors=20_000, traffic_per_day=1, alpha=0.05)
    assert d.more_days == 8_770 and "≈ 8,770 more days (about 24 years) at 1 visitors/day" in d.text
    d = decide([_comp(0.02, 0.4)], [], _plan(28_770), n_visitors=20_000, traffic_per_day=3, alpha=0.05)
    assert "≈ 2,924 more days (about 8.0 years) at 3 visitors/day" in d.text
    d = decide([_comp(0.02, 0.4)], [], _plan(28_770), n_visitors=20_000, traffic_per_day=30, alpha=0.05)
    assert "≈ 293 more day(s) at 30 visitors/day" in d.text


def test_aa_verdict_covers_every_arm():
    """Audit 2 #1: an A/A/A test (three identical arms) flags a difference in any arm, not only the first."""
    comps = [_comp(0.01, 0.6, "A2", rpv_lift=0.0, rpv_p=0.9), _comp(0.2, 0.01, "A3", rpv_lift=0.0, rpv_p=0.9)]
    d = decide(comps, [], _plan(15_000), alpha=0.05, srm_p=0.5, aa=True, **KW)
    assert d.kind == "aa-flag" and "conversion A3 vs A +20.0%" in d.text and "every arm" in d.text
    comps[1] = _comp(0.02, 0.6, "A3", rpv_lift=0.0, rpv_p=0.9)
    d = decide(comps, [], _plan(15_000), alpha=0.05, srm_p=0.5, aa=True, **KW)
    assert d.kind == "aa-pass" and "A2 vs A" in d.text and "A3 vs A" in d.text
