"""``abtest --repeats``: decision frequencies on the synthetic shop against the power at the true effect.

The synthetic shop's true conversion of each arm is known exactly (response ``truth``), so the
share of repeats that ship the better arm must match the power of the two-proportion test at
the true rates (computed here directly with statsmodels, independently of the module), within
binomial noise.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from _abtest_fixtures import prepared, shop_case
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep, proportion_effectsize

from xsell_eval.abtest.analysis import analyse
from xsell_eval.abtest.repeats import (
    RepeatSummary,
    contradiction_text,
    decision_label,
    expected_effect_text,
    repeat_seeds,
    run_repeats,
)
from xsell_eval.abtest.simulate import simulate_prepared
from xsell_eval.errors import ConfigError


@pytest.fixture(scope="module")
def prep():
    return prepared(shop_case(), ("popular", "cooc"))


def _tolerance(p: float, n: int) -> float:
    """3.5 binomial standard errors + 0.03 for the normal approximation behind the power formula."""
    return 3.5 * math.sqrt(p * (1 - p) / n) + 0.03


def test_decision_frequencies_match_power_at_true_effect(prep):
    n_rep, visitors = 200, 500
    r = run_repeats(prep, repeats=n_rep, n_visitors=visitors, seed=11)
    pc, pt = (float(x) for x in prep.expected["conversion"])
    assert pt > pc  # cooc converts better on the shop: the test should ship it as often as it has power
    n_arm = visitors / 2
    power = float(power_proportions_2indep(pt - pc, pc, n_arm, ratio=1.0, alpha=0.05, return_results=False))
    cohen = float(NormalIndPower().power(proportion_effectsize(pt, pc), n_arm, 0.05, ratio=1.0))
    assert 0.3 < power < 0.8  # a test where the outcome is genuinely uncertain
    assert abs(power - cohen) < 0.05  # two textbook formulas agree on the reference
    shares = r.shares()
    ship = shares.get(f"ship {prep.arms[1]}", 0.0)
    assert abs(ship - power) < _tolerance(power, n_rep), (ship, power, r.decisions)
    assert abs(r.arms[0].share_better - ship) < 1e-12
    # the lower tail of the two-sided test at this effect is negligible: no repeat keeps the control
    assert r.arms[0].share_worse < 0.02
    assert sum(r.decisions.values()) == n_rep
    assert r.arms[0].power_true == pytest.approx(power, rel=1e-9)
    # winner's curse: the significant repeats overstate the true lift when power is moderate
    a = r.arms[0]
    assert a.mean_lift_significant > a.expected_lift
    assert a.mean_lift_significant > a.mean_lift
    assert a.overstatement > 0
    assert "ship" in r.sentence() and f"of {n_rep} repeats" in r.sentence()


def test_mean_lift_recovers_true_lift(prep):
    r = run_repeats(prep, repeats=40, n_visitors=8000, seed=5)
    a = r.arms[0]
    true = float(prep.expected["conversion"][1] / prep.expected["conversion"][0] - 1)
    assert a.expected_lift == pytest.approx(true)
    # mean of 40 estimates: within 4 standard errors (+ 0.02 for the small bias of a ratio estimator)
    assert abs(a.mean_lift - true) < 4 * a.sd_lift / math.sqrt(40) + 0.02
    assert r.decisions == {f"ship {prep.arms[1]}": 40}  # power is ~1 at 8,000 visitors


def test_same_seed_same_numbers_and_roundtrip(prep):
    a = run_repeats(prep, repeats=5, n_visitors=400, seed=3)
    b = run_repeats(prep, repeats=5, n_visitors=400, seed=3)
    c = run_repeats(prep, repeats=5, n_visitors=400, seed=4)
    assert a.decisions == b.decisions and a.arms == b.arms
    assert a.arms != c.arms
    back = RepeatSummary.from_dict(a.to_dict())
    assert back.decisions == a.decisions and back.arms[0].mean_lift == a.arms[0].mean_lift
    # repeat i is the single simulation with seed repeat_seeds(seed)[i]
    s0 = repeat_seeds(3, 5)[0]
    single = analyse(simulate_prepared(prep, n_visitors=400, seed=s0), n_boot=100, seed=s0)
    one = run_repeats(prep, repeats=1, n_visitors=400, seed=3)
    assert one.decisions == {decision_label(single.decision): 1}
    assert one.arms[0].mean_lift == single.comparisons[0].lift


def test_bad_repeats(prep):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="--repeats"):
            run_repeats(prep, repeats=bad, n_visitors=400)  # type: ignore[arg-type]


def test_expected_effect_and_contradiction(prep):
    a = analyse(simulate_prepared(prep, n_visitors=5000, seed=1), n_boot=100)
    assert a.decision.kind == "ship"
    text = expected_effect_text(a, "truth")
    c = a.comparisons[0]
    assert "true effect" in text and f"{c.expected_lift:+.1%}" in text and f"{c.expected_rpv_lift:+.1%}" in text
    assert contradiction_text(a) == ""  # cooc also earns more: no contradiction
    # the same decision when the model expected the shipped arm to earn less per visitor
    worse = replace(a, comparisons=[replace(c, expected_rpv_lift=-0.2)])
    warn = contradiction_text(worse)
    assert "contradicts" in warn and "-20.0%" in warn
    kept = replace(
        a,
        decision=replace(a.decision, kind="keep-control", arm=c.control),
        comparisons=[replace(c, lift=-0.1, expected_rpv_lift=0.3)],
    )
    assert "keeps the control" in contradiction_text(kept)


def test_seeds_are_seedsequence_words():
    s = repeat_seeds(7, 3)
    assert s == [int(np.random.SeedSequence([7, i]).generate_state(1)[0]) for i in range(3)]
