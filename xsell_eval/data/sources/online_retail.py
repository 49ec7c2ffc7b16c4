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
    _user_attributes,
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
#: Optional per-user attributes (``RawData.users``): read in the same pass, not kept on the lines.
_OR_USER_COLUMNS: dict[str, tuple[str, ...]] = {C.COUNTRY: ("Country",)}


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
    attrs = _resolve(found, _OR_USER_COLUMNS, source=src, required=())
    typed: dict[str, Any] = {cols[c]: "category" for c in (C.BASKET, C.ITEM, C.USER, C.TITLE) if c in cols}
    typed.update({cols[C.QUANTITY]: "float64", cols[C.PRICE]: "float64"})
    typed.update(dict.fromkeys(attrs.values(), "category"))
    df = _read_table_typed(path, usecols=[*cols.values(), *attrs.values()], typed=typed)
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
    users = _user_attributes(lines[C.USER], {attr: df[col] for attr, col in attrs.items()})  # Country
    return RawData(lines=lines, cancelled=cancelled, notes=tuple(notes), source=src, users=users)
