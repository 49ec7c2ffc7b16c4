"""``buy-again``: personal popularity — what this shopper buys again and again.

For a query of user ``u`` at time ``t``, only ``u``'s train baskets bought strictly before
``t`` count (a split that leaves later baskets in train cannot leak them). Basket ``b`` bought
``Δ_b`` days before ``t`` weighs ``w_b = 0.5 ** (Δ_b / half_life_days)``; the personal share of
item ``i`` is blended with its global share of train baskets ``g_i`` as ``prior_weight``
pseudo-baskets::

    score_i = (Σ_b w_b · [i ∈ b]  +  prior_weight · g_i) / (Σ_b w_b  +  prior_weight)

With no usable history (guest, cold user) the score is ``g_i``: plain ``popular``. With a short
history the prior weighs more; with a long one the shopper's own items dominate. Items in the
cart are never recommended.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters._history import BasketHistory, popularity_fallback, sparse_top_k
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Recommendations, Requests


class BuyAgainAdapter(BaseAdapter):
    """Personal popularity: a user's own past items by time-decayed frequency, blended with popularity.

    Scores (see the module docstring): ``(Σ_b w_b [i ∈ b] + β g_i) / (Σ_b w_b + β)`` with
    ``w_b = 0.5 ** (days before the query / half_life_days)``, ``β = prior_weight`` and ``g_i`` the
    share of train baskets holding ``i``. Only baskets strictly before the query time are used;
    without timestamps every basket weighs 1.

    Basket completion: the cart is excluded, the rest of the list is the shopper's usual items
    (then best-sellers). Next-basket: the harness's ``next-basket`` protocol asks for *new* items
    (everything bought before is context and excluded), so there ``buy-again`` reduces to
    ``popular``. Guests and users without train baskets get ``popular`` (flagged as fallback).

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = BuyAgainAdapter().fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "buy-again"
    family = "baseline"
    description = "Personal popularity: the user's own past items by time-decayed frequency, + popularity prior"
    serves_cold_users = True
    serves_cold_items = False
    needs_users = True
    hyperparams = (
        HyperParam(
            "half_life_days",
            "float",
            90.0,
            low=0.01,
            high=1e6,
            log=True,
            tune_low=3.0,
            tune_high=3650.0,
            help="a basket's weight halves every this many days before the query (1e6: no decay)",
        ),
        HyperParam(
            "prior_weight",
            "float",
            1.0,
            low=0.0,
            high=1e6,
            tune_low=0.0,
            tune_high=20.0,
            help="global popularity counts as this many pseudo-baskets in the blend (0: personal only, then popular)",
        ),
    )

    def _fit(self, train: Dataset) -> None:
        self.history_ = BasketHistory.from_dataset(train)
        n_baskets = max(int((train.basket_item.getnnz(axis=1) > 0).sum()), 1)
        self.global_share_ = train.item_basket_count.astype(np.float64) / n_baskets
        self.fallback_items_, self.fallback_scores_ = popularity_fallback(train)

    def personal_scores(self, batch: Requests) -> tuple[sp.csr_matrix, np.ndarray]:
        """(Decayed item counts ``Σ_b w_b [i ∈ b]`` as CSR, decayed basket mass ``Σ_b w_b``) per query."""
        sel = self.history_.select(batch.user_idx, batch.timestamp)
        w = np.power(0.5, sel.age_days / self.params["half_life_days"])
        mass = np.bincount(sel.query, weights=w, minlength=len(batch))
        return self.history_.weighted_sum(sel, w, len(batch)), mass

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        counts, mass = self.personal_scores(batch)
        n = len(batch)
        beta = self.params["prior_weight"]
        inv = 1.0 / np.maximum(mass + beta, 1e-300)
        scores = sp.diags(inv) @ counts  # Σ_b w_b [i ∈ b] / (mass + β)
        if beta > 0:
            # + β g_i / (mass + β) on every personal item and on the popular items that can reach the
            # top k (the 2k + cart-size most popular: outside the personal items popularity decides)
            max_ctx = int(np.diff(batch.context.indptr).max(initial=0))
            cand = self.fallback_items_[: 2 * k + max_ctx]
            block = sp.csr_matrix(
                (np.ones(n * len(cand)), (np.repeat(np.arange(n), len(cand)), np.tile(cand, n))), shape=counts.shape
            )
            pattern = (abs(counts) + block).tocoo()
            prior = beta * self.global_share_[pattern.col] * inv[pattern.row]
            scores = scores + sp.csr_matrix((prior, (pattern.row, pattern.col)), shape=counts.shape)
        recs = sparse_top_k(
            self.name, sp.csr_matrix(scores), batch.context, k, self.fallback_items_, self.fallback_scores_
        )
        own = counts.copy()
        own.data[:] = 1.0
        if batch.context.nnz:
            own = own - own.multiply(batch.context > 0)
        own = sp.csr_matrix(own)
        own.eliminate_zeros()
        return Recommendations(recs.items, recs.scores, self.name, np.diff(own.indptr) == 0)
