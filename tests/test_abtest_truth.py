"""Proof against truth: the simulator + statistics recover a known effect on the synthetic shop.

Set-up: the default synthetic shop (seed 0), a temporal split, basket-completion queries of
the test period, two arms built with numpy (``popular`` = most bought items; ``cooc`` = items
most co-bought with the cart), top-5, response source ``truth``.

**True lift** (exact, from the generator): for each replayed query q and arm A,
``P(convert | q, A) = 1 - Π_r (1 - e_r · a(q, j_r) · (1 - w(q, j_r)))`` with
``a = ShopTruth.accept_prob`` (the generator's own purchase law), ``e_r`` the examination
curve and ``w`` the organic share of items bought later in the basket. Visitors draw queries
uniformly, so the true conversion of arm A is ``p_A = mean_q P(convert | q, A)`` and the true
lift is ``p_B / p_A - 1`` (computed in ``_abtest_fixtures.true_outcomes`` independently of the
simulator's bookkeeping).

Each replication is a full seeded simulation (new visitors, assignment and outcomes) through
the product's ``simulate_prepared``; the statistics are the product's vectorised functions.

Bands: the slow tests use >= 1,000 replications and the 93-97 % / 3-7 % bands of the brief.
The fast tests use fewer replications with bands of ±3.5 binomial standard errors around the
nominal rate, plus a check that the CI width matches the spread of the estimates, so that too
narrow *and* too wide intervals fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _abtest_fixtures import prepared, replicate, shop_case, true_outcomes

from xsell_eval.abtest.response import ResponseModel
from xsell_eval.abtest.sequential import first_crossing, first_naive, spending_bounds
from xsell_eval.abtest.simulate import simulate_prepared
from xsell_eval.abtest.stats import bootstrap_means, conversion_test


@pytest.fixture(scope="module")
def case():
    return shop_case(seed=0, k=5)


@pytest.fixture(scope="module")
def truth_lift(case):
    rm = ResponseModel(source="truth")
    (pa, ra), (pb, rb) = true_outcomes(case, "popular", rm), true_outcomes(case, "cooc", rm)
    prep = prepared(case, ("popular", "cooc"))
    # the simulator's own expectation agrees with the independent computation
    np.testing.assert_allclose(prep.expected["conversion"], [pa, pb], rtol=1e-5)
    np.testing.assert_allclose(prep.expected["revenue"], [ra, rb], rtol=1e-5)
    return prep, pb / pa - 1.0, rb / ra - 1.0


def _coverage(prep, lift, *, replications, n_visitors, traffic):
    vis, conv = replicate(prep, replications=replications, n_visitors=n_visitors, traffic_per_day=traffic)
    r = conversion_test(conv[:, -1, 1], vis[:, -1, 1], conv[:, -1, 0], vis[:, -1, 0])
    covered = (r["lift_low"] <= lift) & (lift <= r["lift_high"])
    log_est = np.log1p(r["lift"])
    mean_se = float(np.mean((np.log1p(r["lift_high"]) - np.log1p(r["lift_low"])) / (2 * 1.959964)))
    return float(covered.mean()), float(np.std(log_est, ddof=1)) / mean_se


def _aa(case, *, replications, n_visitors, traffic, seed0):
    prep = prepared(case, ("cooc", "cooc"))
    vis, conv = replicate(prep, replications=replications, n_visitors=n_visitors, traffic_per_day=traffic, seed0=seed0)
    r = conversion_test(conv[:, :, 1], vis[:, :, 1], conv[:, :, 0], vis[:, :, 0])
    both = vis[:, :, 0] + vis[:, :, 1]
    info = both[0] / both[0, -1]  # constant traffic: the same look schedule in every replication
    assert np.all(both / both[:, -1:] == info)
    bounds = spending_bounds(info, alpha=0.05)
    fixed = float((r["p_value"][:, -1] < 0.05).mean())
    seq = float((first_crossing(r["z"], bounds) >= 0).mean())
    naive = float((first_naive(r["p_value"], 0.05) >= 0).mean())
    return fixed, seq, naive


def _band(p0: float, n: int, k: float = 3.5) -> tuple[float, float]:
    se = math.sqrt(p0 * (1 - p0) / n)
    return p0 - k * se, p0 + k * se


# ---------------------------------------------------------------------- fast (default suite)


def test_lift_ci_coverage_fast(truth_lift):
    prep, lift, _ = truth_lift
    assert lift > 0.2  # a real effect exists on this shop
    cov, spread = _coverage(prep, lift, replications=200, n_visitors=10_000, traffic=1_000)
    lo, hi = _band(0.95, 200)
    print(f"\nfast coverage of the true lift {lift:+.3f}: {cov:.3f} (band {lo:.3f}-{hi:.3f}); sd/se {spread:.3f}")
    assert lo <= cov <= hi
    assert 0.8 <= spread <= 1.2  # CI width matches the spread of the estimates (not too wide or narrow)


def test_aa_and_peeking_fast(case):
    fixed, seq, naive = _aa(case, replications=400, n_visitors=10_000, traffic=1_000, seed0=50_000)
    lo, hi = _band(0.05, 400)
    print(f"\nfast A/A false positives: fixed {fixed:.3f}, sequential {seq:.3f}, naive peeking {naive:.3f}")
    assert lo <= fixed <= hi
    assert lo <= seq <= hi
    assert naive > 0.10 and naive > seq


# ---------------------------------------------------------------------- slow (>= 1,000 replications)


@pytest.mark.slow
def test_lift_ci_coverage_1000(truth_lift):
    prep, lift, _ = truth_lift
    cov, spread = _coverage(prep, lift, replications=1_000, n_visitors=20_000, traffic=1_000)
    print(f"\ncoverage of the true lift {lift:+.4f} over 1,000 replications: {cov:.3f}; sd/se {spread:.3f}")
    assert 0.93 <= cov <= 0.97
    assert 0.9 <= spread <= 1.1


@pytest.mark.slow
def test_aa_false_positives_and_peeking_1000(case):
    fixed, seq, naive = _aa(case, replications=1_000, n_visitors=20_000, traffic=1_000, seed0=90_000)
    print(
        f"\nA/A over 1,000 replications, 20 daily looks: fixed-horizon {fixed:.3f}, "
        f"sequential (O'Brien-Fleming spending) {seq:.3f}, naive daily peeking {naive:.3f}"
    )
    assert 0.03 <= fixed <= 0.07
    assert 0.03 <= seq <= 0.07
    assert naive > 0.07


@pytest.mark.slow
def test_revenue_lift_bootstrap_coverage(truth_lift):
    """Percentile-bootstrap CI of the revenue-per-visitor lift, 300 replications, ±3.5 SE band."""
    prep, _, rev_lift = truth_lift
    reps, covered = 300, 0
    for r in range(reps):
        sim = simulate_prepared(prep, n_visitors=20_000, seed=70_000 + r, traffic_per_day=1_000)
        rng = np.random.default_rng(r)
        b = [bootstrap_means(sim.revenue_added[sim.arm == a], 500, rng) for a in (0, 1)]
        lo, hi = np.percentile(b[1] / b[0] - 1.0, [2.5, 97.5])
        covered += int(lo <= rev_lift <= hi)
    cov = covered / reps
    lo_b, hi_b = _band(0.95, reps)
    print(f"\nrevenue-lift bootstrap coverage of {rev_lift:+.3f}: {cov:.3f} (band {lo_b:.3f}-{hi_b:.3f})")
    assert lo_b <= cov <= hi_b
