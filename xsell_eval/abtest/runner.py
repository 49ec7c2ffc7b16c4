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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell_eval.abtest.analysis import analyse
from xsell_eval.abtest.response import ResponseModel
from xsell_eval.abtest.result import ABTestReport
from xsell_eval.abtest.simulate import PreparedArms, SimulationResult, prepare_arms, simulate_prepared
from xsell_eval.abtest.traffic import observed_from_split, resolve_traffic
from xsell_eval.queries import Recommendations

if TYPE_CHECKING:
    from xsell_eval.abtest.settings import ABTestSettings
    from xsell_eval.settings import CompareConfig

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
        prepared_arms: the arms' slot probabilities (reused by repeats).
    """

    report: ABTestReport
    sim: SimulationResult
    seconds: dict[str, float]
    prepared_arms: PreparedArms | None = None


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


def _cuped(prepared: Any, sim: SimulationResult, alpha: float) -> list[dict[str, Any]]:
    """CUPED with each visitor's pre-test spend (training period of ``prepared.split``); [] without a split."""
    from xsell_eval.abtest.cuped import cuped_analysis, pre_period_spend

    split = getattr(prepared, "split", None)
    if split is None:
        return []
    spend = pre_period_spend(prepared.queries.user_idx, split.train)
    return [r.to_dict() for r in cuped_analysis(sim, spend, alpha=alpha)]


def run_simulation(
    prepared: Any,
    recs_by_arm: Mapping[str, Recommendations],
    *,
    settings: ABTestSettings,
    config: CompareConfig,
    response: ResponseModel,
    truth: Any = None,
    per_query: Mapping[str, pd.DataFrame | None] | None = None,
    adapters: Sequence[str] | None = None,
    aa: bool = False,
    aa_implied: bool = False,
    command: str = "",
    figures: Mapping[str, str] | None = None,
    traffic_label: str = "--traffic",
) -> SimulationRun:
    """Simulate the A/B test of ``recs_by_arm`` on ``prepared.queries`` and analyse it.

    Args:
        prepared: the run's prepared data (``.dataset`` and ``.queries``, e.g.
            :class:`xsell_eval.pipeline.Prepared`); recommendations are rows of its queries.
        recs_by_arm: arm label → recommendations shown (the first arm is the control).
        settings: visitors, traffic split, k, traffic per day, mde, alpha and bootstrap resamples
            (checked by :meth:`ABTestSettings.check`).
        config: the run's data, loader, protocol, query cap (recorded) and seed (of the
            simulation and of the bootstrap).
        response: the shopper-response model.
        truth: the aligned ground truth, for ``response.source == "truth"``.
        per_query: arm label → per-query metric table of the same recommendations, for
            the offline columns (arms absent here get none).
        adapters: adapter spec behind each arm, in arm order (default: the arm labels).
        aa: whether this is an A/A test (recorded; the decision is then an A/A verdict).
        aa_implied: the A/A test was not asked for, but every arm is the same adapter spec
            (recorded; the report says so).
        command: the command line that reproduces the run (recorded).
        figures: relative paths of the figures the caller will draw.
        traffic_label: how a given ``settings.traffic_per_day`` is named in the output; when it is
            None, the test-period baskets per day of ``prepared.split`` are used (and said).

    Returns:
        A :class:`SimulationRun`.
    """
    ds, queries = prepared.dataset, prepared.queries
    arms = list(recs_by_arm)
    seed, protocol = config.seed, config.protocol
    visitors, k = settings.visitors, settings.k
    traffic = resolve_traffic(
        settings.traffic_per_day, observed_from_split(getattr(prepared, "split", None)), given_as=traffic_label
    )
    traffic_per_day = traffic.per_day
    split, mde, alpha = settings.weights(len(arms)), settings.mde, settings.alpha
    t0 = time.perf_counter()
    prepared_arms = prepare_arms(
        queries, recs_by_arm, response, item_price=ds.item_price, full_data=ds, truth=truth
    )  # once: the repeats reuse it
    sim = simulate_prepared(prepared_arms, n_visitors=visitors, split=split, seed=seed, traffic_per_day=traffic_per_day)
    t1 = time.perf_counter()
    analysis = analyse(sim, alpha=alpha, mde=mde, n_boot=settings.bootstrap, seed=seed, aa=aa)
    cuped = _cuped(prepared, sim, alpha)
    seconds = {"simulate": t1 - t0, "statistics": time.perf_counter() - t1}
    recorded = {
        "arms": arms,
        "adapters": list(adapters) if adapters is not None else arms,
        "visitors": visitors,
        "split": [float(w) for w in split],
        "k": k,
        "response": response.source,
        "traffic_per_day": traffic_per_day,
        "traffic": traffic.to_dict(),
        "mde": mde,
        "alpha": alpha,
        "seed": seed,
        "aa": aa,
        "aa_implied": aa_implied,
        "data": config.data,
        "loader": config.loader,
        "protocol": protocol,
        "max_queries": config.max_queries,
        "command": command,
    }
    report = ABTestReport(
        analysis=analysis,
        response=response,
        settings=recorded,
        offline=offline_means(per_query or {}, k),
        data={
            "name": ds.name,
            "fingerprint": ds.fingerprint,
            "n_queries": len(queries),
            "protocol": protocol,
            "has_truth": truth is not None,
        },
        figures=dict(figures or {}),
        cuped=cuped,
    )
    return SimulationRun(report=report, sim=sim, seconds=seconds, prepared_arms=prepared_arms)


def run_abtest(
    specs: Sequence[str],
    settings: ABTestSettings,
    *,
    model: ResponseModel,
    data: str | None = None,
    loader: str = "auto",
    protocol: str = "basket-completion",
    seed: int = 0,
    max_queries: int | None = None,
    aa: bool = False,
    aa_implied: bool = False,
    out: Path | None = None,
    command: str = "",
    progress: Callable[[str, str, dict[str, Any]], None] | None = None,
    repeats: int = 0,
) -> tuple[ABTestReport, Path]:
    """``xsell-eval abtest``: fit each arm's adapter, simulate the test, write the run directory.

    The settings are checked by the caller (:meth:`ABTestSettings.check`, which returns ``model``)
    before this runs.

    Args:
        specs: adapter spec per arm, control first (a repeated spec: the same recommendations).
        settings: visitors, split, k, traffic, mde, alpha, bootstrap.
        model: the shopper-response model.
        data, loader, protocol, seed, max_queries: the data and test queries (as ``compare``).
        aa: an A/A test (recorded; the decision is an A/A verdict).
        aa_implied: every arm is the same adapter although ``aa`` was not asked for (recorded).
        out: the run directory (default ``reports/<time>-abtest``).
        command: the command line that reproduces the run (recorded).
        progress: ``progress(event, who, info)``: ``stage_start`` / ``stage_end`` around each step.
        repeats: also repeat the simulation this many times with seeds ``SeedSequence([seed, i])``
            (:func:`xsell_eval.abtest.repeats.run_repeats`; the fitted adapters are reused); 0: none.

    Returns:
        ``(report, run_dir)``.

    Raises:
        AdapterError: an arm's adapter failed.
    """
    from dataclasses import replace

    from xsell_eval.data.synthetic import find_truth
    from xsell_eval.errors import AdapterError
    from xsell_eval.pipeline import git_revision, package_versions, prepare, run_adapter
    from xsell_eval.results import new_run_dir, write_abtest_run
    from xsell_eval.settings import CompareConfig

    emit = progress or (lambda *a: None)
    t_start = time.perf_counter()
    config = CompareConfig(
        adapters=tuple(dict.fromkeys(specs)),
        data=data,
        loader=loader,
        protocol=protocol,
        ks=(settings.k,),
        seed=seed,
        max_queries=max_queries,
        baseline="",
        name="abtest",
    )
    timings: dict[str, float] = {}
    emit("stage_start", "load data, split, build test queries", {})
    t0 = time.perf_counter()
    prepared = prepare(config)
    timings["prepare"] = time.perf_counter() - t0
    emit("stage_end", "load data, split, build test queries", {})
    ds, queries = prepared.dataset, prepared.queries
    truth = find_truth(data, ds) if settings.response == "truth" else None
    outcomes: dict[str, Any] = {}
    for s in dict.fromkeys(specs):
        step = f"fit {s} and recommend for {len(queries):,} queries"
        emit("stage_start", step, {})
        t0 = time.perf_counter()
        o = run_adapter(s, config, prepared)
        timings[f"adapter:{s}"] = time.perf_counter() - t0
        if o.status != "ok":
            raise AdapterError(f"adapter '{s}' failed: {o.error}")
        emit("stage_end", step, {})
        outcomes[s] = o
    labels = arm_labels(list(specs))
    emit("stage_start", f"simulate {settings.visitors:,} visitors", {})
    done = run_simulation(
        prepared,
        {lab: outcomes[s].recs for lab, s in zip(labels, specs, strict=True)},
        settings=settings,
        config=config,
        response=model,
        truth=truth,
        per_query={lab: outcomes[s].per_query for lab, s in zip(labels, specs, strict=True)},
        adapters=list(specs),
        aa=aa or aa_implied,
        aa_implied=aa_implied,
        command=command,
    )
    emit("stage_end", f"simulate {settings.visitors:,} visitors", {})
    timings.update(done.seconds)
    if repeats:
        from xsell_eval.abtest.repeats import run_repeats

        assert done.prepared_arms is not None
        step = f"repeat the test {repeats:,} times"
        emit("stage_start", step, {})
        summary = run_repeats(
            done.prepared_arms,
            repeats=repeats,
            n_visitors=settings.visitors,
            split=settings.weights(len(specs)),
            seed=seed,
            traffic_per_day=done.sim.traffic_per_day,
            alpha=settings.alpha,
            mde=settings.mde,
            aa=aa or aa_implied,
        )
        emit("stage_end", step, {})
        timings["repeats"] = summary.seconds
        done = SimulationRun(
            report=replace(done.report, repeats=summary.to_dict()),
            sim=done.sim,
            seconds=done.seconds,
            prepared_arms=done.prepared_arms,
        )
    timings["total"] = time.perf_counter() - t_start
    manifest = {
        "kind": "abtest",
        "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "source": data or "embedded:online_retail"},
        "seed": seed,
        "git_revision": git_revision(),
        "packages": package_versions(),
        "timings_seconds": timings,
    }
    report = replace(done.report, manifest=manifest)
    run_dir = out if out is not None else new_run_dir(name="abtest")
    write_abtest_run(report, run_dir, sim=done.sim, settings=report.settings, manifest=manifest)
    return report, run_dir


__all__ = ["OFFLINE_METRICS", "SimulationRun", "arm_labels", "is_aa", "offline_means", "run_abtest", "run_simulation"]
