"""A Spark comparison as the report's :class:`~xsell_eval.result.CompareResult`: one report for both engines.

:func:`compare_result` turns a :class:`~xsell_eval.spark.engine.SparkCompareResult` (statistics
already computed on the collected per-query tables) into the value that
:func:`xsell_eval.results.write_run` writes and :mod:`xsell_eval.report.markdown` renders, so a
Spark run directory has the same files and the same report as a pandas one. No Spark job runs
here: everything comes from what the engine collected.

What the Spark engine does not compute is left empty *and marked* (``manifest["engine"]``), so
the report says "not computed on the Spark engine" instead of showing an empty section
(:mod:`xsell_eval.report.engine_section`): example lists, fairness, the item-popularity
cold-start table, serving latency and the data fingerprint.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell_eval.result import CompareResult

if TYPE_CHECKING:
    from xsell_eval.spark.engine import SparkCompareResult

__all__ = ["compare_result", "loader_of", "spark_data_card"]

_CHOSEN = re.compile(r"^loader '([^']+)' chosen automatically")


def loader_of(config_loader: str, notes: list[str] | tuple[str, ...]) -> str:
    """The loader that read the data: the configured one, or the one ``auto`` chose (from its cleaning note)."""
    if config_loader != "auto":
        return config_loader
    for n in notes:
        m = _CHOSEN.match(str(n))
        if m:
            return m.group(1)
    return ""


def spark_data_card(result: SparkCompareResult) -> tuple[dict[str, Any], str]:
    """The data card of a Spark run (dict, Markdown): counts known on the driver and the cleaning table.

    The pandas data card's distributions (basket size, prices, basket value, baskets per customer,
    guest shares) would each need a Spark job over every line; they are named as not computed.
    """
    facts = dict(result.data)
    cleaning = dict(result.cleaning)
    train, test = result.split.get("train") or {}, result.split.get("test") or {}
    card = {
        "name": facts.get("name", "?"),
        "loader": loader_of(result.config.loader, tuple(cleaning.get("notes") or ())),
        "source": facts.get("source", ""),
        "lines": facts.get("lines"),
        "catalog_items": facts.get("catalog_items"),
        "users": facts.get("users"),
        "baskets": facts.get("baskets"),
        "date_min": train.get("start"),
        "date_max": test.get("end"),
        "engine": "spark",
        "cleaning": cleaning,
    }

    def n(x: Any) -> str:
        return "?" if x is None else f"{int(x):,}"

    rows = [
        ("source", f"`{card['source']}`" + (f" (loader {card['loader']})" if card["loader"] else "")),
        ("lines (after cleaning)", n(card["lines"])),
        ("lines read", n(cleaning.get("rows_in"))),
        ("customers", n(card["users"])),
        ("items in the index", n(card["catalog_items"])),
        ("baskets", n(card["baskets"])),
        ("first / last line", f"{card['date_min'] or '?'} / {card['date_max'] or '?'}"),
        (
            "distributions (basket size, prices, basket value, guests)",
            "not computed on the Spark engine (each would be one more Spark job over every line)",
        ),
    ]
    out = [f"### Data: {card['name']}", "", "| statistic | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    steps = cleaning.get("steps") or []
    if steps:
        out += ["", "#### Cleaning", "", "| # | rule | policy | matched | dropped | note |"]
        out.append("|---|---|---|---:|---:|---|")
        for i, s in enumerate(steps, 1):
            out.append(
                f"| {i} | {s['rule']} | {s['policy']} | {s['rows_matched']:,} | {s['rows_dropped']:,} | {s['note']} |"
            )
    notes = cleaning.get("notes") or []
    if notes:
        out += ["", *(f"- {x}" for x in notes)]
    return card, "\n".join(out)


def _manifest(result: SparkCompareResult, command: str | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from xsell_eval.pipeline import git_revision, package_versions
    from xsell_eval.results import FORMAT_VERSION

    packages = package_versions()
    with contextlib.suppress(PackageNotFoundError):  # a Spark run has pyspark
        packages["pyspark"] = version("pyspark")
    cfg = result.config
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "xsell_eval_version": __import__("xsell_eval").__version__,
        "dataset": {
            "name": result.data.get("name", "?"),
            "fingerprint": None,  # not computed: hashing every line of a lake is a job of its own
            "source": cfg.data or "embedded:online_retail",
        },
        "seed": cfg.seed,
        "config_hash": cfg.hash,
        "git_revision": git_revision(),
        "packages": packages,
        "timings_seconds": {
            **result.timings,
            **{f"adapter:{o.name}:fit": o.fit_seconds for o in result.outcomes},
            **{f"adapter:{o.name}:recommend": o.recommend_seconds for o in result.outcomes},
        },
        "engine": {"name": "spark", "master": result.master},
    }
    if command:
        out["command"] = command
    return out


def compare_result(result: SparkCompareResult, *, command: str | None = None) -> CompareResult:
    """The :class:`CompareResult` of a Spark comparison, with its decision (no Spark job runs).

    Estimates and comparisons are the engine's; the cold-start table by user history is
    computed here from the per-query tables (their ``user_history`` column), exactly as the
    pandas engine does; the decision and head-to-head use the long per-query table.
    """
    from xsell_eval.pipeline import _bucket_tables

    cfg = result.config
    outcomes = list(result.outcomes)
    per_query = {o.name: o.per_query for o in outcomes if o.ok and o.per_query is not None}
    pq_frame = (
        pd.concat([pq.assign(adapter=name) for name, pq in per_query.items()], ignore_index=True)
        if per_query
        else pd.DataFrame()
    )
    agg_rows = [(o.name, m, v) for o in outcomes if o.ok for m, v in o.aggregates.items() if m.startswith("coverage@")]
    card, card_md = spark_data_card(result)
    out = CompareResult(
        config=cfg,
        manifest=_manifest(result, command),
        data_card=card,
        data_card_md=card_md,
        split=dict(result.split),
        audit=dict(result.audit),  # empty for a result made without it: the report then says "not computed"
        n_queries=int(result.n_queries),
        estimates=result.estimates,
        comparisons=result.comparisons,
        buckets=_bucket_tables(outcomes, cfg),  # user history only: no per-item-group tables on Spark
        aggregates=pd.DataFrame(agg_rows, columns=["adapter", "metric", "value"]),
        adapters=tuple(o.light() for o in outcomes),
        per_query_frame=pq_frame,
        command=command,
    )
    return out.with_decision()
