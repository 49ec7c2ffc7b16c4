"""The result of a simulated A/B test: :class:`ABTestReport`, stored as ``abtest.json``.

Rendered by :mod:`xsell_eval.report.abtest`; written and read by :mod:`xsell_eval.results`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xsell_eval.abtest.analysis import Analysis
from xsell_eval.abtest.response import ResponseModel
from xsell_eval.errors import RunDirError

ABTEST_FORMAT = 1


@dataclass(frozen=True)
class ABTestReport:
    """Everything the A/B-test section shows; JSON round-trip via :meth:`to_dict` / :meth:`from_dict`.

    Attributes:
        analysis: the statistics.
        response: the response model.
        settings: the command's settings (arms, visitors, split, k, traffic, mde, seed, data, ...).
        offline: arm → offline metrics of its recommendations on the same queries (may be empty).
        data: facts about the data (name, fingerprint, queries, protocol, has_truth).
        manifest: versions, seed, git revision, timings.
        figures: relative paths of the figures (empty if not drawn).
        repeats: :meth:`xsell_eval.abtest.repeats.RepeatSummary.to_dict` of ``--repeats`` (empty: none).
        cuped: :meth:`xsell_eval.abtest.cuped.CupedResult.to_dict` per treatment and metric (empty: none).
    """

    analysis: Analysis
    response: ResponseModel
    settings: dict[str, Any]
    offline: dict[str, dict[str, float]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    repeats: dict[str, Any] = field(default_factory=dict)
    cuped: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN/inf → None)."""
        from xsell_eval.results import plain

        return {
            "format": ABTEST_FORMAT,
            "analysis": self.analysis.to_dict(),
            "response": self.response.to_dict(),
            "settings": plain(self.settings),
            "offline": plain(self.offline),
            "data": plain(self.data),
            "manifest": plain(self.manifest),
            "figures": dict(self.figures),
            **({"repeats": plain(self.repeats)} if self.repeats else {}),
            **({"cuped": plain(self.cuped)} if self.cuped else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ABTestReport:
        """Inverse of :meth:`to_dict`."""
        if d.get("format") != ABTEST_FORMAT:
            raise RunDirError(f"abtest.json has format {d.get('format')!r}; this xsell-eval reads {ABTEST_FORMAT}")
        return cls(
            analysis=Analysis.from_dict(d["analysis"]),
            response=ResponseModel.from_dict(d["response"]),
            settings=d.get("settings", {}),
            offline=d.get("offline", {}),
            data=d.get("data", {}),
            manifest=d.get("manifest", {}),
            figures=d.get("figures", {}),
            repeats=d.get("repeats", {}),
            cuped=d.get("cuped", []),
        )
