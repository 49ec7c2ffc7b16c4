"""Shared machinery of the history-based adapters (``buy-again``, ``tifu-knn``, ``ease``).

* :class:`BasketHistory` — every known user's train baskets in time order, and a vectorised
  selection of "the baskets of this query's user bought *before* the query time" (so a split
  that leaves later baskets in train never leaks them into a query's own history).
* :func:`sparse_top_k` — top-k of sparse per-query scores, filled up with a popularity
  ranking; cost follows the number of nonzero scores, never ``queries × items``.

::

    history baskets, sorted by (user, time)     query (user u, time t)
    user_ptr[u] .. user_ptr[u+1]   ──select──▶   baskets of u with time < t
                                                 + position from the most recent (0 = latest)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Recommendations

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class Selection:
    """(query, history basket) pairs: the baskets each query may use, oldest first per query.

    Attributes:
        query: row of the query in the batch, one entry per pair (sorted).
        basket: row of the basket in :attr:`BasketHistory.rows`.
        pos_from_end: 0 for the query's most recent eligible basket, 1 for the one before, ...
        n_baskets: number of eligible baskets per query (length = batch size).
        age_days: query time minus basket time in days (0 when either time is unknown).
    """

    query: np.ndarray
    basket: np.ndarray
    pos_from_end: np.ndarray
    n_baskets: np.ndarray
    age_days: np.ndarray


@dataclass(frozen=True)
class BasketHistory:
    """Known users' train baskets sorted by (user, time, basket index).

    Attributes:
        rows: binary (n_history_baskets × n_items) CSR, one row per basket in that order.
        times: int64 nanoseconds per basket (meaningless when ``timed`` is False).
        user_ptr: baskets of user ``u`` are rows ``user_ptr[u]:user_ptr[u + 1]``.
        timed: whether every train basket has a timestamp.
    """

    rows: sp.csr_matrix
    times: np.ndarray
    user_ptr: np.ndarray
    timed: bool

    @classmethod
    def from_dataset(cls, train: Dataset) -> BasketHistory:
        """Index the baskets of ``train``'s known users (guests' baskets are left out)."""
        b = train.baskets
        b = b[b[C.USER_IDX].to_numpy() >= 0]
        timed = train.has_timestamps
        times = b[C.TIMESTAMP].to_numpy().astype("datetime64[ns]").astype(np.int64)
        users = b[C.USER_IDX].to_numpy()
        order = np.lexsort((b[C.BASKET_IDX].to_numpy(), times if timed else np.zeros_like(times), users))
        users = users[order]
        rows = train.basket_item[b[C.BASKET_IDX].to_numpy()[order]].astype(np.float64).tocsr()
        ptr = np.searchsorted(users, np.arange(train.n_users + 1)).astype(np.int64)
        return cls(rows=rows, times=times[order], user_ptr=ptr, timed=timed)

    def select(self, user_idx: np.ndarray, query_time: np.ndarray | None) -> Selection:
        """The baskets each query may use: its user's, strictly before ``query_time`` when known.

        Args:
            user_idx: user index per query (-1: guest or unknown user -> no basket).
            query_time: ``datetime64`` per query, or None for "all of the user's train baskets".
        """
        n = len(user_idx)
        known = user_idx >= 0
        u = np.where(known, user_idx, 0)
        start = np.where(known, self.user_ptr[u], 0)
        length = np.where(known, self.user_ptr[u + 1] - start, 0)
        q = np.repeat(np.arange(n, dtype=np.int64), length)
        offs = np.arange(int(length.sum()), dtype=np.int64) - np.repeat(np.cumsum(length) - length, length)
        h = np.repeat(start, length) + offs
        age = np.zeros(len(h))
        if self.timed and query_time is not None:
            t = np.asarray(query_time).astype("datetime64[ns]")
            t_ok = ~np.isnat(t)
            t_ns = t.astype(np.int64)
            qt_ok = t_ok[q]
            keep = ~qt_ok | (self.times[h] < t_ns[q])  # never a basket at or after the query time
            q, h, qt_ok = q[keep], h[keep], qt_ok[keep]
            age = np.where(qt_ok, (t_ns[q] - self.times[h]) / NS_PER_DAY, 0.0)
        n_b = np.bincount(q, minlength=n).astype(np.int64)
        first = np.cumsum(n_b) - n_b
        rank = np.arange(len(q), dtype=np.int64) - first[q]
        return Selection(query=q, basket=h, pos_from_end=n_b[q] - 1 - rank, n_baskets=n_b, age_days=age)

    def weighted_sum(self, sel: Selection, weights: np.ndarray, n_queries: int) -> sp.csr_matrix:
        """Σ over each query's selected baskets of ``weight × basket row`` (n_queries × n_items)."""
        w = sp.csr_matrix((weights, (sel.query, sel.basket)), shape=(n_queries, self.rows.shape[0]))
        out = (w @ self.rows).tocsr()
        out.eliminate_zeros()
        return out


def popularity_fallback(train: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Items sold in train by decreasing basket count (ties: lower index) and their scores in (-1, 0).

    The scores are ``count / (max_count + 1) - 1``, as in ``cf``'s fallback: below any positive
    model score, in popularity order.
    """
    counts = train.item_basket_count.astype(np.float64)
    order = np.lexsort((np.arange(len(counts)), -counts))
    order = order[counts[order] > 0].astype(np.int64)
    top = counts.max(initial=0.0)
    return order, counts[order] / (top + 1.0) - 1.0


def _prune_to_top_k(s: sp.csr_matrix, k: int, max_cells: int = 1 << 22) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row of a CSR with sorted indices (ties: lower column).

    The k-th largest value of each long row comes from ``np.partition`` on the rows padded into
    dense blocks of at most ``max_cells`` cells, so the cost follows the nonzeros, not a sort.
    """
    nnz_row = np.diff(s.indptr)
    long_rows = np.flatnonzero(nnz_row > k)
    if len(long_rows) == 0:
        return s
    kth = np.full(s.shape[0], -np.inf)
    width = int(nnz_row[long_rows].max())
    step = max(1, max_cells // width)
    for lo in range(0, len(long_rows), step):
        rows = long_rows[lo : lo + step]
        counts = nnz_row[rows]
        block = np.full((len(rows), width), -np.inf)
        r = np.repeat(np.arange(len(rows)), counts)
        c = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        block[r, c] = s.data[np.repeat(s.indptr[rows], counts) + c]
        kth[rows] = -np.partition(-block, k - 1, axis=1)[:, k - 1]
    row_of = np.repeat(np.arange(s.shape[0]), nnz_row)
    v = s.data
    greater = v > kth[row_of]
    tied = v == kth[row_of]
    n_greater = np.bincount(row_of[greater], minlength=s.shape[0])
    cum = np.cumsum(tied)
    tie_rank = cum - np.r_[0, cum][s.indptr[:-1]][row_of]  # 1, 2, ... among a row's tied entries, by column
    keep = greater | (tied & (tie_rank <= (k - n_greater)[row_of]))
    out = sp.csr_matrix(
        (v[keep], s.indices[keep], np.r_[0, np.cumsum(np.bincount(row_of[keep], minlength=s.shape[0]))]), shape=s.shape
    )
    return out


def sparse_top_k(
    name: str,
    scores: sp.csr_matrix,
    context: sp.csr_matrix,
    k: int,
    fallback_items: np.ndarray | None,
    fallback_scores: np.ndarray | None,
) -> Recommendations:
    """Top-``k`` positive sparse scores per row (no context item), then popular items.

    Ties go to the lower item index. ``fallback`` of the result is True for the rows where no
    positive model score survived the cart exclusion (the list came from popularity alone).

    Args:
        name: adapter name for the Recommendations.
        scores: (n × n_items) CSR; only entries > 0 are candidates.
        context: (n × n_items) CSR of cart items, never returned.
        k: list length.
        fallback_items: item indices in popularity order (None: no fallback, pad with -1).
        fallback_scores: their scores, all below every model score.
    """
    n = scores.shape[0]
    s = scores.tocsr().copy()
    s.data[~(s.data > 0)] = 0.0
    if context.nnz:
        ctx = context.tocsr().copy()
        ctx.data[:] = 1.0
        s = s - s.multiply(ctx).tocsr()
    s = sp.csr_matrix(s)
    s.eliminate_zeros()
    s.sort_indices()
    coo = _prune_to_top_k(s, k).tocoo()
    order = np.lexsort((coo.col, -coo.data, coo.row))
    rows, cols, vals = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64), coo.data[order]
    per_row = np.bincount(rows, minlength=n)
    rank = np.arange(len(rows)) - (np.cumsum(per_row) - per_row)[rows]
    keep = rank < k
    items = np.full((n, k), -1, dtype=np.int64)
    top = np.full((n, k), np.nan)
    items[rows[keep], rank[keep]] = cols[keep]
    top[rows[keep], rank[keep]] = vals[keep]
    n_model = np.minimum(per_row, k)
    if fallback_items is not None and fallback_scores is not None and n:
        need = k - n_model
        max_ctx = int(np.diff(context.indptr).max(initial=0))
        cand = fallback_items[: k + max_ctx + k]
        cand_scores = np.asarray(fallback_scores)[: len(cand)]
        if len(cand):
            chosen = sp.csr_matrix(
                (np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=scores.shape, dtype=np.float64
            )
            taken = np.asarray((chosen + context)[:, cand].todense()) > 0
            avail = ~taken
            slot = np.cumsum(avail, axis=1)
            pick = avail & (slot <= need[:, None])
            r, c = np.nonzero(pick)
            pos = n_model[r] + slot[r, c] - 1
            items[r, pos] = cand[c]
            top[r, pos] = cand_scores[c]
    return Recommendations(items, top, name, n_model == 0)
