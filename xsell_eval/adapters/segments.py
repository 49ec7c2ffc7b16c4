"""``segments`` — K-means customer segments, each recommending its own best sellers.

Profile pipeline (fitted on the train users that bought something)::

    user × item binary          (profile="items")
      or user × category counts (profile="categories": distinct items bought per category)
      -> L2-normalise rows      (a segment is about *what* people buy, not *how much*)
      -> TruncatedSVD(n_components)  (denoises the sparse co-purchase space; k-means on 32
                                      dense columns instead of thousands of sparse ones;
                                      skipped when n_components >= features or users)
      -> L2-normalise rows      (k-means on the unit sphere ≈ clustering by cosine)
      -> KMeans(n_clusters, n_init=4, random_state=seed)

Each segment's favourites are its items ranked by the number of the segment's train
baskets containing them; ties and the items the segment never bought are ordered by
global popularity (so every list is full). Who gets which segment:

* a user with train history -> the segment of their train profile (the cart is not used);
* a cold user or guest -> the segment nearest to the projection of their *cart* through
  the same pipeline;
* when the cart is empty or unprojectable (none of its items was bought in train, or with
  ``profile="categories"`` none has a category) -> global popularity, and the query is
  flagged in ``Recommendations.fallback``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import DataError
from xsell_eval.queries import Recommendations, Requests, top_k
from xsell_eval.similarity import binarize

_N_INIT = 4  # k-means restarts (fixed, not tuned)
_EPS = 1e-12


def _l2_rows(m: np.ndarray | sp.csr_matrix) -> Any:
    """Rows scaled to unit L2 norm; zero rows stay zero."""
    from sklearn.preprocessing import normalize

    return normalize(m, norm="l2", axis=1, copy=True)


class SegmentsAdapter(BaseAdapter):
    """K-means user segments from purchase profiles; each segment gets its own best sellers.

    See the module docstring for the profile pipeline and the cold-user rule. Serves cold
    users (through the cart, else global popularity), not cold items.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = SegmentsAdapter(n_clusters=4, n_components=8).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "segments"
    family = "segmentation"
    description = "K-means customer segments (SVD-reduced purchase profiles), each segment's best sellers"
    serves_cold_users = True
    serves_cold_items = False
    needs_users = True
    hyperparams = (
        HyperParam(
            "n_clusters",
            "int",
            20,
            low=1,
            high=10_000,
            log=True,
            tune_low=2,
            tune_high=100,
            help="number of segments (capped at the number of distinct train user profiles)",
        ),
        HyperParam(
            "n_components",
            "int",
            32,
            low=1,
            high=10_000,
            log=True,
            tune_low=4,
            tune_high=128,
            help="TruncatedSVD dimensions before k-means (no reduction when >= features or users)",
        ),
        HyperParam(
            "profile",
            "categorical",
            "items",
            choices=("items", "categories"),
            help="cluster users on the items they bought or on the categories (needs catalog categories)",
        ),
        HyperParam(
            "n_threads",
            "int",
            1,
            low=1,
            high=1024,
            tunable=False,
            help="BLAS/OpenMP threads for SVD and k-means (more pay off only on large data and an idle machine)",
        ),
    )

    # ---------------------------------------------------------------- profiles
    def _raw_profiles(self, item_rows: sp.csr_matrix) -> sp.csr_matrix:
        """Binary rows × item matrix -> rows × feature matrix (items or category counts)."""
        if self.category_map_ is None:
            return item_rows
        return sp.csr_matrix(item_rows @ self.category_map_)

    def _embed(self, raw: sp.csr_matrix) -> np.ndarray:
        """Raw profile rows -> dense unit vectors in the clustering space (zero rows stay zero)."""
        x = _l2_rows(raw)
        if self.svd_ is not None:
            return np.asarray(_l2_rows(self.svd_.transform(x)))
        return np.asarray(x.toarray())

    # ---------------------------------------------------------------- fit
    def _fit(self, train: Dataset) -> None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.params["n_threads"]):
            self._fit_limited(train)

    def _fit_limited(self, train: Dataset) -> None:
        from sklearn.cluster import KMeans
        from sklearn.decomposition import TruncatedSVD

        p = self.params
        ui = train.user_item  # n_users × n_items, value = number of baskets
        bought = binarize(ui)
        if p["profile"] == "categories":
            cat = train.item_category
            has = cat >= 0
            if not has.any():
                raise DataError(
                    f"adapter '{self.name}': profile='categories' needs item categories in the catalog, but "
                    f"dataset '{train.name}' has none; use profile='items'"
                )
            n_cat = int(cat.max()) + 1
            self.category_map_: sp.csr_matrix | None = sp.csr_matrix(
                (np.ones(int(has.sum())), (np.flatnonzero(has), cat[has])), shape=(train.n_items, n_cat)
            )
        else:
            self.category_map_ = None
        raw = self._raw_profiles(bought)
        active = np.flatnonzero(np.diff(raw.indptr) > 0)
        if len(active) == 0:
            raise DataError(f"adapter '{self.name}': no train user has a purchase to build a profile from")
        n_comp = p["n_components"]
        x = _l2_rows(raw[active])
        if n_comp < min(raw.shape[1], len(active)):
            self.svd_: TruncatedSVD | None = TruncatedSVD(n_components=n_comp, random_state=self.seed)
            z = _l2_rows(self.svd_.fit_transform(x))
        else:  # nothing to reduce (e.g. a few categories): cluster the normalised profiles directly
            self.svd_ = None
            z = x
        # distinct points (up to rounding noise): k-means cannot fill more clusters than that
        n_distinct = len(np.unique(np.round(z.toarray() if sp.issparse(z) else z, 8), axis=0))
        self.n_clusters_ = int(min(p["n_clusters"], n_distinct))
        self.kmeans_ = KMeans(n_clusters=self.n_clusters_, n_init=_N_INIT, random_state=self.seed).fit(z)
        self.labels_ = np.full(train.n_users, -1, dtype=np.int64)
        self.labels_[active] = self.kmeans_.labels_
        member = sp.csr_matrix(
            (np.ones(len(active)), (self.kmeans_.labels_, active)), shape=(self.n_clusters_, train.n_users)
        )
        self.cluster_counts_ = np.asarray((member @ ui).toarray())  # baskets of the segment containing each item
        pop = train.item_basket_count.astype(np.float64)
        self.popularity_ = np.where(pop > 0, pop / (pop.max(initial=0.0) + 1.0), -np.inf)  # [0, 1) tie-break

    # ---------------------------------------------------------------- recommend
    def assign(self, batch: Requests) -> np.ndarray:
        """Segment of each query (known user: train segment; else nearest to the cart; -1: none)."""
        n = len(batch)
        seg = np.full(n, -1, dtype=np.int64)
        known = batch.user_idx >= 0
        seg[known] = self.labels_[batch.user_idx[known]]
        cold = np.flatnonzero(seg < 0)
        if len(cold):
            z = self._embed(self._raw_profiles(binarize(batch.context[cold])))
            ok = np.linalg.norm(z, axis=1) > _EPS
            if ok.any():
                from threadpoolctl import threadpool_limits

                with threadpool_limits(limits=self.params["n_threads"]):
                    seg[cold[ok]] = self.kmeans_.predict(z[ok])
        return seg

    def _segment_scores(self, batch: Requests) -> tuple[np.ndarray, np.ndarray]:
        """(scores, segment): segment counts + popularity tie-break; popularity only where segment is -1."""
        seg = self.assign(batch)
        scores = np.broadcast_to(self.popularity_, (len(batch), len(self.popularity_))).copy()
        has = seg >= 0
        scores[has] += self.cluster_counts_[seg[has]]
        return scores, seg

    def _score(self, batch: Requests) -> np.ndarray:
        return self._segment_scores(batch)[0]

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        scores, seg = self._segment_scores(batch)
        items, top = top_k(scores, k, exclude=batch.context)
        return Recommendations(items, top, self.name, seg < 0)
