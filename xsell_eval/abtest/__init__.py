"""Simulated A/B(/n) tests of recommenders: response models, simulator, statistics, report.

::

    queries + each arm's Recommendations ──► response.ResponseModel (examination × acceptance × organic)
                                         ──► simulate.simulate(...) -> SimulationResult (per visitor)
                                         ──► stats.analyse(sim) -> Analysis (tests, CIs, SRM, power,
                                             sequential.monitor day by day, decision)
                                         ──► report.ABTestReport -> Markdown section + 2 PNG plots

Names are imported lazily (``from xsell_eval.abtest import analyse`` works) so that
importing the package does not load statsmodels or matplotlib. The ``simulate``
function lives in the module of the same name: ``from xsell_eval.abtest.simulate import simulate``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ResponseModel": "response",
    "make_acceptance": "response",
    "simulate_prepared": "simulate",
    "prepare_arms": "simulate",
    "parse_split": "simulate",
    "SimulationResult": "simulate",
    "analyse": "stats",
    "Analysis": "stats",
    "required_sample_size": "stats",
    "spending_bounds": "sequential",
    "ABTestReport": "result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"xsell_eval.abtest.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'xsell_eval.abtest' has no attribute {name!r}")
