"""Statistics of a simulated experiment — statsmodels and scipy wherever they provide it.

=====================================  =================================================================
quantity                               method
=====================================  =================================================================
conversion difference: test            pooled two-proportion z test: statsmodels ``test_proportions_2indep``
                                       (``method="score"``, ``correction=False``), identical to
                                       ``proportions_ztest``; vectorised over arms / days / replications
conversion difference: CI              Newcombe hybrid score interval, ``confint_proportions_2indep``
conversion relative lift: CI           delta method on log(p_B / p_A) (Katz), ``confint_proportions_2indep``
                                       (``compare="ratio"``, ``method="log"``)
conversion rate per arm: CI            Wilson, ``proportion_confint``
revenue per visitor: test and CI       Welch's t, ``scipy.stats.ttest_ind(equal_var=False)``
revenue per visitor and lift: CI       percentile bootstrap of the mean (:func:`bootstrap_means`, exact
                                       and sparse: only nonzero revenues are resampled)
sample-ratio mismatch                  chi-square goodness of fit, ``scipy.stats.chisquare``
several treatment arms                 Holm, ``statsmodels.stats.multitest.multipletests``
sample size (product default)          pooled-variance formula (= R ``power.prop.test``):
                                       ``samplesize_proportions_2indep_onetail``
sample size (alternative)              Cohen's h: ``NormalIndPower().solve_power(proportion_effectsize)``
power at the observed effect           ``power_proportions_2indep``
sequential monitoring                  Lan-DeMets alpha spending, :mod:`xsell_eval.abtest.sequential`
=====================================  =================================================================

The product uses the **pooled** sample-size formula because it is the one that
matches the test it runs (pooled variance under H0): baseline 5 %, relative MDE
10 %, α = 0.05 two-sided, power 0.8 → 31,234 per arm (Cohen's h would say 31,218).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import stats as sstats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
    test_proportions_2indep,
)

from xsell_eval.errors import ConfigError

SAMPLE_SIZE_METHODS = ("pooled", "cohen")
SRM_THRESHOLD = 0.001  # p-value below which the split is declared broken (a common platform default)
MAX_LOOKS = 100


# ---------------------------------------------------------------------- vectorised primitives
def conversion_test(conv_t: Any, n_t: Any, conv_c: Any, n_c: Any, *, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Treatment vs control conversion: z test, difference CI, relative-lift CI (broadcasts).

    Returns:
        dict of arrays: ``p_t``, ``p_c``, ``diff``, ``diff_low``, ``diff_high``, ``z``,
        ``p_value``, ``lift``, ``lift_low``, ``lift_high`` (lift = p_t / p_c − 1).
        Undefined values (no visitors, no conversions) are NaN.
    """
    ct, nt, cc, nc = (
        np.array(x) for x in np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (conv_t, n_t, conv_c, n_c)))
    )
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        res = test_proportions_2indep(ct, nt, cc, nc, method="score", correction=False, return_results=True)
        d_low, d_high = confint_proportions_2indep(ct, nt, cc, nc, method="newcomb", compare="diff", alpha=alpha)
        r_low, r_high = confint_proportions_2indep(ct, nt, cc, nc, method="log", compare="ratio", alpha=alpha)
        p_t, p_c = ct / nt, cc / nc
        lift = p_t / p_c - 1.0
    bad_ratio = (ct <= 0) | (cc <= 0)
    return {
        "p_t": np.asarray(p_t),
        "p_c": np.asarray(p_c),
        "diff": np.asarray(p_t - p_c),
        "diff_low": np.asarray(d_low, dtype=np.float64),
        "diff_high": np.asarray(d_high, dtype=np.float64),
        "z": np.asarray(res.statistic, dtype=np.float64),
        "p_value": np.asarray(res.pvalue, dtype=np.float64),
        "lift": np.where(cc > 0, lift, np.nan),
        "lift_low": np.where(bad_ratio, np.nan, np.asarray(r_low, dtype=np.float64) - 1.0),
        "lift_high": np.where(bad_ratio, np.nan, np.asarray(r_high, dtype=np.float64) - 1.0),
    }


def bootstrap_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` ordinary bootstrap resamples of ``x`` (size n, with replacement).

    Exact but sparse: a resample of n values draws ``Binomial(n, m/n)`` of the ``m``
    nonzero values (uniformly, with replacement) and zeros otherwise, so the cost is
    O(n_boot × m) rather than O(n_boot × n). The distribution of the returned means
    is that of the textbook bootstrap (checked against ``scipy.stats.bootstrap``).
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.full(n_boot, np.nan)
    nz = x[x != 0]
    m = len(nz)
    if m == 0:
        return np.zeros(n_boot)
    counts = rng.binomial(n, m / n, size=n_boot)
    cum = np.cumsum(counts)
    out = np.empty(n_boot)
    budget = 4_000_000  # draws per vectorised group (bounds memory)
    start = 0
    while start < n_boot:
        before = int(cum[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, before + budget, side="right")))
        c = counts[start:stop]
        total = int(c.sum())
        if total == 0:
            out[start:stop] = 0.0
            start = stop
            continue
        drawn = nz[rng.integers(0, m, size=total, dtype=np.int64 if m > 2**31 - 1 else np.int32)]
        offsets = np.r_[0, np.cumsum(c)[:-1]]
        has = c > 0  # reduceat needs strictly increasing offsets: sum the non-empty groups only
        sums = np.zeros(len(c))
        sums[has] = np.add.reduceat(drawn, offsets[has])
        out[start:stop] = sums / n
        start = stop
    return out


def required_sample_size(
    baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    method: str = "pooled",
) -> float:
    """Visitors needed in the *treatment* arm (the control needs ``ratio`` times as many).

    Args:
        baseline: control conversion rate, in (0, 1).
        mde: relative minimum detectable effect (0.10 = +10 %); negative allowed.
        alpha: two-sided level.
        power: target power.
        ratio: control / treatment visitors.
        method: ``"pooled"`` (product default, = R ``power.prop.test``) or ``"cohen"`` (Cohen's h).

    Returns:
        The (unrounded) number; ``inf`` when the effect is 0.

    Example:
        >>> math.ceil(required_sample_size(0.05, 0.10))
        31234
        >>> math.ceil(required_sample_size(0.05, 0.10, method="cohen"))
        31218
    """
    if not (0.0 < baseline < 1.0):
        raise ConfigError(f"baseline conversion must be in (0, 1), got {baseline!r}")
    if method not in SAMPLE_SIZE_METHODS:
        raise ConfigError(f"sample-size method must be one of {list(SAMPLE_SIZE_METHODS)}, got {method!r}")
    p1 = baseline * (1.0 + mde)
    if mde == 0 or not np.isfinite(mde):
        return math.inf
    if not (0.0 < p1 < 1.0):
        raise ConfigError(f"baseline {baseline} with relative effect {mde:+.1%} gives an impossible rate {p1}")
    if method == "pooled":
        return float(
            samplesize_proportions_2indep_onetail(
                p1 - baseline, baseline, power, ratio=ratio, alpha=alpha, alternative="two-sided"
            )
        )
    h = proportion_effectsize(p1, baseline)
    return float(NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=ratio))


def srm_test(observed: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Sample-ratio mismatch: chi-square statistic and p-value of the arm counts vs the planned split."""
    obs = np.asarray(observed, dtype=np.float64)
    exp = np.asarray(weights, dtype=np.float64) * obs.sum()
    if len(obs) < 2:
        return 0.0, 1.0
    res = sstats.chisquare(obs, f_exp=exp)
    return float(res.statistic), float(res.pvalue)
