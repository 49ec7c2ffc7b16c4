"""How many visitors a day an A/B test gets: the shop's own test-period traffic, unless overridden.

A test plan in days is only as real as its traffic figure. The data says how many baskets the
shop saw per day in the test period (one basket = one visit that could see the widget); that
figure is used unless the user gives one (``abtest --traffic``, ``[abtest] traffic_per_day``,
compare's ``[report] traffic_per_day``), and the output states which it is::

    test-period baskets / calendar days of the test period ─┐
    override (option or config key) ─────────────────────────┼─► Traffic(per_day, source, text)
    neither (no timestamps) → DEFAULT_TRAFFIC_PER_DAY ───────┘

Only the standard library is imported (the decision module uses it too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Visitors per day assumed when the data has no dates and nothing is given.
DEFAULT_TRAFFIC_PER_DAY = 5_000


@dataclass(frozen=True)
class Traffic:
    """The traffic a plan uses and where it comes from.

    Attributes:
        per_day: visitors per day (>= 1).
        source: ``"observed"`` (test-period baskets per day of the data), ``"given"`` (an
            option or config key), or ``"assumed"`` (the default: the data has no dates).
        baskets, days: the test period's baskets and calendar days (observed only).
        given_as: how the override was named (``--traffic``, ``[report] traffic_per_day``).
        observed_per_day: the data's figure even when overridden (None when unknown).
    """

    per_day: int
    source: str
    baskets: int | None = None
    days: int | None = None
    given_as: str = ""
    observed_per_day: float | None = None

    def text(self) -> str:
        """How the figure was obtained, for the first screen and the report.

        Example:
            >>> Traffic(57, "observed", baskets=4_250, days=74, observed_per_day=57.4).text()
            '57 baskets/day observed in the test period (4,250 baskets over 74 days)'
        """
        if self.source == "observed":
            return (
                f"{self.per_day:,} baskets/day observed in the test period "
                f"({self.baskets or 0:,} baskets over {self.days or 0:,} days)"
            )
        obs = (
            f"; the data's test period had {self.observed_per_day:,.0f} baskets/day"
            if self.observed_per_day is not None
            else ""
        )
        if self.source == "given":
            return f"{self.per_day:,} visitors/day as given by {self.given_as or 'the user'}{obs}"
        return f"an assumed {self.per_day:,} visitors/day (the data has no dates to measure its traffic){obs}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "per_day": self.per_day,
            "source": self.source,
            "baskets": self.baskets,
            "days": self.days,
            "given_as": self.given_as,
            "observed_per_day": self.observed_per_day,
            "text": self.text(),
        }


def _parse(ts: Any) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.fromisoformat(str(ts))
    except ValueError:
        return None


def period_traffic(baskets: Any, start: Any, end: Any) -> tuple[int, int] | None:
    """``(baskets, calendar days)`` of a period from its basket count and first / last timestamp.

    Days count calendar dates from the first to the last, both included; None when the
    dates are missing or unreadable or there are no baskets.

    Example:
        >>> period_traffic(300, "2011-10-01 08:00:00", "2011-10-30 17:00:00")
        (300, 30)
    """
    t0, t1 = _parse(start), _parse(end)
    if t0 is None or t1 is None or baskets is None or int(baskets) <= 0:
        return None
    days = (t1.date() - t0.date()).days + 1
    return (int(baskets), days) if days >= 1 else None


def observed_from_split(split: Any) -> tuple[int, int] | None:
    """Test-period ``(baskets, days)`` from a split: a :class:`~xsell_eval.split.Split` or its
    ``describe()`` dict (as stored in ``CompareResult.split``); None when unknown."""
    if split is None:
        return None
    desc = split if isinstance(split, dict) else split.describe()
    test = desc.get("test") if isinstance(desc, dict) else None
    if not isinstance(test, dict):
        return None
    return period_traffic(test.get("baskets"), test.get("start"), test.get("end"))


def resolve_traffic(given: int | None, observed: tuple[int, int] | None, *, given_as: str = "") -> Traffic:
    """The traffic to plan with: ``given`` if set, else the observed test-period baskets per day, else the default.

    Args:
        given: visitors per day from an option or config key (None: not given).
        observed: test-period ``(baskets, days)`` (:func:`observed_from_split`), or None.
        given_as: how ``given`` is named to the user (``--traffic``).

    Example:
        >>> resolve_traffic(None, (4_250, 74)).per_day, resolve_traffic(2_000, (4_250, 74)).source
        (57, 'given')
    """
    obs = observed[0] / observed[1] if observed else None
    if given is not None:
        return Traffic(int(given), "given", given_as=given_as, observed_per_day=obs)
    if observed is not None and obs is not None:
        return Traffic(
            max(1, math.floor(obs + 0.5)), "observed", baskets=observed[0], days=observed[1], observed_per_day=obs
        )
    return Traffic(DEFAULT_TRAFFIC_PER_DAY, "assumed")


__all__ = ["DEFAULT_TRAFFIC_PER_DAY", "Traffic", "observed_from_split", "period_traffic", "resolve_traffic"]
