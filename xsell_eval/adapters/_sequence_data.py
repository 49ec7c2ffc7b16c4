"""Purchase histories as token sequences for the ``sequence`` adapter (numpy only, no torch).

Training lines are ordered into one sequence per user (guest baskets on their own), an
end-of-basket separator follows every basket, and long histories are cut into training
windows; at recommend time a history and a cart are assembled into one left-padded row.
See :mod:`xsell_eval.adapters.sequence` for the model that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset

Ragged = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(values, start, length)``: row ``q`` is ``values[start[q] : start[q] + length[q]]``."""


@dataclass(frozen=True)
class Lines:
    """Training lines in sequence order (one row per distinct (basket, item)).

    Attributes:
        key: sequence id: the user index, or ``n_users + basket_idx`` for a guest basket.
        user: user index (-1 for guests).
        basket: basket index.
        item: item index.
    """

    key: np.ndarray
    user: np.ndarray
    basket: np.ndarray
    item: np.ndarray

    def take(self, mask: np.ndarray) -> Lines:
        """The rows where ``mask`` is true (order kept)."""
        return Lines(self.key[mask], self.user[mask], self.basket[mask], self.item[mask])


def order_lines(train: Dataset) -> Lines:
    """Lines sorted by (user, basket time, basket index, line order), duplicates dropped.

    Guest baskets (user index -1) each form their own sequence. The basket time is the
    basket's first timestamp; the line order is the row order of ``train.interactions``.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({
        ...     "user_id": ["u", "u", "u", "u"], "basket_id": ["b2", "b2", "b1", "b2"],
        ...     "item_id": ["z", "x", "y", "z"],
        ...     "timestamp": pd.to_datetime(["2024-01-02"] * 2 + ["2024-01-01", "2024-01-02"])})
        >>> ds = Dataset.from_frames(df)
        >>> ds.item_ids[order_lines(ds).item].tolist()
        ['y', 'z', 'x']
    """
    df = train.interactions
    n = len(df)
    basket = df[C.BASKET_IDX].to_numpy()
    user = df[C.USER_IDX].to_numpy()
    item = df[C.ITEM_IDX].to_numpy()
    b = train.baskets
    btime = np.zeros(train.n_baskets, dtype=np.int64)
    btime[b[C.BASKET_IDX].to_numpy()] = b[C.TIMESTAMP].to_numpy().astype("datetime64[ns]").astype(np.int64)
    key = np.where(user >= 0, user, train.n_users + basket)
    order = np.lexsort((np.arange(n), basket, btime[basket], key))
    pair = basket[order].astype(np.int64) * np.int64(train.n_items) + item[order]
    _, first = np.unique(pair, return_index=True)
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    order = order[keep]
    return Lines(key[order], user[order], basket[order], item[order])


def runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct key, start, length) of the consecutive runs of a grouped key array."""
    if len(keys) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    start = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1].astype(np.int64)
    length = np.diff(np.r_[start, len(keys)]).astype(np.int64)
    return keys[start], start, length


def with_separators(lines: Lines, line_tokens: np.ndarray, sep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insert a separator token after every basket.

    Returns:
        ``(tokens, key, user)`` per token (a separator takes its basket's key and user).

    Example:
        >>> lines = Lines(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 1]),
        ...               np.array([5, 5, 6, 7]), np.array([1, 2, 3, 1]))
        >>> with_separators(lines, np.array([1, 2, 3, 1]), 9)[0].tolist()
        [1, 2, 9, 3, 9, 1, 9]
    """
    n = len(lines.key)
    first = np.ones(n, dtype=bool)
    first[1:] = (lines.basket[1:] != lines.basket[:-1]) | (lines.key[1:] != lines.key[:-1])
    run = np.cumsum(first) - 1
    n_runs = int(first.sum())
    last = np.r_[np.flatnonzero(first)[1:] - 1, n - 1] if n else np.zeros(0, dtype=np.int64)
    sep_pos = last + np.arange(n_runs) + 1
    line_pos = np.arange(n) + run
    tokens = np.empty(n + n_runs, dtype=np.int64)
    key = np.empty(n + n_runs, dtype=np.int64)
    user = np.empty(n + n_runs, dtype=np.int64)
    tokens[line_pos], key[line_pos], user[line_pos] = line_tokens, lines.key, lines.user
    tokens[sep_pos], key[sep_pos], user[sep_pos] = sep, lines.key[last], lines.user[last]
    return tokens, key, user


@dataclass(frozen=True)
class Windows:
    """Training windows: right-padded inputs plus the (position, target) pairs of each window.

    Attributes:
        inputs: ``(n_windows, max_len)`` int64 tokens, 0-padded.
        has_target: ``(n_windows, max_len)`` bool, positions with at least one target.
        lengths: real positions per window.
        pair_ptr: CSR pointer (n_windows + 1) into the pair arrays, grouped by window.
        pair_col, pair_token, pair_weight: position (column) in the window, target token
            and weight (1 / number of targets of that position, so each position counts once).
    """

    inputs: np.ndarray
    has_target: np.ndarray
    lengths: np.ndarray
    pair_ptr: np.ndarray
    pair_col: np.ndarray
    pair_token: np.ndarray
    pair_weight: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)


def training_windows(
    tokens: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    max_len: int,
    horizon: int,
    sep: int,
    *,
    new_items_after_separator: bool = True,
) -> Windows:
    """Cut token sequences into windows of at most ``max_len`` positions, with their targets.

    Each sequence of ``n >= 2`` tokens gives ``ceil((n-1)/max_len)`` windows whose input
    positions cover 0..n-2 exactly once; windows are aligned to the end of the sequence
    (the most recent window is full, the oldest may be short). The targets of position
    ``p`` are the tokens ``p+1 .. p+horizon`` of the same sequence up to (excluding) the
    next separator: the rest of the basket at an item, nothing at a basket's last line,
    the next basket at a separator. With ``new_items_after_separator`` (the default) a
    separator's targets keep only items the sequence has not contained before: next-basket
    cross-sell asks for *new* items (items already bought are never recommended there).

    Example:
        >>> # baskets [1 2 3] [4 5], separator 9
        >>> w = training_windows(np.array([1, 2, 3, 9, 4, 5, 9]), np.array([0]), np.array([7]),
        ...                      max_len=4, horizon=2, sep=9)
        >>> w.inputs.tolist(), w.has_target.astype(int).tolist()
        ([[3, 9, 4, 5], [1, 2, 0, 0]], [[0, 1, 1, 0], [1, 1, 0, 0]])
        >>> w.pair_token.tolist()  # 9 -> {4, 5}, 4 -> {5} | 1 -> {2, 3}, 2 -> {3}
        [4, 5, 5, 2, 3, 3]
    """
    n_win = np.where(length >= 2, -(-(length - 1) // max_len), 0)
    seq = np.repeat(np.arange(len(length)), n_win)
    j = np.arange(int(n_win.sum())) - np.repeat(np.cumsum(n_win) - n_win, n_win)
    end = length[seq] - 1 - j * max_len  # exclusive end of the inputs, relative to the sequence
    begin = np.maximum(end - max_len, 0)
    lens = (end - begin).astype(np.int64)
    col = np.arange(max_len)[None, :]
    valid = col < lens[:, None]
    src = np.where(valid, (start[seq] + begin)[:, None] + col, 0)
    inputs = np.where(valid, tokens[src], 0).astype(np.int64)
    # targets of p: tokens[p+1 : min(next separator after p, p+1+horizon, end of sequence)]
    win_of, col_of = np.nonzero(valid)  # row-major: grouped by window, then column
    p = src[win_of, col_of]
    seps = np.r_[np.flatnonzero(tokens == sep), len(tokens)]
    seq_end = (start[seq] + length[seq])[win_of]
    stop = np.minimum(np.minimum(seps[np.searchsorted(seps, p, side="right")], p + 1 + horizon), seq_end)
    m = np.maximum(stop - (p + 1), 0)
    pos = np.repeat(np.arange(len(p)), m)
    tgt = p[pos] + 1 + np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)  # index into tokens
    if new_items_after_separator and len(tokens):
        seq_of = np.repeat(np.arange(len(length)), length)
        _, first = np.unique(seq_of * np.int64(tokens.max() + 1) + tokens, return_index=True)
        seen_before = np.ones(len(tokens), dtype=bool)
        seen_before[first] = False
        keep = ~((tokens[p[pos]] == sep) & seen_before[tgt])
        pos, tgt = pos[keep], tgt[keep]
    m = np.bincount(pos, minlength=len(p))
    has_target = np.zeros_like(valid)
    has_target[win_of, col_of] = m > 0
    ptr = np.r_[0, np.cumsum(np.bincount(win_of[pos], minlength=len(lens)))].astype(np.int64)
    return Windows(
        inputs=inputs,
        has_target=has_target,
        lengths=lens,
        pair_ptr=ptr,
        pair_col=col_of[pos].astype(np.int64),
        pair_token=tokens[tgt].astype(np.int64),
        pair_weight=(1.0 / m[pos]).astype(np.float32),
    )


def assemble(hist: Ragged, cart: Ragged, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query: history tokens then cart tokens, keeping the most recent ``max_len``.

    Args:
        hist, cart: ragged token rows (see :data:`Ragged`), one per query.
        max_len: longest sequence kept (older tokens are dropped).

    Returns:
        ``(tokens, lengths)``: an ``(n, T)`` right-padded int64 array with
        ``T = max(1, max(lengths))``, and the number of real tokens per query (may be 0).

    Example:
        >>> h = (np.array([1, 2, 3]), np.array([0, 3]), np.array([3, 0]))
        >>> c = (np.array([7, 8]), np.array([0, 1]), np.array([1, 1]))
        >>> tok, n = assemble(h, c, 3)
        >>> tok.tolist(), n.tolist()
        ([[2, 3, 7], [8, 0, 0]], [3, 1])
    """
    h_tok, h_start, h_len = hist
    c_tok, c_start, c_len = cart
    n = len(h_len)
    total = h_len + c_len
    keep = np.minimum(total, max_len)
    skip = total - keep
    q = np.repeat(np.arange(n), keep)
    j = np.arange(int(keep.sum())) - np.repeat(np.cumsum(keep) - keep, keep)
    e = skip[q] + j
    from_h = e < h_len[q]
    tok = np.empty(len(q), dtype=np.int64)
    tok[from_h] = h_tok[(h_start[q] + e)[from_h]]
    tok[~from_h] = c_tok[(c_start[q] + e - h_len[q])[~from_h]]
    out = np.zeros((n, max(1, int(keep.max(initial=0)))), dtype=np.int64)
    out[q, j] = tok
    return out, keep.astype(np.int64)


def lookup(
    keys: np.ndarray, start: np.ndarray, length: np.ndarray, wanted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of the run of each ``wanted`` key in sorted ``keys``; length 0 if absent."""
    if len(keys) == 0:
        return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=np.int64)
    pos = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    found = keys[pos] == wanted
    return np.where(found, start[pos], 0).astype(np.int64), np.where(found, length[pos], 0).astype(np.int64)
