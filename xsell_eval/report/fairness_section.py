"""The report's *Fairness and popularity bias* section (after *Cold start*).

Rendered from :class:`~xsell_eval.fairness.FairnessSummary`.

Three tables and one sentence: item exposure per adapter (Gini, long-tail share, ARP against
the catalog), the primary metric by customer group with cluster-robust CIs, the gaps between
groups (Holm-corrected across every adapter × grouping × metric), and the adapter with the
largest gap. A re-ranked entry (``X+rerank``, :mod:`xsell_eval.rerank`) gets a line of its
accuracy cost against its long-tail gain. Definitions and sources: ``docs/fairness.md``.
"""

from __future__ import annotations

from typing import Any

from xsell_eval._lookup import adapter_order, row
from xsell_eval.report import _format as F
from xsell_eval.report.plots import ci_label as _lvl
from xsell_eval.result import CompareResult

__all__ = ["fairness_parts", "fairness_section"]

_GROUPING = {"history": "customer history", "spend": "training-period spend", "country": "country"}


def _order(result: CompareResult, names: list[str]) -> list[str]:
    first = [a for a in adapter_order(result) if a in names]
    return first + [a for a in names if a not in first]


def _exposure_table(result: CompareResult) -> str:
    f = result.fairness
    assert f is not None
    ex = f.exposure
    rows = []
    for a in _order(result, ex["adapter"].tolist()):
        r = row(ex, adapter=a)
        if r is None:
            continue
        rows.append(
            [
                f"`{a}`",
                F.fmt(r["gini"], 3),
                F.pct(r["long_tail_share"]),
                F.fmt(r["arp"]),
                "—" if not F.ok(r["arp_ratio"]) else f"{F.num(r['arp_ratio']):.2f}×",
                F.fmt(int(r["items_exposed"])) if F.ok(r["items_exposed"]) else "—",
                F.pct(r["unseen_share"]),
            ]
        )
    header = [
        "adapter",
        "exposure Gini",
        "long-tail share",
        "ARP",
        "ARP / catalog mean",
        "items shown",
        "never-sold share",
    ]
    return F.table(header, rows)


def _group_table(result: CompareResult, metric: str) -> str:
    f = result.fairness
    assert f is not None
    g = f.groups[f.groups["metric"] == metric]
    cols = [(gr, grp) for gr, grp in dict.fromkeys(zip(g["grouping"], g["group"], strict=True))]
    if not cols:
        return ""
    rows = []
    for a in _order(result, list(dict.fromkeys(g["adapter"]))):
        cells = [f"`{a}`"]
        for gr, grp in cols:
            r = row(g, adapter=a, grouping=gr, group=grp)
            cells.append("—" if r is None or not F.ok(r["mean"]) else F.ci(r["mean"], r["ci_low"], r["ci_high"]))
        rows.append(cells)
    ns = {c: int(g[(g["grouping"] == c[0]) & (g["group"] == c[1])]["n"].max()) for c in cols}
    header = ["adapter", *[f"{gr}: {grp} (n={ns[(gr, grp)]:,})" for gr, grp in cols]]
    return F.table(header, rows)


def _gap_table(result: CompareResult, metric: str) -> str:
    f = result.fairness
    assert f is not None
    gaps = f.gaps[f.gaps["metric"] == metric]
    groupings = list(dict.fromkeys(gaps["grouping"]))
    if not groupings:
        return ""
    rows = []
    for a in _order(result, list(dict.fromkeys(gaps["adapter"]))):
        cells = [f"`{a}`"]
        for gr in groupings:
            r = row(gaps, adapter=a, grouping=gr)
            if r is None or not F.ok(r["gap"]):
                cells.append("—")
                continue
            mark = " ◆" if bool(r["significant"]) else ""
            cells.append(f"{F.signed(r['gap'])} [{F.fmt(r['ci_low'])}, {F.fmt(r['ci_high'])}]{mark}")
        rows.append(cells)
    header = ["adapter"]
    for gr in groupings:
        a, b = f.contrasts.get(gr, ("a", "b"))
        header.append(f"{b} − {a}")
    return F.table(header, rows)


def _largest_gap_sentence(result: CompareResult, metric: str) -> str:
    f = result.fairness
    assert f is not None
    r = f.largest_gap(metric)
    if r is None:
        return f"No gap between customer groups could be estimated for {metric}."
    lvl = _lvl(f.confidence)
    verdict = (
        "distinguishable from zero after Holm correction"
        if bool(r["significant"])
        else "not distinguishable from zero after Holm correction"
    )
    return (
        f"**Largest gap in {metric}: `{r['adapter']}`**, {_GROUPING.get(str(r['grouping']), r['grouping'])} "
        f"({r['group_b']} − {r['group_a']}): {F.signed(r['gap'])} [{lvl} CI {F.fmt(r['ci_low'])}, "
        f"{F.fmt(r['ci_high'])}], Holm-adjusted {F.p_eq(r['p_holm'])}; {verdict} "
        f"(family of {int(f.gaps['p_value'].notna().sum())} gaps)."
    )


def _rerank_lines(result: CompareResult) -> list[str]:
    f = result.fairness
    assert f is not None
    prim = result.config.primary_metric
    from xsell_eval.rerank import base_spec

    lines = []
    for a in f.exposure["adapter"]:
        base = base_spec(str(a))
        if base is None or row(f.exposure, adapter=base) is None:
            continue
        est_a, est_b = row(result.estimates, adapter=a, metric=prim), row(result.estimates, adapter=base, metric=prim)
        lt_a, lt_b = row(f.exposure, adapter=a), row(f.exposure, adapter=base)
        assert lt_a is not None and lt_b is not None
        acc = "—" if est_a is None or est_b is None else F.signed(F.num(est_a["mean"]) - F.num(est_b["mean"]))
        lines.append(
            f"- `{a}` against `{base}`: {prim} {acc}, long-tail share "
            f"{F.pp(F.num(lt_a['long_tail_share']) - F.num(lt_b['long_tail_share']))}, exposure Gini "
            f"{F.signed(F.num(lt_a['gini']) - F.num(lt_b['gini']), 3)}"
        )
    return lines


def fairness_section(result: CompareResult) -> str:
    """The section's body (without its heading); empty when the run has no fairness summary."""
    f = result.fairness
    if f is None or f.exposure.empty:
        return ""
    lvl = _lvl(f.confidence)
    prim = result.config.primary_metric
    parts: list[Any] = [
        f"Who the top-{f.k} lists show (item side) and who they serve well (customer side); definitions and "
        "sources in `docs/fairness.md`. *Exposure Gini*: inequality of how often each of the "
        f"{f.catalog_items:,} items sold in training is recommended (0 = evenly, 1 = one item takes every slot). "
        f"*Long tail*: items outside the best-sellers that make up {F.pct(f.head_share)} of training sales; the "
        "long-tail share is the share of recommended slots holding one. *ARP*: the mean popularity (share of "
        "training baskets) of the recommended items, against the catalog's mean of "
        f"{F.fmt(f.catalog_mean_popularity)}.",
        "",
        _exposure_table(result),
        "",
    ]
    rerank = _rerank_lines(result)
    if rerank:
        parts += ["**Popularity-penalty re-ranking** (accuracy cost against long-tail gain):", "", *rerank, ""]
    groups = _group_table(result, prim)
    if groups:
        parts += [
            f"**{prim} by customer group** (mean [{lvl} CI], clustered by customer). *new*: no basket in the "
            "training period; *spend*: terciles of the returning customers' training-period spend; *country*: "
            "countries with few customers pooled as *other*.",
            "",
            groups,
            "",
        ]
    for metric in (prim, "long_tail_share"):
        gap = _gap_table(result, metric)
        if gap:
            parts += [
                f"**Gaps in {metric}** (difference of group means [{lvl} CI]; standard errors clustered by "
                f"customer; ◆: Holm-adjusted p < {f.alpha:g} across all gaps of the section)",
                "",
                gap,
                "",
            ]
    parts.append(_largest_gap_sentence(result, prim))
    if f.notes:
        parts += ["", "Not shown: " + "; ".join(f.notes) + "."]
    return "\n".join(str(p) for p in parts)


def fairness_parts(result: CompareResult) -> list[str]:
    """The section with its heading as report lines (empty list when the run has no fairness summary)."""
    body = fairness_section(result)
    return ["## Fairness and popularity bias", "", body, ""] if body else []
