"""Protocols: how evaluation queries are built from a history and a target period.

* ``basket-completion`` (default, the cart cross-sell): every target-period basket with
  at least two distinct items; a seeded random subset is revealed as the cart
  (``reveal`` items, or all but ``hide``), the rest are the targets.
* ``next-basket`` (e-mail / homepage cross-sell): for each known user with a basket in
  the target period, the context is every item the user bought in the history period
  and the targets are the *new* items of the user's first target-period basket (items
  already bought before cannot be recommended, since context items never are).
* ``item-to-item`` (product page): each distinct item of a target basket is an anchor;
  the targets are the basket's other items.

The history (normally ``split.train``) gives ``user_history`` (the user's number of
history baskets); the model never sees target-period baskets.
All construction is vectorised; ``max_queries`` draws a seeded subset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, unknown_name
from xsell_eval.queries import Queries

PROTOCOLS: dict[str, str] = {
    "basket-completion": "reveal part of each test basket (default: 1 item) and predict the rest",
    "next-basket": "from a user's purchase history, predict the new items of their next basket",
    "item-to-item": "each item of a test basket is an anchor; predict the other items of the basket",
}


def _lines(target: Dataset) -> pd.DataFrame:
    """Target lines aggregated to (basket, item) with quantity, value, user, time; sorted by basket."""
    df = target.interactions
    value = (df[C.PRICE] * df[C.QUANTITY]).to_numpy()
    agg = (
        pd.DataFrame(
            {
                "b": df[C.BASKET_IDX].to_numpy(),
                "i": df[C.ITEM_IDX].to_numpy(),
                "u": df[C.USER_IDX].to_numpy(),
                "t": df[C.TIMESTAMP].to_numpy(),
                "q": df[C.QUANTITY].to_numpy(),
                "v": value,
            }
        )
        .groupby(["b", "i"], sort=True)
        .agg(u=("u", "first"), t=("t", "min"), q=("q", "sum"), v=("v", "sum"))
        .reset_index()
    )
    return agg


def _csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    m = sp.csr_matrix((data.astype(np.float64), (rows, cols)), shape=(n_rows, n_cols))
    m.sum_duplicates()
    m.sort_indices()
    return m


def _finish(
    *,
    protocol: str,
    n_items: int,
    q_user: np.ndarray,
    q_basket: np.ndarray,
    q_time: np.ndarray,
    ctx_rows: np.ndarray,
    ctx_items: np.ndarray,
    ctx_value: np.ndarray,
    tgt_rows: np.ndarray,
    tgt_items: np.ndarray,
    tgt_qty: np.ndarray,
    tgt_value: np.ndarray,
    history: Dataset,
) -> Queries:
    n = len(q_user)
    ubc = history.user_basket_count
    hist = np.where(q_user >= 0, ubc[np.maximum(q_user, 0)] if len(ubc) else 0, 0).astype(np.int64)
    tv = np.nan_to_num(tgt_value, nan=0.0)
    return Queries(
        query_id=np.arange(n, dtype=np.int64),
        user_idx=q_user.astype(np.int64),
        basket_idx=q_basket.astype(np.int64),
        timestamp=q_time.astype("datetime64[ns]"),
        context=_csr(ctx_rows, ctx_items, np.ones(len(ctx_rows)), n, n_items),
        targets=_csr(tgt_rows, tgt_items, tgt_qty, n, n_items),
        target_value=_csr(tgt_rows, tgt_items, tv, n, n_items),
        context_value=ctx_value.astype(np.float64),
        user_history=hist,
        protocol=protocol,
    )


def _sample_groups(keys: np.ndarray, max_groups: int | None, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask keeping the rows of a seeded subset of at most ``max_groups`` distinct keys."""
    if max_groups is None:
        return np.ones(len(keys), dtype=bool)
    uniq = np.unique(keys)
    if len(uniq) <= max_groups:
        return np.ones(len(keys), dtype=bool)
    keep = rng.choice(uniq, size=max_groups, replace=False)
    return np.isin(keys, keep)


def basket_completion(
    history: Dataset,
    target: Dataset,
    *,
    seed: int = 0,
    reveal: int | None = 1,
    hide: int | None = None,
    max_queries: int | None = None,
    reveal_seed: int | None = None,
) -> Queries:
    """One query per target basket with ≥ 2 distinct items (see module docstring).

    Args:
        reveal: number of items revealed as the cart (the rest are targets); baskets with
            ``<= reveal`` items are skipped.
        hide: alternatively, hide exactly ``hide`` items (reveal all others).
        reveal_seed: draw which items are revealed from a generator of its own,
            ``default_rng([seed, 1, 1000 + reveal_seed])``: the same baskets (and the same
            ``max_queries`` sample) with another reveal (``--reveal-seeds``). None: the
            reveal continues the sampling generator (the queries of a run).
    """
    if (reveal is None) == (hide is None):
        raise ConfigError("basket-completion: set exactly one of reveal (items shown) or hide (items hidden)")
    n_param = reveal if reveal is not None else hide
    if n_param is None or n_param < 1:
        raise ConfigError(f"basket-completion: reveal/hide must be >= 1, got {n_param!r}")
    rng = np.random.default_rng([seed, 1])
    lines = _lines(target)
    size = lines.groupby("b")["i"].transform("size").to_numpy()
    lines = lines[size >= n_param + 1].reset_index(drop=True)
    lines = lines[_sample_groups(lines["b"].to_numpy(), max_queries, rng)].reset_index(drop=True)
    if lines.empty:
        return _empty("basket-completion", history, target)
    # seeded random order of items inside each basket
    key_rng = rng if reveal_seed is None else np.random.default_rng([seed, 1, 1000 + int(reveal_seed)])
    lines["key"] = key_rng.random(len(lines))
    lines = lines.sort_values(["b", "key"], kind="stable").reset_index(drop=True)
    pos = lines.groupby("b").cumcount().to_numpy()
    size = lines.groupby("b")["i"].transform("size").to_numpy()
    shown = pos < reveal if reveal is not None else pos < size - int(hide or 0)
    qb, q_row = np.unique(lines["b"].to_numpy(), return_inverse=True)
    first = np.r_[0, np.flatnonzero(np.diff(q_row)) + 1]
    ctx_value = np.bincount(q_row[shown], weights=lines["v"].to_numpy()[shown], minlength=len(qb))
    return _finish(
        protocol="basket-completion",
        n_items=target.n_items,
        q_user=lines["u"].to_numpy()[first],
        q_basket=qb,
        q_time=lines["t"].to_numpy()[first],
        ctx_rows=q_row[shown],
        ctx_items=lines["i"].to_numpy()[shown],
        ctx_value=ctx_value,
        tgt_rows=q_row[~shown],
        tgt_items=lines["i"].to_numpy()[~shown],
        tgt_qty=lines["q"].to_numpy()[~shown],
        tgt_value=lines["v"].to_numpy()[~shown],
        history=history,
    )


def next_basket(history: Dataset, target: Dataset, *, seed: int = 0, max_queries: int | None = None) -> Queries:
    """One query per known user with a target-period basket (see module docstring)."""
    if not target.has_users:
        raise DataError("next-basket needs user ids; the target period has only guests")
    rng = np.random.default_rng([seed, 2])
    b = target.baskets
    b = b[b[C.USER_IDX].to_numpy() >= 0]
    firsts = b.drop_duplicates(C.USER_IDX, keep="first")  # baskets table is time-sorted
    firsts = firsts[_sample_groups(firsts[C.USER_IDX].to_numpy(), max_queries, rng)]
    firsts = firsts.sort_values(C.USER_IDX, kind="stable").reset_index(drop=True)
    users = firsts[C.USER_IDX].to_numpy()
    hist_ui = history.user_item[users]
    lines = _lines(target)
    pos_of_basket = pd.Series(np.arange(len(firsts)), index=firsts[C.BASKET_IDX].to_numpy())
    lines = lines[lines["b"].isin(pos_of_basket.index)]
    rows = pos_of_basket.loc[lines["b"].to_numpy()].to_numpy()
    items = lines["i"].to_numpy()
    already = np.asarray(hist_ui[rows, items]).ravel() > 0 if len(rows) else np.zeros(0, bool)
    keep_t = ~already
    has_target = np.bincount(rows[keep_t], minlength=len(firsts)) > 0
    new_pos = np.cumsum(has_target) - 1
    ctx = hist_ui[np.flatnonzero(has_target)].tocoo()
    if not has_target.any():
        return _empty("next-basket", history, target)
    sel = keep_t & has_target[rows]
    return _finish(
        protocol="next-basket",
        n_items=target.n_items,
        q_user=users[has_target],
        q_basket=firsts[C.BASKET_IDX].to_numpy()[has_target],
        q_time=firsts[C.TIMESTAMP].to_numpy()[has_target],
        ctx_rows=ctx.row,
        ctx_items=ctx.col,
        ctx_value=np.full(int(has_target.sum()), np.nan),
        tgt_rows=new_pos[rows[sel]],
        tgt_items=items[sel],
        tgt_qty=lines["q"].to_numpy()[sel],
        tgt_value=lines["v"].to_numpy()[sel],
        history=history,
    )


def item_to_item(history: Dataset, target: Dataset, *, seed: int = 0, max_queries: int | None = None) -> Queries:
    """One query per (basket, anchor item) of baskets with ≥ 2 distinct items."""
    rng = np.random.default_rng([seed, 3])
    lines = _lines(target)
    size = lines.groupby("b")["i"].transform("size").to_numpy()
    lines = lines[size >= 2].reset_index(drop=True)
    if lines.empty:
        return _empty("item-to-item", history, target)
    start = lines.groupby("b").cumcount().to_numpy()
    size = lines.groupby("b")["i"].transform("size").to_numpy()
    base = np.arange(len(lines)) - start  # row of the basket's first line
    anchors = np.arange(len(lines))
    if max_queries is not None and len(anchors) > max_queries:
        anchors = np.sort(rng.choice(anchors, size=max_queries, replace=False))
    a_size = size[anchors]
    q_of = np.repeat(np.arange(len(anchors)), a_size)
    offs = np.arange(a_size.sum()) - np.repeat(np.cumsum(a_size) - a_size, a_size)
    t_line = np.repeat(base[anchors], a_size) + offs
    keep = t_line != np.repeat(anchors, a_size)
    return _finish(
        protocol="item-to-item",
        n_items=target.n_items,
        q_user=lines["u"].to_numpy()[anchors],
        q_basket=lines["b"].to_numpy()[anchors],
        q_time=lines["t"].to_numpy()[anchors],
        ctx_rows=np.arange(len(anchors)),
        ctx_items=lines["i"].to_numpy()[anchors],
        ctx_value=lines["v"].to_numpy()[anchors],
        tgt_rows=q_of[keep],
        tgt_items=lines["i"].to_numpy()[t_line[keep]],
        tgt_qty=lines["q"].to_numpy()[t_line[keep]],
        tgt_value=lines["v"].to_numpy()[t_line[keep]],
        history=history,
    )


def _empty(protocol: str, history: Dataset, target: Dataset) -> Queries:
    z = np.zeros(0, dtype=np.int64)
    return _finish(
        protocol=protocol,
        n_items=target.n_items,
        q_user=z,
        q_basket=z,
        q_time=np.zeros(0, dtype="datetime64[ns]"),
        ctx_rows=z,
        ctx_items=z,
        ctx_value=np.zeros(0),
        tgt_rows=z,
        tgt_items=z,
        tgt_qty=np.zeros(0),
        tgt_value=np.zeros(0),
        history=history,
    )


def build_queries(
    history: Dataset,
    target: Dataset,
    protocol: str = "basket-completion",
    *,
    seed: int = 0,
    reveal: int | None = 1,
    hide: int | None = None,
    max_queries: int | None = None,
    allow_empty: bool = False,
    reveal_seed: int | None = None,
) -> Queries:
    """Build the queries of ``protocol``; raises DataError when none result (unless ``allow_empty``).

    For basket-completion, ``hide`` (when given) takes precedence over ``reveal``;
    ``reveal_seed`` redraws the reveal of the same baskets (:func:`basket_completion`).
    """
    if max_queries is not None and max_queries < 1:
        raise ConfigError(f"max_queries must be >= 1, got {max_queries}")
    if protocol == "basket-completion":
        q = basket_completion(
            history,
            target,
            seed=seed,
            reveal=None if hide is not None else reveal,
            hide=hide,
            max_queries=max_queries,
            reveal_seed=reveal_seed,
        )
    elif protocol == "next-basket":
        q = next_basket(history, target, seed=seed, max_queries=max_queries)
    elif protocol == "item-to-item":
        q = item_to_item(history, target, seed=seed, max_queries=max_queries)
    else:
        raise unknown_name("protocol", protocol, PROTOCOLS)
    if len(q) == 0 and not allow_empty:
        hint = {
            "basket-completion": f"no basket in '{target.name}' has more than {reveal or hide} distinct item(s)",
            "next-basket": f"no user of '{target.name}' bought a new item in the period",
            "item-to-item": f"no basket in '{target.name}' has 2 or more distinct items",
        }[protocol]
        raise DataError(f"protocol '{protocol}' yields no queries: {hint}")
    return q
