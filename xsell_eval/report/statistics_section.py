"""How the report's intervals and tests were computed: the resampling unit and the paired test.

Sentences the results section reads (:func:`interval_sentence`, :func:`test_phrase`), so the
report always states which unit the bootstrap resampled (customers or queries) and which test
gave the p-values (docs/statistics.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
