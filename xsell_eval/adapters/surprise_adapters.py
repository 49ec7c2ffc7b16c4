"""Adapters over scikit-surprise: ``surprise-knn`` (KNNWithMeans) and ``surprise-svd`` (SVD).

Surprise is a *rating-prediction* library; this module turns a shop's purchases into
ratings, lets Surprise fit its own model, then ranks candidates with vectorised numpy
copies of Surprise's prediction formulas (never ``algo.predict`` per pair)::

    train lines ──► ratings (user, item, r) ──► surprise.Trainset ──► algo.fit
                                                                         │
    queries ──► known user? ── yes, profile="history" ──► est(u, ·) from the fitted
                 │                                         internals (= algo.predict(u, i,
                 │                                         clip=False).est for every item)
                 └─ no (guest / cold) or profile="cart" ──► score from the cart items

Ratings
    * Explicit data (``Dataset.has_ratings``, e.g. MovieLens): the ``rating`` column, the
      mean when a (user, item) pair occurs on several lines; the rating scale handed to
      ``surprise.Reader`` is ``(min, max)`` of the training ratings.
    * Implicit purchases: ``rating = 1 + ln(c)``, ``c`` = number of the user's training
      baskets containing the item (``Dataset.user_item``). One purchase is 1.0, two 1.69,
      ten 3.30; the scale is ``(1, 1 + ln(max c))``. Why baskets and not quantity: in
      wholesale-heavy shops (Online Retail) the quantity mostly reflects the pack size
      (12, 24, 48…), while buying the item again in another order is the preference
      signal; the log damps the few very heavy repeat buyers. Guest lines carry no user
      and are not used (Surprise models users).

Scoring (``est`` is unclipped, so the top of the scale does not create ties)
    * ``surprise-knn``, known user, item-based:
      ``est(u,i) = mean_i + Σ_{j∈N_k(i;u), sim>0} sim(i,j)·(r_uj − mean_j) / Σ sim(i,j)``
      where ``N_k(i;u)`` = the ``k`` items rated by ``u`` most similar to ``i`` (ties
      broken like Surprise's ``heapq.nlargest``: earlier in the user's rating list,
      which is ascending item index here). Fewer than ``min_k`` positive neighbours:
      ``est = mean_i``. User-based is the transpose (neighbours = users who rated ``i``).
    * ``surprise-knn``, cart (cold users and guests, or ``profile="cart"``), item-based
      only: ``score(i) = Σ_{j∈N_k(i;cart), sim>0} sim(i,j)`` — the cart items' rows of
      the similarity matrix; items without a positive neighbour in the cart are not
      candidates. User-based KNN cannot place a cart in its user × user similarity:
      such queries get no recommendation (use item-based, the default).
    * ``surprise-svd``, known user: ``est = μ + b_u + b_i + p_u·q_i`` (``q_i·p_u`` when
      ``biased=False``), as one matrix product over the batch's users × all items.
    * ``surprise-svd``, cart: fold-in. Each cart item counts as a top-of-scale rating
      ``r_max``; solve the ridge problem Surprise's SGD optimises for one user,
      ``min Σ_{j∈cart} (r_max − μ − b_j − b − p·q_j)² + λ·n·(b² + |p|²)`` with
      ``λ = reg_all`` and ``n`` = number of known cart items (SGD regularises once per
      rating), in closed form; then score as a known user with ``(b, p)``.

Defaults: item-based KNN with ``sim="pearson_baseline"`` — Surprise's similarities are
computed over co-rated users only, so on purchase data cosine and msd are 1 for a large
share of co-bought pairs whatever their support; pearson_baseline shrinks by support —
``k=40`` and ``profile="history"`` (the user model, as Surprise intends). On Online Retail
the user models lose to ``popular`` (rating prediction is not ranking), while
``profile="cart"`` with this similarity beats it; see docs/adapters_mf.md.

Memory: the item-item similarity is dense ``n_items²`` float64 (Online Retail train:
3.6k items → 104 MB; Surprise needs about three such matrices while computing it);
user-based needs ``n_users²`` (3.7k users → 110 MB). SVD stores ``(n_users + n_items) ×
n_factors`` floats.

Both libraries stay optional: ``surprise`` is imported inside ``fit``; without it fit
raises :class:`~xsell_eval.errors.MissingExtraError` with the install hint, while this
module still imports and ``xsell-eval adapters`` lists the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval._imports import require
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import AdapterError, ConfigError, DataError, NotFittedError
from xsell_eval.queries import Requests

SIMILARITIES = ("cosine", "msd", "pearson", "pearson_baseline")
PROFILES = ("history", "cart")


@dataclass(frozen=True)
class SurpriseRatings:
    """The ratings handed to Surprise.

    Attributes:
        frame: columns ``user_idx``, ``item_idx``, ``rating``; one row per known
            (user, item) pair, sorted by (user_idx, item_idx) — the order Surprise sees,
            which fixes its inner ids and its tie-breaking.
        rating_scale: ``(low, high)`` for ``surprise.Reader``.
        explicit: True when taken from the data's ``rating`` column.
    """

    frame: pd.DataFrame
    rating_scale: tuple[float, float]
    explicit: bool


def surprise_ratings(train: Dataset, *, owner: str = "surprise") -> SurpriseRatings:
    """Turn training interactions into Surprise ratings (rule in the module docstring).

    Raises:
        DataError: no line has a known user, or every explicit rating is missing.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset.from_frames(pd.DataFrame({"user_id": ["a", "a", "a"],
        ...     "basket_id": ["b1", "b2", "b2"], "item_id": ["x", "x", "y"]}))
        >>> surprise_ratings(ds).frame["rating"].round(3).tolist()
        [1.693, 1.0]
    """
    df = train.interactions
    known = df[C.USER_IDX].to_numpy() >= 0
    if not known.any():
        raise DataError(f"adapter '{owner}' needs user ids, but the training data has none (all guests)")
    if train.has_ratings:
        r = df[C.RATING].to_numpy(dtype=np.float64)
        keep = known & np.isfinite(r)
        if not keep.any():
            raise DataError(f"adapter '{owner}': column '{C.RATING}' has no finite rating for a known user")
        g = (
            pd.DataFrame(
                {
                    C.USER_IDX: df[C.USER_IDX].to_numpy()[keep],
                    C.ITEM_IDX: df[C.ITEM_IDX].to_numpy()[keep],
                    C.RATING: r[keep],
                }
            )
            .groupby([C.USER_IDX, C.ITEM_IDX], sort=True)[C.RATING]
            .mean()
            .reset_index()
        )
        lo, hi = float(g[C.RATING].min()), float(g[C.RATING].max())
        return SurpriseRatings(g, (lo, hi), True)
    ui = train.user_item.tocoo()
    order = np.lexsort((ui.col, ui.row))
    counts = ui.data[order].astype(np.float64)
    frame = pd.DataFrame(
        {
            C.USER_IDX: ui.row[order].astype(np.int64),
            C.ITEM_IDX: ui.col[order].astype(np.int64),
            C.RATING: 1.0 + np.log(counts),
        }
    )
    return SurpriseRatings(frame, (1.0, float(1.0 + np.log(counts.max()))), False)


def _topk_mask(s: np.ndarray, k: int) -> np.ndarray:
    """Per row, True at the ``k`` largest entries; ties go to the lower column position.

    This is the selection of ``heapq.nlargest(k, neighbours, key=sim)`` (stable, so the
    earlier neighbour wins a tie), vectorised over rows.
    """
    n_cols = s.shape[1]
    if n_cols <= k:
        return np.ones(s.shape, dtype=bool)
    kth = np.partition(s, n_cols - k, axis=1)[:, n_cols - k : n_cols - k + 1]
    above = s > kth
    tie = s == kth
    need = k - above.sum(axis=1)
    sel = above | tie
    fix = np.flatnonzero(tie.sum(axis=1) > need)  # rows where not every tie fits
    if len(fix):
        t = tie[fix]
        sel[fix] = above[fix] | (t & (np.cumsum(t, axis=1, dtype=np.int32) <= need[fix, None]))
    return sel


class _SurpriseAdapter(BaseAdapter):
    """Shared plumbing: ratings → Surprise trainset → fitted algo → id maps."""

    extra: ClassVar[str | None] = "surprise"
    batch_size: ClassVar[int] = 2048  # larger batches: one estimate per distinct user per batch
    needs_users = True
    serves_cold_users = True
    serves_cold_items = False

    # ------------------------------------------------------------------ public helpers
    def build_algo(self) -> Any:
        """A fresh, unfitted Surprise algorithm configured from this adapter's parameters."""
        raise NotImplementedError

    def surprise_data(self, train: Dataset) -> Any:
        """``surprise.Dataset`` of the ratings of ``train`` (the conversion ``fit`` uses).

        Raw ids are the dataset's user and item indices; rows come in (user, item) order.
        """
        return self._ratings_and_data(train)[1]

    def _ratings_and_data(self, train: Dataset) -> tuple[SurpriseRatings, Any]:
        surprise = require("surprise", extra="surprise", package="scikit-surprise")
        ratings = surprise_ratings(train, owner=self.name)
        frame = ratings.frame[[C.USER_IDX, C.ITEM_IDX, C.RATING]]
        return ratings, surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=ratings.rating_scale))

    def predict_ratings(self, user_idx: np.ndarray) -> np.ndarray:
        """Surprise's unclipped estimate for users × all items, vectorised.

        Equals ``algo_.predict(u, i, clip=False).est`` wherever user and item are known
        to the trainset; NaN elsewhere (never ranking candidates; Surprise itself answers
        them with a fallback: the global mean for KNN, ``μ + b_u`` or ``μ + b_i`` for SVD).

        Args:
            user_idx: dataset user indices.
        """
        self._require_fitted()
        user_idx = np.asarray(user_idx, dtype=np.int64)
        out = np.full((len(user_idx), self.n_items_), np.nan)
        inner = self._inner_users(user_idx)
        rows = np.flatnonzero(inner >= 0)
        if len(rows):
            uniq, inv = np.unique(inner[rows], return_inverse=True)
            est = self._estimate_known(uniq)
            out[np.ix_(rows, self.known_items_)] = est[inv][:, self.known_inner_]
        return out

    # ------------------------------------------------------------------ BaseAdapter hooks
    def _fit(self, train: Dataset) -> None:
        ratings, data = self._ratings_and_data(train)
        frame = ratings.frame
        trainset = data.build_full_trainset()
        algo = self.build_algo()
        algo.fit(trainset)
        self.algo_ = algo
        self.trainset_ = trainset
        self.ratings_ = ratings
        self.cart_rating_ = ratings.rating_scale[1]
        n_users, n_items = train.n_users, train.n_items
        self.user_inner_ = np.full(n_users, -1, dtype=np.int64)
        self.item_inner_ = np.full(n_items, -1, dtype=np.int64)
        raw_u = np.unique(frame[C.USER_IDX].to_numpy())
        raw_i = np.unique(frame[C.ITEM_IDX].to_numpy())
        self.user_inner_[raw_u] = [trainset.to_inner_uid(int(u)) for u in raw_u]
        self.item_inner_[raw_i] = [trainset.to_inner_iid(int(i)) for i in raw_i]
        self.known_items_ = raw_i
        self.known_inner_ = self.item_inner_[raw_i]
        # profile of each inner user in *dataset* item order (= Surprise's ur order)
        u_in = self.user_inner_[frame[C.USER_IDX].to_numpy()]
        self.profile_ = sp.csr_matrix(
            (frame[C.RATING].to_numpy(), (u_in, frame[C.ITEM_IDX].to_numpy())),
            shape=(trainset.n_users, n_items),
        )
        self.profile_.sort_indices()
        self._after_fit(train)

    def _score(self, batch: Requests) -> np.ndarray:
        n = len(batch)
        out = np.full((n, self.n_items_), -np.inf)
        inner = self._inner_users(batch.user_idx)
        hist = inner >= 0 if self.params["profile"] == "history" else np.zeros(n, dtype=bool)
        rows = np.flatnonzero(hist)
        if len(rows):
            uniq, inv = np.unique(inner[rows], return_inverse=True)
            est = self._estimate_known(uniq)
            out[np.ix_(rows, self.known_items_)] = est[inv][:, self.known_inner_]
        rows = np.flatnonzero(~hist)
        if len(rows):
            ctx = batch.context[rows]
            sc = self._score_carts(ctx)
            out[np.ix_(rows, self.known_items_)] = sc[:, self.known_inner_]
        out[~np.isfinite(out)] = -np.inf
        return out

    # ------------------------------------------------------------------ subclass hooks
    def _after_fit(self, train: Dataset) -> None:
        """Cache what vectorised scoring needs from ``self.algo_``."""

    def _estimate_known(self, inner_users: np.ndarray) -> np.ndarray:
        """Unclipped estimates (len(inner_users) × n_inner_items) for known inner users."""
        raise NotImplementedError

    def _score_carts(self, context: sp.csr_matrix) -> np.ndarray:
        """Scores (n × n_inner_items) from the carts alone; -inf = not a candidate."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _require_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"adapter '{self.name}': call fit() before predict_ratings()")

    def _inner_users(self, user_idx: np.ndarray) -> np.ndarray:
        u = np.asarray(user_idx, dtype=np.int64)
        ok = (u >= 0) & (u < len(self.user_inner_))
        return np.where(ok, self.user_inner_[np.where(ok, u, 0)], -1)

    def _cart_inner(self, context: sp.csr_matrix, row: int) -> np.ndarray:
        """Inner ids of the known cart items of one row, in dataset item order."""
        items = context.indices[context.indptr[row] : context.indptr[row + 1]]
        items = np.sort(items)
        inner = self.item_inner_[items]
        return inner[inner >= 0]


_PROFILE_HELP = (
    "history: known users are scored from their training ratings (Surprise's own prediction), "
    "cold users and guests from the cart; cart: every query is scored from its cart only"
)


class SurpriseKNNAdapter(_SurpriseAdapter):
    """Surprise ``KNNWithMeans`` (mean-centred k-NN), item-based by default.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = SurpriseKNNAdapter(k=20).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "surprise-knn"
    family = "neighbourhood"
    description = "scikit-surprise KNNWithMeans on purchase-count ratings (item-based by default)"
    hyperparams = (
        HyperParam("k", "int", 40, low=1, high=10_000, tune_low=5, tune_high=200, log=True, help="max neighbours"),
        HyperParam(
            "min_k", "int", 1, low=1, high=10_000, tune_low=1, tune_high=5, help="min positive neighbours, else mean"
        ),
        HyperParam("sim", "categorical", "pearson_baseline", choices=SIMILARITIES, help="Surprise similarity measure"),
        HyperParam("user_based", "bool", False, help="user-user similarities instead of item-item"),
        HyperParam(
            "min_support", "int", 1, low=1, high=100_000, tune_low=1, tune_high=20, help="min common raters, else sim 0"
        ),
        HyperParam(
            "shrinkage",
            "int",
            100,
            low=0,
            high=100_000,
            tune_low=0,
            tune_high=500,
            help="shrinkage of pearson_baseline similarities",
            active_if=("sim", ("pearson_baseline",)),
        ),
        HyperParam("profile", "categorical", "history", choices=PROFILES, help=_PROFILE_HELP),
    )

    def _check_params(self) -> None:
        if self.params["min_k"] > self.params["k"]:
            raise ConfigError(
                f"adapter '{self.name}': hyperparameter 'min_k' ({self.params['min_k']}) must be <= 'k' "
                f"({self.params['k']})"
            )
        if self.params["user_based"] and self.params["profile"] == "cart":
            raise ConfigError(
                f"adapter '{self.name}': profile='cart' needs item-based similarities; set user_based=false"
            )

    def build_algo(self) -> Any:
        """``surprise.KNNWithMeans`` with this adapter's k, min_k and sim_options."""
        surprise = require("surprise", extra="surprise", package="scikit-surprise")
        p = self.params
        sim_options = {
            "name": p["sim"],
            "user_based": p["user_based"],
            "min_support": p["min_support"],
            "shrinkage": p["shrinkage"],
        }
        return surprise.KNNWithMeans(k=p["k"], min_k=p["min_k"], sim_options=sim_options, verbose=False)

    def _after_fit(self, train: Dataset) -> None:
        algo = self.algo_
        sim = np.asarray(algo.sim, dtype=np.float64)
        # Surprise fills both triangles with the same value; the scoring relies on it
        if not np.array_equal(sim, sim.T):
            raise AdapterError(f"adapter '{self.name}': Surprise returned an asymmetric similarity matrix")
        self.sim_ = sim
        self.means_ = np.asarray(algo.means, dtype=np.float64)
        if self.params["user_based"]:
            # item × user entries (inner ids) with deviations r_vi - mean_v
            f = self.ratings_.frame
            ru = self.user_inner_[f[C.USER_IDX].to_numpy()]
            ri = self.item_inner_[f[C.ITEM_IDX].to_numpy()]
            self.ub_user_ = ru
            self.ub_item_ = ri
            self.ub_dev_ = f[C.RATING].to_numpy() - self.means_[ru]

    def _estimate_known(self, inner_users: np.ndarray) -> np.ndarray:
        if self.params["user_based"]:
            return (
                np.vstack([self._est_user_based(int(x)) for x in inner_users])
                if len(inner_users)
                else np.zeros((0, self.trainset_.n_items))
            )
        out = np.empty((len(inner_users), self.trainset_.n_items))
        for row, x in enumerate(inner_users):
            a, b = self.profile_.indptr[x], self.profile_.indptr[x + 1]
            j_inner = self.item_inner_[self.profile_.indices[a:b]]
            r = self.profile_.data[a:b]
            out[row] = self._est_item_based(j_inner, r)
        return out

    def _neighbour_sums(self, j_inner: np.ndarray, dev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every item i, over the k items of ``j_inner`` most similar to i with sim > 0:
        ``Σ sim·dev``, ``Σ sim`` and their number (item-based neighbourhoods)."""
        k = self.params["k"]
        # row gather + transpose beats a column gather; s[i, a] = sim(j_a, i) = sim(i, j_a) (symmetric)
        s = np.ascontiguousarray(self.sim_[j_inner].T)
        use = s > 0
        if len(j_inner) > k:
            # only items with more than k positive neighbours in the profile need the top-k cut
            cols = np.flatnonzero(np.count_nonzero(use, axis=1) > k)
            if len(cols):
                use[cols] &= _topk_mask(s[cols], k)
        w = np.where(use, s, 0.0)
        return w @ dev, w.sum(axis=1), np.count_nonzero(use, axis=1)

    def _est_item_based(self, j_inner: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Item-based estimate of one user (ratings ``r`` of items ``j_inner``) for every item."""
        num, den, cnt = self._neighbour_sums(j_inner, r - self.means_[j_inner])
        ok = (cnt >= self.params["min_k"]) & (den > 0)
        return self.means_ + np.where(ok, num / np.where(ok, den, 1.0), 0.0)

    def _est_user_based(self, x: int) -> np.ndarray:
        """Neighbours of (x, i) = the k users who rated i most similar to x (ties: lower id)."""
        k, min_k = self.params["k"], self.params["min_k"]
        s = self.sim_[x]
        n_u, n_i = len(s), self.trainset_.n_items
        order = np.lexsort((np.arange(n_u), -s))
        rank = np.empty(n_u, dtype=np.int64)
        rank[order] = np.arange(n_u)
        # item-major CSR whose column is the neighbour's rank: per row, entries by rank
        t = sp.csr_matrix((self.ub_dev_, (self.ub_item_, rank[self.ub_user_])), shape=(n_i, n_u))
        t.sort_indices()
        pos = np.arange(t.nnz) - np.repeat(t.indptr[:-1], np.diff(t.indptr))
        row = np.repeat(np.arange(n_i), np.diff(t.indptr))
        sim_e = s[order][t.indices]
        use = (pos < k) & (sim_e > 0)
        den = np.bincount(row, weights=np.where(use, sim_e, 0.0), minlength=n_i)
        num = np.bincount(row, weights=np.where(use, sim_e * t.data, 0.0), minlength=n_i)
        cnt = np.bincount(row, weights=use.astype(np.float64), minlength=n_i)
        ok = (cnt >= min_k) & (den > 0)
        return self.means_[x] + np.where(ok, num / np.where(ok, den, 1.0), 0.0)

    def _score_carts(self, context: sp.csr_matrix) -> np.ndarray:
        n_inner = self.trainset_.n_items
        out = np.full((context.shape[0], n_inner), -np.inf)
        if self.params["user_based"]:
            return out  # a cart cannot be placed in a user × user similarity
        for row in range(context.shape[0]):
            j = self._cart_inner(context, row)
            if len(j) == 0:
                continue
            _, den, _ = self._neighbour_sums(j, np.zeros(len(j)))
            out[row] = np.where(den > 0, den, -np.inf)
        return out


class SurpriseSVDAdapter(_SurpriseAdapter):
    """Surprise ``SVD`` (Funk SVD with biases, SGD); ``random_state`` = the adapter seed.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = SurpriseSVDAdapter(n_factors=8).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "surprise-svd"
    family = "matrix-factorisation"
    description = "scikit-surprise SVD on purchase-count ratings; carts folded in for cold users"
    hyperparams = (
        HyperParam(
            "n_factors", "int", 100, low=1, high=2048, tune_low=8, tune_high=256, log=True, help="latent factors"
        ),
        HyperParam("n_epochs", "int", 20, low=1, high=1000, tune_low=5, tune_high=100, help="SGD epochs"),
        HyperParam(
            "lr_all", "float", 0.005, low=1e-6, high=1.0, tune_low=1e-4, tune_high=0.05, log=True, help="SGD step size"
        ),
        HyperParam(
            "reg_all", "float", 0.02, low=0.0, high=100.0, tune_low=1e-3, tune_high=0.5, log=True, help="L2 penalty"
        ),
        HyperParam("biased", "bool", True, help="global mean + user/item biases (else plain PMF)"),
        HyperParam("profile", "categorical", "history", choices=PROFILES, help=_PROFILE_HELP),
    )

    def build_algo(self) -> Any:
        """``surprise.SVD`` with this adapter's parameters and ``random_state=seed``."""
        surprise = require("surprise", extra="surprise", package="scikit-surprise")
        p = self.params
        return surprise.SVD(
            n_factors=p["n_factors"],
            n_epochs=p["n_epochs"],
            lr_all=p["lr_all"],
            reg_all=p["reg_all"],
            biased=p["biased"],
            random_state=self.seed,
        )

    def _after_fit(self, train: Dataset) -> None:
        algo = self.algo_
        self.pu_ = np.asarray(algo.pu, dtype=np.float64)
        self.qi_ = np.asarray(algo.qi, dtype=np.float64)
        biased = self.params["biased"]
        self.bu_ = np.asarray(algo.bu, dtype=np.float64) if biased else np.zeros(len(self.pu_))
        self.bi_ = np.asarray(algo.bi, dtype=np.float64) if biased else np.zeros(len(self.qi_))
        self.mu_ = float(self.trainset_.global_mean) if biased else 0.0

    def _estimate_known(self, inner_users: np.ndarray) -> np.ndarray:
        return self.mu_ + self.bu_[inner_users][:, None] + self.bi_[None, :] + self.pu_[inner_users] @ self.qi_.T

    def fold_in(self, context: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Closed-form user bias and factors for each cart (see the module docstring).

        Returns:
            ``(b, p, has_cart)``: biases (n,), factors (n × n_factors) and whether the
            cart had at least one item known to the model.
        """
        self._require_fitted()
        biased = self.params["biased"]
        reg = self.params["reg_all"]
        f = self.qi_.shape[1]
        n = context.shape[0]
        b = np.zeros(n)
        p = np.zeros((n, f))
        has = np.zeros(n, dtype=bool)
        for row in range(n):
            j = self._cart_inner(context, row)
            if len(j) == 0:
                continue
            has[row] = True
            y = self.cart_rating_ - self.mu_ - self.bi_[j]
            a = np.hstack([np.ones((len(j), 1)), self.qi_[j]]) if biased else self.qi_[j]
            lam = reg * len(j)
            if lam == 0.0:
                sol = np.linalg.lstsq(a, y, rcond=None)[0]  # minimum-norm solution
            elif a.shape[0] <= a.shape[1]:  # few cart items: dual form, an n × n solve
                sol = a.T @ np.linalg.solve(a @ a.T + lam * np.eye(a.shape[0]), y)
            else:
                sol = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y)
            if biased:
                b[row], p[row] = sol[0], sol[1:]
            else:
                p[row] = sol
        return b, p, has

    def _score_carts(self, context: sp.csr_matrix) -> np.ndarray:
        b, p, has = self.fold_in(context)
        est = self.mu_ + b[:, None] + self.bi_[None, :] + p @ self.qi_.T
        est[~has] = -np.inf
        return est
