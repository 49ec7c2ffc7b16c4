"""The PyTorch half of the ``sequence`` adapter: a SASRec-style causal self-attention model.

This module imports ``torch`` at the top and is therefore imported **only** from inside
methods of :class:`xsell_eval.adapters.sequence.SequenceAdapter`, after
``xsell_eval._imports.require("torch", extra="deep")`` has succeeded. Nothing else in the
product imports it.

Model (Kang & McAuley, *Self-Attentive Sequential Recommendation*, ICDM 2018)::

    tokens   0 = padding, 1..V = items, V+1 = end-of-basket separator
    bag_t    = mean emb of the items of token t's basket so far      (a separator: its whole basket)
    x_t      = (emb[token_t] + bag_t) * sqrt(d) + pos_emb[t]       t counted from the first token
    h        = LayerNorm(Block_L(... Block_1(dropout(x)))))         causal: t sees 0..t
    Block    = x + Drop(Attn(LN(x)));  x + Drop(FFN(LN(x)))         (pre-LN, one head)
    logits_t = h_t @ emb[1..V]^T + bias                             (tied item embeddings)

Positions count from the first token of the right-padded sequence, so the answer for a
sequence never depends on how much padding its batch needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
    """Pre-LayerNorm transformer block with single-head causal attention."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.drop = nn.Dropout(dropout)
        self.p = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.ln1(x)).unsqueeze(1).chunk(3, dim=-1)  # (B, 1, T, d) each
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(a.squeeze(1)))
        return x + self.drop(self.ff(self.ln2(x)))


class SASRec(nn.Module):
    """SASRec-style next-items model over ``n_vocab`` items (tokens 1..n_vocab; n_vocab+1 = separator).

    Args:
        n_vocab: number of items the model can predict.
        dim: embedding size.
        n_layers: number of attention blocks.
        dropout: dropout rate (embeddings, attention, residuals, feed-forward).
        max_len: longest input sequence (size of the position table).
    """

    def __init__(self, n_vocab: int, dim: int, n_layers: int, dropout: float, max_len: int) -> None:
        super().__init__()
        self.dim = dim
        self.n_vocab = n_vocab
        self.emb = nn.Embedding(n_vocab + 2, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([_Block(dim, dropout) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(dim)
        self.bias = nn.Parameter(torch.zeros(n_vocab))
        nn.init.normal_(self.emb.weight, std=1.0 / math.sqrt(dim))
        with torch.no_grad():
            self.emb.weight[0].zero_()
        nn.init.normal_(self.pos.weight, std=0.02)

    @property
    def item_weight(self) -> torch.Tensor:
        """Output embeddings of the items (n_vocab, d): rows 1..n_vocab of the token table."""
        return self.emb.weight[1 : self.n_vocab + 1]

    def basket_bag(self, tokens: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Mean embedding of the items of each token's basket so far (B, T, d).

        At an item: the items of its basket up to and including it; at a separator: the
        whole basket it closes. Zero where there is no item (padding).
        """
        b, t = tokens.shape
        is_sep = tokens == self.n_vocab + 1
        is_item = (tokens > 0) & ~is_sep
        csum = (e * is_item.unsqueeze(-1)).cumsum(1)
        ccount = is_item.long().cumsum(1)
        pos = torch.arange(t).expand(b, t)
        marker = torch.where(is_sep, pos, torch.full_like(pos, -1))
        shifted = torch.cat([torch.full((b, 1), -1, dtype=torch.long), marker[:, :-1]], dim=1)
        prev = torch.cummax(shifted, dim=1).values  # last separator strictly before t, -1 if none
        has = prev >= 0
        at = prev.clamp(min=0)
        base = csum.gather(1, at.unsqueeze(-1).expand(-1, -1, e.shape[-1])) * has.unsqueeze(-1)
        n = (ccount - ccount.gather(1, at) * has).clamp(min=1)
        return (csum - base) / n.unsqueeze(-1)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, T, d) of right-padded ``tokens`` (B, T)."""
        t = tokens.shape[1]
        e = self.emb(tokens)
        x = (e + self.basket_bag(tokens, e)) * math.sqrt(self.dim) + self.pos.weight[:t].unsqueeze(0)
        x = self.drop(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Scores (N, n_vocab) of every item for hidden states ``h`` (N, d)."""
        return h @ self.item_weight.T + self.bias


@contextmanager
def torch_state(seed: int | None, num_threads: int, rng_state: torch.Tensor | None = None) -> Iterator[None]:
    """Deterministic, isolated torch settings for the duration of a block.

    Sets the intra-op thread count and ``torch.use_deterministic_algorithms(True)``; with
    a ``seed`` (or a saved ``rng_state``) the global CPU generator is forked, so dropout
    and initialisation are reproducible and the caller's torch RNG is left untouched.
    Everything is restored on exit.
    """
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    try:
        if seed is None and rng_state is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                if rng_state is not None:
                    torch.set_rng_state(rng_state)
                else:
                    torch.manual_seed(int(seed or 0))
                yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


@dataclass(frozen=True)
class WindowTensors:
    """:class:`xsell_eval.adapters._sequence_data.Windows` as tensors (same field names)."""

    inputs: torch.Tensor
    has_target: torch.Tensor
    lengths: torch.Tensor
    pair_ptr: torch.Tensor
    pair_col: torch.Tensor
    pair_token: torch.Tensor
    pair_weight: torch.Tensor


def _batch_pairs(w: WindowTensors, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row in batch, column, target token, weight) of every pair of the windows ``idx``."""
    starts = w.pair_ptr[idx]
    counts = w.pair_ptr[idx + 1] - starts
    rows = torch.repeat_interleave(torch.arange(len(idx)), counts)
    offs = torch.repeat_interleave(starts - (torch.cumsum(counts, 0) - counts), counts) + torch.arange(
        int(counts.sum())
    )
    return rows, w.pair_col[offs], w.pair_token[offs], w.pair_weight[offs]


def train_epoch(
    model: SASRec,
    optimizer: torch.optim.Optimizer,
    w: WindowTensors,
    *,
    batch_size: int,
    generator: torch.Generator,
    n_negatives: int = 0,
) -> float:
    """One pass over the training windows in a seeded random order; returns the mean loss.

    The loss of a position is the cross-entropy between the model's softmax over the
    items and the uniform distribution over the position's targets (with one target, the
    usual next-item cross-entropy); every position with a target counts once.

    Args:
        model, optimizer: what is trained.
        w: the training windows and their (position, target) pairs.
        batch_size: windows per gradient step.
        generator: seeded generator for the window order and the negatives.
        n_negatives: 0 for the full softmax over all items; otherwise a sampled softmax:
            per batch, ``n_negatives`` items drawn uniformly without replacement are
            shared by every position (a negative that is one of the position's targets is
            dropped), their logits shifted by ``log((V-1)/n)`` so that, with the targets'
            own terms, they estimate the full softmax denominator.
    """
    model.train()
    n_vocab = model.n_vocab
    sampled = 0 < n_negatives < n_vocab - 1
    shift = math.log((n_vocab - 1) / n_negatives) if sampled else 0.0
    order = torch.randperm(len(w.lengths), generator=generator)
    total, count = 0.0, 0
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        t = int(w.lengths[idx].max())
        mask = w.has_target[idx, :t]
        n = int(mask.sum())
        if n == 0:
            continue
        h = model.encode(w.inputs[idx, :t])
        q = h[mask]  # (n, d): positions with at least one target
        slot = torch.full((len(idx), t), -1, dtype=torch.long)
        slot[mask] = torch.arange(n)
        rows, cols, tok, wt = _batch_pairs(w, idx)
        pidx = slot[rows, cols]
        target = tok - 1
        item_w = model.item_weight
        if sampled:
            neg = torch.randperm(n_vocab, generator=generator)[:n_negatives]
            l_neg = q @ item_w[neg].T + model.bias[neg] + shift
            where = torch.full((n_vocab,), -1, dtype=torch.long)
            where[neg] = torch.arange(n_negatives)
            hit = where[target]
            coll = torch.zeros_like(l_neg, dtype=torch.bool)
            coll[pidx[hit >= 0], hit[hit >= 0]] = True
            l_neg = l_neg.masked_fill(coll, float("-inf"))
            l_tgt = (q[pidx] * item_w[target]).sum(-1) + model.bias[target]
            m = torch.full((n,), float("-inf")).scatter_reduce(0, pidx, l_tgt.detach(), reduce="amax")
            z_tgt = torch.zeros(n).scatter_add(0, pidx, torch.exp(l_tgt - m[pidx]))
            logz = torch.logaddexp(torch.logsumexp(l_neg, dim=1), m + torch.log(z_tgt))
            loss = (wt * (logz[pidx] - l_tgt)).sum() / n
        else:
            logp = F.log_softmax(model.logits(q), dim=1)
            loss = -(wt * logp[pidx, target]).sum() / n
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * n
        count += n
    return total / max(count, 1)


@torch.inference_mode()
def score_last(model: SASRec, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Scores (B, n_vocab) after the last real token of each right-padded sequence."""
    model.eval()
    h = model.encode(tokens)
    return model.logits(h[torch.arange(tokens.shape[0]), lengths - 1])
