"""The *Decision* section: what to do, how sure, what it is worth, what an A/B test needs.

Words the numbers of :class:`~xsell_eval.decision.Decision` (computed in the library by
:func:`~xsell_eval.decision.decide`); computes none of them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from xsell_eval._lookup import adapter_order, currency_of, metric_unit, primary_k, row
from xsell_eval.decision import WIDGET_SHARE, Decision, Money, VsBaseline, runner_up_money
from xsell_eval.report import _format as F
from xsell_eval.report.plots import ci_label as _lvl
from xsell_eval.report.sections import GLOSSARY, query_unit
from xsell_eval.result import CompareResult


def _metric_phrase(metric: str, n_unit: str) -> str:
    name, _, k = metric.partition("@")
    phrases = {
        "hit_rate": f"the share of test {n_unit} where at least one of the {k} recommended items was then bought "
        "(the conversion proxy)",
        "precision": f"the share of the {k} recommended slots filled with an item that was then bought",
        "recall": f"the share of the bought items that were among the {k} recommended",
        "ndcg": f"hits among the {k} recommended items, weighted towards the top of the list",
        "mrr": "how high the first bought item appears in the list",
        "map": "many hits, placed early",
        "revenue": f"the value of the recommended items that were then bought, per test {n_unit[:-1]}",
        "uplift": "the value of the bought recommendations relative to the mean cart value",
    }
    return phrases.get(name, GLOSSARY.get(name, name))


def decision_section(result: CompareResult) -> str:
    """The first screen: what to do and how sure we are."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    cfg = result.config
    facts = result.decided()
    prim, base = cfg.primary_metric, cfg.baseline
    one, many = query_unit(cfg.protocol)
    cur = facts.settings.currency
    summ = result.estimates
    lines = ["## Decision", ""]
    verdict = facts.verdict
    failed = result.failed_adapters
    if verdict == "nothing-completed":
        lines.append("**No adapter completed, so there is nothing to decide.** See *Adapters* for the errors.")
        return "\n".join(lines)
    best = facts.best
    brow = row(summ, adapter=best, metric=prim) or {}
    if verdict == "no-comparison":
        why = (
            f"the baseline `{base}` did not complete"
            if base and base in failed
            else "only one adapter completed"
            if len(result.ok_adapters) < 2
            else "no baseline was set"
        )
        lines.append(
            f"**No comparison: {why}.** Best on {prim}: `{best}` at {F.value(prim, brow.get('mean'), cur)} "
            f"({lvl} CI {F.value(prim, brow.get('ci_low'), cur)} to {F.value(prim, brow.get('ci_high'), cur)}, "
            f"{result.n_queries:,} test {many})."
        )
        leak = _leak_line(result)
        rest = [*leak, *_not_run_lines(result)]
        return "\n".join([*lines, *(["", *rest] if rest else []), "", scoreboard(result)])
    vs = facts.vs_baseline
    focus = vs.adapter if vs is not None else None
    brow_base = row(summ, adapter=base, metric=prim) or {}
    winner = facts.winner
    h2h = facts.head_to_head
    if winner and facts.tied and facts.runner_up is not None and h2h is not None and h2h.pick:
        other = h2h.b if h2h.pick == h2h.a else h2h.a
        lines.append(
            f"**Recommendation: use `{h2h.pick}`** instead of the baseline `{base}` — `{winner}` and "
            f"`{facts.runner_up.adapter}` are both reliably better and this data does not separate them on {prim}; "
            f"**tie-break:** {h2h.reason} (rule and table: *Head to head*; the runner-up `{other}` is a sound "
            "second choice)."
        )
    elif winner and facts.tied and facts.runner_up is not None:
        ru = facts.runner_up.adapter
        lines.append(
            f"**Recommendation: replace the baseline `{base}` with `{winner}` or `{ru}`** — both are reliably "
            "better, and this data does not separate the two."
        )
    elif winner:
        lines.append(f"**Recommendation: use `{winner}`** instead of the baseline `{base}`.")
    else:
        lines.append(
            f"**Recommendation: keep the baseline `{base}`** — no candidate is reliably better on {prim}."
            if focus
            else f"**Recommendation: keep the baseline `{base}`** — there is no other candidate."
        )
    lines.append("")
    if focus and vs is not None:
        frow = row(summ, adapter=focus, metric=prim) or {}
        lines.append(
            f"On **{prim}** — {_metric_phrase(prim, many)} — `{focus}` reaches "
            f"**{F.value(prim, frow.get('mean'), cur)}** ({lvl} CI {F.value(prim, frow.get('ci_low'), cur)} to "
            f"{F.value(prim, frow.get('ci_high'), cur)}) against **{F.value(prim, brow_base.get('mean'), cur)}** for "
            f"`{base}`: **{F.diff(prim, vs.diff, cur)}** ({lvl} CI {F.diff(prim, vs.ci_low, cur)} to "
            f"{F.diff(prim, vs.ci_high, cur)}), **{F.pct(vs.rel_diff, signed=True)} relative** "
            f"({lvl} CI {F.pct(vs.rel_ci_low, signed=True)} to {F.pct(vs.rel_ci_high, signed=True)})."
        )
        lines.append("")
        lines += _how_sure(facts, vs, focus, base, many)
        lines += _leak_line(result)
        if winner:
            second = facts.runner_up
            if second is not None and second.revenue_per_1000_ci_low is None and second.revenue_per_1000 is not None:
                # facts stored by an older version: add the CI
                facts = replace(facts, runner_up=replace(second, **runner_up_money(result, second.adapter)))
            lines += _runner_up_line(facts, focus, prim, cur, many)
        lines += _money_line(facts, focus, base, one, cur)
        lines += _ab_line(result, facts, focus)
    else:
        lines += _leak_line(result)
    lines += _not_run_lines(result)
    lines += ["", scoreboard(result)]
    return "\n".join(lines)


LEAK_EFFECT = {
    "last-basket": "other shoppers' baskets from after each test basket are in training, so the test period's "
    "best-sellers and buying trends leak in",
    "random-basket": "baskets from after the test baskets are in training, so future best-sellers and "
    "co-purchases leak in",
}
"""What leaks in each leaky split (one clause); the split's own ``leakage`` text is used for other kinds."""


def _not_run_lines(result: CompareResult) -> list[str]:
    """Bullets naming the adapters that failed and those the data did not suit (not compared)."""
    lines = []
    if result.failed_adapters:
        names = ", ".join(f"`{f}`" for f in result.failed_adapters)
        lines.append(f"- **Failed** (not compared): {names} — see *Adapters*.")
    if result.not_applicable_adapters:
        names = ", ".join(f"`{f}`" for f in result.not_applicable_adapters)
        lines.append(f"- **Not applicable** to this data (not compared): {names} — see *Adapters*.")
    return lines


def _leak_line(result: CompareResult) -> list[str]:
    """One Decision line when the split lets the future into training (empty for a temporal split)."""
    split = result.split or {}
    leak = str(split.get("leakage", ""))
    if not leak or leak.startswith("none"):
        return []
    kind = str(split.get("kind") or result.config.split)
    what = LEAK_EFFECT.get(kind, leak.rstrip("."))
    return [
        f"- **Leaky split ({kind}):** {what}. Adapters that learn from training purchases (best-sellers, "
        "collaborative filtering, association rules) thus see the test period's trends, which flatters them "
        "against methods that do not (content, hand-written rules); every number here is optimistic — "
        "`--split temporal` gives the honest estimate."
    ]


def _how_sure(facts: Decision, vs: VsBaseline, focus: str, base: str, many: str) -> list[str]:
    n_tests = int(facts.n_tests or 0)
    sig = bool(vs.significant)
    up = str(vs.mark) == "▲"
    p_holm = F.p_value(vs.p_holm)
    p_holm = p_holm if p_holm.startswith("<") else "= " + p_holm
    if sig and up:
        head = (
            f"the gain survives Holm correction for the {n_tests:,} comparisons in this report (adjusted p {p_holm})."
        )
    elif sig:
        head = (
            f"`{focus}` is reliably **worse** than `{base}` (Holm-adjusted {F.p_eq(vs.p_holm)} "
            f"over {n_tests:,} comparisons)."
        )
    else:
        head = (
            f"not distinguishable from `{base}`: after Holm correction for the {n_tests:,} comparisons "
            f"the adjusted {F.p_eq(vs.p_holm)} (unadjusted {F.p_eq(vs.p_value)}); "
            "the difference may be luck."
        )
    wins, ties, losses = (int(getattr(vs, c) or 0) for c in ("wins", "ties", "losses"))
    return [
        f"- **How sure:** {head} On the same {int(vs.n or 0):,} test {many}, `{focus}` did better on "
        f"{wins:,}, the same on {ties:,} and worse on {losses:,}."
    ]


def _runner_up_line(facts: Decision, focus: str, prim: str, cur: str | None, many: str) -> list[str]:
    lvl = _lvl(facts.settings.confidence)  # the confidence level of every interval
    ru = facts.runner_up
    if not ru:
        return []
    name = ru.adapter
    text = (
        f"- **Runner-up:** `{name}` at {F.value(prim, ru.mean, cur)} "
        f"({lvl} CI {F.value(prim, ru.ci_low, cur)} to {F.value(prim, ru.ci_high, cur)})."
    )
    paired = ru.paired
    if paired:
        p = F.num(paired.p_value)
        clear = F.ok(p) and p < 0.05
        text += (
            f" Paired on the same {int(paired.n or 0):,} {many}, `{focus}` − `{name}` = "
            f"{F.diff(prim, paired.diff, cur)} ({lvl} CI {F.diff(prim, paired.ci_low, cur)} to "
            f"{F.diff(prim, paired.ci_high, cur)}), {F.p_eq(p)} (one extra test, not in the Holm family): "
            + (
                f"`{focus}` is ahead."
                if clear and F.num(paired.diff) > 0
                else f"`{name}` is ahead."
                if clear
                else "this data does not separate the two; the tie-break above decided (*Head to head*)."
                if facts.head_to_head is not None and facts.head_to_head.pick
                else "this data does not separate the two; decide on cost, simplicity or the other metrics below."
            )
        )
        money = facts.money
        if not clear and money is not None and F.ok(money.per_1000) and F.ok(ru.revenue_per_1000):

            def ci(lo: Any, hi: Any) -> str:
                if not (F.ok(lo) and F.ok(hi)):
                    return ""
                return f" ({lvl} CI {F.money(lo, cur, signed=True)} to {F.money(hi, cur, signed=True)})"

            text += (
                f" On {money.metric}, `{name}` is at {F.money(ru.revenue_per_1000, cur, signed=True)} per "
                f"1,000 {many}{ci(ru.revenue_per_1000_ci_low, ru.revenue_per_1000_ci_high)} "
                f"against `{facts.baseline}`, `{focus}` at {F.money(money.per_1000, cur, signed=True)}"
                f"{ci(money.ci_low, money.ci_high)}."
            )
    else:
        overlap = not (F.num(ru.ci_high) < F.num(ru.leader_ci_low))
        text += " The two were not tested against each other (only against the baseline)" + (
            "; their intervals overlap, so the order may be luck." if overlap else "; their intervals do not overlap."
        )
    return [text]


def _money_line(facts: Decision, focus: str, base: str, one: str, cur: str | None) -> list[str]:
    lvl = _lvl(facts.settings.confidence)  # the confidence level of every interval
    money = facts.money
    if not money:
        return ["- **Worth in money:** not available — the data has no prices, so revenue@k could not be computed."]
    unit = "1,000 " + (one + "s" if not one.endswith("s") else one)
    verdict = "" if money.significant else " The difference is not significant after Holm correction."
    in_cur = "" if cur else " (in the data's currency)"
    return [
        f"- **Worth in money:** {F.money(money.per_1000, cur, signed=True)} per {unit}{in_cur} in recommended items "
        f"that were bought, compared with `{base}` ({lvl} CI {F.money(money.ci_low, cur, signed=True)} to "
        f"{F.money(money.ci_high, cur, signed=True)}; {money.metric} × 1,000).{_per_month(money, one, cur, lvl)}"
        f"{verdict} "
        "This is an offline proxy: it counts recommended items that shoppers bought, some of which they would "
        "have bought anyway; only an A/B test measures the revenue the recommendations add."
    ]


def _per_month(money: Money, one: str, cur: str | None, lvl: str) -> str:
    """`` At the test period's own rate … ≈ +£X a month, an offline ceiling (CI …).`` or empty without dates."""
    if money.per_month is None or money.baskets_per_day is None or not money.test_days:
        return ""
    ci = (
        f" ({lvl} CI {F.money(money.per_month_ci_low, cur, signed=True)} to "
        f"{F.money(money.per_month_ci_high, cur, signed=True)})"
        if money.per_month_ci_low is not None and money.per_month_ci_high is not None
        else ""
    )
    return (
        f" At the test period's own rate — {money.baskets_per_day:,.0f} baskets a day "
        f"({int(money.test_baskets or 0):,} over {int(money.test_days):,} days), × 30 — that is "
        f"**{F.money(money.per_month, cur, signed=True)} a month, an offline ceiling**{ci}."
    )


def _ab_line(result: CompareResult, facts: Decision, focus: str) -> list[str]:
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    plan = facts.ab_plan
    has_sim = result.abtest is not None
    sim = " The *Simulated A/B test* section below estimates this with an explicit shopper model." if has_sim else ""
    if not plan:
        return [
            f"- **To confirm with an A/B test:** no sample size — `{focus}` is not ahead on the conversion proxy "
            f"(hit rate@{primary_k(result)}), so there is no positive effect to size a test for.{sim}",
            *_simulated_line(result),
        ]
    days = int(plan.days)
    traffic = int(plan.traffic_per_day)
    # where the visitors/day figure comes from: the test period's own baskets unless [report] traffic_per_day is set
    told = facts.settings.traffic_text
    at = f"at {told}" if told else f"at an assumed {traffic:,} visitors/day"
    when = "about 1 day" if days <= 1 else f"about {days:,} days"
    low = ""
    if plan.n_per_arm_low:
        dl = int(plan.days_low or 0)
        low = (
            f"; to detect the cautious end of the {lvl} CI ({F.pct(plan.rel_lift_low, signed=True)}): "
            f"{int(plan.n_per_arm_low):,} per arm, about {dl:,} day{'s' if dl != 1 else ''}"
        )

    def optimistic(where: str) -> str:
        return (
            f"{int(plan.n_per_arm):,} visitors per arm ({2 * int(plan.n_per_arm):,} in total, 50/50) detect a "
            f"conversion rise of this size ({F.pct(plan.p_control)} → {F.pct(plan.p_treatment)}, "
            f"{F.pct(plan.rel_lift, signed=True)}) with {plan.power:.0%} power at α = {plan.alpha:g} two-sided — "
            f"{when}{where}{low}"
        )

    if plan.n_per_arm_widget:
        # the realistic scenario leads: a live widget converts far below the offline hit rate
        share = float(plan.widget_share or WIDGET_SHARE)
        dw = int(plan.days_widget or 0)
        lines = [
            f"- **To confirm with an A/B test:** about {dw:,} day{'s' if dw != 1 else ''} {at} — "
            f"{int(plan.n_per_arm_widget):,} visitors per arm ({2 * int(plan.n_per_arm_widget):,} in total, 50/50) "
            f"if the live widget converts at {share:.0%} of the offline {plan.conversion_metric} with the same "
            f"relative lift ({F.pct(share * plan.p_control)} → {F.pct(share * plan.p_treatment)}, "
            f"{plan.power:.0%} power at α = {plan.alpha:g} two-sided). Optimistic bound, if the widget converted "
            f"like the offline {plan.conversion_metric} (shoppers must notice and click a live widget, so that "
            f"is unlikely): {optimistic('')}." + sim
        ]
    else:
        lines = [
            f"- **To confirm with an A/B test:** {optimistic(' ' + at)}. Assumption: the widget converts like the "
            f"offline {plan.conversion_metric}, which is optimistic: shoppers must notice and click a live widget."
            + sim
        ]
    return lines + _simulated_line(result)


def _simulated_line(result: CompareResult) -> list[str]:
    ab = result.abtest
    if ab is None:
        return []
    text = str(ab.analysis.decision.text)
    source = str(ab.response.source)
    n = int(ab.analysis.n_visitors)
    return [f"- **Simulated A/B test** ({n:,} visitors, response model `{source}`): {text}"]


def scoreboard(result: CompareResult) -> str:
    """Every adapter on the primary metric against the baseline, one row each."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    cfg = result.config
    prim, base = cfg.primary_metric, cfg.baseline
    cur = currency_of(result)
    unit = metric_unit(prim)
    one, many = query_unit(cfg.protocol)
    comp = result.comparisons
    money_unit = f"{F.currency_name(cur) if cur else 'currency'}/{one}"
    n_label = f"% of {many}" if unit == "share" else money_unit if unit == "currency" else unit
    rows = []
    for a in adapter_order(result):
        r = row(result.estimates, adapter=a, metric=prim)
        if r is None:
            continue
        c = row(comp, adapter=a, metric=prim)
        val = f"{F.value(prim, r['mean'], cur)} [{F.value(prim, r['ci_low'], cur)}, {F.value(prim, r['ci_high'], cur)}]"
        if a == base:
            rows.append([f"`{a}`", val, "baseline", "", "", ""])
            continue
        if c is None:
            rows.append([f"`{a}`", val, "—", "—", "—", "not compared"])
            continue
        mark = str(c["mark"])
        verdict = "▲ better" if mark == "▲" else "▼ worse" if mark == "▼" else "no detectable difference"
        rows.append(
            [
                f"`{a}`",
                val,
                f"{F.diff(prim, c['diff'], cur)} [{F.diff(prim, c['ci_low'], cur)}, {F.diff(prim, c['ci_high'], cur)}]",
                f"{F.pct(c['rel_diff'], signed=True)} [{F.pct(c['rel_ci_low'], signed=True)}, "
                f"{F.pct(c['rel_ci_high'], signed=True)}]",
                F.p_value(c["p_holm"]),
                verdict,
            ]
        )
    diff_unit = "pp" if unit == "share" else money_unit if unit == "currency" else unit
    return F.table(
        [
            "adapter",
            f"{prim} ({n_label}) [{lvl} CI]",
            f"vs `{base}` ({diff_unit}) [{lvl} CI]",
            f"relative [{lvl} CI]",
            "p (Holm)",
            "verdict",
        ],
        rows,
        "lrrrrl",
    )
