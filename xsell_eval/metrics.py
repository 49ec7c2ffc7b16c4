"""Ranking, business and beyond-accuracy metrics, computed per query without a query loop.

Every per-query metric is computed for several cut-offs ``k`` from *one* hit matrix of
the largest ``k``::

    recs.items (n × K)        targets (CSR n × n_items)
    ┌──────────────┐          sorted keys  q * n_items + item
    │ 7  3  -1 ... │  ──────► np.searchsorted  ──►  hits (n × K, bool)
    └──────────────┘                                 values (n × K, price × qty)
                      cumulative sums along the rank axis give every metric at every k

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


def _rows(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


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
        items = items[:, :k_max].copy()
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
    items[~valid] = -1
    return items, valid


def _ranked(
    recs: Recommendations,
    queries: Queries,
    k_max: int,
    *,
    targets: sp.csr_matrix | None = None,
    item_price: np.ndarray | None = None,
    values: bool = True,
) -> _Ranked:
    """Hits of the top ``k_max`` against the targets; ``values=False`` skips the value lookup (all 0, known)."""
    n, n_items = len(queries), queries.n_items
    items, valid = _pad_items(recs, n, k_max, n_items)
    t = _canonical(queries.targets if targets is None else targets, "targets", (n, n_items))
    t.data = (t.data > 0).astype(np.float64)
    t.eliminate_zeros()
    if values:
        v = _canonical(queries.target_value, "target_value", (n, n_items))
    else:
        v = sp.csr_matrix((n, n_items))
        item_price = None

    t_rows = _rows(t)
    t_keys = t_rows * n_items + t.indices.astype(np.int64)  # sorted: CSR canonical order
    v_keys = _rows(v) * n_items + v.indices.astype(np.int64)
    # value of each target entry (0 when target_value has no entry, NaN when stored NaN)
    pos = np.searchsorted(v_keys, t_keys)
    pos_c = np.minimum(pos, max(len(v_keys) - 1, 0))
    found = (pos < len(v_keys)) & (v_keys[pos_c] == t_keys) if len(v_keys) else np.zeros(len(t_keys), bool)
    t_value = np.where(found, v.data[pos_c] if len(v_keys) else 0.0, 0.0)
    unknown = np.isnan(t_value)
    if item_price is not None:
        price = np.asarray(item_price, dtype=np.float64)
        if price.shape != (n_items,):
            raise DataError(f"item_price has shape {price.shape}, expected ({n_items},)")
        unknown |= ~np.isfinite(price[t.indices])
    value_unknown = np.bincount(t_rows[unknown], minlength=n) > 0

    hits = _hit_mask(t_rows, t.indices, items, valid, n_items)
    hit_value = np.zeros(items.shape, dtype=np.float64)
    if values and hits.any():  # the value of each hit: a binary search for the hits only
        hr, hc = np.nonzero(hits)
        hit_value[hr, hc] = t_value[np.searchsorted(t_keys, hr.astype(np.int64) * n_items + items[hr, hc])]
    n_targets = np.diff(t.indptr).astype(np.int64)
    return _Ranked(items, valid, hits, hit_value, n_targets, value_unknown, t_rows, t.indices.astype(np.int64), unknown)


_DENSE_CELLS = 1 << 22
"""Cells of the reusable boolean row-chunk mask of :func:`_hit_mask` (4 MiB: stays in cache)."""
_DENSE_MIN_ROWS = 64
"""Below this many rows per chunk (catalogs above 65,536 items) the mask loses to a binary search."""


def _hit_mask(t_rows: np.ndarray, t_cols: np.ndarray, items: np.ndarray, valid: np.ndarray, n_items: int) -> np.ndarray:
    """``hits[q, j]``: is ``items[q, j]`` (a valid slot) one of query ``q``'s targets.

    Targets are the canonical CSR entries (``t_rows`` ascending, ``t_cols``). For catalogs up to
    65,536 items the targets of a chunk of rows are scattered into a reused dense boolean mask of
    ``_DENSE_CELLS`` cells and the slots are gathered from it (several times faster than a binary
    search, and exact); larger catalogs use one ``np.searchsorted`` over ``row * n_items + item``
    keys. Both give the same mask (tests).
    """
    n, width = items.shape
    hits = np.zeros(items.shape, dtype=bool)
    if not len(t_rows) or not n:
        return hits
    safe = np.where(valid, items, 0)
    rows_per_chunk = _DENSE_CELLS // max(n_items, 1)
    if rows_per_chunk < _DENSE_MIN_ROWS:
        t_keys = t_rows * n_items + t_cols.astype(np.int64)
        r_keys = (np.arange(n, dtype=np.int64)[:, None] * n_items + safe).ravel()
        p = np.minimum(np.searchsorted(t_keys, r_keys), len(t_keys) - 1)
        hits = (t_keys[p] == r_keys).reshape(n, width)
        return hits & valid
    mask = np.zeros(rows_per_chunk * n_items, dtype=bool)
    base = np.arange(rows_per_chunk, dtype=np.int64)[:, None] * n_items
    bounds = np.searchsorted(t_rows, np.arange(0, n + rows_per_chunk, rows_per_chunk))
    for j, start in enumerate(range(0, n, rows_per_chunk)):  # chunks of rows, not interactions
        stop = min(start + rows_per_chunk, n)
        a, b = bounds[j], bounds[j + 1]
        cells = (t_rows[a:b] - start) * n_items + t_cols[a:b]
        mask[cells] = True
        hits[start:stop] = mask[base[: stop - start] + safe[start:stop]]
        mask[cells] = False
    return hits & valid


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


def _same_category_pairs(cats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (pairs of categorised items, pairs with the same category); -1 = no category."""
    n, k = cats.shape
    known = cats >= 0
    m = known.sum(axis=1)
    pairs = m * (m - 1) / 2.0
    if k < 2 or n == 0:
        return pairs, np.zeros(n)
    s = np.sort(cats, axis=1)
    key = (np.arange(n, dtype=np.int64)[:, None] * (int(s.max(initial=0)) + 2) + (s + 1)).ravel()
    first = np.searchsorted(key, key, side="left")  # key is globally sorted
    earlier_equal = (np.arange(key.size) - first).reshape(n, k)
    same = np.where(s >= 0, earlier_equal, 0).sum(axis=1).astype(np.float64)
    return pairs, same


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
    cols = {metric_column(m, k): np.empty(n) for m in names for k in ks}
    parts: list[dict[str, list[np.ndarray]]] = [{} for _ in ITEM_BUCKETS]
    need_values = bool({"revenue", "uplift"} & set(names)) or item_buckets_of
    mean_ctx = _mean_context_value(queries) if "uplift" in names else np.nan
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        rq = queries if (start == 0 and stop == n) else queries.take(slice(start, stop))
        rr = recs if (start == 0 and stop == n) else _take_recs(recs, start, stop)
        rk = _ranked(rr, rq, ks[-1], item_price=item_price, values=need_values)
        _fill_per_query(cols, rk, rq, ks, names, pop, cat, n_train_baskets, start, mean_ctx)
        if bucket_codes is not None:
            _bucket_batch(parts, rk, rq, ks, bucket_codes)
    data: dict[str, np.ndarray] = {C.QUERY: np.asarray(queries.query_id)}
    data.update(cols)
    by_item: dict[str, pd.DataFrame] = {}
    if bucket_codes is not None:
        for code, b in enumerate(ITEM_BUCKETS):
            frame = {key: np.concatenate(v) for key, v in parts[code].items()}
            if not frame:
                frame = {C.QUERY: np.zeros(0, dtype=np.asarray(queries.query_id).dtype)}
                frame.update({metric_column(m, k): np.zeros(0) for m in ITEM_BUCKET_METRICS for k in ks})
            by_item[b] = pd.DataFrame(frame)
    return RankingMetrics(pd.DataFrame(data), by_item)


def _mean_context_value(queries: Queries) -> float:
    """Mean cart value over the queries with targets and a positive, known cart value (``uplift``'s denominator)."""
    ctx = np.asarray(queries.context_value, dtype=np.float64)
    ok = np.isfinite(ctx) & (ctx > 0) & (np.diff(queries.targets.indptr) > 0)
    return float(ctx[ok].mean()) if ok.any() else float("nan")


def _at_ks(a: np.ndarray, ks: list[int]) -> dict[int, np.ndarray]:
    """Row sums of the first ``k`` columns of ``a`` for each ``k`` (one cumulative sum; a plain sum for one k)."""
    if len(ks) == 1:
        return {ks[0]: a[:, : ks[0]].sum(axis=1)}
    c = np.cumsum(a, axis=1)
    return {k: c[:, k - 1] for k in ks}


def _fill_per_query(
    cols: dict[str, np.ndarray],
    rk: _Ranked,
    queries: Queries,
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
    cum_hits = _at_ks(hits, ks)
    nt = rk.n_targets.astype(np.float64)
    no_targets = rk.n_targets == 0
    sl = slice(offset, offset + len(nt))
    if "ndcg" in want:
        cum_dcg = _at_ks(hits * disc, ks)
        ideal = np.concatenate([[0.0], np.cumsum(disc)])
    if "map" in want:
        cum_ap = _at_ks(hits * np.cumsum(hits, axis=1) / ranks, ks)
    if "mrr" in want:
        first = np.where(rk.hits.any(axis=1), rk.hits.argmax(axis=1) + 1, k_max + 1)
    if want & {"revenue", "uplift"}:
        cum_rev = _at_ks(rk.hit_value, ks)
        ctx = np.asarray(queries.context_value, dtype=np.float64)
        ctx_ok = np.isfinite(ctx) & (ctx > 0)
    if want & {"novelty", "diversity"}:
        cum_valid = _at_ks(rk.valid, ks)
        info = -np.log2(np.maximum(pop, 1.0) / float(n_train_baskets))
        cum_info = _at_ks(np.where(rk.valid, info[np.maximum(rk.items, 0)], 0.0), ks)
        slot_cat = np.where(rk.valid, cat[np.maximum(rk.items, 0)], -1)
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
                pairs, same = _same_category_pairs(slot_cat[:, :k])
                out["diversity"] = np.where(pairs > 0, 1.0 - same / np.maximum(pairs, 1.0), np.nan)
            for name in names:
                v = out[name]
                v[no_targets] = np.nan
                cols[metric_column(name, k)][sl] = v


def _bucket_batch(
    parts: list[dict[str, list[np.ndarray]]], rk: _Ranked, queries: Queries, ks: list[int], codes: np.ndarray
) -> None:
    """Append one batch's per-bucket recall/hit_rate/revenue (queries with a target in the bucket) to ``parts``."""
    n = len(rk.n_targets)
    slot_code = codes[np.maximum(rk.items, 0)]
    qid = np.asarray(queries.query_id)
    for code in range(len(ITEM_BUCKETS)):
        in_b = codes[rk.t_items] == code
        nt = np.bincount(rk.t_rows[in_b], minlength=n)
        keep = nt > 0
        unk = (np.bincount(rk.t_rows[in_b & rk.t_unknown], minlength=n) > 0)[keep]
        hits_b = rk.hits & (slot_code == code)
        cum_hits = np.cumsum(hits_b, axis=1)[keep]
        cum_rev = np.cumsum(np.where(hits_b, rk.hit_value, 0.0), axis=1)[keep]
        ntk = nt[keep].astype(np.float64)
        d = parts[code]
        d.setdefault(C.QUERY, []).append(qid[keep])
        for k in ks:
            d.setdefault(metric_column("recall", k), []).append(cum_hits[:, k - 1] / ntk)
        for k in ks:
            d.setdefault(metric_column("hit_rate", k), []).append((cum_hits[:, k - 1] > 0).astype(np.float64))
        for k in ks:
            d.setdefault(metric_column("revenue", k), []).append(np.where(unk, np.nan, cum_rev[:, k - 1]))


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
    t = _canonical(queries.targets, "targets", (n, n_items))
    has_targets = np.bincount(_rows(t)[t.data > 0], minlength=n) > 0
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
        sel = items[has_targets, :k][valid[has_targets, :k]]
        distinct = np.unique(sel)
        out[metric_column("coverage", k)] = float(in_catalog[distinct].sum() / size)
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
