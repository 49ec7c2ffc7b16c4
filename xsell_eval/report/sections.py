"""The evidence sections of the comparison report (everything after the *Decision*).

Each function renders one section of a :class:`~xsell_eval.result.CompareResult` with the
formatters of :mod:`xsell_eval.report._format`.
"""

from __future__ import annotations

from typing import Any

from xsell_eval._lookup import adapter_order, currency_of, metric_unit, primary_k, row
from xsell_eval.report import _format as F
from xsell_eval.report.plots import ci_label as _lvl
from xsell_eval.report.plots import cold_start_metric
from xsell_eval.result import CompareResult

QUERY_UNIT = {
    "basket-completion": ("basket", "baskets"),
    "next-basket": ("next basket", "next baskets"),
    "item-to-item": ("product view", "product views"),
}


GLOSSARY: dict[str, str] = {
    "baseline": "the reference strategy every other is compared with (usually best-sellers, `popular`)",
    "hit_rate": "share of test queries where at least one recommended item was then bought — the conversion proxy",
    "precision": "share of the k recommended slots filled with an item that was then bought",
    "recall": "share of the items bought (hidden from the recommender) that were recommended",
    "ndcg": "like recall, but hits near the top of the list count more (0 to 1)",
    "mrr": "1 / position of the first bought item in the list (0 when none); rewards a good first slot",
    "map": "mean average precision: rewards many hits placed early",
    "revenue": "value (price × quantity) of the recommended items that were then bought, per query",
    "uplift": "that value divided by the mean value of the carts already shown (basket value uplift, a ratio of means)",
    "novelty": "how unusual the recommended items are, −log2 of their popularity share (bits); higher = less obvious",
    "diversity": "share of pairs of recommended items from different categories",
    "coverage": "share of the items sold in training that were recommended at least once",
    "CI": "confidence interval: the range of values compatible with the data; narrower = surer",
    "pp": "percentage points: the plain difference of two percentages (35% → 40% is +5 pp, +14% relative)",
    "paired test": "both strategies are scored on the same test queries and compared query by query",
    "Holm correction": "many comparisons make some look good by luck; Holm raises the bar so that the chance of "
    "even one false 'better' stays under 5%",
    "win/tie/loss": "number of test queries where the strategy scored higher / the same / lower than the baseline",
    "A/B test": "a live experiment showing each strategy to a random half of the visitors",
    "power": "the chance that an A/B test detects a real effect of the stated size (80% is customary)",
    "cold start": "shoppers with little or no purchase history, and items never sold before",
    "fallback": "what an adapter shows when its own method has nothing to say (usually best-sellers)",
}


UNITS = {"uplift": " (ratio)", "novelty": " (bits)"}
"""Unit suffix of a metric column header; revenue's depends on the run (see :func:`_metric_label`)."""


def query_unit(protocol: str) -> tuple[str, str]:
    """What one test query is, singular and plural ("basket", "baskets")."""
    return QUERY_UNIT.get(protocol, ("query", "queries"))


def terms_section(result: CompareResult) -> str:
    """One plain line per term a manager may not know."""
    names = ["baseline", *[m for m in result.config.metrics if m in GLOSSARY], "coverage"]
    names += ["CI", "pp", "paired test", "Holm correction", "win/tie/loss", "A/B test", "power", "cold start"]
    names.append("fallback")
    lvl = _lvl(result.config.confidence)
    glossary = {**GLOSSARY, "CI": f"{lvl} {GLOSSARY['CI']}"}
    return "\n".join(f"- **{f'{lvl} CI' if n == 'CI' else n}**: {glossary[n]}" for n in dict.fromkeys(names))


def _metric_label(col: str, result: CompareResult) -> str:
    """Column header with its unit: ``revenue@10 (£/basket)``, ``novelty@10 (bits)``."""
    name, _, k = col.partition("@")
    if metric_unit(col) == "currency":
        cur = currency_of(result)
        one, _ = query_unit(result.config.protocol)
        return f"{name}@{k} ({F.currency_name(cur) if cur else 'currency'}/{one})"
    return f"{name}@{k}{UNITS.get(name, '')}"


def _shown_metrics(result: CompareResult, k: int) -> list[str]:
    """Metric columns at k with at least one finite value (diversity is all-NaN without categories)."""
    summ = result.estimates
    out = []
    for m in result.config.metrics:
        col = f"{m}@{k}"
        sel = summ[summ["metric"] == col]
        if not sel.empty and sel["mean"].notna().any():
            out.append(col)
    return out


def _missing_metrics_note(result: CompareResult, k: int) -> str:
    summ = result.estimates
    gone = [
        f"{m}@{k}"
        for m in result.config.metrics
        if not summ[summ["metric"] == f"{m}@{k}"].empty and summ[summ["metric"] == f"{m}@{k}"]["mean"].isna().all()
    ]
    if not gone:
        return ""
    why = {
        "diversity": "the catalog has no categories",
        "revenue": "the data has no prices",
        "uplift": "the data has no prices",
    }
    reasons = "; ".join(f"{g}: {why.get(g.partition('@')[0], 'no defined value')}" for g in gone)
    return f"Not shown (no value for any adapter): {reasons}."


def metric_table(result: CompareResult, k: int) -> str:
    """Adapters × metrics at one k, mean [95% CI] with significance marks vs the baseline."""
    summ = result.estimates
    comp = result.comparisons
    cols = _shown_metrics(result, k)
    rows = []
    for a in adapter_order(result):
        cells = [f"`{a}`"]
        for c in cols:
            r = row(summ, adapter=a, metric=c)
            if r is None:
                cells.append("—")
                continue
            cr = row(comp, adapter=a, metric=c)
            mark = str(cr["mark"]) if cr is not None else ""
            cells.append(f"{F.ci(r['mean'], r['ci_low'], r['ci_high'])}{(' ' + mark) if mark else ''}")
        rows.append(cells)
    table = F.table(["adapter", *[_metric_label(c, result) for c in cols]], rows)
    note = _missing_metrics_note(result, k)
    return table + (f"\n\n{note}" if note else "")


def comparison_table(result: CompareResult) -> str:
    """Paired differences vs the baseline at the primary k, grouped by adapter."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    comp = result.comparisons
    if comp is None or comp.empty:
        return "_No comparison (only one adapter completed, or the baseline failed)._"
    k = primary_k(result)
    cols = _shown_metrics(result, k)
    rows = []
    for a in [x for x in adapter_order(result) if x != result.config.baseline]:
        for m in cols:
            r = row(comp, adapter=a, metric=m)
            if r is None:
                continue
            mark = str(r["mark"])
            rows.append(
                [
                    f"`{a}`",
                    m,
                    f"{F.signed(r['diff'])} [{F.signed(r['ci_low'])}, {F.signed(r['ci_high'])}]",
                    f"{F.pct(r['rel_diff'], signed=True)} [{F.pct(r['rel_ci_low'], signed=True)}, "
                    f"{F.pct(r['rel_ci_high'], signed=True)}]",
                    F.p_value(r["p_value"]),
                    F.p_value(r["p_holm"]),
                    mark or "n.s.",
                    f"{int(r['wins']):,}/{int(r['ties']):,}/{int(r['losses']):,}",
                ]
            )
    return F.table(
        ["adapter", "metric", f"difference [{lvl} CI]", f"relative [{lvl} CI]", "p", "p (Holm)", "", "win/tie/loss"],
        rows,
        "llrrrrll",
    )


def business_section(result: CompareResult) -> str:
    """Revenue, basket value uplift and list-level metrics at the primary k."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    cfg = result.config
    k = primary_k(result)
    cur = currency_of(result)
    one, many = query_unit(cfg.protocol)
    summ, comp = result.estimates, result.comparisons
    rev, upl = f"revenue@{k}", f"uplift@{k}"
    parts: list[str] = []
    has_rev = not summ[summ["metric"] == rev].empty and summ.loc[summ["metric"] == rev, "mean"].notna().any()
    if has_rev:
        cur_txt = F.currency_name(cur)
        rows = []
        for a in adapter_order(result):
            r = row(summ, adapter=a, metric=rev)
            if r is None:
                continue
            c = row(comp, adapter=a, metric=rev)
            u = row(summ, adapter=a, metric=upl)
            vs = (
                "baseline"
                if a == cfg.baseline
                else "—"
                if c is None
                else f"{F.money(1000 * F.num(c['diff']), cur, signed=True)} "
                f"[{F.money(1000 * F.num(c['ci_low']), cur, signed=True)}, "
                f"{F.money(1000 * F.num(c['ci_high']), cur, signed=True)}] {c['mark'] or 'n.s.'}"
            )
            rows.append(
                [
                    f"`{a}`",
                    f"{F.money(r['mean'], cur, decimals=2)} [{F.money(r['ci_low'], cur, decimals=2)}, "
                    f"{F.money(r['ci_high'], cur, decimals=2)}]",
                    F.money(1000 * F.num(r["mean"]), cur),
                    vs,
                    "—" if u is None else F.ci(u["mean"], u["ci_low"], u["ci_high"]),
                ]
            )
        parts += [
            f"Value of the recommended items that shoppers then bought (revenue@{k}, price × quantity, "
            f"{cur_txt}), per test {one} and per 1,000 {many}; basket value uplift = that value / the mean value "
            "of the carts shown (a ratio of means). Offline proxy: part of this value would have been bought anyway.",
            "",
            F.table(
                [
                    "adapter",
                    f"revenue@{k} per {one} [{lvl} CI]",
                    f"per 1,000 {many}",
                    f"vs `{cfg.baseline}` per 1,000 {many} [{lvl} CI]",
                    f"uplift@{k} (ratio) [{lvl} CI]",
                ],
                rows,
            ),
        ]
    else:
        parts.append("_No prices in the data: revenue and basket value uplift are not available._")
    ag = result.aggregates
    list_rows = []
    for a in adapter_order(result):
        cov = row(ag, adapter=a, metric=f"coverage@{k}")
        nov = row(summ, adapter=a, metric=f"novelty@{k}")
        div = row(summ, adapter=a, metric=f"diversity@{k}")
        list_rows.append(
            [
                f"`{a}`",
                "—" if cov is None else F.pct(cov["value"]),
                "—" if nov is None else F.ci(nov["mean"], nov["ci_low"], nov["ci_high"]),
                "—" if div is None or not F.ok(div["mean"]) else F.ci(div["mean"], div["ci_low"], div["ci_high"]),
            ]
        )
    parts += [
        "",
        f"Beyond accuracy at k = {k}: catalog coverage (share of the items sold in training that were recommended "
        "at least once), novelty (bits; higher = less obvious items) and intra-list diversity (share of "
        "recommended pairs from different categories; — when the catalog has no categories).",
        "",
        F.table(
            ["adapter", f"coverage@{k}", f"novelty@{k} (bits) [{lvl} CI]", f"diversity@{k} (share) [{lvl} CI]"],
            list_rows,
        ),
    ]
    return "\n".join(parts)


def bucket_tables(result: CompareResult) -> str:
    """Cold-start breakdowns, one table per bucket type."""
    b = result.buckets
    if b is None or b.empty:
        return "_No breakdown available._"
    metric = cold_start_metric(result)
    out = []
    order = adapter_order(result)
    for btype in dict.fromkeys(b["bucket_type"]):
        df = b[(b["bucket_type"] == btype) & (b["metric"] == metric)]
        buckets = list(dict.fromkeys(df["bucket"]))
        rows = []
        for a in [x for x in order if x in set(df["adapter"])]:
            cells = [f"`{a}`"]
            for bk in buckets:
                r = row(df, adapter=a, bucket=bk)
                cells.append("—" if r is None or not F.ok(r["mean"]) else F.ci(r["mean"], r["ci_low"], r["ci_high"]))
            rows.append(cells)
        ns = {bk: int(df[df["bucket"] == bk]["n"].max()) for bk in buckets}
        header = ["adapter", *[f"{bk} (n={ns[bk]:,})" for bk in buckets]]
        out.append(f"**{metric} by {btype}**\n\n" + F.table(header, rows))
    return "\n\n".join(out)


def _cold_start_intro(result: CompareResult) -> str:
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    metric = cold_start_metric(result)
    return (
        f"{metric} (mean [{lvl} CI]) for groups of test queries. *User history*: the shopper's baskets in the "
        "training period (0 = new customer or guest). *Target item popularity*: queries whose bought items "
        "include an item that was never sold in training (unseen), a less popular item (tail) or a best-seller "
        "(head: the most sold items that together make half of the training sales); there only items of that "
        "group count as hits. n = queries in the group; small groups have wide intervals."
    )


def _ms(v: float) -> str:
    """Milliseconds with about three significant digits (0.0412, 1.25, 12.5, 1,250)."""
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 0.1 else f"{v:.3g}"


def _latency_cells(latency: dict[str, Any] | None) -> list[str]:
    lat: dict[str, Any] = latency or {}
    if not F.ok(lat.get("p50_ms")):
        return ["—", "—"]
    qps: Any = lat.get("throughput_qps")
    return [
        " / ".join(_ms(float(lat[key])) for key in ("p50_ms", "p95_ms", "p99_ms")),
        f"{float(qps):,.0f}" if F.ok(qps) else "—",
    ]


def adapters_table(result: CompareResult) -> str:
    """Per-adapter parameters, timings (serving latency when measured), fallback share and errors."""
    with_latency = any(a.latency for a in result.adapters)
    rows = []
    for a in result.adapters:
        params = ", ".join(f"{k}={v}" for k, v in sorted(a.params.items())) or "—"
        fb = a.fallback_share
        empty = a.empty_share
        rows.append(
            [
                f"`{a.name}`",
                a.family or "—",
                "ok" if a.ok else f"not applicable: {a.error}" if a.not_applicable else f"**failed**: {a.error}",
                F.fmt(a.fit_seconds, 2),
                F.fmt(a.recommend_seconds, 2),
                *(_latency_cells(a.latency) if with_latency else []),
                "—" if not F.ok(fb) else F.pct(fb),
                "—" if not F.ok(empty) else F.pct(empty),
                params,
            ]
        )
    table = F.table(
        [
            "adapter",
            "family",
            "status",
            "fit (s)",
            "recommend (s)",
            *(["one query p50 / p95 / p99 (ms)", "batch (queries/s)"] if with_latency else []),
            "served by fallback",
            "no recommendation",
            "hyperparameters",
        ],
        rows,
        "lllrr" + ("rr" if with_latency else "") + "rrl",
    )
    if with_latency:
        table += (
            "\n\nServing latency: wall time of answering one shopper at a time (a seeded sample of test queries, "
            "after warm-up calls), and the rate of the batch evaluation. Machine- and load-dependent: compare "
            "adapters within one run, not across machines."
        )
    notes = [f"- `{a.name}`: {w}" for a in result.adapters for w in a.warnings]
    return table + ("\n\nWarnings raised while fitting and recommending:\n\n" + "\n".join(notes) if notes else "")


def aggregates_table(result: CompareResult) -> str:
    """Catalog coverage at every k."""
    ag = result.aggregates
    if ag is None or ag.empty:
        return ""
    cols = sorted(set(ag["metric"]), key=lambda c: (c.split("@")[0], int(c.split("@")[1]) if "@" in c else 0))
    rows = []
    for a in [x for x in adapter_order(result) if x in set(ag["adapter"])]:
        cells = [f"`{a}`"]
        for c in cols:
            r = row(ag, adapter=a, metric=c)
            cells.append("—" if r is None else F.pct(r["value"]))
        rows.append(cells)
    return F.table(["adapter", *cols], rows)


def _split_section(result: CompareResult) -> list[str]:
    cfg, split, audit = result.config, result.split, result.audit
    _, many = query_unit(cfg.protocol)
    proto = {
        "basket-completion": (
            f"each test basket with at least two distinct items is one query: {cfg.reveal} randomly chosen item(s) "
            "are shown as the cart and the rest are hidden; a hit is a recommended hidden item"
            if cfg.hide is None
            else f"each test basket is one query: {cfg.hide} item(s) are hidden, the rest are shown as the cart"
        ),
        "next-basket": "each test customer's history is the context; the items of their next basket are hidden",
        "item-to-item": "each item of a test basket is an anchor (the product page); the other items are hidden",
    }.get(cfg.protocol, cfg.protocol)

    def span(part: str) -> str:
        s = split.get(part) or {}
        return f"{s.get('start', '?')} → {s.get('end', '?')}"

    lines = [
        f"- **Split: {split.get('kind', cfg.split)}** — leakage: {split.get('leakage', '?')}",
        f"- Train: {int((split.get('train') or {}).get('baskets') or 0):,} baskets ({span('train')}); "
        f"test: {int((split.get('test') or {}).get('baskets') or 0):,} baskets ({span('test')})"
        # the Spark engine's split has no validation window (no tuning on Spark)
        + (f"; validation window (tuning only, inside train): {span('validation')}." if "validation" in split else "."),
        f"- **Protocol: {cfg.protocol}** — {proto}. {result.n_queries:,} test {many}"
        + (f" (a seeded sample of at most {cfg.max_queries:,})" if cfg.max_queries else "")
        + ".",
        "",
    ]
    if audit:
        yn = "yes" if audit.get("train_ends_before_test") else "**no**"
        lines.append(
            F.table(
                ["check", "value"],
                [
                    ["train ends before test starts", yn],
                    ["train lines after test start", f"{int(audit.get('train_lines_after_test_start') or 0):,}"],
                    ["test baskets also in train", f"{int(audit.get('test_baskets_in_train') or 0):,}"],
                    [
                        "test users (cold: no train basket)",
                        f"{int(audit.get('test_users') or 0):,} ({int(audit.get('cold_test_users') or 0):,})",
                    ],
                    [
                        "test items (cold: never bought in train)",
                        f"{int(audit.get('test_items') or 0):,} ({int(audit.get('cold_test_items') or 0):,})",
                    ],
                    ["test lines on cold items", f"{int(audit.get('test_lines_on_cold_items') or 0):,}"],
                ],
                "lr",
            )
        )
    return lines


def caveats(result: CompareResult) -> list[str]:
    """What offline metrics cannot show, and what this run assumed."""
    cfg = result.config
    _, many = query_unit(cfg.protocol)
    out = [
        "- Offline metrics count items the shopper bought anyway; the *incremental* effect of showing "
        "recommendations (and their revenue) needs an A/B test.",
        "- Shoppers never saw these lists; a live widget changes what they buy (and what the next model learns from).",
        "- Items never recommended cannot be judged, and best-sellers are easier to hit: high accuracy can mean "
        "obvious suggestions (see novelty and coverage).",
    ]
    if cfg.protocol == "basket-completion":
        out.append(
            "- The revealed cart is a random subset of the real basket, not the order in which the shopper added items."
        )
    leak = str((result.split or {}).get("leakage", ""))
    if leak and not leak.startswith("none"):
        out.append(f"- Split leakage: {leak}.")
    out.append(
        f"- Significance: every adapter × metric at every k against `{cfg.baseline}` is one family for Holm "
        f"(α = {cfg.alpha:g}); candidates are not tested against each other except the winner vs the runner-up, "
        "reported separately."
    )
    if cfg.max_queries:
        out.append(f"- Evaluated on a seeded sample of at most {cfg.max_queries:,} test {many}: intervals are wider.")
    for a in result.adapters:
        fb = a.fallback_share
        if a.ok and F.ok(fb) and F.num(fb) >= 0.05:
            out.append(
                f"- `{a.name}` served {F.pct(fb)} of the test {many} from its fallback (its own method had no answer)."
            )
        empty = a.empty_share
        if a.ok and F.ok(empty) and F.num(empty) >= 0.05:
            out.append(
                f"- `{a.name}` recommended nothing at all for {F.pct(empty)} of the test {many} "
                "(no fallback filled them); those count as misses."
            )
    audit = result.audit or {}
    if int(audit.get("cold_test_items") or 0) > 0:
        out.append(
            f"- {int(audit['cold_test_items']):,} items bought in the test period were never sold in training; "
            "collaborative adapters cannot recommend them (see *Cold start*, unseen)."
        )
    return out


def _experiment_lines(result: CompareResult) -> list[str]:
    exp = result.experiment
    if exp is None:
        return []
    lines = [f"- Experiment file `{exp.path}`, resolved-config hash `{exp.hash}`"]
    if exp.overrides:
        lines.append("- Overrides: " + ", ".join(f"`{o}`" for o in exp.overrides))
    return lines


def _optional_section(result: CompareResult) -> list[str]:
    """The A/B and tuning sections, when the run has them (rendered by their own modules)."""
    out = []
    if result.abtest is not None:
        from xsell_eval.report.abtest import render_section

        out.append(render_section(result.abtest, heading="##").rstrip("\n") + "\n")
    if result.tuning is not None:
        from xsell_eval.report.tuning import tuning_summary_markdown

        out.append(tuning_summary_markdown(result.tuning).rstrip("\n") + "\n")
    return out


def _title(result: CompareResult) -> list[str]:
    cfg = result.config
    ds = result.manifest.get("dataset", {})
    _, many = query_unit(cfg.protocol)
    return [
        f"# Cross-sell decision: {', '.join(f'`{a}`' for a in cfg.adapters)}",
        "",
        f"*Data **{ds.get('name', '?')}**, {cfg.protocol} on a {cfg.split} split, {result.n_queries:,} test {many}; "
        f"primary metric **{cfg.primary_metric}**, baseline `{cfg.baseline}`, seed {cfg.seed}.*",
    ]
