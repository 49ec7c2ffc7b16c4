"""The typed result of an offline comparison: what a run produced, what the report shows.

:class:`CompareResult` is one frozen value: the resolved config, the adapters'
:class:`AdapterOutcome` list, the statistics tables, the :class:`~xsell_eval.decision.Decision`
(computed once, in the library), and the optional parts a run may add (the simulated A/B
test, the tuning summary, resume information, the experiment file, report settings and the
command that was typed). Every part has ``to_dict``/``from_dict`` so a run directory stores
it as JSON (schema: ``docs/output.md``) and :func:`~xsell_eval.results.read_run` restores it.

For notebooks the result offers :attr:`CompareResult.summary` (a tidy table),
``plot_*()`` methods returning matplotlib figures, and a readable ``repr``/``_repr_html_``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell_eval.decision import Decision

NOT_APPLICABLE = "not applicable"
"""Outcome status of an adapter the data does not suit (it needs user ids or timestamps the data lacks)."""

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from xsell_eval.abtest.result import ABTestReport
    from xsell_eval.examples import Examples
    from xsell_eval.fairness import FairnessSummary
    from xsell_eval.pipeline import CompareConfig
    from xsell_eval.queries import Recommendations

__all__ = [
    "AdapterOutcome",
    "CompareResult",
    "ExperimentInfo",
    "ReportSettings",
    "ResumeInfo",
    "TuningEntry",
    "TuningSummary",
]


def _nan(x: Any) -> float:
    """``float(x)``; NaN for None (how a run directory stores a missing number)."""
    return float("nan") if x is None else float(x)


@dataclass(frozen=True, eq=False)
class AdapterOutcome:
    """What one adapter produced (or how it failed).

    A result keeps the light part (status, parameters, timings, shares, warnings, aggregates);
    the recommendations and per-query values are held only while a run is in progress (and in
    ``adapters/<name>/`` of its run directory, for ``--resume``).
    """

    name: str
    spec: str
    status: str  # "ok" | "failed" | NOT_APPLICABLE
    params: dict[str, Any]
    family: str = ""
    error: str = ""
    traceback: str = ""
    fit_seconds: float = float("nan")
    recommend_seconds: float = float("nan")
    evaluate_seconds: float = float("nan")
    fallback_share: float | None = None
    empty_share: float | None = None
    """Share of the queries that got no recommendation at all (an empty list)."""
    warnings: tuple[str, ...] = ()
    """Warnings the adapter (or a library it uses) raised while fitting and recommending, deduplicated."""
    recs: Recommendations | None = None
    per_query: pd.DataFrame | None = None
    per_query_items: dict[str, pd.DataFrame] | None = None
    aggregates: dict[str, float] = field(default_factory=dict)
    evaluated_on: dict[str, str] = field(default_factory=dict)
    """:meth:`~xsell_eval.pipeline.Prepared.identity` of the run that produced this outcome (``--resume``)."""
    latency: dict[str, Any] | None = None
    """Serving latency (:class:`xsell_eval.latency.Latency` fields: p50/p95/p99 ms, throughput), or None."""
    reveal_seed_values: tuple[float, ...] = ()
    """Mean primary metric on each extra reveal of ``--reveal-seeds`` (the run's own reveal not included)."""

    @property
    def ok(self) -> bool:
        """True when the adapter completed."""
        return self.status == "ok"

    @property
    def not_applicable(self) -> bool:
        """True when the data lacks what the adapter needs (e.g. user ids): not run, not a failure."""
        return self.status == NOT_APPLICABLE

    def light(self) -> AdapterOutcome:
        """This outcome without recommendations and per-query values (what a result keeps)."""
        return replace(self, recs=None, per_query=None, per_query_items=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (no arrays); the ``adapters`` entries of ``summary.json``."""
        return {
            "name": self.name,
            "spec": self.spec,
            "status": self.status,
            "family": self.family,
            "params": self.params,
            "error": self.error,
            "fit_seconds": self.fit_seconds,
            "recommend_seconds": self.recommend_seconds,
            "evaluate_seconds": self.evaluate_seconds,
            "fallback_share": self.fallback_share,
            "empty_share": self.empty_share,
            "warnings": list(self.warnings),
            "aggregates": self.aggregates,
            "evaluated_on": self.evaluated_on,
            "latency": self.latency,
            **({"reveal_seed_values": list(self.reveal_seed_values)} if self.reveal_seed_values else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AdapterOutcome:
        """Inverse of :meth:`to_dict` (missing numbers become NaN, as in memory)."""
        return cls(
            name=str(d["name"]),
            spec=str(d.get("spec", d["name"])),
            status=str(d["status"]),
            params=dict(d.get("params") or {}),
            family=str(d.get("family") or ""),
            error=str(d.get("error") or ""),
            traceback=str(d.get("traceback") or ""),
            fit_seconds=_nan(d.get("fit_seconds")),
            recommend_seconds=_nan(d.get("recommend_seconds")),
            evaluate_seconds=_nan(d.get("evaluate_seconds")),
            fallback_share=d.get("fallback_share"),
            empty_share=d.get("empty_share"),
            warnings=tuple(d.get("warnings") or ()),
            aggregates=dict(d.get("aggregates") or {}),
            evaluated_on=dict(d.get("evaluated_on") or {}),
            latency=d.get("latency"),
            reveal_seed_values=tuple(_nan(v) for v in d.get("reveal_seed_values") or ()),
        )


@dataclass(frozen=True)
class ResumeInfo:
    """Which adapters ``--resume`` restored from the run directory and which it re-ran (stale)."""

    restored: tuple[str, ...] = ()
    rerun_stale: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"restored": list(self.restored), "rerun_stale": list(self.rerun_stale)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResumeInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(d.get("restored") or ()), tuple(d.get("rerun_stale") or ()))


@dataclass(frozen=True)
class ExperimentInfo:
    """The experiment file a run came from (``xsell-eval run FILE``)."""

    path: str
    hash: str
    overrides: tuple[str, ...] = ()
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"path": self.path, "hash": self.hash, "overrides": list(self.overrides), "command": self.command}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentInfo:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(d.get("path", "")), str(d.get("hash", "")), tuple(d.get("overrides") or ()), str(d.get("command") or "")
        )


@dataclass(frozen=True)
class ReportSettings:
    """What the decision assumes beyond the data: traffic per day, power, currency (``[report]``)."""

    traffic_per_day: int | None = None
    power: float | None = None
    currency: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (unset keys left out)."""
        return {
            k: v
            for k, v in (("traffic_per_day", self.traffic_per_day), ("power", self.power), ("currency", self.currency))
            if v is not None
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportSettings:
        """Inverse of :meth:`to_dict`."""
        return cls(d.get("traffic_per_day"), d.get("power"), d.get("currency"))


@dataclass(frozen=True)
class TuningEntry:
    """One adapter's line of the tuning summary."""

    adapter: str
    tuned: bool = False
    trials: int = 0
    seconds: float = 0.0
    note: str = ""
    study: str | None = None
    metric: str | None = None
    validation: float | None = None
    best_trial: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    same_settings: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (unset optional keys left out, as stored before)."""
        d: dict[str, Any] = {
            "adapter": self.adapter,
            "tuned": self.tuned,
            "trials": self.trials,
            "seconds": self.seconds,
        }
        if self.note:
            d["note"] = self.note
        if self.tuned:
            d.update(
                study=self.study,
                metric=self.metric,
                validation=self.validation,
                best_trial=self.best_trial,
                params=self.params,
                same_settings=self.same_settings,
            )
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuningEntry:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["params"] = dict(kw.get("params") or {})
        kw["note"] = str(kw.get("note") or "")
        return cls(**kw)


@dataclass(frozen=True)
class TuningSummary:
    """How the adapters of a comparison were tuned (``compare --tune N`` / ``--tuned`` / ``[tune]``)."""

    mode: str  # "tune" | "tuned"
    budget: int | None
    storage: str
    metric: str
    fair: bool
    adapters: tuple[TuningEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "mode": self.mode,
            "budget": self.budget,
            "storage": self.storage,
            "metric": self.metric,
            "fair": self.fair,
            "adapters": [e.to_dict() for e in self.adapters],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuningSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(
            mode=str(d.get("mode", "")),
            budget=d.get("budget"),
            storage=str(d.get("storage", "")),
            metric=str(d.get("metric", "")),
            fair=bool(d.get("fair")),
            adapters=tuple(TuningEntry.from_dict(e) for e in d.get("adapters") or ()),
        )


@dataclass(frozen=True, eq=False)
class CompareResult:
    """Everything a report needs; written to and read from a run directory by :mod:`xsell_eval.results`.

    Attributes:
        config: the resolved (validated) comparison config.
        manifest: dataset fingerprint, versions, seed, git revision, timings.
        data_card, data_card_md: the data card (dict and Markdown).
        split, audit: the split's description and leakage audit.
        n_queries: number of test queries.
        estimates: per (adapter, metric spec) mean with CI: ``adapter, metric, mean, ci_low, ci_high, n``
            (``metric`` is a spec such as ``hit_rate@10``); :attr:`summary` is the tidy view.
        comparisons: paired differences vs the baseline (``adapter, metric, diff, ci_low, ci_high,
            rel_diff, ..., p_value, p_holm, significant, mark, wins, ties, losses``).
        buckets: cold-start breakdowns (``bucket_type, bucket, adapter, metric, mean, ci_low, ci_high, n``).
        aggregates: one value per run and adapter (``adapter, metric, value``: coverage@k).
        adapters: every adapter's :class:`AdapterOutcome` (failed ones included), in run order.
        decision: what to do (:func:`xsell_eval.decision.decide`), computed when the result is assembled.
        abtest: the simulated A/B test of an experiment's ``[abtest]`` section, if any.
        tuning: how the adapters were tuned (``--tune``/``--tuned``/``[tune]``), if they were.
        resume: what ``--resume`` restored and re-ran, if resuming.
        experiment: the experiment file of ``xsell-eval run``, if any.
        settings: report settings the decision assumed (traffic, power, currency), if set.
        command: the command line as typed (None when the run was started from Python).
        fairness: item exposure and customer-group gaps (:mod:`xsell_eval.fairness`), when computed.
    """

    config: CompareConfig
    manifest: dict[str, Any]
    data_card: dict[str, Any]
    data_card_md: str
    split: dict[str, Any]
    audit: dict[str, Any]
    n_queries: int
    estimates: pd.DataFrame
    comparisons: pd.DataFrame
    buckets: pd.DataFrame
    aggregates: pd.DataFrame
    adapters: tuple[AdapterOutcome, ...]
    queries_frame: pd.DataFrame | None = None
    """One row per test query (``queries.parquet``); context and target columns are Arrow lists."""
    recs_frame: pd.DataFrame | None = None
    """The lists, long format (``recommendations.parquet``); ``adapter`` and ``item_id`` are categoricals
    in memory, strings in the file (:mod:`xsell_eval.run_frames`)."""
    per_query_frame: pd.DataFrame | None = None
    decision: Decision | None = None
    abtest: ABTestReport | None = None
    tuning: TuningSummary | None = None
    resume: ResumeInfo | None = None
    experiment: ExperimentInfo | None = None
    settings: ReportSettings | None = None
    command: str | None = None
    fairness: FairnessSummary | None = None
    examples: Examples | None = None

    # ------------------------------------------------------------------ plain views
    @property
    def adapter_names(self) -> list[str]:
        """Names of all adapters of the run (failed ones included)."""
        return [a.name for a in self.adapters]

    @property
    def ok_adapters(self) -> list[str]:
        """Names of the adapters that completed."""
        return [a.name for a in self.adapters if a.ok]

    @property
    def failed_adapters(self) -> list[str]:
        """Names of the adapters that failed (not those that were not applicable to the data)."""
        return [a.name for a in self.adapters if not a.ok and not a.not_applicable]

    @property
    def not_applicable_adapters(self) -> list[str]:
        """Names of the adapters the data did not suit (e.g. history adapters without user ids)."""
        return [a.name for a in self.adapters if a.not_applicable]

    @property
    def summary(self) -> pd.DataFrame:
        """Tidy metric table: ``adapter, metric, k, mean, ci_low, ci_high, n`` (one row per adapter × metric × k).

        ``metric`` is the metric's name (``hit_rate``) and ``k`` the cut-off, so
        ``result.summary.query("metric == 'ndcg' and k == 10")`` selects one column of the report.
        """
        est = self.estimates
        cols = ["adapter", "metric", "k", "mean", "ci_low", "ci_high", "n"]
        if est is None or est.empty:
            return pd.DataFrame(columns=cols)
        spec = est["metric"].astype(str).str.partition("@")
        k = pd.to_numeric(spec[2], errors="coerce").astype("Int64")
        return est.assign(metric=spec[0], k=k)[cols].reset_index(drop=True)

    def with_decision(self) -> CompareResult:
        """This result with :attr:`decision` computed (from the per-query values when present)."""
        from xsell_eval.decision import decide

        return replace(self, decision=decide(self))

    def decided(self) -> Decision:
        """:attr:`decision`, or one computed now for a result assembled by hand."""
        from xsell_eval.decision import decide

        return self.decision if self.decision is not None else decide(self)

    # ------------------------------------------------------------------ figures
    def plot_metric_vs_k(self) -> Figure:
        """The primary metric at every cut-off k, mean with CI bars (one line per adapter)."""
        from xsell_eval.report.plots import figure_metric_vs_k

        return figure_metric_vs_k(self)

    def plot_lift(self) -> Figure:
        """Relative difference vs the baseline with its CI (primary metric and revenue@k)."""
        from xsell_eval.report.plots import figure_lift

        return figure_lift(self)

    def plot_cold_start(self) -> Figure:
        """The primary metric by user-history and item-popularity bucket."""
        from xsell_eval.report.plots import figure_cold_start

        return figure_cold_start(self)

    # ------------------------------------------------------------------ display
    def _headline(self) -> tuple[str, list[tuple[str, str, str]]]:
        prim = self.config.primary_metric
        est = self.estimates
        rows = []
        if est is not None and not est.empty:
            sel = est[est["metric"] == prim].sort_values(["mean", "adapter"], ascending=[False, True])
            for r in sel.itertuples():
                rows.append((str(r.adapter), _short(r.mean), f"[{_short(r.ci_low)}, {_short(r.ci_high)}]"))
        rows += [(name, "failed", "") for name in self.failed_adapters]
        rows += [(name, NOT_APPLICABLE, "") for name in self.not_applicable_adapters]
        d = self.decided()
        return f"{d.headline()}", rows

    def __repr__(self) -> str:
        head, rows = self._headline()
        width = max([len(r[0]) for r in rows] + [7])
        lines = [
            f"CompareResult({self.n_queries:,} queries, {len(self.adapters)} adapters, "
            f"primary metric {self.config.primary_metric}, baseline {self.config.baseline!r})",
            f"  decision: {head}",
        ]
        lines += [f"  {name:<{width}}  {mean:>8}  {ci}".rstrip() for name, mean, ci in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head, rows = self._headline()
        cells = "".join(
            f"<tr><td><code>{html.escape(n)}</code></td><td>{html.escape(m)}</td><td>{html.escape(c)}</td></tr>"
            for n, m, c in rows
        )
        prim = html.escape(self.config.primary_metric)
        return (
            f"<div><p><b>CompareResult</b>: {self.n_queries:,} queries, primary metric <b>{prim}</b>, "
            f"baseline <code>{html.escape(self.config.baseline)}</code></p>"
            f"<p><b>Decision:</b> {html.escape(head)}</p>"
            f"<table><thead><tr><th>adapter</th><th>{prim}</th><th>CI</th></tr></thead>"
            f"<tbody>{cells}</tbody></table></div>"
        )


def _short(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return f"{v:.4f}" if math.isfinite(v) else "—"
