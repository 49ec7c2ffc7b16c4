"""Shared helpers of tests/test_content.py, test_business_rules.py and test_hybrid.py."""

from __future__ import annotations

import pandas as pd
from _queries import context_queries

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Queries


def make_queries(n_items: int, contexts: list[list[int]]) -> Queries:
    """Queries with the given context item indices and no targets."""
    return context_queries(n_items, contexts, context_value=0.0)


def shop(catalog_titles: dict[str, str], baskets: list[list[str]]) -> Dataset:
    """A dataset with the given baskets and a title-only catalog."""
    lines = [(f"b{b}", item) for b, items in enumerate(baskets) for item in items]
    inter = pd.DataFrame(lines, columns=[C.BASKET, C.ITEM])
    cat = pd.DataFrame({C.ITEM: list(catalog_titles), C.TITLE: list(catalog_titles.values())})
    return Dataset.from_frames(inter, cat, name="tiny")


# A = "red mug", B = "blue mug", C = "red candle", D has no text, E = "red mug" (never bought)
TITLES = {"A": "red mug", "B": "blue mug", "C": "red candle", "D": "", "E": "red mug"}
BASKETS = [["A", "B"], ["A", "C"], ["B", "D"], ["A", "D"], ["C", "D"]]
