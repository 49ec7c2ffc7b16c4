"""Test length from the shop's own traffic: observed test-period baskets per day unless overridden."""

from __future__ import annotations

import math

import pytest
from _abtest_fixtures import shop_case

from xsell_eval.abtest.traffic import (
    DEFAULT_TRAFFIC_PER_DAY,
    observed_from_split,
    period_traffic,
    resolve_traffic,
)
from xsell_eval.columns import Columns as C
from xsell_eval.split import make_split


def test_period_traffic_counts_calendar_days_inclusive():
    assert period_traffic(10, "2024-01-02", "2024-01-01") is None  # end before start
    assert period_traffic(10, "2024-01-01 08:00", "2024-01-01 20:00") == (10, 1)
    assert period_traffic(62, "2024-02-28", "2024-03-01") == (62, 3)  # leap year: 28, 29 Feb, 1 Mar
    assert period_traffic(0, "2024-01-01", "2024-01-02") is None
    assert period_traffic(5, None, "2024-01-02") is None
    assert period_traffic(5, "not a date", "2024-01-02") is None


def test_resolve_order_given_then_observed_then_default():
    t = resolve_traffic(None, (1_799, 20))
    assert (t.per_day, t.source) == (90, "observed")  # 89.95 rounds to 90
    assert t.text() == "90 baskets/day observed in the test period (1,799 baskets over 20 days)"
    g = resolve_traffic(3_000, (1_799, 20), given_as="--traffic")
    assert (g.per_day, g.source) == (3_000, "given")
    assert g.text() == "3,000 visitors/day as given by --traffic; the data's test period had 90 baskets/day"
    d = resolve_traffic(None, None)
    assert (d.per_day, d.source) == (DEFAULT_TRAFFIC_PER_DAY, "assumed") and "no dates" in d.text()
    assert resolve_traffic(None, (3, 10)).per_day == 1  # never 0 visitors a day


def test_observed_on_the_synthetic_shop_matches_the_test_interactions():
    case = shop_case()
    split = make_split(case.ds, "temporal")
    obs = observed_from_split(split)
    assert obs is not None
    # independently: distinct test baskets, and calendar days from the first to the last test timestamp
    inter = split.test.interactions
    days = inter[C.TIMESTAMP].dt.normalize()
    assert obs == (inter[C.BASKET_IDX].nunique(), (days.max() - days.min()).days + 1)
    assert observed_from_split(split.describe()) == obs  # the stored description gives the same figure
    t = resolve_traffic(None, obs)
    assert t.per_day == math.floor(obs[0] / obs[1] + 0.5)


@pytest.mark.parametrize("bad", [{}, {"test": None}, {"test": {"baskets": 3}}])
def test_observed_unknown(bad):
    assert observed_from_split(bad) is None
