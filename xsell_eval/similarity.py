"""Sparse co-occurrence similarities with top-k neighbour pruning, memory bounded by a chunk.

From a binary *rows × items* matrix ``X`` (rows = baskets or users), with ``n_i`` the
number of rows containing item ``i``, ``c_ij`` the number containing both ``i`` and ``j``
and ``N`` the number of non-empty rows:

=========== ============================================================ ===================
name        ``sim(i → j)`` (``i`` = context item, ``j`` = candidate)     symmetric
=========== ============================================================ ===================
cosine      ``c_ij / sqrt(n_i · n_j)``                                   yes
jaccard     ``c_ij / (n_i + n_j − c_ij)``                                yes
asymmetric  ``c_ij / (n_j^α · n_i^(1−α))`` (Aiolli 2013; α on the target) no (α = 0.5: cosine)
lift        ``c_ij · N / (n_i · n_j)`` = ``P(i, j) / (P(i) P(j))``        yes
=========== ============================================================ ===================

With ``α = 0`` the asymmetric cosine is ``c_ij / n_i = P(j | i)``, the confidence of the
association rule ``i ⇒ j``; with ``α = 1`` it is ``P(i | j)``, which favours rare candidates.
Shrinkage multiplies every similarity by ``c_ij / (c_ij + shrink)`` (damps pairs seen in
few rows). The diagonal is zero: an item is not its own neighbour.

Pruning keeps, per row ``i``, the ``k`` largest *positive* similarities (ties broken by
the lower item index). It is done chunk by chunk: a chunk of item rows of the sparse
product ``XᵀX`` is scored on its stored co-counts, pruned, and only the kept entries are
stored, so peak memory is ``O(chunk entries + n_items · k)`` — the ``n_items × n_items``
matrix is never materialised::

    X (rows × items)  ──►  Xᵀ[chunk] @ X (sparse)  ──►  similarity on the nonzeros  ──►  top-k  ──►  CSR rows

With the ``[fast]`` extra (numba) each chunk is one compiled pass instead
(:func:`xsell_eval._kernels.cooc_similarity`): per item row the co-counts are added into a
scratch row, scored and cut to the top k, so no co-count matrix is built; the result is
bit-identical (co-counts are exact integers and the formula's operations are the same).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import scipy.sparse as sp

from xsell_eval.errors import ConfigError
from xsell_eval.queries import row_top_entries

Similarity = Literal["cosine", "jaccard", "asymmetric", "lift"]
SIMILARITIES: tuple[str, ...] = ("cosine", "jaccard", "asymmetric", "lift")

#: default budget of dense cells per chunk of the dense helpers (float64: 32 MiB per dense array)
DEFAULT_CHUNK_CELLS = 1 << 22
#: default budget of co-count entries (multiply-adds of ``XᵀX``) per similarity chunk
DEFAULT_CHUNK_ENTRIES = 1 << 22


def binarize(m: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """A copy of ``m`` as CSR float64 with every stored non-zero set to 1 (explicit zeros dropped)."""
    out = sp.csr_matrix(m, dtype=np.float64, copy=True)
    out.eliminate_zeros()
    out.sum_duplicates()
    out.data[:] = 1.0
    return out


def chunk_rows_for(n_cols: int, max_cells: int = DEFAULT_CHUNK_CELLS) -> int:
    """How many dense rows of width ``n_cols`` fit in ``max_cells`` cells (at least 1)."""
    return max(1, int(max_cells // max(n_cols, 1)))


def top_k_per_row(dense: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the ``k`` largest positive values of each row, ties -> lower column.

    Args:
        dense: (n_rows × n_cols) float array; values ``<= 0`` or non-finite are never kept.
        k: maximum number of entries kept per row (>= 1).

    Returns:
        ``(rows, cols, values)`` of the kept entries, sorted by row then column.

    Example:
        >>> r, c, v = top_k_per_row(np.array([[0.2, 0.5, 0.5, 0.0]]), 2)
        >>> c.tolist(), v.tolist()
        ([1, 2], [0.5, 0.5])
    """
    s = np.where(np.isfinite(dense) & (dense > 0), dense, 0.0)
    n, m = s.shape
    if n == 0 or m == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0)
    if k < m:
        # k-th largest value per row (0 when fewer than k positives)
        kth = -np.partition(-s, k - 1, axis=1)[:, k - 1 : k]
        greater = s > kth
        tied = (s == kth) & (s > 0)
        room = k - greater.sum(axis=1, keepdims=True)
        keep = greater | (tied & (np.cumsum(tied, axis=1) <= room))
    else:
        keep = s > 0
    rows, cols = np.nonzero(keep)
    return rows.astype(np.int64), cols.astype(np.int64), s[rows, cols]


def prune_rows(m: sp.csr_matrix, k: int | None) -> sp.csr_matrix:
    """Keep the ``k`` largest *positive finite* entries of each row of a CSR matrix (ties -> lower column).

    The sparse twin of :func:`top_k_per_row`: rows with more than ``k`` stored positives are
    cut at their k-th largest value (:func:`~xsell_eval.queries.row_top_entries`). Every entry
    ``<= 0`` or non-finite is dropped; the kept entries stay in the input's order within each
    row (canonical when the input was). The input must not store a column twice in a row.

    Example:
        >>> m = sp.csr_matrix(np.array([[0.2, 0.5, 0.5, 0.0], [0.0, -1.0, 3.0, 0.0]]))
        >>> prune_rows(m, 2).toarray().tolist()
        [[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 3.0, 0.0]]
    """
    m = sp.csr_matrix(m, dtype=np.float64)
    from xsell_eval import _kernels

    if k is not None and _kernels.available():  # the [fast] extra: filter and top-k in one compiled pass
        keep = _kernels.top_k_keep(m.indptr, m.indices, m.data, k)
        lengths = np.bincount(np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[keep], minlength=m.shape[0])
        return sp.csr_matrix((m.data[keep], m.indices[keep], np.concatenate([[0], np.cumsum(lengths)])), shape=m.shape)
    positive = np.isfinite(m.data) & (m.data > 0)
    lengths = np.diff(m.indptr)
    if not positive.all():
        lengths = np.bincount(np.repeat(np.arange(m.shape[0]), lengths)[positive], minlength=m.shape[0])
        m = sp.csr_matrix(
            (m.data[positive], m.indices[positive], np.concatenate([[0], np.cumsum(lengths)])), shape=m.shape
        )
    if k is None or not (lengths > k).any():
        return m
    pos, rank = row_top_entries(m.indptr, m.indices, m.data, k)
    keep = np.zeros(len(m.data), dtype=bool)
    keep[pos[rank < k]] = True
    new_len = np.minimum(lengths, k)
    return sp.csr_matrix((m.data[keep], m.indices[keep], np.concatenate([[0], np.cumsum(new_len)])), shape=m.shape)


def _similarity_values(
    co: np.ndarray,
    n_row: np.ndarray,
    n_col: np.ndarray,
    *,
    similarity: str,
    alpha: float,
    n_rows_total: int,
    pow_row: np.ndarray | None = None,
    pow_col: np.ndarray | None = None,
) -> np.ndarray:
    """Similarity of co-counts ``co`` given the counts of each entry's row and column item.

    The same floating-point operations, in the same order, as the dense formula of the module
    table, applied elementwise to the nonzeros (so the values are bit-identical to a dense
    computation). ``pow_row``/``pow_col`` are ``n_i^(1-α)`` and ``n_j^α`` (asymmetric only).
    """
    ni = n_row.astype(np.float64)
    nj = n_col.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cosine":
            out = co / np.sqrt(ni * nj)
        elif similarity == "jaccard":
            out = co / (ni + nj - co)
        elif similarity == "asymmetric":
            p_col = np.power(nj, alpha) if pow_col is None else pow_col
            p_row = np.power(ni, 1.0 - alpha) if pow_row is None else pow_row
            out = co / (p_col * p_row)
        elif similarity == "lift":
            out = co * float(n_rows_total) / (ni * nj)
        else:  # pragma: no cover - validated by the caller
            raise ConfigError(f"similarity must be one of {list(SIMILARITIES)}, got {similarity!r}")
    out[~np.isfinite(out)] = 0.0
    return out


def similarity_work(x: sp.spmatrix | sp.sparray) -> np.ndarray:
    """Per item, the number of (row, other item) pairs its co-count row is built from.

    ``work[i] = sum over rows containing i of the row's length``: the multiply-adds of row ``i``
    of ``XᵀX`` and an upper bound on its stored entries. Used to size the chunks and to
    estimate memory (:func:`similarity_memory_bytes`).
    """
    xb = binarize(x)
    row_len = np.diff(xb.indptr).astype(np.float64)
    return np.asarray(xb.T @ row_len).ravel()


#: bytes per stored entry of a co-count chunk while it is scored and pruned (data, indices,
#: the similarity values, the sort keys and order of the pruning, with headroom)
BYTES_PER_CHUNK_ENTRY = 64
#: bytes per kept neighbour in the output CSR (float64 value + int32 column, plus the COO
#: arrays it is assembled from)
BYTES_PER_KEPT_ENTRY = 32


def similarity_memory_bytes(
    x: sp.spmatrix | sp.sparray,
    k_neighbors: int | None,
    *,
    chunk_entries: int = DEFAULT_CHUNK_ENTRIES,
    n_threads: int = 2,
) -> int:
    """Estimated peak memory of :func:`item_similarity` on ``x`` (documented upper-bound estimate).

    ``n_threads`` chunks of at most ``chunk_entries`` co-count entries at
    :data:`BYTES_PER_CHUNK_ENTRY` each, plus the kept neighbours: per item
    ``min(k_neighbors, work_i, n_items)`` at :data:`BYTES_PER_KEPT_ENTRY` (``work_i`` from
    :func:`similarity_work`), plus a binary copy of ``x`` and its transpose (12 bytes per nonzero each),
    plus five scratch rows of ``n_items`` 8-byte cells per thread. The compiled pass of the
    ``[fast]`` extra holds less than the scipy path this bounds: no co-count chunk, only its kept
    entries (16 bytes each) and the scratch rows.
    """
    work = similarity_work(x)
    n_items = x.shape[1]
    kmax = n_items if k_neighbors is None else int(k_neighbors)
    kept = np.minimum(np.minimum(work, n_items - 1), kmax).sum()
    chunk = min(float(work.sum()), float(chunk_entries) * max(n_threads, 1), float(work.max(initial=0)) * n_threads)
    chunk = max(chunk, min(float(chunk_entries), float(work.sum())))
    scratch = 5 * 8 * n_items * max(n_threads, 1)
    return int(kept * BYTES_PER_KEPT_ENTRY + chunk * BYTES_PER_CHUNK_ENTRY + 2 * 12 * x.nnz + scratch)


def _chunks(work: np.ndarray, budget: int, max_rows: int | None) -> list[tuple[int, int]]:
    """Consecutive item ranges whose summed ``work`` stays within ``budget`` (at least one item each)."""
    n = len(work)
    if n == 0:
        return []
    cum = np.cumsum(work)
    out: list[tuple[int, int]] = []
    start = 0
    while start < n:
        base = cum[start - 1] if start else 0.0
        stop = int(np.searchsorted(cum, base + budget, side="right"))
        stop = max(stop, start + 1)
        if max_rows is not None:
            stop = min(stop, start + max_rows)
        stop = min(stop, n)
        out.append((start, stop))
        start = stop
    return out


def default_threads() -> int:
    """Threads for the chunked similarity: 2 when the process may use at least 2 cores, else 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


def item_similarity(
    x: sp.spmatrix | sp.sparray,
    *,
    similarity: str = "cosine",
    alpha: float = 0.5,
    shrink: float = 0.0,
    k_neighbors: int | None = 100,
    chunk_rows: int | None = None,
    chunk_entries: int = DEFAULT_CHUNK_ENTRIES,
    n_threads: int | None = None,
) -> sp.csr_matrix:
    """Item × item similarity from a rows × items matrix, pruned to ``k_neighbors`` per item.

    Computed on the nonzeros only: chunks of item rows of the sparse product ``XᵀX``, their
    similarity on the stored co-counts, and a row-wise top-k over those entries
    (:func:`prune_rows`); chunks run on ``n_threads`` threads (scipy's sparse product and
    numpy's sorts release the GIL).

    Args:
        x: rows × items matrix; any non-zero counts as 1 (binarised here).
        similarity: ``"cosine"``, ``"jaccard"``, ``"asymmetric"`` or ``"lift"`` (module table).
        alpha: asymmetry exponent of ``"asymmetric"`` (in [0, 1]; 0.5 = cosine).
        shrink: shrinkage λ >= 0; similarities are multiplied by ``c / (c + λ)``.
        k_neighbors: neighbours kept per item (row); ``None`` keeps every positive one.
        chunk_rows: optional cap on the item rows per chunk (testing; chunks are otherwise
            sized by ``chunk_entries``).
        chunk_entries: budget of co-count entries (multiply-adds) per chunk.
        n_threads: chunks computed at once (default :func:`default_threads`).

    Returns:
        CSR (n_items × n_items), float64, zero diagonal, non-negative; row ``i`` holds the
        neighbours of context item ``i`` and their similarity ``sim(i → j)``.

    Raises:
        ConfigError: unknown ``similarity`` or out-of-range ``alpha``/``shrink``/``k_neighbors``.

    Example:
        >>> x = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]]))
        >>> s = item_similarity(x, similarity="jaccard", k_neighbors=None)
        >>> round(float(s[0, 1]), 3), round(float(s[0, 2]), 3)
        (1.0, 0.333)
    """
    if similarity not in SIMILARITIES:
        raise ConfigError(f"similarity must be one of {list(SIMILARITIES)}, got {similarity!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
    if shrink < 0:
        raise ConfigError(f"shrink must be >= 0, got {shrink!r}")
    if k_neighbors is not None and k_neighbors < 1:
        raise ConfigError(f"k_neighbors must be >= 1, got {k_neighbors!r}")
    xb = binarize(x)
    n_items = xb.shape[1]
    counts = np.asarray(xb.sum(axis=0)).ravel()
    n_nonempty = int((np.diff(xb.indptr) > 0).sum())
    xt = xb.T.tocsr()
    row_len = np.diff(xb.indptr).astype(np.float64)
    work = np.asarray(xt @ row_len).ravel()
    pow_col = pow_row = None
    if similarity == "asymmetric":  # per item once, gathered per entry (same values as the dense formula)
        cf = counts.astype(np.float64)
        pow_col, pow_row = np.power(cf, alpha), np.power(cf, 1.0 - alpha)

    from xsell_eval import _kernels

    compiled = _kernels.available()

    def chunk(bounds: tuple[int, int]) -> sp.csr_matrix:
        start, stop = bounds
        if compiled:  # the [fast] extra: co-counts, similarity and top-k in one pass, no co-count matrix
            kmax = n_items if k_neighbors is None else min(int(k_neighbors), n_items)
            cap = int(min(float(work[start:stop].sum()), float(stop - start) * kmax))
            lengths, cols_k, vals_k = _kernels.cooc_similarity(
                xb,
                xt,
                bounds,
                counts,
                similarity=similarity,
                n_rows_total=n_nonempty,
                shrink=shrink,
                k=k_neighbors,
                cap=cap,
                pow_row=pow_row,
                pow_col=pow_col,
            )
            indptr = np.concatenate([[0], np.cumsum(lengths)])
            return sp.csr_matrix((vals_k, cols_k, indptr), shape=(stop - start, n_items))
        co = sp.csr_matrix(xt[start:stop] @ xb)  # no duplicate entries; columns unsorted (not needed)
        rows = np.repeat(np.arange(start, stop, dtype=np.int64), np.diff(co.indptr))
        cols = co.indices
        sim = _similarity_values(
            co.data,
            counts[rows],
            counts[cols],
            similarity=similarity,
            alpha=alpha,
            n_rows_total=n_nonempty,
            pow_row=None if pow_row is None else pow_row[rows],
            pow_col=None if pow_col is None else pow_col[cols],
        )
        if shrink > 0:
            sim *= co.data / (co.data + shrink)
        sim[rows == cols] = 0.0  # an item is not its own neighbour
        return prune_rows(sp.csr_matrix((sim, cols, co.indptr), shape=co.shape), k_neighbors)

    bounds = _chunks(work, int(chunk_entries), chunk_rows)
    threads = default_threads() if n_threads is None else max(int(n_threads), 1)
    if threads > 1 and len(bounds) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(chunk, bounds))
    else:
        parts = [chunk(b) for b in bounds]
    if not parts:
        return sp.csr_matrix((n_items, n_items))
    out = sp.csr_matrix(sp.vstack(parts, format="csr"))
    out.sort_indices()
    return out


def aggregate_rows(context: sp.spmatrix | sp.sparray, sim: sp.csr_matrix, how: str = "sum") -> np.ndarray:
    """Dense (n_queries × n_items) scores: sum or max over each query's context items of ``sim`` rows.

    ``"sum"`` is the sparse product ``binary(context) @ sim``; ``"max"`` takes the elementwise
    maximum of the rows of the context items. Memory: one dense row per query plus the
    gathered neighbour rows (``nnz(context) · k`` entries).

    Example:
        >>> s = sp.csr_matrix(np.array([[0, 0.5, 0.1], [0.5, 0, 0.3], [0.1, 0.3, 0]]))
        >>> ctx = sp.csr_matrix(np.array([[1, 1, 0]]))
        >>> aggregate_rows(ctx, s, "sum").tolist(), aggregate_rows(ctx, s, "max").tolist()
        ([[0.5, 0.5, 0.4]], [[0.5, 0.5, 0.3]])
    """
    ctx = binarize(context)
    if how == "sum":
        return np.asarray((ctx @ sim).toarray())
    if how != "max":
        raise ConfigError(f"aggregation must be 'sum' or 'max', got {how!r}")
    n_q = ctx.shape[0]
    out = np.zeros((n_q, sim.shape[1]))
    q_of = np.repeat(np.arange(n_q), np.diff(ctx.indptr))
    gathered = sim[ctx.indices].tocoo()  # one row per (query, context item)
    if gathered.nnz:
        np.maximum.at(out, (q_of[gathered.row], gathered.col), gathered.data)
    return out


def aggregate_sparse(context: sp.spmatrix | sp.sparray, sim: sp.csr_matrix, how: str = "sum") -> sp.csr_matrix:
    """Sparse (n_queries × n_items) candidate scores: sum or max over each query's context items of ``sim`` rows.

    The sparse twin of :func:`aggregate_rows`: the same values at the stored entries, and no
    entry where the dense result is 0. Cost follows ``nnz(context) · k`` (the gathered
    neighbour rows), never ``n_queries × n_items``.

    Example:
        >>> s = sp.csr_matrix(np.array([[0, 0.5, 0.1], [0.5, 0, 0.3], [0.1, 0.3, 0]]))
        >>> ctx = sp.csr_matrix(np.array([[1, 1, 0]]))
        >>> aggregate_sparse(ctx, s, "max").toarray().tolist()
        [[0.5, 0.5, 0.3]]
    """
    ctx = binarize(context)
    if how == "sum":
        return sp.csr_matrix(ctx @ sim)  # a product stores each (query, item) once; columns may be unsorted
    if how != "max":
        raise ConfigError(f"aggregation must be 'sum' or 'max', got {how!r}")
    return max_gather(ctx, sim)


def max_gather(context: sp.csr_matrix, neighbors: sp.csr_matrix) -> sp.csr_matrix:
    """CSR ``out[q, j] = max over the context items c of query q of neighbors[c, j]`` (stored entries only).

    Every (query, context item) pair is expanded to the context item's stored neighbours; the
    (query, item) keys are sorted and reduced with ``np.maximum.reduceat``.
    """
    n_q, n_items = context.shape[0], neighbors.shape[1]
    ctx = sp.csr_matrix(context)
    q_of = np.repeat(np.arange(n_q, dtype=np.int64), np.diff(ctx.indptr))
    starts = neighbors.indptr[ctx.indices].astype(np.int64)
    lengths = neighbors.indptr[ctx.indices + 1].astype(np.int64) - starts
    total = int(lengths.sum())
    if total == 0:
        return sp.csr_matrix((n_q, n_items))
    q = np.repeat(q_of, lengths)
    offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.repeat(starts, lengths) + offs
    keys = q * n_items + neighbors.indices[pos]
    vals = np.asarray(neighbors.data[pos], dtype=np.float64)
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], vals[order]
    first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    best = np.maximum.reduceat(vals, first)
    ukeys = keys[first]
    rows = ukeys // n_items
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_q))])
    return sp.csr_matrix((best, (ukeys % n_items).astype(np.int64), indptr), shape=(n_q, n_items))
