"""Requests (what an adapter is asked), Truth (what the evaluator keeps) and Recommendations.

All are frozen, array-backed values. Row ``q`` of every array/matrix belongs to query
``q``. Item columns use the :class:`~xsell_eval.data.Dataset` item index.

::

    Queries = Requests + Truth            Recommendations
    ──────────────────────────────────    ──────────────────────────
    Requests  (handed to adapters)        items   int64 n_q × k  (-1 = no item)
      query_id, user_idx, timestamp       scores  float n_q × k  (NaN where item == -1)
      context CSR n_q × n_items
      context_value, user_history, protocol
    Truth     (stays with the evaluator)
      basket_idx, targets CSR, target_value CSR (price×qty)

An adapter never sees a :class:`Truth`: the pipeline, tuning, the A/B simulator and the
conformance suite hand it ``queries.requests``, which has no target attribute at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.errors import DataError

HASH_KEY_ENV = "XSELL_HASH_KEY"
"""Environment variable holding the secret key of :func:`pseudonymise` (stable pseudonyms across runs)."""


def pseudonymise(user_ids: np.ndarray) -> np.ndarray:
    """Customer ids -> 16-hex-digit HMAC-SHA256 pseudonyms under a secret key.

    A plain hash of a customer number is reversed by hashing every possible number (five-digit
    ids take a second), so the hash is keyed: with ``$XSELL_HASH_KEY`` set, the same id gets the
    same pseudonym in every run (join runs; keep the key secret); without it, a random key is drawn
    for this call and never stored, so pseudonyms are consistent within the run's files only and
    cannot be reversed or linked to other runs.
    """
    import hashlib
    import hmac
    import os
    import secrets

    env = os.environ.get(HASH_KEY_ENV, "")
    key = env.encode() if env else secrets.token_bytes(32)
    return np.array([hmac.new(key, str(u).encode(), hashlib.sha256).hexdigest()[:16] for u in user_ids], dtype=object)


def _rows(n: int, rows: np.ndarray | slice) -> np.ndarray:
    """Row selection as an index array (``take`` accepts an index array or a slice)."""
    return np.arange(n)[rows] if isinstance(rows, slice) else np.asarray(rows)


def _fields_of(obj: Any, cls: type) -> dict[str, Any]:
    """``{field: obj.field}`` for the dataclass fields of ``cls`` (values shared, not copied)."""
    return {f.name: getattr(obj, f.name) for f in fields(cls)}


@dataclass(frozen=True, eq=False)
class Requests:
    """A batch of recommendation requests: everything an adapter may see, and nothing else.

    Attributes:
        query_id: int64, unique within a run.
        user_idx: int64 user index, -1 for guests / unknown users.
        timestamp: datetime64[ns] moment of the query (NaT if the data has no time).
        context: binary CSR (n_queries × n_items), the items already in the cart, the
            product viewed, or the user history for next-basket.
        context_value: float value of the revealed context (price × quantity), NaN if unknown.
        user_history: number of the user's baskets in the training period (0 for guests).
        protocol: name of the protocol that built the requests.

    Example:
        >>> import scipy.sparse as sp
        >>> r = Requests(np.arange(2), np.array([3, -1]), np.full(2, "NaT", dtype="datetime64[ns]"),
        ...              sp.csr_matrix(np.array([[1.0, 0, 0], [0, 1.0, 0]])), np.full(2, np.nan), np.array([4, 0]))
        >>> len(r), r.n_items, r.take([1]).user_idx.tolist()
        (2, 3, [-1])
        >>> hasattr(r, "targets")
        False
    """

    query_id: np.ndarray
    user_idx: np.ndarray
    timestamp: np.ndarray
    context: sp.csr_matrix
    context_value: np.ndarray
    user_history: np.ndarray
    protocol: str = "basket-completion"

    def __len__(self) -> int:
        return len(self.query_id)

    @property
    def n_items(self) -> int:
        """Width of the item index."""
        return int(self.context.shape[1])

    def take(self, rows: np.ndarray | slice) -> Requests:
        """A new Requests with the selected rows (index array or slice)."""
        idx = _rows(len(self), rows)
        return Requests(
            query_id=self.query_id[idx],
            user_idx=self.user_idx[idx],
            timestamp=self.timestamp[idx],
            context=self.context[idx],
            context_value=self.context_value[idx],
            user_history=self.user_history[idx],
            protocol=self.protocol,
        )

    def batches(self, size: int) -> list[Requests]:
        """Consecutive slices of at most ``size`` requests."""
        return [self.take(slice(s, s + size)) for s in range(0, len(self), size)]


@dataclass(frozen=True, eq=False)
class Truth:
    """The hidden answers to a batch of requests; only the evaluator reads them.

    Attributes:
        basket_idx: int64 index of the basket each query was built from (-1 if none).
        targets: CSR of quantities bought (n_queries × n_items).
        target_value: CSR of price × quantity of each target line (NaN-free; 0 if unknown).
    """

    basket_idx: np.ndarray
    targets: sp.csr_matrix
    target_value: sp.csr_matrix

    def __len__(self) -> int:
        return len(self.basket_idx)

    def take(self, rows: np.ndarray | slice) -> Truth:
        """A new Truth with the selected rows (index array or slice)."""
        idx = _rows(len(self), rows)
        return Truth(basket_idx=self.basket_idx[idx], targets=self.targets[idx], target_value=self.target_value[idx])


@dataclass(frozen=True, eq=False)
class Queries:
    """Requests plus their Truth, row by row: what the pipeline and the metrics work on.

    The fields are those of :class:`Requests` and :class:`Truth` side by side (plus
    ``meta``); :attr:`requests` and :attr:`truth` split them again, and
    :meth:`combine` joins them. Adapters receive :attr:`requests` only.

    Attributes:
        query_id: int64, unique within a run.
        user_idx: int64 user index, -1 for guests / unknown users.
        basket_idx: int64 basket index of the basket the query was built from (-1 if none).
        timestamp: datetime64[ns] moment of the query (NaT if the data has no time).
        context: binary CSR (n_queries × n_items), the items already in the cart, the
            product viewed, or the user history for next-basket.
        targets: CSR of quantities bought (n_queries × n_items); the hidden truth.
        target_value: CSR of price × quantity of each target line (NaN-free; 0 if unknown).
        context_value: float value of the revealed context (price × quantity), NaN if unknown.
        user_history: number of the user's baskets in the training period (0 for guests).
        protocol: name of the protocol that built the queries.
    """

    query_id: np.ndarray
    user_idx: np.ndarray
    basket_idx: np.ndarray
    timestamp: np.ndarray
    context: sp.csr_matrix
    targets: sp.csr_matrix
    target_value: sp.csr_matrix
    context_value: np.ndarray
    user_history: np.ndarray
    protocol: str = "basket-completion"
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.query_id)

    @property
    def n_items(self) -> int:
        """Width of the item index."""
        return int(self.context.shape[1])

    @property
    def requests(self) -> Requests:
        """What adapters receive: the same rows without any part of the truth (arrays shared, not copied)."""
        return Requests(**_fields_of(self, Requests))

    @property
    def truth(self) -> Truth:
        """The hidden answers (arrays shared, not copied)."""
        return Truth(**_fields_of(self, Truth))

    @classmethod
    def combine(cls, requests: Requests, truth: Truth, *, meta: dict[str, Any] | None = None) -> Queries:
        """Join requests and their truth (same rows, same order) into Queries."""
        if len(requests) != len(truth):
            raise DataError(
                f"requests have {len(requests)} rows, the truth has {len(truth)}; they must match row by row"
            )
        return cls(**_fields_of(requests, Requests), **_fields_of(truth, Truth), meta=dict(meta or {}))

    def take(self, rows: np.ndarray | slice) -> Queries:
        """A new Queries with the selected rows (index array or slice)."""
        idx = _rows(len(self), rows)
        return Queries.combine(self.requests.take(idx), self.truth.take(idx), meta=self.meta)

    def batches(self, size: int) -> list[Queries]:
        """Consecutive slices of at most ``size`` queries."""
        return [self.take(slice(s, s + size)) for s in range(0, len(self), size)]

    def without_targets(self) -> Requests:
        """Same as :attr:`requests` (kept for callers written before the Requests/Truth split)."""
        return self.requests

    def to_frame(self, item_ids: np.ndarray, user_ids: np.ndarray, *, hash_users: bool = False) -> pd.DataFrame:
        """One row per query with list columns of context and target item ids (for Parquet).

        The list columns are Arrow lists (``pd.ArrowDtype``; an element reads as a Python list),
        built from the CSR arrays without a Python object per query: the list column of
        ``queries.parquet`` as ``DataFrame.to_parquet`` infers it from Python lists, and
        :func:`xsell_eval.run_frames.write_parquet` writes them as such (same file).
        ``hash_users`` replaces customer ids by keyed pseudonyms (:func:`pseudonymise`).
        """

        def lists(m: sp.csr_matrix, values: np.ndarray | None) -> Any:
            """Per row: ``values`` at the column indices, or the stored data when ``values`` is None."""
            return _list_column(m.indptr, m.data if values is None else values, None if values is None else m.indices)

        known = self.user_idx >= 0
        users: np.ndarray = np.full(len(self), None, dtype=object)
        if len(user_ids):
            names = np.asarray(user_ids, dtype=object)
            if hash_users:
                names = pseudonymise(names)
            users[known] = names[self.user_idx[known]]
        tq = self.targets
        tv = self.target_value
        return pd.DataFrame(
            {
                C.QUERY: self.query_id,
                C.USER: users,
                C.TIMESTAMP: self.timestamp,
                "user_history": self.user_history,
                "context": lists(self.context, item_ids),
                "targets": lists(tq, item_ids),
                "target_quantity": lists(tq, None),
                "target_value": lists(tv, None),
                "context_value": self.context_value,
            }
        )


def _list_column(indptr: np.ndarray, values: np.ndarray, take: np.ndarray | None) -> Any:
    """Row ``i``: ``values[take[indptr[i]:indptr[i + 1]]]`` (``values[indptr[i]:...]`` without ``take``).

    An Arrow list array of the element type pyarrow infers for the Python values (``str`` -> string,
    ``float`` -> double, ``int`` -> int64; null when there is no element at all), so the Parquet
    column is the one written from Python lists; Python lists when the values do not convert.
    """
    import pyarrow as pa

    vals = np.asarray(values)
    if vals.dtype.kind in "iu":
        vals = vals.astype(np.int64, copy=False)
    elif vals.dtype.kind == "f":
        vals = vals.astype(np.float64, copy=False)
    n_values = len(vals) if take is None else len(take)
    try:
        if len(indptr) and int(indptr[-1]) > np.iinfo(np.int32).max:
            raise OverflowError("more list elements than 32-bit list offsets hold")
        child = pa.array(vals, from_pandas=True)  # NaN -> null, as pyarrow converts Python lists
        if child.type not in (pa.string(), pa.float64(), pa.int64(), pa.bool_()):
            raise TypeError(f"unexpected element type {child.type}")
        if take is not None:
            child = child.take(pa.array(np.asarray(take, dtype=np.int64)))
        if n_values == 0:
            child = pa.nulls(0)
        arr = pa.ListArray.from_arrays(pa.array(np.asarray(indptr, dtype=np.int32)), child)
    except (pa.ArrowException, TypeError, OverflowError):  # mixed or odd ids: Python lists, as before
        flat = vals if take is None else vals[take]
        return [part.tolist() for part in np.split(flat, np.asarray(indptr)[1:-1])]
    return pd.arrays.ArrowExtensionArray(arr)


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Top-k answers of one adapter to a batch of queries.

    Attributes:
        items: int64 (n_queries × k) item indices, best first; -1 pads when the adapter
            had fewer than k candidates.
        scores: float64 (n_queries × k), non-increasing along each row; NaN where item is -1.
        adapter: name of the adapter that produced them.
        fallback: bool per query, True where the adapter served the query from its
            fallback (e.g. no association rule fired); ``None`` if not applicable.
    """

    items: np.ndarray
    scores: np.ndarray
    adapter: str = ""
    fallback: np.ndarray | None = None

    @property
    def k(self) -> int:
        """Number of slots per query."""
        return int(self.items.shape[1])

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def truncate(self, k: int) -> Recommendations:
        """The first ``k`` slots of each list."""
        return Recommendations(self.items[:, :k], self.scores[:, :k], self.adapter, self.fallback)

    @staticmethod
    def concat(parts: list[Recommendations]) -> Recommendations:
        """Stack batches in order."""
        fb = None
        if parts and all(p.fallback is not None for p in parts):
            fb = np.concatenate([p.fallback for p in parts if p.fallback is not None])
        return Recommendations(
            items=np.vstack([p.items for p in parts]),
            scores=np.vstack([p.scores for p in parts]),
            adapter=parts[0].adapter if parts else "",
            fallback=fb,
        )

    def to_frame(self, query_id: np.ndarray, item_ids: np.ndarray) -> pd.DataFrame:
        """Long format: query_id, adapter, rank (1-based), item_id, score; padding dropped."""
        n, k = self.items.shape
        mask = self.items >= 0
        q = np.repeat(query_id, k).reshape(n, k)[mask]
        rank = np.tile(np.arange(1, k + 1), n).reshape(n, k)[mask]
        return pd.DataFrame(
            {
                C.QUERY: q,
                C.ADAPTER: self.adapter,
                C.RANK: rank.astype(np.int16),
                C.ITEM: item_ids[self.items[mask]],
                C.SCORE: self.scores[mask],
            }
        )


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic top-k of each row of a dense score matrix.

    Non-finite scores (``-inf``, NaN) mean "not a candidate". Items in ``exclude`` are
    removed. Ties are broken by the lower item index. Rows with fewer than ``k``
    candidates are padded with item -1 and score NaN.

    Example:
        >>> items, s = top_k(np.array([[0.1, 0.9, 0.9, -np.inf]]), 3)
        >>> items.tolist(), s.tolist()
        ([[1, 2, 0]], [[0.9, 0.9, 0.1]])
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    s[~np.isfinite(s)] = -np.inf
    if exclude is not None and exclude.nnz:
        r, c = exclude.nonzero()
        s[r, c] = -np.inf
    n, m = s.shape
    kk = min(k, m)
    if kk < m:
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        sub = np.take_along_axis(s, part, axis=1)
        order = np.take_along_axis(part, np.lexsort((part, -sub), axis=1), axis=1)
        # rows where items outside the partition tie with the k-th score: the partition
        # picked arbitrary ones among the tied; redo those rows with a full stable sort
        kth = sub.min(axis=1, keepdims=True)
        tied = (s >= kth).sum(axis=1) > kk
        if tied.any():
            rows = np.flatnonzero(tied)
            st = s[rows]
            full = np.lexsort((np.broadcast_to(np.arange(m), st.shape), -st), axis=1)[:, :kk]
            order[rows] = full
    else:
        order = np.lexsort((np.broadcast_to(np.arange(m), s.shape), -s), axis=1)
    top = np.take_along_axis(s, order, axis=1)
    items = order.astype(np.int64)
    bad = ~np.isfinite(top)
    items[bad] = -1
    top[bad] = np.nan
    if kk < k:
        items = np.hstack([items, np.full((n, k - kk), -1, dtype=np.int64)])
        top = np.hstack([top, np.full((n, k - kk), np.nan)])
    return items, top


#: cells of the padded block used to find each long row's k-th largest score
_KTH_BLOCK_CELLS = 1 << 22


def row_top_entries(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    k: int,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The stored entries of each CSR row that can be in its top ``k + extra``, ordered (row, score desc, column asc).

    Rows longer than ``k + extra[row]`` are first cut at that rank's score (``np.partition`` on
    length-sorted row blocks of at most ``2**22`` padded cells); the entries left — the top
    ones plus any tied with the cut — are sorted with one ``np.lexsort``. Column indices need
    not be sorted within rows (the column is a sort key of the survivors), but a row must not
    store a column twice (scipy's sparse products never do). The cost follows the stored
    entries, never ``rows × columns``.

    Args:
        indptr: CSR row pointer (``n_rows + 1``).
        indices: column of each stored entry.
        data: score of each stored entry (finite).
        k: entries wanted per row (>= 1).
        extra: optional per-row number of additional entries to keep (e.g. the entries the
            caller will still exclude).

    Returns:
        ``(pos, rank)``: positions into ``data`` in (row, -score, column) order, and each one's
        0-based rank within its row (entries with ``rank >= k + extra`` are ties past the cut).

    Example:
        >>> pos, rank = row_top_entries(np.array([0, 3]), np.array([2, 1, 0]), np.array([0.5, 0.9, 0.9]), 2)
        >>> pos.tolist(), rank.tolist()
        ([2, 1], [0, 1])
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    data = np.asarray(data, dtype=np.float64)
    lengths = np.diff(indptr)
    n = len(lengths)
    want = np.full(n, k, dtype=np.int64) if extra is None else k + np.asarray(extra, dtype=np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    long_rows = np.flatnonzero(lengths > want)
    if len(long_rows):
        kth = np.full(n, -np.inf)
        long_rows = long_rows[np.argsort(lengths[long_rows], kind="stable")]
        i = 0
        while i < len(long_rows):
            cnt = max(1, _KTH_BLOCK_CELLS // int(lengths[long_rows[i]]))
            j = min(i + cnt, len(long_rows))
            while j > i + 1 and (j - i) * int(lengths[long_rows[j - 1]]) > _KTH_BLOCK_CELLS:
                j = i + max(1, _KTH_BLOCK_CELLS // int(lengths[long_rows[j - 1]]))
            blk = long_rows[i:j]
            lens = lengths[blk]
            cut = want[blk] - 1  # 0-based rank of the cut in each row (< its length)
            total = int(lens.sum())
            rr = np.repeat(np.arange(len(blk)), lens)
            offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
            pad = np.full((len(blk), int(lens.max())), np.inf)
            pad[rr, offs] = -data[np.repeat(indptr[blk], lens) + offs]
            kths = np.unique(cut)
            part = np.partition(pad, kths, axis=1)
            kth[blk] = -part[np.arange(len(blk)), cut]
            i = j
        pos = np.flatnonzero(data >= kth[rows])
    else:
        pos = np.arange(len(data), dtype=np.int64)
    pos = pos[np.lexsort((indices[pos], -data[pos], rows[pos]))]
    r = rows[pos]
    counts = np.bincount(r, minlength=n)
    rank = np.arange(len(pos), dtype=np.int64) - (np.cumsum(counts) - counts)[r]
    return pos, rank


def top_k_sparse(
    scores: sp.csr_matrix | sp.csr_array,
    k: int,
    exclude: sp.csr_matrix | None = None,
    *,
    fill: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k of each row over its stored candidates only: the sparse twin of :func:`top_k`.

    A stored entry with a finite score is a candidate; an item not stored is not (the
    dense equivalent is a row that is ``-inf`` outside the stored entries). Items in
    ``exclude`` are removed. Ties go to the lower item index, as in :func:`top_k`, so
    ``top_k_sparse(S, k, E)`` equals ``top_k(S_dense, k, E)`` with ``S_dense`` ``-inf``
    where ``S`` stores nothing. A row must not store an item twice (scipy's sparse products
    never do; column order within rows does not matter).

    Cost follows the stored entries, never ``rows × items``: each row is cut at its
    ``(k + excluded items of the row)``-th score by a partition, and only the survivors are
    checked against ``exclude`` and sorted.

    Rows with fewer than ``k`` candidates are filled from ``fill`` when given: a per-item
    score vector (``-inf``/NaN = never filled) whose every finite value is below every
    candidate score; the fill items are taken best first (ties: lower index), skipping
    excluded items and the row's candidates. This equals the dense ``top_k`` of the fused
    row ``where(candidate, score, fill)``. Remaining slots hold item -1, score NaN.

    Args:
        scores: CSR (n_rows × n_items) candidate scores.
        k: slots per row (>= 1).
        exclude: optional CSR (n_rows × n_items); stored entries are never returned.
        fill: optional (n_items,) fallback scores, all below every candidate score.

    Returns:
        ``(items, top, n_candidates)``: int64 (n_rows × k), float64 (n_rows × k) and, per
        row, ``min(k, candidates left after exclude)`` (0 = served by ``fill`` alone).

    Raises:
        ValueError: a finite ``fill`` score is not below the lowest candidate score.

    Example:
        >>> s = sp.csr_matrix(np.array([[0.0, 0.9, 0.9, 0.2]]))
        >>> items, top, n = top_k_sparse(s, 4, fill=np.array([-0.5, -0.1, -0.2, -0.3]))
        >>> items.tolist(), top.tolist(), n.tolist()
        ([[1, 2, 3, 0]], [[0.9, 0.9, 0.2, -0.5]], [3])
    """
    m = sp.csr_matrix(scores, dtype=np.float64)
    n, n_items = m.shape
    data, indices, indptr = m.data, m.indices, m.indptr
    finite = np.isfinite(data)
    if not finite.all():
        lengths = np.bincount(np.repeat(np.arange(n), np.diff(indptr))[finite], minlength=n)
        data, indices = data[finite], indices[finite]
        indptr = np.concatenate([[0], np.cumsum(lengths)])
    ex = None
    extra = None
    if exclude is not None and exclude.nnz:
        ex = sp.csr_matrix(exclude)
        extra = np.diff(ex.indptr).astype(np.int64)
    pos, rank = row_top_entries(indptr, indices, data, k, extra)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))[pos]
    cols = indices[pos].astype(np.int64)
    if ex is not None:
        ex_keys = np.unique(np.repeat(np.arange(n, dtype=np.int64), np.diff(ex.indptr)) * n_items + ex.indices)
        keys = rows * n_items + cols
        at = np.minimum(np.searchsorted(ex_keys, keys), len(ex_keys) - 1)
        keep = ex_keys[at] != keys
        pos, rows, cols = pos[keep], rows[keep], cols[keep]
        counts = np.bincount(rows, minlength=n)
        rank = np.arange(len(pos), dtype=np.int64) - (np.cumsum(counts) - counts)[rows]
    sel = rank < k
    items = np.full((n, k), -1, dtype=np.int64)
    top = np.full((n, k), np.nan)
    items[rows[sel], rank[sel]] = cols[sel]
    top[rows[sel], rank[sel]] = data[pos[sel]]
    n_cand = np.minimum(np.bincount(rows, minlength=n), k).astype(np.int64)
    if fill is not None:
        _fill_rows(items, top, n_cand, np.asarray(fill, dtype=np.float64), ex)
    return items, top, n_cand


def fill_order(fill: np.ndarray | None) -> np.ndarray:
    """Items with a finite fill score, best first (ties: lower index); empty when ``fill`` is None.

    Example:
        >>> fill_order(np.array([-0.5, -0.1, -np.inf, -0.1])).tolist()
        [1, 3, 0]
    """
    if fill is None:
        return np.zeros(0, dtype=np.int64)
    f = np.asarray(fill, dtype=np.float64)
    cand = np.flatnonzero(np.isfinite(f))
    return cand[np.lexsort((cand, -f[cand]))].astype(np.int64)


def _fill_rows(
    items: np.ndarray, top: np.ndarray, n_cand: np.ndarray, fill: np.ndarray, exclude: sp.csr_matrix | None
) -> None:
    """Fill the free slots of rows with fewer than k candidates from the global ``fill`` order, in place."""
    k = items.shape[1]
    short = np.flatnonzero(n_cand < k)
    finite = np.isfinite(fill)
    if not len(short) or not finite.any():
        return
    lowest = np.nanmin(np.where(items[short] >= 0, top[short], np.inf), initial=np.inf)
    if fill[finite].max() >= lowest:
        raise ValueError("top_k_sparse: every fill score must be below every candidate score")
    order = fill_order(fill)
    pos_in_order = np.full(len(fill), -1, dtype=np.int64)
    pos_in_order[order] = np.arange(len(order))
    # items a short row must skip: its excluded items and its (fewer than k) candidates
    chosen = items[short]
    r_blk = [np.repeat(np.arange(len(short)), k)[chosen.ravel() >= 0]]
    i_blk = [chosen.ravel()[chosen.ravel() >= 0]]
    if exclude is not None:
        sub = exclude[short]
        r_blk.append(np.repeat(np.arange(len(short)), np.diff(sub.indptr)))
        i_blk.append(sub.indices.astype(np.int64))
    r_b = np.concatenate(r_blk)
    p_b = pos_in_order[np.concatenate(i_blk)]
    skip = np.bincount(r_b[p_b >= 0], minlength=len(short))
    width = min(len(order), k + int(skip.max(initial=0)))
    blocked = np.zeros((len(short), width), dtype=bool)
    inside = (p_b >= 0) & (p_b < width)
    blocked[r_b[inside], p_b[inside]] = True
    free = ~blocked
    rank = np.cumsum(free, axis=1)
    need = k - n_cand[short]
    take = free & (rank <= need[:, None])
    r, c = np.nonzero(take)
    slot = n_cand[short][r] + rank[r, c] - 1
    items[short[r], slot] = order[c]
    top[short[r], slot] = fill[order[c]]
