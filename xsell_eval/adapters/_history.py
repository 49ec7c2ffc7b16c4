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
from xsell_eval.queries import Recommendations, top_k_sparse
from xsell_eval.similarity import prune_rows

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


def sparse_top_k(
    name: str,
    scores: sp.csr_matrix,
    context: sp.csr_matrix,
    k: int,
    fallback_items: np.ndarray | None,
    fallback_scores: np.ndarray | None,
) -> Recommendations:
    """Top-``k`` positive sparse scores per row (no context item), then popular items.

    A thin wrapper of :func:`~xsell_eval.queries.top_k_sparse` (ties go to the lower item index).
    ``fallback`` of the result is True for the rows where no positive model score survived the
    cart exclusion (the list came from popularity alone).

    Args:
        name: adapter name for the Recommendations.
        scores: (n × n_items) CSR; only entries > 0 are candidates.
        context: (n × n_items) CSR of cart items, never returned.
        k: list length.
        fallback_items: item indices in popularity order (None: no fallback, pad with -1).
        fallback_scores: their scores, all below every model score.
    """
    fill = None
    if fallback_items is not None and fallback_scores is not None:
        fill = np.full(scores.shape[1], -np.inf)
        fill[fallback_items] = fallback_scores
    # the top k after the cart exclusion lie among each row's k + cart-size best entries (same tie order):
    # pruning first keeps the sort to about rows × (k + cart) entries, not every stored score
    keep = k + int(np.diff(context.indptr).max(initial=0))
    items, top, n_cand = top_k_sparse(prune_rows(sp.csr_matrix(scores), keep), k, exclude=context, fill=fill)
    return Recommendations(items, top, name, n_cand == 0)
