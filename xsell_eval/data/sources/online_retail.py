"""UCI Online Retail (I and II) raw CSV exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.sources._parsing import (
    LoadOptions,
    RawData,
    _cat_mask,
    _check_ids,
    _datetimes,
    _find,
    _finish_lines,
    _name,
    _numeric,
    _peek_columns,
    _read_table_typed,
    _require_file,
    _resolve,
)
from xsell_eval.errors import DataError

_OR_COLUMNS: dict[str, tuple[str, ...]] = {
    C.BASKET: ("InvoiceNo", "Invoice"),
    C.ITEM: ("StockCode",),
    C.TITLE: ("Description",),
    C.QUANTITY: ("Quantity",),
    C.TIMESTAMP: ("InvoiceDate",),
    C.PRICE: ("UnitPrice", "Price"),
    C.USER: ("CustomerID", "Customer ID"),
}


def _read_online_retail(path: Path, opts: LoadOptions) -> RawData:
    _require_file(path)
    if path.is_dir():
        file = _find(path, ["online_retail.csv.gz", "online_retail.csv", "Online Retail.csv", "online_retail_II.csv"])
        if file is None:
            raise DataError(f"{str(path)!r}: no Online Retail CSV in this folder (expected online_retail.csv[.gz])")
        path = file
    src = _name(path)
    found = _peek_columns(path)
    cols = _resolve(found, _OR_COLUMNS, source=src, required=[c for c in _OR_COLUMNS if c != C.TITLE])
    typed: dict[str, Any] = {cols[c]: "category" for c in (C.BASKET, C.ITEM, C.USER, C.TITLE) if c in cols}
    typed.update({cols[C.QUANTITY]: "float64", cols[C.PRICE]: "float64"})
    df = _read_table_typed(path, usecols=list(cols.values()), typed=typed)
    lines = pd.DataFrame(index=df.index)
    lines[C.USER] = df[cols[C.USER]]
    lines[C.BASKET] = df[cols[C.BASKET]]
    lines[C.ITEM] = df[cols[C.ITEM]]
    lines[C.TIMESTAMP], note = _datetimes(df[cols[C.TIMESTAMP]], column=cols[C.TIMESTAMP], source=src)
    lines[C.QUANTITY] = _numeric(
        df[cols[C.QUANTITY]], column=cols[C.QUANTITY], role="quantity", source=src, allow_empty=False
    )
    lines[C.PRICE] = _numeric(df[cols[C.PRICE]], column=cols[C.PRICE], role="price", source=src, allow_empty=True)
    if C.TITLE in cols:
        lines[C.TITLE] = df[cols[C.TITLE]]
    lines = _finish_lines(lines)
    _check_ids(lines, src, cols)
    cancelled = _cat_mask(lines[C.BASKET], lambda u: u.str.upper().str.startswith("C"))
    notes = [note] if note else []
    notes.append("catalog titles: the most frequent Description of each StockCode among the kept lines")
    return RawData(lines=lines, cancelled=cancelled, notes=tuple(notes), source=src)


_OR_FILES = ["online_retail.csv.gz", "online_retail.csv", "Online Retail.csv", "online_retail_II.csv"]


def read_user_country(path: str | Path, user_ids: Any) -> Any:
    """Country of each user of ``user_ids`` from an Online Retail file (its ``Country`` column), or None.

    The loader keeps no country (it is not a canonical column), so fairness by country reads it
    again from the source file: the two id columns only, one vectorised pass. A customer who
    appears with several countries gets the one of most of their lines (ties: alphabetical first).

    Returns:
        An object array aligned with ``user_ids`` (None where the customer has no country), or
        None when the file has no ``Country`` column.

    Raises:
        DataError: the file cannot be read.
    """
    import numpy as np

    from xsell_eval.data.dataset import _as_str_ids

    p = Path(path)
    if p.is_dir():
        found = _find(p, _OR_FILES)
        if found is None:
            return None
        p = found
    cols = _peek_columns(p)
    user_col = next((c for c in _OR_COLUMNS[C.USER] if c in cols), None)
    if "Country" not in cols or user_col is None:
        return None
    df = _read_table_typed(p, usecols=[user_col, "Country"], typed={user_col: "float64", "Country": "string"})
    users = _as_str_ids(df[user_col])
    pairs = pd.DataFrame({"user": users, "country": df["Country"].astype(object)}).dropna()
    counts = pairs.value_counts(["user", "country"]).rename("n").reset_index()
    counts = counts.sort_values(["user", "n", "country"], ascending=[True, False, True], kind="stable")
    first = counts.drop_duplicates("user", keep="first").set_index("user")["country"]
    out = first.reindex(pd.Index(np.asarray(user_ids, dtype=object))).to_numpy(dtype=object)
    out[pd.isna(out)] = None
    return out


def dataset_user_country(dataset: Any) -> Any:
    """Country of each user of a dataset loaded by the ``online-retail`` loader (by user index), else None."""
    meta = getattr(dataset, "meta", None) or {}
    path = meta.get("path")
    if meta.get("loader") != "online-retail" or not path or not Path(path).exists():
        return None
    return read_user_country(path, dataset.user_ids)
