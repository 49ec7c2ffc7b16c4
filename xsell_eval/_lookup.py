"""Small look-ups over a result's tables shared by the decision and the renderers.

Kept apart from :mod:`xsell_eval.report` so the library (:mod:`xsell_eval.decision`) never
imports a renderer.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from xsell_eval.result import CompareResult

CURRENCY_BY_LOADER = {"online-retail": "GBP", "completejourney": "USD"}
"""Currency of the loaders whose data has one known currency."""
CURRENCY_SYMBOL = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}
"""Symbols of the currencies the report writes as a prefix (others are written as a code suffix)."""


def finite_or_none(x: Any) -> float | None:
    """A finite float, or None (NaN, inf and non-numbers: how a run directory stores them)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


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


def row(df: pd.DataFrame | None, **eq: Any) -> dict[str, Any] | None:
    """The first row of ``df`` whose columns equal ``eq`` (as a dict), or None."""
    if df is None or df.empty or any(c not in df.columns for c in eq):
        return None
    return _index(df, tuple(eq)).get(tuple(eq.values()))


def adapter_order(result: CompareResult) -> list[str]:
    """Completed adapters, best first on the primary metric (ties by name); the report's row order."""
    summ = result.estimates
    if summ is None or summ.empty:
        return []
    prim = summ[summ["metric"] == result.config.primary_metric]
    order = prim.sort_values(["mean", "adapter"], ascending=[False, True], na_position="last")["adapter"].tolist()
    return order + sorted(a for a in summ["adapter"].unique() if a not in order)


def currency_of(result: CompareResult) -> str | None:
    """The run's currency code: ``[report] currency``, else known from the loader, else None."""
    if result.settings is not None and result.settings.currency:
        return str(result.settings.currency)
    return CURRENCY_BY_LOADER.get(str((result.data_card or {}).get("loader", "")))


def primary_k(result: CompareResult) -> int:
    """The cut-off of the primary metric (``hit_rate@10`` -> 10)."""
    return int(result.config.primary_metric.partition("@")[2])


def metric_unit(metric: str) -> str:
    """Unit of a metric name or spec (``"revenue@10"`` -> ``"currency"``)."""
    from xsell_eval.metrics import METRICS

    spec = METRICS.get(metric.partition("@")[0])
    return spec.unit if spec is not None else ""
