"""Sequential monitoring that keeps the false-positive rate under daily looks.

Method: a two-sided **group-sequential test with Lan-DeMets alpha spending** (DeMets
& Lan 1994). At look ``k`` (end of day ``k``) with information fraction
``t_k = visitors so far / planned visitors``, the test has spent ``α(t_k)`` of the
total ``α``; the boundary ``c_k`` solves

    P_H0(|Z_1| < c_1, …, |Z_{k-1}| < c_{k-1}, |Z_k| ≥ c_k) = α(t_k) − α(t_{k-1})

where ``Z_k`` are the pooled two-proportion z statistics (canonical joint
distribution: the score process is Brownian motion in information time). The
probabilities are computed by **recursive numerical integration** (Armitage,
McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19) of the sub-density of the
score on a Simpson grid whose mesh is fine relative to each look's increment. No
simulation is involved; a test checks the boundaries against published values and
against a seeded Monte-Carlo run.

Spending functions (``α`` total, two-sided):

* ``obrien-fleming`` (default): each side spends ``2 − 2 Φ(z_{1−α/4} / √t)`` (the
  symmetric two-sided design of gsDesign's ``sfLDOF`` at one-sided level α/2) —
  almost nothing early, so the final boundary stays close to 1.96.
* ``pocock``: ``α(t) = α · ln(1 + (e − 1) t)``.

Naive peeking (stop the first day the fixed-horizon p-value is below α) is computed
next to it, to show how much it inflates the false-positive rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from xsell_eval.errors import ConfigError

_CAP = 8.0  # boundaries/grids are truncated at |z| = 8 (mass beyond is < 1e-15 under H0)
_MAX_GRID = 2401


def obrien_fleming_spending(t: np.ndarray, alpha: float) -> np.ndarray:
    """Lan-DeMets O'Brien-Fleming-type spending of a symmetric two-sided test of total level ``alpha``.

    Each side spends ``f(t; α/2) = 2 − 2Φ(z_{1−α/4}/√t)`` (gsDesign's ``sfLDOF`` with the
    one-sided level α/2); the two sides together spend twice that, ``alpha`` at ``t = 1``.
    """
    t = np.clip(np.asarray(t, dtype=np.float64), 1e-12, 1.0)
    z = stats.norm.isf(alpha / 4.0)
    return np.asarray(2.0 * (2.0 * stats.norm.sf(z / np.sqrt(t))))


def pocock_spending(t: np.ndarray, alpha: float) -> np.ndarray:
    """Lan-DeMets Pocock-type spending ``α · ln(1 + (e − 1) t)``."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    return np.asarray(alpha * np.log1p((np.e - 1.0) * t))


SPENDING: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "obrien-fleming": obrien_fleming_spending,
    "pocock": pocock_spending,
}


def _simpson(a: float, b: float, min_points: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    n = int(np.ceil((b - a) / max(step, 1e-12)))
    n = max(min_points, min(_MAX_GRID, n))
    if n % 2 == 0:
        n += 1
    x = np.linspace(a, b, n)
    h = (b - a) / (n - 1)
    w = np.full(n, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return x, w * h / 3.0


def spending_bounds(
    info: np.ndarray, alpha: float = 0.05, spending: str = "obrien-fleming", *, min_grid: int = 201
) -> np.ndarray:
    """Two-sided z boundaries at the looks ``info`` (increasing information fractions in (0, 1]).

    A boundary of ``inf`` means the look spends (numerically) nothing: no stopping there.

    Args:
        info: information fractions of the looks, strictly increasing, last <= 1.
        alpha: total two-sided type-I error.
        spending: ``"obrien-fleming"`` or ``"pocock"``.
        min_grid: minimum Simpson points per look (the mesh is refined to ≤ 1/6 of the
            increment's standard deviation, up to 2401 points).

    Example:
        >>> spending_bounds(np.linspace(0.2, 1, 5)).round(3).tolist()
        [4.877, 3.357, 2.68, 2.29, 2.031]
    """
    if spending not in SPENDING:
        from xsell_eval.errors import unknown_name

        raise unknown_name("spending function", spending, SPENDING)
    if not (0.0 < alpha < 1.0):
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    t = np.asarray(info, dtype=np.float64)
    if t.ndim != 1 or len(t) == 0 or (t <= 0).any() or (t > 1.0 + 1e-9).any() or (np.diff(t) <= 0).any():
        raise ConfigError("information fractions must be strictly increasing values in (0, 1]")
    spent = SPENDING[spending](t, alpha)
    inc = np.diff(np.r_[0.0, spent])
    bounds = np.empty(len(t))

    # look 1: closed form
    bounds[0] = stats.norm.isf(inc[0] / 2.0) if inc[0] > 1e-15 else np.inf
    b = min(bounds[0], _CAP) * np.sqrt(t[0])
    sd_next = np.sqrt(t[1] - t[0]) if len(t) > 1 else 1.0
    s, w = _simpson(-b, b, min_grid, sd_next / 6.0)
    g = stats.norm.pdf(s, scale=np.sqrt(t[0]))  # sub-density of the score S_1 on the continuation region

    for k in range(1, len(t)):
        sd = np.sqrt(t[k] - t[k - 1])
        mass = w * g
        st = np.sqrt(t[k])

        def cross(c: float, mass: np.ndarray = mass, s: np.ndarray = s, sd: float = sd, st: float = st) -> float:
            bb = c * st
            return float(mass @ (stats.norm.cdf((-bb - s) / sd) + stats.norm.cdf((s - bb) / sd)))

        target = inc[k]
        if target <= 1e-15:
            c = np.inf
        elif cross(0.0) <= target:
            c = 0.0
        else:
            c = float(optimize.brentq(lambda x, target=target: cross(x) - target, 0.0, 40.0, xtol=1e-10))
        bounds[k] = c
        if k == len(t) - 1:
            break
        b = min(c, _CAP) * st
        sd_next = np.sqrt(t[k + 1] - t[k])
        y, wy = _simpson(-b, b, min_grid, min(sd, sd_next) / 6.0)
        kern = np.exp(-0.5 * np.square((y[:, None] - s[None, :]) / sd)) * (1.0 / (sd * np.sqrt(2.0 * np.pi)))
        g = kern @ mass
        s, w = y, wy
    return bounds


def first_crossing(z: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Index of the first look with ``|z| >= bound`` along the last axis, -1 if none (NaN never crosses)."""
    z = np.asarray(z, dtype=np.float64)
    hit = np.abs(np.nan_to_num(z, nan=0.0)) >= np.asarray(bounds)
    hit &= np.isfinite(z)
    any_hit = hit.any(axis=-1)
    return np.where(any_hit, hit.argmax(axis=-1), -1)


def first_naive(p: np.ndarray, alpha: float) -> np.ndarray:
    """Index of the first look whose unadjusted p-value is below ``alpha``, -1 if none."""
    hit = np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0) < alpha
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


@dataclass(frozen=True)
class SequentialResult:
    """Day-by-day monitoring of one treatment arm against the control.

    Attributes:
        arm, control: labels.
        alpha: the (possibly Bonferroni-split) two-sided level of this comparison.
        spending: spending-function name.
        days: 1-based day numbers of the looks.
        info: information fraction at each look (visitors so far / planned).
        visitors: cumulative visitors of the two arms at each look.
        lift, lift_low, lift_high: cumulative relative conversion lift and its unadjusted
            ``1 - ci_alpha`` CI (descriptive: not adjusted for the repeated looks).
        z: pooled two-proportion z statistic at each look.
        p_naive: unadjusted two-sided p-value at each look.
        bound: group-sequential z boundary at each look (inf = no stopping possible).
        decision_day: first day with ``|z| >= bound`` (None: no decision within the test).
        naive_day: first day with ``p_naive < alpha`` (what daily peeking would have done).
        ci_alpha: level of the cumulative lift intervals (0.05 = 95 %; runs written before
            this field existed used 0.05).
    """

    arm: str
    control: str
    alpha: float
    spending: str
    days: list[int]
    info: list[float]
    visitors: list[int]
    lift: list[float]
    lift_low: list[float]
    lift_high: list[float]
    z: list[float]
    p_naive: list[float]
    bound: list[float]
    decision_day: int | None
    naive_day: int | None
    ci_alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (infinite boundaries as None)."""
        d = asdict(self)
        d["bound"] = [None if not np.isfinite(b) else b for b in self.bound]
        for key in ("lift", "lift_low", "lift_high", "z", "p_naive"):
            d[key] = [None if not np.isfinite(v) else v for v in d[key]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SequentialResult:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["bound"] = [np.inf if b is None else float(b) for b in d["bound"]]
        for key in ("lift", "lift_low", "lift_high", "z", "p_naive"):
            d[key] = [np.nan if v is None else float(v) for v in d[key]]
        return cls(**d)
