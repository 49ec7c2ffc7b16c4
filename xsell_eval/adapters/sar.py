"""``sar``: Smart Adaptive Recommendations, as in Microsoft Recommenders' ``SARSingleNode``.

Source: ``recommenders/models/sar/sar_singlenode.py`` and ``recommenders/utils/python_utils.py``
(github.com/recommenders-team/recommenders). Everything stays sparse here::

    events      one per (basket, item) of train, weight w = 1, the quantity or the rating
    affinity    A[u, i] = Σ_events w · 0.5^((t_now − t) / half_life)      (t_now = last train time;
                                                                          half_life_days = 0: no decay)
    co-occur.   C = Uᵀ U, U = binary "user bought item" (a guest basket counts as its own user);
                entries below ``threshold`` dropped (the diagonal too, as in SAR)
    similarity  S from C on its stored entries, with d_i = C_ii:
                  cooccurrence          C_ij
                  jaccard               C_ij / (d_i + d_j − C_ij)
                  lift                  C_ij / (d_i · d_j)
                  cosine                C_ij / sqrt(d_i · d_j)
                  inclusion_index       C_ij / min(d_i, d_j)
                  mutual_information    log2(n · lift_ij)            n = items with a train event
                  lexicographers_mi     C_ij · log2(n · lift_ij)
    scores      affinity row × S                                      (one sparse product per batch)

Differences from Recommenders, on purpose: pairs that never co-occur have similarity 0 for
every measure (Recommenders' dense ``mutual_information`` gives ``-inf`` there and
``lexicographers_mi`` gives NaN, which makes almost every score ``-inf``/NaN); an item is a
candidate only if it co-occurs with at least one item of the affinity row (Recommenders
ranks the rest with score 0, which matters only when fewer than k items co-occur).

The affinity row of a query (``profile``):

* ``"history+cart"`` (default): the user's train affinity, with every cart item raised to at
  least 1 (a cart line is a fresh event at ``t_now``; an item already in the history keeps
  its larger affinity). Guests and new users: the cart alone. For ``next-basket`` the
  context is the history itself, so the row is the history affinity.
* ``"cart"``: the cart alone, weight 1 per item — Recommenders' ``get_item_based_topk``.

``remove_seen=true`` also excludes the user's training items from the answers, as SAR's
``recommend_k_items(remove_seen=True)`` does (context items are always excluded).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import DataError
from xsell_eval.queries import Requests

SAR_SIMILARITIES = (
    "jaccard",
    "lift",
    "cooccurrence",
    "cosine",
    "inclusion_index",
    "mutual_information",
    "lexicographers_mi",
)
_SECONDS_PER_DAY = 86_400.0
DENSE_SIMILARITY_BYTES = 256 * 2**20
"""Keep a dense copy of the similarity when items² float64 fit in this and >5% of pairs co-occur."""


def sar_affinity(
    train: Dataset, *, half_life_days: float, weight: str = "one", t_now: pd.Timestamp | None = None
) -> sp.csr_matrix:
    """Time-decayed user × item affinity (n_users × n_items, float64) of the training lines.

    Args:
        train: training data (lines without a user are skipped).
        half_life_days: days after which an event counts half; 0 turns decay off.
        weight: ``"one"`` (one event per basket and item), ``"quantity"`` (summed per basket
            and item) or ``"rating"`` (mean per basket and item; needs a ``rating`` column).
        t_now: the reference time (default: the last training timestamp).

    Raises:
        DataError: ``weight="rating"`` without ratings, or decay without timestamps.

    Example:
        >>> from xsell_eval.testing import toy_dataset
        >>> a = sar_affinity(toy_dataset(), half_life_days=0.0)
        >>> float(a.sum()) == float(toy_dataset().user_item.sum())
        True
    """
    df = train.interactions
    known = df[C.USER_IDX].to_numpy() >= 0
    if weight == "rating":
        if not train.has_ratings:
            raise DataError(f"sar: weight='rating' needs a '{C.RATING}' column, but dataset '{train.name}' has none")
        w = df[C.RATING].to_numpy(dtype=np.float64)
    elif weight == "quantity":
        w = df[C.QUANTITY].to_numpy(dtype=np.float64)
    else:
        w = np.ones(len(df))
    decay = half_life_days > 0
    if decay and not train.has_timestamps:
        raise DataError(
            f"sar: time decay (half_life_days={half_life_days}) needs timestamps, but dataset "
            f"'{train.name}' has lines without one; set half_life_days=0"
        )
    ev = pd.DataFrame(
        {
            "u": df[C.USER_IDX].to_numpy()[known],
            "b": df[C.BASKET_IDX].to_numpy()[known],
            "i": df[C.ITEM_IDX].to_numpy()[known],
            "w": w[known],
            "t": df[C.TIMESTAMP].to_numpy()[known],
        }
    )
    agg = {"one": "first", "quantity": "sum", "rating": "mean"}[weight]
    ev = ev.groupby(["u", "b", "i"], sort=False).agg(w=("w", agg), t=("t", "min")).reset_index()
    if decay:
        t = ev["t"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        now = pd.Timestamp(df[C.TIMESTAMP].max() if t_now is None else t_now).value
        age_days = (now - t).astype(np.float64) / 1e9 / _SECONDS_PER_DAY
        ev["w"] = ev["w"].to_numpy() * np.minimum(1.0, np.power(0.5, age_days / half_life_days))
    m = sp.csr_matrix(
        (ev["w"].to_numpy(dtype=np.float64), (ev["u"].to_numpy(), ev["i"].to_numpy())),
        shape=(train.n_users, train.n_items),
    )
    m.sum_duplicates()
    return m


def cooccurrence(train: Dataset, *, threshold: int) -> sp.csr_matrix:
    """Item × item co-occurrence ``UᵀU`` of the binary "user bought item" matrix, entries ``< threshold`` dropped.

    A basket without a user counts as its own user. Float64 CSR (n_items × n_items).
    """
    df = train.interactions
    u = df[C.USER_IDX].to_numpy()
    b = df[C.BASKET_IDX].to_numpy()
    row = np.where(u >= 0, u, train.n_users + b)
    pairs = pd.DataFrame({"r": row, "i": df[C.ITEM_IDX].to_numpy()}).drop_duplicates()
    codes, uniq = pd.factorize(pairs["r"], sort=True)
    hits = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.float64), (codes, pairs["i"].to_numpy())), shape=(len(uniq), train.n_items)
    )
    co = sp.csr_matrix(hits.T @ hits)
    co.data[co.data < threshold] = 0.0
    co.eliminate_zeros()
    co.sort_indices()
    return co


def sar_similarity(co: sp.csr_matrix, similarity: str, *, n_items: int | None = None) -> sp.csr_matrix:
    """SAR's item similarity from a co-occurrence matrix, computed on its stored entries only.

    Args:
        co: symmetric co-occurrence CSR (its diagonal = item frequencies).
        similarity: one of :data:`SAR_SIMILARITIES`.
        n_items: the ``n`` of the mutual-information measures (default: items with a
            non-zero diagonal, i.e. the items SAR indexes).

    Example:
        >>> co = sp.csr_matrix(np.array([[2.0, 1.0], [1.0, 3.0]]))
        >>> sar_similarity(co, "jaccard").toarray().round(3).tolist()
        [[1.0, 0.25], [0.25, 1.0]]
    """
    co = sp.csr_matrix(co, dtype=np.float64, copy=True)
    co.sort_indices()
    d = co.diagonal()
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    cols = co.indices
    c = co.data
    di, dj = d[rows], d[cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cooccurrence":
            v = c.copy()
        elif similarity == "jaccard":
            v = c / (di + dj - c)
        elif similarity == "lift":
            v = c / (di * dj)
        elif similarity == "cosine":
            v = c / np.sqrt(di * dj)
        elif similarity == "inclusion_index":
            v = c / np.minimum(di, dj)
        elif similarity in ("mutual_information", "lexicographers_mi"):
            n = float(np.count_nonzero(d) if n_items is None else n_items)
            v = np.log2(n * c / (di * dj))
            if similarity == "lexicographers_mi":
                v = c * v
        else:
            raise ValueError(f"unknown SAR similarity {similarity!r}")
    v[~np.isfinite(v)] = 0.0
    out = sp.csr_matrix((v, cols.copy(), co.indptr.copy()), shape=co.shape)
    return out


def user_rows(m: sp.csr_matrix, user_idx: np.ndarray) -> sp.csr_matrix:
    """Rows of a user × item matrix for each query's user; an empty row for guests and unknown users."""
    known = (user_idx >= 0) & (user_idx < m.shape[0])
    out = sp.csr_matrix((len(user_idx), m.shape[1]), dtype=m.dtype)
    if known.any():
        picked = m[user_idx[known]].tocoo()
        out = sp.csr_matrix(
            (picked.data, (np.flatnonzero(known)[picked.row], picked.col)), shape=out.shape, dtype=m.dtype
        )
    return out


class SARAdapter(BaseAdapter):
    """SAR: time-decayed affinity × item similarity (Jaccard, lift, …) from co-occurrence.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = SARAdapter(similarity="lift").fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "sar"
    family = "neighbourhood"
    description = "SAR (Microsoft Recommenders): time-decayed affinity × co-occurrence similarity (jaccard/lift/...)"
    serves_cold_users = True  # from the cart
    serves_cold_items = False
    batch_size = 256
    hyperparams = (
        HyperParam("similarity", "categorical", "jaccard", choices=SAR_SIMILARITIES, help="item-item similarity"),
        HyperParam(
            "half_life_days",
            "float",
            30.0,
            low=0.0,
            high=1e6,
            tune_low=1.0,
            tune_high=365.0,
            log=True,
            help="affinity of an event halves every this many days before the last train time (0 = no decay)",
        ),
        HyperParam(
            "threshold",
            "int",
            1,
            low=1,
            high=1_000_000,
            tune_low=1,
            tune_high=10,
            help="co-occurrence counts below this are dropped (SAR's threshold)",
        ),
        HyperParam(
            "profile",
            "categorical",
            "history+cart",
            choices=("history+cart", "cart"),
            help="affinity row of a query: the user's decayed history with the cart, or the cart alone",
        ),
        HyperParam(
            "weight",
            "categorical",
            "auto",
            choices=("auto", "one", "quantity", "rating"),
            tunable=False,
            help="event weight: 'auto' = rating if the data has ratings, else one per basket and item",
        ),
        HyperParam(
            "remove_seen",
            "bool",
            False,
            tunable=False,
            help="also exclude the user's training items from the answers (SAR's remove_seen)",
        ),
    )

    def _fit(self, train: Dataset) -> None:
        p = self.params
        weight = p["weight"]
        if weight == "auto":
            weight = "rating" if train.has_ratings else "one"
        half = p["half_life_days"] if train.has_timestamps else 0.0
        self.half_life_days_ = half
        self.affinity_ = sar_affinity(train, half_life_days=half, weight=weight)
        co = cooccurrence(train, threshold=p["threshold"])
        self.item_frequencies_ = co.diagonal()
        self.similarity_ = sar_similarity(co, p["similarity"])
        self.pattern_ = sp.csr_matrix(
            (np.ones(co.nnz, dtype=np.float32), co.indices.copy(), co.indptr.copy()), shape=co.shape
        )
        n = co.shape[0]
        # a dense-ish similarity on a small catalog: sparse × dense products are many times faster
        self.dense_ = n * n * 8 <= DENSE_SIMILARITY_BYTES and co.nnz > 0.05 * n * n
        self.similarity_dense_ = self.similarity_.toarray() if self.dense_ else None
        self.pattern_dense_ = self.pattern_.toarray() if self.dense_ and not self._positive else None
        self.seen_ = sp.csr_matrix(self.affinity_ > 0, dtype=np.float32)

    def affinity_rows(self, batch: Requests) -> sp.csr_matrix:
        """The affinity row of each query (n × n_items, see module docstring)."""
        cart = sp.csr_matrix(batch.context, dtype=np.float64)
        cart.data[:] = 1.0
        if self.params["profile"] == "cart":
            return cart
        rows = user_rows(self.affinity_, batch.user_idx).maximum(cart).tocsr()
        rows.eliminate_zeros()
        return rows

    @property
    def _positive(self) -> bool:
        """Whether every stored similarity is > 0 (then "co-occurs with the row" is "score > 0")."""
        return self.params["similarity"] not in ("mutual_information", "lexicographers_mi")

    def _score(self, batch: Requests) -> np.ndarray:
        a = self.affinity_rows(batch)
        if self.similarity_dense_ is not None:
            scores = np.asarray(a @ self.similarity_dense_, dtype=np.float64)
        else:
            scores = np.asarray((a @ self.similarity_).toarray(), dtype=np.float64)
        if self._positive:
            reach = scores > 0
        else:
            binary = sp.csr_matrix(a, dtype=np.float32, copy=True)
            binary.data[:] = 1.0
            product = binary @ (self.pattern_dense_ if self.pattern_dense_ is not None else self.pattern_)
            reach = np.asarray(product.toarray() if sp.issparse(product) else product) > 0
        scores[~reach] = -np.inf
        if self.params["remove_seen"]:
            r, c = user_rows(self.seen_, batch.user_idx).nonzero()
            scores[r, c] = -np.inf
        return scores
