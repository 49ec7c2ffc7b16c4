"""Analysis of a simulated A/B test: per-arm statistics, comparisons with control, power, monitoring.

:func:`analyse` turns a :class:`~xsell_eval.abtest.simulate.SimulationResult` into an
:class:`Analysis` with the methods of :mod:`xsell_eval.abtest.stats`; the verdict and its
wording come from :func:`xsell_eval.abtest.wording.decide`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sstats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportion_confint,
    samplesize_proportions_2indep_onetail,
)

from xsell_eval.abtest.sequential import (
    SequentialResult,
    first_crossing,
    first_naive,
    spending_bounds,
)
from xsell_eval.abtest.simulate import SimulationResult
from xsell_eval.abtest.stats import (
    MAX_LOOKS,
    SAMPLE_SIZE_METHODS,
    SRM_THRESHOLD,
    bootstrap_means,
    conversion_test,
    required_sample_size,
    srm_test,
)
from xsell_eval.errors import ConfigError


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
        from xsell_eval.results import plain

        return plain(d)  # type: ignore[no-any-return]

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
    sequential: bool = True,
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
        sequential: run the day-by-day monitor (``False``: no monitor, ``Analysis.sequential``
            is empty; the decision's kind does not depend on it, only its wording — used by
            the cheap repeats of :mod:`xsell_eval.abtest.repeats`).

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
    seq = (
        [monitor(sim, int(a), alpha=alpha_each, spending=spending, max_looks=max_looks, ci_alpha=alpha) for a in t_idx]
        if sequential
        else []
    )
    # revenue per visitor between treatments (Welch), for two arms the decision finds tied on conversion
    rpv_tests = {(sim.arms[i], sim.arms[j]): _welch(rev[i], rev[j], alpha) for i in t_idx for j in t_idx if i < j}
    from xsell_eval.abtest.wording import decide

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
