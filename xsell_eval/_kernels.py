"""Optional compiled kernels (numba, the ``[fast]`` extra) with the same results as the NumPy paths.

:func:`knn_topk` fuses item-kNN's candidate scoring and its top-k: for each query row it adds
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


def fill_order(fill: np.ndarray | None) -> np.ndarray:
    """Items with a finite fill score, best first (ties: lower index); empty when ``fill`` is None."""
    if fill is None:
        return np.zeros(0, dtype=np.int64)
    f = np.asarray(fill, dtype=np.float64)
    cand = np.flatnonzero(np.isfinite(f))
    return cand[np.lexsort((cand, -f[cand]))].astype(np.int64)


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
        order: ``fill_order(fill)``, when the caller has it cached.
    """
    import scipy.sparse as sp

    from xsell_eval.similarity import binarize

    ex = sp.csr_matrix(context)
    ctx = binarize(ex)
    s = sp.csr_matrix(sim, dtype=np.float64)
    f = np.zeros(s.shape[1]) if fill is None else np.asarray(fill, dtype=np.float64)
    o = fill_order(fill) if order is None else order
    kernel = _compiled()
    items, top, n_cand = kernel(
        ctx.indptr.astype(np.int64),
        ctx.indices.astype(np.int64),
        ex.indptr.astype(np.int64),
        ex.indices.astype(np.int64),
        s.indptr.astype(np.int64),
        s.indices.astype(np.int64),
        s.data,
        int(s.shape[1]),
        int(k),
        o,
        f,
    )
    return items, top, n_cand
