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

Vectorised: the per-cluster sums are one weighted ``bincount`` per column, the weights come in chunks of
``(c × C)`` counts (bounded memory), and each chunk gives every column's replicates as
``(W @ S) / (W @ n)`` (two BLAS products). The draws depend only on
``(C, n_resamples, seed)``: columns resampled over the same clusters (A and B of a
paired comparison) get the *same* draws, and :func:`resampled_columns_many` /
:func:`shared_draws` make them once for many tables (bit-identical to drawing them afresh).

:func:`inversion_p_value` turns the replicates of a paired difference into the p-value
of the bootstrap test that agrees with the percentile CI drawn from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

import numpy as np

from xsell_eval.errors import ConfigError, DataError

CIUnit = Literal["customer", "query"]
CI_UNITS: tuple[str, ...] = ("customer", "query")

#: the column of a per-query table that identifies the customer (cluster) of each query: a number
#: 0, 1, ... per customer in order of their first test query (not the dataset's user index, so a
#: shared ``metrics.parquet`` does not reveal customer numbers), -1 for guests
CLUSTER_COLUMN = "customer"

#: elements of one chunk of resample counts (bounds memory: ~16 MB of float64 counts)
CHUNK_ELEMS = 1 << 21


def check_ci_unit(unit: str) -> CIUnit:
    """``unit`` if it is a known resampling unit, else ConfigError."""
    if unit not in CI_UNITS:
        raise ConfigError(f"`ci_unit` must be 'customer' or 'query', got {unit!r}")
    return unit  # type: ignore[return-value]


def _dense_ranks(u: np.ndarray) -> np.ndarray:
    """``np.unique(u, return_inverse=True)[1]`` (int64) of a 1-D integer array, in O(n) when its span is small.

    The rank of each value among the distinct values: a bincount over the value range instead of a
    sort when ``max − min`` is at most a few times ``len(u)`` (customer numbers, cluster codes).
    """
    if len(u) == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(u.min()), int(u.max())
    if hi - lo > 4 * len(u) + 1024:
        return np.unique(u, return_inverse=True)[1].astype(np.int64).ravel()
    shifted = u - lo if lo else u
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[shifted] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    return rank[shifted]


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
    inv = _dense_ranks(u[known])
    n_known = int(inv.max()) + 1 if len(inv) else 0
    codes[known] = inv
    codes[~known] = n_known + np.arange(int((~known).sum()))
    return codes


def count_chunks(n: int, n_resamples: int, seed: int | None) -> Iterator[np.ndarray]:
    """Yield (c × n) float arrays of resample counts; rows sum to n. Depends only on the arguments.

    Row ``r`` says how often resample ``r`` drew each of the ``n`` units (a Multinomial(n, 1/n)
    vector), built from ``rng.integers`` indices with one ``bincount`` per resample. At most
    ``CHUNK_ELEMS`` counts per chunk, so memory stays bounded whatever ``n_resamples``.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, min(n_resamples, CHUNK_ELEMS // max(n, 1)))
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


class _DrawStore:
    """Resample counts kept by :func:`shared_draws`: ``(units, n_resamples, seed)`` -> chunks as uint8."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.chunks: dict[tuple[int, int, int], list[np.ndarray]] = {}


_SHARED_DRAWS: ContextVar[_DrawStore | None] = ContextVar("xsell_eval_shared_draws", default=None)

#: default budget of :func:`shared_draws`: the counts of 1,000 resamples over ~268k customers
SHARED_DRAWS_BYTES = 256 << 20


@contextmanager
def shared_draws(max_bytes: int = SHARED_DRAWS_BYTES) -> Iterator[None]:
    """Within the block, the resample counts of each ``(units, n_resamples, seed)`` are drawn once.

    The statistics of a run resample the same customers many times over (the summaries, the
    comparisons with the baseline, the decision's paired tests): the draws depend only on
    ``(units, n_resamples, seed)``, so the first pass keeps its counts (one byte each, up to
    ``max_bytes`` in all; first come, first kept) and later passes read them back instead of
    drawing again. The numbers are exactly those drawn afresh. Seeds other than an int
    (``None``: fresh entropy) are never shared. Outside the block nothing is kept.
    """
    token = _SHARED_DRAWS.set(_DrawStore(max_bytes))
    try:
        yield
    finally:
        _SHARED_DRAWS.reset(token)


def _draws(units: int, n_resamples: int, seed: int | None) -> Iterator[np.ndarray]:
    """:func:`count_chunks`, read from / kept in the :func:`shared_draws` store when one is active."""
    store = _SHARED_DRAWS.get()
    if store is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        yield from count_chunks(units, n_resamples, seed)
        return
    key = (units, n_resamples, int(seed))
    cached = store.chunks.get(key)
    if cached is not None:
        for c in cached:
            yield c.astype(np.float64)
        return
    keep = store.used + units * n_resamples <= store.max_bytes
    kept: list[np.ndarray] = []
    for w in count_chunks(units, n_resamples, seed):
        if keep and w.max(initial=0) <= 255:
            kept.append(w.astype(np.uint8))
        else:
            keep, kept = False, []
        yield w
    if keep:
        store.chunks[key] = kept
        store.used += units * n_resamples


def _stack_columns(cols: Sequence[np.ndarray], n: int, rows_per_block: int = 8192) -> np.ndarray:
    """``np.column_stack(cols)`` (C order, n × p), copied block of rows by block: ~8× faster for long columns.

    Writing whole columns into a row-major matrix strides through memory; a block of rows stays in cache.
    """
    out = np.empty((n, len(cols)))
    for i in range(0, n, rows_per_block):
        block = out[i : i + rows_per_block]
        for j, c in enumerate(cols):
            block[:, j] = c[i : i + rows_per_block]
    return out


class _MeansTask:
    """One matrix of column means to resample: per-unit sums (units × p), unit sizes, and where the replicates go.

    ``sums``/``sizes`` are what ``resampled_means`` multiplies each chunk of counts with; the
    per-cluster sums come from ``np.bincount`` (the same additions, in the same order, as the
    sparse indicator product ``G @ x`` they replace: each cluster's values in row order from 0.0).
    """

    __slots__ = ("n", "out", "sizes", "sums", "units")

    def __init__(
        self, columns: Sequence[np.ndarray], codes: np.ndarray | None, n_resamples: int, n: int | None = None
    ) -> None:
        n = (len(columns[0]) if len(columns) else 0) if n is None else n
        self.n = n
        if codes is None:
            self.units = n
            self.sizes: np.ndarray | None = None
            self.sums = _stack_columns([np.asarray(c, dtype=np.float64) for c in columns], n)
        else:
            self.units = int(codes.max()) + 1 if n else 0
            self.sizes = np.bincount(codes, minlength=self.units).astype(np.float64)
            self.sums = np.empty((self.units, len(columns)))
            for i, col in enumerate(columns):
                self.sums[:, i] = np.bincount(codes, weights=np.asarray(col, dtype=np.float64), minlength=self.units)
        self.out = np.empty((n_resamples, len(columns)))


def _run_tasks(tasks: Sequence[_MeansTask], n_resamples: int, seed: int | None) -> None:
    """Fill every task's replicates; tasks over the same number of units share one stream of draws.

    The draws depend only on ``(units, n_resamples, seed)``, so drawing them once per distinct
    ``units`` and multiplying each chunk with every task's sums gives each task exactly the
    numbers of its own :func:`resampled_means` call (the same products, chunk by chunk), for a
    fraction of the random-number work. Memory: one chunk of counts at a time.
    """
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    by_units: dict[int, list[_MeansTask]] = {}
    for t in tasks:
        by_units.setdefault(t.units, []).append(t)
    with threadpool_limits(limits=1, user_api="blas"):
        for units, group in by_units.items():
            row = 0
            for w in _draws(units, n_resamples, seed):
                for t in group:
                    total = float(t.n) if t.sizes is None else (w @ t.sizes)[:, None]
                    t.out[row : row + len(w)] = (w @ t.sums) / total
                row += len(w)


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
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if codes is not None:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != (n,):
            raise DataError(f"cluster codes: expected {n} values, got {codes.shape}")
    task = _MeansTask([x[:, j] for j in range(x.shape[1])], codes, n_resamples, n=n)
    _run_tasks([task], n_resamples, seed)
    return task.out


def _bits(a: np.ndarray) -> np.ndarray:
    """The raw 64-bit patterns of a float64 array (bitwise equality, as the old byte digests compared)."""
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def _fingerprint(a: np.ndarray) -> tuple[int, bytes]:
    """A cheap key of a float64 column: length, sum and 64 evenly spaced values (candidates, then compared).

    The sum keeps mostly-zero columns (rare hits) apart, whose sampled values often all agree.
    """
    step = max(1, len(a) // 64)
    sample = np.ascontiguousarray(a[::step][:64], dtype=np.float64)
    return len(a), np.float64(np.sum(a, dtype=np.float64)).tobytes() + sample.tobytes()


class _ColumnsJob:
    """The grouping of :func:`resampled_columns` for one call: columns over the same units share a task,
    identical columns (bit for bit) share a task column."""

    def __init__(
        self,
        columns: Sequence[np.ndarray],
        n_resamples: int,
        codes: Sequence[np.ndarray] | None,
    ) -> None:
        self.n_resamples = n_resamples
        self.n_columns = len(columns)
        # unit structure key -> (compact codes, units, fingerprint -> [(representative, [column indices])])
        groups: dict[object, tuple[np.ndarray | None, int, dict[tuple[int, bytes], list[tuple[int, list[int]]]]]] = {}
        seen_codes: dict[int, tuple[object, np.ndarray, int]] = {}  # id(codes array) -> its key (same object)
        for j, col in enumerate(columns):
            if codes is None:
                key: object = ("n", len(col))
                cc, units = None, len(col)
            else:
                raw = codes[j]
                if id(raw) in seen_codes:
                    key, cc, units = seen_codes[id(raw)]
                else:
                    cc = _dense_ranks(np.asarray(raw, dtype=np.int64).ravel())
                    units = int(cc.max()) + 1 if len(cc) else 0
                    key = _digest(cc)
                    seen_codes[id(raw)] = (key, cc, units)
            slots = groups.setdefault(key, (cc, units, {}))[2].setdefault(_fingerprint(col), [])
            for rep, members in slots:
                if np.array_equal(_bits(columns[rep]), _bits(col)):
                    members.append(j)
                    break
            else:
                slots.append((j, [j]))
        self.tasks: list[tuple[_MeansTask, list[list[int]]]] = []
        for cc, units, distinct in groups.values():
            if units < 2:
                continue
            sets = [m for same in distinct.values() for _, m in same]
            sets.sort(key=lambda m: m[0])  # first-seen order, as the old digest dict kept
            task = _MeansTask([columns[m[0]] for m in sets], cc, n_resamples)
            self.tasks.append((task, sets))

    def result(self) -> np.ndarray:
        out = np.full((self.n_resamples, self.n_columns), np.nan)
        for task, members in self.tasks:
            for i, g in enumerate(members):
                out[:, g] = task.out[:, [i]]
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
    Columns with fewer than 2 units get NaN. Passing the *same* codes array object for
    several columns lets its compaction be computed once.
    """
    return resampled_columns_many([(columns, codes)], n_resamples, seed)[0]


def resampled_columns_many(
    calls: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray] | None]],
    n_resamples: int,
    seed: int | None,
) -> list[np.ndarray]:
    """``[resampled_columns(columns, n_resamples, seed, codes) for columns, codes in calls]``, drawn together.

    Each call keeps its own grouping and products, so each result is bit-identical to its own
    :func:`resampled_columns`; the draws are made once per distinct number of units over all
    calls (the summaries of several adapters, or of every bucket of every adapter, share them).
    """
    jobs = [_ColumnsJob(columns, n_resamples, codes) for columns, codes in calls]
    _run_tasks([t for job in jobs for t, _ in job.tasks], n_resamples, seed)
    return [job.result() for job in jobs]


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
    "resampled_columns_many",
    "resampled_means",
    "shared_draws",
]
