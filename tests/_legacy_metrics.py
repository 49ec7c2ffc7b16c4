"""Frozen copy of the per-query metric code of xsell_eval/metrics.py before the compute-once rewrite
(issue 11): the regression reference for tests/test_metrics_once.py. Do not edit.

Only the computation that the rewrite replaced is frozen here; the metric registry, spec parsing and
the cold-start bucket rules were not changed by it and are imported from the package.
"""
# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.metric_specs import (
    DEFAULT_HEAD_SHARE,
    ITEM_BUCKETS,
    PER_QUERY_METRICS,
    _check_k,
    _check_ks,
    metric_column,
)
from xsell_eval.metrics import item_buckets
from xsell_eval.queries import Queries, Recommendations


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
    if k_max > 1:
        # a repeated item counts once, at its first (best) rank
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
) -> _Ranked:
    n, n_items = len(queries), queries.n_items
    items, valid = _pad_items(recs, n, k_max, n_items)
    t = _canonical(queries.targets if targets is None else targets, "targets", (n, n_items))
    t.data = (t.data > 0).astype(np.float64)
    t.eliminate_zeros()
    v = _canonical(queries.target_value, "target_value", (n, n_items))

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

    q = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], items.shape)
    r_keys = (q * n_items + items)[valid]
    hits = np.zeros(items.shape, dtype=bool)
    hit_value = np.zeros(items.shape, dtype=np.float64)
    if len(t_keys) and len(r_keys):
        p = np.searchsorted(t_keys, r_keys)
        p_c = np.minimum(p, len(t_keys) - 1)
        h = (p < len(t_keys)) & (t_keys[p_c] == r_keys)
        hits[valid] = h
        hit_value[valid] = np.where(h, t_value[p_c], 0.0)
    n_targets = np.diff(t.indptr).astype(np.int64)
    return _Ranked(items, valid, hits, hit_value, n_targets, value_unknown)


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


def per_query_metrics(
    recs: Recommendations,
    queries: Queries,
    ks: Sequence[int],
    *,
    item_popularity: np.ndarray,
    n_train_baskets: int,
    item_category: np.ndarray,
    item_price: np.ndarray | None = None,
    batch_size: int = 100_000,
) -> pd.DataFrame:
    """Every per-query metric at every cut-off, one row per query.

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
        batch_size: queries processed at a time (memory ~ batch_size × max(ks) × 100 bytes).

    Returns:
        DataFrame with ``query_id`` and ``"<metric>@<k>"`` float columns for every
        metric of :data:`PER_QUERY_METRICS` (metric-major, ascending k).

    Edge cases:
        - a query without targets: every metric NaN (excluded from means);
        - fewer than k recommendations: precision still divides by k, NDCG's ideal
          and MAP's normaliser use ``min(|T|, k)``, novelty/diversity use the items
          actually recommended (NaN if none / fewer than 2 categorised items);
        - unknown price of a target: revenue and uplift NaN;
        - context value 0 or NaN: uplift NaN.

    Raises:
        ConfigError: a k < 1.
        DataError: shapes of recommendations, queries or item statistics disagree.
    """
    ks = _check_ks(ks)
    batch_size = _check_k(batch_size, "batch_size")
    if len(queries) > batch_size:
        _check_rows(recs, len(queries))
        return pd.concat(
            [
                per_query_metrics(
                    _take_recs(recs, s, s + batch_size),
                    queries.take(slice(s, s + batch_size)),
                    ks,
                    item_popularity=item_popularity,
                    n_train_baskets=n_train_baskets,
                    item_category=item_category,
                    item_price=item_price,
                    batch_size=batch_size,
                )
                for s in range(0, len(queries), batch_size)
            ],
            ignore_index=True,
        )
    k_max = ks[-1]
    n_items = queries.n_items
    pop, cat = _validate_stats(n_items, item_popularity, n_train_baskets, item_category)
    rk = _ranked(recs, queries, k_max, item_price=item_price)

    hits = rk.hits.astype(np.float64)
    ranks = np.arange(1, k_max + 1, dtype=np.float64)
    disc = 1.0 / np.log2(ranks + 1.0)
    cum_hits = np.cumsum(hits, axis=1)
    cum_dcg = np.cumsum(hits * disc, axis=1)
    cum_ap = np.cumsum(hits * cum_hits / ranks, axis=1)
    cum_rev = np.cumsum(rk.hit_value, axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])
    first = np.where(rk.hits.any(axis=1), rk.hits.argmax(axis=1) + 1, k_max + 1)

    info = -np.log2(np.maximum(pop, 1.0) / float(n_train_baskets))
    slot_info = np.where(rk.valid, info[np.maximum(rk.items, 0)], 0.0)
    cum_info = np.cumsum(slot_info, axis=1)
    cum_valid = np.cumsum(rk.valid, axis=1)
    slot_cat = np.where(rk.valid, cat[np.maximum(rk.items, 0)], -1)

    nt = rk.n_targets.astype(np.float64)
    no_targets = rk.n_targets == 0
    ctx = np.asarray(queries.context_value, dtype=np.float64)
    ctx_ok = np.isfinite(ctx) & (ctx > 0)

    cols: dict[str, dict[int, np.ndarray]] = {name: {} for name in PER_QUERY_METRICS}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in ks:
            h = cum_hits[:, k - 1]
            m = np.minimum(nt, k)
            cols["precision"][k] = h / k
            cols["recall"][k] = h / nt
            cols["hit_rate"][k] = (h > 0).astype(np.float64)
            cols["ndcg"][k] = cum_dcg[:, k - 1] / ideal[np.minimum(rk.n_targets, k)]
            cols["mrr"][k] = np.where(first <= k, 1.0 / first, 0.0)
            cols["map"][k] = cum_ap[:, k - 1] / m
            rev = np.where(rk.value_unknown, np.nan, cum_rev[:, k - 1])
            cols["revenue"][k] = rev
            cols["uplift"][k] = np.where(ctx_ok, rev / np.where(ctx_ok, ctx, 1.0), np.nan)
            cnt = cum_valid[:, k - 1]
            cols["novelty"][k] = np.where(cnt > 0, cum_info[:, k - 1] / np.maximum(cnt, 1), np.nan)
            pairs, same = _same_category_pairs(slot_cat[:, :k])
            cols["diversity"][k] = np.where(pairs > 0, 1.0 - same / np.maximum(pairs, 1.0), np.nan)

    data: dict[str, np.ndarray] = {C.QUERY: np.asarray(queries.query_id)}
    for name in PER_QUERY_METRICS:
        for k in ks:
            v = cols[name][k]
            v[no_targets] = np.nan
            data[metric_column(name, k)] = v
    return pd.DataFrame(data)


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
    no target in B are left out of B's table, so ``len(result[B])`` is B's n.

    Returns:
        ``{"unseen": df, "tail": df, "head": df}``, each with ``query_id`` and the
        ``"<metric>@<k>"`` columns of :data:`ITEM_BUCKET_METRICS`.
    """
    ks = _check_ks(ks)
    batch_size = _check_k(batch_size, "batch_size")
    if len(queries) > batch_size:
        _check_rows(recs, len(queries))
        parts = [
            per_query_metrics_by_item_bucket(
                _take_recs(recs, s, s + batch_size),
                queries.take(slice(s, s + batch_size)),
                ks,
                item_popularity=item_popularity,
                head_share=head_share,
                item_price=item_price,
                batch_size=batch_size,
            )
            for s in range(0, len(queries), batch_size)
        ]
        return {b: pd.concat([p[b] for p in parts], ignore_index=True) for b in ITEM_BUCKETS}
    n, n_items = len(queries), queries.n_items
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.shape != (n_items,):
        raise DataError(f"item_popularity has shape {pop.shape}, expected ({n_items},) — one count per item")
    bucket = item_buckets(pop, head_share=head_share)
    t_all = _canonical(queries.targets, "targets", (n, n_items))
    out: dict[str, pd.DataFrame] = {}
    for b in ITEM_BUCKETS:
        t = t_all @ sp.diags((bucket == b).astype(np.float64), format="csr")
        t.eliminate_zeros()
        rk = _ranked(recs, queries, ks[-1], targets=t, item_price=item_price)
        keep = rk.n_targets > 0
        cum_hits = np.cumsum(rk.hits, axis=1)[keep]
        cum_rev = np.cumsum(rk.hit_value, axis=1)[keep]
        nt = rk.n_targets[keep].astype(np.float64)
        unk = rk.value_unknown[keep]
        data: dict[str, np.ndarray] = {C.QUERY: np.asarray(queries.query_id)[keep]}
        for k in ks:
            data[metric_column("recall", k)] = cum_hits[:, k - 1] / nt
        for k in ks:
            data[metric_column("hit_rate", k)] = (cum_hits[:, k - 1] > 0).astype(np.float64)
        for k in ks:
            data[metric_column("revenue", k)] = np.where(unk, np.nan, cum_rev[:, k - 1])
        out[b] = pd.DataFrame(data)
    return out
