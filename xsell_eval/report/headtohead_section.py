"""The *Head to head* section: the two tied candidates side by side, and the tie-break's pick.

Words :class:`~xsell_eval.headtohead.HeadToHead` (computed by :func:`xsell_eval.decision.decide` and
:func:`xsell_eval.decision.tie_break`); computes none of its numbers.
"""

from __future__ import annotations

from xsell_eval.decision import TIE_COVERAGE_POINTS, TIE_SPEED_RATIO
from xsell_eval.headtohead import H2HRow, HeadToHead
from xsell_eval.report import _format as F
from xsell_eval.report.plots import ci_label as _lvl
from xsell_eval.result import CompareResult


def _cells(r: H2HRow, cur: str | None, per: str, lvl: str) -> list[str]:
    """value a, value b, a − b [CI] of one measure."""
    m = r.measure
    if m.startswith("revenue@"):
        v = lambda x: F.money(x, cur, decimals=2)  # noqa: E731
        d = lambda x: F.money(x, cur, signed=True, decimals=2)  # noqa: E731
        label = f"{m} ({F.currency_name(cur) if cur else 'currency'}/{per})"
    elif m.startswith("novelty@"):
        v = lambda x: F.fmt(x, 3)  # noqa: E731
        d = lambda x: F.signed(x, 3)  # noqa: E731
        label = f"{m} (bits)"
    elif m == "fallback_share" or m.startswith("coverage@"):
        v = F.pct
        d = F.pp
        label = "served by fallback (% of queries)" if m == "fallback_share" else f"{m} (% of catalog)"
    elif m == "fit_seconds":
        v = lambda x: F.fmt(x, 2)  # noqa: E731
        d = lambda x: F.signed(x, 2)  # noqa: E731
        label = "fit time (s)"
    else:
        v = lambda x: F.fmt(x, 3)  # noqa: E731
        d = lambda x: F.signed(x, 3)  # noqa: E731
        label = "serving time (ms per query)"
    diff = "—" if r.diff is None else d(r.diff)
    if r.ci_low is not None and r.ci_high is not None:
        diff += f" [{d(r.ci_low)}, {d(r.ci_high)}]"
    na = "—"
    return [
        label,
        na if r.value_a is None else v(r.value_a),
        na if r.value_b is None else v(r.value_b),
        diff,
        r.note or "",
    ]


def head_to_head_table(h: HeadToHead, cur: str | None, per: str, lvl: str) -> str:
    """The measures of ``h`` as a Markdown table."""
    rows = [[*_cells(r, cur, per, lvl)] for r in h.rows]
    return F.table(["measure", f"`{h.a}`", f"`{h.b}`", f"`{h.a}` − `{h.b}` [{lvl} CI]", "how measured"], rows, "lrrrl")


def head_to_head_section(result: CompareResult) -> str | None:
    """The section (heading included), or None when the decision is not a tie."""
    from xsell_eval.report.sections import query_unit

    facts = result.decided()
    h = facts.head_to_head
    if h is None or not facts.tied:
        return None
    lvl = _lvl(result.config.confidence)
    one, _ = query_unit(result.config.protocol)
    cur = facts.settings.currency
    rule = (
        f"Tie-break rule (the first that applies): (1) the {lvl} CI of the paired revenue difference excludes 0 "
        f"→ the one with more revenue; (2) one covers at least {100 * TIE_COVERAGE_POINTS:g} points more of the "
        "catalog → that one; (3) the CI of the paired difference in the share served by the fallback excludes 0 "
        f"→ the one that falls back less; (4) one serves at least {TIE_SPEED_RATIO:g}× faster → that one; "
        f"(5) otherwise the leader on {facts.primary_metric}. Times are single measurements on this machine."
    )
    return "\n".join(
        [
            "## Head to head",
            "",
            f"`{h.a}` and `{h.b}` are both reliably better than `{facts.baseline}` and this data does not separate "
            f"them on {facts.primary_metric}. Side by side on the same test {one}s:",
            "",
            head_to_head_table(h, cur, one, lvl),
            "",
            rule,
            "",
            f"**Pick: `{h.pick}`** — {h.reason}.",
        ]
    )
