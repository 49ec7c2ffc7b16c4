"""Hand-made :class:`Queries` (targets empty) for adapter tests.

Shared by test_knn, test_segments, test_rules_adapter, test_surprise and _cch_helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Queries


def context_queries(
    n_items: int,
    contexts: Sequence[Sequence[int]],
    *,
    user_idx: Sequence[int] | None = None,
    context_value: float = np.nan,
) -> Queries:
    """One query per context (item indices), guests unless ``user_idx`` is given."""
    n = len(contexts)
    rows = np.repeat(np.arange(n), [len(c) for c in contexts])
    cols = np.array([i for c in contexts for i in c], dtype=np.int64)
    ctx = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, n_items))
    empty = sp.csr_matrix((n, n_items))
    return Queries(
        query_id=np.arange(n, dtype=np.int64),
        user_idx=np.full(n, -1, dtype=np.int64) if user_idx is None else np.asarray(user_idx, dtype=np.int64),
        basket_idx=np.full(n, -1, dtype=np.int64),
        timestamp=np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"),
        context=ctx,
        targets=empty,
        target_value=empty,
        context_value=np.full(n, context_value),
        user_history=np.zeros(n, dtype=np.int64),
    )


def cart_queries(ds: Dataset, carts: list[list[str]], users: list[str | None] | None = None) -> Queries:
    """Queries with the given carts (item ids) and users (user ids, ``None`` = guest)."""
    item_pos = {item: i for i, item in enumerate(ds.item_ids)}
    user_pos = {u: i for i, u in enumerate(ds.user_ids)}
    contexts = [[item_pos[i] for i in cart] for cart in carts]
    uidx = [-1 if u is None else user_pos[u] for u in (users or [None] * len(carts))]
    return context_queries(ds.n_items, contexts, user_idx=uidx)


def names(ds: Dataset, items: np.ndarray) -> list[str]:
    """Item ids of a recommendation row, ``-`` for empty slots."""
    return [ds.item_ids[i] if i >= 0 else "-" for i in items]
