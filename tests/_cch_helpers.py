"""Shared helpers of tests/test_content.py, test_business_rules.py and test_hybrid.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Queries


def make_queries(n_items: int, contexts: list[list[int]]) -> Queries:
    """Queries with the given context item indices and no targets."""
    n = len(contexts)
    rows = np.repeat(np.arange(n), [len(c) for c in contexts])
    cols = np.array([i for c in contexts for i in c], dtype=np.int64)
    ctx = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, n_items))
    empty = sp.csr_matrix((n, n_items))
    return Queries(
        query_id=np.arange(n, dtype=np.int64),
        user_idx=np.full(n, -1, dtype=np.int64),
        basket_idx=np.full(n, -1, dtype=np.int64),
        timestamp=np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"),
        context=ctx,
        targets=empty,
        target_value=empty,
        context_value=np.zeros(n),
        user_history=np.zeros(n, dtype=np.int64),
    )


def shop(catalog_titles: dict[str, str], baskets: list[list[str]]) -> Dataset:
    """A dataset with the given baskets and a title-only catalog."""
    lines = [(f"b{b}", item) for b, items in enumerate(baskets) for item in items]
    inter = pd.DataFrame(lines, columns=[C.BASKET, C.ITEM])
    cat = pd.DataFrame({C.ITEM: list(catalog_titles), C.TITLE: list(catalog_titles.values())})
    return Dataset.from_frames(inter, cat, name="tiny")


# A = "red mug", B = "blue mug", C = "red candle", D has no text, E = "red mug" (never bought)
TITLES = {"A": "red mug", "B": "blue mug", "C": "red candle", "D": "", "E": "red mug"}
BASKETS = [["A", "B"], ["A", "C"], ["B", "D"], ["A", "D"], ["C", "D"]]
