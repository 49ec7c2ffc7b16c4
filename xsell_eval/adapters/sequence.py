"""Sequence-aware neural recommender (``sequence``): SASRec-style self-attention over purchase histories.

Every user's purchase history becomes one sequence of tokens: the items ordered by basket
time and, within a basket, by line order (the row order of the training interactions;
a repeated (basket, item) line keeps its first occurrence), with an end-of-basket
separator ``|`` after every basket. Guest baskets (no user id) become sequences of their
own. A causal self-attention model (SASRec, Kang & McAuley 2018) reads the tokens left
to right and, at every position, predicts what comes next *in the shopping sense*::

    user 17850:   85123A  71053   84406B   |         22633   22632   |
    targets:      71053   84406B  -        22633     22632   -       (next basket)
                  84406B                   22632

* at an item: the next ``target_horizon`` lines of the same basket (``target_horizon=1``
  is plain next-item SASRec); the last line of a basket has no target;
* at a separator: the first ``target_horizon`` lines of the next basket, keeping only items
  the user had not bought before (next-basket cross-sell asks for new items).

The loss of a position is the softmax cross-entropy against the uniform distribution
over its targets (full softmax over the items sold in train; ``n_negatives`` switches to
a sampled softmax), trained with Adam.

Recommending reads the most recent ``max_seq_len`` tokens and scores every item::

    basket-completion / item-to-item:  history | cart items   -> the rest of this basket
    next-basket:                        history |              -> the next basket
    user without history:               cart items             -> the rest of this basket
    neither history nor a known cart item (e.g. a new customer in next-basket):
                                        the most popular items (``fallback="popular"``,
                                        flagged in ``Recommendations.fallback``) or nothing

Cart items carry no order, so they are appended in item-index order. Sequences longer
than ``max_seq_len`` tokens (separators count) are truncated to their most recent
``max_seq_len`` tokens when recommending; in training, long histories are cut into
consecutive windows of ``max_seq_len`` positions, so every position is still trained on,
with at most ``max_seq_len`` tokens of context. Items never sold in train are scored
``-inf`` (not candidates); cart items never sold in train are skipped.

Early stopping: the last ``valid_fraction`` of the training baskets (by time) is held out;
after each epoch the model answers basket-completion queries built from them (history =
the user's earlier baskets, one seeded random item revealed, the other items hidden) and
training stops when hit rate@10 has not improved for ``patience`` epochs; the weights of
the best epoch are kept. The held-out baskets are *not* trained on (they are still read
as history when recommending).

Determinism: initialisation, dropout and shuffling are seeded (a forked torch generator
and a ``torch.Generator``); ``torch.use_deterministic_algorithms(True)`` and a fixed
thread count (``num_threads``) are set during fit and recommend and restored afterwards.
The same seed, thread count and torch build give the same recommendations.

``torch`` is an optional dependency (``pip install 'xsell-eval[deep]'``); this module
imports it only inside methods, so the adapter is listed without it.

Progress: a library does not print. Set ``adapter.on_epoch = callback`` (any callable
taking one dict) to receive ``{"epoch", "loss", "valid_hit_rate@10", "best_epoch",
"seconds"}`` after every epoch; the same events go to the logger
``xsell_eval.adapters.sequence`` (level INFO) and are kept in ``adapter.history_``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import scipy.sparse as sp

from xsell_eval._imports import require
from xsell_eval.adapters._sequence_data import (
    Lines,
    assemble,
    lookup,
    order_lines,
    runs,
    training_windows,
    with_separators,
)
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import DataError
from xsell_eval.queries import Recommendations, Requests, top_k

logger = logging.getLogger(__name__)

VALID_QUERIES = 2000
"""Most held-out baskets used as early-stopping queries per epoch (a seeded sample)."""
VALID_K = 10
"""Cut-off of the early-stopping metric (hit rate@10)."""


# ============================================================================ the adapter
@dataclass
class _Training:
    """Mutable state of one fit (not passed between stages)."""

    model: Any
    optimizer: Any
    generator: Any
    windows: Any
    valid_tokens: np.ndarray | None = None
    valid_lengths: np.ndarray | None = None
    valid_context: np.ndarray | None = None
    valid_targets: sp.csr_matrix | None = None
    rng_state: Any = None
    best_score: float = -np.inf
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None
    bad_epochs: int = 0


class SequenceAdapter(BaseAdapter):
    """SASRec-style self-attention over each user's ordered purchase history (needs ``torch``).

    See the module docstring for the sequence construction, the training objective,
    early stopping, truncation and determinism.

    Attributes (after fit):
        history_: one dict per epoch: ``epoch``, ``loss`` (mean training cross-entropy),
            ``valid_hit_rate@10`` (NaN without validation), ``best_epoch``, ``seconds``.
        best_epoch_: epoch whose weights are kept; ``n_epochs_``: epochs run;
            ``stopped_early_``: whether patience ran out before ``epochs``.
        n_valid_queries_: held-out queries used for early stopping (0 = none).
        n_windows_, n_targets_: training windows and (position, target) pairs per epoch.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> a = SequenceAdapter(embedding_dim=16, n_layers=1, epochs=2).fit(ds)
        >>> a.recommend(toy_queries(ds), k=3).items.shape[1], len(a.history_)
        (3, 2)
    """

    name = "sequence"
    family = "sequence (deep)"
    description = "SASRec-style self-attention over each user's ordered purchases (history + cart); needs torch"
    extra = "deep"
    serves_cold_users = True
    serves_cold_items = False
    needs_users = True
    needs_timestamps = True
    hyperparams = (
        HyperParam(
            "embedding_dim", "int", 64, low=4, high=1024, log=True, tune_low=16, tune_high=128, help="embedding size"
        ),
        HyperParam("n_layers", "int", 2, low=1, high=8, tune_low=1, tune_high=3, help="self-attention blocks"),
        HyperParam("dropout", "float", 0.2, low=0.0, high=0.9, tune_low=0.0, tune_high=0.5, help="dropout rate"),
        HyperParam(
            "learning_rate",
            "float",
            0.01,
            low=1e-6,
            high=1.0,
            log=True,
            tune_low=1e-3,
            tune_high=3e-2,
            help="Adam learning rate",
        ),
        HyperParam(
            "epochs",
            "int",
            5,
            low=1,
            high=1000,
            tune_low=2,
            tune_high=20,
            help="maximum passes over the data (early stopping may end sooner)",
        ),
        HyperParam(
            "patience",
            "int",
            2,
            low=1,
            high=100,
            tunable=False,
            help="epochs without a better validation hit rate@10 before stopping",
        ),
        HyperParam(
            "max_seq_len",
            "int",
            50,
            low=2,
            high=1024,
            log=True,
            tune_low=20,
            tune_high=200,
            help="most recent items read per sequence (older ones are truncated)",
        ),
        HyperParam(
            "target_horizon",
            "int",
            20,
            low=1,
            high=1000,
            tune_low=1,
            tune_high=50,
            help="targets per position: 1 = next item only (plain SASRec); h = the next h lines up to the end "
            "of the basket (the whole next basket's first h lines at a basket's last line)",
        ),
        HyperParam(
            "n_negatives",
            "int",
            0,
            low=0,
            high=100_000,
            tunable=False,
            help="0 = full softmax over all items; n > 0 = sampled softmax with n shared uniform negatives",
        ),
        HyperParam("batch_size", "int", 32, low=1, high=8192, tunable=False, help="training windows per gradient step"),
        HyperParam(
            "valid_fraction",
            "float",
            0.1,
            low=0.0,
            high=0.5,
            tunable=False,
            help="last share of train baskets (by time) held out for early stopping; 0 = no early stopping",
        ),
        HyperParam(
            "num_threads",
            "int",
            1,
            low=1,
            high=256,
            tunable=False,
            help="torch CPU threads, fixed for reproducibility; 2 is ~1.5x faster on an idle 2-core machine, "
            "much slower on a busy one",
        ),
        HyperParam(
            "fallback",
            "categorical",
            "popular",
            choices=("popular", "none"),
            tunable=False,
            help="queries with neither history nor a known cart item: most popular items ('popular') or nothing",
        ),
    )

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        super().__init__(seed=seed, **params)
        self.on_epoch: Callable[[dict[str, Any]], None] | None = None
        self.history_: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ fitting
    def fit(self, train: Dataset) -> SequenceAdapter:
        """Train until early stopping or ``epochs``; return ``self``. A refit starts over."""
        for _ in self.iter_fit(train):
            pass
        return self

    def iter_fit(self, train: Dataset) -> Iterator[int]:
        """Fit epoch by epoch, yielding the number of epochs done.

        After each yield the adapter can ``recommend`` with the weights of that epoch;
        the final yield comes after early stopping has restored the best weights, so
        consuming the whole iterator equals :meth:`fit`. Tuning uses it to prune trials.

        Raises:
            DataError: empty data, no user ids, missing timestamps, or no sequence with
                two or more items.
            MissingExtraError: torch is not installed.
        """
        self._check_train(train)
        require("torch", extra="deep")
        self.fitted_ = False
        self.n_items_ = train.n_items
        self.recommend_seconds_ = 0.0
        self.fit_seconds_ = 0.0
        self.history_ = []
        t0 = time.perf_counter()
        state = self._prepare(train)
        self.fit_seconds_ += time.perf_counter() - t0
        max_epochs = int(self.params["epochs"])
        for epoch in range(1, max_epochs + 1):
            t0 = time.perf_counter()
            stop = self._run_epoch(state, epoch)
            if stop or epoch == max_epochs:
                self._finish(state, epoch, stopped=stop and epoch < max_epochs)
            self.fit_seconds_ += time.perf_counter() - t0
            self.fitted_ = True
            yield epoch
            if stop:
                return

    def _check_train(self, train: Dataset) -> None:
        if len(train.interactions) == 0:
            raise DataError(f"adapter '{self.name}': the training data is empty")
        if not train.has_users:
            raise DataError(
                f"adapter '{self.name}' needs user ids to build purchase sequences, but the training data has "
                f"none (all {len(train.interactions)} lines are guests); use an adapter that reads only the cart "
                "(cf, rules, content)"
            )
        if not train.has_timestamps:
            n_missing = int(train.interactions[C.TIMESTAMP].isna().sum())
            raise DataError(
                f"adapter '{self.name}' needs a timestamp on every line to order purchases, but column "
                f"'{C.TIMESTAMP}' is missing in {n_missing} of {len(train.interactions)} lines"
            )

    def _fit(self, train: Dataset) -> None:  # pragma: no cover - fit() is overridden
        for _ in self.iter_fit(train):
            pass

    def _prepare(self, train: Dataset) -> _Training:
        torch = require("torch", extra="deep")
        from xsell_eval.adapters import _sequence_model as M

        p = self.params
        max_len = int(p["max_seq_len"])
        lines = order_lines(train)
        sold = np.flatnonzero(train.item_basket_count > 0)
        self.vocab_items_ = sold.astype(np.int64)
        self.item_token_ = np.zeros(train.n_items, dtype=np.int64)
        self.item_token_[sold] = np.arange(1, len(sold) + 1)
        self.sep_ = len(sold) + 1
        counts = train.item_basket_count.astype(np.float64)
        self.popular_ = np.where(counts > 0, counts, -np.inf)
        line_tokens = self.item_token_[lines.item]

        # inference store: every known user's whole train sequence (with separators)
        tokens, _, user = with_separators(lines, line_tokens, self.sep_)
        known = user >= 0
        self.seq_tokens_ = tokens[known]
        self.seq_users_, self.seq_start_, self.seq_len_ = runs(user[known])

        # training sequences: all but the held-out baskets
        in_fit = ~self._held_out_baskets(train)[lines.basket]
        f_tokens, f_key, f_user = with_separators(lines.take(in_fit), line_tokens[in_fit], self.sep_)
        _, s_start, s_len = runs(f_key)
        windows = training_windows(f_tokens, s_start, s_len, max_len, int(p["target_horizon"]), self.sep_)
        if not windows.has_target.any():
            raise DataError(
                f"adapter '{self.name}': no training basket has two or more items and no user has two or more "
                "baskets, so there is nothing to predict"
            )
        self.n_windows_ = len(windows)
        self.n_targets_ = len(windows.pair_token)

        with M.torch_state(self.seed, int(p["num_threads"])):
            model = M.SASRec(len(sold), int(p["embedding_dim"]), int(p["n_layers"]), float(p["dropout"]), max_len)
            optimizer = torch.optim.Adam(model.parameters(), lr=float(p["learning_rate"]))
            rng_state = torch.get_rng_state()
        self.model_ = model
        state = _Training(
            model=model,
            optimizer=optimizer,
            generator=torch.Generator().manual_seed(self.seed),
            windows=M.WindowTensors(
                **{f.name: torch.from_numpy(np.ascontiguousarray(getattr(windows, f.name))) for f in fields(windows)}
            ),
            rng_state=rng_state,
        )
        known_fit = f_user >= 0
        f_users, f_start, f_len = runs(f_user[known_fit])
        self._validation_queries(
            state, lines.take(~in_fit), line_tokens[~in_fit], (f_tokens[known_fit], f_users, f_start, f_len)
        )
        return state

    def _held_out_baskets(self, train: Dataset) -> np.ndarray:
        """Boolean over basket indices: the last ``valid_fraction`` of train baskets by (time, index)."""
        held = np.zeros(train.n_baskets, dtype=bool)
        frac = float(self.params["valid_fraction"])
        b = train.baskets  # sorted by (timestamp, basket_idx)
        n_held = int(np.floor(len(b) * frac))
        if frac > 0 and n_held >= 1 and len(b) - n_held >= 1:
            held[b[C.BASKET_IDX].to_numpy()[len(b) - n_held :]] = True
        return held

    def _validation_queries(
        self,
        state: _Training,
        held: Lines,
        held_tokens: np.ndarray,
        fit_users: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """Basket-completion queries from the held-out baskets (history = the user's fit-period tokens)."""
        self.n_valid_queries_ = 0
        _, b_start, b_len = runs(held.basket)  # each held-out basket is one run of lines
        use = np.flatnonzero(b_len >= 2)
        if len(use) == 0:
            return
        rng = self._rng(7)
        if len(use) > VALID_QUERIES:
            use = np.sort(rng.choice(use, size=VALID_QUERIES, replace=False))
        start, length = b_start[use], b_len[use]
        n = len(use)
        reveal = start + (rng.random(n) * length).astype(np.int64)
        f_tokens, f_users, f_start, f_len = fit_users
        q_user = held.user[start]
        h_start, h_len = lookup(f_users, f_start, f_len, q_user)
        h_len[q_user < 0] = 0
        context = held_tokens[reveal]
        tok, lens = assemble(
            (f_tokens, h_start, h_len),
            (context, np.arange(n), np.ones(n, dtype=np.int64)),
            int(self.params["max_seq_len"]),
        )
        q_of = np.repeat(np.arange(n), length)
        rows = np.repeat(start, length) + np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
        hidden = rows != reveal[q_of]
        state.valid_tokens, state.valid_lengths, state.valid_context = tok, lens, context
        state.valid_targets = sp.csr_matrix(
            (np.ones(int(hidden.sum())), (q_of[hidden], held_tokens[rows[hidden]])), shape=(n, self.sep_)
        )
        self.n_valid_queries_ = n

    def _run_epoch(self, state: _Training, epoch: int) -> bool:
        """Train one epoch, validate, record; return True when early stopping triggers."""
        import torch

        from xsell_eval.adapters import _sequence_model as M

        p = self.params
        t0 = time.perf_counter()
        with M.torch_state(None, int(p["num_threads"]), rng_state=state.rng_state):
            loss = M.train_epoch(
                state.model,
                state.optimizer,
                state.windows,
                batch_size=int(p["batch_size"]),
                generator=state.generator,
                n_negatives=int(p["n_negatives"]),
            )
            state.rng_state = torch.get_rng_state()
        score = float("nan")
        stop = False
        if state.valid_tokens is not None:
            score = self._valid_hit_rate(state)
            if score > state.best_score + 1e-12:
                state.best_score, state.best_epoch, state.bad_epochs = score, epoch, 0
                state.best_state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
            else:
                state.bad_epochs += 1
                stop = state.bad_epochs >= int(p["patience"])
        else:
            state.best_epoch = epoch
        event = {
            "epoch": epoch,
            "loss": float(loss),
            f"valid_hit_rate@{VALID_K}": score,
            "best_epoch": state.best_epoch,
            "seconds": time.perf_counter() - t0,
        }
        self.history_.append(event)
        logger.info(
            "sequence epoch %d: loss %.4f, valid hit_rate@%d %.4f (best epoch %d), %.1fs",
            epoch,
            event["loss"],
            VALID_K,
            score,
            state.best_epoch,
            event["seconds"],
        )
        if self.on_epoch is not None:
            self.on_epoch(dict(event))
        return stop

    def _valid_hit_rate(self, state: _Training) -> float:
        """Share of held-out queries with a hidden item among the top ``VALID_K`` (the revealed item excluded)."""
        if state.valid_tokens is None or state.valid_lengths is None or state.valid_context is None:
            return float("nan")
        n = len(state.valid_lengths)
        scores = self._forward_scores(state.valid_tokens, state.valid_lengths)
        scores[np.arange(n), state.valid_context - 1] = -np.inf
        kk = min(VALID_K, scores.shape[1])
        top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] + 1  # tokens
        found = state.valid_targets[np.arange(n)[:, None], top] if state.valid_targets is not None else None
        return float((np.asarray(found.sum(axis=1)).ravel() > 0).mean()) if found is not None else float("nan")

    def _finish(self, state: _Training, epoch: int, *, stopped: bool) -> None:
        if state.best_state is not None:
            state.model.load_state_dict(state.best_state)
        self.best_epoch_ = state.best_epoch or epoch
        self.n_epochs_ = epoch
        self.stopped_early_ = bool(stopped)

    # ------------------------------------------------------------------ scoring
    def _forward_scores(self, tok: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """(n, n_vocab) float32 logits after the last real token; rows without tokens are -inf.

        Runs in chunks of at most ~32k tokens, so memory is bounded whatever the batch.
        """
        import torch

        from xsell_eval.adapters import _sequence_model as M

        out = np.full((len(lens), len(self.vocab_items_)), -np.inf, dtype=np.float32)
        rows = np.flatnonzero(lens > 0)
        chunk = max(1, 32768 // tok.shape[1])
        with M.torch_state(None, int(self.params["num_threads"])):
            for s in range(0, len(rows), chunk):
                r = rows[s : s + chunk]
                width = int(lens[r].max())
                logits = M.score_last(
                    self.model_, torch.from_numpy(np.ascontiguousarray(tok[r, :width])), torch.from_numpy(lens[r])
                )
                out[r] = logits.numpy()
        return out

    def _score(self, batch: Requests) -> np.ndarray:
        return self._score_rows(batch)[0]

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        """Top-k of the model's scores; rows the model cannot read are filled by popularity (if enabled)."""
        scores, served = self._score_rows(batch)
        if self.params["fallback"] == "popular":
            scores[~served] = self.popular_[None, :]
            items, top = top_k(scores, k, exclude=batch.context)
            return Recommendations(items, top, self.name, ~served)
        items, top = top_k(scores, k, exclude=batch.context)
        return Recommendations(items, top, self.name)

    def _score_rows(self, batch: Requests) -> tuple[np.ndarray, np.ndarray]:
        """Dense scores (n × n_items, -inf = not a candidate) and whether the model read anything per row."""
        n = len(batch)
        ctx = batch.context
        # cart: the context items the model knows, in item-index order
        c_tok = self.item_token_[ctx.indices]
        c_row = np.repeat(np.arange(n), np.diff(ctx.indptr))
        known_item = c_tok > 0
        c_tok, c_row = c_tok[known_item], c_row[known_item]
        c_len = np.bincount(c_row, minlength=n).astype(np.int64)
        c_start = (np.cumsum(c_len) - c_len).astype(np.int64)
        # history: the user's train sequence, ending with a separator
        u = batch.user_idx
        h_start, h_len = lookup(self.seq_users_, self.seq_start_, self.seq_len_, u)
        h_len[u < 0] = 0
        if batch.protocol == "next-basket":
            c_len = np.where(h_len > 0, 0, c_len)  # the context *is* the history: predict the next basket
        tok, lens = assemble(
            (self.seq_tokens_, h_start, h_len), (c_tok, c_start, c_len), int(self.params["max_seq_len"])
        )
        scores = np.full((n, self.n_items_), -np.inf, dtype=np.float64)
        scores[:, self.vocab_items_] = self._forward_scores(tok, lens)
        return scores, lens > 0
