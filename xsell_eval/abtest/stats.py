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
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sstats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
    test_proportions_2indep,
)

from xsell_eval.abtest.sequential import (
    SequentialResult,
    first_crossing,
    first_naive,
    spending_bounds,
)
from xsell_eval.abtest.simulate import SimulationResult
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


# ---------------------------------------------------------------------- result values
@dataclass(frozen=True)
class ArmStats:
    """One arm's outcomes."""

    name: str
    adapter: str
    weight: float
    visitors: int
    conversions: int
    conversion: float
    conversion_low: float
    conversion_high: float
    revenue_per_visitor: float
    rpv_low: float
    rpv_high: float
    items_per_visitor: float
    accepted_per_visitor: float
    basket_value: float
    fill_rate: float
    expected_conversion: float
    expected_rpv: float


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against the control (conversion is the primary metric)."""

    arm: str
    control: str
    diff: float
    diff_low: float
    diff_high: float
    z: float
    p_value: float
    p_holm: float
    lift: float
    lift_low: float
    lift_high: float
    expected_lift: float
    rpv_diff: float
    rpv_diff_low: float
    rpv_diff_high: float
    welch_t: float
    rpv_p_value: float
    rpv_p_holm: float
    rpv_lift: float
    rpv_lift_low: float
    rpv_lift_high: float
    expected_rpv_lift: float
    power_observed: float
    n_for_observed: float
    significant: bool


@dataclass(frozen=True)
class PowerPlan:
    """Sample size to detect the stated MDE from the observed control rate."""

    baseline: float
    mde: float
    alpha: float
    alpha_per_comparison: float
    power: float
    method: str
    n_treatment: float
    n_treatment_other_method: float
    other_method: str
    total_visitors: float


@dataclass(frozen=True)
class Decision:
    """The plain-language outcome (see :func:`decide`).

    Attributes:
        kind: ``"ship"`` | ``"keep-control"`` | ``"no-difference"`` | ``"needs-more"`` |
            ``"srm"`` (the traffic split is off: do not trust the result) | ``"aa-pass"`` |
            ``"aa-flag"`` (A/A mode).
        text: ``"<headline>: <details>"``; the headline names the metric it is about.
        arm: the arm to ship (``ship``) or keep (``keep-control``).
        more_visitors, more_days: ``needs-more`` only.
        metric: the metric the decision is about (the primary metric, conversion).
        sequential: how the day-by-day monitor relates to the fixed-horizon test:
            ``"agrees"``, ``"fixed-only"`` (significant at the planned horizon, boundary never
            crossed), ``"sequential-only"`` (boundary crossed, not significant at the horizon),
            or ``""`` (both found nothing / not applicable).
        revenue: revenue per visitor (Holm-adjusted Welch test) of the arm the decision is
            about: ``"same-direction"`` / ``"opposite"`` (significant, same or other direction as a
            significant conversion result), ``"significant"`` (significant while conversion is
            not), ``""`` (not significant).
        tied_with: multi-arm ``ship``: the runner-up when the head-to-head test does not
            separate it from ``arm``.
        head_to_head: the two best treatments tested against each other (``arm``, ``other``,
            ``lift``, ``lift_low``, ``lift_high``, ``p_value``), when there are two; when they are
            tied on conversion also their revenue per visitor (Welch): ``rpv_diff`` (``arm`` −
            ``other``), ``rpv_diff_low``, ``rpv_diff_high``, ``rpv_p_value``.
    """

    kind: str
    text: str
    arm: str | None = None
    more_visitors: int | None = None
    more_days: int | None = None
    metric: str = "conversion"
    sequential: str = ""
    revenue: str = ""
    tied_with: str | None = None
    head_to_head: dict[str, Any] | None = None


@dataclass(frozen=True)
class Analysis:
    """Everything the report needs about one experiment."""

    arms: list[ArmStats]
    comparisons: list[Comparison]
    srm_chi2: float
    srm_p: float
    srm_flag: bool
    plan: PowerPlan
    sequential: list[SequentialResult]
    decision: Decision
    alpha: float
    n_visitors: int
    n_days: int
    traffic_per_day: int
    look_every: int
    n_boot: int
    spending: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN/inf as None)."""
        d = asdict(self)
        d["sequential"] = [s.to_dict() for s in self.sequential]
        return _clean(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Analysis:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["arms"] = [ArmStats(**_unclean(a)) for a in d["arms"]]
        d["comparisons"] = [Comparison(**_unclean(c)) for c in d["comparisons"]]
        d["plan"] = PowerPlan(**_unclean(d["plan"]))
        d["sequential"] = [SequentialResult.from_dict(s) for s in d["sequential"]]
        d["decision"] = Decision(**d["decision"])
        for key in ("srm_chi2", "srm_p"):
            d[key] = math.nan if d[key] is None else d[key]
        return cls(**d)


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


_FLOAT_FIELDS_INF = {"n_for_observed", "n_treatment", "n_treatment_other_method", "total_visitors"}


def _unclean(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if v is None and k not in ("name", "adapter", "arm", "control"):
            out[k] = math.inf if k in _FLOAT_FIELDS_INF else math.nan
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------- settings
def _is_real(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and bool(np.isfinite(v))


def check_test_settings(*, alpha: Any, mde: Any, label: Callable[[str], str] = str) -> None:
    """Refuse an ``alpha`` or ``mde`` the analysis cannot use, naming them by ``label(key)``.

    Args:
        alpha: two-sided significance level, in (0, 0.5).
        mde: relative minimum detectable effect on conversion: nonzero, > -1 (0.10 = +10 %).
        label: how the caller names a setting: ``"alpha"`` → ``"--alpha"`` (CLI) or
            ``"run.toml: [abtest] alpha"`` (experiment file); default the bare key.

    Raises:
        ConfigError: a value out of range (the message names it by ``label``).

    Example:
        >>> check_test_settings(alpha=0.6, mde=0.1, label=lambda k: "--" + k)
        Traceback (most recent call last):
        ...
        xsell_eval.errors.ConfigError: --alpha must be a two-sided level in (0, 0.5), got 0.6
    """
    if not _is_real(alpha) or not (0.0 < alpha < 0.5):
        raise ConfigError(f"{label('alpha')} must be a two-sided level in (0, 0.5), got {alpha!r}")
    if not _is_real(mde) or mde <= -1.0 or mde == 0:
        raise ConfigError(
            f"{label('mde')} must be a nonzero relative effect on conversion, above -1 (0.10 = +10 %), got {mde!r}"
        )


# ---------------------------------------------------------------------- analysis
def _looks(n_days: int, max_looks: int) -> int:
    return max(1, math.ceil(n_days / max_looks))


def monitor(
    sim: SimulationResult,
    treatment: int,
    *,
    alpha: float = 0.05,
    spending: str = "obrien-fleming",
    max_looks: int = MAX_LOOKS,
    ci_alpha: float = 0.05,
) -> SequentialResult:
    """Day-by-day cumulative monitoring of arm ``treatment`` against arm 0.

    Looks happen at the end of each day (every ``ceil(days / max_looks)`` days when the
    test runs longer than ``max_looks`` days); the information fraction is the share of
    the planned visitors (all simulated visitors) seen so far.

    Args:
        sim: the simulation.
        treatment: arm index compared with arm 0.
        alpha: total two-sided level the boundaries spend over all looks (the final
            boundary is above the fixed-horizon critical value because earlier looks
            spent part of it); naive peeking is judged at the same level.
        spending: spending function.
        max_looks: at most this many looks.
        ci_alpha: level of the descriptive cumulative lift intervals (``1 - ci_alpha``
            CIs, unadjusted for the looks).
    """
    daily = sim.daily()
    n_days = sim.n_days
    every = _looks(n_days, max_looks)
    look_days = np.unique(np.r_[np.arange(every - 1, n_days, every), n_days - 1])
    vis = daily["visitors"].to_numpy().reshape(n_days, sim.n_arms)
    conv = daily["conversions"].to_numpy().reshape(n_days, sim.n_arms)
    cv, cc = np.cumsum(vis, axis=0)[look_days], np.cumsum(conv, axis=0)[look_days]
    res = conversion_test(cc[:, treatment], cv[:, treatment], cc[:, 0], cv[:, 0], alpha=ci_alpha)
    both = cv[:, treatment] + cv[:, 0]
    info = both / both[-1]
    bounds = spending_bounds(info, alpha=alpha, spending=spending)
    dec = int(first_crossing(res["z"], bounds))
    naive = int(first_naive(res["p_value"], alpha))
    return SequentialResult(
        arm=sim.arms[treatment],
        control=sim.arms[0],
        alpha=alpha,
        spending=spending,
        days=(look_days + 1).tolist(),
        info=info.tolist(),
        visitors=both.astype(int).tolist(),
        lift=res["lift"].tolist(),
        lift_low=res["lift_low"].tolist(),
        lift_high=res["lift_high"].tolist(),
        z=res["z"].tolist(),
        p_naive=res["p_value"].tolist(),
        bound=bounds.tolist(),
        decision_day=int(look_days[dec] + 1) if dec >= 0 else None,
        naive_day=int(look_days[naive] + 1) if naive >= 0 else None,
        ci_alpha=ci_alpha,
    )


def analyse(
    sim: SimulationResult,
    *,
    alpha: float = 0.05,
    mde: float = 0.10,
    power: float = 0.8,
    n_boot: int = 2000,
    seed: int = 0,
    sample_size_method: str = "pooled",
    spending: str = "obrien-fleming",
    max_looks: int = MAX_LOOKS,
    aa: bool = False,
) -> Analysis:
    """All statistics of a simulated experiment; arm 0 is the control.

    Args:
        sim: the simulation.
        alpha: two-sided level of every test; with several treatment arms Holm corrects
            the fixed-horizon p-values and the sample-size plan and sequential monitoring
            use ``alpha / (number of treatment arms)`` (Bonferroni).
        mde: relative minimum detectable effect on conversion for the sample-size plan.
        power: target power of the plan.
        n_boot: bootstrap resamples for revenue CIs.
        seed: bootstrap seed.
        sample_size_method: ``"pooled"`` (default) or ``"cohen"``.
        spending: sequential spending function.
        max_looks: at most this many sequential looks.
        aa: an A/A test (the same recommendations in both arms): the decision is an
            A/A verdict (see :func:`decide`).

    Raises:
        ConfigError: bad alpha / power / mde, fewer than two arms, or an arm without visitors.
    """
    if sim.n_arms < 2:
        raise ConfigError(f"an A/B test needs at least two arms, got {sim.n_arms}")
    check_test_settings(alpha=alpha, mde=mde)
    if not (0.0 < power < 1.0):
        raise ConfigError(f"power must be in (0, 1), got {power!r}")
    if sample_size_method not in SAMPLE_SIZE_METHODS:
        raise ConfigError(f"sample-size method must be one of {list(SAMPLE_SIZE_METHODS)}, got {sample_size_method!r}")
    rng = np.random.default_rng([int(seed), 7])
    n_arms = sim.n_arms
    n = sim.visitors_per_arm()
    empty = [sim.arms[a] for a in range(n_arms) if n[a] == 0]
    if empty:
        raise ConfigError(
            f"arm(s) {empty} received no visitors out of {sim.n_visitors:,}: every arm needs visitors to be "
            "compared; simulate more visitors"
        )
    conv = np.bincount(sim.arm, weights=sim.converted, minlength=n_arms).astype(np.int64)
    rev = [sim.revenue_added[sim.arm == a] for a in range(n_arms)]
    boots = [bootstrap_means(r, n_boot, rng) for r in rev]
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]

    arms: list[ArmStats] = []
    for a in range(n_arms):
        lo, hi = proportion_confint(conv[a], n[a], alpha=alpha, method="wilson") if n[a] else (np.nan, np.nan)
        mask = sim.arm == a
        rlo, rhi = np.percentile(boots[a], q) if n[a] else (np.nan, np.nan)
        arms.append(
            ArmStats(
                name=sim.arms[a],
                adapter=sim.adapters[a],
                weight=float(sim.weights[a]),
                visitors=int(n[a]),
                conversions=int(conv[a]),
                conversion=float(conv[a] / n[a]) if n[a] else math.nan,
                conversion_low=float(lo),
                conversion_high=float(hi),
                revenue_per_visitor=float(rev[a].mean()) if n[a] else math.nan,
                rpv_low=float(rlo),
                rpv_high=float(rhi),
                items_per_visitor=float(sim.items_added[mask].mean()) if n[a] else math.nan,
                accepted_per_visitor=float(sim.items_accepted[mask].mean()) if n[a] else math.nan,
                basket_value=float(sim.basket_value[mask].mean()) if n[a] else math.nan,
                fill_rate=float(sim.fill_rate[a]),
                expected_conversion=float(sim.expected["conversion"][a]),
                expected_rpv=float(sim.expected["revenue"][a]),
            )
        )

    m = n_arms - 1
    t_idx = np.arange(1, n_arms)
    ct = conversion_test(conv[t_idx], n[t_idx], conv[0], n[0], alpha=alpha)
    p_conv = np.nan_to_num(ct["p_value"], nan=1.0)
    p_holm = multipletests(p_conv, alpha=alpha, method="holm")[1] if m > 1 else p_conv
    welch = [_welch(rev[a], rev[0], alpha) for a in t_idx]
    p_rev = np.array([w[1] for w in welch])
    p_rev_holm = multipletests(np.nan_to_num(p_rev, nan=1.0), alpha=alpha, method="holm")[1] if m > 1 else p_rev
    exp_c = sim.expected["conversion"]
    exp_r = sim.expected["revenue"]
    alpha_each = alpha / m
    comps: list[Comparison] = []
    for i, a_np in enumerate(t_idx):
        a = int(a_np)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_boot = boots[a] / boots[0] - 1.0
            diff_boot = boots[a] - boots[0]
        pc, pt = ct["p_c"][i], ct["p_t"][i]
        pw, n_obs = _observed_power(pc, pt, n[a], n[0], alpha_each, power)
        comps.append(
            Comparison(
                arm=sim.arms[a],
                control=sim.arms[0],
                diff=float(ct["diff"][i]),
                diff_low=float(ct["diff_low"][i]),
                diff_high=float(ct["diff_high"][i]),
                z=float(ct["z"][i]),
                p_value=float(ct["p_value"][i]),
                p_holm=float(p_holm[i]),
                lift=float(ct["lift"][i]),
                lift_low=float(ct["lift_low"][i]),
                lift_high=float(ct["lift_high"][i]),
                expected_lift=float(exp_c[a] / exp_c[0] - 1.0) if exp_c[0] > 0 else math.nan,
                rpv_diff=float(rev[a].mean() - rev[0].mean()),
                rpv_diff_low=float(np.percentile(diff_boot, q[0])),
                rpv_diff_high=float(np.percentile(diff_boot, q[1])),
                welch_t=float(welch[i][0]),
                rpv_p_value=float(p_rev[i]),
                rpv_p_holm=float(p_rev_holm[i]),
                rpv_lift=float(rev[a].mean() / rev[0].mean() - 1.0) if rev[0].mean() > 0 else math.nan,
                rpv_lift_low=_nanpct(ratio_boot, q[0]),
                rpv_lift_high=_nanpct(ratio_boot, q[1]),
                expected_rpv_lift=float(exp_r[a] / exp_r[0] - 1.0) if exp_r[0] > 0 else math.nan,
                power_observed=pw,
                n_for_observed=n_obs,
                significant=bool(p_holm[i] < alpha),
            )
        )

    chi2, p_srm = srm_test(n, sim.weights)
    plan = _plan(arms, sim.weights, mde=mde, alpha=alpha, alpha_each=alpha_each, power=power, method=sample_size_method)
    seq = [
        monitor(sim, int(a), alpha=alpha_each, spending=spending, max_looks=max_looks, ci_alpha=alpha) for a in t_idx
    ]
    # revenue per visitor between treatments (Welch), for two arms the decision finds tied on conversion
    rpv_tests = {(sim.arms[i], sim.arms[j]): _welch(rev[i], rev[j], alpha) for i in t_idx for j in t_idx if i < j}
    decision = decide(
        comps,
        seq,
        plan,
        n_visitors=sim.n_visitors,
        traffic_per_day=sim.traffic_per_day,
        alpha=alpha,
        arms=arms,
        srm_p=p_srm,
        aa=aa,
        rpv_tests=rpv_tests,
    )
    return Analysis(
        arms=arms,
        comparisons=comps,
        srm_chi2=chi2,
        srm_p=p_srm,
        srm_flag=bool(p_srm < SRM_THRESHOLD),
        plan=plan,
        sequential=seq,
        decision=decision,
        alpha=alpha,
        n_visitors=sim.n_visitors,
        n_days=sim.n_days,
        traffic_per_day=sim.traffic_per_day,
        look_every=_looks(sim.n_days, max_looks),
        n_boot=n_boot,
        spending=spending,
        settings={"mde": mde, "power": power, "sample_size_method": sample_size_method, "seed": seed, "aa": aa},
    )


def _nanpct(x: np.ndarray, q: float) -> float:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, q)) if len(x) else math.nan


def _welch(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    if len(x) < 2 or len(y) < 2 or (np.var(x) == 0 and np.var(y) == 0):
        return math.nan, math.nan, math.nan, math.nan
    res = sstats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    return float(res.statistic), float(res.pvalue), float(ci.low), float(ci.high)


def _observed_power(pc: float, pt: float, nt: int, nc: int, alpha: float, power: float) -> tuple[float, float]:
    """Power at the observed effect with the current sizes, and treatment n needed for ``power``."""
    if not (0 < pc < 1) or not (0 < pt < 1) or pt == pc or nt == 0:
        return math.nan, math.inf
    ratio = nc / nt
    pw = power_proportions_2indep(pt - pc, pc, nt, ratio=ratio, alpha=alpha, return_results=False)
    need = samplesize_proportions_2indep_onetail(pt - pc, pc, power, ratio=ratio, alpha=alpha)
    return float(pw), float(need)


def _plan(
    arms: list[ArmStats],
    weights: np.ndarray,
    *,
    mde: float,
    alpha: float,
    alpha_each: float,
    power: float,
    method: str,
) -> PowerPlan:
    base = arms[0].conversion
    other = "cohen" if method == "pooled" else "pooled"
    if not (0 < base < 1) or not (0 < base * (1 + mde) < 1):
        return PowerPlan(base, mde, alpha, alpha_each, power, method, math.inf, math.inf, other, math.inf)
    totals = []
    n_main = n_other = 0.0
    for a in range(1, len(arms)):
        ratio = weights[0] / weights[a]
        nt = required_sample_size(base, mde, alpha=alpha_each, power=power, ratio=ratio, method=method)
        no = required_sample_size(base, mde, alpha=alpha_each, power=power, ratio=ratio, method=other)
        n_main, n_other = max(n_main, nt), max(n_other, no)
        totals.append(max(nt / weights[a], nt * ratio / weights[0]))
    return PowerPlan(
        baseline=base,
        mde=mde,
        alpha=alpha,
        alpha_per_comparison=alpha_each,
        power=power,
        method=method,
        n_treatment=math.ceil(n_main),
        n_treatment_other_method=math.ceil(n_other),
        other_method=other,
        total_visitors=math.ceil(max(totals)),
    )


def _pct(x: float) -> str:
    return f"{x:+.1%}" if np.isfinite(x) else "n/a"


def level_label(alpha: float) -> str:
    """The confidence level of a two-sided ``alpha`` interval, e.g. ``0.05 -> "95%"``, ``0.2 -> "80%"``."""
    return f"{round((1.0 - float(alpha)) * 100.0, 4):g}%"


def format_p(p: float, alpha: float | None = None, *, digits: int = 2) -> str:
    """A p-value with ``digits`` significant digits — more when it lies near ``alpha``.

    Within 10 % of ``alpha`` at least 3 significant digits are shown, and digits are added
    until the printed number falls on the same side of ``alpha`` as the exact one, so a
    significant 0.04995 never prints as "0.05" (at alpha 0.05).

    Example:
        >>> format_p(0.04995, 0.05), format_p(0.0451, 0.05), format_p(0.0451)
        ('0.04995', '0.0451', '0.045')
    """
    if not np.isfinite(p):
        return "n/a"
    if alpha is not None and np.isfinite(alpha) and alpha > 0:
        if abs(p - alpha) <= 0.1 * alpha:
            digits = max(digits, 3)
        for d in range(digits, 18):
            s = f"{p:.{d}g}"
            if (float(s) < alpha) == (p < alpha):
                return s
    return f"{p:.{digits}g}"


def p_text(p: float, alpha: float | None = None) -> str:
    """``"= 0.045"`` / ``"< 1e-300"`` (a p-value that underflows is not 0) / ``"= n/a"``.

    With ``alpha``, enough digits that the printed p and the verdict at ``alpha`` agree (:func:`format_p`).
    """
    if not np.isfinite(p):
        return "= n/a"
    return "< 1e-300" if p < 1e-300 else f"= {format_p(p, alpha)}"


def format_money(x: float, *, signed: bool = False) -> str:
    """An amount without exponent notation: ``1,234.50``, ``1.78``, ``0.0123`` (3 significant digits below 1)."""
    if not np.isfinite(x):
        return "n/a"
    sign = "+" if signed else ""
    ax = abs(float(x))
    if ax >= 1 or ax == 0:
        return f"{x:{sign},.2f}"
    decimals = min(12, 2 - math.floor(math.log10(ax)))
    return f"{x:{sign}.{decimals}f}"


def duration_text(days: int) -> str:
    """``"43 day(s)"``, or ``"14,375 days (about 39 years)"`` beyond a year."""
    if days <= 365:
        return f"{days:,} day(s)"
    years = days / 365.25
    return f"{days:,} days (about {years:.1f} years)" if years < 10 else f"{days:,} days (about {years:,.0f} years)"


def _ci(lo: float, hi: float, lvl: str) -> str:
    return f"{lvl} CI {_pct(lo)} to {_pct(hi)}"


def _seq_sentence(c: Comparison, s: SequentialResult | None, alpha: float) -> tuple[str, str, str]:
    """(agreement, sentence, headline clause) of the day-by-day monitor about a fixed-horizon result ``c``.

    ``alpha`` is the family level of the fixed-horizon test; the monitor runs at ``s.alpha``
    (``alpha / m`` with ``m`` treatments). A fixed-only result is blamed on the interim looks
    only when a single final look at the monitor's level would have been significant;
    otherwise the monitor's stricter per-arm level (Bonferroni vs Holm) is the reason.
    """
    if s is None:
        return "", "", ""
    how = f"the day-by-day monitor ({s.spending} alpha spending, two-sided alpha {s.alpha:.3g})"
    if c.significant:
        if s.decision_day is not None:
            return "agrees", f" {how[0].upper()}{how[1:]} agrees: it crossed its boundary on day {s.decision_day}.", ""
        final_z = abs(s.z[-1]) if s.z and np.isfinite(s.z[-1]) else math.nan
        final_b = s.bound[-1] if s.bound else math.nan
        numbers = (
            f" (final |z| {final_z:.2f} < boundary {final_b:.2f})"
            if np.isfinite(final_z) and np.isfinite(final_b) and final_z < final_b
            else ""
        )
        crit = float(sstats.norm.isf(s.alpha / 2)) if 0 < s.alpha < 1 else math.nan
        if s.alpha < alpha * (1 - 1e-9) and np.isfinite(final_z) and final_z < crit:
            m = max(2, round(alpha / s.alpha))
            return (
                "fixed-only",
                f" This is significant at the planned horizon after Holm correction, but {how} never crossed its "
                f"boundary{numbers}. The monitor tests each of the {m} treatments at alpha / {m} = {s.alpha:.3g} "
                "(Bonferroni), which is stricter for this arm than Holm: even a single look at the end would not be "
                f"significant at that level (|z| {final_z:.2f} < {crit:.2f}), so the gap comes from the monitor's "
                "per-treatment level, not from the interim looks. Both keep false positives at alpha; the team must "
                "choose in advance which one it follows.",
                ", by the fixed-horizon Holm test (the daily monitor's stricter per-treatment level does not "
                "confirm it)",
            )
        return (
            "fixed-only",
            f" This is significant at the planned horizon, but {how} never crossed its boundary{numbers}: "
            "if the team looked at results daily, this is not yet conclusive.",
            ", if nobody acted on interim looks",
        )
    if s.decision_day is not None:
        i = s.days.index(s.decision_day) if s.decision_day in s.days else -1
        z = s.z[i] if i >= 0 else math.nan
        way = "better" if z > 0 else "worse"
        action = f"shipped {c.arm}" if z > 0 else f"kept {c.control}"
        return (
            "sequential-only",
            f" The two readings disagree: {how} crossed its boundary on day {s.decision_day} with {c.arm} {way} "
            f"(a team following it would have stopped and {action} then), while the test at its planned horizon "
            "finds no significant difference. Both keep false positives at alpha; the team must choose in advance "
            "which one it follows.",
            "",
        )
    return "", "", ""


def _rev_sig(c: Comparison, alpha: float) -> bool:
    return bool(np.isfinite(c.rpv_p_holm) and c.rpv_p_holm < alpha and np.isfinite(c.rpv_lift))


def _rev_sentence(c: Comparison, lvl: str, alpha: float) -> tuple[str, str]:
    """(direction, sentence) about the revenue per visitor of ``c`` (Holm-adjusted Welch test)."""
    est = f"{_pct(c.rpv_lift)} ({_ci(c.rpv_lift_low, c.rpv_lift_high, lvl)}, Welch p {p_text(c.rpv_p_holm, alpha)})"
    what = f" Revenue per visitor of {c.arm} vs {c.control}"
    if not _rev_sig(c, alpha):
        return "", f"{what}: {est}, not significant."
    same = (c.rpv_lift > 0) == (c.lift > 0) if c.significant else False
    if c.significant and same:
        return "same-direction", f"{what} moves the same way: {est}."
    if c.significant:
        return "opposite", (
            f"{what} moves the OTHER way: {est} — weigh the revenue against the conversion before acting."
        )
    other = ", the opposite direction of the (not significant) conversion estimate" if _against_conversion(c) else ""
    return "significant", f"{what} does differ significantly: {est}{other}."


def _against_conversion(c: Comparison) -> bool:
    """Revenue per visitor moves the other way than the conversion estimate."""
    return bool(np.isfinite(c.lift) and c.lift != 0 and np.isfinite(c.rpv_lift) and (c.rpv_lift > 0) != (c.lift > 0))


def _rev_head(c: Comparison, alpha: float) -> str:
    """Headline clause flagging a significant revenue result of ``c`` ("" when not significant)."""
    if not _rev_sig(c, alpha):
        return ""
    way = "higher" if c.rpv_lift > 0 else "lower"
    return f"{c.arm} has significantly {way} revenue per visitor ({_pct(c.rpv_lift)})"


def _clean_h2h(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def _pair(
    tests: Mapping[tuple[str, str], tuple[float, float, float, float]] | None, x: str, y: str
) -> tuple[float, float, float, float] | None:
    """Welch (t, p, CI low, CI high) of mean(x) − mean(y) from ``tests`` (either order), or None."""
    if not tests:
        return None
    if (x, y) in tests:
        return tests[(x, y)]
    if (y, x) in tests:
        t, p, lo, hi = tests[(y, x)]
        return -t, p, -hi, -lo
    return None


def _srm_decision(arms: list[ArmStats], srm_p: float, aa: bool) -> Decision:
    counts = ", ".join(f"{a.name} {a.visitors:,}" for a in arms)
    planned = "/".join(f"{a.weight:.0%}" for a in arms)
    head = "A/A check failed" if aa else "do not trust this result"
    return Decision(
        "aa-flag" if aa else "srm",
        f"{head}: the traffic split is off — the arms got {counts} visitors for a planned {planned} split "
        f"(sample-ratio mismatch, chi-square p {p_text(srm_p, SRM_THRESHOLD)}). In a live test this would point to "
        "an assignment or logging fault that makes every comparison unreliable; in this simulation, where visitors "
        "are assigned to arms at random by the split, it is chance — re-run with another seed.",
    )


def _aa_decision(
    comps: list[Comparison], seq: list[SequentialResult], alpha: float, lvl: str, srm_p: float
) -> Decision:
    """A/A verdict over every comparison (all arms show the same recommendations)."""
    several = len(comps) > 1

    def conv(c: Comparison) -> str:
        who = f" {c.arm} vs {c.control}" if several else ""
        return f"conversion{who} {_pct(c.lift)} ({_ci(c.lift_low, c.lift_high, lvl)}, p {p_text(c.p_holm, alpha)})"

    def rev(c: Comparison) -> str:
        who = f" {c.arm} vs {c.control}" if several else ""
        return (
            f"revenue per visitor{who} {_pct(c.rpv_lift)} ({_ci(c.rpv_lift_low, c.rpv_lift_high, lvl)}, "
            f"Welch p {p_text(c.rpv_p_holm, alpha)})"
        )

    srm = f" Sample-ratio check OK (p {p_text(srm_p, SRM_THRESHOLD)})." if np.isfinite(srm_p) else ""
    crossed = [s for s in seq if s.decision_day is not None]
    if crossed and not several:
        monitor = f" The day-by-day monitor crossed its boundary on day {crossed[0].decision_day}."
    elif crossed:
        monitor = (
            " The day-by-day monitor crossed its boundary: "
            + ", ".join(f"{s.arm} on day {s.decision_day}" for s in crossed)
            + "."
        )
    else:
        monitor = ""
    flags = [conv(c) for c in comps if c.significant] + [rev(c) for c in comps if _rev_sig(c, alpha)]
    if flags:
        same = "in every arm" if several else "in both arms"
        any_conv = any(c.significant for c in comps)
        return Decision(
            "aa-flag",
            f"A/A check flagged a difference: {' and '.join(flags)}, with the same recommendations {same}. A flag is "
            f"expected in about {alpha * 100:g}% of runs by chance (per metric); re-run with another seed; if it "
            f"persists, the set-up (assignment, logging) is broken.{monitor}{srm}",
            metric="conversion" if any_conv else "revenue per visitor",
        )
    details = "; ".join(f"{conv(c)}; {rev(c)}" for c in comps)
    return Decision(
        "aa-pass",
        f"A/A check passed: no significant difference (as expected) — {details}.{monitor}{srm}",
    )


def _tie_revenue(
    best: str,
    other: str,
    a: ArmStats,
    b: ArmStats,
    tests: Mapping[tuple[str, str], tuple[float, float, float, float]] | None,
    lvl: str,
    alpha: float,
) -> tuple[str, dict[str, Any]]:
    """Sentence and head-to-head fields about the revenue per visitor of two arms tied on conversion."""
    means = f"{best} {format_money(a.revenue_per_visitor)}, {other} {format_money(b.revenue_per_visitor)} per visitor"
    w = _pair(tests, best, other)
    if w is None or not np.isfinite(w[1]):
        return (
            f" Revenue per visitor: {means} (no test between the two is available); choose on revenue per visitor, "
            "cost or simplicity.",
            {},
        )
    _t, p, lo, hi = w
    diff = a.revenue_per_visitor - b.revenue_per_visitor
    fields = {"rpv_diff": float(diff), "rpv_diff_low": float(lo), "rpv_diff_high": float(hi), "rpv_p_value": float(p)}
    txt = (
        f" Revenue per visitor head to head (Welch's t, also outside the Holm family), {best} vs {other}: "
        f"{format_money(diff, signed=True)} per visitor ({lvl} CI {format_money(lo, signed=True)} to "
        f"{format_money(hi, signed=True)}, p {p_text(p, alpha)}; {means})"
    )
    if p < alpha:
        more, less = (best, other) if diff > 0 else (other, best)
        txt += f": {more} earns significantly more per visitor than {less} — weigh that against cost and simplicity."
    else:
        txt += (
            ": not significant either, so revenue per visitor does not separate them in this test; choose on cost "
            "or simplicity."
        )
    return txt, fields


def decide(
    comps: list[Comparison],
    seq: list[SequentialResult],
    plan: PowerPlan,
    *,
    n_visitors: int,
    traffic_per_day: int,
    alpha: float,
    arms: list[ArmStats] | None = None,
    srm_p: float | None = None,
    aa: bool = False,
    rpv_tests: Mapping[tuple[str, str], tuple[float, float, float, float]] | None = None,
) -> Decision:
    """Plain decision on conversion (the primary metric), with what revenue and the daily monitor say.

    * sample-ratio mismatch (``srm_p`` < 0.001) → ``srm``: do not trust the result;
    * A/A mode → ``aa-pass`` / ``aa-flag`` (a flag on conversion or on revenue per visitor, of any arm);
    * a treatment significantly better (Holm) → ``ship`` the best one; with two or more, the
      two best are tested against each other (pooled two-proportion test) and are called
      "not separable in this test" unless that test is significant at ``alpha``; then their
      revenue per visitor is compared (Welch, from ``rpv_tests``);
    * only significantly worse treatments → ``keep-control``;
    * nothing significant and the test had the planned sample for the MDE → ``no-difference``;
    * otherwise → ``needs-more`` with the missing visitors and days at the current traffic.

    Every decision states whether the day-by-day sequential monitor agrees with the
    fixed-horizon test (``Decision.sequential``) and flags a significant revenue-per-visitor
    result in its headline, above all one pointing the other way (``Decision.revenue``).

    Args:
        comps: treatment-vs-control comparisons.
        seq: sequential monitoring results (matched to ``comps`` by arm).
        plan: the sample-size plan for the MDE.
        n_visitors: visitors simulated.
        traffic_per_day: visitors per day.
        alpha: two-sided level (intervals are ``1 - alpha``).
        arms: per-arm outcomes (needed for the SRM text and the head-to-head tests).
        srm_p: sample-ratio-mismatch p-value.
        aa: A/A mode.
        rpv_tests: ``(x, y)`` → Welch ``(t, p, CI low, CI high)`` of the revenue per visitor of
            treatment ``x`` minus treatment ``y`` (either order), for two arms tied on conversion.
    """
    lvl = level_label(alpha)
    seq_by_arm = {s.arm: s for s in seq}
    if srm_p is not None and np.isfinite(srm_p) and srm_p < SRM_THRESHOLD and arms:
        return _srm_decision(arms, srm_p, aa)
    if aa and comps:
        return _aa_decision(comps, seq, alpha, lvl, math.nan if srm_p is None else srm_p)

    def conv_txt(c: Comparison) -> str:
        return (
            f"conversion {c.arm} vs {c.control} {_pct(c.lift)} ({_ci(c.lift_low, c.lift_high, lvl)}, "
            f"Holm-adjusted p {p_text(c.p_holm, alpha)})"
        )

    better = [c for c in comps if c.significant and c.lift > 0]
    if better:
        ranked = sorted(better, key=lambda c: -c.lift)
        best = ranked[0]
        agree, seq_txt, seq_head = _seq_sentence(best, seq_by_arm.get(best.arm), alpha)
        rev_dir, rev_txt = _rev_sentence(best, lvl, alpha)
        tied: str | None = None
        h2h: dict[str, Any] | None = None
        h2h_txt = ""
        by_name = {a.name: a for a in arms or []}
        if len(ranked) > 1 and best.arm in by_name and ranked[1].arm in by_name:
            second = ranked[1]
            a, b = by_name[best.arm], by_name[second.arm]
            r = conversion_test(a.conversions, a.visitors, b.conversions, b.visitors, alpha=alpha)
            p_h = float(r["p_value"])
            h2h = {
                "arm": best.arm,
                "other": second.arm,
                "lift": float(r["lift"]),
                "lift_low": float(r["lift_low"]),
                "lift_high": float(r["lift_high"]),
                "p_value": p_h,
            }
            vs = (
                f"Head to head (pooled two-proportion test, one extra test outside the Holm family), {best.arm} vs "
                f"{second.arm}: conversion {_pct(float(r['lift']))} "
                f"({_ci(float(r['lift_low']), float(r['lift_high']), lvl)}, p {p_text(p_h, alpha)})"
            )
            h2h_txt = f"; {conv_txt(second)}. {vs}"
            if np.isfinite(p_h) and p_h < alpha:
                h2h_txt += f": {best.arm} is ahead."
            else:
                tied = second.arm
                tie_txt, tie_fields = _tie_revenue(best.arm, second.arm, a, b, rpv_tests, lvl, alpha)
                h2h.update(tie_fields)
                h2h_txt += f": {best.arm} or {second.arm}: not separable in this test on conversion.{tie_txt}"
            h2h = _clean_h2h(h2h)
        name = f"{best.arm} or {tied}" if tied else best.arm
        head = f"ship {name} on conversion" + (" (not separable in this test)" if tied else "")
        head += seq_head
        flag = _rev_head(best, alpha)
        if tied:
            second = ranked[1]
            flag2 = _rev_head(second, alpha)
            if flag and flag2 and (best.rpv_lift > 0) == (second.rpv_lift > 0):
                way = "higher" if best.rpv_lift > 0 else "lower"
                flag = (
                    f"both have significantly {way} revenue per visitor ({best.arm} {_pct(best.rpv_lift)}, "
                    f"{second.arm} {_pct(second.rpv_lift)})"
                )
            elif flag2:
                flag = f"{flag}; {flag2}" if flag else flag2
            if flag2 and second.rpv_lift < 0:
                rev_dir = "opposite"
            rev_txt += _rev_sentence(second, lvl, alpha)[1]
        if flag and rev_dir == "opposite":
            head += f", but {flag}"
        elif flag:
            head += f", and {flag}"
        text = f"{head}: {conv_txt(best)}{h2h_txt or '.'}{seq_txt}{rev_txt}"
        return Decision(
            "ship",
            text,
            arm=best.arm,
            sequential=agree,
            revenue=rev_dir,
            tied_with=tied,
            head_to_head=h2h,
        )
    worse = [c for c in comps if c.significant and c.lift < 0]
    if worse:
        w = min(worse, key=lambda c: c.lift)
        agree, seq_txt, seq_head = _seq_sentence(w, seq_by_arm.get(w.arm), alpha)
        rev_dir, rev_txt = _rev_sentence(w, lvl, alpha)
        head = f"keep {w.control}, {w.arm} converts significantly worse{seq_head}"
        flag = _rev_head(w, alpha)
        if flag:
            head += f", but {flag}" if rev_dir == "opposite" else f", and {flag}"
        return Decision(
            "keep-control",
            f"{head}: {conv_txt(w)}; no treatment converts better.{seq_txt}{rev_txt}",
            arm=w.control,
            sequential=agree,
            revenue=rev_dir,
        )
    # nothing significant on conversion
    seq_txt, agree = "", ""
    for c in comps:
        a_, t_, _h = _seq_sentence(c, seq_by_arm.get(c.arm), alpha)
        if t_:
            agree, seq_txt = a_, t_
            break
    # every significant revenue result, those against the conversion estimate and the lower ones first
    flagged = sorted(
        (c for c in comps if _rev_sig(c, alpha)),
        key=lambda c: (not _against_conversion(c), c.rpv_lift > 0, c.rpv_p_holm),
    )
    rev_head = ""
    rev_txt = ""
    rev_dir = ""
    if flagged:
        heads = [_rev_head(c, alpha) for c in flagged]
        rev_head = ", but " + (" and ".join(heads) if len(heads) == 2 else "; ".join(heads))
        rev_dir = "significant"
        rev_txt = "".join(_rev_sentence(c, lvl, alpha)[1] for c in flagged)
        rev_txt += " Decide whether conversion or revenue matters more before acting."
    obs = "; ".join(conv_txt(c) for c in comps)
    need = plan.total_visitors
    mde_txt = f"a {plan.mde:+.0%} relative change in conversion with {plan.power:.0%} power"
    if np.isfinite(need) and n_visitors >= need:
        return Decision(
            "no-difference",
            f"no detectable difference in conversion{rev_head}: the test had the {int(need):,} visitors needed to "
            f"detect {mde_txt} and found none at alpha {alpha:g} ({obs}).{seq_txt}{rev_txt}",
            sequential=agree,
            revenue=rev_dir,
        )
    if not np.isfinite(need):
        base = plan.baseline
        if np.isfinite(base) and 0 < base < 1 and base * (1 + plan.mde) >= 1:
            why = (
                f"the MDE {plan.mde:+.0%} applied to the control's conversion of {base:.2%} implies a rate of "
                f"{base * (1 + plan.mde):.0%}, above 100%, so no sample size can be planned; choose a smaller --mde"
            )
        elif np.isfinite(base) and base >= 1:
            why = "the control converted on every visit, so no sample size can be planned"
        else:
            why = (
                "the control never converted, so no sample size can be planned; more traffic or a larger "
                "effect is needed"
            )
        return Decision(
            "needs-more",
            f"no detectable difference in conversion{rev_head}, and no sample-size plan: {why} ({obs}).{seq_txt}"
            f"{rev_txt}",
            sequential=agree,
            revenue=rev_dir,
        )
    more = math.ceil(need - n_visitors)
    days = math.ceil(more / traffic_per_day)
    return Decision(
        "needs-more",
        f"needs about {more:,} more visitors ≈ {_more_days(days)} at {traffic_per_day:,} visitors/day to judge "
        f"conversion{rev_head}: the plan to detect {mde_txt} needs {int(need):,} visitors in total; so far no "
        f"significant difference ({obs}).{seq_txt}{rev_txt}",
        more_visitors=more,
        more_days=days,
        sequential=agree,
        revenue=rev_dir,
    )


def _more_days(days: int) -> str:
    """``"43 more day(s)"`` / ``"14,375 more days (about 39 years)"``."""
    head, _, rest = duration_text(days).partition(" ")
    return f"{head} more {rest}"
