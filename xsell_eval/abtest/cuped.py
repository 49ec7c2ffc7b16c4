"""CUPED: variance reduction of an A/B estimate with a pre-period covariate (Deng et al. 2013).

::

    per visitor: outcome Y (conversion 0/1, revenue added), covariate X (pre-test spend of the
    shopper whose basket the visitor replays: training-period spend, 0 for guests / new users)
      ──► theta = pooled within-arm covariance(X, Y) / pooled within-arm variance(X)
      ──► Y_cuped = Y − theta · (X − mean X)     (both arms, the same theta)
      ──► difference of arm means with a normal CI (unequal variances), next to the plain one

With the pooled *within-arm* covariance, the CUPED difference equals the OLS coefficient of
the treatment dummy in ``Y ~ 1 + T + (X − mean X)`` (Frisch–Waugh), which the tests check
against statsmodels. The covariate is measured before the test, so the adjustment cannot
bias the estimate; it only removes the part of the noise that the pre-period explains
(variance × (1 − ρ²) for within-arm correlation ρ).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sstats

from xsell_eval.errors import DataError

#: Outcomes adjusted, as (name, SimulationResult attribute).
METRICS = (("conversion", "converted"), ("revenue_per_visitor", "revenue_added"))


@dataclass(frozen=True)
class CupedResult:
    """One treatment vs the control on one metric, plain and CUPED-adjusted.

    Attributes:
        arm, control, metric: what is compared.
        diff, diff_low, diff_high, se: plain difference of means, its ``1 − alpha`` normal CI and
            standard error (unequal variances).
        cuped_diff, cuped_low, cuped_high, cuped_se: the same after the CUPED adjustment.
        theta: the adjustment coefficient.
        rho: pooled within-arm correlation of covariate and outcome.
        variance_reduction: ``1 − cuped_se² / se²`` (0.19 = 19 % less variance).
        control_mean: plain mean of the control (for relative figures).
        expected_diff: the response model's true difference (NaN if unknown).
    """

    arm: str
    control: str
    metric: str
    diff: float
    diff_low: float
    diff_high: float
    se: float
    cuped_diff: float
    cuped_low: float
    cuped_high: float
    cuped_se: float
    theta: float
    rho: float
    variance_reduction: float
    control_mean: float
    expected_diff: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN → None)."""
        from xsell_eval.results import plain

        return plain(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CupedResult:
        """Inverse of :meth:`to_dict`."""
        clean: dict[str, Any] = {k: (math.nan if v is None else v) for k, v in d.items()}
        return cls(**clean)


def pre_period_spend(user_idx: np.ndarray, train: Any) -> np.ndarray:
    """Each query's shopper's spend in the training period (quantity × price summed; 0 for guests / unknown).

    Args:
        user_idx: user index per query (-1: guest).
        train: the training :class:`~xsell_eval.data.dataset.Dataset` (the pre-test period).
    """
    from xsell_eval.columns import Columns as C

    inter = train.interactions
    users = inter[C.USER_IDX].to_numpy(dtype=np.int64)
    qty = inter[C.QUANTITY].to_numpy(dtype=np.float64) if C.QUANTITY in inter else np.ones(len(inter))
    price = inter[C.PRICE].to_numpy(dtype=np.float64) if C.PRICE in inter else np.zeros(len(inter))
    value = np.nan_to_num(qty * price, nan=0.0, posinf=0.0, neginf=0.0)
    known = users >= 0
    u = np.asarray(user_idx, dtype=np.int64)
    size = int(max(users.max(initial=-1), u.max(initial=-1))) + 1
    spend = np.bincount(users[known], weights=value[known], minlength=size)
    return np.where(u >= 0, spend[np.clip(u, 0, None)] if size else 0.0, 0.0)


def cuped_compare(
    y: np.ndarray,
    x: np.ndarray,
    arm: np.ndarray,
    treatment: int,
    control: int = 0,
    *,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Plain and CUPED difference of means ``treatment − control`` (see the module docstring).

    Args:
        y: outcome per visitor.
        x: covariate per visitor (measured before the test).
        arm: arm index per visitor.
        treatment, control: the arms compared (visitors of other arms are ignored).
        alpha: two-sided level of the CIs.

    Returns:
        dict with ``diff``, ``diff_low``, ``diff_high``, ``se``, ``cuped_diff``, ``cuped_low``,
        ``cuped_high``, ``cuped_se``, ``theta``, ``rho``, ``variance_reduction``, ``control_mean``.

    Raises:
        DataError: arrays of different lengths, or an arm with fewer than two visitors.

    Example:
        >>> rng = np.random.default_rng(0); x = rng.normal(size=2000); t = rng.integers(0, 2, 2000)
        >>> y = 0.5 * t + x + rng.normal(size=2000)
        >>> r = cuped_compare(y, x, t, 1)
        >>> round(r["theta"], 1), r["cuped_se"] < r["se"]
        (1.0, True)
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    arm = np.asarray(arm)
    if not (len(y) == len(x) == len(arm)):
        raise DataError(
            f"outcome, covariate and arm must have one value per visitor, got {len(y)}, {len(x)}, {len(arm)}"
        )
    mt, mc = arm == treatment, arm == control
    nt, nc = int(mt.sum()), int(mc.sum())
    if nt < 2 or nc < 2:
        raise DataError(f"CUPED needs at least two visitors per arm, got {nt} (treatment) and {nc} (control)")
    yt, yc, xt, xc = y[mt], y[mc], x[mt], x[mc]
    dxt, dxc = xt - xt.mean(), xc - xc.mean()
    dyt, dyc = yt - yt.mean(), yc - yc.mean()
    sxx = float(dxt @ dxt + dxc @ dxc)
    sxy = float(dxt @ dyt + dxc @ dyc)
    syy = float(dyt @ dyt + dyc @ dyc)
    theta = sxy / sxx if sxx > 0 else 0.0
    rho = sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan
    mean_x = float(np.concatenate([xt, xc]).mean())
    at, ac = yt - theta * (xt - mean_x), yc - theta * (xc - mean_x)
    z = float(sstats.norm.isf(alpha / 2))
    diff = float(yt.mean() - yc.mean())
    se = math.sqrt(yt.var(ddof=1) / nt + yc.var(ddof=1) / nc)
    cdiff = float(at.mean() - ac.mean())
    cse = math.sqrt(at.var(ddof=1) / nt + ac.var(ddof=1) / nc)
    return {
        "diff": diff,
        "diff_low": diff - z * se,
        "diff_high": diff + z * se,
        "se": se,
        "cuped_diff": cdiff,
        "cuped_low": cdiff - z * cse,
        "cuped_high": cdiff + z * cse,
        "cuped_se": cse,
        "theta": theta,
        "rho": rho,
        "variance_reduction": 1.0 - (cse * cse) / (se * se) if se > 0 else math.nan,
        "control_mean": float(yc.mean()),
    }


def cuped_analysis(sim: Any, covariate_by_query: np.ndarray, *, alpha: float = 0.05) -> list[CupedResult]:
    """Every treatment vs the control on conversion and revenue per visitor, plain and CUPED.

    Args:
        sim: a :class:`~xsell_eval.abtest.simulate.SimulationResult`.
        covariate_by_query: the covariate per replayed query row (e.g. :func:`pre_period_spend`).
        alpha: two-sided level of the CIs.

    Raises:
        DataError: the covariate does not have one value per query.
    """
    cov = np.asarray(covariate_by_query, dtype=np.float64)
    if len(cov) != sim.n_queries:
        raise DataError(f"the CUPED covariate has {len(cov)} values for {sim.n_queries} queries")
    x = cov[sim.query_row]
    out: list[CupedResult] = []
    exp = {"conversion": sim.expected["conversion"], "revenue_per_visitor": sim.expected["revenue"]}
    for a in range(1, sim.n_arms):
        for name, attr in METRICS:
            if (sim.arm == a).sum() < 2 or (sim.arm == 0).sum() < 2:
                continue
            r = cuped_compare(getattr(sim, attr), x, sim.arm, a, 0, alpha=alpha)
            out.append(
                CupedResult(
                    arm=sim.arms[a],
                    control=sim.arms[0],
                    metric=name,
                    expected_diff=float(exp[name][a] - exp[name][0]),
                    **r,
                )
            )
    return out


__all__ = ["METRICS", "CupedResult", "cuped_analysis", "cuped_compare", "pre_period_spend"]
