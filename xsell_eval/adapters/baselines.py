"""Baselines: ``popular`` and ``random``. Every comparison needs a floor."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Recommendations, Requests, top_k_sparse


class PopularAdapter(BaseAdapter):
    """Most bought items in train (number of baskets containing the item), minus the context.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = PopularAdapter().fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "popular"
    family = "baseline"
    description = "Most bought items in train (baskets containing the item), excluding the cart"
    serves_cold_users = True
    serves_cold_items = False

    def _fit(self, train: Dataset) -> None:
        counts = train.item_basket_count.astype(np.float64)
        self.scores_ = np.where(counts > 0, counts, -np.inf)

    def _score(self, batch: Requests) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(batch), len(self.scores_)))

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        if type(self)._score is not PopularAdapter._score:  # a subclass scores its own way: dense top-k
            return super()._recommend_batch(batch, k)
        # one global ranking, skipping each cart's items: no (batch × items) block. A row skips
        # at most its cart, so only the first k + (largest cart) items of the ranking can be
        # shown: the fill keeps those alone, and a query's cost no longer follows the catalog.
        order = self._ranking()
        width = k + int(np.diff(batch.context.indptr).max(initial=0))
        head = order[:width]
        fill = np.full(len(self.scores_), -np.inf)
        fill[head] = self.scores_[head]
        empty = sp.csr_matrix((len(batch), len(self.scores_)))
        items, top, _ = top_k_sparse(empty, k, exclude=batch.context, fill=fill)
        return Recommendations(items, top, self.name)

    def _ranking(self) -> np.ndarray:
        """The items with a finite score, best first (ties: lower index), computed once per fit."""
        cached = getattr(self, "_ranking_cache", None)
        if cached is not None and cached[0] is self.scores_:
            return cached[1]
        scores = self.scores_
        cand = np.flatnonzero(np.isfinite(scores))
        order = cand[np.lexsort((cand, -scores[cand]))]
        self._ranking_cache = (scores, order)
        return order


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a fast, well-distributed hash of uint64 arrays."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


class RandomAdapter(BaseAdapter):
    """Uniformly random items among those bought at least once in train.

    The score of (query, item) is a hash of (seed, query_id, item), so the result does
    not depend on batch size or query order, and the same seed gives the same lists.
    """

    name = "random"
    family = "baseline"
    description = "Seeded uniformly random items among those bought in train"
    serves_cold_users = True
    serves_cold_items = False
    hyperparams = (
        HyperParam("include_unsold", "bool", False, tunable=False, help="also draw items never bought in train"),
    )

    def _fit(self, train: Dataset) -> None:
        sold = train.item_basket_count > 0
        self.candidate_ = np.ones_like(sold) if self.params["include_unsold"] else sold

    def _score(self, batch: Requests) -> np.ndarray:
        n_items = len(self.candidate_)
        with np.errstate(over="ignore"):
            key = (
                _mix64(np.uint64(self.seed) + np.uint64(0x9E3779B97F4A7C15) * batch.query_id.astype(np.uint64))[:, None]
                ^ np.arange(n_items, dtype=np.uint64)[None, :]
            )
        u = (_mix64(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        u[:, ~self.candidate_] = -np.inf
        return u
