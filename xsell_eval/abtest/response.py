"""Shopper response models: what a visitor does with a list of k recommendations.

Every assumption is a named parameter of :class:`ResponseModel`, printed in reports.
For the item at rank ``r`` (1-based) shown to visitor ``q`` with cart ``C``::

    examined     e(r)    = exam_top * curve(r)        curve: 1/log2(r+1)  ("log")
                                                             exam_decay**(r-1) ("geometric")
    accepted     a(q, j) = acceptance probability, by source:
                   replay : p_accept_hit if j was bought later in that basket (a target), else p_accept_other
                   oracle : 1 - (1 - p_accept_other) * Π_{i∈C} (1 - P̂(j | i)),  P̂ from ALL baskets
                   truth  : the generator's P(buy j | C, segment)  (synthetic shop only)
    organic      w(q, j) = organic_rate if j is a target else 0
                   (share of the recommended target items the shopper would have bought anyway)

    P(item added from the widget)         = e(r) * a(q, j)
    P(item added *because* of the widget) = e(r) * a(q, j) * (1 - w(q, j))     ← incremental

Slots are independent given the visitor. A visitor **converts** when at least one
incremental item is added; ``items_added`` / ``revenue_added`` count incremental items
only (quantity 1 at the item's price), so arms are compared on what they *cause*,
not on hits the shopper would have made anyway. Padding (item -1) is never examined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from xsell_eval.errors import ConfigError, DataError
from xsell_eval.queries import Queries

Source = Literal["replay", "oracle", "truth"]
Curve = Literal["log", "geometric"]
SOURCES: dict[str, str] = {
    "replay": "held-out truth: items bought later in the basket are accepted with --p-hit, others with --p-other",
    "oracle": "item co-occurrence P(j|i) fitted on ALL baskets (train + test), combined over the cart by noisy-OR",
    "truth": "the synthetic generator's exact purchase law (only for data written by `xsell-eval data generate`)",
}

_DOC: dict[str, str] = {
    "source": "where the acceptance probability comes from (replay | oracle | truth)",
    "curve": "examination curve by rank: log = 1/log2(rank+1), geometric = exam_decay^(rank-1)",
    "exam_top": "probability that the shopper examines the first slot",
    "exam_decay": "geometric curve only: examination ratio between consecutive ranks",
    "p_accept_hit": "replay: P(add | examined) for an item the shopper bought later in that basket",
    "p_accept_other": "replay: P(add | examined) for any other item; oracle: floor of the acceptance",
    "organic_rate": "share of recommended items bought later in the basket that would have been bought anyway",
    "oracle_smoothing": "oracle: P(j|i) = n_ij / (n_i + oracle_smoothing), shrinking rare items",
}

#: ResponseModel field → its ``xsell-eval abtest`` option / ``[abtest]`` key where the two differ
#: (the flag is the key with dashes: ``p_hit`` → ``--p-hit``).
OPTION_NAMES: dict[str, str] = {"source": "response", "p_accept_hit": "p_hit", "p_accept_other": "p_other"}


def option_name(field_name: str) -> str:
    """The ``[abtest]`` key (and, dashed, the CLI flag) of a :class:`ResponseModel` field."""
    return OPTION_NAMES.get(field_name, field_name)


#: CLI option / ``[abtest]`` key → ResponseModel field, for the parameters whose relevance depends on the model.
OPTION_FIELDS = {
    "exam_decay": "exam_decay",
    "p_hit": "p_accept_hit",
    "p_other": "p_accept_other",
    "oracle_smoothing": "oracle_smoothing",
}


@dataclass(frozen=True)
class ResponseModel:
    """The shopper-response assumptions (see the module docstring for the formulas).

    Attributes:
        source: acceptance source, ``"replay"``, ``"oracle"`` or ``"truth"``.
        curve: examination curve, ``"log"`` (DCG-like) or ``"geometric"``.
        exam_top: P(examine rank 1), in (0, 1].
        exam_decay: ratio of the geometric curve, in (0, 1].
        p_accept_hit: replay acceptance of an item bought later in the basket.
        p_accept_other: replay acceptance of other items; oracle floor.
        organic_rate: share of recommended target items bought anyway (not incremental).
        oracle_smoothing: additive smoothing of the oracle's conditional probabilities.

    Example:
        >>> rm = ResponseModel(exam_top=0.5)
        >>> rm.examination(3).round(3).tolist()
        [0.5, 0.315, 0.25]
    """

    source: Source = "replay"
    curve: Curve = "log"
    exam_top: float = 0.5
    exam_decay: float = 0.7
    p_accept_hit: float = 0.3
    p_accept_other: float = 0.01
    organic_rate: float = 0.5
    oracle_smoothing: float = 5.0

    def __post_init__(self) -> None:
        _check_fields({f.name: getattr(self, f.name) for f in fields(self)}, lambda f: f"response parameter '{f}'")

    @classmethod
    def from_options(cls, *, label: Callable[[str], str] = option_name, **options: Any) -> ResponseModel:
        """Build the model from ``xsell-eval abtest`` options / ``[abtest]`` keys, checked under those names.

        Args:
            label: how the caller names a key in messages, e.g. ``lambda k: "--" + k.replace("_", "-")``
                for the CLI or ``lambda k: f"run.toml: [abtest] {k}"`` for an experiment file.
            **options: ``response``, ``curve``, ``exam_top``, ``exam_decay``, ``p_hit``, ``p_other``,
                ``organic_rate``, ``oracle_smoothing`` (missing ones keep their defaults).

        Raises:
            ConfigError: a value out of range or an unknown option (named by ``label``).
            UnknownNameError: an unknown response source.

        Example:
            >>> ResponseModel.from_options(p_hit=1.5, label=lambda k: "--" + k.replace("_", "-"))
            Traceback (most recent call last):
            ...
            xsell_eval.errors.ConfigError: --p-hit must be in [0, 1], got 1.5
        """
        by_key = {option_name(f.name): f.name for f in fields(cls)}
        unknown = sorted(set(options) - set(by_key))
        if unknown:
            raise ConfigError(f"unknown response option(s) {unknown}; allowed: {sorted(by_key)}")
        values = {by_key[k]: v for k, v in options.items()}
        _check_fields(values, lambda f: label(option_name(f)))
        return cls(**values)

    def examination(self, k: int) -> np.ndarray:
        """P(examine) for ranks 1..k."""
        r = np.arange(1, k + 1, dtype=np.float64)
        curve = 1.0 / np.log2(r + 1.0) if self.curve == "log" else self.exam_decay ** (r - 1.0)
        return self.exam_top * curve

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResponseModel:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"response model: unknown parameter(s) {unknown}; allowed: {sorted(known)}")
        return cls(**d)

    def applies(self, name: str) -> bool:
        """Whether parameter ``name`` (a field name) has any effect with this source and curve."""
        if name == "exam_decay":
            return self.curve == "geometric"
        if name == "p_accept_hit":
            return self.source == "replay"
        if name == "p_accept_other":
            return self.source != "truth"
        if name == "oracle_smoothing":
            return self.source == "oracle"
        return True

    def describe(self) -> list[tuple[str, str, str]]:
        """(parameter, value, meaning) rows, only those that apply to the chosen source/curve."""
        return [(f.name, str(getattr(self, f.name)), _DOC[f.name]) for f in fields(self) if self.applies(f.name)]

    def __str__(self) -> str:
        rows = [("parameter", "value", "meaning"), *self.describe()]
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines = [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
        lines.insert(1, f"{'-' * w0}  {'-' * w1}  {'-' * 7}")
        return "\n".join(lines)


def _check_fields(values: dict[str, Any], label: Callable[[str], str]) -> None:
    """Range checks of :class:`ResponseModel` fields present in ``values``, named by ``label(field)``."""
    if "source" in values and values["source"] not in SOURCES:
        from xsell_eval.errors import unknown_name

        raise unknown_name("response source", str(values["source"]), SOURCES)
    if "curve" in values and values["curve"] not in ("log", "geometric"):
        raise ConfigError(f"{label('curve')} must be 'log' or 'geometric', got {values['curve']!r}")
    for name in ("exam_top", "exam_decay"):
        v = values.get(name, 0.5)
        if not _is_num(v) or not (0.0 < v <= 1.0):
            raise ConfigError(f"{label(name)} must be in (0, 1], got {v!r}")
    for name in ("p_accept_hit", "p_accept_other", "organic_rate"):
        v = values.get(name, 0.5)
        if not _is_num(v) or not (0.0 <= v <= 1.0):
            raise ConfigError(f"{label(name)} must be in [0, 1], got {v!r}")
    v = values.get("oracle_smoothing", 0.0)
    if not _is_num(v) or v < 0:
        raise ConfigError(f"{label('oracle_smoothing')} must be >= 0, got {v!r}")


def _is_num(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v)


# ---------------------------------------------------------------------- acceptance sources
def _is_target(queries: Queries, items: np.ndarray) -> np.ndarray:
    """Boolean (n × k): item is one of the query's targets."""
    n, k = items.shape
    if n == 0:
        return np.zeros((0, k), dtype=bool)
    t = queries.targets
    rows = np.repeat(np.arange(n), k)
    cols = np.where(items >= 0, items, 0).ravel()
    hit = np.asarray(t[rows, cols]).reshape(n, k) > 0
    return hit & (items >= 0)


def cooccurrence_conditional(basket_item: sp.csr_matrix, smoothing: float) -> sp.csr_matrix:
    """``P̂(j | i) = n_ij / (n_i + smoothing)`` from a binary basket × item matrix (diagonal dropped)."""
    b = basket_item.tocsr().astype(np.float64)
    b.data[:] = 1.0
    co = (b.T @ b).tocsr()
    co.setdiag(0.0)
    co.eliminate_zeros()
    n_i = np.asarray(b.sum(axis=0)).ravel()
    denom = n_i + float(smoothing)
    scale = np.divide(1.0, denom, out=np.zeros_like(denom), where=denom > 0)
    return sp.csr_matrix(sp.diags(scale) @ co)


@dataclass(frozen=True, eq=False)
class Acceptance:
    """A fitted acceptance source: ``prob(queries, items) -> (n × k)`` P(add | examined).

    Build it with :func:`make_acceptance`. ``conditional`` (oracle) and ``truth`` are
    the fitted pieces; only the one matching ``model.source`` is set.
    """

    model: ResponseModel
    conditional: sp.csr_matrix | None = None
    truth: Any = None

    def prob(self, queries: Queries, items: np.ndarray, *, batch_size: int = 8192) -> np.ndarray:
        """P(accept | examined) per (query, slot); 0 for padding."""
        items = np.asarray(items, dtype=np.int64)
        src = self.model.source
        if src == "replay":
            hit = _is_target(queries, items)
            a = np.where(hit, self.model.p_accept_hit, self.model.p_accept_other)
        elif src == "oracle":
            if self.conditional is None:
                raise RuntimeError("oracle acceptance without a fitted model; build it with make_acceptance()")
            a = _noisy_or(queries.context, items, self.conditional, self.model.p_accept_other, batch_size)
        else:
            seg = self.truth.segments_of(queries.user_idx)
            a = self.truth.accept_prob(queries.context, items, seg, batch_size=batch_size)
        return np.where(items >= 0, a, 0.0)


def _noisy_or(
    context: sp.csr_matrix, items: np.ndarray, cond: sp.csr_matrix, floor: float, batch_size: int
) -> np.ndarray:
    """``1 - (1 - floor) * Π_{i∈C} (1 - cond[i, j])`` per (row, slot)."""
    log_keep = cond.copy()
    log_keep.data = np.log1p(-np.minimum(log_keep.data, 1.0 - 1e-12))
    n, k = items.shape
    out = np.zeros((n, k))
    for s in range(0, n, batch_size):
        e = min(s + batch_size, n)
        ctx = context[s:e].copy()
        ctx.data = np.ones_like(ctx.data, dtype=np.float64)
        summed = (ctx @ log_keep).tocsr()
        rows = np.repeat(np.arange(e - s), k)
        cols = np.where(items[s:e] >= 0, items[s:e], 0).ravel()
        log_no = np.asarray(summed[rows, cols]).reshape(e - s, k)
        out[s:e] = 1.0 - (1.0 - floor) * np.exp(log_no)
    return out


def make_acceptance(model: ResponseModel, *, full_data: Any = None, truth: Any = None) -> Acceptance:
    """Fit the acceptance source of ``model``.

    Args:
        model: the response model.
        full_data: for ``oracle``, the *whole* :class:`~xsell_eval.data.Dataset` (train and test).
        truth: for ``truth``, a :class:`~xsell_eval.data.synthetic.ShopTruth` aligned to the data's index.

    Raises:
        DataError: ``truth`` requested without a ground truth, or ``oracle`` without data.
    """
    if model.source == "oracle":
        if full_data is None:
            raise DataError("response 'oracle' needs the full data set (train + test) to fit its co-occurrence model")
        return Acceptance(model, conditional=cooccurrence_conditional(full_data.basket_item, model.oracle_smoothing))
    if model.source == "truth":
        if truth is None:
            raise DataError(
                "response 'truth' needs a ground truth, which only data written by `xsell-eval data generate` "
                "has (the default UCI Online Retail has none); use such data or --response replay|oracle"
            )
        return Acceptance(model, truth=truth)
    return Acceptance(model)


@dataclass(frozen=True, eq=False)
class SlotProbabilities:
    """Per (query, slot) probabilities of one arm.

    Attributes:
        p_added: P(added from the widget) = e(r)·a (float32, n × k).
        p_incremental: P(added because of the widget) = e(r)·a·(1 - w) (float32, n × k).
        price: price of the slot's item (0 for padding / unknown price), float32.
    """

    p_added: np.ndarray
    p_incremental: np.ndarray
    price: np.ndarray

    def expected(self) -> dict[str, np.ndarray]:
        """Exact per-query expectations: conversion, items and revenue (incremental)."""
        p = self.p_incremental.astype(np.float64)
        return {
            "conversion": 1.0 - np.prod(1.0 - p, axis=1),
            "items": p.sum(axis=1),
            "revenue": (p * self.price).sum(axis=1),
        }


def slot_probabilities(
    model: ResponseModel,
    acceptance: Acceptance,
    queries: Queries,
    items: np.ndarray,
    item_price: np.ndarray,
) -> SlotProbabilities:
    """Examination × acceptance × (1 - organic) for every shown slot."""
    items = np.asarray(items, dtype=np.int64)
    n, k = items.shape
    if n != len(queries):
        raise DataError(f"recommendations have {n} rows, the queries {len(queries)}")
    a = acceptance.prob(queries, items)
    exam = model.examination(k)[None, :]
    valid = items >= 0
    p_add = np.where(valid, exam * a, 0.0)
    w = np.where(_is_target(queries, items), model.organic_rate, 0.0)
    p_inc = p_add * (1.0 - w)
    price = np.asarray(item_price, dtype=np.float64)
    slot_price = np.where(valid, price[np.where(valid, items, 0)], 0.0)
    slot_price = np.where(np.isfinite(slot_price), slot_price, 0.0)
    return SlotProbabilities(p_add.astype(np.float32), p_inc.astype(np.float32), slot_price.astype(np.float32))
