"""Frozen copy of the dense scoring code as it was before the sparse rewrite (issue 11).

Used only by ``tests/test_sparse_scoring.py`` to show that the sparse paths give the same
top-k (items and scores) as the dense code they replaced. Do not "fix" or modernise this
file: it is the reference. Copied verbatim from ``xsell_eval/similarity.py``,
``xsell_eval/adapters/knn.py``, ``xsell_eval/adapters/rules.py``, ``content.py`` and
``lightfm_adapter.py`` at commit 7dab0b6.
"""
# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xsell_eval.errors import ConfigError
from xsell_eval.queries import Queries, Recommendations, top_k

SIMILARITIES = ("cosine", "jaccard", "asymmetric", "lift")
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


# ----------------------------------------------------------------------------- adapters (old scoring)
def _legacy_recommend_with_fallback(adapter, scores, batch, k, fallback):
    if fallback is None:
        items, top = top_k(scores, k, exclude=batch.context)
        return Recommendations(items, top, adapter.name)
    fused = np.where(np.isfinite(scores), scores, fallback[None, :])
    items, top = top_k(fused, k, exclude=batch.context)
    served_by_fallback = ~(top[:, 0] > 0)
    return Recommendations(items, top, adapter.name, served_by_fallback)


def legacy_cf_recommend(adapter, queries: Queries, k: int) -> Recommendations:
    """Old ItemKNNAdapter: dense similarity chunks, dense scores, dense top_k."""
    from xsell_eval.data.dataset import Dataset  # noqa: F401

    parts = []
    for batch in queries.batches(adapter.batch_size):
        scores = aggregate_rows(batch.context, adapter.legacy_similarity_, adapter.params["aggregation"])
        scores[scores <= 0] = -np.inf
        parts.append(_legacy_recommend_with_fallback(adapter, scores, batch, k, adapter.fallback_scores_))
    return Recommendations.concat(parts)


def legacy_cf_similarity(adapter, train):
    p = adapter.params
    x = train.user_item if p["interactions"] == "user" else train.basket_item
    return item_similarity(
        x, similarity=p["similarity"], alpha=p["alpha"], shrink=p["shrink"], k_neighbors=p["k_neighbors"]
    )


def legacy_user_knn_recommend(adapter, queries: Queries, k: int) -> Recommendations:
    """Old UserKNNAdapter: dense batch × users similarity, dense scores, dense top_k."""
    parts = []
    for batch in queries.batches(adapter.batch_size):
        q = adapter._query_profiles(batch)
        dots = np.asarray((q @ adapter.profiles_t_).toarray())
        q_size = np.diff(q.indptr).astype(np.float64)[:, None]
        u_size = adapter.profile_size_[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            if adapter.params["similarity"] == "cosine":
                sim = dots / np.sqrt(q_size * u_size)
            else:
                n = float(adapter.n_items_)
                sim = (dots - q_size * u_size / n) / np.sqrt((q_size - q_size**2 / n) * (u_size - u_size**2 / n))
        sim[~np.isfinite(sim)] = 0.0
        rows = np.flatnonzero(batch.user_idx >= 0)
        sim[rows, batch.user_idx[rows]] = 0.0
        r, c, v = top_k_per_row(sim, adapter.params["k_neighbors"])
        w = sp.csr_matrix((v, (r, c)), shape=sim.shape)
        scores = np.asarray((w @ adapter.profiles_).toarray())
        scores[scores <= 0] = -np.inf
        parts.append(_legacy_recommend_with_fallback(adapter, scores, batch, k, adapter.fallback_scores_))
    return Recommendations.concat(parts)


def legacy_rules_recommend(adapter, queries: Queries, k: int) -> Recommendations:
    """Old AssociationRulesAdapter._recommend_batch: dense rule scores per batch."""
    parts = []
    for batch in queries.batches(adapter.batch_size):
        n, n_items = len(batch), batch.n_items
        ctx = sp.csr_matrix(batch.context, dtype=np.float32, copy=True)
        ctx.eliminate_zeros()
        ctx.data[:] = 1.0
        ctx_rows = np.repeat(np.arange(n), np.diff(ctx.indptr))
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), np.nan)
        n_rule = np.zeros(n, dtype=np.int64)
        if adapter.n_rules_ and n:
            hits = sp.csr_matrix(ctx @ adapter.antecedent_t_)
            fired = hits.data == adapter.antecedent_len_[hits.indices]
            q = np.repeat(np.arange(n, dtype=np.int64), np.diff(hits.indptr))[fired]
            r = hits.indices[fired]
            flat = q * n_items + adapter.consequent_[r]
            w = adapter.weight_[r]
            if adapter.params["aggregation"] == "sum":
                total = np.bincount(flat, weights=w, minlength=n * n_items)
                some = np.bincount(flat, minlength=n * n_items) > 0
                out = np.where(some, total, -np.inf)
            else:
                out = np.full(n * n_items, -np.inf)
                np.maximum.at(out, flat, w)
            dense = out.reshape(n, n_items)
            dense[ctx_rows, ctx.indices] = -np.inf
            finite = np.isfinite(dense)
            qq, j = np.nonzero(finite)
            s = dense[qq, j]
            order = np.lexsort((j, -adapter.popularity_[j], -s, qq))
            qq, j, s = qq[order], j[order], s[order]
            if len(qq):
                start = np.searchsorted(qq, np.arange(n))
                rank = np.arange(len(qq)) - start[qq]
                top = rank < k
                items[qq[top], rank[top]] = j[top]
                scores[qq[top], rank[top]] = s[top]
                n_rule = np.bincount(qq[top], minlength=n).astype(np.int64)
        fallback = np.zeros(n, dtype=bool)
        if adapter.params["fallback"] == "popular" and n:
            fallback = n_rule == 0
            adapter._fill_popular(ctx_rows, ctx.indices, n_items, items, scores, n_rule, k)
        parts.append(Recommendations(items, scores, adapter.name, fallback))
    return Recommendations.concat(parts)


def legacy_content_recommend(adapter, queries: Queries, k: int) -> Recommendations:
    """Old ContentAdapter._score + dense top_k."""
    parts = []
    for batch in queries.batches(adapter.batch_size):
        ctx = batch.context.astype(np.float32)
        ctx.data[:] = 1.0
        if adapter.params["aggregation"] == "sum":
            sim = (ctx @ adapter.neighbors_).toarray().astype(np.float64)
        else:
            sim = legacy_max_aggregate(ctx.tocsr(), adapter.neighbors_)
        cand = sim > 0
        w = adapter.params["popularity_weight"]
        sc = sim + w * adapter.popularity_[None, :] if w > 0 else sim
        sc = np.where(cand, sc, -np.inf)
        items, top = top_k(sc, k, exclude=batch.context)
        parts.append(Recommendations(items, top, adapter.name))
    return Recommendations.concat(parts)


def legacy_max_aggregate(context, neighbors):
    n_q = context.shape[0]
    n_items = neighbors.shape[1]
    out = np.zeros((n_q, n_items), dtype=np.float64)
    ctx = context.tocoo()
    if ctx.nnz == 0 or neighbors.nnz == 0:
        return out
    starts = neighbors.indptr[ctx.col]
    lengths = neighbors.indptr[ctx.col + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return out
    q = np.repeat(ctx.row, lengths)
    offs = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.repeat(starts, lengths) + offs
    np.maximum.at(out, (q, neighbors.indices[pos]), neighbors.data[pos].astype(np.float64))
    return out


def legacy_lightfm_recommend(adapter, queries: Queries, k: int) -> Recommendations:
    """Old LightFMAdapter._score + dense top_k."""
    parts = []
    for batch in queries.batches(adapter.batch_size):
        q, has = adapter.query_vectors(batch)
        scores = (q @ adapter.item_emb_.T + adapter.item_bias_[None, :]).astype(np.float64)
        scores[:, ~adapter.scorable_] = -np.inf
        scores[~has] = -np.inf
        items, top = top_k(scores, k, exclude=batch.context)
        parts.append(Recommendations(items, top, adapter.name))
    return Recommendations.concat(parts)
