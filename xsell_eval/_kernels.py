"""Optional compiled kernels (numba, the ``[fast]`` extra) with the same results as the NumPy paths.

:func:`top_k_keep` is the row-wise top-K of :func:`~xsell_eval.similarity.prune_rows` (the item
similarity's neighbour pruning) with one ``np.partition`` per row. :func:`cooc_similarity` is one
chunk of the item similarity's fit: co-counts, similarity formula and top-K per item row in one
pass, with no co-count matrix. :func:`knn_topk` fuses item-kNN's
candidate scoring and its top-k: for each query row it adds
the similarity rows of the cart's items into a dense scratch row (reset only where touched),
keeps the ``k`` best positive scores (ties: lower item index), skips the cart, and fills short
lists from a popularity order. It equals
``top_k_sparse(prune_rows(binarize(context) @ sim), k, exclude=context, fill=fill)``
bit for bit: the sums are added in the order scipy's sparse product adds them
(tests/test_kernels.py), so no ``rows × candidates`` matrix is ever built.

numba is imported only when a kernel is first asked for; without it (or with the environment
variable ``XSELL_EVAL_NO_NUMBA=1``) :func:`available` is False and callers keep the NumPy path.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from typing import Any

import numpy as np

NO_NUMBA_ENV = "XSELL_EVAL_NO_NUMBA"


def available() -> bool:
    """True when numba is installed and not switched off by ``XSELL_EVAL_NO_NUMBA=1``."""
    if os.environ.get(NO_NUMBA_ENV, "").strip() not in ("", "0"):
        return False
    return importlib.util.find_spec("numba") is not None


@cache
def _compiled() -> Any:
    import numba

    @numba.njit(cache=True, nogil=True)
    def knn_topk_kernel(  # type: ignore[no-untyped-def]
        ctx_ptr, ctx_idx, ex_ptr, ex_idx, s_ptr, s_idx, s_val, n_items, k, fill_order, fill
    ):
        n = len(ctx_ptr) - 1
        items = np.full((n, k), -1, dtype=np.int64)
        top = np.full((n, k), np.nan)
        n_cand = np.zeros(n, dtype=np.int64)
        acc = np.zeros(n_items)
        seen = np.full(n_items, -1, dtype=np.int64)  # row that touched the item last
        excl = np.full(n_items, -1, dtype=np.int64)  # row that excludes the item
        touched = np.empty(n_items, dtype=np.int64)
        for r in range(n):
            for p in range(ex_ptr[r], ex_ptr[r + 1]):
                excl[ex_idx[p]] = r
            m = 0
            for p in range(ctx_ptr[r], ctx_ptr[r + 1]):  # the order of scipy's csr_matmat
                c = ctx_idx[p]
                for q in range(s_ptr[c], s_ptr[c + 1]):
                    j = s_idx[q]
                    if seen[j] != r:
                        seen[j] = r
                        acc[j] = 0.0
                        touched[m] = j
                        m += 1
                    acc[j] += s_val[q]
            filled = 0
            for t in range(m):
                j = touched[t]
                v = acc[j]
                if not (v > 0.0) or v == np.inf or excl[j] == r:
                    continue
                if filled == k:  # full: compare with the worst kept (last slot)
                    w = top[r, k - 1]
                    if v < w or (v == w and j > items[r, k - 1]):
                        continue
                    pos = k - 1
                else:
                    pos = filled
                    filled += 1
                while pos > 0 and (top[r, pos - 1] < v or (top[r, pos - 1] == v and items[r, pos - 1] > j)):
                    top[r, pos] = top[r, pos - 1]
                    items[r, pos] = items[r, pos - 1]
                    pos -= 1
                top[r, pos] = v
                items[r, pos] = j
            n_cand[r] = filled
            if filled < k:
                slot = filled
                for f in range(len(fill_order)):
                    if slot == k:
                        break
                    j = fill_order[f]
                    if excl[j] == r or (seen[j] == r and acc[j] > 0.0 and acc[j] != np.inf):
                        continue
                    items[r, slot] = j
                    top[r, slot] = fill[j]
                    slot += 1
        return items, top, n_cand

    return knn_topk_kernel


@cache
def _compiled_keep() -> Any:
    import numba

    @numba.njit(cache=True, nogil=True)
    def top_k_keep_kernel(indptr, indices, data, k):  # type: ignore[no-untyped-def]
        keep = np.zeros(len(data), dtype=np.bool_)
        vals = np.empty(len(data), dtype=np.float64)
        for r in range(len(indptr) - 1):
            a, b = indptr[r], indptr[r + 1]
            m = 0
            for p in range(a, b):  # only positive, finite entries count (the others are dropped)
                v = data[p]
                if v > 0.0 and v != np.inf:
                    vals[m] = v
                    m += 1
            if m <= k:
                for p in range(a, b):
                    keep[p] = data[p] > 0.0 and data[p] != np.inf
                continue
            kth = np.partition(vals[:m], m - k)[m - k]  # the k-th largest value of the row
            need = k
            ties = 0
            for p in range(a, b):
                if data[p] > kth and data[p] != np.inf:
                    keep[p] = True
                    need -= 1
                elif data[p] == kth:
                    ties += 1
            cols = np.empty(ties, dtype=np.int64)
            t = 0
            for p in range(a, b):
                if data[p] == kth:
                    cols[t] = indices[p]
                    t += 1
            last = np.sort(cols)[need - 1]  # ties at the cut go to the lower columns
            for p in range(a, b):
                if data[p] == kth and indices[p] <= last:
                    keep[p] = True
        return keep

    return top_k_keep_kernel


#: similarity codes of :func:`cooc_similarity` (the order of :data:`xsell_eval.similarity.SIMILARITIES`)
SIMILARITY_CODES = {"cosine": 0, "jaccard": 1, "asymmetric": 2, "lift": 3}


@cache
def _compiled_cooc() -> Any:
    import numba

    @numba.njit(cache=True, nogil=True)
    def cooc_kernel(  # type: ignore[no-untyped-def]
        x_ptr, x_idx, xt_ptr, xt_idx, start, stop, counts, pow_row, pow_col, code, n_total, shrink, k, cap
    ):
        n_items = len(counts)
        lengths = np.zeros(stop - start, dtype=np.int64)
        out_c = np.empty(cap, dtype=np.int64)
        out_v = np.empty(cap, dtype=np.float64)
        acc = np.zeros(n_items)
        seen = np.full(n_items, -1, dtype=np.int64)  # item row that touched the column last
        touched = np.empty(n_items, dtype=np.int64)
        vals = np.empty(n_items)
        cols = np.empty(n_items, dtype=np.int64)
        o = 0
        for i in range(start, stop):
            m = 0
            for p in range(xt_ptr[i], xt_ptr[i + 1]):  # the rows holding item i ...
                u = xt_idx[p]
                for q in range(x_ptr[u], x_ptr[u + 1]):  # ... and their items: co-counts c_ij
                    j = x_idx[q]
                    if seen[j] != i:
                        seen[j] = i
                        acc[j] = 0.0
                        touched[m] = j
                        m += 1
                    acc[j] += 1.0
            ni = counts[i]
            npos = 0
            for t in range(m):
                j = touched[t]
                if j == i:  # an item is not its own neighbour
                    continue
                co = acc[j]
                nj = counts[j]
                if code == 0:  # the operations of similarity._similarity_values, in its order
                    v = co / np.sqrt(ni * nj)
                elif code == 1:
                    v = co / (ni + nj - co)
                elif code == 2:
                    v = co / (pow_col[j] * pow_row[i])
                else:
                    v = co * n_total / (ni * nj)
                if not np.isfinite(v):
                    v = 0.0
                if shrink > 0:
                    v = v * (co / (co + shrink))
                if v > 0.0 and v != np.inf:
                    vals[npos] = v
                    cols[npos] = j
                    npos += 1
            if k >= 0 and npos > k:  # the k largest; ties at the cut go to the lower columns
                kth = np.partition(vals[:npos], npos - k)[npos - k]
                need = k
                ties = 0
                for t in range(npos):
                    if vals[t] > kth:
                        need -= 1
                    elif vals[t] == kth:
                        ties += 1
                tied = np.empty(ties, dtype=np.int64)
                n_t = 0
                for t in range(npos):
                    if vals[t] == kth:
                        tied[n_t] = cols[t]
                        n_t += 1
                last = np.sort(tied)[need - 1] if need > 0 else -1
                w = 0
                for t in range(npos):
                    if vals[t] > kth or (vals[t] == kth and cols[t] <= last):
                        vals[w] = vals[t]
                        cols[w] = cols[t]
                        w += 1
                npos = w
            order = np.argsort(cols[:npos])  # columns ascending (canonical CSR)
            for t in range(npos):
                out_c[o + t] = cols[order[t]]
                out_v[o + t] = vals[order[t]]
            o += npos
            lengths[i - start] = npos
        return lengths, out_c[:o], out_v[:o]

    return cooc_kernel


def cooc_similarity(
    x: Any,
    xt: Any,
    bounds: tuple[int, int],
    counts: np.ndarray,
    *,
    similarity: str,
    n_rows_total: int,
    shrink: float,
    k: int | None,
    cap: int,
    pow_row: np.ndarray | None = None,
    pow_col: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lengths, columns, values)`` of item rows ``bounds`` of the pruned similarity, co-counts counted in place.

    The compiled twin of one chunk of :func:`~xsell_eval.similarity.item_similarity`: for each item
    row it counts ``c_ij`` over the rows of binary ``x`` (CSR, rows × items; ``xt`` its CSR
    transpose) holding item ``i``, applies the similarity formula with the same floating-point
    operations, drops the diagonal and the entries that are not positive and finite, and keeps
    the ``k`` largest (ties: lower column; ``None`` keeps all). Columns come out ascending.
    Co-counts are exact integers, so the values equal the scipy path's bit for bit. ``cap``
    bounds the kept entries (the chunk's work, or rows × k).
    """
    z = np.zeros(1)
    return tuple(  # type: ignore[return-value]
        _compiled_cooc()(
            _index(x.indptr),
            _index(x.indices),
            _index(xt.indptr),
            _index(xt.indices),
            int(bounds[0]),
            int(bounds[1]),
            np.asarray(counts, dtype=np.float64),
            z if pow_row is None else pow_row,
            z if pow_col is None else pow_col,
            SIMILARITY_CODES[similarity],
            float(n_rows_total),
            float(shrink),
            -1 if k is None else int(k),
            int(cap),
        )
    )


def _index(a: np.ndarray) -> np.ndarray:
    """A CSR index array as the kernels take it: int32 or int64 as stored (no copy), anything else as int64."""
    return a if a.dtype in (np.int32, np.int64) else a.astype(np.int64)


def top_k_keep(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest positive entries of each CSR row (ties: lower column), as ``prune_rows`` keeps them.

    Entries that are not positive and finite are never kept (as ``prune_rows`` drops them); a row
    must not store a column twice.
    """
    return np.asarray(
        _compiled_keep()(
            np.asarray(indptr, dtype=np.int64),
            np.asarray(indices, dtype=np.int64),
            np.asarray(data, dtype=np.float64),
            int(k),
        )
    )


def knn_topk(
    context: Any, sim: Any, k: int, *, fill: np.ndarray | None = None, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(items, top, n_candidates)`` of item-kNN "sum" scoring, as :func:`~xsell_eval.queries.top_k_sparse` gives them.

    Args:
        context: CSR (n × n_items) carts; every stored non-zero is one cart item, and every
            stored entry is excluded from the answers.
        sim: CSR (n_items × n_items) item similarity (finite values).
        k: slots per row.
        fill: optional per-item fallback scores, each below every positive neighbourhood score.
        order: :func:`~xsell_eval.queries.fill_order` of ``fill``, when the caller has it cached.
    """
    import scipy.sparse as sp

    from xsell_eval.queries import fill_order
    from xsell_eval.similarity import binarize

    ex = sp.csr_matrix(context)
    ctx = binarize(ex)
    s = sp.csr_matrix(sim, dtype=np.float64)
    f = np.zeros(s.shape[1]) if fill is None else np.asarray(fill, dtype=np.float64)
    o = fill_order(fill) if order is None else order
    kernel = _compiled()
    items, top, n_cand = kernel(  # index arrays as stored (no per-call copy of the similarity's)
        _index(ctx.indptr),
        _index(ctx.indices),
        _index(ex.indptr),
        _index(ex.indices),
        _index(s.indptr),
        _index(s.indices),
        s.data,
        int(s.shape[1]),
        int(k),
        o,
        f,
    )
    return items, top, n_cand
