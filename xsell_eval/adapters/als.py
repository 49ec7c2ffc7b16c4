"""``als``: implicit-feedback ALS (Hu, Koren & Volinsky, ICDM 2008) through the ``implicit`` library.

Training data: the user × item matrix of the training period, ``r_ui`` = number of the
user's training baskets that contain the item (guest lines carry no user and are not
used). The confidence of an observed pair is Hu et al.'s::

    c_ui = 1 + alpha · f(r_ui)      f = r ("linear"), log(1 + r) ("log") or 1 ("binary")
    p_ui = 1 for observed pairs; unobserved pairs have p = 0 and confidence 1

and ALS minimises ``Σ c_ui (p_ui − x_u·y_i)² + λ(Σ|x_u|² + Σ|y_i|²)``. We hand
``implicit`` the matrix of ``c_ui`` with its own ``alpha`` left at 1 (``implicit`` ≥ 0.5
uses the stored value itself as the confidence, so this gives exactly the paper's form).

Scoring (cart fold-in, one batch at a time): every query's profile row is

    r_q = max(r_u (train counts of the query's user, zero for guests and new users), cart)

i.e. a cart item counts as at least one purchase and an item already in the user's
history keeps its history count. (For ``next-basket`` the context *is* the user's history,
so the profile is the history; for ``basket-completion`` it is history plus cart.) The query
vector is the exact least-squares solve of the user step against the fitted item factors,
``x_q = (YᵀY + Yᵀ(C_q − I)Y + λI)⁻¹ Yᵀ C_q p_q``, computed for the whole batch by
``implicit``'s ``recalculate_user`` (Cholesky, compiled, one solve per row — the same
formula the fit uses for users). Scores are ``x_q · y_i`` for all items. Items with no
training purchase (their factor is zero) and queries with an empty profile get no
candidates (``-inf``): ALS has nothing to say about them.

Determinism: the random initial factors come from ``random_state=seed``; the per-user and
per-item solves are independent, so the result does not depend on ``num_threads`` (a test
checks bit-identical factors for 1 and 2 threads). BLAS is limited to one thread during fit
and fold-in, as ``implicit`` recommends.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from xsell_eval._imports import require
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.adapters.sar import user_rows
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Requests

CONFIDENCE = ("linear", "log", "binary")


def confidence(counts: sp.csr_matrix, *, alpha: float, scaling: str) -> sp.csr_matrix:
    """Hu et al.'s confidence ``1 + alpha · f(r)`` on the stored entries of a count matrix.

    Args:
        counts: CSR with ``r_ui > 0`` on observed pairs.
        alpha: confidence scaling (``alpha >= 0``).
        scaling: ``"linear"`` (f = r), ``"log"`` (f = log(1 + r)) or ``"binary"`` (f = 1).

    Returns:
        float32 CSR with the same sparsity pattern.

    Example:
        >>> c = confidence(sp.csr_matrix(np.array([[0.0, 1.0, 3.0]])), alpha=2.0, scaling="linear")
        >>> c.toarray().tolist()
        [[0.0, 3.0, 7.0]]
    """
    out = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    out.eliminate_zeros()
    r = out.data.astype(np.float64)
    if scaling == "linear":
        f = r
    elif scaling == "log":
        f = np.log1p(r)
    else:
        f = np.ones_like(r)
    out.data = (1.0 + alpha * f).astype(np.float32)
    return out


class ALSAdapter(BaseAdapter):
    """Implicit-feedback matrix factorisation (ALS) with cart fold-in, via ``implicit``.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = ALSAdapter(factors=8, iterations=5).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "als"
    family = "matrix-factorisation"
    description = "Implicit-feedback ALS (Hu et al. 2008, library implicit); cart folded into the user vector"
    extra = "implicit"
    needs_users = True
    serves_cold_users = True  # from the cart (fold-in)
    serves_cold_items = False
    batch_size = 256
    hyperparams = (
        HyperParam(
            "factors",
            "int",
            64,
            low=1,
            high=4096,
            tune_low=8,
            tune_high=256,
            log=True,
            help="latent factors per vector",
        ),
        HyperParam(
            "regularization",
            "float",
            0.01,
            low=0.0,
            high=1e6,
            tune_low=1e-3,
            tune_high=100.0,
            log=True,
            help="L2 penalty λ on user and item factors (implicit's default 0.01)",
        ),
        HyperParam(
            "alpha",
            "float",
            10.0,
            low=0.0,
            high=1e6,
            tune_low=0.5,
            tune_high=100.0,
            log=True,
            help="confidence scaling: c = 1 + alpha·f(r) for an observed pair (Hu et al. used 40 with f = r)",
        ),
        HyperParam(
            "confidence",
            "categorical",
            "linear",
            choices=CONFIDENCE,
            help="f(r) of the basket count r: r ('linear'), log(1 + r) ('log') or 1 ('binary')",
        ),
        HyperParam(
            "iterations", "int", 15, low=1, high=1000, tune_low=5, tune_high=50, help="ALS sweeps (users, then items)"
        ),
        HyperParam(
            "use_cg",
            "bool",
            True,
            tunable=False,
            help="conjugate-gradient user/item steps during fit (faster; false = exact Cholesky solves)",
        ),
        HyperParam(
            "num_threads",
            "int",
            0,
            low=0,
            high=256,
            tunable=False,
            help="threads for fit and fold-in (0 = all cores); results do not depend on it",
        ),
    )

    def _fit(self, train: Dataset) -> None:
        implicit_als = require("implicit.als", extra="implicit", package="implicit")
        from threadpoolctl import threadpool_limits

        p = self.params
        self.counts_ = sp.csr_matrix(train.user_item, dtype=np.float32)
        self.counts_.eliminate_zeros()
        self.item_known_ = np.asarray((self.counts_ > 0).sum(axis=0)).ravel() > 0
        cui = confidence(self.counts_, alpha=p["alpha"], scaling=p["confidence"])
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*threadpool.*", category=RuntimeWarning)
            model = implicit_als.AlternatingLeastSquares(
                factors=p["factors"],
                regularization=p["regularization"],
                alpha=1.0,
                dtype=np.float32,
                use_gpu=False,
                use_cg=p["use_cg"],
                iterations=p["iterations"],
                num_threads=p["num_threads"],
                random_state=self.seed,
            )
            model.fit(cui, show_progress=False)
        self.model_ = model
        self.item_factors_ = np.asarray(self.model_.item_factors, dtype=np.float32)
        self.user_factors_ = np.asarray(self.model_.user_factors, dtype=np.float32)

    # ------------------------------------------------------------------ scoring
    def profiles(self, batch: Requests) -> sp.csr_matrix:
        """Per query: elementwise max of the user's train counts and the binary cart (see module docstring)."""
        hist = user_rows(self.counts_, batch.user_idx)
        cart = sp.csr_matrix(batch.context, dtype=np.float32)
        cart.data[:] = 1.0
        rows = hist.maximum(cart).tocsr()
        rows.eliminate_zeros()
        rows.sort_indices()
        return rows

    def fold_in(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Exact least-squares user vectors for count rows (n × factors), via ``recalculate_user``.

        Items never bought in train are dropped from the rows first (their factor is zero).
        """
        from threadpoolctl import threadpool_limits

        keep = sp.diags(self.item_known_.astype(np.float32))
        rows = sp.csr_matrix(profiles @ keep)
        rows.eliminate_zeros()
        cq = confidence(rows, alpha=self.params["alpha"], scaling=self.params["confidence"])
        if cq.shape[0] == 0:
            return np.zeros((0, self.item_factors_.shape[1]), dtype=np.float32)
        with threadpool_limits(1, "blas"):
            x = self.model_.recalculate_user(np.arange(cq.shape[0]), cq)
        return np.asarray(x, dtype=np.float32).reshape(cq.shape[0], -1)

    def _score(self, batch: Requests) -> np.ndarray:
        prof = self.profiles(batch)
        x = self.fold_in(prof)
        scores = (x.astype(np.float64) @ self.item_factors_.T.astype(np.float64)).astype(np.float64)
        scores[:, ~self.item_known_] = -np.inf
        has = np.asarray((prof @ sp.diags(self.item_known_.astype(np.float32))).sum(axis=1)).ravel() > 0
        scores[~has] = -np.inf
        return scores
