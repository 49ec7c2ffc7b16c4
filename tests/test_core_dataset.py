"""Dataset, top-k and Queries: hand-computed cases and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import DataError
from xsell_eval.queries import top_k


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.USER: [17850.0, 17850.0, None, 13047.0],
            C.BASKET: ["b1", "b1", "b2", "b3"],
            C.ITEM: ["x", "y", "x", "z"],
            C.TIMESTAMP: pd.to_datetime(["2020-01-01", "2020-01-01", "2020-01-02", "2020-01-03"]),
            C.QUANTITY: [1, 2, 3, 1],
            C.PRICE: [1.0, 2.0, 3.0, 5.0],
        }
    )


def test_from_frames_builds_index_maps_and_normalises_ids() -> None:
    ds = Dataset.from_frames(_frame())
    assert list(ds.user_ids) == ["13047", "17850"]  # float artefact 17850.0 -> "17850"
    assert list(ds.item_ids) == ["x", "y", "z"]
    assert ds.interactions[C.USER_IDX].tolist() == [1, 1, -1, 0]
    assert ds.n_baskets == 3


def test_matrices_and_counts_by_hand() -> None:
    ds = Dataset.from_frames(_frame())
    np.testing.assert_array_equal(ds.basket_item.toarray(), [[1, 1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(ds.user_item.toarray(), [[0, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(ds.item_basket_count, [2, 1, 1])
    np.testing.assert_array_equal(ds.user_basket_count, [1, 1])
    # median price per item: x -> median(1, 3) = 2
    np.testing.assert_allclose(ds.item_price, [2.0, 2.0, 5.0])
    b = ds.baskets
    assert b["value"].tolist() == [1 * 1 + 2 * 2, 9.0, 5.0]


def test_subset_keeps_index_maps() -> None:
    ds = Dataset.from_frames(_frame())
    sub = ds.subset(ds.interactions[C.BASKET] == "b3")
    assert sub.n_items == ds.n_items and sub.n_users == ds.n_users
    np.testing.assert_array_equal(sub.item_basket_count, [0, 0, 1])


def test_catalog_only_items_get_an_index() -> None:
    cat = pd.DataFrame({C.ITEM: ["x", "new"], C.TITLE: ["X thing", "brand new"], C.CATEGORY: ["a", "b"]})
    ds = Dataset.from_frames(_frame(), cat)
    assert "new" in set(ds.item_ids)
    assert ds.has_catalog_text
    assert ds.catalog.loc[list(ds.item_ids).index("new"), C.TITLE] == "brand new"


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({C.ITEM: ["a"]}), "missing required column"),
        (pd.DataFrame({C.BASKET: [], C.ITEM: []}), "no interactions"),
        (pd.DataFrame({C.BASKET: ["b", None], C.ITEM: ["a", "c"]}), "column 'basket_id' is empty in 1 row"),
        (pd.DataFrame({C.BASKET: ["b"], C.ITEM: ["a"], C.TIMESTAMP: ["yesterday"]}), "must be parsed datetimes"),
    ],
)
def test_bad_frames_raise_clear_errors(frame: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataError, match=match):
        Dataset.from_frames(frame)


def test_top_k_ties_break_by_item_index_and_pad() -> None:
    scores = np.array([[0.1, 0.9, 0.9, -np.inf], [np.nan, 1.0, -np.inf, -np.inf]])
    items, s = top_k(scores, 3)
    assert items.tolist() == [[1, 2, 0], [1, -1, -1]]
    assert np.isnan(s[1, 1:]).all()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 30),
    st.integers(1, 12),
    st.integers(0, 2**31 - 1),
)
def test_top_k_matches_a_full_stable_sort(n: int, m: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(n, m)).astype(float)  # many ties
    scores[rng.random((n, m)) < 0.2] = -np.inf
    items, _ = top_k(scores, k)
    for r in range(n):
        order = [i for i in np.argsort(-scores[r], kind="stable") if np.isfinite(scores[r, i])][:k]
        assert items[r, : len(order)].tolist() == order
        assert (items[r, len(order) :] == -1).all()


def test_categorical_ids_index_like_plain_strings() -> None:
    """The loaders hand categoricals over; indexing them works on the categories only, same result."""
    plain = pd.DataFrame(
        {
            "basket_id": ["b2", "b1", "b1", "b3", "b2"],
            "item_id": [" x", "y", "x", "z", "17.0"],
            "user_id": ["u1", None, None, "u2", "u1"],
        }
    )
    cat = plain.astype("category")
    cat["item_id"] = cat["item_id"].cat.add_categories(["never-used"])  # unused categories get no index
    a, b = Dataset.from_frames(plain), Dataset.from_frames(cat)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert list(b.item_ids) == ["17.0", "x", "y", "z"] and list(b.user_ids) == ["u1", "u2"]
    assert b.interactions["user_idx"].tolist() == [0, -1, -1, 1, 0]
    assert b.interactions["basket_idx"].tolist() == [1, 0, 0, 2, 1]
