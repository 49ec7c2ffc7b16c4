"""Head to head of two candidates the primary metric does not separate (the tie-break's evidence).

:func:`head_to_head` compares adapter ``a`` with adapter ``b`` on what a shop weighs once the
primary metric is a draw: revenue@k and novelty@k (paired differences on the same queries, with
the run's paired bootstrap CI from :func:`xsell_eval.stats.paired_comparison`), the share of
queries served by the fallback (paired on the same queries when the per-query flags are in the
per-query table, column ``served_by_fallback``; otherwise the two shares without a CI), catalog
coverage@k (an aggregate over all queries: the two values, no CI), fit time and serving time
(one measurement each, machine- and load-dependent: no CI).

The rule that names one of the two from these rows is :func:`xsell_eval.decision.tie_break`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from xsell_eval._lookup import finite_or_none as _f

if TYPE_CHECKING:
    import pandas as pd

    from xsell_eval.result import CompareResult

FALLBACK_COLUMN = "served_by_fallback"
"""Per-query column (1.0 / 0.0, NaN when the adapter has no fallback) of the per-query table."""


@dataclass(frozen=True)
class H2HRow:
    """One measure: the two values, ``a − b`` and its CI (None where there is none).

    ``measure`` is one of ``revenue@k``, ``novelty@k``, ``fallback_share``, ``coverage@k``,
    ``fit_seconds``, ``serving_ms``; ``note`` says how the values were obtained.
    """

    measure: str
    value_a: float | None = None
    value_b: float | None = None
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n: int | None = None
    note: str = ""

    @property
    def ci_excludes_zero(self) -> bool:
        """True when the CI of ``a − b`` lies wholly above or wholly below 0."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 0 or self.ci_high < 0)


@dataclass(frozen=True)
class HeadToHead:
    """``a`` (the leader on the primary metric) against ``b``, and the pick of the tie-break rule."""

    a: str
    b: str
    rows: tuple[H2HRow, ...] = ()
    pick: str | None = None
    reason: str = ""
    rule: str = ""
    """The branch of :func:`xsell_eval.decision.tie_break` that decided (revenue|coverage|fallback|speed|primary)."""

    def get(self, measure: str) -> H2HRow | None:
        """The row of ``measure`` (e.g. ``"revenue@10"``, ``"fallback_share"``), or None."""
        return next((r for r in self.rows if r.measure == measure), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (inside ``extra.decision.head_to_head`` of ``summary.json``)."""
        return {
            "a": self.a,
            "b": self.b,
            "rows": [{f.name: getattr(r, f.name) for f in fields(r)} for r in self.rows],
            "pick": self.pick,
            "reason": self.reason,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadToHead:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        known = {f.name for f in fields(H2HRow)}
        rows = tuple(H2HRow(**{k: v for k, v in r.items() if k in known}) for r in d.get("rows") or ())
        return cls(
            a=str(d.get("a", "")),
            b=str(d.get("b", "")),
            rows=rows,
            pick=d.get("pick"),
            reason=str(d.get("reason") or ""),
            rule=str(d.get("rule") or ""),
        )


def _paired_row(result: CompareResult, per_query: pd.DataFrame, a: str, b: str, col: str, measure: str) -> H2HRow:
    """``a − b`` on one per-query column, paired on the same queries, with the run's bootstrap CI.

    Resampled as every interval of the run (``ci_unit``: customers when the per-query table has
    the customer column, else queries; the same paired test), like the runner-up test of the decision.
    """
    from xsell_eval.columns import Columns as C
    from xsell_eval.resampling import CLUSTER_COLUMN
    from xsell_eval.stats import paired_comparison

    cfg = result.config
    clustered = cfg.ci_unit == "customer" and CLUSTER_COLUMN in per_query.columns
    keys = [C.QUERY, CLUSTER_COLUMN] if clustered else [C.QUERY]
    x = per_query.loc[per_query["adapter"] == a, [*keys, col]]
    y = per_query.loc[per_query["adapter"] == b, [C.QUERY, col]]
    j = x.merge(y, on=C.QUERY, suffixes=("_a", "_b"))
    va, vb = j[f"{col}_a"].to_numpy(dtype=float), j[f"{col}_b"].to_numpy(dtype=float)
    ok = [bool(v) for v in ((va == va).any(), (vb == vb).any())]
    if len(j) < 2 or not all(ok):
        return H2HRow(measure=measure, note="not available")
    r = paired_comparison(
        va,
        vb,
        **cfg.bootstrap_options,
        test=cfg.test,  # type: ignore[arg-type]  # checked by CompareConfig.validate
        clusters=j[CLUSTER_COLUMN].to_numpy() if clustered else None,
    )
    return H2HRow(
        measure=measure,
        value_a=_f(r.mean_a),
        value_b=_f(r.mean_b),
        diff=_f(r.diff),
        ci_low=_f(r.ci_low),
        ci_high=_f(r.ci_high),
        p_value=_f(r.p_value),
        n=int(r.n),
        note="paired on the same queries" + (", customers resampled" if clustered else ""),
    )


def _outcome(result: CompareResult, name: str) -> Any:
    return next((o for o in result.adapters if o.name == name), None)


def _serving_ms(result: CompareResult, o: Any) -> tuple[float | None, str]:
    """Serving time per query in ms: the measured one-query p50 latency, else batch recommend time / queries."""
    lat = getattr(o, "latency", None) or {}
    p50 = _f(lat.get("p50_ms"))
    if p50 is not None:
        return p50, "one-query p50 latency"
    rec = _f(getattr(o, "recommend_seconds", None))
    if rec is not None and result.n_queries:
        return 1000 * rec / result.n_queries, "batch recommend time / queries"
    return None, ""


def _pair_row(measure: str, va: float | None, vb: float | None, note: str) -> H2HRow:
    diff = None if va is None or vb is None else va - vb
    return H2HRow(measure=measure, value_a=va, value_b=vb, diff=diff, note=note)


def head_to_head(result: CompareResult, a: str, b: str, per_query: pd.DataFrame | None) -> HeadToHead:
    """The rows of ``a`` against ``b`` (no pick yet: :func:`xsell_eval.decision.tie_break` adds it)."""
    from xsell_eval._lookup import primary_k

    k = primary_k(result)
    rows: list[H2HRow] = []
    have = per_query is not None and not per_query.empty and "adapter" in per_query.columns
    for name in ("revenue", "novelty"):
        col = f"{name}@{k}"
        if have and per_query is not None and col in per_query.columns:
            rows.append(_paired_row(result, per_query, a, b, col, col))
        else:
            rows.append(H2HRow(measure=col, note="not available"))
    oa, ob = _outcome(result, a), _outcome(result, b)
    if have and per_query is not None and FALLBACK_COLUMN in per_query.columns:
        rows.append(_paired_row(result, per_query, a, b, FALLBACK_COLUMN, "fallback_share"))
    else:
        fa = None if oa is None else _f(oa.fallback_share)
        fb = None if ob is None else _f(ob.fallback_share)
        rows.append(_pair_row("fallback_share", fa, fb, "shares over all queries (no per-query flags: no CI)"))
    agg = result.aggregates
    cov = f"coverage@{k}"

    def coverage(name: str) -> float | None:
        if agg is None or agg.empty:
            return None
        v = agg.loc[(agg["adapter"] == name) & (agg["metric"] == cov), "value"]
        return _f(v.iloc[0]) if len(v) else None

    rows.append(_pair_row(cov, coverage(a), coverage(b), "aggregate over all queries (no CI)"))
    rows.append(
        _pair_row(
            "fit_seconds",
            None if oa is None else _f(oa.fit_seconds),
            None if ob is None else _f(ob.fit_seconds),
            "one measurement (no CI)",
        )
    )
    (sa, how_a), (sb, how_b) = _serving_ms(result, oa), _serving_ms(result, ob)
    same = how_a == how_b and how_a
    rows.append(
        _pair_row(
            "serving_ms",
            sa if same else None,
            sb if same else None,
            f"{how_a}, one measurement (no CI)" if same else "not measured alike for both",
        )
    )
    return HeadToHead(a=a, b=b, rows=tuple(rows))
