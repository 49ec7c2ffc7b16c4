"""Confidence intervals and paired comparisons of per-query metrics.

- :func:`bootstrap_mean_ci` — percentile bootstrap CI of a mean (NaNs dropped).
- :func:`paired_comparison` — adapter A vs B on the same queries: paired bootstrap CI
  of the mean difference and of the relative difference, a paired test p-value
  (the bootstrap test from the same draws as the CI, Wilcoxon signed-rank with Pratt's
  treatment of zeros, or the paired t-test), and win/tie/loss counts.
- :func:`holm` — Holm's step-down correction (statsmodels), NaN-safe.
- :func:`compare_to_baseline` / :func:`summarize` — the tables the report shows;
  :func:`summarize_many` — several tables at once, each random draw made once for all of them.

Every interval is a percentile bootstrap. The resampling unit is the query (default of
these functions) or the customer (``clusters=`` / ``ci_unit="customer"``: the cluster
bootstrap of :mod:`xsell_eval.resampling`, where each drawn customer brings all of its
queries and guests are their own clusters; the default of ``xsell-eval compare``).
The bootstrap draws resample *counts*: for each resample, how often each of the units
was drawn. A chunk of count vectors times the data (or per-cluster sums) gives the
resampled means of every column at once (one BLAS product), so one set of draws serves
all metrics of a table. The draws depend only on ``(number of units, n_resamples, seed)``,
so :func:`summarize` and :func:`compare_to_baseline` give exactly the numbers of
:func:`bootstrap_mean_ci` / :func:`paired_comparison` called column by column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.metrics import METRICS, parse_metric
from xsell_eval.resampling import (
    CLUSTER_COLUMN,
    check_ci_unit,
    inversion_p_value,
    resampled_columns,
    resampled_columns_many,
)

Test = Literal["bootstrap", "wilcoxon", "ttest"]
TESTS: tuple[str, ...] = ("bootstrap", "wilcoxon", "ttest")


class MeanCI(NamedTuple):
    """Mean of the non-NaN values with its bootstrap CI and the number of values used."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class PairedComparison:
    """A vs B on the same queries (pairs where either value is NaN are dropped).

    Attributes:
        n: number of pairs used.
        mean_a, mean_b: means of A and B over those pairs.
        diff: ``mean_a - mean_b``; ``ci_low``/``ci_high`` its paired-bootstrap CI.
        rel_diff: ``diff / mean_b`` (NaN when ``mean_b == 0``); ``rel_ci_low``/
            ``rel_ci_high`` its paired-bootstrap CI (ratio of resampled means).
        p_value: two-sided p-value of the paired test (``test``); 1.0 when every
            difference is exactly 0; NaN when n == 0, or for the t-test when the
            difference is the same non-zero constant on every query (zero variance),
            or for the bootstrap test when the CI is NaN (fewer than 2 units).
        wins, ties, losses: queries where A > B, A == B, A < B.
        test: "bootstrap", "wilcoxon" or "ttest".
    """

    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    rel_diff: float
    rel_ci_low: float
    rel_ci_high: float
    p_value: float
    wins: int
    ties: int
    losses: int
    test: str


PAIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PairedComparison))


# --------------------------------------------------------------------------- checks
def _check_confidence(confidence: float) -> float:
    c = float(confidence)
    if not (0.0 < c < 1.0):
        raise ConfigError(f"`confidence` must be in (0, 1), got {confidence!r}")
    return c


def _check_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ConfigError(f"`n_resamples` must be an int >= 1, got {n_resamples!r}")
    return int(n_resamples)


def _check_test(test: str) -> Test:
    if test not in TESTS:
        raise ConfigError(f"`test` must be 'bootstrap', 'wilcoxon' or 'ttest', got {test!r}")
    return test  # type: ignore[return-value]


def _check_clusters(clusters: np.ndarray | Sequence[int] | None, n: int, where: str) -> np.ndarray | None:
    if clusters is None:
        return None
    g = np.asarray(clusters).ravel()
    if len(g) != n:
        raise DataError(f"{where}: `clusters` must have one id per value ({n}), got {len(g)}")
    from xsell_eval.resampling import cluster_codes

    return cluster_codes(g)


def _table_clusters(df: pd.DataFrame, ci_unit: str, where: str) -> np.ndarray | None:
    """Cluster codes of a per-query table's rows (``ci_unit="customer"``), or None (per-query)."""
    if check_ci_unit(ci_unit) == "query":
        return None
    if CLUSTER_COLUMN not in df.columns:
        raise DataError(
            f"{where}: the customer-clustered bootstrap (ci_unit='customer') needs a '{CLUSTER_COLUMN}' column "
            f"(customer number, -1 for guests) in the per-query metrics; have {list(df.columns)}. "
            "Use ci_unit='query' to resample queries instead."
        )
    from xsell_eval.resampling import cluster_codes

    return cluster_codes(df[CLUSTER_COLUMN].to_numpy())


def pair_on_queries(
    a: pd.DataFrame, b: pd.DataFrame, columns: Sequence[str], *, ci_unit: str
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Two per-query tables paired on the query id (``columns`` suffixed ``_a`` / ``_b``), and each pair's customer.

    The customers (``a``'s cluster column) come back only with ``ci_unit="customer"``, as the
    ``clusters`` of :func:`paired_comparison`; ``None`` resamples the pairs themselves.

    Raises:
        DataError: ``ci_unit`` is ``"customer"`` and ``a`` has no customer column.
    """
    clustered = check_ci_unit(ci_unit) == "customer"
    if clustered and CLUSTER_COLUMN not in a.columns:
        raise DataError(
            f"the per-query metrics have no '{CLUSTER_COLUMN}' column, needed by ci_unit='customer' "
            "(use ci_unit='query' for per-query tables without customers)"
        )
    keys = [C.QUERY, CLUSTER_COLUMN] if clustered else [C.QUERY]
    j = a[[*keys, *columns]].merge(b[[C.QUERY, *columns]], on=C.QUERY, suffixes=("_a", "_b"))
    return j, (j[CLUSTER_COLUMN].to_numpy() if clustered else None)


# --------------------------------------------------------------------------- bootstrap core
def _percentile_ci(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CI of each column of bootstrap replicates (NaN replicates ignored)."""
    alpha = 1.0 - confidence
    p = boot.shape[1]
    lo, hi = np.full(p, np.nan), np.full(p, np.nan)
    ok = np.isfinite(boot).any(axis=0)
    if ok.any():
        q = np.nanpercentile(boot[:, ok], [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
        lo[ok], hi[ok] = q[0], q[1]
    return lo, hi


def _finite_columns(
    x: np.ndarray, codes: np.ndarray | None
) -> tuple[list[np.ndarray], list[np.ndarray] | None, np.ndarray, np.ndarray]:
    """Each column's finite values (and their cluster codes), count and mean.

    A column without a non-finite value is used as it is (a view) with the table's own
    ``codes`` object, so the resampler compacts those codes once for all such columns.
    """
    cols: list[np.ndarray] = []
    ccs: list[np.ndarray] = []
    for j in range(x.shape[1]):
        ok = np.isfinite(x[:, j])
        full = bool(ok.all())
        cols.append(x[:, j] if full else x[ok, j])
        if codes is not None:
            ccs.append(codes if full else codes[ok])
    count = np.array([len(c) for c in cols], dtype=np.int64)
    mean = np.array([c.mean() if len(c) else np.nan for c in cols])
    return cols, (None if codes is None else ccs), count, mean


def _mean_cis(
    values: np.ndarray, *, confidence: float, n_resamples: int, seed: int | None, codes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise (mean, low, high, n) of an (n × p) matrix, non-finite values dropped per column.

    ``codes``: cluster code of each row (cluster bootstrap), or None (rows resampled).
    """
    return _mean_cis_many([(values, codes)], confidence=confidence, n_resamples=n_resamples, seed=seed)[0]


def _mean_cis_many(
    tables: Sequence[tuple[np.ndarray, np.ndarray | None]], *, confidence: float, n_resamples: int, seed: int | None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`_mean_cis` of several (matrix, codes) pairs, the bootstrap draws made once for all of them."""
    prepared = [_finite_columns(np.asarray(x, dtype=np.float64), codes) for x, codes in tables]
    boots = resampled_columns_many([(cols, ccs) for cols, ccs, _, _ in prepared], n_resamples, seed)
    out = []
    for (_, _, count, mean), boot in zip(prepared, boots, strict=True):
        low, high = _percentile_ci(boot, confidence)
        out.append((mean, low, high, count))
    return out


def bootstrap_mean_ci(
    values: np.ndarray | Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int | None,
    clusters: np.ndarray | Sequence[int] | None = None,
) -> MeanCI:
    """Mean and percentile-bootstrap confidence interval of the mean.

    NaN (and ±inf) values are dropped first; ``n`` is the number kept. With n == 0
    everything is NaN; with n == 1 (or a single cluster) the CI is NaN (no spread).

    Args:
        values: one value per query.
        confidence: two-sided level, e.g. 0.95 -> 2.5th and 97.5th percentiles.
        n_resamples: bootstrap resamples.
        seed: seed of the ``numpy.random.Generator`` that draws the resamples.
        clusters: customer id of each value (negative = guest, its own cluster) for the
            cluster bootstrap (ratio estimator, :mod:`xsell_eval.resampling`); None
            resamples the values.

    Returns:
        ``MeanCI(mean, low, high, n)``.

    Example:
        >>> r = bootstrap_mean_ci([0.0, 1.0, 1.0, float("nan")], seed=0)
        >>> round(r.mean, 4), r.n, 0.0 <= r.low <= r.mean <= r.high <= 1.0
        (0.6667, 3, True)
    """
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    x = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    codes = _check_clusters(clusters, len(x), "bootstrap_mean_ci")
    mean, low, high, n = _mean_cis(x, confidence=confidence, n_resamples=n_resamples, seed=seed, codes=codes)
    return MeanCI(float(mean[0]), float(low[0]), float(high[0]), int(n[0]))


# --------------------------------------------------------------------------- paired
def _p_value(d: np.ndarray, test: Test) -> float:
    if len(d) == 0:
        return float("nan")
    if not np.any(d != 0):
        return 1.0  # no difference at all: nothing to test (scipy would return NaN)
    if test == "wilcoxon":
        return float(sps.wilcoxon(d, zero_method="pratt", alternative="two-sided").pvalue)
    if len(d) < 2:
        return float("nan")
    if np.all(d == d[0]):
        return float("nan")  # constant non-zero difference: zero variance, t undefined
    return float(sps.ttest_1samp(d, 0.0).pvalue)  # == ttest_rel(a, b)


def _paired_from_boot(
    a: np.ndarray, b: np.ndarray, boot_a: np.ndarray, boot_b: np.ndarray, confidence: float, test: Test
) -> PairedComparison:
    """The comparison from the replicates of A and B (same draws); the bootstrap test reads them too."""
    n = len(a)
    if n == 0:
        nan = float("nan")
        return PairedComparison(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0, 0, 0, test)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    diff = mean_a - mean_b
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = diff / mean_b if mean_b != 0 else float("nan")
        d_boot = boot_a - boot_b
        r_boot = np.where(boot_b != 0, d_boot / np.where(boot_b != 0, boot_b, 1.0), np.nan)
    if n >= 2:
        lo, hi = _percentile_ci(np.column_stack([d_boot, r_boot]), confidence)
        ci = (float(lo[0]), float(hi[0]))
        rci = (float(lo[1]), float(hi[1])) if np.isfinite(rel) else (float("nan"), float("nan"))
    else:
        ci = rci = (float("nan"), float("nan"))
    d = a - b
    if test != "bootstrap":
        p_value = _p_value(d, test)
    elif not np.any(d != 0):
        p_value = 1.0  # no difference at all (as for the other tests)
    else:  # the test that inverts the percentile CI above, from the same draws
        p_value = inversion_p_value(d_boot, estimate=diff) if np.isfinite(ci[0]) else float("nan")
    return PairedComparison(
        n=n,
        mean_a=mean_a,
        mean_b=mean_b,
        diff=diff,
        ci_low=ci[0],
        ci_high=ci[1],
        rel_diff=float(rel),
        rel_ci_low=rci[0],
        rel_ci_high=rci[1],
        p_value=p_value,
        wins=int((d > 0).sum()),
        ties=int((d == 0).sum()),
        losses=int((d < 0).sum()),
        test=test,
    )


def _finite_pairs(
    a: np.ndarray, b: np.ndarray, codes: np.ndarray | None
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray] | None]:
    """Per column of two (n × p) matrices, the pairs where both are finite, and their cluster codes.

    A column where no pair is dropped is used as it is (a view) with the table's own ``codes``
    object, so the resampler compacts those codes once for all such columns.
    """
    valid = np.isfinite(a) & np.isfinite(b)
    full = valid.all(axis=0)
    p = a.shape[1]
    ca = [a[:, j] if full[j] else a[valid[:, j], j] for j in range(p)]
    cb = [b[:, j] if full[j] else b[valid[:, j], j] for j in range(p)]
    cc = None if codes is None else [codes if full[j] else codes[valid[:, j]] for j in range(p)]
    return ca, cb, cc


def _paired_many(
    a: np.ndarray,
    b: np.ndarray,
    *,
    seed: int | None,
    n_resamples: int,
    confidence: float,
    test: Test,
    codes: np.ndarray | None = None,
) -> list[PairedComparison]:
    """Column-wise paired comparisons of two (n × p) matrices (pairs with a NaN dropped per column)."""
    p = a.shape[1]
    ca, cb, cc = _finite_pairs(a, b, codes)
    boot = resampled_columns(ca + cb, n_resamples, seed, None if cc is None else cc * 2)  # pairs keep their rows
    return [_paired_from_boot(ca[j], cb[j], boot[:, j], boot[:, p + j], confidence, test) for j in range(p)]


def paired_comparison(
    a: np.ndarray | Sequence[float],
    b: np.ndarray | Sequence[float],
    *,
    seed: int | None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    test: Test = "wilcoxon",
    clusters: np.ndarray | Sequence[int] | None = None,
) -> PairedComparison:
    """Compare A with B query by query (``a[i]`` and ``b[i]`` belong to the same query).

    The CI of the mean difference is a paired percentile bootstrap: queries (or, with
    ``clusters``, customers with all their queries) are resampled with replacement and
    the *same* resample is applied to A and B, so the correlation between the two
    adapters on a query is kept. The relative difference ``diff / mean_b`` gets its CI
    from the same resamples (ratio of resampled means).

    ``test="bootstrap"`` takes the p-value from those same resamples
    (:func:`~xsell_eval.resampling.inversion_p_value`): p < 1 − confidence exactly when
    the CI excludes 0 (for 1 − confidence ≥ 10/n_resamples; below 10/n_resamples, beyond
    the resolution of the draws, the normal approximation from the same draws may lower
    p, never above the inversion value). The rank and t tests treat queries as independent whatever
    ``clusters`` says. The p-value comes from ``scipy.stats.wilcoxon(a - b, zero_method="pratt")``
    (default) or the paired t-test otherwise. Per-query ranking metrics are mostly 0 for both adapters, so
    most differences are exactly zero: Pratt's method ranks those zeros with the rest
    and then leaves them out of the statistic; with binary metrics such as hit_rate it
    reduces to the sign test on the discordant queries (as McNemar's test does).
    ``"zsplit"`` counts each zero half as a win and half as a loss, which dilutes the
    test in proportion to the share of zeros (p 0.08 instead of 0.02 on a 12% vs 11%
    hit-rate example with 20,000 queries), and ``"wilcox"`` drops zeros before ranking.

    Args:
        a, b: per-query values of the same length; pairs with NaN/inf are dropped.
        seed: seed of the bootstrap generator.
        n_resamples: bootstrap resamples.
        confidence: two-sided CI level.
        test: ``"wilcoxon"`` (signed-rank, robust to skewed values such as revenue),
            ``"ttest"`` (paired t-test on the mean difference) or ``"bootstrap"`` (the
            paired bootstrap test of the mean difference, agreeing with the CI).
        clusters: customer id of each pair (negative = guest) for the cluster bootstrap;
            None resamples pairs.

    Raises:
        DataError: ``a`` and ``b`` differ in length.
        ConfigError: invalid confidence, n_resamples or test.

    Example:
        >>> r = paired_comparison([1, 1, 0, 1, 0, 1], [0, 1, 0, 0, 0, 1], seed=0)
        >>> r.n, r.diff, (r.wins, r.ties, r.losses)
        (6, 0.3333333333333333, (2, 4, 0))
    """
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    test = _check_test(test)
    xa = np.asarray(a, dtype=np.float64).ravel()
    xb = np.asarray(b, dtype=np.float64).ravel()
    if xa.shape != xb.shape:
        raise DataError(f"paired_comparison: a and b must have the same length, got {len(xa)} and {len(xb)}")
    codes = _check_clusters(clusters, len(xa), "paired_comparison")
    return _paired_many(
        xa[:, None], xb[:, None], seed=seed, n_resamples=n_resamples, confidence=confidence, test=test, codes=codes
    )[0]


def holm(p_values: np.ndarray | Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (``statsmodels`` ``multipletests(method="holm")``).

    NaN p-values stay NaN and do not count among the tested hypotheses.

    Example:
        >>> holm([0.01, 0.04, float("nan"), 0.03]).round(3).tolist()
        [0.03, 0.06, nan, 0.06]
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


# --------------------------------------------------------------------------- tables
def _metric_columns(df: pd.DataFrame, metrics: Sequence[str], where: str) -> list[str]:
    cols = []
    for m in metrics:
        name, k = parse_metric(m)
        col = f"{name}@{k}"
        if col not in df.columns:
            raise ConfigError(f"{where}: no column '{col}' in the per-query metrics (have {list(df.columns)})")
        cols.append(col)
    return cols


def summarize(
    per_query: pd.DataFrame,
    metrics: Sequence[str],
    *,
    seed: int | None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    ci_unit: str = "query",
) -> pd.DataFrame:
    """Mean and bootstrap CI of each metric column of a per-query table.

    ``ci_unit="customer"`` resamples customers (the table's ``customer`` column, -1 =
    guest) instead of queries.

    Returns:
        DataFrame with columns ``metric, mean, ci_low, ci_high, n`` (one row per metric,
        in the given order); each row equals :func:`bootstrap_mean_ci` of that column.
    """
    return summarize_many(
        [(per_query, metrics)], seed=seed, confidence=confidence, n_resamples=n_resamples, ci_unit=ci_unit
    )[0]


def summarize_many(
    tables: Sequence[tuple[pd.DataFrame, Sequence[str]]],
    *,
    seed: int | None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    ci_unit: str = "query",
) -> list[pd.DataFrame]:
    """``[summarize(df, metrics, ...) for df, metrics in tables]``, with the bootstrap draws made once.

    Each table keeps its own resamples and products, so every frame is bit-identical to its
    own :func:`summarize` call; tables over the same number of units (the summaries of several
    adapters on the same queries, one bucket of every adapter) share the random draws instead
    of redrawing them, which is most of the cost at scale.
    """
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    inputs: list[tuple[np.ndarray, np.ndarray | None]] = []
    names: list[list[str]] = []
    for per_query, metrics in tables:
        cols = _metric_columns(per_query, metrics, "summarize")
        codes = _table_clusters(per_query, ci_unit, "summarize")
        x = per_query[cols].to_numpy(dtype=np.float64) if cols else np.empty((len(per_query), 0))
        inputs.append((x, codes))
        names.append(cols)
    results = _mean_cis_many(inputs, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return [
        pd.DataFrame({"metric": cols, "mean": mean, "ci_low": low, "ci_high": high, "n": n.astype(np.int64)})
        for cols, (mean, low, high, n) in zip(names, results, strict=True)
    ]


def compare_to_baseline(
    per_query: Mapping[str, pd.DataFrame],
    baseline: str,
    metrics: Sequence[str],
    *,
    seed: int | None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    test: Test = "wilcoxon",
    ci_unit: str = "query",
) -> pd.DataFrame:
    """Every adapter against the baseline on the same queries, Holm-corrected.

    For each adapter other than ``baseline``, its per-query table is inner-joined with
    the baseline's on ``query_id`` (``n_joined`` says how many queries both have),
    and each metric is compared with :func:`paired_comparison` (pairs with a NaN are
    dropped, ``n`` counts the rest). ``p_holm`` applies Holm's correction across all
    adapters × metrics of the table; ``significant`` is ``p_holm < alpha``; ``mark`` is
    "▲" (significantly better), "▼" (significantly worse) or "" (not significant),
    "better" following the metric's ``higher_is_better``.

    Args:
        per_query: adapter name -> output of :func:`~xsell_eval.metrics.per_query_metrics`.
        baseline: the reference adapter (a key of ``per_query``).
        metrics: metric specs such as ``["hit_rate@10", "revenue@10"]``.
        seed: bootstrap seed (the same draws for every adapter: common random numbers).
        alpha: family-wise error rate for ``significant``.
        test: the paired test (see :func:`paired_comparison`); Holm applies to its p-values.
        ci_unit: ``"query"`` or ``"customer"`` (resample the baseline table's ``customer``
            clusters; the same draws for A and B).

    Returns:
        One row per (adapter, metric): ``adapter, metric, n_joined`` + the
        :class:`PairedComparison` fields + ``p_holm, significant, mark``.

    Raises:
        UnknownNameError: ``baseline`` is not among the adapters, or a metric is unknown.
        ConfigError: a metric column is missing, or alpha is not in (0, 1).
    """
    from xsell_eval.errors import unknown_name

    if baseline not in per_query:
        raise unknown_name("baseline adapter", baseline, per_query)
    if not (0.0 < float(alpha) < 1.0):
        raise ConfigError(f"`alpha` must be in (0, 1), got {alpha!r}")
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    test = _check_test(test)
    base = per_query[baseline]
    cols = _metric_columns(base, metrics, f"baseline '{baseline}'")
    base_codes = _table_clusters(base, ci_unit, f"baseline '{baseline}'")
    clustered = base_codes is not None
    base_q = base[C.QUERY].to_numpy()
    base_keys = [C.QUERY, CLUSTER_COLUMN] if clustered else [C.QUERY]
    if base[C.QUERY].duplicated().any():
        raise DataError(f"baseline '{baseline}': duplicated query_id in its per-query metrics")
    keys: list[tuple[str, str, int]] = []
    xa_parts: list[np.ndarray] = []
    xb_parts: list[np.ndarray] = []
    code_parts: list[np.ndarray] = []
    for name, df in per_query.items():
        if name == baseline:
            continue
        _metric_columns(df, metrics, f"adapter '{name}'")
        if df[C.QUERY].duplicated().any():
            raise DataError(f"adapter '{name}': duplicated query_id in its per-query metrics")
        aligned = np.array_equal(df[C.QUERY].to_numpy(), base_q)  # same queries, same order: the join is the identity
        if aligned:
            n_joined = len(base)
            xa = df[cols].to_numpy(dtype=np.float64)
            xb = base[cols].to_numpy(dtype=np.float64)
            codes = base_codes
        else:
            joined = base[[*base_keys, *cols]].merge(
                df[[C.QUERY, *cols]], on=C.QUERY, how="inner", suffixes=("_b", "_a")
            )
            n_joined = len(joined)
            xa = joined[[f"{c}_a" for c in cols]].to_numpy(dtype=np.float64)
            xb = joined[[f"{c}_b" for c in cols]].to_numpy(dtype=np.float64)
            codes = _table_clusters(joined, ci_unit, f"adapter '{name}'")
        ca, cb, cc = _finite_pairs(xa, xb, codes)
        xa_parts += ca
        xb_parts += cb
        code_parts += cc or []
        keys += [(name, col, n_joined) for col in cols]
    # one bootstrap pass per distinct set of units over every adapter × metric (common random numbers)
    m = len(keys)
    boot = resampled_columns(xa_parts + xb_parts, n_resamples, seed, code_parts * 2 if clustered else None)
    rows: list[dict[str, object]] = []
    for j, (name, col, n_joined) in enumerate(keys):
        res = _paired_from_boot(xa_parts[j], xb_parts[j], boot[:, j], boot[:, m + j], confidence, test)
        rows.append({C.ADAPTER: name, "metric": col, "n_joined": n_joined, **asdict(res)})
    columns = [C.ADAPTER, "metric", "n_joined", *PAIRED_FIELDS, "p_holm", "significant", "mark"]
    out = pd.DataFrame(rows, columns=columns[:-3])
    out["p_holm"] = holm(out["p_value"].to_numpy(dtype=np.float64)) if len(out) else np.array([], dtype=float)
    out["significant"] = (out["p_holm"] < alpha).to_numpy(dtype=bool)
    better = np.array([METRICS[parse_metric(m)[0]].higher_is_better for m in out["metric"]], dtype=bool)
    up = np.where(better, out["diff"].to_numpy() > 0, out["diff"].to_numpy() < 0)
    down = np.where(better, out["diff"].to_numpy() < 0, out["diff"].to_numpy() > 0)
    sig = out["significant"].to_numpy(dtype=bool)
    out["mark"] = np.where(sig & up, "▲", np.where(sig & down, "▼", ""))
    return out[columns]
