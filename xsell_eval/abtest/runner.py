"""One simulated A/B test from prepared test queries and each arm's recommendations.

The part shared by ``xsell-eval abtest`` and the ``[abtest]`` section of ``xsell-eval run``::

    prepared (dataset + test queries) ─┐
    arm label → Recommendations ───────┼─► simulate.simulate ─► stats.analyse ─► ABTestReport
    arm label → per-query metrics ─────┘    (+ offline means of the same recommendations)

The callers choose the arms, fit the adapters, resolve the ground truth and write or
embed the report; nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.abtest.response import ResponseModel
from xsell_eval.abtest.result import ABTestReport
from xsell_eval.abtest.simulate import SimulationResult, simulate
from xsell_eval.abtest.stats import analyse
from xsell_eval.queries import Recommendations

#: Offline metrics (``<metric>@k`` means over the test queries) shown next to each arm.
OFFLINE_METRICS = ("hit_rate", "precision", "recall", "ndcg", "revenue")


@dataclass(frozen=True, eq=False)
class SimulationRun:
    """What :func:`run_simulation` produced.

    Attributes:
        report: the A/B-test report, with an empty ``manifest`` (the caller's to fill
            with ``dataclasses.replace``: it knows versions, git revision and total time).
        sim: the per-visitor simulation (for the run directory's ``visitors`` file).
        seconds: wall-clock seconds of ``simulate`` and ``statistics``.
    """

    report: ABTestReport
    sim: SimulationResult
    seconds: dict[str, float]


def arm_labels(specs: Sequence[str]) -> list[str]:
    """Unique arm labels; a repeated spec becomes ``spec (A)``, ``spec (B)``...

    Example:
        >>> arm_labels(["cf", "rules", "cf"])
        ['cf (A)', 'rules', 'cf (B)']
    """
    labels = []
    for i, s in enumerate(specs):
        if specs.count(s) > 1:
            labels.append(f"{s} ({chr(ord('A') + list(specs[: i + 1]).count(s) - 1)})")
        else:
            labels.append(s)
    return labels


def is_aa(specs: Sequence[str]) -> bool:
    """Every arm is the same adapter spec (an A/A test, whether or not it was asked for)."""
    return len(specs) > 1 and len(set(specs)) == 1


def offline_means(per_query: Mapping[str, pd.DataFrame | None], k: int) -> dict[str, dict[str, float]]:
    """Arm → mean of each of :data:`OFFLINE_METRICS` at ``k`` present in its per-query table."""
    out: dict[str, dict[str, float]] = {}
    for arm, pq in per_query.items():
        cols = [f"{m}@{k}" for m in OFFLINE_METRICS]
        out[arm] = {} if pq is None else {c: float(pq[c].mean()) for c in cols if c in pq}
    return out


def run_simulation(
    prepared: Any,
    recs_by_arm: Mapping[str, Recommendations],
    *,
    response: ResponseModel,
    visitors: int,
    split: np.ndarray,
    k: int,
    traffic_per_day: int,
    mde: float,
    alpha: float,
    bootstrap: int,
    seed: int,
    protocol: str,
    truth: Any = None,
    per_query: Mapping[str, pd.DataFrame | None] | None = None,
    adapters: Sequence[str] | None = None,
    aa: bool = False,
    aa_implied: bool = False,
    data: str | None = None,
    loader: str = "auto",
    max_queries: int | None = None,
    command: str = "",
    figures: Mapping[str, str] | None = None,
) -> SimulationRun:
    """Simulate the A/B test of ``recs_by_arm`` on ``prepared.queries`` and analyse it.

    Args:
        prepared: the run's prepared data (``.dataset`` and ``.queries``, e.g.
            :class:`xsell_eval.pipeline.Prepared`); recommendations are rows of its queries.
        recs_by_arm: arm label → recommendations shown (the first arm is the control).
        response: the shopper-response model.
        visitors: simulated visitors in total.
        split: planned traffic share per arm (see :func:`~xsell_eval.abtest.simulate.parse_split`).
        k: slots shown per visitor.
        traffic_per_day: visitors per day.
        mde: relative minimum detectable effect on conversion.
        alpha: two-sided significance level.
        bootstrap: bootstrap resamples for the revenue intervals.
        seed: seed of the simulation and of the bootstrap.
        protocol: query protocol (recorded in the settings and the report's data facts).
        truth: the aligned ground truth, for ``response.source == "truth"``.
        per_query: arm label → per-query metric table of the same recommendations, for
            the offline columns (arms absent here get none).
        adapters: adapter spec behind each arm, in arm order (default: the arm labels).
        aa: whether this is an A/A test (recorded; the decision is then an A/A verdict).
        aa_implied: the A/A test was not asked for, but every arm is the same adapter spec
            (recorded; the report says so).
        data: data path given by the user, ``None`` for the embedded data (recorded).
        loader: loader name (recorded).
        max_queries: query cap of the run (recorded).
        command: the command line that reproduces the run (recorded).
        figures: relative paths of the figures the caller will draw.

    Returns:
        A :class:`SimulationRun`.
    """
    ds, queries = prepared.dataset, prepared.queries
    arms = list(recs_by_arm)
    t0 = time.perf_counter()
    sim = simulate(
        queries,
        recs_by_arm,
        response,
        n_visitors=visitors,
        split=split,
        seed=seed,
        traffic_per_day=traffic_per_day,
        item_price=ds.item_price,
        full_data=ds,
        truth=truth,
    )
    t1 = time.perf_counter()
    analysis = analyse(sim, alpha=alpha, mde=mde, n_boot=bootstrap, seed=seed, aa=aa)
    seconds = {"simulate": t1 - t0, "statistics": time.perf_counter() - t1}
    settings = {
        "arms": arms,
        "adapters": list(adapters) if adapters is not None else arms,
        "visitors": visitors,
        "split": [float(w) for w in split],
        "k": k,
        "response": response.source,
        "traffic_per_day": traffic_per_day,
        "mde": mde,
        "alpha": alpha,
        "seed": seed,
        "aa": aa,
        "aa_implied": aa_implied,
        "data": data,
        "loader": loader,
        "protocol": protocol,
        "max_queries": max_queries,
        "command": command,
    }
    report = ABTestReport(
        analysis=analysis,
        response=response,
        settings=settings,
        offline=offline_means(per_query or {}, k),
        data={
            "name": ds.name,
            "fingerprint": ds.fingerprint,
            "n_queries": len(queries),
            "protocol": protocol,
            "has_truth": truth is not None,
        },
        figures=dict(figures or {}),
    )
    return SimulationRun(report=report, sim=sim, seconds=seconds)


__all__ = ["OFFLINE_METRICS", "SimulationRun", "arm_labels", "is_aa", "offline_means", "run_simulation"]
