"""The A/B(/n) simulator: replayed test-period queries, random assignment, vectorised outcomes.

::

    distinct queries (test period) ──► each arm's top-k, computed ONCE per query (passed in)
           │                                   │
           ▼                                   ▼
    visitors: a query drawn per visitor   slot probabilities per (arm, query, rank)
    (without replacement while there are  from the ResponseModel (examination × acceptance
    enough queries, else with), an arm     × (1 - organic)); see abtest.response
    drawn by the split weights, day =
    arrival order // traffic_per_day ───► one uniform per (visitor, slot): added / incremental

Everything per visitor is numpy arrays processed in chunks; there is no Python loop
over visitors. Because the outcome law of a (query, arm) pair is known exactly, the
result also carries the *expected* conversion / items / revenue of every arm over the
query population — the true values the statistics should recover.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.abtest.response import Acceptance, ResponseModel, SlotProbabilities, make_acceptance, slot_probabilities
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.queries import Queries, Recommendations


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Per-visitor outcomes of one simulated experiment.

    Attributes:
        arms: arm labels, the first is the control.
        adapters: adapter name behind each arm.
        weights: planned traffic share per arm (sums to 1).
        arm: arm index per visitor (int8).
        day: 0-based day of the visit (int32).
        query_row: row of the replayed query (int64).
        converted: at least one incremental item added (bool).
        items_added: number of incremental items added (int16).
        items_accepted: items added from the widget, incremental or not (int16).
        revenue_added: value of the incremental items (float64).
        basket_value: observed basket value (cart + items bought later) + revenue_added.
        expected: per arm, exact expectation over the query population of
            ``conversion``, ``items``, ``revenue`` (arrays of length n_arms).
        fill_rate: per arm, mean share of the k slots that hold an item.
        response: the response model used.
        k: slots shown per visitor.
        traffic_per_day: visitors per day.
        seed: the simulation seed.
        n_queries: number of distinct queries replayed.
    """

    arms: tuple[str, ...]
    adapters: tuple[str, ...]
    weights: np.ndarray
    arm: np.ndarray
    day: np.ndarray
    query_row: np.ndarray
    converted: np.ndarray
    items_added: np.ndarray
    items_accepted: np.ndarray
    revenue_added: np.ndarray
    basket_value: np.ndarray
    expected: dict[str, np.ndarray]
    fill_rate: np.ndarray
    response: ResponseModel
    k: int
    traffic_per_day: int
    seed: int
    n_queries: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_visitors(self) -> int:
        """Number of simulated visitors."""
        return len(self.arm)

    @property
    def n_arms(self) -> int:
        """Number of arms."""
        return len(self.arms)

    @property
    def n_days(self) -> int:
        """Number of days the experiment ran."""
        return int(self.day.max()) + 1 if len(self.day) else 0

    def visitors_per_arm(self) -> np.ndarray:
        """Visitor count per arm."""
        return np.bincount(self.arm, minlength=self.n_arms).astype(np.int64)

    def daily(self) -> pd.DataFrame:
        """Per (day, arm): visitors, conversions, revenue and revenue² sums (not cumulative)."""
        key = self.day.astype(np.int64) * self.n_arms + self.arm
        size = self.n_days * self.n_arms
        rev = self.revenue_added
        out = pd.DataFrame(
            {
                "day": np.repeat(np.arange(self.n_days), self.n_arms),
                "arm": np.tile(np.arange(self.n_arms), self.n_days),
                "visitors": np.bincount(key, minlength=size),
                "conversions": np.bincount(key, weights=self.converted, minlength=size).astype(np.int64),
                "revenue": np.bincount(key, weights=rev, minlength=size),
                "revenue_sq": np.bincount(key, weights=rev * rev, minlength=size),
            }
        )
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per visitor (arm as label)."""
        return pd.DataFrame(
            {
                "visitor": np.arange(self.n_visitors),
                "arm": pd.Categorical.from_codes(self.arm.astype(np.int64), categories=pd.Index(list(self.arms))),
                "day": self.day,
                "query_row": self.query_row,
                "converted": self.converted,
                "items_added": self.items_added,
                "items_accepted": self.items_accepted,
                "revenue_added": self.revenue_added,
                "basket_value": self.basket_value,
            }
        )


def parse_split(text: str, n_arms: int) -> np.ndarray:
    """``"50,50"`` → weights summing to 1; the percentages must sum to 100.

    Raises:
        ConfigError: not numbers, wrong count, a non-positive share, or a sum other than 100.
    """
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise ConfigError(f"--split must be comma-separated percentages like 50,50, got {text!r}") from None
    if len(parts) != n_arms:
        raise ConfigError(f"--split has {len(parts)} share(s) for {n_arms} arm(s): give one percentage per arm")
    if any(not np.isfinite(p) or p <= 0 for p in parts):
        raise ConfigError(f"--split shares must be positive percentages, got {text!r}")
    if abs(sum(parts) - 100.0) > 1e-6:
        raise ConfigError(f"--split percentages must sum to 100, got {text!r} (sum {sum(parts):g})")
    return np.asarray(parts) / 100.0


#: The smallest expected number of visitors per arm a test may plan (fewer leave arms (nearly) empty).
MIN_VISITORS_PER_ARM = 10


def check_visitors_per_arm(n_visitors: int, weights: Any, *, option: str = "--visitors", where: str = "") -> None:
    """Refuse a plan whose smallest arm would expect fewer than :data:`MIN_VISITORS_PER_ARM` visitors.

    Args:
        n_visitors: planned visitors in total.
        weights: traffic share per arm (sum 1).
        option: how the caller names the visitors setting in the message (``--visitors``,
            ``[abtest] visitors``).
        where: prefix of the message, said once (e.g. ``"run.toml: "``).

    Raises:
        ConfigError: too few visitors for the split (the message gives the minimum).
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    w = w / w.sum()
    smallest = float(w.min())
    if n_visitors * smallest < MIN_VISITORS_PER_ARM:
        need = math.ceil(MIN_VISITORS_PER_ARM / smallest - 1e-9)
        raise ConfigError(
            f"{where}{option} {n_visitors:,} gives the smallest arm ({smallest:.0%} of the traffic) about "
            f"{n_visitors * smallest:.1f} visitor(s); every arm needs at least {MIN_VISITORS_PER_ARM} expected "
            f"visitors, so {option} must be at least {need:,} for this split"
        )


def _check_weights(split: Any, n_arms: int) -> np.ndarray:
    if split is None:
        return np.full(n_arms, 1.0 / n_arms)
    w = np.asarray(split, dtype=np.float64).ravel()
    if len(w) != n_arms:
        raise ConfigError(f"split has {len(w)} weight(s) for {n_arms} arm(s)")
    if not np.isfinite(w).all() or (w <= 0).any():
        raise ConfigError(f"split weights must be positive, got {w.tolist()}")
    total = w.sum()
    if not (abs(total - 1.0) < 1e-6 or abs(total - 100.0) < 1e-6):
        raise ConfigError(f"split weights must sum to 1 (or to 100 as percentages), got {w.tolist()} (sum {total:g})")
    return w / total


@dataclass(frozen=True, eq=False)
class PreparedArms:
    """Slot probabilities of every arm over the distinct queries (computed once, reused).

    Attributes:
        arms, adapters: labels and adapter names.
        p_added, p_incremental, price: float32 arrays (n_arms × n_queries × k).
        base_value: observed basket value per query (cart + items bought later).
        expected: exact per-arm expectation over the queries (conversion, items, revenue).
        fill_rate: per arm, share of slots holding an item.
        response: the response model.
    """

    arms: tuple[str, ...]
    adapters: tuple[str, ...]
    p_added: np.ndarray
    p_incremental: np.ndarray
    price: np.ndarray
    base_value: np.ndarray
    expected: dict[str, np.ndarray]
    fill_rate: np.ndarray
    response: ResponseModel

    @property
    def n_queries(self) -> int:
        """Number of distinct queries."""
        return int(self.p_added.shape[1])

    @property
    def k(self) -> int:
        """Slots per list."""
        return int(self.p_added.shape[2])


def prepare_arms(
    queries: Queries,
    recs_by_arm: Mapping[str, Recommendations],
    response: ResponseModel | Acceptance,
    *,
    item_price: np.ndarray | None = None,
    full_data: Any = None,
    truth: Any = None,
) -> PreparedArms:
    """Check the arms and compute their slot probabilities once (see :func:`simulate` for the arguments)."""
    arms = tuple(recs_by_arm)
    if len(arms) < 1:
        raise ConfigError("an experiment needs at least one arm")
    n_q = len(queries)
    if n_q == 0:
        raise DataError("no test queries to replay")
    ks = {recs_by_arm[a].k for a in arms}
    if len(ks) != 1:
        raise DataError(f"all arms must show the same number of slots k, got {sorted(ks)}")
    for a in arms:
        if len(recs_by_arm[a]) != n_q:
            raise DataError(f"arm '{a}' has recommendations for {len(recs_by_arm[a])} queries, expected {n_q}")
    if isinstance(response, Acceptance):
        acceptance = response
    else:
        acceptance = make_acceptance(response, full_data=full_data, truth=truth)
    model = acceptance.model
    price = np.zeros(queries.n_items) if item_price is None else np.asarray(item_price, dtype=np.float64)
    if len(price) != queries.n_items:
        raise DataError(f"item_price has {len(price)} entries, the queries have {queries.n_items} items")
    slots: list[SlotProbabilities] = [
        slot_probabilities(model, acceptance, queries, recs_by_arm[a].items, price) for a in arms
    ]
    exp_each = [s.expected() for s in slots]
    ctx_value = np.nan_to_num(np.asarray(queries.context_value, dtype=np.float64))
    return PreparedArms(
        arms=arms,
        adapters=tuple(recs_by_arm[a].adapter or a for a in arms),
        p_added=np.stack([s.p_added for s in slots]),
        p_incremental=np.stack([s.p_incremental for s in slots]),
        price=np.stack([s.price for s in slots]),
        base_value=ctx_value + np.asarray(queries.target_value.sum(axis=1)).ravel(),
        expected={key: np.array([e[key].mean() for e in exp_each]) for key in ("conversion", "items", "revenue")},
        fill_rate=np.array([(recs_by_arm[a].items >= 0).mean() for a in arms]),
        response=model,
    )


def simulate(
    queries: Queries,
    recs_by_arm: Mapping[str, Recommendations],
    response: ResponseModel | Acceptance,
    *,
    n_visitors: int,
    split: Any = None,
    seed: int = 0,
    traffic_per_day: int | None = None,
    item_price: np.ndarray | None = None,
    full_data: Any = None,
    truth: Any = None,
    chunk_size: int = 262_144,
) -> SimulationResult:
    """Simulate an A/B(/n) test by replaying ``queries`` through each arm's recommendations.

    Args:
        queries: the distinct test-period queries (with hidden targets).
        recs_by_arm: arm label → that arm's recommendations for ``queries`` (same row order);
            the first arm is the control. The same recommendations in two arms = an A/A test.
        response: a :class:`ResponseModel` (its acceptance source is fitted here) or an
            already fitted :class:`~xsell_eval.abtest.response.Acceptance`.
        n_visitors: number of visitors (>= number of arms).
        split: traffic weights per arm (sum to 1 or to 100); default equal.
        seed: seed of the assignment and outcome draws.
        traffic_per_day: visitors per day; default ``ceil(n_visitors / 14)`` (a two-week test).
        item_price: price per item index (NaN / None → revenue 0 for that item).
        full_data: the whole data set, for the ``oracle`` source.
        truth: the aligned ground truth, for the ``truth`` source.
        chunk_size: visitors per vectorised chunk (bounds memory).

    Raises:
        ConfigError: bad split, too few visitors, bad traffic.
        DataError: recommendations do not match the queries; no queries.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset(); q = toy_queries(ds)
        >>> items = np.tile(np.argsort(-ds.item_basket_count)[:5], (len(q), 1))
        >>> recs = Recommendations(items, np.zeros(items.shape), "popular")
        >>> sim = simulate(q, {"A": recs, "B": recs}, ResponseModel(), n_visitors=1000, seed=1)
        >>> int(sim.visitors_per_arm().sum())
        1000
    """
    _check_visitors(n_visitors, len(recs_by_arm))
    _check_weights(split, len(recs_by_arm))
    prepared = prepare_arms(queries, recs_by_arm, response, item_price=item_price, full_data=full_data, truth=truth)
    return simulate_prepared(
        prepared, n_visitors=n_visitors, split=split, seed=seed, traffic_per_day=traffic_per_day, chunk_size=chunk_size
    )


def _check_visitors(n_visitors: Any, n_arms: int) -> int:
    if isinstance(n_visitors, bool) or not isinstance(n_visitors, (int, np.integer)) or n_visitors < max(n_arms, 1):
        raise ConfigError(
            f"the number of visitors must be an integer >= the number of arms ({n_arms}), got {n_visitors!r}"
        )
    return int(n_visitors)


def simulate_prepared(
    prepared: PreparedArms,
    *,
    n_visitors: int,
    split: Any = None,
    seed: int = 0,
    traffic_per_day: int | None = None,
    chunk_size: int = 262_144,
) -> SimulationResult:
    """The random part of :func:`simulate` on already prepared arms (cheap to repeat with new seeds)."""
    n_arms = len(prepared.arms)
    n_visitors = _check_visitors(n_visitors, n_arms)
    weights = _check_weights(split, n_arms)
    if traffic_per_day is None:
        traffic_per_day = int(np.ceil(n_visitors / 14))
    if isinstance(traffic_per_day, bool) or not isinstance(traffic_per_day, (int, np.integer)) or traffic_per_day < 1:
        raise ConfigError(f"traffic per day must be an integer >= 1, got {traffic_per_day!r}")
    n_q, k = prepared.n_queries, prepared.k
    p_add, p_inc, s_price = prepared.p_added, prepared.p_incremental, prepared.price

    rng = np.random.default_rng([int(seed), 422])
    if n_visitors <= n_q:
        q_row = rng.choice(n_q, size=n_visitors, replace=False)
    else:
        q_row = rng.integers(0, n_q, size=n_visitors)
    arm = rng.choice(n_arms, size=n_visitors, p=weights).astype(np.int8)
    day = (np.arange(n_visitors) // int(traffic_per_day)).astype(np.int32)

    items_added = np.empty(n_visitors, dtype=np.int16)
    items_acc = np.empty(n_visitors, dtype=np.int16)
    revenue = np.empty(n_visitors, dtype=np.float64)
    flat_inc = p_inc.reshape(-1, k)
    flat_add = p_add.reshape(-1, k)
    flat_price = s_price.reshape(-1, k).astype(np.float64)
    for s in range(0, n_visitors, chunk_size):
        e = min(s + chunk_size, n_visitors)
        row = arm[s:e].astype(np.int64) * n_q + q_row[s:e]
        u = rng.random((e - s, k), dtype=np.float32)
        inc = u < np.take(flat_inc, row, axis=0)
        items_added[s:e] = np.count_nonzero(inc, axis=1)
        items_acc[s:e] = np.count_nonzero(u < np.take(flat_add, row, axis=0), axis=1)
        revenue[s:e] = np.einsum("ij,ij->i", inc, np.take(flat_price, row, axis=0), dtype=np.float64)

    return SimulationResult(
        arms=prepared.arms,
        adapters=prepared.adapters,
        weights=weights,
        arm=arm,
        day=day,
        query_row=q_row.astype(np.int64),
        converted=items_added > 0,
        items_added=items_added,
        items_accepted=items_acc,
        revenue_added=revenue,
        basket_value=prepared.base_value[q_row] + revenue,
        expected=prepared.expected,
        fill_rate=prepared.fill_rate,
        response=prepared.response,
        k=k,
        traffic_per_day=int(traffic_per_day),
        seed=int(seed),
        n_queries=n_q,
    )
