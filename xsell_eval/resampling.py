"""Bootstrap resampling of per-query values, by query or by customer (cluster bootstrap).

Queries are not independent: a customer with several test baskets gives several queries,
and an adapter that suits that customer scores on all of them. Resampling queries as if
they were independent then understates the uncertainty. The *cluster bootstrap* resamples
the sampling units instead: customers (clusters) are drawn with replacement, each drawn
customer brings all of its queries, and guests / unknown users (``user_idx < 0``) are
each their own cluster.

The statistic of a resample is the **ratio estimator**

    mean* = Σ_c w_c S_c / Σ_c w_c n_c

where ``S_c`` is the sum of the per-query values of cluster ``c``, ``n_c`` its number of
queries and ``w_c`` how many times the resample drew it (``w`` ~ Multinomial(C, 1/C) over
the C clusters). With one query per cluster it is the ordinary per-query bootstrap mean,
so both units run through the same code: :func:`resampled_means` with ``codes=None``
resamples queries.

Vectorised: the per-cluster sums are one sparse product, the weights come in chunks of
``(c × C)`` counts (bounded memory), and each chunk gives every column's replicates as
``(W @ S) / (W @ n)`` (two BLAS products). The draws depend only on
``(C, n_resamples, seed)``: columns resampled over the same clusters (A and B of a
paired comparison) get the *same* draws.

:func:`inversion_p_value` turns the replicates of a paired difference into the p-value
of the bootstrap test that agrees with the percentile CI drawn from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp

from xsell_eval.errors import ConfigError, DataError

CIUnit = Literal["customer", "query"]
CI_UNITS: tuple[str, ...] = ("customer", "query")

#: the column of a per-query table that identifies the customer (cluster) of each query: a number
#: 0, 1, ... per customer in order of their first test query (not the dataset's user index, so a
#: shared ``metrics.parquet`` does not reveal customer numbers), -1 for guests
CLUSTER_COLUMN = "customer"

# Elements of one chunk of resample counts (bounds memory: ~16 MB of float64 counts).
_CHUNK_ELEMS = 1 << 21


def check_ci_unit(unit: str) -> CIUnit:
    """``unit`` if it is a known resampling unit, else ConfigError."""
    if unit not in CI_UNITS:
        raise ConfigError(f"`ci_unit` must be 'customer' or 'query', got {unit!r}")
    return unit  # type: ignore[return-value]


def cluster_codes(unit_ids: np.ndarray | Sequence[int]) -> np.ndarray:
    """Cluster codes 0..C-1 of each query from its customer index; negative ids are singletons.

    Queries of the same customer (``unit_ids >= 0``) share a code; every query with a
    negative id (a guest, an unknown user) gets a code of its own.

    Example:
        >>> cluster_codes([7, -1, 7, 3, -1]).tolist()
        [1, 2, 1, 0, 3]
    """
    u = np.asarray(unit_ids).ravel()
    if u.dtype.kind not in "iu":
        if u.dtype.kind == "f" and np.all(np.isfinite(u)) and np.all(u == np.round(u)):
            u = u.astype(np.int64)
        else:
            raise DataError(f"cluster ids ('{CLUSTER_COLUMN}') must be integers (-1 for guests), got dtype {u.dtype}")
    u = u.astype(np.int64, copy=False)
    known = u >= 0
    codes = np.empty(len(u), dtype=np.int64)
    uniq, inv = np.unique(u[known], return_inverse=True)
    codes[known] = inv
    codes[~known] = len(uniq) + np.arange(int((~known).sum()))
    return codes


def count_chunks(n: int, n_resamples: int, seed: int | None) -> Iterator[np.ndarray]:
    """Yield (c × n) float arrays of resample counts; rows sum to n. Depends only on the arguments.

    Row ``r`` says how often resample ``r`` drew each of the ``n`` units (a Multinomial(n, 1/n)
    vector), built from ``rng.integers`` indices with one ``bincount`` per resample.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, min(n_resamples, _CHUNK_ELEMS // max(n, 1)))
    dtype = np.int32 if n < 2**31 else np.int64
    done = 0
    while done < n_resamples:
        c = min(per_chunk, n_resamples - done)
        idx = rng.integers(0, n, size=(c, n), dtype=dtype)
        counts = np.empty((c, n))
        for i in range(c):  # per resample: its n bins stay in cache (faster than one flat bincount)
            counts[i] = np.bincount(idx[i], minlength=n)
        yield counts
        done += c


def resampled_means(x: np.ndarray, codes: np.ndarray | None, n_resamples: int, seed: int | None) -> np.ndarray:
    """Bootstrap replicates of the column means of a NaN-free (n × p) matrix: (n_resamples × p).

    ``codes=None`` resamples rows (queries); otherwise ``codes`` (length n, values 0..C-1,
    every code used) gives each row's cluster, clusters are resampled and each replicate
    is the ratio estimator ``(W @ S) / (W @ n_c)``.

    The products run on one BLAS thread: they are skinny (a chunk of ~100 resamples),
    so threads gain little, and on a busy machine OpenBLAS threads waiting for each
    other were measured 25× slower; one thread also makes the sums independent of the
    machine's core count.
    """
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if codes is None:
        sums, sizes, n_units = x, None, n
    else:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != (n,):
            raise DataError(f"cluster codes: expected {n} values, got {codes.shape}")
        n_units = int(codes.max()) + 1 if n else 0
        g = sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_units, n))
        sums = np.asarray(g @ x)
        sizes = np.asarray(g.sum(axis=1)).ravel()
    out = np.empty((n_resamples, x.shape[1]))
    row = 0
    with threadpool_limits(limits=1, user_api="blas"):
        for w in count_chunks(n_units, n_resamples, seed):
            total = float(n) if sizes is None else (w @ sizes)[:, None]
            out[row : row + len(w)] = (w @ sums) / total
            row += len(w)
    return out


def _digest(a: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()


def resampled_columns(
    columns: Sequence[np.ndarray],
    n_resamples: int,
    seed: int | None,
    codes: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Bootstrap replicates of the means of several 1-D NaN-free arrays: (n_resamples × len(columns)).

    ``codes`` (one array per column, cluster codes of its values, any integers) switches to
    the cluster bootstrap; ``None`` resamples values. Columns over the same units (same
    length, or the same cluster structure) share one set of draws, so a table of metrics
    costs one pass per distinct unit structure and paired columns get the same draws.
    Columns with fewer than 2 units get NaN.
    """
    out = np.full((n_resamples, len(columns)), np.nan)
    groups: dict[bytes, tuple[np.ndarray | None, int, dict[bytes, list[int]]]] = {}
    for j, col in enumerate(columns):
        if codes is None:
            key, cc, units = str(len(col)).encode(), None, len(col)
        else:
            _, cc = np.unique(np.asarray(codes[j], dtype=np.int64), return_inverse=True)
            cc = cc.astype(np.int64).ravel()
            key, units = _digest(cc), (int(cc.max()) + 1 if len(cc) else 0)
        content = _digest(np.asarray(col, dtype=np.float64))
        groups.setdefault(key, (cc, units, {}))[2].setdefault(content, []).append(j)
    for cc, units, distinct in groups.values():
        if units < 2:
            continue
        members = list(distinct.values())
        means = resampled_means(np.column_stack([columns[g[0]] for g in members]), cc, n_resamples, seed)
        for i, g in enumerate(members):
            out[:, g] = means[:, [i]]
    return out


#: below this many resample-widths (``TAIL_DRAWS / B``) the inversion p-value is resolution-limited
TAIL_DRAWS = 10


def inversion_p_value(diffs: np.ndarray, estimate: float | None = None) -> float:
    """Two-sided p-value of "mean difference = 0" by inverting the percentile bootstrap CI.

    The percentile CI at level ``1 - a`` has ends ``Q(a/2)`` and ``Q(1 - a/2)``, with ``Q``
    the quantile function of the replicates as ``numpy.percentile`` computes it (linear
    interpolation between order statistics). The inversion p-value is the smallest ``a`` at
    which that interval excludes 0::

        p_inv = min(1, 2·q_lo, 2·(1 - q_hi)),  q_lo = sup{q : Q(q) <= 0},  q_hi = inf{q : Q(q) >= 0}

    so ``p_inv < a`` exactly when the ``1 - a`` percentile CI from the same replicates
    excludes 0; it is ``2·min(P*(Δ <= 0), P*(Δ >= 0))`` up to the interpolation (within ~2/B).

    Resolution: B replicates resolve a p-value only down to about 1/B, and a count of a few
    draws beyond 0 is noise. Below ``TAIL_DRAWS / B`` (10/B: 0.01 with 1,000 resamples) the
    p-value returned is the smaller of ``max(p_inv, 1/B)`` and the normal approximation
    ``2·Φ(−|Δ̂| / sd*)`` from the same replicates (``Δ̂ = estimate``, default their mean;
    ``sd*`` their standard deviation). When no replicate crosses 0 (``p_inv = 0``) the
    result is therefore at most 1/B ("p < 1/B"), smaller only by that normal extrapolation.
    It never exceeds ``max(p_inv, 1/B)``, and equals ``p_inv`` at and above 10/B, so
    "p < a ⇔ the 1 − a CI excludes 0" holds for every a ≥ 10/B (and "the CI excludes 0 ⇒
    p ≤ max(a, 1/B)" for every a). NaN when there are no finite replicates.

    Example:
        >>> inversion_p_value(np.array([-3.0, -1.0, 3.0, 4.0, 5.0]))  # Q crosses 0 at q = 0.3125
        0.625
        >>> inversion_p_value(np.arange(1.0, 101.0))  # no draw crosses 0: at most 1/B
        0.01
    """
    d = np.sort(np.asarray(diffs, dtype=np.float64)[np.isfinite(diffs)])
    b = len(d)
    if b == 0:
        return float("nan")
    if b == 1:
        return 1.0 if d[0] == 0 else 1.0 / b
    last = b - 1
    # q_lo: the last level at which the interpolated quantile is still <= 0
    if d[0] > 0:
        q_lo = 0.0
    elif d[-1] <= 0:
        q_lo = 1.0
    else:
        j = int(np.searchsorted(d, 0.0, side="right")) - 1  # d[j] <= 0 < d[j+1]
        q_lo = (j + (0.0 - d[j]) / (d[j + 1] - d[j])) / last
    # q_hi: the first level at which the interpolated quantile is >= 0
    if d[-1] < 0:
        q_hi = 1.0
    elif d[0] >= 0:
        q_hi = 0.0
    else:
        i = int(np.searchsorted(d, 0.0, side="left"))  # d[i-1] < 0 <= d[i]
        q_hi = (i - 1 + (0.0 - d[i - 1]) / (d[i] - d[i - 1])) / last
    p_inv = min(1.0, 2.0 * q_lo, 2.0 * (1.0 - q_hi))
    if p_inv >= TAIL_DRAWS / b:
        return float(p_inv)
    p = max(p_inv, 1.0 / b)
    sd = float(d.std(ddof=1))
    if sd > 0:
        from scipy.stats import norm

        center = float(d.mean()) if estimate is None else float(estimate)
        p = min(p, float(2.0 * norm.sf(abs(center) / sd)))
    return float(p)


__all__ = [
    "CI_UNITS",
    "CLUSTER_COLUMN",
    "TAIL_DRAWS",
    "CIUnit",
    "check_ci_unit",
    "cluster_codes",
    "count_chunks",
    "inversion_p_value",
    "resampled_columns",
    "resampled_means",
]
