"""Metric names and specs: the registry behind ``"ndcg@10"`` strings, and their parsing.

``METRICS`` maps every metric name to a :class:`MetricSpec` (description, unit, direction,
scope); :func:`parse_metric` turns ``"hit_rate@10"`` into ``("hit_rate", 10)`` with a
"did you mean" error for unknown names. The computations live in :mod:`xsell_eval.metrics`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from xsell_eval.errors import ConfigError, unknown_name

Scope = Literal["per_query", "aggregate"]


@dataclass(frozen=True)
class MetricSpec:
    """Registry entry of one metric.

    Attributes:
        name: registry key, used as ``"<name>@<k>"`` in specs and column names.
        description: one line for tables and ``--help``.
        unit: what a value means ("share", "currency", "ratio", "bits", ...).
        higher_is_better: direction used for significance marks.
        scope: ``"per_query"`` (a value per query, averaged with a CI) or
            ``"aggregate"`` (one value over all queries, e.g. catalog coverage).
        needs_prices: NaN when prices are unknown.
    """

    name: str
    description: str
    unit: str
    higher_is_better: bool
    scope: Scope
    needs_prices: bool = False


METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("precision", "share of the k recommended slots that were bought", "share", True, "per_query"),
        MetricSpec("recall", "share of the bought (target) items that were recommended", "share", True, "per_query"),
        MetricSpec(
            "hit_rate",
            "1 if at least one recommended item was bought (conversion proxy)",
            "share",
            True,
            "per_query",
        ),
        MetricSpec("ndcg", "normalised discounted cumulative gain, binary relevance", "share", True, "per_query"),
        MetricSpec("mrr", "reciprocal rank of the first bought item (0 if none in top k)", "share", True, "per_query"),
        MetricSpec("map", "average precision, normalised by min(|targets|, k)", "share", True, "per_query"),
        MetricSpec(
            "revenue",
            "value (price × quantity) of the recommended items that were bought",
            "currency",
            True,
            "per_query",
            needs_prices=True,
        ),
        MetricSpec(
            "uplift",
            "basket value uplift: revenue@k / mean value of the carts shown (a ratio of means)",
            "ratio",
            True,
            "per_query",
            needs_prices=True,
        ),
        MetricSpec(
            "novelty",
            "mean self-information -log2(popularity share) of the recommended items",
            "bits",
            True,
            "per_query",
        ),
        MetricSpec(
            "diversity",
            "intra-list diversity: share of recommended item pairs in different categories",
            "share",
            True,
            "per_query",
        ),
        MetricSpec(
            "coverage",
            "catalog coverage: distinct recommended items / catalog size",
            "share",
            True,
            "aggregate",
        ),
    )
}

PER_QUERY_METRICS: tuple[str, ...] = tuple(n for n, s in METRICS.items() if s.scope == "per_query")
AGGREGATE_METRICS: tuple[str, ...] = tuple(n for n, s in METRICS.items() if s.scope == "aggregate")
ITEM_BUCKET_METRICS: tuple[str, ...] = ("recall", "hit_rate", "revenue")

USER_BUCKETS: tuple[str, ...] = ("0", "1-2", "3-9", "10+")
ITEM_BUCKETS: tuple[str, ...] = ("unseen", "tail", "head")
DEFAULT_HEAD_SHARE = 0.5

_SPEC_RE = re.compile(r"^\s*([A-Za-z_]+)\s*(?:@\s*(-?\d+))?\s*$")


def metric_column(name: str, k: int) -> str:
    """Column / spec label of a metric at a cut-off: ``metric_column("ndcg", 10) == "ndcg@10"``."""
    return f"{name}@{k}"


def _check_k(k: object, what: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) < 1:
        raise ConfigError(f"`{what}` must be an int >= 1, got {k!r}")
    return int(k)


def parse_metric(spec: str, *, default_k: int | None = None) -> tuple[str, int]:
    """Split a metric spec such as ``"ndcg@10"`` into ``("ndcg", 10)``.

    Args:
        spec: ``"<name>@<k>"``; case and surrounding spaces are ignored.
        default_k: cut-off used when the spec has no ``@k``; without it a bare name
            is an error.

    Raises:
        UnknownNameError: the name is not in :data:`METRICS` (message lists them and
            suggests close matches).
        ConfigError: malformed spec, missing or non-positive ``k``.

    Example:
        >>> parse_metric("NDCG@10")
        ('ndcg', 10)
        >>> parse_metric("mrr", default_k=20)
        ('mrr', 20)
    """
    m = _SPEC_RE.match(str(spec))
    if m is None:
        raise ConfigError(f"metric spec must look like 'ndcg@10', got {spec!r}")
    name = m.group(1).lower()
    if name not in METRICS:
        raise unknown_name("metric", name, METRICS)
    if m.group(2) is None:
        if default_k is None:
            raise ConfigError(f"metric '{name}' needs a cut-off k, e.g. '{name}@10'")
        return name, _check_k(default_k, "default_k")
    k = int(m.group(2))
    if k < 1:
        raise ConfigError(f"metric spec {spec!r}: k must be an int >= 1, got {k}")
    return name, k


def _check_ks(ks: Sequence[int]) -> list[int]:
    if isinstance(ks, (int, np.integer)):
        ks = [int(ks)]
    out = sorted({_check_k(k) for k in ks})
    if not out:
        raise ConfigError("`ks` must contain at least one cut-off k >= 1, got an empty list")
    return out
