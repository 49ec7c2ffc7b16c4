"""``ease``: Embarrassingly Shallow Autoencoder (Steck, WWW 2019), a closed-form item × item model.

Source: Harald Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", The Web Conference
(WWW) 2019, arXiv:1905.03375. With ``X`` the binary (baskets or users) × items training matrix::

    G = XᵀX + λ I,    P = G⁻¹,    B = I − P · diagMat(1 / diag(P))    (so diag(B) = 0)
    scores = context · B

``B`` is dense (items × items), so only the ``max_items`` most popular train items enter the model;
other items are reached through the popularity fallback only. Fitting holds about three dense
``n × n`` float64 matrices (G, its inverse, B): ``n² × 8 bytes × 3``. A model that would need more
than ``max_memory_gib`` is refused before any allocation, naming the memory and the parameter.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters._history import popularity_fallback, sparse_top_k
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.queries import Recommendations, Requests
from xsell_eval.similarity import binarize

BYTES_PER_CELL = 8 * 3
"""float64 × the three dense n × n matrices alive while fitting (Gram, inverse, B)."""


def ease_memory_bytes(n_items: int) -> int:
    """Memory EASE needs to fit ``n_items`` items: ``n² × 8 bytes × 3``."""
    return int(n_items) ** 2 * BYTES_PER_CELL


def ease_weights(x: sp.spmatrix | np.ndarray, lam: float) -> np.ndarray:
    """Steck's closed form: ``B = I − P diagMat(1/diag(P))`` with ``P = (XᵀX + λI)⁻¹``; diag(B) = 0.

    Example:
        >>> b = ease_weights(np.array([[1.0, 1.0], [1.0, 0.0]]), 1.0)
        >>> np.round(b, 4).tolist()
        [[0.0, 0.3333], [0.5, 0.0]]
    """
    xs = sp.csr_matrix(x, dtype=np.float64)
    g = np.asarray((xs.T @ xs).todense(), dtype=np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    del g
    b = p / (-np.diag(p))[None, :]  # B_ij = -P_ij / P_jj
    b[np.diag_indices_from(b)] = 0.0
    return b


class EASEAdapter(BaseAdapter):
    """EASE (Steck, WWW 2019): closed-form linear item × item autoencoder with L2 penalty ``lam``.

    Serves cold users from the cart (basket completion) or the history (next-basket context).
    Items outside the ``max_items`` most popular ones, and queries whose context holds none of
    them, are served by popularity (flagged as fallback). Scores ``<= 0`` are not candidates.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = EASEAdapter(lam=50.0).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "ease"
    family = "linear"
    description = "EASE (Steck 2019): closed-form item-item autoencoder on the top max_items items"
    serves_cold_users = True
    serves_cold_items = False
    hyperparams = (
        HyperParam(
            "lam",
            "float",
            500.0,
            low=0.0,
            high=1e8,
            log=True,
            tune_low=1.0,
            tune_high=1e5,
            help="L2 regularisation λ added to the diagonal of XᵀX",
        ),
        HyperParam(
            "max_items",
            "int",
            4000,
            low=1,
            high=1_000_000,
            tunable=False,
            help="model only the N most popular train items (memory n² × 24 bytes); others via fallback",
        ),
        HyperParam(
            "max_memory_gib",
            "float",
            4.0,
            low=1e-9,
            high=1e6,
            tunable=False,
            help="refuse to fit a model needing more memory than this (GiB, n² × 8 bytes × 3)",
        ),
        HyperParam(
            "interactions",
            "categorical",
            "basket",
            choices=("basket", "user"),
            help="rows of X: baskets (bought together) or users' whole histories",
        ),
    )

    def _check_params(self) -> None:
        if self.params["lam"] <= 0:
            raise ConfigError(f"adapter '{self.name}': hyperparameter 'lam' must be > 0, got {self.params['lam']!r}")

    def _fit(self, train: Dataset) -> None:
        p = self.params
        if p["interactions"] == "user":
            if not train.has_users:
                raise DataError(
                    f"adapter '{self.name}': interactions='user' needs user ids, but the training data has none; "
                    "use interactions='basket'"
                )
            x = binarize(train.user_item)
        else:
            x = train.basket_item
        self.fallback_items_, self.fallback_scores_ = popularity_fallback(train)
        model_items = np.sort(self.fallback_items_[: p["max_items"]])
        need = ease_memory_bytes(len(model_items))
        if need > p["max_memory_gib"] * 2**30:
            raise ConfigError(
                f"adapter '{self.name}': {len(model_items):,} items would need {need / 2**30:.1f} GiB "
                f"(n² × 8 bytes × 3) to fit, above max_memory_gib={p['max_memory_gib']}; lower 'max_items' "
                f"(now {p['max_items']:,}) or raise 'max_memory_gib'"
            )
        self.model_items_ = model_items
        self.weights_ = ease_weights(x[:, model_items], p["lam"])

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        ctx = batch.context[:, self.model_items_]
        dense = np.asarray(ctx @ self.weights_)
        dense[dense <= 0] = 0.0
        sub = sp.csr_matrix(dense)
        scores = sp.csr_matrix(
            (sub.data, self.model_items_[sub.indices], sub.indptr), shape=(len(batch), self.n_items_)
        )
        return sparse_top_k(self.name, scores, batch.context, k, self.fallback_items_, self.fallback_scores_)
