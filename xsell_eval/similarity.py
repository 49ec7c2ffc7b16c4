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
the lower item index). It is done chunk by chunk: a chunk of ``chunk_rows`` item rows is
computed densely (``chunk_rows × n_items``), pruned, and only the kept entries are stored,
so peak memory is ``O(chunk_rows · n_items + n_items · k)`` — the ``n_items × n_items``
matrix is never materialised::

    X (rows × items)  ──►  Xᵀ[chunk] @ X  ──►  dense chunk × items  ──►  top-k  ──►  CSR rows
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from xsell_eval.errors import ConfigError

Similarity = Literal["cosine", "jaccard", "asymmetric", "lift"]
SIMILARITIES: tuple[str, ...] = ("cosine", "jaccard", "asymmetric", "lift")

#: default budget of dense cells per chunk (float64: 32 MiB per dense array; a few live at once)
DEFAULT_CHUNK_CELLS = 1 << 22


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


def _similarity_block(
    co: np.ndarray,
    n_row: np.ndarray,
    n_all: np.ndarray,
    *,
    similarity: str,
    alpha: float,
    n_rows_total: int,
) -> np.ndarray:
    """Similarity of a dense co-count block ``co`` (chunk × items) given item counts."""
    ni = n_row[:, None].astype(np.float64)
    nj = n_all[None, :].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cosine":
            out = co / np.sqrt(ni * nj)
        elif similarity == "jaccard":
            out = co / (ni + nj - co)
        elif similarity == "asymmetric":
            out = co / (np.power(nj, alpha) * np.power(ni, 1.0 - alpha))
        elif similarity == "lift":
            out = co * float(n_rows_total) / (ni * nj)
        else:  # pragma: no cover - validated by the caller
            raise ConfigError(f"similarity must be one of {list(SIMILARITIES)}, got {similarity!r}")
    out[~np.isfinite(out)] = 0.0
    return out


def item_similarity(
    x: sp.spmatrix | sp.sparray,
    *,
    similarity: str = "cosine",
    alpha: float = 0.5,
    shrink: float = 0.0,
    k_neighbors: int | None = 100,
    chunk_rows: int | None = None,
) -> sp.csr_matrix:
    """Item × item similarity from a rows × items matrix, pruned to ``k_neighbors`` per item.

    Args:
        x: rows × items matrix; any non-zero counts as 1 (binarised here).
        similarity: ``"cosine"``, ``"jaccard"``, ``"asymmetric"`` or ``"lift"`` (module table).
        alpha: asymmetry exponent of ``"asymmetric"`` (in [0, 1]; 0.5 = cosine).
        shrink: shrinkage λ >= 0; similarities are multiplied by ``c / (c + λ)``.
        k_neighbors: neighbours kept per item (row); ``None`` keeps every positive one.
        chunk_rows: item rows computed densely at once (default: fits 2**22 cells).

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
    step = chunk_rows or chunk_rows_for(n_items)
    k = n_items if k_neighbors is None else int(k_neighbors)
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    for start in range(0, n_items, step):
        stop = min(start + step, n_items)
        co = (xt[start:stop] @ xb).toarray()
        sim = _similarity_block(
            co, counts[start:stop], counts, similarity=similarity, alpha=alpha, n_rows_total=n_nonempty
        )
        if shrink > 0:
            sim *= co / (co + shrink)
        idx = np.arange(stop - start)
        sim[idx, start + idx] = 0.0
        r, c, v = top_k_per_row(sim, k)
        rows_out.append(r + start)
        cols_out.append(c)
        vals_out.append(v)
    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64)
    cols = np.concatenate(cols_out) if cols_out else np.zeros(0, np.int64)
    vals = np.concatenate(vals_out) if vals_out else np.zeros(0)
    out = sp.csr_matrix((vals, (rows, cols)), shape=(n_items, n_items))
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
