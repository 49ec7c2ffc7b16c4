"""``lightfm``: LightFM (WARP / BPR / WARP-kOS) on purchases, optionally a hybrid with item features.

Training data: the binary user × item matrix of the training period (a user bought the
item in at least one basket; guest lines carry no user and are not used). Users are
LightFM's identity features; items are identity features, plus — with
``use_item_features=true`` — one feature per catalog category and one per word of the
title and description (``CountVectorizer``, binary, words of two or more letters seen in
at least ``min_df`` items), each item row normalised to sum to 1 (as
``lightfm.data.Dataset`` does by default).

Scoring, batched with numpy (never ``model.predict`` per pair)::

    item_repr, item_bias = model.get_item_representations(F)     # once per fit / epoch
    q      = user_embedding[u]  (if u bought something in train, else 0)
           + mean(item_repr[cart])                               # session representation
    score  = q · item_repr[i] + item_bias[i]                      # batch × all items

The user bias is constant within a query and is left out. Items LightFM cannot represent
are not candidates (-inf): without item features, items with no training purchase (their
embedding is still the random initialisation); with item features, items that have
neither a training purchase nor any catalog feature. For items never bought in train the
identity feature is dropped at scoring time (its embedding was only ever pushed down as a
WARP/BPR negative) and the row renormalised over its content features: such items are
scored as pure content items — this is what makes the hybrid serve cold items.

Determinism: with ``num_threads=1`` (the default) a fit is a deterministic function of
the seed (``random_state=np.random.RandomState(seed)``). With more threads LightFM runs
Hogwild-style lock-free SGD and results vary from run to run; the adapter then warns.

Defaults: WARP, 64 components, learning rate 0.05, 20 epochs — full Online Retail trains
in about 16 s of CPU (29 s with item features) on one thread; on its validation window
30 epochs gained under 2 points of hit@10.

Pruning during tuning: :meth:`LightFMAdapter.iter_fit` trains epoch by epoch and yields
after each one; the adapter can recommend at every yield.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from xsell_eval._imports import require
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import DataError
from xsell_eval.queries import Recommendations, Requests, top_k

LOSSES = ("warp", "bpr", "warp-kos")
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"


def item_feature_matrix(ds: Dataset, *, min_df: int = 2) -> tuple[sp.csr_matrix, list[str]]:
    """Identity + category + title/description word features, rows normalised to sum 1.

    Args:
        ds: any dataset (only its catalog is read).
        min_df: a word becomes a feature when at least this many items use it.

    Returns:
        ``(features, names)``: CSR ``n_items × (n_items + n_categories + n_words)`` (float32)
        and the feature names (``item:<id>``, ``category:<c>``, ``word:<w>``).

    Raises:
        DataError: the catalog has no title, description or category text at all.

    Example:
        >>> from xsell_eval.testing import toy_dataset
        >>> f, names = item_feature_matrix(toy_dataset())
        >>> f.shape[0], bool(np.allclose(f.sum(axis=1), 1.0))
        (40, True)
    """
    if not ds.has_catalog_text:
        raise DataError(
            f"lightfm: use_item_features=true needs catalog text (columns '{C.TITLE}', '{C.DESCRIPTION}' or "
            f"'{C.CATEGORY}'), but dataset '{ds.name}' has none; set use_item_features=false"
        )
    from sklearn.feature_extraction.text import CountVectorizer

    n = ds.n_items
    cat = ds.catalog
    blocks: list[sp.csr_matrix] = [sp.identity(n, dtype=np.float32, format="csr")]
    names = [f"item:{i}" for i in ds.item_ids]
    codes = ds.item_category
    if (codes >= 0).any():
        has = codes >= 0
        n_cat = int(codes.max()) + 1
        blocks.append(
            sp.csr_matrix((np.ones(int(has.sum()), np.float32), (np.flatnonzero(has), codes[has])), shape=(n, n_cat))
        )
        labels = cat[C.CATEGORY].to_numpy()
        first = np.zeros(n_cat, dtype=np.int64)
        first[codes[has][::-1]] = np.flatnonzero(has)[::-1]
        names += [f"category:{labels[i]}" for i in first]
    text = (cat[C.TITLE].astype(str) + " " + cat[C.DESCRIPTION].astype(str)).to_numpy()
    vec = CountVectorizer(binary=True, min_df=min_df, token_pattern=TOKEN_PATTERN, lowercase=True, dtype=np.float32)
    try:
        words = vec.fit_transform(text).tocsr()
        blocks.append(words)
        names += [f"word:{w}" for w in vec.get_feature_names_out()]
    except ValueError:  # no word survives min_df: identity and categories only
        pass
    feats = sp.hstack(blocks, format="csr", dtype=np.float32)
    return _normalise_rows(feats), names


def _normalise_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    s = np.asarray(m.sum(axis=1)).ravel()
    inv = np.divide(1.0, s, out=np.zeros_like(s, dtype=np.float64), where=s > 0)
    return sp.csr_matrix(sp.diags(inv.astype(np.float32)) @ m, dtype=np.float32)


def _l2_penalty(who: str) -> HyperParam:
    """``item_alpha`` / ``user_alpha``: 0 (LightFM's default) is valid; tuning searches a log scale."""
    return HyperParam(
        f"{who}_alpha",
        "float",
        0.0,
        low=0.0,
        high=1.0,
        tune_low=1e-9,
        tune_high=1e-3,
        log=True,
        help=f"L2 penalty on {who} embeddings (0 = none; tuned on a log scale)",
    )


class LightFMAdapter(BaseAdapter):
    """LightFM with WARP/BPR loss; ``use_item_features=true`` makes it a hybrid serving cold items.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = LightFMAdapter(epochs=3, no_components=8).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "lightfm"
    family = "matrix-factorisation"
    description = "LightFM WARP/BPR on purchases; cart = mean item embedding; cold items with use_item_features"
    extra = "lightfm"
    needs_users = True
    serves_cold_users = True
    serves_cold_items = False  # True only with use_item_features=true
    hyperparams = (
        HyperParam("loss", "categorical", "warp", choices=LOSSES, help="ranking loss"),
        HyperParam(
            "no_components", "int", 64, low=1, high=2048, tune_low=8, tune_high=256, log=True, help="embedding size"
        ),
        HyperParam(
            "learning_rate",
            "float",
            0.05,
            low=1e-6,
            high=10.0,
            tune_low=0.005,
            tune_high=0.2,
            log=True,
            help="initial SGD step size (adagrad)",
        ),
        HyperParam("epochs", "int", 20, low=1, high=10_000, tune_low=5, tune_high=100, help="passes over the data"),
        _l2_penalty("item"),
        _l2_penalty("user"),
        HyperParam(
            "max_sampled",
            "int",
            10,
            low=1,
            high=100_000,
            tune_low=5,
            tune_high=100,
            help="negatives sampled per positive (WARP losses)",
            active_if=("loss", ("warp", "warp-kos")),
        ),
        HyperParam("num_threads", "int", 1, low=1, high=256, tunable=False, help="> 1 is faster but not deterministic"),
        HyperParam("use_item_features", "bool", False, help="catalog category + title/description words (hybrid)"),
        HyperParam(
            "min_df",
            "int",
            2,
            low=1,
            high=100_000,
            tune_low=1,
            tune_high=20,
            help="min items per word feature",
            active_if=("use_item_features", (True,)),
        ),
    )

    # ------------------------------------------------------------------ fitting
    def iter_fit(self, train: Dataset) -> Iterator[int]:
        """Fit epoch by epoch, yielding the number of epochs done (1, 2, …, ``epochs``).

        After each yield the adapter is fitted with the epochs so far and can
        ``recommend`` — e.g. to report intermediate values to an Optuna pruner. Consuming
        the whole iterator equals ``fit(train)``.

        Example:
            >>> from xsell_eval.testing import toy_dataset
            >>> a = LightFMAdapter(epochs=3, no_components=4)
            >>> list(a.iter_fit(toy_dataset()))
            [1, 2, 3]
        """
        if len(train.interactions) == 0:
            raise DataError(f"adapter '{self.name}': the training data is empty")
        if not train.has_users:
            raise DataError(f"adapter '{self.name}' needs user ids, but the training data has none (all guests)")
        self.fitted_ = False
        self.n_items_ = train.n_items
        self.recommend_seconds_ = 0.0
        self.fit_seconds_ = 0.0
        t0 = time.perf_counter()
        self._prepare(train)
        self.fit_seconds_ = time.perf_counter() - t0
        for epoch in range(1, self.params["epochs"] + 1):
            t0 = time.perf_counter()
            self._run_epoch()
            self.fit_seconds_ += time.perf_counter() - t0
            self.fitted_ = True
            yield epoch

    def _fit(self, train: Dataset) -> None:
        self._prepare(train)
        for _ in range(self.params["epochs"]):
            self._run_epoch()

    def _prepare(self, train: Dataset) -> None:
        lightfm = require("lightfm", extra="lightfm", package="rectools-lightfm")
        p = self.params
        if p["num_threads"] > 1:
            warnings.warn(
                f"adapter '{self.name}': num_threads={p['num_threads']} makes LightFM's training non-deterministic "
                "(lock-free parallel SGD); use num_threads=1 for reproducible results",
                RuntimeWarning,
                stacklevel=3,
            )
        ui = train.user_item
        inter = sp.coo_matrix((np.ones(ui.nnz, dtype=np.float32), ui.nonzero()), shape=ui.shape)
        self.interactions_ = inter
        self.user_known_ = np.diff(ui.indptr) > 0
        bought = np.asarray((ui > 0).sum(axis=0)).ravel() > 0
        self.item_bought_ = bought
        if p["use_item_features"]:
            feats, self.feature_names_ = item_feature_matrix(train, min_df=p["min_df"])
            self.item_features_ = feats
            # scoring features: no identity for items never bought (see module docstring)
            keep_id = sp.diags(bought.astype(np.float32))
            rest = feats[:, train.n_items :]
            raw_rest = (rest > 0).astype(np.float32)
            self.score_features_ = _normalise_rows(sp.hstack([keep_id, raw_rest], format="csr"))
            self.scorable_ = np.diff(self.score_features_.indptr) > 0
        else:
            self.item_features_ = None
            self.feature_names_ = []
            self.score_features_ = None
            self.scorable_ = bought
        self.model_ = lightfm.LightFM(
            no_components=p["no_components"],
            loss=p["loss"],
            learning_rate=p["learning_rate"],
            item_alpha=p["item_alpha"],
            user_alpha=p["user_alpha"],
            max_sampled=p["max_sampled"],
            random_state=np.random.RandomState(self.seed),
        )
        self.epochs_done_ = 0

    def _run_epoch(self) -> None:
        self.model_.fit_partial(
            self.interactions_, item_features=self.item_features_, epochs=1, num_threads=self.params["num_threads"]
        )
        self.epochs_done_ += 1
        bias, emb = self.model_.get_item_representations(self.score_features_)
        self.item_bias_ = np.asarray(bias, dtype=np.float32)
        self.item_emb_ = np.asarray(emb, dtype=np.float32)
        _, self.user_emb_ = self.model_.get_user_representations()

    # ------------------------------------------------------------------ scoring
    def query_vectors(self, batch: Requests) -> tuple[np.ndarray, np.ndarray]:
        """Per query: user embedding (if the user bought in train) + mean cart item embedding.

        Returns:
            ``(q, has_signal)``: vectors (n × no_components) and whether the query had a
            known user or at least one representable cart item.
        """
        n = len(batch)
        q = np.zeros((n, self.item_emb_.shape[1]), dtype=np.float32)
        u = batch.user_idx
        ok = (u >= 0) & (u < len(self.user_known_))
        known = np.zeros(n, dtype=bool)
        known[ok] = self.user_known_[u[ok]]
        q[known] += self.user_emb_[u[known]]
        ctx = batch.context.tocsr().astype(np.float32)
        ctx = ctx @ sp.diags(self.scorable_.astype(np.float32))
        count = np.asarray(ctx.sum(axis=1)).ravel()
        inv = np.divide(1.0, count, out=np.zeros_like(count), where=count > 0)
        q += np.asarray(sp.diags(inv) @ ctx @ self.item_emb_, dtype=np.float32)
        return q, known | (count > 0)

    #: dense score cells computed at once in recommend (genuinely dense: every item has a score)
    score_block_cells: int = 1 << 21

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        """Dense scores and :func:`~xsell_eval.queries.top_k` in row blocks of at most ``score_block_cells``."""
        step = max(1, self.score_block_cells // max(self.n_items_, 1))
        parts = []
        for start in range(0, len(batch), step):
            sub = batch.take(slice(start, start + step))
            items, scores = top_k(self._score(sub), k, exclude=sub.context)
            parts.append(Recommendations(items, scores, self.name))
        if not parts:
            return Recommendations(np.empty((0, k), np.int64), np.empty((0, k)), self.name)
        return Recommendations.concat(parts)

    def _score(self, batch: Requests) -> np.ndarray:
        q, has = self.query_vectors(batch)
        scores = (q @ self.item_emb_.T + self.item_bias_[None, :]).astype(np.float64)
        scores[:, ~self.scorable_] = -np.inf
        scores[~has] = -np.inf
        return scores
