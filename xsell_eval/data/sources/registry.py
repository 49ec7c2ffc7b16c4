"""The loader registry: name -> reading function, description and default cleaning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xsell_eval.data.cleaning import CleaningPolicy
from xsell_eval.data.sources._parsing import (
    LoadOptions,
    RawData,
)
from xsell_eval.data.sources.baskets import _read_baskets
from xsell_eval.data.sources.completejourney import _read_completejourney
from xsell_eval.data.sources.generic import _read_generic
from xsell_eval.data.sources.instacart import _read_instacart
from xsell_eval.data.sources.movielens import _read_movielens
from xsell_eval.data.sources.online_retail import _read_online_retail


@dataclass(frozen=True)
class Loader:
    """A registered loader: name, one-line description, the reading function, its default cleaning.

    ``default_policy`` is :class:`CleaningPolicy` defaults for raw exports; the generic
    ``csv``/``parquet`` loaders keep lines without a user id (``missing_customer="keep"``)
    because in the canonical format an empty ``user_id`` is how a guest checkout is written.
    """

    name: str
    description: str
    read: Callable[[Path, LoadOptions], RawData]
    accepts_columns: bool = False
    default_policy: CleaningPolicy = field(default_factory=CleaningPolicy)


_CANONICAL_POLICY = CleaningPolicy(missing_customer="keep")

LOADERS: dict[str, Loader] = {
    "csv": Loader(
        "csv",
        "generic CSV in canonical columns (or --columns canonical=source); "
        "a folder with interactions.csv (+ catalog.csv)",
        lambda p, o: _read_generic(p, o, "csv"),
        accepts_columns=True,
        default_policy=_CANONICAL_POLICY,
    ),
    "parquet": Loader(
        "parquet",
        "generic Parquet, same columns as 'csv'; a folder with interactions.parquet (+ catalog.parquet)",
        lambda p, o: _read_generic(p, o, "parquet"),
        accepts_columns=True,
        default_policy=_CANONICAL_POLICY,
    ),
    "online-retail": Loader(
        "online-retail",
        "UCI Online Retail / Online Retail II raw CSV (InvoiceNo|Invoice, StockCode, Description, Quantity, ...)",
        _read_online_retail,
    ),
    "instacart": Loader(
        "instacart",
        "Instacart folder (orders.csv + order_products__*.csv + products/aisles/departments); synthetic timestamps",
        _read_instacart,
    ),
    "baskets": Loader(
        "baskets",
        "one basket per line, items separated by commas (e.g. Groceries); no users, timestamps or prices",
        _read_baskets,
    ),
    "completejourney": Loader(
        "completejourney",
        "84.51°/dunnhumby Complete Journey transactions (+ products.csv next to it); price = sales_value/quantity",
        _read_completejourney,
    ),
    "movielens": Loader(
        "movielens",
        "MovieLens ratings (u.data, ratings.csv, ratings.dat); one basket per (user, day), rating kept",
        _read_movielens,
    ),
}
