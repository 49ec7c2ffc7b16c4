"""Decision wording of a simulated A/B test: the verdict and the sentences the report and console print.

:func:`decide` reads an analysis (comparisons, sequential monitor, power) and words what to
do; the formatters here give p-values and amounts with as many digits as the verdict needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats as sstats

from xsell_eval.abtest.analysis import ArmStats, Comparison, Decision, PowerPlan
from xsell_eval.abtest.sequential import (
    SequentialResult,
)
from xsell_eval.abtest.stats import SRM_THRESHOLD, conversion_test


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
