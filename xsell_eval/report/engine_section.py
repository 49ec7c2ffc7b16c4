"""What the report says about the engine that ran the comparison (``compare --engine spark``).

A pandas run's manifest has no ``engine`` entry and every function here returns nothing, so its
report is unchanged. A Spark run's manifest has ``{"name": "spark", "master": ...}``: the header
names the engine and the data, and each part the Spark engine does not compute says so with its
reason (:data:`NOT_COMPUTED`) instead of being left out or shown empty.
"""

from __future__ import annotations

from typing import Any

from xsell_eval.result import CompareResult

__all__ = ["NOT_COMPUTED", "engine_header", "engine_of", "is_spark", "not_computed", "not_computed_section"]

NOT_COMPUTED: dict[str, str] = {
    "examples": "the recommendation lists stay in Spark; only the per-query metric table reaches the driver",
    "fairness": "item exposure and customer-group gaps need every adapter's full lists on the driver, which the "
    "Spark engine does not collect",
    "item_popularity": "the *target item popularity* table needs one more Spark scoring pass per item group and "
    "adapter; the table by user history above comes from the per-query metrics",
    "audit": "the leakage audit's counts are not computed by the Spark engine; its split is a global time cutoff, "
    "so every training line precedes every test line by construction",
    "latency": "serving latency (one shopper at a time) is not measured on the Spark engine, which answers all "
    "test queries in one batch job; fit and recommend times are wall times of Spark jobs",
    "fingerprint": "not computed on the Spark engine (it would read every line once more)",
}
"""Why each part of the report is absent from a Spark run, in one plain sentence."""


def engine_of(result: CompareResult) -> dict[str, Any]:
    """``manifest["engine"]`` (``name``, ``master``), or ``{}`` for a pandas run."""
    e = result.manifest.get("engine")
    return dict(e) if isinstance(e, dict) else {}


def is_spark(result: CompareResult) -> bool:
    """True for a run of the Spark engine."""
    return engine_of(result).get("name") == "spark"


def engine_header(result: CompareResult) -> list[str]:
    """The report's engine line (after the title), e.g. ``Engine: Spark, master `local[2]`; data: ...``."""
    if not is_spark(result):
        return []
    card = result.data_card or {}
    rows_in = (card.get("cleaning") or {}).get("rows_in")

    def n(x: Any) -> str:
        return "?" if x is None else f"{int(x):,}"

    read = f" of {n(rows_in)} read" if rows_in is not None else ""
    return [
        "",
        f"*Engine: **Spark, master `{engine_of(result).get('master', '?')}`**; data: {n(card.get('lines'))} lines "
        f"after cleaning{read}, {n(card.get('baskets'))} baskets, {n(card.get('users'))} customers. Parts the Spark "
        'engine does not compute say "not computed on the Spark engine".*',
    ]


def not_computed(result: CompareResult, part: str) -> str:
    """``_Not computed on the Spark engine: <reason>._`` for a Spark run, else ``""``."""
    if not is_spark(result):
        return ""
    return f"_Not computed on the Spark engine: {NOT_COMPUTED[part]}._"


def not_computed_section(result: CompareResult, part: str, heading: str) -> list[str]:
    """A whole section (heading, the not-computed sentence, blank line) for a Spark run, else ``[]``."""
    line = not_computed(result, part)
    return [heading, "", line, ""] if line else []
