"""The one place where column names are spelled.

Every other module refers to columns through :class:`Columns` so that a rename is a
one-line change and a typo is an ``AttributeError`` rather than a silent ``KeyError``.
"""

from __future__ import annotations

from typing import Final


class Columns:
    """Canonical column names of interactions, catalog, queries and results."""

    USER: Final = "user_id"
    BASKET: Final = "basket_id"
    ITEM: Final = "item_id"
    TIMESTAMP: Final = "timestamp"
    QUANTITY: Final = "quantity"
    PRICE: Final = "price"
    RATING: Final = "rating"  # optional explicit rating (MovieLens); adapters may use it

    # catalog
    TITLE: Final = "title"
    DESCRIPTION: Final = "description"
    CATEGORY: Final = "category"

    # per-user attributes (Dataset.users; one value per user, see xsell_eval.data.sources._parsing)
    COUNTRY: Final = "country"

    # integer indices added by Dataset
    USER_IDX: Final = "user_idx"
    ITEM_IDX: Final = "item_idx"
    BASKET_IDX: Final = "basket_idx"

    # queries / results
    QUERY: Final = "query_id"
    ADAPTER: Final = "adapter"
    RANK: Final = "rank"
    SCORE: Final = "score"

    INTERACTIONS: Final = (USER, BASKET, ITEM, TIMESTAMP, QUANTITY, PRICE)
    REQUIRED_INTERACTIONS: Final = (BASKET, ITEM)
    CATALOG: Final = (ITEM, TITLE, DESCRIPTION, CATEGORY, PRICE)
    USER_ATTRIBUTES: Final = (COUNTRY,)
