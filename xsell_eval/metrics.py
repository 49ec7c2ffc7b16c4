"""Ranking, business and beyond-accuracy metrics, computed per query without a query loop.

Every per-query metric is computed for several cut-offs ``k`` from *one* hit matrix of
the largest ``k``::

    recs.items (n × K)        targets (CSR n × n_items) as an n × width matrix padded with -2
    ┌──────────────┐          (np.searchsorted on keys q * n_items + item for queries with > 16)
    │ 7  3  -1 ... │  ──────► slot == target, one pass per target column ──►  hits (n × K, bool)
    └──────────────┘                                                         values (n × K, price × qty)
                      running sums along the rank axis, taken at each k, give every metric at every k

Definitions (full text with the edge cases: ``docs/metrics.md``). ``T`` is the set of
distinct target items of a query, ``rel_r`` is 1 when the item at rank ``r`` (1-based)
is in ``T``, ``H_k = sum_{r<=k} rel_r``:

- ``precision@k = H_k / k`` (divides by k even when fewer than k items were recommended)
- ``recall@k = H_k / |T|``
- ``hit_rate@k = 1[H_k > 0]`` — the conversion proxy
- ``ndcg@k = DCG_k / IDCG_k``, ``DCG_k = sum_r rel_r / log2(r + 1)``, IDCG over
  ``min(|T|, k)`` relevant items (binary relevance)
- ``mrr@k = 1 / (rank of the first hit)``, 0 if no hit within k
- ``map@k = (1 / min(|T|, k)) * sum_r precision@r * rel_r``
- ``revenue@k = sum of price × quantity of the recommended targets``
- ``uplift@k = revenue@k / mean context value`` (basket value uplift, a ratio of means): the
  mean cart value is taken over the test queries that have targets and a positive cart value,
  so the mean of ``uplift@k`` over those queries is ``sum(revenue@k) / sum(context value)``.
  (Before 2026-12 it was the mean of per-query ratios ``revenue@k / context_value``, which a
  few one-item carts of low value could dominate; docs/metrics.md.)
- ``novelty@k`` = mean self-information ``-log2(max(pop_i, 1) / N_train_baskets)`` of
  the recommended items
- ``diversity@k`` = intra-list diversity by category: share of pairs of recommended
  (categorised) items whose categories differ
- ``coverage@k`` (aggregate) = distinct recommended items in the catalog / catalog size

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> from xsell_eval.queries import Queries, Recommendations
    >>> t = sp.csr_matrix(np.array([[0, 1, 0, 1]], dtype=float))
    >>> q = Queries(query_id=np.array([0]), user_idx=np.array([-1]), basket_idx=np.array([0]),
    ...             timestamp=np.array(["NaT"], dtype="datetime64[ns]"), context=sp.csr_matrix((1, 4)),
    ...             targets=t, target_value=t * 2.0, context_value=np.array([4.0]), user_history=np.array([0]))
    >>> r = Recommendations(items=np.array([[1, 2]]), scores=np.array([[2.0, 1.0]]))
    >>> df = per_query_metrics(r, q, [2], item_popularity=np.ones(4, dtype=int), n_train_baskets=4,
    ...                        item_category=np.full(4, -1))
    >>> df[["precision@2", "recall@2", "hit_rate@2", "revenue@2", "uplift@2"]].iloc[0].tolist()
    [0.5, 0.5, 1.0, 2.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError, DataError, unknown_name
from xsell_eval.metric_specs import (  # noqa: F401 - the registry is re-exported here for its importers
    AGGREGATE_METRICS,
    DEFAULT_HEAD_SHARE,
    ITEM_BUCKET_METRICS,
    ITEM_BUCKETS,
    METRICS,
    PER_QUERY_METRICS,
    USER_BUCKETS,
    MetricSpec,
    Scope,
    _check_k,
    _check_ks,
    metric_column,
    parse_metric,
)
from xsell_eval.queries import Queries, Recommendations


# --------------------------------------------------------------------------- buckets
def user_bucket(history: np.ndarray) -> np.ndarray:
    """Cold-start bucket of each query's user by prior train baskets.

    ``"0"`` (guests, unknown and new users), ``"1-2"``, ``"3-9"``, ``"10+"``.

    Example:
        >>> user_bucket(np.array([0, 1, 2, 3, 9, 10, 250])).tolist()
        ['0', '1-2', '1-2', '3-9', '3-9', '10+', '10+']
    """
    h = np.asarray(history, dtype=np.float64)
    h = np.where(np.isfinite(h), h, 0.0)
    idx = np.searchsorted(np.array([1, 3, 10]), h, side="right")
    return np.asarray(USER_BUCKETS, dtype=object)[idx]


def item_buckets(popularity: np.ndarray, *, head_share: float = DEFAULT_HEAD_SHARE) -> np.ndarray:
    """Popularity bucket of every item from its number of train baskets.

    - ``"unseen"``: in no train basket (item cold start);
    - ``"head"``: the most popular items that together account for ``head_share`` of
      all train item-basket occurrences (items tied with the boundary item go to the
      head, so the rule does not depend on item order);
    - ``"tail"``: every other seen item.

    The default 0.5 cuts the cumulative popularity (Lorenz) curve at its median, so
    that head and tail each hold half of the purchases — and roughly half of the test
    targets, which keeps both buckets' confidence intervals usable. ``head_share=0.8``
    gives the Pareto 80/20 cut, ``0.2`` the narrow "short head".

    Example:
        >>> item_buckets(np.array([0, 50, 30, 10, 5, 5])).tolist()
        ['unseen', 'head', 'tail', 'tail', 'tail', 'tail']
    """
    if not (0.0 < float(head_share) <= 1.0):
        raise ConfigError(f"`head_share` must be in (0, 1], got {head_share!r}")
    pop = np.asarray(popularity, dtype=np.float64)
    out = np.full(pop.shape, "tail", dtype=object)
    out[pop <= 0] = "unseen"
    total = pop[pop > 0].sum()
    if total > 0:
        desc = np.sort(pop[pop > 0])[::-1]
        cum = np.cumsum(desc)
        boundary = desc[min(int(np.searchsorted(cum, head_share * total - 1e-9 * total)), len(desc) - 1)]
        out[(pop > 0) & (pop >= boundary)] = "head"
    return out


# --------------------------------------------------------------------------- core arrays
@dataclass(frozen=True)
class _Ranked:
    """Per-slot arrays of the largest k, shared by every metric."""

    items: np.ndarray  # n × K int64, -1 padding and repeated items
    valid: np.ndarray  # n × K bool: a distinct recommended item
    hits: np.ndarray  # n × K bool
    hit_value: np.ndarray  # n × K float: value of the hit target (0 for misses)
    n_targets: np.ndarray  # n int: distinct target items
    value_unknown: np.ndarray  # n bool: some target has an unknown price
    t_rows: np.ndarray  # per target entry: its query (row)
    t_items: np.ndarray  # per target entry: its item
    t_unknown: np.ndarray  # per target entry: its value is unknown


def _canonical(m: sp.spmatrix, name: str, shape: tuple[int, int]) -> sp.csr_matrix:
    if m.shape != shape:
        raise DataError(f"queries.{name} has shape {m.shape}, expected {shape}")
    out = sp.csr_matrix(m, dtype=np.float64, copy=True)
    out.sum_duplicates()  # also sorts the indices of each row
    return out


def _check_rows(recs: Recommendations, n: int) -> None:
    if np.asarray(recs.items).ndim != 2 or len(recs.items) != n:
        raise DataError(f"recommendations have shape {np.shape(recs.items)}, expected ({n}, k) — one row per query")


def _take_recs(recs: Recommendations, start: int, stop: int) -> Recommendations:
    return Recommendations(recs.items[start:stop], recs.scores[start:stop], recs.adapter)


def _pad_items(recs: Recommendations, n: int, k_max: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    _check_rows(recs, n)
    items = np.asarray(recs.items).astype(np.int64, copy=False)
    if items.size and (items.min() < -1 or items.max() >= n_items):
        raise DataError(
            f"recommendations of '{recs.adapter}' contain item indices outside [-1, {n_items - 1}] "
            f"(min {items.min()}, max {items.max()})"
        )
    if items.shape[1] >= k_max:
        items = items[:, :k_max]  # copied below only if a slot must be blanked
    else:
        items = np.hstack([items, np.full((n, k_max - items.shape[1]), -1, dtype=np.int64)])
    valid = items >= 0
    repeats = False
    if k_max > 1:  # repeated items are rare (adapters return distinct lists): find out with one sort first
        srt = np.sort(items, axis=1)
        repeats = bool(((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any())
    if repeats and k_max <= 32:
        # a repeated item counts once, at its first (best) rank: compare each slot with the earlier ones
        for j in range(1, k_max):
            dup = (items[:, :j] == items[:, j : j + 1]).any(axis=1) & valid[:, j]
            valid[:, j] &= ~dup
    elif repeats:
        order = np.argsort(items, axis=1, kind="stable")
        s = np.take_along_axis(items, order, axis=1)
        dup_sorted = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
        if dup_sorted.any():
            r, c = np.nonzero(dup_sorted)
            valid[r, order[r, c + 1]] = False
    if not valid.all():
        items = np.where(valid, items, -1)
    return items, valid


def _binary_targets(m: sp.spmatrix, shape: tuple[int, int]) -> sp.csr_matrix:
    """The targets as a canonical CSR of their positive entries; no copy when they already are one."""
    if m.shape != shape:
        raise DataError(f"queries.targets has shape {m.shape}, expected {shape}")
    if isinstance(m, sp.csr_matrix) and m.has_canonical_format and bool((m.data > 0).all()):
        return m
    t = _canonical(m, "targets", shape)
    t.data = (t.data > 0).astype(np.float64)
    t.eliminate_zeros()
    return t


def _canonical_values(m: sp.spmatrix, shape: tuple[int, int]) -> sp.csr_matrix:
    """``target_value`` as a canonical float CSR; no copy when it already is one."""
    if isinstance(m, sp.csr_matrix) and m.shape == shape and m.dtype == np.float64 and m.has_canonical_format:
        return m
    return _canonical(m, "target_value", shape)


def _row_block(m: sp.csr_matrix, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``start:stop`` of a CSR as (indptr from 0, indices, data) views (no copy of indices/data)."""
    a, b = int(m.indptr[start]), int(m.indptr[stop])
    return m.indptr[start : stop + 1] - a, m.indices[a:b], m.data[a:b]


_PAD_WIDTH = 16  # queries with at most this many targets are matched against a padded target matrix


def _lookup(
    items: np.ndarray,
    t_indptr: np.ndarray,
    t_rows: np.ndarray,
    t_items: np.ndarray,
    n_targets: np.ndarray,
    n_items: int,
    t_value: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per slot of ``items`` (n × K, -1 = none): is it a target of its query, and that target's value.

    Queries with at most :data:`_PAD_WIDTH` targets (nearly all) compare their slots with an n × width
    matrix of their targets padded with -2: ``width`` vectorised passes, several times faster than a
    binary search of every slot among all target keys. The other queries use ``np.searchsorted`` on
    the sorted keys ``query × n_items + item``. Targets of a query are distinct, so a slot matches at
    most one of them. Returns ``(hits, values)``; ``values`` (0 where no hit) is None when ``t_value`` is.
    """
    n, k = items.shape
    small = n_targets <= _PAD_WIDTH
    width = int(n_targets[small].max(initial=0))
    hits = np.zeros((n, k), dtype=bool)
    values = None if t_value is None else np.zeros((n, k))
    if width:
        sel = small[t_rows]
        rows = t_rows[sel]
        col = (np.arange(len(t_rows), dtype=np.int64) - t_indptr[t_rows])[sel]
        pad = np.full((n, width), -2, dtype=np.int64)
        pad[rows, col] = t_items[sel]
        if values is not None and t_value is not None:
            vpad = np.zeros((n, width))
            vpad[rows, col] = t_value[sel]
        eq = np.empty((n, k), dtype=bool)
        for j in range(width):
            np.equal(items, pad[:, j : j + 1], out=eq)
            hits |= eq
            if values is not None:
                np.copyto(values, vpad[:, j : j + 1], where=eq)
    big = np.flatnonzero(~small)
    if len(big):
        t_keys = t_rows * n_items + t_items  # sorted: CSR canonical order
        r_keys = big[:, None] * n_items + items[big]
        p = np.searchsorted(t_keys, r_keys)
        np.minimum(p, len(t_keys) - 1, out=p)
        h = t_keys[p] == r_keys
        hits[big] = h
        if values is not None and t_value is not None:
            values[big] = np.where(h, t_value[p], 0.0)
    return hits, values


def _ranked(
    recs: Recommendations,
    n_items: int,
    k_max: int,
    t: tuple[np.ndarray, np.ndarray, np.ndarray],
    v: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    item_price: np.ndarray | None = None,
) -> _Ranked:
    """Hits of the top ``k_max`` against one batch's targets ``t`` (canonical, positive entries; see
    :func:`_row_block`); ``v`` is the batch's ``target_value``, ``None`` skips the value lookup (all 0, known)."""
    t_indptr, t_indices, _ = t
    n = len(t_indptr) - 1
    items, valid = _pad_items(recs, n, k_max, n_items)
    n_targets = np.diff(t_indptr).astype(np.int64)
    t_rows = np.repeat(np.arange(n, dtype=np.int64), n_targets)
    t_items = t_indices.astype(np.int64)
    if v is not None:
        v_indptr, v_indices, v_data = v
        if (
            len(v_indices) == len(t_indices)
            and np.array_equal(v_indptr, t_indptr)
            and np.array_equal(v_indices, t_indices)
        ):
            t_value = v_data.astype(np.float64)  # the usual case: values stored exactly where the targets are
        else:
            t_keys = t_rows * n_items + t_items  # sorted: CSR canonical order
            v_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(v_indptr)) * n_items + v_indices
            # value of each target entry (0 when target_value has no entry, NaN when stored NaN)
            pos = np.searchsorted(v_keys, t_keys)
            pos_c = np.minimum(pos, max(len(v_keys) - 1, 0))
            found = (pos < len(v_keys)) & (v_keys[pos_c] == t_keys) if len(v_keys) else np.zeros(len(t_keys), bool)
            t_value = np.where(found, v_data[pos_c] if len(v_keys) else 0.0, 0.0)
        unknown = np.isnan(t_value)
        if item_price is not None:
            price = np.asarray(item_price, dtype=np.float64)
            if price.shape != (n_items,):
                raise DataError(f"item_price has shape {price.shape}, expected ({n_items},)")
            unknown |= ~np.isfinite(price[t_items])
    else:
        t_value = np.zeros(len(t_items))
        unknown = np.zeros(len(t_items), dtype=bool)
    value_unknown = np.bincount(t_rows[unknown], minlength=n) > 0

    hits = np.zeros(items.shape, dtype=bool)
    hit_value: np.ndarray = np.broadcast_to(np.float64(0.0), items.shape)
    if len(t_items) and items.size:
        hits, hv = _lookup(items, t_indptr, t_rows, t_items, n_targets, n_items, None if v is None else t_value)
        hits &= valid  # repeated slots (padding -1 never matches)
        if hv is not None:
            hit_value = np.where(hits, hv, 0.0)
    return _Ranked(items, valid, hits, hit_value, n_targets, value_unknown, t_rows, t_items, unknown)


def _validate_stats(
    n_items: int, item_popularity: np.ndarray, n_train_baskets: int, item_category: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    pop = np.asarray(item_popularity, dtype=np.float64)
    cat = np.asarray(item_category)
    if pop.shape != (n_items,):
        raise DataError(f"item_popularity has shape {pop.shape}, expected ({n_items},) — one count per item")
    if cat.shape != (n_items,):
        raise DataError(f"item_category has shape {cat.shape}, expected ({n_items},) — one code per item")
    if isinstance(n_train_baskets, bool) or int(n_train_baskets) < 1:
        raise ConfigError(f"`n_train_baskets` must be an int >= 1, got {n_train_baskets!r}")
    if pop.size and (pop.min() < 0 or pop.max() > n_train_baskets):
        raise DataError(f"item_popularity must lie in [0, n_train_baskets={n_train_baskets}]")
    return pop, cat.astype(np.int64)


def _same_category_pairs_at(cats: np.ndarray, ks: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per row and k: (pairs of categorised items, pairs with the same category) in the first k slots.

    ``cats`` is n × K with -1 = no category. One left-to-right pass: slot j adds the number of
    earlier slots of its (known) category, so every k is read off the way (integer counts, exact).
    """
    n, k_max = cats.shape
    known = cats >= 0
    m = _cum_at(known, ks)
    same = np.zeros(n, dtype=np.int64)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j in range(k_max):
        if j:
            same += np.count_nonzero(cats[:, :j] == cats[:, j : j + 1], axis=1) * known[:, j]
        if j + 1 in m:
            out[j + 1] = (m[j + 1] * (m[j + 1] - 1) / 2.0, same.astype(np.float64))
    return out


def _metric_names(metrics: Sequence[str] | None) -> list[str]:
    """Requested per-query metric names in :data:`PER_QUERY_METRICS` order (None = all)."""
    if metrics is None:
        return list(PER_QUERY_METRICS)
    wanted = set()
    for m in metrics:
        name = str(m).split("@")[0].strip().lower()
        if name not in METRICS:
            raise unknown_name("metric", name, METRICS)
        wanted.add(name)
    return [m for m in PER_QUERY_METRICS if m in wanted]


@dataclass(frozen=True)
class RankingMetrics:
    """Everything measured on one ranking, from one hit matrix per batch.

    Attributes:
        per_query: ``query_id`` and ``"<metric>@<k>"`` columns (see :func:`per_query_metrics`).
        by_item_bucket: ``{"unseen"|"tail"|"head": frame}`` (see
            :func:`per_query_metrics_by_item_bucket`); empty when not asked for.
    """

    per_query: pd.DataFrame
    by_item_bucket: dict[str, pd.DataFrame]


def evaluate_ranking(
    recs: Recommendations,
    queries: Queries,
    ks: Sequence[int],
    *,
    item_popularity: np.ndarray,
    n_train_baskets: int,
    item_category: np.ndarray,
    item_price: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
    item_buckets_of: bool = False,
    head_share: float = DEFAULT_HEAD_SHARE,
    batch_size: int = 100_000,
) -> RankingMetrics:
    """Per-query metrics and (optionally) their per-item-bucket breakdown, ranking each batch once.

    The hit matrix of the largest k is built once per batch of queries; every requested
    metric, every cut-off and every item bucket is read from it. Results are written into
    preallocated columns (no concatenation of per-batch frames).

    Args:
        recs, queries, ks, item_popularity, n_train_baskets, item_category, item_price, batch_size:
            as in :func:`per_query_metrics`.
        metrics: per-query metric names to compute (``"ndcg"`` or ``"ndcg@10"``; the cut-offs
            come from ``ks``); ``None`` = all of :data:`PER_QUERY_METRICS`. Aggregate metrics
            (coverage) are ignored here.
        item_buckets_of: also compute :data:`ITEM_BUCKET_METRICS` per item popularity bucket.
        head_share: head/tail cut of :func:`item_buckets`.

    Raises:
        UnknownNameError: an unknown metric name.
        ConfigError: a k < 1.
        DataError: shapes of recommendations, queries or item statistics disagree.
    """
    ks = _check_ks(ks)
    batch_size = _check_k(batch_size, "batch_size")
    names = _metric_names(metrics)
    n, n_items = len(queries), queries.n_items
    _check_rows(recs, n)
    pop, cat = _validate_stats(n_items, item_popularity, n_train_baskets, item_category)
    bucket_codes = None
    if item_buckets_of:
        labels = item_buckets(pop, head_share=head_share)
        bucket_codes = np.zeros(n_items, dtype=np.int64)
        for code, b in enumerate(ITEM_BUCKETS):
            bucket_codes[labels == b] = code
    col_names = [metric_column(m, k) for m in names for k in ks]
    block = np.empty((len(col_names), n))  # one float block: rows are the columns of the result, no copy later
    cols = {c: block[j] for j, c in enumerate(col_names)}
    parts: list[dict[str, list[np.ndarray]]] = [{} for _ in ITEM_BUCKETS]
    need_values = bool({"revenue", "uplift"} & set(names)) or item_buckets_of
    mean_ctx = _mean_context_value(queries) if "uplift" in names else np.nan
    t_all = _binary_targets(queries.targets, (n, n_items))
    v_all = _canonical_values(queries.target_value, (n, n_items)) if need_values else None
    ctx_all = np.asarray(queries.context_value, dtype=np.float64)
    qid_all = np.asarray(queries.query_id)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        rr = recs if (start == 0 and stop == n) else _take_recs(recs, start, stop)
        tb = _row_block(t_all, start, stop)
        vb = None if v_all is None else _row_block(v_all, start, stop)
        rk = _ranked(rr, n_items, ks[-1], tb, vb, item_price=item_price)
        _fill_per_query(cols, rk, ctx_all[start:stop], ks, names, pop, cat, n_train_baskets, start, mean_ctx)
        if bucket_codes is not None:
            _bucket_batch(parts, rk, qid_all[start:stop], ks, bucket_codes)
    per_query = pd.DataFrame(block.T, columns=col_names, copy=False)
    per_query.insert(0, C.QUERY, np.asarray(queries.query_id))
    by_item: dict[str, pd.DataFrame] = {}
    if bucket_codes is not None:
        for code, b in enumerate(ITEM_BUCKETS):
            frame = {key: np.concatenate(v) for key, v in parts[code].items()}
            if not frame:
                frame = {C.QUERY: np.zeros(0, dtype=np.asarray(queries.query_id).dtype)}
                frame.update({metric_column(m, k): np.zeros(0) for m in ITEM_BUCKET_METRICS for k in ks})
            by_item[b] = pd.DataFrame(frame)
    return RankingMetrics(per_query, by_item)


def _mean_context_value(queries: Queries) -> float:
    """Mean cart value over the queries with targets and a positive, known cart value (``uplift``'s denominator)."""
    ctx = np.asarray(queries.context_value, dtype=np.float64)
    ok = np.isfinite(ctx) & (ctx > 0) & (np.diff(queries.targets.indptr) > 0)
    return float(ctx[ok].mean()) if ok.any() else float("nan")


def _cum_at(x: np.ndarray, ks: list[int], weight: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """``np.cumsum(x * weight, axis=1)[:, k - 1]`` for each k, summed in the same (left-to-right) order.

    Running column sums are much cheaper than an n × K cumulative array of short rows, and give
    bit-identical values (float64; integer counts for bool ``x``).
    """
    dtype = np.int64 if x.dtype == bool else np.float64
    want = set(ks)
    out: dict[int, np.ndarray] = {}
    acc = x[:, 0].astype(dtype) if weight is None else x[:, 0] * weight[0]
    if 1 in want:
        out[1] = acc.copy()
    for j in range(1, ks[-1]):
        acc += x[:, j] if weight is None else x[:, j] * weight[j]
        if j + 1 in want:
            out[j + 1] = acc.copy()
    return out


def _fill_per_query(
    cols: dict[str, np.ndarray],
    rk: _Ranked,
    context_value: np.ndarray,
    ks: list[int],
    names: list[str],
    pop: np.ndarray,
    cat: np.ndarray,
    n_train_baskets: int,
    offset: int,
    mean_ctx: float = float("nan"),
) -> None:
    """Write the requested metrics of one batch into ``cols[...][offset:offset + len(queries)]``."""
    k_max = ks[-1]
    want = set(names)
    hits = rk.hits.astype(np.float64)
    ranks = np.arange(1, k_max + 1, dtype=np.float64)
    disc = 1.0 / np.log2(ranks + 1.0)
    cum_hits = _cum_at(hits, ks)
    nt = rk.n_targets.astype(np.float64)
    no_targets = rk.n_targets == 0
    sl = slice(offset, offset + len(nt))
    if "ndcg" in want:
        cum_dcg = _cum_at(hits, ks, disc)
        ideal = np.concatenate([[0.0], np.cumsum(disc)])
    if "map" in want:
        cum_ap = _cum_at(hits * np.cumsum(hits, axis=1) / ranks, ks)
    if "mrr" in want:
        first = np.where(rk.hits.any(axis=1), rk.hits.argmax(axis=1) + 1, k_max + 1)
    if want & {"revenue", "uplift"}:
        cum_rev = _cum_at(rk.hit_value, ks)
        ctx = context_value
        ctx_ok = np.isfinite(ctx) & (ctx > 0)
    if want & {"novelty", "diversity"}:
        cum_valid = _cum_at(rk.valid, ks)
        info = -np.log2(np.maximum(pop, 1.0) / float(n_train_baskets))
        cum_info = _cum_at(np.where(rk.valid, info[np.maximum(rk.items, 0)], 0.0), ks)
        same_pairs = _same_category_pairs_at(np.where(rk.valid, cat[np.maximum(rk.items, 0)], -1), ks)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in ks:
            h = cum_hits[k]
            out: dict[str, np.ndarray] = {}
            if "precision" in want:
                out["precision"] = h / k
            if "recall" in want:
                out["recall"] = h / nt
            if "hit_rate" in want:
                out["hit_rate"] = (h > 0).astype(np.float64)
            if "ndcg" in want:
                out["ndcg"] = cum_dcg[k] / ideal[np.minimum(rk.n_targets, k)]
            if "mrr" in want:
                out["mrr"] = np.where(first <= k, 1.0 / first, 0.0)
            if "map" in want:
                out["map"] = cum_ap[k] / np.minimum(nt, k)
            if want & {"revenue", "uplift"}:
                rev = np.where(rk.value_unknown, np.nan, cum_rev[k])
                out["revenue"] = rev
                out["uplift"] = np.where(ctx_ok, rev / mean_ctx, np.nan)  # a ratio of means (module docstring)
            if "novelty" in want:
                cnt = cum_valid[k]
                out["novelty"] = np.where(cnt > 0, cum_info[k] / np.maximum(cnt, 1), np.nan)
            if "diversity" in want:
                pairs, same = same_pairs[k]
                out["diversity"] = np.where(pairs > 0, 1.0 - same / np.maximum(pairs, 1.0), np.nan)
            for name in names:
                v = out[name]
                v[no_targets] = np.nan
                cols[metric_column(name, k)][sl] = v


def _bucket_batch(
    parts: list[dict[str, list[np.ndarray]]], rk: _Ranked, qid: np.ndarray, ks: list[int], codes: np.ndarray
) -> None:
    """Append one batch's per-bucket recall/hit_rate/revenue (queries with a target in the bucket) to ``parts``."""
    n = len(rk.n_targets)
    slot_code = codes[np.maximum(rk.items, 0)]
    for code in range(len(ITEM_BUCKETS)):
        in_b = codes[rk.t_items] == code
        nt = np.bincount(rk.t_rows[in_b], minlength=n)
        keep = nt > 0
        unk = (np.bincount(rk.t_rows[in_b & rk.t_unknown], minlength=n) > 0)[keep]
        hits_b = rk.hits & (slot_code == code)
        cum_hits = _cum_at(hits_b[keep], ks)
        cum_rev = _cum_at(np.where(hits_b, rk.hit_value, 0.0)[keep], ks)
        ntk = nt[keep].astype(np.float64)
        d = parts[code]
        d.setdefault(C.QUERY, []).append(qid[keep])
        for k in ks:
            d.setdefault(metric_column("recall", k), []).append(cum_hits[k] / ntk)
        for k in ks:
            d.setdefault(metric_column("hit_rate", k), []).append((cum_hits[k] > 0).astype(np.float64))
        for k in ks:
            d.setdefault(metric_column("revenue", k), []).append(np.where(unk, np.nan, cum_rev[k]))


def per_query_metrics(
    recs: Recommendations,
    queries: Queries,
    ks: Sequence[int],
    *,
    item_popularity: np.ndarray,
    n_train_baskets: int,
    item_category: np.ndarray,
    item_price: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
    batch_size: int = 100_000,
) -> pd.DataFrame:
    """Every requested per-query metric at every cut-off, one row per query.

    Args:
        recs: the adapter's answers, row ``q`` for query ``q``; ``-1`` pads short lists
            and an item repeated in a list counts once, at its best rank.
        queries: the queries with their hidden targets.
        ks: cut-offs (each an int >= 1); lists shorter than ``max(ks)`` are padded.
        item_popularity: train baskets containing each item (``train.item_basket_count``).
        n_train_baskets: number of train baskets (novelty's denominator).
        item_category: integer category per item, -1 when unknown
            (``dataset.item_category``).
        item_price: optional unit price per item of the *whole* dataset
            (``dataset.item_price``); a query with a target whose price is NaN gets
            revenue and uplift NaN. Independently, NaN stored in
            ``queries.target_value`` has the same effect.
        metrics: names of the metrics to compute (default: all of :data:`PER_QUERY_METRICS`);
            the others are not computed at all.
        batch_size: queries processed at a time (memory ~ batch_size × max(ks) × 100 bytes).

    Returns:
        DataFrame with ``query_id`` and ``"<metric>@<k>"`` float columns for every
        requested metric (metric-major in :data:`PER_QUERY_METRICS` order, ascending k).

    Edge cases:
        - a query without targets: every metric NaN (excluded from means);
        - fewer than k recommendations: precision still divides by k, NDCG's ideal
          and MAP's normaliser use ``min(|T|, k)``, novelty/diversity use the items
          actually recommended (NaN if none / fewer than 2 categorised items);
        - unknown price of a target: revenue and uplift NaN;
        - context value 0 or NaN: uplift NaN.

    Raises:
        ConfigError: a k < 1.
        UnknownNameError: an unknown metric name.
        DataError: shapes of recommendations, queries or item statistics disagree.
    """
    return evaluate_ranking(
        recs,
        queries,
        ks,
        item_popularity=item_popularity,
        n_train_baskets=n_train_baskets,
        item_category=item_category,
        item_price=item_price,
        metrics=metrics,
        batch_size=batch_size,
    ).per_query


def aggregate_metrics(
    recs: Recommendations,
    queries: Queries,
    ks: Sequence[int],
    catalog: int | np.ndarray,
) -> dict[str, float]:
    """Metrics with one value per run (not per query), over the evaluated queries.

    ``coverage@k`` = number of distinct items recommended in the top k of the queries
    that have targets, divided by the catalog size.

    Args:
        recs: the adapter's answers.
        queries: the queries (queries without targets are ignored, as everywhere).
        ks: cut-offs.
        catalog: the reference catalog. Either an array of item indices (or a boolean
            mask of length n_items) — e.g. the items sold in train,
            ``np.flatnonzero(train.item_basket_count > 0)`` — in which case only
            recommended items *in that catalog* count and coverage is in [0, 1]; or
            an int catalog size, in which case every distinct recommended item counts.

    Returns:
        ``{"coverage@5": ..., ...}``.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> from xsell_eval.queries import Queries, Recommendations
        >>> t = sp.csr_matrix(np.eye(2, 4))
        >>> q = Queries(np.arange(2), np.full(2, -1), np.arange(2), np.full(2, "NaT", dtype="datetime64[ns]"),
        ...             sp.csr_matrix((2, 4)), t, t, np.ones(2), np.zeros(2, dtype=int))
        >>> aggregate_metrics(Recommendations(np.array([[0, 1], [0, 2]]), np.ones((2, 2))), q, [1, 2], 4)
        {'coverage@1': 0.25, 'coverage@2': 0.75}
    """
    ks = _check_ks(ks)
    n, n_items = len(queries), queries.n_items
    items, valid = _pad_items(recs, n, ks[-1], n_items)
    has_targets = np.diff(_binary_targets(queries.targets, (n, n_items)).indptr) > 0
    in_catalog: np.ndarray
    if isinstance(catalog, (int, np.integer)) and not isinstance(catalog, bool):
        size = int(catalog)
        in_catalog = np.ones(n_items, dtype=bool)
    else:
        arr = np.asarray(catalog)
        if arr.dtype == bool:
            if arr.shape != (n_items,):
                raise DataError(f"catalog mask has shape {arr.shape}, expected ({n_items},)")
            in_catalog = arr
        else:
            in_catalog = np.zeros(n_items, dtype=bool)
            in_catalog[arr.astype(np.int64)] = True
        size = int(in_catalog.sum())
    if size < 1:
        raise ConfigError(f"catalog size must be >= 1, got {size}")
    out: dict[str, float] = {}
    for k in ks:
        recommended = np.zeros(n_items, dtype=bool)  # a mask rather than np.unique: no sort
        recommended[items[has_targets, :k][valid[has_targets, :k]]] = True
        out[metric_column("coverage", k)] = float(in_catalog[recommended].sum() / size)
    return out


def per_query_metrics_by_item_bucket(
    recs: Recommendations,
    queries: Queries,
    ks: Sequence[int],
    *,
    item_popularity: np.ndarray,
    head_share: float = DEFAULT_HEAD_SHARE,
    item_price: np.ndarray | None = None,
    batch_size: int = 100_000,
) -> dict[str, pd.DataFrame]:
    """recall@k, hit_rate@k and revenue@k restricted to targets of each popularity bucket.

    For bucket B the targets of a query are replaced by those in B (see
    :func:`item_buckets`); recommended items outside B are plain misses. Queries with
    no target in B are left out of B's table, so ``len(result[B])`` is B's n. All three
    buckets are read from the same hit matrix (:func:`evaluate_ranking`).

    Returns:
        ``{"unseen": df, "tail": df, "head": df}``, each with ``query_id`` and the
        ``"<metric>@<k>"`` columns of :data:`ITEM_BUCKET_METRICS`.
    """
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.shape != (queries.n_items,):
        raise DataError(f"item_popularity has shape {pop.shape}, expected ({queries.n_items},) — one count per item")
    n_baskets = max(int(pop.max(initial=0)), 1)
    return evaluate_ranking(
        recs,
        queries,
        ks,
        item_popularity=pop,
        n_train_baskets=n_baskets,
        item_category=np.full(queries.n_items, -1),
        item_price=item_price,
        metrics=(),
        item_buckets_of=True,
        head_share=head_share,
        batch_size=batch_size,
    ).by_item_bucket
