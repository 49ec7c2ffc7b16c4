"""Markdown report of an offline comparison: the decision first, then the evidence.

A pure renderer: :func:`render_markdown` is a function of one
:class:`~xsell_eval.pipeline.CompareResult` — the parts that
:func:`~xsell_eval.results.read_run` restores from a run directory — with no clock,
no working directory and no randomness, so the report written at the end of a run
and ``xsell-eval report RUN_DIR`` give the same bytes.

Layout::

    # title, one line of context
    ## Decision            what to do, how sure, what it is worth, what an A/B test needs
                           + a scoreboard of every adapter on the primary metric
    ## Head to head        when two candidates tie: the tie-break table and its pick
    ## Terms used          one plain line per term
    ## Results at k        metric table with CIs and marks; plots; paired differences (win/tie/loss)
    ## Business metrics    revenue, basket value uplift, coverage, novelty, diversity
    ## Example recommendations  each adapter's top 5 for frequent anchors and real carts (when stored)
    ## Cold start          tables by user history and item popularity; bar plot
    ## Fairness and popularity bias  exposure, customer-group gaps (when computed: report.fairness_section)
    ## Simulated A/B test  (when the run has one: xsell_eval.report.abtest)
    ## Tuning              (when the run has one: xsell_eval.report.tuning)
    ## Adapters            parameters, timings, fallback share, errors
    ## Data                data card with the cleaning rules
    ## Split, protocol and leakage audit
    ## Caveats             what offline metrics cannot show; what this run assumed
    ## More cut-offs       the metric tables at the other k
    ## Provenance          fingerprints, hashes, versions, the exact command

The numbers of the decision come from ``result.decision`` (:func:`xsell_eval.decision.decide`,
computed when the result is assembled, with the paired test of the winner against the
runner-up); a result assembled by hand without one gets it computed at render time.
Sections live in :mod:`~xsell_eval.report.decision_section` and
:mod:`~xsell_eval.report.sections`; every number is formatted by :mod:`~xsell_eval.report._format`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from xsell_eval._lookup import primary_k
from xsell_eval.report.decision_section import decision_section, scoreboard
from xsell_eval.report.engine_section import engine_header, is_spark, not_computed, not_computed_section
from xsell_eval.report.examples_section import examples_section
from xsell_eval.report.fairness_section import fairness_parts
from xsell_eval.report.plots import ci_label as _lvl
from xsell_eval.report.plots import cold_start_metric, planned_plots
from xsell_eval.report.sections import (
    GLOSSARY,
    _cold_start_intro,
    _experiment_lines,
    _optional_section,
    _split_section,
    _title,
    adapters_table,
    aggregates_table,
    bucket_tables,
    business_section,
    caveats,
    comparison_table,
    metric_table,
    query_unit,
    terms_section,
)
from xsell_eval.report.statistics_section import interval_sentence, reveal_seeds_section, test_phrase
from xsell_eval.result import AdapterOutcome, CompareResult

__all__ = [
    "GLOSSARY",
    "adapters_table",
    "business_section",
    "caveats",
    "decision_section",
    "metric_table",
    "normalised",
    "query_unit",
    "render_markdown",
    "render_run_report",
    "scoreboard",
]


def normalised(result: CompareResult) -> CompareResult:
    """The result as the run directory stores it (JSON parts round-tripped), so memory and disk render alike."""
    from xsell_eval.results import extra_dict, parts_from_extra, plain

    return replace(
        result,
        manifest=plain(result.manifest),
        data_card=plain(result.data_card),
        split=plain(result.split),
        audit=plain(result.audit),
        adapters=tuple(AdapterOutcome.from_dict(plain(a.to_dict())) for a in result.adapters),
        **parts_from_extra(plain(extra_dict(result.with_decision() if result.decision is None else result))),
    )


def render_markdown(result: CompareResult, *, run_dir: str | Path | None = None) -> str:
    """The full report (pure: the same result gives the same text).

    Args:
        result: the comparison (in memory, or from :func:`~xsell_eval.results.read_run`).
        run_dir: ignored (kept for compatibility); figures are referenced relatively
            (``plots/*.png``), drawn by :func:`xsell_eval.report.plots.write_plots`.
    """
    lvl = _lvl(result.config.confidence)  # the confidence level of every interval
    del run_dir
    result = normalised(result)
    cfg = result.config
    k = primary_k(result)
    plots = planned_plots(result)
    parts: list[str] = [
        *_title(result),
        *engine_header(result),  # Spark runs only: engine, master, lines after cleaning
        "",
        decision_section(result),
        "",
        *_head_to_head_parts(result),
        "## Terms used",
        "",
        terms_section(result),
        "",
    ]
    parts += [
        f"## Results at k = {k}",
        "",
        f"Mean per query with a {lvl} bootstrap confidence interval [low, high]; shares are 0–1. ▲/▼: better/worse "
        f"than `{cfg.baseline}` after Holm correction (paired test on the same queries); no mark: not distinguishable. "
        + interval_sentence(cfg),
        "",
        metric_table(result, k),
        "",
    ]
    if "metric_vs_k" in plots:
        parts += [f"![{cfg.primary_metric.partition('@')[0]} by cut-off k, {lvl} CI]({plots['metric_vs_k']})", ""]
    parts += [
        f"### Against `{cfg.baseline}`, query by query (k = {k})",
        "",
        f"Difference of means (candidate − baseline) with a paired bootstrap {lvl} CI, relative difference, "
        f"{test_phrase(cfg)}, Holm-adjusted p-value, and win/tie/loss: test queries where the candidate scored "
        "higher / the same / lower.",
        "",
        comparison_table(result),
        "",
    ]
    if "lift" in plots:
        parts += [f"![Relative difference vs {cfg.baseline} with {lvl} CI]({plots['lift']})", ""]
    if reveal_seeds_section(result):
        parts += [reveal_seeds_section(result), ""]
    parts += ["## Business metrics", "", business_section(result), ""]
    parts += examples_section(result)
    parts += not_computed_section(result, "examples", "## Example recommendations")  # Spark runs only
    parts += ["## Cold start", "", _cold_start_intro(result), "", bucket_tables(result), ""]
    if "cold_start" in plots:
        parts += [f"![{cold_start_metric(result)} by cold-start group, {lvl} CI]({plots['cold_start']})", ""]
    if is_spark(result):
        parts += [not_computed(result, "item_popularity"), ""]
    parts += fairness_parts(result)  # "## Fairness and popularity bias" (xsell_eval.report.fairness_section)
    parts += not_computed_section(result, "fairness", "## Fairness and popularity bias")  # Spark runs only
    for sec in _optional_section(result):
        parts += [sec]
    parts += ["## Adapters", "", adapters_table(result), ""]
    if is_spark(result):
        parts += [not_computed(result, "latency"), ""]
    parts += ["## Data", "", result.data_card_md.rstrip("\n"), ""]
    parts += ["## Split, protocol and leakage audit", "", *_split_section(result), ""]
    if is_spark(result) and not result.audit:
        parts += [not_computed(result, "audit"), ""]
    parts += ["## Caveats: what offline metrics cannot show", "", *caveats(result), ""]
    other_ks = [x for x in cfg.ks if x != k]
    if other_ks or aggregates_table(result):
        parts += ["## More cut-offs", ""]
        for x in other_ks:
            parts += [f"### Results at k = {x}", "", metric_table(result, x), ""]
        agg = aggregates_table(result)
        if agg:
            parts += ["### Catalog coverage at every k", "", agg, ""]
    ds = result.manifest.get("dataset", {})
    parts += [
        "## Provenance",
        "",
        f"- Data `{ds.get('name', '?')}` from `{ds.get('source', '?')}`, fingerprint "
        + (f"`{ds.get('fingerprint', '?')}`" if not is_spark(result) else "not computed on the Spark engine"),
        f"- Config hash `{cfg.hash}`, seed {cfg.seed}, bootstrap resamples {cfg.n_bootstrap:,}, "
        f"git revision `{result.manifest.get('git_revision') or 'unknown'}`",
        *_experiment_lines(result),
        "- Packages: " + ", ".join(f"{k_} {v}" for k_, v in sorted(result.manifest.get("packages", {}).items())),
        *_reproduce_lines(result),
    ]
    return "\n".join(parts)


def _head_to_head_parts(result: CompareResult) -> list[str]:
    """The *Head to head* section and a blank line, when the decision is a tie (else nothing)."""
    from xsell_eval.report.headtohead_section import head_to_head_section

    sec = head_to_head_section(result)
    return [] if sec is None else [sec, ""]


def _reproduce_lines(result: CompareResult) -> list[str]:
    """The command that ran (as typed), or an equivalent one for a run started from Python."""
    from xsell_eval.command import equivalent_command

    exp = result.experiment
    typed = result.command or (exp.command if exp is not None else None)
    equivalent = equivalent_command(result.config, result.tuning)
    if typed and exp is not None:
        return [
            "- Reproduce (the experiment file and overrides above):",
            "",
            "```",
            typed,
            "```",
            "",
            "- The comparison alone (no cleaning switches, A/B simulation or tuning settings):",
            "",
            "```",
            equivalent,
            "```",
            "",
        ]
    if typed:
        return ["- Reproduce (the command as typed):", "", "```", typed, "```", ""]
    return ["- Reproduce:", "", "```", equivalent, "```", ""]


def render_run_report(result: CompareResult, run_dir: str | Path) -> str:
    """Draw the figures into ``run_dir/plots`` and return the Markdown (which references them)."""
    from xsell_eval.report.plots import write_plots

    result = normalised(result)
    write_plots(result, run_dir)
    return render_markdown(result)
