"""How the report's intervals and tests were computed, and what they leave out.

Sentences the results section reads (:func:`interval_sentence`, :func:`test_phrase`), so the
report always states which unit the bootstrap resampled (customers or queries) and which test
gave the p-values (docs/statistics.md); and, with ``--reveal-seeds``, the table of the primary
metric's spread across reveals next to its CI (:func:`reveal_seeds_section`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xsell_eval.result import CompareResult
    from xsell_eval.settings import CompareConfig


def interval_sentence(config: CompareConfig) -> str:
    """One sentence: what the bootstrap resampled (``config.ci_unit``)."""
    if config.ci_unit == "customer":
        return (
            "Intervals and paired comparisons resample customers (cluster bootstrap: a drawn customer brings all "
            "of their test queries, each guest counts as a customer of their own), so the several baskets of one "
            "customer do not count as independent evidence."
        )
    return (
        "Intervals and paired comparisons resample test queries as if independent (`--ci-unit query`); queries "
        "of the same customer are correlated, so these intervals can be too narrow (the default resamples customers)."
    )


def test_phrase(config: CompareConfig) -> str:
    """Names the paired test whose p-values the comparison table shows (``config.test``)."""
    if config.test == "bootstrap":
        return (
            "bootstrap p-value from the same paired resamples as the CI (below 1 − confidence exactly when the CI "
            f"excludes 0; the smallest reportable value is 1/{config.n_bootstrap:,})"
        )
    if config.test == "ttest":
        return "paired t-test p-value"
    return "Wilcoxon signed-rank p-value"


def reveal_seeds_section(result: CompareResult) -> str:
    """The between-seed spread of the primary metric next to its bootstrap CI; "" without ``--reveal-seeds``.

    The first reveal is the run's own (its mean and CI are those of the results table); the
    others come from :attr:`~xsell_eval.result.AdapterOutcome.reveal_seed_values`.
    """
    from xsell_eval._lookup import row
    from xsell_eval.report._format import ci, fmt, table
    from xsell_eval.reveal import seed_spread

    cfg = result.config
    prim = cfg.primary_metric
    rows = []
    for o in result.adapters:
        if not o.ok or not o.reveal_seed_values:
            continue
        r = row(result.estimates, adapter=o.name, metric=prim)
        if r is None:
            continue
        s = seed_spread([float(r["mean"]), *o.reveal_seed_values])
        rows.append(
            [
                f"`{o.name}`",
                ci(r["mean"], r["ci_low"], r["ci_high"]),
                fmt(s.mean),
                fmt(s.sd),
                f"{fmt(s.low)} – {fmt(s.high)}",
            ]
        )
    if not rows:
        return ""
    n = cfg.reveal_seeds
    return "\n".join(
        [
            f"### The reveal is random too: {n} reveals of the same test baskets",
            "",
            f"Basket completion shows a seeded random part of each test basket as the cart; {n} seeds showed "
            f"different items of the same baskets to the same fitted adapters. {prim} on the run's own reveal with "
            f"its bootstrap CI, then its mean, standard deviation and range over the {n} reveals. The CI is about "
            "which customers happened to shop; the spread across reveals is a separate source of variation that the "
            "CI does not include.",
            "",
            table(
                ["adapter", f"{prim}, this reveal [CI]", f"mean over {n}", "sd between reveals", "min – max"],
                rows,
            ),
        ]
    )
