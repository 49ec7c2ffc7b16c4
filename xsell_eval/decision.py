"""The decision of an offline comparison, computed once in the library.

:func:`decide` turns a :class:`~xsell_eval.result.CompareResult` into a :class:`Decision`:
which adapter to use (the best one reliably better than the baseline on the primary metric,
after Holm correction), how it compares with the baseline and with the runner-up (a paired
test on the per-query values), what it is worth in money (revenue@k per 1,000 queries), and
how many visitors an A/B test would need to confirm it. The Markdown report and the console
only word these numbers; they compute none of them.

Verdicts: ``adopt`` (a winner), ``keep-baseline`` (no candidate reliably better),
``no-comparison`` (no baseline, or only one adapter completed), ``nothing-completed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from xsell_eval._lookup import finite_or_none as _opt

if TYPE_CHECKING:
    import pandas as pd

    from xsell_eval.headtohead import HeadToHead
    from xsell_eval.result import CompareResult

DEFAULT_TRAFFIC_PER_DAY = 5_000
DEFAULT_POWER = 0.8
WIDGET_SHARE = 0.1
"""Sensitivity scenario of the A/B sizing: the live widget converts at this share of the offline hit rate."""
SEPARATION_ALPHA = 0.05
"""Level of the one extra paired test winner vs runner-up (outside the Holm family)."""

_T = TypeVar("_T")


def _flat(cls: type[_T], d: dict[str, Any] | None) -> _T | None:
    """``cls(**d)`` over the keys ``cls`` knows (flat dataclasses); None for an empty ``d``."""
    if not d:
        return None
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in d.items() if k in known})


def _asdict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


@dataclass(frozen=True)
class DecisionSettings:
    """What the decision assumed: traffic per day and power of the A/B sizing, currency, CI level."""

    traffic_per_day: int = DEFAULT_TRAFFIC_PER_DAY
    power: float = DEFAULT_POWER
    currency: str | None = None
    confidence: float = 0.95
    traffic_text: str = ""
    """Where the traffic figure comes from (``84 baskets/day observed in the test period ...``); '' in old runs."""


@dataclass(frozen=True)
class VsBaseline:
    """The paired comparison of the focus adapter with the baseline on the primary metric (a comparisons row)."""

    adapter: str
    metric: str = ""
    n: int | None = None
    n_joined: int | None = None
    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    rel_diff: float | None = None
    rel_ci_low: float | None = None
    rel_ci_high: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    significant: bool = False
    mark: str = ""
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None


@dataclass(frozen=True)
class PairedTest:
    """Winner − runner-up on the primary metric, paired on the same queries."""

    n: int = 0
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    wins: int = 0
    ties: int = 0
    losses: int = 0
    test: str = ""

    @property
    def separates(self) -> bool:
        """True when the two are told apart at :data:`SEPARATION_ALPHA`."""
        return self.p_value is not None and self.p_value < SEPARATION_ALPHA


@dataclass(frozen=True)
class RunnerUp:
    """The second-best candidate: its primary metric, the paired test against the leader, its money."""

    adapter: str
    leader_ci_low: float | None = None
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    paired: PairedTest | None = None
    revenue_per_1000: float | None = None
    revenue_per_1000_ci_low: float | None = None
    revenue_per_1000_ci_high: float | None = None


@dataclass(frozen=True)
class Money:
    """revenue@k difference of the focus adapter vs the baseline per 1,000 queries, with its CI."""

    metric: str
    per_1000: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool
    mark: str
    currency: str | None
    baskets_per_day: float | None = None
    """Baskets per day of the test period (the data's own rate, as the A/B sizing's observed traffic;
    None when the split has no dates)."""
    test_baskets: int | None = None
    test_days: int | None = None
    per_month: float | None = None
    """The difference per 30 days at ``baskets_per_day``: an offline ceiling (see :func:`monthly`)."""
    per_month_ci_low: float | None = None
    per_month_ci_high: float | None = None


@dataclass(frozen=True)
class ABPlan:
    """Visitors per arm (and days at the assumed traffic) an A/B test needs to confirm the conversion gain."""

    conversion_metric: str
    p_control: float
    p_treatment: float
    rel_lift: float
    alpha: float
    power: float
    traffic_per_day: int
    n_per_arm: int
    days: int
    method: str
    widget_share: float | None = None
    n_per_arm_widget: int | None = None
    days_widget: int | None = None
    rel_lift_low: float | None = None
    n_per_arm_low: int | None = None
    days_low: int | None = None


@dataclass(frozen=True)
class Decision:
    """What to do, and the numbers behind it (JSON round trip: :meth:`to_dict` / :meth:`from_dict`).

    Attributes:
        verdict: ``adopt`` | ``keep-baseline`` | ``no-comparison`` | ``nothing-completed``.
        primary_metric, baseline: as configured.
        settings: traffic, power, currency and CI level assumed.
        winner: the adapter to use (None unless ``adopt``).
        best: highest mean on the primary metric (may be the baseline).
        better: candidates reliably better than the baseline, best first.
        vs_baseline: the comparison row of the winner (or of the best candidate).
        runner_up: the next candidate, with the paired test against the leader.
        money: revenue@k difference per 1,000 queries (None without prices).
        ab_plan: the A/B sample size (None when there is no positive conversion effect to size).
        n_tests: hypotheses in the Holm family.
    """

    verdict: str
    primary_metric: str
    baseline: str
    settings: DecisionSettings = field(default_factory=DecisionSettings)
    winner: str | None = None
    best: str | None = None
    better: tuple[str, ...] = ()
    vs_baseline: VsBaseline | None = None
    runner_up: RunnerUp | None = None
    money: Money | None = None
    ab_plan: ABPlan | None = None
    n_tests: int = 0
    head_to_head: HeadToHead | None = None
    """When tied: the winner against the runner-up on revenue, coverage, novelty, fallback and speed, with the
    pick of :func:`tie_break` (None otherwise)."""

    @property
    def pick(self) -> str | None:
        """The adapter to use: the tie-break's pick when tied, else the winner (None unless ``adopt``)."""
        h = self.head_to_head
        if self.tied and h is not None and h.pick:
            return h.pick
        return self.winner

    @property
    def tied(self) -> bool:
        """The runner-up is also reliably better than the baseline and not separable from the winner."""
        ru = self.runner_up
        return ru is not None and ru.paired is not None and ru.adapter in self.better and not ru.paired.separates

    def headline(self, *, failed: list[str] | tuple[str, ...] = (), n_completed: int | None = None) -> str:
        """The decision in one line (the console's, worded like the report's first line)."""
        base, prim = self.baseline, self.primary_metric or "the primary metric"
        if self.verdict == "nothing-completed":
            return "none — no adapter completed, so there is nothing to decide"
        if self.verdict == "no-comparison":
            why = (
                f"the baseline {base} did not complete"
                if base and base in failed
                else "only one adapter completed"
                if n_completed is not None and n_completed < 2
                else "no baseline was set"
            )
            return f"no comparison ({why})" + (f"; best on {prim}: {self.best}" if self.best else "")
        if self.verdict == "adopt" and self.winner:
            h = self.head_to_head
            if self.tied and self.runner_up is not None and h is not None and h.pick:
                other = h.b if h.pick == h.a else h.a
                return (
                    f"use {h.pick} instead of the baseline {base} — tied with {other} on {prim}; tie-break: {h.reason}"
                )
            if self.tied and self.runner_up is not None:
                return (
                    f"replace the baseline {base} with {self.winner} or {self.runner_up.adapter} "
                    "(both reliably better; not separable here)"
                )
            return f"use {self.winner} instead of the baseline {base}"
        other = "no candidate is reliably better" if self.vs_baseline else "there is no other candidate"
        return f"keep the baseline {base} ({other} on {prim})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``summary.json`` → ``extra.decision``)."""
        d = _asdict(self)
        d["settings"] = _asdict(self.settings)
        d["better"] = list(self.better)
        for key in ("vs_baseline", "money", "ab_plan"):
            part = getattr(self, key)
            d[key] = None if part is None else _asdict(part)
        ru = self.runner_up
        if ru is not None:
            d["runner_up"] = {**_asdict(ru), "paired": None if ru.paired is None else _asdict(ru.paired)}
        d["head_to_head"] = None if self.head_to_head is None else self.head_to_head.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Decision:
        """Inverse of :meth:`to_dict` (also reads the facts of older run directories)."""
        ru_raw = d.get("runner_up")
        ru = None
        if ru_raw:
            ru = _flat(RunnerUp, {**ru_raw, "paired": _flat(PairedTest, ru_raw.get("paired"))})
        return cls(
            verdict=str(d.get("verdict", "")),
            primary_metric=str(d.get("primary_metric", "")),
            baseline=str(d.get("baseline") or ""),
            settings=_flat(DecisionSettings, d.get("settings")) or DecisionSettings(),
            winner=d.get("winner"),
            best=d.get("best"),
            better=tuple(d.get("better") or ()),
            vs_baseline=_flat(VsBaseline, d.get("vs_baseline")),
            runner_up=ru,
            money=_flat(Money, d.get("money")),
            ab_plan=_flat(ABPlan, d.get("ab_plan")),
            n_tests=int(d.get("n_tests") or 0),
            head_to_head=_head_to_head_from(d.get("head_to_head")),
        )


def _head_to_head_from(d: dict[str, Any] | None) -> HeadToHead | None:
    if not d:
        return None
    from xsell_eval.headtohead import HeadToHead

    return HeadToHead.from_dict(d)


# ---------------------------------------------------------------------- computing it
def sample_size(p_control: float, rel_lift: float, alpha: float, power: float) -> float | None:
    """Visitors per arm (pooled two-proportion formula) to detect ``rel_lift`` over ``p_control``."""
    if not (0.0 < p_control < 1.0) or not (rel_lift > 0) or not (p_control * (1 + rel_lift) < 1.0):
        return None
    from xsell_eval.abtest.stats import required_sample_size

    return float(required_sample_size(p_control, rel_lift, alpha=alpha, power=power, method="pooled"))


def _days(n_arm: int, traffic: int) -> int:
    return math.ceil(2 * n_arm / traffic)


def ab_plan(result: CompareResult, winner: str, rel_low: float | None, traffic: int, power: float) -> ABPlan | None:
    """The A/B sample size for ``winner`` against the baseline on hit_rate@k (None: no positive effect)."""
    from xsell_eval._lookup import primary_k, row

    cfg = result.config
    conv = f"hit_rate@{primary_k(result)}"
    base = row(result.estimates, adapter=cfg.baseline, metric=conv)
    cand = row(result.estimates, adapter=winner, metric=conv)
    if base is None or cand is None or _opt(base["mean"]) is None or _opt(cand["mean"]) is None:
        return None
    p0, p1 = float(base["mean"]), float(cand["mean"])
    if not (p0 > 0 and p1 > p0):
        return None
    rel = p1 / p0 - 1
    n = sample_size(p0, rel, cfg.alpha, power)
    if n is None:
        return None
    n_arm = math.ceil(n)
    extra: dict[str, Any] = {}
    n_tenth = sample_size(p0 * WIDGET_SHARE, rel, cfg.alpha, power)
    if n_tenth is not None:
        extra.update(widget_share=WIDGET_SHARE, n_per_arm_widget=math.ceil(n_tenth))
        extra["days_widget"] = _days(extra["n_per_arm_widget"], traffic)
    if rel_low is not None and 0 < float(rel_low) < rel:
        n_low = sample_size(p0, float(rel_low), cfg.alpha, power)
        if n_low is not None:
            extra.update(rel_lift_low=float(rel_low), n_per_arm_low=math.ceil(n_low))
            extra["days_low"] = _days(extra["n_per_arm_low"], traffic)
    return ABPlan(
        conversion_metric=conv,
        p_control=p0,
        p_treatment=p1,
        rel_lift=rel,
        alpha=cfg.alpha,
        power=power,
        traffic_per_day=traffic,
        n_per_arm=n_arm,
        days=_days(n_arm, traffic),
        method="pooled two-proportion z test, 50/50 split (statsmodels samplesize_proportions_2indep_onetail)",
        **extra,
    )


def runner_up_test(result: CompareResult, a: str, b: str, per_query: pd.DataFrame | None) -> PairedTest | None:
    """Paired comparison ``a`` vs ``b`` on the primary metric (needs the per-query values)."""

    prim = result.config.primary_metric
    if per_query is None or per_query.empty or prim not in per_query.columns or "adapter" not in per_query.columns:
        return None
    from xsell_eval.stats import pair_on_queries, paired_comparison

    cfg = result.config
    j, clusters = pair_on_queries(
        per_query[per_query["adapter"] == a], per_query[per_query["adapter"] == b], [prim], ci_unit=cfg.ci_unit
    )
    if len(j) < 2:
        return None
    r = paired_comparison(
        j[f"{prim}_a"].to_numpy(dtype=float),
        j[f"{prim}_b"].to_numpy(dtype=float),
        **cfg.bootstrap_options,
        test=cfg.test,  # type: ignore[arg-type]  # checked by CompareConfig.validate
        clusters=clusters,
    )
    return PairedTest(
        n=int(r.n),
        diff=_opt(r.diff),
        ci_low=_opt(r.ci_low),
        ci_high=_opt(r.ci_high),
        p_value=_opt(r.p_value),
        wins=int(r.wins),
        ties=int(r.ties),
        losses=int(r.losses),
        test=str(r.test),
    )


def runner_up_money(result: CompareResult, adapter: str) -> dict[str, Any]:
    """revenue@k difference of ``adapter`` vs the baseline per 1,000 queries, with its paired CI."""
    from xsell_eval._lookup import primary_k, row

    r = row(result.comparisons, adapter=adapter, metric=f"revenue@{primary_k(result)}")
    diff = None if r is None else _opt(r["diff"])
    if r is None or diff is None:
        return {"revenue_per_1000": None, "revenue_per_1000_ci_low": None, "revenue_per_1000_ci_high": None}
    lo, hi = _opt(r["ci_low"]), _opt(r["ci_high"])
    return {
        "revenue_per_1000": 1000 * diff,
        "revenue_per_1000_ci_low": None if lo is None else 1000 * lo,
        "revenue_per_1000_ci_high": None if hi is None else 1000 * hi,
    }


MONTH_DAYS = 30


def basket_rate(result: CompareResult) -> tuple[float, int, int] | None:
    """(baskets per day, test baskets, calendar days) of the test period, or None without dates.

    The same observed rate as the A/B sizing (:func:`xsell_eval.abtest.traffic.observed_from_split`):
    every test-period basket, calendar days from the first to the last, both included.
    """
    from xsell_eval.abtest.traffic import observed_from_split

    obs = observed_from_split(result.split)
    if obs is None:
        return None
    baskets, days = obs
    return baskets / days, baskets, days


def monthly(per_query_diff: float | None, per_day: float) -> float | None:
    """A per-basket money difference per month (30 days) at ``per_day`` baskets a day."""
    return None if per_query_diff is None else per_query_diff * per_day * MONTH_DAYS


def _vs_baseline(adapter: str, row_: dict[str, Any]) -> VsBaseline:
    num = {f.name for f in fields(VsBaseline)} - {"adapter", "metric", "significant", "mark"}
    kw: dict[str, Any] = {}
    for k in num:
        v = _opt(row_.get(k))
        kw[k] = None if v is None else (int(v) if k in ("n", "n_joined", "wins", "ties", "losses") else v)
    return VsBaseline(
        adapter=adapter,
        metric=str(row_["metric"]),
        significant=bool(row_.get("significant")),
        mark=str(row_.get("mark") or ""),
        **kw,
    )


def _traffic(result: CompareResult) -> Any:
    """Visitors/day of the A/B sizing: ``[report] traffic_per_day`` if set, else the test period's baskets/day."""
    from xsell_eval.abtest.traffic import observed_from_split, resolve_traffic

    s = result.settings
    given = s.traffic_per_day if s else None
    return resolve_traffic(given, observed_from_split(result.split), given_as="[report] traffic_per_day")


def decide(result: CompareResult, *, per_query: pd.DataFrame | None = None, _tie: HeadToHead | None = None) -> Decision:
    """The decision of a comparison (pure: the same result gives the same decision).

    When the winner and the runner-up tie (both reliably better, not separable), :func:`tie_break`
    names one; if it names the runner-up, the decision is focused on it (the winner, its comparison
    with the baseline, its money and A/B plan), the leader on the primary metric becoming the runner-up.

    Args:
        result: the comparison; its ``settings`` (traffic, power, currency) are used when set.
        per_query: long per-query metrics (``adapter``, ``query_id``, metric columns); defaults to
            ``result.per_query_frame``. Without them the paired test winner vs runner-up is left out.
        _tie: internal — the head to head already decided (the refocusing call).
    """
    from xsell_eval._lookup import adapter_order, currency_of, primary_k, row

    cfg = result.config
    s = result.settings
    traffic = _traffic(result)
    settings = DecisionSettings(
        traffic_per_day=traffic.per_day,
        power=float((s.power if s else None) or DEFAULT_POWER),
        currency=currency_of(result),
        confidence=cfg.confidence,
        traffic_text=traffic.text(),
    )
    per_query = per_query if per_query is not None else result.per_query_frame
    prim = cfg.primary_metric
    base_kw = {"primary_metric": prim, "baseline": cfg.baseline, "settings": settings}
    summ, comp = result.estimates, result.comparisons
    ranked = [a for a in adapter_order(result) if row(summ, adapter=a, metric=prim) is not None]
    if not ranked:
        return Decision(verdict="nothing-completed", **base_kw)  # type: ignore[arg-type]
    if comp is None or comp.empty or cfg.baseline not in ranked:
        return Decision(verdict="no-comparison", best=ranked[0], **base_kw)  # type: ignore[arg-type]
    n_tests = int(comp["p_value"].notna().sum())
    pc = comp[comp["metric"] == prim].set_index("adapter")
    better = tuple(a for a in ranked if a in pc.index and str(pc.loc[a, "mark"]) == "▲")
    candidates = [a for a in ranked if a != cfg.baseline]
    winner = (_tie.pick if _tie is not None and _tie.pick in better else None) or (better[0] if better else None)
    head = Decision(
        verdict="adopt" if winner else "keep-baseline",
        best=ranked[0],
        winner=winner,
        better=better,
        n_tests=n_tests,
        **base_kw,  # type: ignore[arg-type]
    )
    focus = winner or (candidates[0] if candidates else None)
    if focus is None or focus not in pc.index:
        return head
    vs = _vs_baseline(focus, {"metric": prim, **{str(k): v for k, v in pc.loc[focus].items()}})
    runner = None
    rest = [a for a in ranked if a not in (focus, cfg.baseline)]
    if rest:
        ru = rest[0]
        r = row(summ, adapter=ru, metric=prim) or {}
        runner = RunnerUp(
            adapter=ru,
            leader_ci_low=_opt((row(summ, adapter=focus, metric=prim) or {}).get("ci_low")),
            mean=_opt(r.get("mean")),
            ci_low=_opt(r.get("ci_low")),
            ci_high=_opt(r.get("ci_high")),
            paired=runner_up_test(result, focus, ru, per_query),
            **runner_up_money(result, ru),
        )
    k = primary_k(result)
    money = None
    rev = row(comp, adapter=focus, metric=f"revenue@{k}")
    if rev is not None and _opt(rev["diff"]) is not None:
        lo, hi = _opt(rev["ci_low"]), _opt(rev["ci_high"])
        rate = basket_rate(result)
        month: dict[str, Any] = {}
        if rate is not None:
            month = {
                "baskets_per_day": rate[0],
                "test_baskets": rate[1],
                "test_days": rate[2],
                "per_month": monthly(float(rev["diff"]), rate[0]),
                "per_month_ci_low": monthly(lo, rate[0]),
                "per_month_ci_high": monthly(hi, rate[0]),
            }
        money = Money(
            metric=f"revenue@{k}",
            per_1000=1000 * float(rev["diff"]),
            ci_low=None if lo is None else 1000 * lo,
            ci_high=None if hi is None else 1000 * hi,
            significant=bool(rev["significant"]),
            mark=str(rev["mark"]),
            currency=settings.currency,
            **month,
        )
    conv = row(comp, adapter=focus, metric=f"hit_rate@{k}")
    plan = ab_plan(
        result, focus, None if conv is None else _opt(conv["rel_ci_low"]), settings.traffic_per_day, settings.power
    )
    from dataclasses import replace

    out = replace(head, vs_baseline=vs, runner_up=runner, money=money, ab_plan=plan)
    if _tie is not None:
        return replace(out, head_to_head=_tie) if out.tied else out
    if out.tied and out.runner_up is not None and focus is not None:
        from xsell_eval.headtohead import head_to_head

        h2h = tie_break(head_to_head(result, focus, out.runner_up.adapter, per_query), currency=settings.currency)
        if h2h.pick is not None and h2h.pick != focus:
            return decide(result, per_query=per_query, _tie=h2h)
        out = replace(out, head_to_head=h2h)
    return out


# ---------------------------------------------------------------------- the tie-break rule
TIE_COVERAGE_POINTS = 0.10
"""Coverage lead (share of the catalog, 0.10 = 10 points) that breaks a tie when revenue does not."""
TIE_SPEED_RATIO = 2.0
"""Serving-time ratio that breaks a tie when revenue, coverage and fallback do not."""


def tie_break(h: HeadToHead, *, currency: str | None = None) -> HeadToHead:
    """Name one of two candidates the primary metric does not separate, with the reason (``docs/report.md``).

    ``h.a`` is the leader on the primary metric, ``h.b`` the runner-up; the first rule that applies decides:

    1. **revenue**: the CI of the paired revenue@k difference excludes 0 → the one with more revenue;
    2. **coverage**: one recommends a share of the catalog at least :data:`TIE_COVERAGE_POINTS` (10 points)
       larger → that one (more of the range gets shown);
    3. **fallback**: the CI of the paired difference in the share of queries served by the fallback
       excludes 0 → the one that falls back less (its own method answers more shoppers);
    4. **speed**: one serves at least :data:`TIE_SPEED_RATIO` (2×) faster per query → that one;
    5. **primary**: otherwise the leader on the primary metric (``h.a``), by a margin the data cannot confirm.

    Returns ``h`` with ``pick``, ``reason`` (one clause, numbers included; money in ``currency`` when
    given) and ``rule`` set.
    """
    from dataclasses import replace

    from xsell_eval._lookup import CURRENCY_SYMBOL

    sym = CURRENCY_SYMBOL.get(currency or "", "")
    code = "" if sym or not currency else f" {currency}"

    def cash(x: float) -> str:
        return f"{sym}{x:,.2f}{code}"

    a, b = h.a, h.b
    rev = next((r for r in h.rows if r.measure.startswith("revenue@")), None)
    if rev is not None and rev.diff is not None and rev.ci_excludes_zero:
        pick, other = (a, b) if rev.diff > 0 else (b, a)
        lo, hi = sorted((abs(float(rev.ci_low or 0)), abs(float(rev.ci_high or 0))))
        return replace(
            h,
            pick=pick,
            rule="revenue",
            reason=f"{pick} earns more {rev.measure} than {other}: {cash(abs(rev.diff))} more per query "
            f"(paired CI {cash(lo)} to {cash(hi)}, excludes 0)",
        )
    cov = next((r for r in h.rows if r.measure.startswith("coverage@")), None)
    if cov is not None and cov.diff is not None and abs(cov.diff) >= TIE_COVERAGE_POINTS - 1e-12:
        pick, other = (a, b) if cov.diff > 0 else (b, a)
        more, less = (cov.value_a, cov.value_b) if cov.diff > 0 else (cov.value_b, cov.value_a)
        return replace(
            h,
            pick=pick,
            rule="coverage",
            reason=f"revenue does not separate them; {pick} covers {float(more or 0):.0%} of the catalog against "
            f"{float(less or 0):.0%} for {other} (≥ {100 * TIE_COVERAGE_POINTS:g} points ahead)",
        )
    fb = h.get("fallback_share")
    if fb is not None and fb.diff is not None and fb.ci_excludes_zero:
        pick, other = (a, b) if fb.diff < 0 else (b, a)
        low, high = (fb.value_a, fb.value_b) if fb.diff < 0 else (fb.value_b, fb.value_a)
        return replace(
            h,
            pick=pick,
            rule="fallback",
            reason=f"revenue and coverage do not separate them; {pick} falls back to best-sellers on "
            f"{float(low or 0):.1%} of queries against {float(high or 0):.1%} for {other} (CI excludes 0)",
        )
    sv = h.get("serving_ms")
    if sv is not None and sv.value_a and sv.value_b and sv.value_a > 0 and sv.value_b > 0:
        ratio = max(sv.value_a, sv.value_b) / min(sv.value_a, sv.value_b)
        if ratio >= TIE_SPEED_RATIO:
            pick, other = (a, b) if sv.value_a < sv.value_b else (b, a)
            return replace(
                h,
                pick=pick,
                rule="speed",
                reason=f"revenue, coverage and fallback do not separate them; {pick} serves {ratio:.1f}× faster "
                f"than {other}",
            )
    return replace(
        h,
        pick=a,
        rule="primary",
        reason=f"nothing else separates them; {a} leads {b} on the primary metric by a margin the data cannot confirm",
    )
