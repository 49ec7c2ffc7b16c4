"""CUPED: the estimate is the OLS treatment coefficient; CIs cover the truth on the synthetic shop and narrow
when the covariate correlates with the outcome."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from _abtest_fixtures import prepared, shop_case

from xsell_eval.abtest.cuped import CupedResult, cuped_analysis, cuped_compare, pre_period_spend
from xsell_eval.abtest.simulate import simulate_prepared
from xsell_eval.errors import DataError
from xsell_eval.split import make_split


@pytest.fixture(scope="module")
def case():
    c = shop_case()
    prep = prepared(c, ("popular", "cooc"))
    spend = pre_period_spend(c.queries.user_idx, make_split(c.ds, "temporal").train)
    # a covariate that does correlate: each query's own control conversion probability (fixed before the test)
    p_control = 1.0 - np.prod(1.0 - prep.p_incremental[0].astype(np.float64), axis=1)
    return prep, spend, p_control


def _ols_treatment_coef(y, x, t):
    xc = x - x.mean()
    design = np.column_stack([np.ones(len(y)), t.astype(np.float64), xc])
    return float(sm.OLS(y, design).fit().params[1])


def test_cuped_estimate_is_the_ols_coefficient(case):
    prep, spend, p_control = case
    sim = simulate_prepared(prep, n_visitors=4000, seed=3)
    for cov in (spend, p_control):
        x = cov[sim.query_row]
        for y in (sim.converted.astype(np.float64), sim.revenue_added):
            r = cuped_compare(y, x, sim.arm, 1, 0)
            assert r["cuped_diff"] == pytest.approx(_ols_treatment_coef(y, x, sim.arm == 1), abs=1e-9)
            assert r["diff"] == pytest.approx(y[sim.arm == 1].mean() - y[sim.arm == 0].mean(), abs=1e-12)
    # three arms: only the two compared enter (theta and the OLS are fitted on their visitors)
    rng = np.random.default_rng(0)
    arm = rng.integers(0, 3, 3000)
    x = rng.normal(size=3000)
    y = 0.3 * (arm == 2) + 2 * x + rng.normal(size=3000)
    keep = arm != 1
    r = cuped_compare(y, x, arm, 2, 0)
    assert r["cuped_diff"] == pytest.approx(_ols_treatment_coef(y[keep], x[keep], arm[keep] == 2), abs=1e-9)
    assert r["variance_reduction"] == pytest.approx(0.8, abs=0.05)  # rho² = 4 / 5


def test_synthetic_shop_has_no_pre_period_correlation(case):
    # stated honestly in docs/abtest.md: the generator draws each basket independently of past spend
    prep, spend, _ = case
    sim = simulate_prepared(prep, n_visitors=50_000, seed=1)
    for r in cuped_analysis(sim, spend):
        assert abs(r.rho) < 0.03 and r.variance_reduction < 0.005


def _coverage(prep, cov, repeats, n_visitors=3000):
    hit = {"plain": 0, "cuped": 0}
    width = {"plain": 0.0, "cuped": 0.0}
    for i in range(repeats):
        sim = simulate_prepared(prep, n_visitors=n_visitors, seed=50_000 + i)
        (r,) = [c for c in cuped_analysis(sim, cov) if c.metric == "conversion"]
        hit["plain"] += r.diff_low <= r.expected_diff <= r.diff_high
        hit["cuped"] += r.cuped_low <= r.expected_diff <= r.cuped_high
        width["plain"] += r.diff_high - r.diff_low
        width["cuped"] += r.cuped_high - r.cuped_low
    return {k: v / repeats for k, v in hit.items()}, width["cuped"] / width["plain"]


def _band(repeats):
    se = np.sqrt(0.95 * 0.05 / repeats)
    return 0.95 - 3.5 * se, 0.95 + 3.5 * se


def test_cuped_coverage_on_the_shop_fast(case):
    prep, spend, p_control = case
    lo, hi = _band(300)
    for covariate in (p_control, spend):
        cov, ratio = _coverage(prep, covariate, 300)
        assert lo <= cov["cuped"] <= hi and lo <= cov["plain"] <= hi, cov
        # on the shop a visitor's outcome is almost pure Bernoulli noise given its query (R² of the best
        # per-query covariate ≈ 0.02), so even p_control narrows the interval by about 1 % only
        assert 0.97 < ratio <= 1.0 + 1e-3, ratio


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_cuped_narrows_when_the_covariate_correlates(rho):
    """Gaussian outcome with a pre-period covariate of known correlation: width ratio √(1 − ρ²), coverage 95 %."""
    rng = np.random.default_rng(int(rho * 10))
    repeats, n, tau = 400, 400, 0.2
    lo, hi = _band(repeats)
    hits, ratios = 0, []
    for _ in range(repeats):
        arm = rng.integers(0, 2, n)
        x = rng.normal(size=n)
        y = tau * arm + rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
        r = cuped_compare(y, 5.0 + 3.0 * x, arm, 1)  # shifted and scaled: theta absorbs it
        hits += r["cuped_low"] <= tau <= r["cuped_high"]
        ratios.append((r["cuped_high"] - r["cuped_low"]) / (r["diff_high"] - r["diff_low"]))
    assert lo <= hits / repeats <= hi
    assert np.mean(ratios) == pytest.approx(np.sqrt(1 - rho**2), abs=0.01)


@pytest.mark.slow
def test_cuped_coverage_1000(case):
    prep, spend, p_control = case
    for covariate in (p_control, spend):
        cov, _ = _coverage(prep, covariate, 1000)
        assert 0.93 <= cov["cuped"] <= 0.97, cov


def test_cuped_roundtrip_and_bad_input(case):
    prep, spend, _ = case
    sim = simulate_prepared(prep, n_visitors=1000, seed=2)
    rs = cuped_analysis(sim, spend)
    assert [r.metric for r in rs] == ["conversion", "revenue_per_visitor"]
    assert CupedResult.from_dict(rs[0].to_dict()) == rs[0]
    with pytest.raises(DataError, match="covariate has 3 values"):
        cuped_analysis(sim, spend[:3])
    with pytest.raises(DataError, match="at least two visitors"):
        cuped_compare(np.ones(3), np.ones(3), np.array([0, 0, 1]), 1)
