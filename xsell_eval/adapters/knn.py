"""Neighbourhood collaborative filtering: item-based kNN (``cf``) and user-based kNN (``user-knn``).

``cf`` — "customers who bought X also bought Y". Item × item similarities come from
co-purchases in train (:mod:`xsell_eval.similarity`), pruned to the ``k_neighbors`` most
similar items per item; a query is scored by summing (or taking the max of) the
similarity rows of its context items::

    context (n_q × items, binary)  @  S (items × items, k per row)  ->  scores (n_q × items)

``user-knn`` — the query's purchase profile (train history of the user plus the cart) is
compared with every train user's profile; the ``k_neighbors`` most similar users vote
for their items, weighted by similarity::

    profile (n_q × items) @ Pᵀ -> sim (n_q × users) -> top-k W -> W @ P -> scores (n_q × items)

Items neither method can score are not candidates (``-inf``). With ``fallback="popular"``
(the default) the remaining slots are filled with the most popular train items, shown with
negative scores in ``(-1, 0)`` so that they always rank below every neighbourhood score,
and ``Recommendations.fallback`` is True for the queries where the neighbourhood found
nothing at all (e.g. a cart of items never bought in train, or an empty cart).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from xsell_eval import _kernels
from xsell_eval.adapters._history import BasketHistory, popularity_fallback
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import DataError
from xsell_eval.queries import Recommendations, Requests, fill_order, top_k_sparse
from xsell_eval.similarity import (
    SIMILARITIES,
    aggregate_sparse,
    binarize,
    default_threads,
    item_similarity,
    prune_rows,
)

_FALLBACK = HyperParam(
    "fallback",
    "categorical",
    "popular",
    choices=("popular", "none"),
    tunable=False,
    help="fill slots the neighbourhood cannot fill with popular items ('popular') or leave them empty ('none')",
)


def _fallback_scores(train: Dataset) -> np.ndarray:
    """Popularity mapped into (-1, 0): below any positive neighbourhood score; unsold items -inf."""
    counts = train.item_basket_count.astype(np.float64)
    if counts.max(initial=0.0) <= 0:
        return np.full(len(counts), -np.inf)
    return np.where(counts > 0, counts / (counts.max() + 1.0) - 1.0, -np.inf)


def _recommend_with_fallback(
    adapter: BaseAdapter, scores: sp.csr_matrix, batch: Requests, k: int, fallback: np.ndarray | None
) -> Recommendations:
    """Top-k over each query's positive neighbourhood candidates, then (if ``fallback`` is given) popular items.

    ``scores`` is sparse: its stored positive entries are the candidates. Neighbourhood scores
    are > 0 and fallback scores are in (-1, 0), so the sparse top-k followed by the fill gives
    the same list as one dense top-k over the fused row (neighbourhood items first, then popular
    ones; ties to the lower item index).
    """
    items, top, n_cand = top_k_sparse(scores, k, exclude=batch.context, fill=fallback)
    if fallback is None:
        return Recommendations(items, top, adapter.name)
    return Recommendations(items, top, adapter.name, n_cand == 0)


#: batches at least this long are scored as two halves on two threads (scipy's sparse product and
#: numpy's partition and sorts release the GIL); rows are independent, so results are unchanged
_SPLIT_MIN_ROWS = 64


def _in_halves(batch: Requests, score: Callable[[Requests], Recommendations]) -> Recommendations:
    """``score(batch)``, computed as two halves on two threads when the process may use two cores."""
    if len(batch) < _SPLIT_MIN_ROWS or default_threads() < 2:
        return score(batch)
    mid = len(batch) // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(score, (batch.take(slice(0, mid)), batch.take(slice(mid, len(batch))))))
    return Recommendations.concat(parts)


class ItemKNNAdapter(BaseAdapter):
    """Item-based kNN on co-purchases: the everyday "bought together" workhorse.

    Similarities (``cosine``, ``jaccard``, ``asymmetric`` cosine with ``alpha``, ``lift``) are
    computed from the binary basket × item matrix of train (or user × item with
    ``interactions="user"``), shrunk by ``c / (c + shrink)`` and pruned to the
    ``k_neighbors`` best per item. See :mod:`xsell_eval.similarity` for the formulas.

    Serves cold users (only the cart is used), not cold items (an item never bought in
    train has no neighbours and is never recommended).

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = ItemKNNAdapter(k_neighbors=20).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "cf"
    family = "neighbourhood"
    description = "Item-based kNN on co-purchases (cosine / jaccard / asymmetric cosine / lift)"
    serves_cold_users = True
    serves_cold_items = False
    hyperparams = (
        HyperParam("similarity", "categorical", "cosine", choices=SIMILARITIES, help="item-item similarity measure"),
        HyperParam(
            "k_neighbors",
            "int",
            100,
            low=1,
            high=100_000,
            log=True,
            tune_low=5,
            tune_high=1000,
            help="neighbours kept per item (top-k pruning)",
        ),
        HyperParam(
            "shrink",
            "float",
            10.0,
            low=0.0,
            high=1e6,
            tune_low=0.0,
            tune_high=100.0,
            help="shrinkage: similarity × co-count / (co-count + shrink)",
        ),
        HyperParam(
            "alpha",
            "float",
            0.5,
            low=0.0,
            high=1.0,
            help="asymmetric cosine exponent on the candidate's count (0: P(candidate|context), 0.5: cosine)",
            active_if=("similarity", ("asymmetric",)),
        ),
        HyperParam("aggregation", "categorical", "sum", choices=("sum", "max"), help="combine context items' rows"),
        HyperParam(
            "interactions",
            "categorical",
            "basket",
            choices=("basket", "user"),
            help="co-occurrence within baskets or within users' whole histories",
        ),
        _FALLBACK,
        HyperParam(
            "history_weight",
            "float",
            0.0,
            low=0.0,
            high=1e6,
            tune_low=0.0,
            tune_high=2.0,
            help="add this × the scores of the user's own train items (bought before the query); 0: cart only",
        ),
        HyperParam(
            "popularity_prior",
            "float",
            0.0,
            low=0.0,
            high=1e6,
            tune_low=0.0,
            tune_high=1.0,
            help="add this × each item's share of train baskets to its score (popular over sparse neighbours)",
        ),
    )

    def _fit(self, train: Dataset) -> None:
        p = self.params
        self._fill_order: np.ndarray | None = None  # the compiled path's fallback order, built on first use
        self.history_ = BasketHistory.from_dataset(train) if p["history_weight"] > 0 else None
        n_baskets = max(int((train.basket_item.getnnz(axis=1) > 0).sum()), 1)
        self.popularity_share_ = train.item_basket_count.astype(np.float64) / n_baskets
        self.popular_order_, _ = popularity_fallback(train)
        if p["interactions"] == "user":
            if not train.has_users:
                raise DataError(
                    f"adapter '{self.name}': interactions='user' needs user ids, but the training data has none; "
                    "use interactions='basket'"
                )
            x = train.user_item
        else:
            x = train.basket_item
        from xsell_eval.memory import MemoryEstimate, check_memory
        from xsell_eval.similarity import similarity_memory_bytes

        check_memory(  # stop before the work rather than by an out-of-memory kill
            MemoryEstimate({f"k_neighbors={p['k_neighbors']}": similarity_memory_bytes(x, p["k_neighbors"])}),
            what=f"adapter '{self.name}': the item similarity of {x.shape[1]:,} items",
            hints=[f"use a smaller k_neighbors (now {p['k_neighbors']}), e.g. {self.name}:k_neighbors=50"],
        )
        self.similarity_ = item_similarity(
            x,
            similarity=p["similarity"],
            alpha=p["alpha"],
            shrink=p["shrink"],
            k_neighbors=p["k_neighbors"],
        )
        self.fallback_scores_ = _fallback_scores(train) if p["fallback"] == "popular" else None

    def _candidates(self, batch: Requests) -> sp.csr_matrix:
        """Sparse (n_b × n_items) positive scores of the items the context's neighbours reach.

        With ``history_weight > 0`` the neighbours of the user's own train items (bought before the
        query time) add ``history_weight ×`` their scores.
        """
        how = self.params["aggregation"]
        cand = aggregate_sparse(batch.context, self.similarity_, how)
        if self.history_ is not None:
            sel = self.history_.select(batch.user_idx, batch.timestamp)
            own = binarize(self.history_.weighted_sum(sel, np.ones(len(sel.query)), len(batch)))
            cand = sp.csr_matrix(cand + self.params["history_weight"] * aggregate_sparse(own, self.similarity_, how))
        return prune_rows(cand, None)

    def _score(self, batch: Requests) -> np.ndarray:
        dense = self._candidates(batch).toarray()
        dense[dense <= 0] = -np.inf
        return dense

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        return _in_halves(batch, lambda b: self._recommend_one(b, k))

    def _recommend_compiled(self, batch: Requests, k: int) -> Recommendations:
        """Scoring and top-k fused in one compiled pass (``[fast]`` extra): the same lists as the NumPy path."""
        if self._fill_order is None:
            self._fill_order = fill_order(self.fallback_scores_)
        items, top, n_cand = _kernels.knn_topk(
            batch.context, self.similarity_, k, fill=self.fallback_scores_, order=self._fill_order
        )
        return Recommendations(items, top, self.name, None if self.fallback_scores_ is None else n_cand == 0)

    def _recommend_one(self, batch: Requests, k: int) -> Recommendations:
        """Neighbourhood candidates (+ the popularity prior when set), then the popularity fallback."""
        prior = self.params["popularity_prior"]
        if prior <= 0 and self.history_ is None and self.params["aggregation"] == "sum" and _kernels.available():
            return self._recommend_compiled(batch, k)
        cand = self._candidates(batch)
        if prior <= 0:
            return _recommend_with_fallback(self, cand, batch, k, self.fallback_scores_)
        # every sold item gets prior × its basket share on top of its neighbourhood score (0 if none);
        # outside the neighbourhood that is popularity order, so the 2k + cart-size best-sellers suffice
        n = len(batch)
        reach = self.popular_order_[: 2 * k + int(np.diff(batch.context.indptr).max(initial=0))]
        pattern = abs(cand)
        if self.fallback_scores_ is not None:
            rows, cols = np.repeat(np.arange(n), len(reach)), np.tile(reach, n)
            pattern = pattern + sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=cand.shape)
        pat = sp.csr_matrix(pattern).tocoo()
        prior_m = sp.csr_matrix((prior * self.popularity_share_[pat.col], (pat.row, pat.col)), shape=cand.shape)
        items, top, _ = top_k_sparse(sp.csr_matrix(cand + prior_m), k, exclude=batch.context)
        own = cand.copy()
        own.data[:] = 1.0
        if batch.context.nnz:
            own = sp.csr_matrix(own - own.multiply(batch.context > 0))
            own.eliminate_zeros()
        served = np.diff(own.indptr) == 0
        return Recommendations(items, top, self.name, served if self.fallback_scores_ is not None else None)


class UserKNNAdapter(BaseAdapter):
    """User-based kNN over binary purchase profiles (cosine or Pearson).

    A query's profile is the user's train history (items bought in any train basket)
    plus the cart, so a cold user or a guest with a cart is served from the cart alone.
    The ``k_neighbors`` train users most similar to the profile (positive similarity
    only; the query's own user is excluded) vote for their items with weight = similarity.

    Pearson is the correlation of the two binary profile vectors over the whole item
    index (each vector mean-centred over all items, zeros included):
    ``(x·y − |x||y|/n) / sqrt((|x| − |x|²/n)(|y| − |y|²/n))`` with ``|x|`` the number of
    items in the profile and ``n`` the number of items. (Pearson over co-rated items only,
    as for explicit ratings, is undefined for all-ones purchase data.)

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = UserKNNAdapter(k_neighbors=10).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "user-knn"
    family = "neighbourhood"
    description = "User-based kNN over purchase profiles (cosine / Pearson); profile = history + cart"
    serves_cold_users = True
    serves_cold_items = False
    needs_users = True
    batch_size = 256  # sparse similarity block: batch × the users sharing an item with each query
    hyperparams = (
        HyperParam("similarity", "categorical", "cosine", choices=("cosine", "pearson"), help="user-user similarity"),
        HyperParam(
            "k_neighbors",
            "int",
            50,
            low=1,
            high=100_000,
            log=True,
            tune_low=5,
            tune_high=500,
            help="most similar train users that vote",
        ),
        _FALLBACK,
    )

    def _fit(self, train: Dataset) -> None:
        self.profiles_ = binarize(train.user_item)  # n_users × n_items
        self.profiles_t_ = self.profiles_.T.tocsr()
        self.profile_size_ = np.diff(self.profiles_.indptr).astype(np.float64)
        self.fallback_scores_ = _fallback_scores(train) if self.params["fallback"] == "popular" else None

    def _query_profiles(self, batch: Requests) -> sp.csr_matrix:
        """Binary (n_b × n_items): train history of known users ∪ cart."""
        known = batch.user_idx >= 0
        hist = self.profiles_[np.where(known, batch.user_idx, 0)]
        hist = sp.diags(known.astype(np.float64)) @ hist
        return binarize(hist + batch.context)

    def _neighbour_similarity(self, batch: Requests) -> sp.csr_matrix:
        """Sparse (n_b × n_users) similarity of each query profile to the train users it shares an item with.

        Only pairs with a common item are computed (the others have cosine 0 and a Pearson
        correlation <= 0, and only positive similarities vote); self-similarity is removed.
        """
        q = self._query_profiles(batch)
        dots = sp.csr_matrix(q @ self.profiles_t_)
        dots.sum_duplicates()
        rows = np.repeat(np.arange(len(batch), dtype=np.int64), np.diff(dots.indptr))
        q_size = np.diff(q.indptr).astype(np.float64)[rows]
        u_size = self.profile_size_[dots.indices]
        d = dots.data
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.params["similarity"] == "cosine":
                sim = d / np.sqrt(q_size * u_size)
            else:
                n = float(self.n_items_)
                sim = (d - q_size * u_size / n) / np.sqrt((q_size - q_size**2 / n) * (u_size - u_size**2 / n))
        sim[~np.isfinite(sim)] = 0.0
        sim[dots.indices == batch.user_idx[rows]] = 0.0  # a user is not their own neighbour
        return sp.csr_matrix((sim, dots.indices, dots.indptr), shape=dots.shape)

    def _candidates(self, batch: Requests) -> sp.csr_matrix:
        """Sparse (n_b × n_items) votes of the ``k_neighbors`` most similar users."""
        w = prune_rows(self._neighbour_similarity(batch), self.params["k_neighbors"])
        return prune_rows(sp.csr_matrix(w @ self.profiles_), None)

    def _score(self, batch: Requests) -> np.ndarray:
        dense = self._candidates(batch).toarray()
        dense[dense <= 0] = -np.inf
        return dense

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        return _in_halves(
            batch, lambda b: _recommend_with_fallback(self, self._candidates(b), b, k, self.fallback_scores_)
        )
