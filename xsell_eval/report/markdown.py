"""Markdown report of an offline comparison, decision first.

A pure renderer: the same :class:`~xsell_eval.pipeline.CompareResult` gives the same
bytes (no clock, no working directory, no randomness).
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from xsell_eval.pipeline import CompareConfig, CompareResult

GLOSSARY = {
    "hit_rate": "share of shopping sessions where at least one recommended item was bought (conversion proxy)",
    "precision": "share of the k recommended items that were bought",
    "recall": "share of the bought (hidden) items that were recommended",
    "ndcg": "like recall, but hits near the top of the list count more (0–1)",
    "mrr": "1 / position of the first bought item in the list (0 when none)",
    "map": "mean average precision: rewards many hits placed early",
    "revenue": "value (price × quantity) of the hidden items that were recommended, per query",
    "uplift": "that value relative to the value of the cart already shown (basket value uplift)",
    "novelty": "how unusual the recommended items are (−log2 popularity); higher = less obvious",
    "diversity": "share of recommended item pairs from different categories",
    "coverage": "share of the catalogue that was recommended at least once",
}
UNITS = {"revenue": " (currency/query)", "uplift": " (ratio)", "novelty": " (bits)"}


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return f"{x:,}"
    ax = abs(float(x))
    if ax >= 100:
        return f"{x:,.1f}"
    if ax >= 1:
        return f"{x:.3f}"
    return f"{x:.{digits}f}"


def _ci(mean: Any, lo: Any, hi: Any) -> str:
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    al = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else ":---" for a in al]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def reproduce_command(config: CompareConfig) -> str:
    """The exact CLI command that reproduces a run with this config."""
    parts = ["xsell-eval", "compare", *config.adapters]
    opts: list[tuple[str, Any]] = []
    if config.data:
        opts.append(("--data", config.data))
    if config.loader != "auto":
        opts.append(("--loader", config.loader))
    if config.catalog:
        opts.append(("--catalog", config.catalog))
    opts += [
        ("--split", config.split),
        ("--protocol", config.protocol),
        ("--k", ",".join(map(str, config.ks))),
        ("--metric", config.primary_metric),
        ("--baseline", config.baseline),
        ("--seed", config.seed),
    ]
    if config.hide is not None:
        opts.append(("--hide", config.hide))
    elif config.reveal not in (None, 1):
        opts.append(("--reveal", config.reveal))
    if config.max_queries is not None:
        opts.append(("--max-queries", config.max_queries))
    if config.cutoff:
        opts.append(("--cutoff", config.cutoff))
    if config.n_bootstrap != 1000:
        opts.append(("--bootstrap", config.n_bootstrap))
    for flag, val in opts:
        parts += [flag, str(val)]
    return " ".join(shlex.quote(p) for p in parts)


def _metric_label(col: str) -> str:
    name, _, k = col.partition("@")
    return f"{name}@{k}{UNITS.get(name, '')}"


def decision_section(result: CompareResult) -> str:
    """The first screen: what to do and how sure we are."""
    cfg = result.config
    prim = cfg.primary_metric
    comp = result.comparisons
    summ = result.summary
    lines = ["## Decision", ""]
    if summ.empty:
        return "\n".join([*lines, "No adapter completed; nothing to decide. See *Adapters* below for the errors."])
    ps = summ[summ["metric"] == prim].sort_values(["mean", "adapter"], ascending=[False, True])
    if ps.empty:
        return "\n".join([*lines, f"The primary metric {prim} was not computed."])
    best = ps.iloc[0]
    base = cfg.baseline
    lines.append(
        f"**Best on {prim}: `{best['adapter']}`** — {_ci(best['mean'], best['ci_low'], best['ci_high'])} "
        f"({int(best['n']):,} test queries; 95% bootstrap CI)."
    )
    lines.append("")
    if not comp.empty and best["adapter"] != base:
        row = comp[(comp["adapter"] == best["adapter"]) & (comp["metric"] == prim)]
        if not row.empty:
            r = row.iloc[0]
            verdict = (
                "a real improvement (survives Holm correction across all adapters × metrics)"
                if bool(r["significant"]) and r["diff"] > 0
                else "**not** distinguishable from the baseline after multiple-comparison correction"
            )
            lines.append(
                f"Against the baseline `{base}`: {_fmt(r['diff'])} absolute "
                f"(95% CI {_fmt(r['ci_low'])} to {_fmt(r['ci_high'])}), "
                f"{_fmt(100 * r['rel_diff'], 2)}% relative "
                f"(95% CI {_fmt(100 * r['rel_ci_low'], 2)}% to {_fmt(100 * r['rel_ci_high'], 2)}%); "
                f"Holm-adjusted p = {_fmt(r['p_holm'], 4)} — {verdict}. "
                f"Per query it wins {int(r['wins']):,}, ties {int(r['ties']):,}, loses {int(r['losses']):,}."
            )
            rev = comp[(comp["adapter"] == best["adapter"]) & comp["metric"].str.startswith("revenue@")]
            rev = rev[rev["metric"] == f"revenue@{prim.split('@')[1]}"]
            if not rev.empty and pd.notna(rev.iloc[0]["diff"]):
                rr = rev.iloc[0]
                lines.append("")
                lines.append(
                    f"Money: {_fmt(1000 * rr['diff'], 1)} more recommended-and-bought value per 1,000 "
                    f"sessions than `{base}` (95% CI {_fmt(1000 * rr['ci_low'], 1)} to "
                    f"{_fmt(1000 * rr['ci_high'], 1)}), in the data's currency. This is an offline proxy: "
                    "it counts items the shopper bought anyway; only an A/B test measures the increment."
                )
    elif best["adapter"] == base:
        lines.append(f"No adapter beats the baseline `{base}` on {prim}.")
    failed = [a["name"] for a in result.adapters if a["status"] != "ok"]
    if failed:
        lines += ["", f"⚠ Failed adapters (not compared): {', '.join(f'`{f}`' for f in failed)} — see *Adapters*."]
    return "\n".join(lines)


def metric_table(result: CompareResult, k: int) -> str:
    """Adapters × metrics at one k, mean [95% CI] with significance marks vs the baseline."""
    summ = result.summary
    comp = result.comparisons
    cols = [f"{m}@{k}" for m in result.config.metrics if f"{m}@{k}" in set(summ["metric"])]
    rows = []
    order = (
        summ[summ["metric"] == result.config.primary_metric]
        .sort_values(["mean", "adapter"], ascending=[False, True])["adapter"]
        .tolist()
    )
    order += [a for a in summ["adapter"].unique() if a not in order]
    for a in order:
        cells = [f"`{a}`"]
        for c in cols:
            r = summ[(summ["adapter"] == a) & (summ["metric"] == c)]
            if r.empty:
                cells.append("—")
                continue
            r0 = r.iloc[0]
            mark = ""
            if not comp.empty:
                cr = comp[(comp["adapter"] == a) & (comp["metric"] == c)]
                if not cr.empty:
                    mark = str(cr.iloc[0]["mark"])
            cells.append(f"{_ci(r0['mean'], r0['ci_low'], r0['ci_high'])}{(' ' + mark) if mark else ''}")
        rows.append(cells)
    return _table(["adapter", *[_metric_label(c) for c in cols]], rows)


def comparison_table(result: CompareResult) -> str:
    """Paired differences vs the baseline on the primary k."""
    comp = result.comparisons
    if comp.empty:
        return "_No comparison (only one adapter completed)._"
    k = result.config.primary_metric.split("@")[1]
    sel = comp[comp["metric"].str.endswith(f"@{k}")]
    rows = []
    for r in sel.itertuples(index=False):
        rows.append(
            [
                f"`{r.adapter}`",
                r.metric,
                f"{_fmt(r.diff)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
                f"{_fmt(100 * r.rel_diff, 2)}%",
                _fmt(r.p_value, 4),
                _fmt(r.p_holm, 4),
                str(r.mark) or "n.s.",
                f"{int(r.wins)}/{int(r.ties)}/{int(r.losses)}",
            ]
        )
    return _table(["adapter", "metric", "difference [95% CI]", "relative", "p", "p (Holm)", "", "win/tie/loss"], rows)


def bucket_tables(result: CompareResult) -> str:
    """Cold-start breakdowns, one table per bucket type, primary metric."""
    b = result.buckets
    if b.empty:
        return "_No breakdown available._"
    prim = result.config.primary_metric
    _, _, k = prim.partition("@")
    metric = prim if prim in set(b["metric"]) else f"hit_rate@{k}"
    out = []
    for btype, df in b.groupby("bucket_type", sort=False):
        df = df[df["metric"] == metric]
        buckets = list(dict.fromkeys(df["bucket"]))
        adapters = list(dict.fromkeys(df["adapter"]))
        rows = []
        for a in adapters:
            cells = [f"`{a}`"]
            for bk in buckets:
                r = df[(df["adapter"] == a) & (df["bucket"] == bk)]
                cells.append("—" if r.empty else _ci(r.iloc[0]["mean"], r.iloc[0]["ci_low"], r.iloc[0]["ci_high"]))
            rows.append(cells)
        ns = {bk: int(df[df["bucket"] == bk]["n"].max()) for bk in buckets}
        header = ["adapter", *[f"{bk} (n={ns[bk]:,})" for bk in buckets]]
        out.append(f"**{metric} by {btype}**\n\n" + _table(header, rows))
    return "\n\n".join(out)


def adapters_table(result: CompareResult) -> str:
    """Per-adapter parameters, timings, fallback share and errors."""
    rows = []
    for a in result.adapters:
        params = ", ".join(f"{k}={v}" for k, v in sorted(a.get("params", {}).items())) or "—"
        fb = a.get("fallback_share")
        rows.append(
            [
                f"`{a['name']}`",
                a.get("family", "") or "—",
                "ok" if a["status"] == "ok" else f"**failed**: {a.get('error', '')}",
                _fmt(a.get("fit_seconds"), 2),
                _fmt(a.get("recommend_seconds"), 2),
                "—" if fb is None else f"{100 * fb:.1f}%",
                params,
            ]
        )
    return _table(
        ["adapter", "family", "status", "fit (s)", "recommend (s)", "served by fallback", "hyperparameters"],
        rows,
        "lllrrrl",
    )


def aggregates_table(result: CompareResult) -> str:
    """Catalog coverage and other list-level metrics."""
    ag = result.aggregates
    if ag.empty:
        return ""
    piv = ag.pivot_table(index="adapter", columns="metric", values="value", aggfunc="first")
    cols = sorted(piv.columns, key=lambda c: (c.split("@")[0], int(c.split("@")[1]) if "@" in c else 0))
    rows = [[f"`{a}`", *[f"{100 * piv.loc[a, c]:.1f}%" for c in cols]] for a in piv.index]
    return _table(["adapter", *cols], rows)


def render_markdown(result: CompareResult, *, run_dir: str | Path | None = None) -> str:
    """The full report. ``run_dir`` is only used to reference files relatively."""
    cfg = result.config
    audit = result.audit
    split = result.split
    k_prim = int(cfg.primary_metric.split("@")[1])
    ds = result.manifest.get("dataset", {})
    parts: list[str] = [
        f"# Cross-sell comparison: {', '.join(f'`{a}`' for a in cfg.adapters)}",
        "",
        f"Data **{ds.get('name', '?')}** (fingerprint `{ds.get('fingerprint', '?')}`), "
        f"protocol **{cfg.protocol}**, split **{cfg.split}**, {result.n_queries:,} test queries, "
        f"baseline `{cfg.baseline}`, seed {cfg.seed}.",
        "",
        decision_section(result),
        "",
        f"## Results at k = {k_prim}",
        "",
        "Mean per query with a 95% bootstrap confidence interval. ▲/▼: better/worse than the baseline after "
        "Holm correction (paired test on the same queries); no mark: not distinguishable.",
        "",
        metric_table(result, k_prim),
        "",
        "### Against the baseline (paired)",
        "",
        comparison_table(result),
        "",
    ]
    other_ks = [k for k in cfg.ks if k != k_prim]
    for k in other_ks:
        parts += [f"### Results at k = {k}", "", metric_table(result, k), ""]
    agg = aggregates_table(result)
    if agg:
        parts += ["### Catalog coverage", "", "Share of the catalogue recommended at least once.", "", agg, ""]
    parts += ["## Cold start", "", bucket_tables(result), ""]
    parts += ["## Adapters", "", adapters_table(result), ""]
    parts += [
        "## Data",
        "",
        result.data_card_md,
        "",
        "## Split, protocol and leakage audit",
        "",
        f"- Split: **{split.get('kind')}** — {split.get('leakage')}",
        f"- Train: {split['train']['baskets']:,} baskets ({split['train']['start']} → {split['train']['end']}); "
        f"test: {split['test']['baskets']:,} baskets ({split['test']['start']} → {split['test']['end']}); "
        f"validation window (tuning only): {split['validation']['start']} → {split['validation']['end']}.",
        f"- Protocol: **{cfg.protocol}**"
        + (
            f", reveal {cfg.reveal} item(s) as the cart"
            if cfg.protocol == "basket-completion" and cfg.hide is None
            else f", hide {cfg.hide} item(s)"
            if cfg.hide is not None
            else ""
        ),
        "",
        _table(
            ["check", "value"],
            [
                ["train ends before test starts", "yes" if audit["train_ends_before_test"] else "**no**"],
                ["train lines after test start", f"{audit['train_lines_after_test_start']:,}"],
                ["test baskets also in train", f"{audit['test_baskets_in_train']:,}"],
                ["test users (cold: no train basket)", f"{audit['test_users']:,} ({audit['cold_test_users']:,})"],
                ["test items (cold: never bought in train)", f"{audit['test_items']:,} ({audit['cold_test_items']:,})"],
                ["test lines on cold items", f"{audit['test_lines_on_cold_items']:,}"],
            ],
            "lr",
        ),
        "",
        "### What offline metrics cannot show",
        "",
        "- They count items the shopper bought anyway; a recommendation's *incremental* effect needs an A/B test.",
        "- The revealed cart is a random subset of the real basket, not the order in which items were added.",
        "- Items never recommended cannot be judged; popular items are easier to hit.",
        "",
        "### Terms",
        "",
        *[f"- **{k}**: {v}" for k, v in GLOSSARY.items() if k in cfg.metrics or k == "coverage"],
        "",
        "## Provenance",
        "",
        f"- Config hash `{cfg.hash}`, git revision `{result.manifest.get('git_revision') or 'unknown'}`",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(result.manifest.get("packages", {}).items())),
        "- Reproduce:",
        "",
        "```",
        reproduce_command(cfg),
        "```",
        "",
    ]
    return "\n".join(parts)
