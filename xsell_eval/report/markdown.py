"""Markdown report of an offline comparison: the decision first, then the evidence.

A pure renderer: :func:`render_markdown` is a function of one
:class:`~xsell_eval.pipeline.CompareResult` — the parts that
:func:`~xsell_eval.results.read_run` restores from a run directory — with no clock,
no working directory and no randomness, so the report written at the end of a run
and ``xsell-eval report RUN_DIR`` give the same bytes.

Layout::

    # title, one line of context
    ## Decision            what to do, how sure, what it is worth, what an A/B test needs
                           + a scoreboard of every adapter on the primary metric
    ## Terms used          one plain line per term
    ## Results at k        metric table with CIs and marks; plots; paired differences (win/tie/loss)
    ## Business metrics    revenue, basket value uplift, coverage, novelty, diversity
    ## Cold start          tables by user history and item popularity; bar plot
    ## Simulated A/B test  (when the run has one: xsell_eval.abtest.report)
    ## Tuning              (when the run has one: xsell_eval.report.tuning)
    ## Adapters            parameters, timings, fallback share, errors
    ## Data                data card with the cleaning rules
    ## Split, protocol and leakage audit
    ## Caveats             what offline metrics cannot show; what this run assumed
    ## More cut-offs       the metric tables at the other k
    ## Provenance          fingerprints, hashes, versions, the exact command

The numbers of the decision come from :func:`decision_facts`. Run time adds what a
renderer cannot compute from the stored tables (the paired test of the winner against
the runner-up needs per-query values) with :func:`with_decision`, which stores the
facts in ``result.extra["decision"]``; a result without them gets the same facts
computed at render time, minus that test.
"""

from __future__ import annotations

import json
import math
import shlex
import weakref
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from xsell_eval.pipeline import CompareConfig, CompareResult
from xsell_eval.report.plots import (
    CURRENCY_SYMBOL,
    adapter_order,
    cold_start_metric,
    metric_unit,
    planned_plots,
)
from xsell_eval.report.plots import ci_label as _lvl
from xsell_eval.report.plots import currency_of as _currency
from xsell_eval.tuning.storage import DEFAULT_STORAGE

DEFAULT_TRAFFIC_PER_DAY = 5_000
DEFAULT_POWER = 0.8
WIDGET_SHARE = 0.1
"""Sensitivity scenario of the A/B sizing: the live widget converts at this share of the offline hit rate."""
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
    "uplift": "that value divided by the value of the cart already shown (basket value uplift)",
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


# ---------------------------------------------------------------------- formatting
def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _ok(x: Any) -> bool:
    return math.isfinite(_num(x))


def _fmt(x: Any, digits: int = 4) -> str:
    """Compact number: thousands separators from 100, 3 decimals from 1, ``digits`` decimals below."""
    if x is None or isinstance(x, bool) or not _ok(x):
        return "—"
    if isinstance(x, int):
        return f"{x:,}"
    v = float(x)
    ax = abs(v)
    if ax >= 100:
        return f"{v:,.1f}"
    if ax >= 1:
        return f"{v:.3f}"
    return f"{v:.{digits}f}"


def _signed(x: Any, digits: int = 4) -> str:
    s = _fmt(x, digits)
    return s if s == "—" or s.startswith("-") else "+" + s


def _pct(x: Any, *, signed: bool = False) -> str:
    """A share as a percentage: ``0.6327`` -> ``63.3%``; small values keep 2 significant digits."""
    if not _ok(x):
        return "—"
    v = 100 * float(x)
    ax = abs(v)
    body = f"{v:,.1f}" if ax >= 1 or ax == 0 else f"{v:.2g}"
    return f"{'+' if signed and v > 0 else ''}{body}%"


def _pp(x: Any) -> str:
    """A difference of shares in percentage points, signed."""
    if not _ok(x):
        return "—"
    v = 100 * float(x)
    body = f"{v:.1f}" if abs(v) >= 1 or v == 0 else f"{v:.2g}"
    return f"{'+' if v > 0 else ''}{body} pp"


def _p(x: Any) -> str:
    """A p-value: ``< 0.0001`` below that, 2 significant digits below 0.01, else 2 decimals."""
    if not _ok(x):
        return "—"
    v = float(x)
    if v < 1e-4:
        return "< 0.0001"
    if v < 0.01:
        return f"{v:.2g}"
    return f"{v:.2f}"


def _p_eq(x: Any) -> str:
    """``p = 0.13`` or ``p < 0.0001``."""
    t = _p(x)
    return f"p {t}" if t.startswith("<") else f"p = {t}"


def currency_label(code: str | None) -> tuple[str, str]:
    """(prefix, suffix) for money: ``("£", "")`` for GBP, ``("", " CHF")`` for other codes, none if unknown."""
    if not code:
        return "", ""
    sym = CURRENCY_SYMBOL.get(code.upper())
    return (sym, "") if sym else ("", f" {code}")


def currency_name(code: str | None) -> str:
    """How the report names the currency: ``"£"``, ``"CHF"`` or ``"the data's currency"``."""
    if not code:
        return "the data's currency"
    return CURRENCY_SYMBOL.get(code.upper(), code)


def _money(x: Any, currency: str | None, *, signed: bool = False, decimals: int = 0) -> str:
    if not _ok(x):
        return "—"
    v = float(x)
    pre, suf = currency_label(currency)
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    return f"{sign}{pre}{abs(v):,.{decimals}f}{suf}"


def _value(metric: str, x: Any, currency: str | None = None) -> str:
    """A metric value in its unit (shares as %, money with the currency)."""
    unit = metric_unit(metric)
    if unit == "share":
        return _pct(x)
    if unit == "currency":
        return _money(x, currency, decimals=2)
    return _fmt(x)


def _diff(metric: str, x: Any, currency: str | None = None) -> str:
    unit = metric_unit(metric)
    if unit == "share":
        return _pp(x)
    if unit == "currency":
        return _money(x, currency, signed=True, decimals=2)
    return _signed(x)


def _ci(mean: Any, lo: Any, hi: Any) -> str:
    return f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}]"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    al = align or ("l" + "r" * (len(header) - 1))
    sep = ["---:" if a == "r" else ":---" for a in al]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _plain(obj: Any) -> Any:
    """JSON round trip with NaN/inf -> None, as the run directory stores it (so memory == disk)."""

    def default(o: Any) -> Any:
        import numpy as np

        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    def clean(o: Any) -> Any:
        if isinstance(o, float):
            return o if math.isfinite(o) else None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    return clean(json.loads(json.dumps(obj, default=default)))


_INDEX: dict[tuple[int, tuple[str, ...]], tuple[Any, dict[tuple[Any, ...], dict[str, Any]]]] = {}


def _index(df: pd.DataFrame, cols: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """First row per key of ``cols`` (built once per table object; dropped when the table is)."""
    key = (id(df), cols)
    hit = _INDEX.get(key)
    if hit is not None and hit[0]() is df:
        return hit[1]
    idx: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rec in df.to_dict("records"):
        idx.setdefault(tuple(rec[c] for c in cols), {str(k): v for k, v in rec.items()})
    _INDEX[key] = (weakref.ref(df), idx)
    weakref.finalize(df, _INDEX.pop, key, None)
    return idx


def _row(df: pd.DataFrame | None, **eq: Any) -> dict[str, Any] | None:
    """The first row of ``df`` whose columns equal ``eq`` (as a dict), or None."""
    if df is None or df.empty or any(c not in df.columns for c in eq):
        return None
    return _index(df, tuple(eq)).get(tuple(eq.values()))


def _k(result: CompareResult) -> int:
    return int(result.config.primary_metric.partition("@")[2])


def query_unit(protocol: str) -> tuple[str, str]:
    """What one test query is, singular and plural ("basket", "baskets")."""
    return QUERY_UNIT.get(protocol, ("query", "queries"))


# ---------------------------------------------------------------------- decision facts
def _sample_size(p_control: float, rel_lift: float, alpha: float, power: float) -> float | None:
    """Visitors per arm (pooled two-proportion formula) to detect ``rel_lift`` over ``p_control``."""
    if not (0.0 < p_control < 1.0) or not (rel_lift > 0) or not (p_control * (1 + rel_lift) < 1.0):
        return None
    try:
        from xsell_eval.abtest.stats import required_sample_size
    except ImportError:
        from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

        p1 = p_control * (1 + rel_lift)
        return float(
            samplesize_proportions_2indep_onetail(
                p1 - p_control, p_control, power, alpha=alpha, alternative="two-sided"
            )
        )
    return float(required_sample_size(p_control, rel_lift, alpha=alpha, power=power, method="pooled"))


def _ab_plan(
    result: CompareResult, winner: str, rel_low: float | None, traffic: int, power: float
) -> dict[str, Any] | None:
    cfg = result.config
    conv = f"hit_rate@{_k(result)}"
    base = _row(result.summary, adapter=cfg.baseline, metric=conv)
    cand = _row(result.summary, adapter=winner, metric=conv)
    if base is None or cand is None or not (_ok(base["mean"]) and _ok(cand["mean"])):
        return None
    p0, p1 = float(base["mean"]), float(cand["mean"])
    if not (p0 > 0 and p1 > p0):
        return None
    rel = p1 / p0 - 1
    n = _sample_size(p0, rel, cfg.alpha, power)
    if n is None:
        return None
    n_arm = math.ceil(n)
    plan: dict[str, Any] = {
        "conversion_metric": conv,
        "p_control": p0,
        "p_treatment": p1,
        "rel_lift": rel,
        "alpha": cfg.alpha,
        "power": power,
        "traffic_per_day": traffic,
        "n_per_arm": n_arm,
        "days": math.ceil(2 * n_arm / traffic),
        "method": "pooled two-proportion z test, 50/50 split (statsmodels samplesize_proportions_2indep_onetail)",
    }
    n_tenth = _sample_size(p0 * WIDGET_SHARE, rel, cfg.alpha, power)
    if n_tenth is not None:
        plan["widget_share"] = WIDGET_SHARE
        plan["n_per_arm_widget"] = math.ceil(n_tenth)
        plan["days_widget"] = math.ceil(2 * plan["n_per_arm_widget"] / traffic)
    if rel_low is not None and _ok(rel_low) and 0 < float(rel_low) < rel:
        n_low = _sample_size(p0, float(rel_low), cfg.alpha, power)
        if n_low is not None:
            plan["rel_lift_low"] = float(rel_low)
            plan["n_per_arm_low"] = math.ceil(n_low)
            plan["days_low"] = math.ceil(2 * plan["n_per_arm_low"] / traffic)
    return plan


def _runner_up_test(result: CompareResult, a: str, b: str, per_query: pd.DataFrame | None) -> dict[str, Any] | None:
    """Paired comparison a vs b on the primary metric (needs the per-query values)."""
    from xsell_eval.columns import Columns as C

    prim = result.config.primary_metric
    if per_query is None or per_query.empty or prim not in per_query.columns or "adapter" not in per_query.columns:
        return None
    from xsell_eval.stats import paired_comparison

    x = per_query.loc[per_query["adapter"] == a, [C.QUERY, prim]]
    y = per_query.loc[per_query["adapter"] == b, [C.QUERY, prim]]
    j = x.merge(y, on=C.QUERY, suffixes=("_a", "_b"))
    if len(j) < 2:
        return None
    r = paired_comparison(
        j[f"{prim}_a"].to_numpy(dtype=float),
        j[f"{prim}_b"].to_numpy(dtype=float),
        **result.config.bootstrap_options,
    )
    return {
        "n": r.n,
        "diff": r.diff,
        "ci_low": r.ci_low,
        "ci_high": r.ci_high,
        "p_value": r.p_value,
        "wins": r.wins,
        "ties": r.ties,
        "losses": r.losses,
        "test": r.test,
    }


def _runner_up_money(result: CompareResult, adapter: str) -> dict[str, float | None]:
    """revenue@k difference of ``adapter`` vs the baseline per 1,000 queries, with its paired CI."""
    r = _row(result.comparisons, adapter=adapter, metric=f"revenue@{_k(result)}")
    if r is None or not _ok(r["diff"]):
        return {"revenue_per_1000": None, "revenue_per_1000_ci_low": None, "revenue_per_1000_ci_high": None}
    return {
        "revenue_per_1000": 1000 * float(r["diff"]),
        "revenue_per_1000_ci_low": 1000 * _num(r["ci_low"]),
        "revenue_per_1000_ci_high": 1000 * _num(r["ci_high"]),
    }


def decision_facts(result: CompareResult, *, per_query: pd.DataFrame | None = None) -> dict[str, Any]:
    """The numbers behind the *Decision* section (JSON-able; NaN as None).

    Args:
        result: the comparison.
        per_query: long per-query metrics (``adapter``, ``query_id``, metric columns), as in
            ``result.per_query_frame``; enables the paired test winner vs runner-up.

    Returns:
        dict with ``verdict`` ("adopt" | "keep-baseline" | "no-comparison" | "nothing-completed"),
        ``winner`` (the adapter to use, or None), ``best`` (highest mean, may be the baseline),
        ``vs_baseline`` (the comparison row of ``winner`` or ``best``), ``runner_up`` (its primary
        metric with CI, the paired test against the leader, and ``revenue_per_1000`` with
        ``revenue_per_1000_ci_low``/``_ci_high``: its revenue@k difference vs the baseline per
        1,000 queries), ``money`` (revenue@k difference per 1,000 queries with CI), ``ab_plan`` (visitors per arm and
        days), ``n_tests`` (hypotheses in the Holm family) and ``settings`` (traffic, power, currency).
    """
    cfg = result.config
    settings = dict(result.extra.get("report") or {})
    traffic = int(settings.get("traffic_per_day") or DEFAULT_TRAFFIC_PER_DAY)
    power = float(settings.get("power") or DEFAULT_POWER)
    currency = _currency(result)
    prim = cfg.primary_metric
    facts: dict[str, Any] = {
        "primary_metric": prim,
        "baseline": cfg.baseline,
        "settings": {
            "traffic_per_day": traffic,
            "power": power,
            "currency": currency,
            "confidence": cfg.confidence,
        },
        "winner": None,
        "best": None,
        "vs_baseline": None,
        "runner_up": None,
        "money": None,
        "ab_plan": None,
        "n_tests": 0,
    }
    summ, comp = result.summary, result.comparisons
    ranked = [a for a in adapter_order(result) if _row(summ, adapter=a, metric=prim) is not None]
    if not ranked:
        facts["verdict"] = "nothing-completed"
        return _plain(facts)
    facts["best"] = ranked[0]
    if comp is None or comp.empty or cfg.baseline not in ranked:
        facts["verdict"] = "no-comparison"
        return _plain(facts)
    facts["n_tests"] = int(comp["p_value"].notna().sum())
    pc = comp[comp["metric"] == prim].set_index("adapter")
    better = [a for a in ranked if a in pc.index and str(pc.loc[a, "mark"]) == "▲"]
    candidates = [a for a in ranked if a != cfg.baseline]
    winner = better[0] if better else None
    facts["winner"] = winner
    facts["better"] = better
    facts["verdict"] = "adopt" if winner else "keep-baseline"
    focus = winner or (candidates[0] if candidates else None)
    if focus is None or focus not in pc.index:
        return _plain(facts)
    row = pc.loc[focus]
    facts["vs_baseline"] = {"adapter": focus, **{c: row[c] for c in row.index if c != "test"}}
    rest = [a for a in ranked if a not in (focus, cfg.baseline)]
    if rest:
        ru = rest[0]
        r = _row(summ, adapter=ru, metric=prim)
        facts["runner_up"] = {
            "adapter": ru,
            "leader_ci_low": (_row(summ, adapter=focus, metric=prim) or {}).get("ci_low"),
            "mean": r["mean"] if r else None,
            "ci_low": r["ci_low"] if r else None,
            "ci_high": r["ci_high"] if r else None,
            "paired": _runner_up_test(result, focus, ru, per_query),
            **_runner_up_money(result, ru),
        }
    rev = _row(comp, adapter=focus, metric=f"revenue@{_k(result)}")
    if rev is not None and _ok(rev["diff"]):
        facts["money"] = {
            "metric": f"revenue@{_k(result)}",
            "per_1000": 1000 * float(rev["diff"]),
            "ci_low": 1000 * _num(rev["ci_low"]),
            "ci_high": 1000 * _num(rev["ci_high"]),
            "significant": bool(rev["significant"]),
            "mark": str(rev["mark"]),
            "currency": currency,
        }
    conv = _row(comp, adapter=focus, metric=f"hit_rate@{_k(result)}")
    facts["ab_plan"] = _ab_plan(result, focus, None if conv is None else conv["rel_ci_low"], traffic, power)
    return _plain(facts)


def with_decision(result: CompareResult) -> CompareResult:
    """The result with ``extra["decision"]`` filled from its per-query values (call before writing).

    A result without per-query values that already has decision facts (one read back
    from a run directory) keeps them.
    """
    if result.per_query_frame is None and result.extra.get("decision"):
        return result
    facts = decision_facts(result, per_query=result.per_query_frame)
    return replace(result, extra={**result.extra, "decision": facts})


# ---------------------------------------------------------------------- sections
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
        "uplift": "the value of the bought recommendations relative to the cart",
    }
    return phrases.get(name, GLOSSARY.get(name, name))


def decision_section(result: CompareResult) -> str:
    """The first screen: what to do and how sure we are."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    cfg = result.config
    facts = result.extra.get("decision") or decision_facts(result)
    prim, base = cfg.primary_metric, cfg.baseline
    one, many = query_unit(cfg.protocol)
    cur = (facts.get("settings") or {}).get("currency")
    summ = result.summary
    lines = ["## Decision", ""]
    verdict = facts.get("verdict")
    failed = [a["name"] for a in result.adapters if a.get("status") != "ok"]
    if verdict == "nothing-completed":
        lines.append("**No adapter completed, so there is nothing to decide.** See *Adapters* for the errors.")
        return "\n".join(lines)
    best = facts["best"]
    brow = _row(summ, adapter=best, metric=prim) or {}
    if verdict == "no-comparison":
        why = (
            f"the baseline `{base}` did not complete"
            if base and base in failed
            else "only one adapter completed"
            if len(result.ok_adapters) < 2
            else "no baseline was set"
        )
        lines.append(
            f"**No comparison: {why}.** Best on {prim}: `{best}` at {_value(prim, brow.get('mean'), cur)} "
            f"({lvl} CI {_value(prim, brow.get('ci_low'), cur)} to {_value(prim, brow.get('ci_high'), cur)}, "
            f"{result.n_queries:,} test {many})."
        )
        leak = _leak_line(result)
        return "\n".join([*lines, *(["", *leak] if leak else []), "", scoreboard(result)])
    vs = facts.get("vs_baseline") or {}
    focus = vs.get("adapter")
    brow_base = _row(summ, adapter=base, metric=prim) or {}
    winner = facts.get("winner")
    if winner and _tied(facts):
        ru = facts["runner_up"]["adapter"]
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
    if focus:
        frow = _row(summ, adapter=focus, metric=prim) or {}
        lines.append(
            f"On **{prim}** — {_metric_phrase(prim, many)} — `{focus}` reaches "
            f"**{_value(prim, frow.get('mean'), cur)}** ({lvl} CI {_value(prim, frow.get('ci_low'), cur)} to "
            f"{_value(prim, frow.get('ci_high'), cur)}) against **{_value(prim, brow_base.get('mean'), cur)}** for "
            f"`{base}`: **{_diff(prim, vs.get('diff'), cur)}** ({lvl} CI {_diff(prim, vs.get('ci_low'), cur)} to "
            f"{_diff(prim, vs.get('ci_high'), cur)}), **{_pct(vs.get('rel_diff'), signed=True)} relative** "
            f"({lvl} CI {_pct(vs.get('rel_ci_low'), signed=True)} to {_pct(vs.get('rel_ci_high'), signed=True)})."
        )
        lines.append("")
        lines += _how_sure(facts, vs, focus, base, many)
        lines += _leak_line(result)
        if winner:
            ru = facts.get("runner_up")
            if ru and "revenue_per_1000_ci_low" not in ru:  # facts stored by an older version: add the CI
                facts = {**facts, "runner_up": {**ru, **_runner_up_money(result, str(ru["adapter"]))}}
            lines += _runner_up_line(facts, focus, prim, cur, many)
        lines += _money_line(facts, focus, base, one, cur)
        lines += _ab_line(result, facts, focus)
    else:
        lines += _leak_line(result)
    if failed:
        lines.append(f"- **Failed** (not compared): {', '.join(f'`{f}`' for f in failed)} — see *Adapters*.")
    lines += ["", scoreboard(result)]
    return "\n".join(lines)


LEAK_EFFECT = {
    "last-basket": "other shoppers' baskets from after each test basket are in training, so the test period's "
    "best-sellers and buying trends leak in",
    "random-basket": "baskets from after the test baskets are in training, so future best-sellers and "
    "co-purchases leak in",
}
"""What leaks in each leaky split (one clause); the split's own ``leakage`` text is used for other kinds."""


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


def _how_sure(facts: Mapping[str, Any], vs: Mapping[str, Any], focus: str, base: str, many: str) -> list[str]:
    n_tests = int(facts.get("n_tests") or 0)
    sig = bool(vs.get("significant"))
    up = str(vs.get("mark")) == "▲"
    p_holm = _p(vs.get("p_holm"))
    p_holm = p_holm if p_holm.startswith("<") else "= " + p_holm
    if sig and up:
        head = (
            f"the gain survives Holm correction for the {n_tests:,} comparisons in this report (adjusted p {p_holm})."
        )
    elif sig:
        head = (
            f"`{focus}` is reliably **worse** than `{base}` (Holm-adjusted {_p_eq(vs.get('p_holm'))} "
            f"over {n_tests:,} comparisons)."
        )
    else:
        head = (
            f"not distinguishable from `{base}`: after Holm correction for the {n_tests:,} comparisons "
            f"the adjusted {_p_eq(vs.get('p_holm'))} (unadjusted {_p_eq(vs.get('p_value'))}); "
            "the difference may be luck."
        )
    wins, ties, losses = (int(vs.get(c) or 0) for c in ("wins", "ties", "losses"))
    return [
        f"- **How sure:** {head} On the same {int(vs.get('n') or 0):,} test {many}, `{focus}` did better on "
        f"{wins:,}, the same on {ties:,} and worse on {losses:,}."
    ]


def _tied(facts: Mapping[str, Any]) -> bool:
    """The runner-up is also reliably better than the baseline and not separable from the winner."""
    ru = facts.get("runner_up") or {}
    paired = ru.get("paired") or {}
    p = _num(paired.get("p_value"))
    return bool(paired) and ru.get("adapter") in (facts.get("better") or []) and not (_ok(p) and p < 0.05)


def _runner_up_line(facts: Mapping[str, Any], focus: str, prim: str, cur: str | None, many: str) -> list[str]:
    lvl = _lvl((facts.get("settings") or {}).get("confidence", 0.95))  # the confidence level of every interval
    ru = facts.get("runner_up")
    if not ru:
        return []
    name = ru["adapter"]
    text = (
        f"- **Runner-up:** `{name}` at {_value(prim, ru.get('mean'), cur)} "
        f"({lvl} CI {_value(prim, ru.get('ci_low'), cur)} to {_value(prim, ru.get('ci_high'), cur)})."
    )
    paired = ru.get("paired")
    if paired:
        p = _num(paired.get("p_value"))
        clear = _ok(p) and p < 0.05
        text += (
            f" Paired on the same {int(paired.get('n') or 0):,} {many}, `{focus}` − `{name}` = "
            f"{_diff(prim, paired.get('diff'), cur)} ({lvl} CI {_diff(prim, paired.get('ci_low'), cur)} to "
            f"{_diff(prim, paired.get('ci_high'), cur)}), {_p_eq(p)} (one extra test, not in the Holm family): "
            + (
                f"`{focus}` is ahead."
                if clear and _num(paired.get("diff")) > 0
                else f"`{name}` is ahead."
                if clear
                else "this data does not separate the two; decide on cost, simplicity or the other metrics below."
            )
        )
        money = facts.get("money") or {}
        if not clear and _ok(money.get("per_1000")) and _ok(ru.get("revenue_per_1000")):

            def ci(lo: Any, hi: Any) -> str:
                if not (_ok(lo) and _ok(hi)):
                    return ""
                return f" ({lvl} CI {_money(lo, cur, signed=True)} to {_money(hi, cur, signed=True)})"

            text += (
                f" On {money['metric']}, `{name}` is at {_money(ru['revenue_per_1000'], cur, signed=True)} per "
                f"1,000 {many}{ci(ru.get('revenue_per_1000_ci_low'), ru.get('revenue_per_1000_ci_high'))} "
                f"against `{facts.get('baseline')}`, `{focus}` at {_money(money['per_1000'], cur, signed=True)}"
                f"{ci(money.get('ci_low'), money.get('ci_high'))}."
            )
    else:
        overlap = not (_num(ru.get("ci_high")) < _num(ru.get("leader_ci_low")))
        text += " The two were not tested against each other (only against the baseline)" + (
            "; their intervals overlap, so the order may be luck." if overlap else "; their intervals do not overlap."
        )
    return [text]


def _money_line(facts: Mapping[str, Any], focus: str, base: str, one: str, cur: str | None) -> list[str]:
    lvl = _lvl((facts.get("settings") or {}).get("confidence", 0.95))  # the confidence level of every interval
    money = facts.get("money")
    if not money:
        return ["- **Worth in money:** not available — the data has no prices, so revenue@k could not be computed."]
    unit = "1,000 " + (one + "s" if not one.endswith("s") else one)
    verdict = "" if money.get("significant") else " The difference is not significant after Holm correction."
    in_cur = "" if cur else " (in the data's currency)"
    return [
        f"- **Worth in money:** {_money(money['per_1000'], cur, signed=True)} per {unit}{in_cur} in recommended items "
        f"that were bought, compared with `{base}` ({lvl} CI {_money(money.get('ci_low'), cur, signed=True)} to "
        f"{_money(money.get('ci_high'), cur, signed=True)}; {money['metric']} × 1,000).{verdict} "
        "This is an offline proxy: it counts recommended items that shoppers bought, some of which they would "
        "have bought anyway; only an A/B test measures the revenue the recommendations add."
    ]


def _ab_line(result: CompareResult, facts: Mapping[str, Any], focus: str) -> list[str]:
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    plan = facts.get("ab_plan")
    has_sim = bool(result.extra.get("abtest"))
    sim = " The *Simulated A/B test* section below estimates this with an explicit shopper model." if has_sim else ""
    if not plan:
        return [
            f"- **To confirm with an A/B test:** no sample size — `{focus}` is not ahead on the conversion proxy "
            f"(hit rate@{_k(result)}), so there is no positive effect to size a test for.{sim}",
            *_simulated_line(result),
        ]
    days = int(plan["days"])
    traffic = int(plan["traffic_per_day"])
    when = "about 1 day" if days <= 1 else f"about {days:,} days"
    low = ""
    if plan.get("n_per_arm_low"):
        dl = int(plan["days_low"])
        low = (
            f"; to detect the cautious end of the {lvl} CI ({_pct(plan['rel_lift_low'], signed=True)}): "
            f"{int(plan['n_per_arm_low']):,} per arm, about {dl:,} day{'s' if dl != 1 else ''}"
        )
    widget = ""
    if plan.get("n_per_arm_widget"):
        share = float(plan["widget_share"])
        dw = int(plan["days_widget"])
        widget = (
            f" If the live widget converted at {share:.0%} of these rates with the same relative lift "
            f"({_pct(share * plan['p_control'])} → {_pct(share * plan['p_treatment'])}), the test would need "
            f"{int(plan['n_per_arm_widget']):,} visitors per arm, about {dw:,} day{'s' if dw != 1 else ''}."
        )
    lines = [
        f"- **To confirm with an A/B test:** {int(plan['n_per_arm']):,} visitors per arm "
        f"({2 * int(plan['n_per_arm']):,} in total, 50/50) detect a conversion rise of this size "
        f"({_pct(plan['p_control'])} → {_pct(plan['p_treatment'])}, {_pct(plan['rel_lift'], signed=True)}) with "
        f"{plan['power']:.0%} power at α = {plan['alpha']:g} two-sided — {when} at an assumed "
        f"{traffic:,} visitors/day{low}. Assumption: the widget converts like the offline "
        f"{plan['conversion_metric']}, which is optimistic: shoppers must notice and click a live widget."
        + widget
        + sim
    ]
    return lines + _simulated_line(result)


def _simulated_line(result: CompareResult) -> list[str]:
    ab = result.extra.get("abtest")
    if not ab:
        return []
    try:
        text = str(ab["analysis"]["decision"]["text"])
        source = str(ab["response"]["source"])
        n = int(ab["analysis"]["n_visitors"])
    except (KeyError, TypeError, ValueError):
        return []
    return [f"- **Simulated A/B test** ({n:,} visitors, response model `{source}`): {text}"]


def scoreboard(result: CompareResult) -> str:
    """Every adapter on the primary metric against the baseline, one row each."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    cfg = result.config
    prim, base = cfg.primary_metric, cfg.baseline
    cur = _currency(result)
    unit = metric_unit(prim)
    one, many = query_unit(cfg.protocol)
    comp = result.comparisons
    money_unit = f"{currency_name(cur) if cur else 'currency'}/{one}"
    n_label = f"% of {many}" if unit == "share" else money_unit if unit == "currency" else unit
    rows = []
    for a in adapter_order(result):
        r = _row(result.summary, adapter=a, metric=prim)
        if r is None:
            continue
        c = _row(comp, adapter=a, metric=prim)
        val = f"{_value(prim, r['mean'], cur)} [{_value(prim, r['ci_low'], cur)}, {_value(prim, r['ci_high'], cur)}]"
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
                f"{_diff(prim, c['diff'], cur)} [{_diff(prim, c['ci_low'], cur)}, {_diff(prim, c['ci_high'], cur)}]",
                f"{_pct(c['rel_diff'], signed=True)} [{_pct(c['rel_ci_low'], signed=True)}, "
                f"{_pct(c['rel_ci_high'], signed=True)}]",
                _p(c["p_holm"]),
                verdict,
            ]
        )
    diff_unit = "pp" if unit == "share" else money_unit if unit == "currency" else unit
    return _table(
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


def terms_section(result: CompareResult) -> str:
    """One plain line per term a manager may not know."""
    names = ["baseline", *[m for m in result.config.metrics if m in GLOSSARY], "coverage"]
    names += ["CI", "pp", "paired test", "Holm correction", "win/tie/loss", "A/B test", "power", "cold start"]
    names.append("fallback")
    lvl = _lvl(result.config.confidence)
    glossary = {**GLOSSARY, "CI": f"{lvl} {GLOSSARY['CI']}"}
    return "\n".join(f"- **{f'{lvl} CI' if n == 'CI' else n}**: {glossary[n]}" for n in dict.fromkeys(names))


def reproduce_command(config: CompareConfig, extra: Mapping[str, Any] | None = None) -> str:
    """The exact ``xsell-eval compare`` command that reproduces a run with this config."""
    extra = extra or {}
    tuning = extra.get("tuning") or {}
    tuned_params: dict[str, set[str]] = {}
    for e in tuning.get("adapters", []) if isinstance(tuning, Mapping) else []:
        if e.get("tuned"):
            tuned_params[str(e.get("adapter", ""))] = set(e.get("params") or {})
    specs = []
    for spec in config.adapters:
        name, _, inline = spec.partition(":")
        given = {**(config.params.get(name) or {}), **(config.params.get(spec) or {})}
        fixed = {k: v for k, v in given.items() if k not in tuned_params.get(spec, set())}
        if fixed:
            extra_params = ",".join(f"{k}={_spec_value(v)}" for k, v in sorted(fixed.items()))
            spec = f"{spec},{extra_params}" if inline else f"{name}:{extra_params}"
        specs.append(spec)
    parts = ["xsell-eval", "compare", *specs]
    opts: list[tuple[str, Any]] = []
    if config.data:
        opts.append(("--data", config.data))
    if config.loader != "auto":
        opts.append(("--loader", config.loader))
    if config.catalog:
        opts.append(("--catalog", config.catalog))
    if config.columns:
        opts.append(("--columns", ",".join(f"{k}={v}" for k, v in config.columns.items())))
    if config.cleaning:
        opts.append(("--clean", config.cleaning))
    opts += [
        ("--split", config.split),
        ("--protocol", config.protocol),
        ("--k", ",".join(map(str, config.ks))),
        ("--metric", config.primary_metric),
        ("--baseline", config.baseline),
        ("--seed", config.seed),
    ]
    if config.test_fraction != 0.2:
        opts.append(("--test-fraction", config.test_fraction))
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
    if isinstance(tuning, Mapping) and tuning.get("mode") == "tune" and tuning.get("budget"):
        opts.append(("--tune", tuning["budget"]))
    elif isinstance(tuning, Mapping) and tuning.get("mode") == "tuned":
        parts.append("--tuned")
    if isinstance(tuning, Mapping) and tuning.get("storage") and tuning["storage"] != DEFAULT_STORAGE:
        opts.append(("--storage", tuning["storage"]))  # as recorded: a password shows as ***
    for flag, val in opts:
        parts += [flag, str(val)]
    return " ".join(shlex.quote(p) for p in parts)


def _spec_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _metric_label(col: str, result: CompareResult) -> str:
    """Column header with its unit: ``revenue@10 (£/basket)``, ``novelty@10 (bits)``."""
    name, _, k = col.partition("@")
    if metric_unit(col) == "currency":
        cur = _currency(result)
        one, _ = query_unit(result.config.protocol)
        return f"{name}@{k} ({currency_name(cur) if cur else 'currency'}/{one})"
    return f"{name}@{k}{UNITS.get(name, '')}"


def _shown_metrics(result: CompareResult, k: int) -> list[str]:
    """Metric columns at k with at least one finite value (diversity is all-NaN without categories)."""
    summ = result.summary
    out = []
    for m in result.config.metrics:
        col = f"{m}@{k}"
        sel = summ[summ["metric"] == col]
        if not sel.empty and sel["mean"].notna().any():
            out.append(col)
    return out


def _missing_metrics_note(result: CompareResult, k: int) -> str:
    summ = result.summary
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
    summ = result.summary
    comp = result.comparisons
    cols = _shown_metrics(result, k)
    rows = []
    for a in adapter_order(result):
        cells = [f"`{a}`"]
        for c in cols:
            r = _row(summ, adapter=a, metric=c)
            if r is None:
                cells.append("—")
                continue
            cr = _row(comp, adapter=a, metric=c)
            mark = str(cr["mark"]) if cr is not None else ""
            cells.append(f"{_ci(r['mean'], r['ci_low'], r['ci_high'])}{(' ' + mark) if mark else ''}")
        rows.append(cells)
    table = _table(["adapter", *[_metric_label(c, result) for c in cols]], rows)
    note = _missing_metrics_note(result, k)
    return table + (f"\n\n{note}" if note else "")


def comparison_table(result: CompareResult) -> str:
    """Paired differences vs the baseline at the primary k, grouped by adapter."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    comp = result.comparisons
    if comp is None or comp.empty:
        return "_No comparison (only one adapter completed, or the baseline failed)._"
    k = _k(result)
    cols = _shown_metrics(result, k)
    rows = []
    for a in [x for x in adapter_order(result) if x != result.config.baseline]:
        for m in cols:
            r = _row(comp, adapter=a, metric=m)
            if r is None:
                continue
            mark = str(r["mark"])
            rows.append(
                [
                    f"`{a}`",
                    m,
                    f"{_signed(r['diff'])} [{_signed(r['ci_low'])}, {_signed(r['ci_high'])}]",
                    f"{_pct(r['rel_diff'], signed=True)} [{_pct(r['rel_ci_low'], signed=True)}, "
                    f"{_pct(r['rel_ci_high'], signed=True)}]",
                    _p(r["p_value"]),
                    _p(r["p_holm"]),
                    mark or "n.s.",
                    f"{int(r['wins']):,}/{int(r['ties']):,}/{int(r['losses']):,}",
                ]
            )
    return _table(
        ["adapter", "metric", f"difference [{lvl} CI]", f"relative [{lvl} CI]", "p", "p (Holm)", "", "win/tie/loss"],
        rows,
        "llrrrrll",
    )


def business_section(result: CompareResult) -> str:
    """Revenue, basket value uplift and list-level metrics at the primary k."""
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    cfg = result.config
    k = _k(result)
    cur = _currency(result)
    one, many = query_unit(cfg.protocol)
    summ, comp = result.summary, result.comparisons
    rev, upl = f"revenue@{k}", f"uplift@{k}"
    parts: list[str] = []
    has_rev = not summ[summ["metric"] == rev].empty and summ.loc[summ["metric"] == rev, "mean"].notna().any()
    if has_rev:
        cur_txt = currency_name(cur)
        rows = []
        for a in adapter_order(result):
            r = _row(summ, adapter=a, metric=rev)
            if r is None:
                continue
            c = _row(comp, adapter=a, metric=rev)
            u = _row(summ, adapter=a, metric=upl)
            vs = (
                "baseline"
                if a == cfg.baseline
                else "—"
                if c is None
                else f"{_money(1000 * _num(c['diff']), cur, signed=True)} "
                f"[{_money(1000 * _num(c['ci_low']), cur, signed=True)}, "
                f"{_money(1000 * _num(c['ci_high']), cur, signed=True)}] {c['mark'] or 'n.s.'}"
            )
            rows.append(
                [
                    f"`{a}`",
                    f"{_money(r['mean'], cur, decimals=2)} [{_money(r['ci_low'], cur, decimals=2)}, "
                    f"{_money(r['ci_high'], cur, decimals=2)}]",
                    _money(1000 * _num(r["mean"]), cur),
                    vs,
                    "—" if u is None else _ci(u["mean"], u["ci_low"], u["ci_high"]),
                ]
            )
        parts += [
            f"Value of the recommended items that shoppers then bought (revenue@{k}, price × quantity, "
            f"{cur_txt}), per test {one} and per 1,000 {many}; basket value uplift = that value / the value "
            "of the cart shown. Offline proxy: part of this value would have been bought anyway.",
            "",
            _table(
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
        cov = _row(ag, adapter=a, metric=f"coverage@{k}")
        nov = _row(summ, adapter=a, metric=f"novelty@{k}")
        div = _row(summ, adapter=a, metric=f"diversity@{k}")
        list_rows.append(
            [
                f"`{a}`",
                "—" if cov is None else _pct(cov["value"]),
                "—" if nov is None else _ci(nov["mean"], nov["ci_low"], nov["ci_high"]),
                "—" if div is None or not _ok(div["mean"]) else _ci(div["mean"], div["ci_low"], div["ci_high"]),
            ]
        )
    parts += [
        "",
        f"Beyond accuracy at k = {k}: catalog coverage (share of the items sold in training that were recommended "
        "at least once), novelty (bits; higher = less obvious items) and intra-list diversity (share of "
        "recommended pairs from different categories; — when the catalog has no categories).",
        "",
        _table(
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
                r = _row(df, adapter=a, bucket=bk)
                cells.append("—" if r is None or not _ok(r["mean"]) else _ci(r["mean"], r["ci_low"], r["ci_high"]))
            rows.append(cells)
        ns = {bk: int(df[df["bucket"] == bk]["n"].max()) for bk in buckets}
        header = ["adapter", *[f"{bk} (n={ns[bk]:,})" for bk in buckets]]
        out.append(f"**{metric} by {btype}**\n\n" + _table(header, rows))
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


def _latency_cells(a: dict[str, Any]) -> list[str]:
    lat: dict[str, Any] = a.get("latency") or {}
    if not _ok(lat.get("p50_ms")):
        return ["—", "—"]
    qps: Any = lat.get("throughput_qps")
    return [
        " / ".join(_ms(float(lat[key])) for key in ("p50_ms", "p95_ms", "p99_ms")),
        f"{float(qps):,.0f}" if _ok(qps) else "—",
    ]


def adapters_table(result: CompareResult) -> str:
    """Per-adapter parameters, timings (serving latency when measured), fallback share and errors."""
    with_latency = any(a.get("latency") for a in result.adapters)
    rows = []
    for a in result.adapters:
        params = ", ".join(f"{k}={v}" for k, v in sorted((a.get("params") or {}).items())) or "—"
        fb = a.get("fallback_share")
        empty = a.get("empty_share")
        rows.append(
            [
                f"`{a['name']}`",
                a.get("family", "") or "—",
                "ok" if a.get("status") == "ok" else f"**failed**: {a.get('error', '')}",
                _fmt(a.get("fit_seconds"), 2),
                _fmt(a.get("recommend_seconds"), 2),
                *(_latency_cells(a) if with_latency else []),
                "—" if not _ok(fb) else _pct(fb),
                "—" if not _ok(empty) else _pct(empty),
                params,
            ]
        )
    table = _table(
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
    notes = [f"- `{a['name']}`: {w}" for a in result.adapters for w in a.get("warnings") or ()]
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
            r = _row(ag, adapter=a, metric=c)
            cells.append("—" if r is None else _pct(r["value"]))
        rows.append(cells)
    return _table(["adapter", *cols], rows)


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
        f"test: {int((split.get('test') or {}).get('baskets') or 0):,} baskets ({span('test')}); "
        f"validation window (tuning only, inside train): {span('validation')}.",
        f"- **Protocol: {cfg.protocol}** — {proto}. {result.n_queries:,} test {many}"
        + (f" (a seeded sample of at most {cfg.max_queries:,})" if cfg.max_queries else "")
        + ".",
        "",
    ]
    if audit:
        yn = "yes" if audit.get("train_ends_before_test") else "**no**"
        lines.append(
            _table(
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
        fb = a.get("fallback_share")
        if a.get("status") == "ok" and _ok(fb) and _num(fb) >= 0.05:
            out.append(
                f"- `{a['name']}` served {_pct(fb)} of the test {many} from its fallback "
                "(its own method had no answer)."
            )
        empty = a.get("empty_share")
        if a.get("status") == "ok" and _ok(empty) and _num(empty) >= 0.05:
            out.append(
                f"- `{a['name']}` recommended nothing at all for {_pct(empty)} of the test {many} "
                "(no fallback filled them); those count as misses."
            )
    audit = result.audit or {}
    if int(audit.get("cold_test_items") or 0) > 0:
        out.append(
            f"- {int(audit['cold_test_items']):,} items bought in the test period were never sold in training; "
            "collaborative adapters cannot recommend them (see *Cold start*, unseen)."
        )
    return out


def _experiment_lines(extra: Mapping[str, Any]) -> list[str]:
    exp = extra.get("experiment")
    if not exp:
        return []
    lines = [f"- Experiment file `{exp.get('path')}`, resolved-config hash `{exp.get('hash')}`"]
    if exp.get("overrides"):
        lines.append("- Overrides: " + ", ".join(f"`{o}`" for o in exp["overrides"]))
    return lines


def _optional_section(extra: Mapping[str, Any], key: str) -> str:
    """The A/B or tuning section rendered by its owner's module (absent module: one line)."""
    payload = extra.get(key)
    if not payload:
        return ""
    if key == "abtest":
        try:
            from xsell_eval.abtest.report import ABTestReport, render_section
        except ImportError:
            return "## Simulated A/B test\n\n_This run holds A/B results, but `xsell_eval.abtest` is not installed._\n"
        return render_section(ABTestReport.from_dict(dict(payload)), heading="##").rstrip("\n") + "\n"
    try:
        from xsell_eval.report.tuning import tuning_summary_markdown
    except ImportError:
        return "## Tuning\n\n_This run holds tuning results, but `xsell_eval.report.tuning` is not installed._\n"
    return tuning_summary_markdown(payload).rstrip("\n") + "\n"


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


def normalised(result: CompareResult) -> CompareResult:
    """The result as the run directory stores it (JSON parts round-tripped), so memory and disk render alike."""
    return replace(
        result,
        manifest=_plain(result.manifest),
        data_card=_plain(result.data_card),
        split=_plain(result.split),
        audit=_plain(result.audit),
        adapters=_plain(result.adapters),
        extra=_plain(result.extra),
    )


def render_markdown(result: CompareResult, *, run_dir: str | Path | None = None) -> str:
    """The full report (pure: the same result gives the same text).

    Args:
        result: the comparison (in memory, or from :func:`~xsell_eval.results.read_run`).
        run_dir: ignored (kept for compatibility); figures are referenced relatively
            (``plots/*.png``), drawn by :func:`xsell_eval.report.plots.write_plots`.
    """
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    del run_dir
    result = normalised(result)
    cfg = result.config
    k = _k(result)
    plots = planned_plots(result)
    extra = result.extra
    parts: list[str] = [
        *_title(result),
        "",
        decision_section(result),
        "",
        "## Terms used",
        "",
        terms_section(result),
        "",
    ]
    parts += [
        f"## Results at k = {k}",
        "",
        f"Mean per query with a {lvl} bootstrap confidence interval [low, high]; shares are 0–1. ▲/▼: better/worse "
        f"than `{cfg.baseline}` after Holm correction (paired test on the same queries); no mark: not distinguishable.",
        "",
        metric_table(result, k),
        "",
    ]
    if "metric_vs_k" in plots:
        parts += [f"![{cfg.primary_metric.partition('@')[0]} by cut-off k, {lvl} CI]({plots['metric_vs_k']})", ""]
    parts += [
        f"### Against `{cfg.baseline}`, query by query (k = {k})",
        "",
        f"Difference of means (candidate − baseline) with a paired bootstrap {lvl} CI, relative difference, Wilcoxon "
        "signed-rank p-value, Holm-adjusted p-value, and win/tie/loss: test queries where the candidate scored "
        "higher / the same / lower.",
        "",
        comparison_table(result),
        "",
    ]
    if "lift" in plots:
        parts += [f"![Relative difference vs {cfg.baseline} with {lvl} CI]({plots['lift']})", ""]
    parts += ["## Business metrics", "", business_section(result), ""]
    parts += ["## Cold start", "", _cold_start_intro(result), "", bucket_tables(result), ""]
    if "cold_start" in plots:
        parts += [f"![{cold_start_metric(result)} by cold-start group, {lvl} CI]({plots['cold_start']})", ""]
    for key in ("abtest", "tuning"):
        sec = _optional_section(extra, key)
        if sec:
            parts += [sec]
    parts += ["## Adapters", "", adapters_table(result), ""]
    parts += ["## Data", "", result.data_card_md.rstrip("\n"), ""]
    parts += ["## Split, protocol and leakage audit", "", *_split_section(result), ""]
    parts += ["## Caveats: what offline metrics cannot show", "", *caveats(result), ""]
    other_ks = [x for x in cfg.ks if x != k]
    if other_ks or aggregates_table(result):
        parts += ["## More cut-offs", ""]
        for x in other_ks:
            parts += [f"### Results at k = {x}", "", metric_table(result, x), ""]
        agg = aggregates_table(result)
        if agg:
            parts += ["### Catalog coverage at every k", "", agg, ""]
    ds = result.manifest.get("dataset", {})
    parts += [
        "## Provenance",
        "",
        f"- Data `{ds.get('name', '?')}` from `{ds.get('source', '?')}`, fingerprint `{ds.get('fingerprint', '?')}`",
        f"- Config hash `{cfg.hash}`, seed {cfg.seed}, bootstrap resamples {cfg.n_bootstrap:,}, "
        f"git revision `{result.manifest.get('git_revision') or 'unknown'}`",
        *_experiment_lines(extra),
        "- Packages: " + ", ".join(f"{k_} {v}" for k_, v in sorted(result.manifest.get("packages", {}).items())),
        *_reproduce_lines(result),
    ]
    return "\n".join(parts)


def _reproduce_lines(result: CompareResult) -> list[str]:
    extra = result.extra
    cmd = (extra.get("experiment") or {}).get("command")
    out = []
    if cmd:
        out += ["- Reproduce (the experiment file and overrides above):", "", "```", str(cmd), "```", ""]
        label = "- The comparison alone (no cleaning switches, A/B simulation or tuning settings):"
    else:
        label = "- Reproduce:"
    return [*out, label, "", "```", reproduce_command(result.config, extra), "```", ""]


def render_run_report(result: CompareResult, run_dir: str | Path) -> str:
    """Draw the figures into ``run_dir/plots`` and return the Markdown (which references them)."""
    from xsell_eval.report.plots import write_plots

    result = normalised(result)
    write_plots(result, run_dir)
    return render_markdown(result)
