"""84.51°/dunnhumby Complete Journey transactions (+ products table for catalog and non-products)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.sources._parsing import (
    _TABLE_SUFFIXES,
    LoadOptions,
    RawData,
    _check_ids,
    _datetimes,
    _find,
    _finish_lines,
    _ids,
    _name,
    _numeric,
    _peek_columns,
    _read_catalog_file,
    _read_table,
    _read_table_typed,
    _require_file,
    _resolve,
    _suffix,
    _suggest,
    _text,
)
from xsell_eval.errors import DataError

_CJ_COLUMNS: dict[str, tuple[str, ...]] = {
    C.USER: ("household_id", "household_key"),
    C.BASKET: ("basket_id",),
    C.ITEM: ("product_id",),
    C.QUANTITY: ("quantity",),
    "sales_value": ("sales_value",),
    C.TIMESTAMP: ("transaction_timestamp",),
    "day": ("day",),
    "trans_time": ("trans_time",),
}
_DUNNHUMBY_EPOCH = pd.Timestamp("2000-01-01")


#: Complete Journey products that are not merchandise a shopper could be recommended, by
#: reason: (reason, products-table column, regex matched case-insensitively against the whole
#: stripped value). A product takes the first reason that matches. Fuel matters most: its
#: ``quantity`` is not a count of items (7.69M of the 7.78M units of the 75,000-line sample,
#: ~10,000 per line) and without this rule ``popular`` recommends gasoline. Why each rule:
#:
#: - fuel: department FUEL (KIOSK-GAS in the older dunnhumby release, as commonly quoted; not
#:   checked here) and any product type GASOLINE-* (19 gasoline products are filed under
#:   MISCELLANEOUS / COUPON/MISC ITEMS);
#: - coupons: department COUPON and the categories COUPONS/STORE & MFG and COUPON
#:   (redemption lines, plus one greeting-card and one donation product filed there);
#: - gift cards, deposits, donations, manual sales: types ``*GIFT CARD*``, BOTTLE DEPOSITS,
#:   CRV DEPOSIT*, DONATIONS and MISC SALES TRANS (a keyed-in amount in any department, like
#:   Online Retail's manual line 'M'), and the category BOTTLE DEPOSITS;
#: - other COUPON/MISC ITEMS: the rest of the retailer's own non-merchandise category
#:   (department key rings, store supplies, tickets...). It also holds a handful of products
#:   that look like goods (bulk candy, juice, a dog food, a bath product: 15 of the 75,000 sample
#:   lines); the retailer's classification is followed as it is.
CJ_NON_PRODUCT_RULES: tuple[tuple[str, str, str], ...] = (
    ("fuel", "department", r"FUEL|KIOSK-GAS"),
    ("fuel", "product_type", r"GASOLINE.*"),
    ("coupons", "department", r"COUPON"),
    ("coupons", "product_category", r"COUPONS/STORE & MFG|COUPON"),
    (
        "gift cards, deposits, donations, manual sales",
        "product_type",
        r".*GIFT CARDS?.*|BOTTLE DEPOSITS|CRV DEPOSIT.*|DONATIONS|MISC SALES TRANS",
    ),
    ("gift cards, deposits, donations, manual sales", "product_category", r"BOTTLE DEPOSITS"),
    ("other COUPON/MISC ITEMS", "product_category", r"COUPON/MISC ITEMS"),
)


def _cj_non_products(ids: pd.Series, levels: Mapping[str, pd.Series]) -> dict[str, frozenset[str]]:
    """Product ids per :data:`CJ_NON_PRODUCT_RULES` reason (first matching reason wins)."""
    taken = np.zeros(len(ids), dtype=bool)
    out: dict[str, set[str]] = {}
    id_text = ids.astype("string")
    for reason, level, pattern in CJ_NON_PRODUCT_RULES:
        values = levels.get(level)
        if values is None:
            continue
        hit = values.astype("string").str.fullmatch(pattern, case=False).fillna(False).to_numpy(dtype=bool)
        new = hit & ~taken & id_text.notna().to_numpy()
        taken |= hit
        out.setdefault(reason, set()).update(id_text[new].tolist())
    return {reason: frozenset(v) for reason, v in out.items() if v}


def _cj_catalog(path: Path) -> tuple[pd.DataFrame, str, dict[str, frozenset[str]]]:
    src = _name(path)
    found = _peek_columns(path)
    cols = _resolve(
        found,
        {
            "product_id": ("product_id",),
            "department": ("department",),
            "brand": ("brand",),
            "product_category": ("product_category", "commodity_desc"),
            "product_type": ("product_type", "sub_commodity_desc"),
            "package_size": ("package_size", "curr_size_of_product"),
        },
        source=src,
        required=["product_id"],
    )
    p = _read_table(path, usecols=list(cols.values()), dtype=dict.fromkeys(cols.values(), "string"))
    t = {k: _text(p[v]).astype("string") for k, v in cols.items()}
    empty = pd.Series(pd.NA, index=p.index, dtype="string")
    ptype, pcat, dept = t.get("product_type", empty), t.get("product_category", empty), t.get("department", empty)
    cat = pd.DataFrame({C.ITEM: _ids(p[cols["product_id"]])}, index=p.index)
    cat[C.TITLE] = ptype.fillna(pcat)
    desc = pd.Series("", index=p.index, dtype="string")
    for key in ("brand", "product_category", "product_type", "package_size"):
        if key in t:
            desc = desc.str.cat(t[key].fillna(""), sep=" ")
    cat[C.DESCRIPTION] = desc.str.replace(r"\s+", " ", regex=True).str.strip()
    cat[C.CATEGORY] = dept.fillna("").str.cat(pcat.fillna(""), sep="/").str.strip("/")
    levels: dict[str, pd.Series] = {k: t[k] for k in ("department", "product_category", "product_type") if k in t}
    non_products = _cj_non_products(cat[C.ITEM], levels)
    return cat, f"catalog from {src}: title = product_type, category = department/product_category", non_products


def _read_completejourney(path: Path, opts: LoadOptions) -> RawData:
    _require_file(path)
    if path.is_dir():
        file = next(
            (
                p
                for p in sorted(path.iterdir())
                if p.name.lower().startswith("transaction") and _suffix(p) in _TABLE_SUFFIXES
            ),
            None,
        )
        if file is None:
            raise DataError(f"{str(path)!r}: no transactions file (transactions*.csv[.gz] or .parquet) in this folder")
        path = file
    src = _name(path)
    found = _peek_columns(path)
    cols = _resolve(found, _CJ_COLUMNS, source=src, required=[C.USER, C.BASKET, C.ITEM, C.QUANTITY, "sales_value"])
    if C.TIMESTAMP not in cols and not ("day" in cols and "trans_time" in cols):
        raise DataError(
            f"{src}: missing column 'transaction_timestamp' (or the dunnhumby pair 'DAY' + 'TRANS_TIME'); "
            f"found columns {found}{_suggest('transaction_timestamp', found)}"
        )
    typed: dict[str, Any] = {cols[c]: "category" for c in (C.USER, C.BASKET, C.ITEM)}
    typed.update({cols[C.QUANTITY]: "float64", cols["sales_value"]: "float64"})
    if C.TIMESTAMP in cols:
        typed[cols[C.TIMESTAMP]] = "string"
    else:
        typed.update({cols["day"]: "float64", cols["trans_time"]: "float64"})
    df = _read_table_typed(path, usecols=list(typed), typed=typed)
    lines = pd.DataFrame(index=df.index)
    lines[C.USER] = df[cols[C.USER]]
    lines[C.BASKET] = df[cols[C.BASKET]]
    lines[C.ITEM] = df[cols[C.ITEM]]
    notes: list[str] = []
    if C.TIMESTAMP in cols:
        lines[C.TIMESTAMP], note = _datetimes(df[cols[C.TIMESTAMP]], column=cols[C.TIMESTAMP], source=src)
        notes.append(note)
    else:
        day = _numeric(df[cols["day"]], column=cols["day"], role="day number", source=src, allow_empty=False)
        hhmm = _numeric(
            df[cols["trans_time"]], column=cols["trans_time"], role="time HHMM", source=src, allow_empty=False
        )
        minutes = (hhmm // 100) * 60 + hhmm % 100
        lines[C.TIMESTAMP] = (
            _DUNNHUMBY_EPOCH
            + pd.to_timedelta(day.to_numpy(), unit="D")
            + pd.to_timedelta(minutes.to_numpy(), unit="min")
        )
        notes.append(
            f"{src}: dunnhumby DAY numbers have no calendar date; timestamps are synthetic, "
            f"{_DUNNHUMBY_EPOCH.date()} + DAY days + TRANS_TIME (order and gaps are exact)"
        )
    qty = _numeric(df[cols[C.QUANTITY]], column=cols[C.QUANTITY], role="quantity", source=src, allow_empty=False)
    sales = _numeric(
        df[cols["sales_value"]], column=cols["sales_value"], role="sales value", source=src, allow_empty=True
    )
    lines[C.QUANTITY] = qty
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(qty.to_numpy() != 0, sales.to_numpy() / qty.to_numpy(), np.nan)
    lines[C.PRICE] = price
    notes.append(f"{src}: price = sales_value / quantity (what the shopper paid per unit, after discounts)")
    lines = _finish_lines(lines)
    _check_ids(lines, src, cols)
    non_products: dict[str, frozenset[str]] = {}
    if opts.catalog is not None:
        cat: pd.DataFrame | None = _read_catalog_file(opts.catalog, None)
        notes.append(f"catalog read from {opts.catalog.name}")
    else:
        pfile = _find(
            path.parent, ["products.csv", "products.csv.gz", "products.parquet", "product.csv", "product.csv.gz"]
        )
        if pfile is None:
            cat = None
            notes.append(
                "no products table next to the transactions (products.csv[.gz]); no catalog text, and fuel, "
                "coupons and other non-products cannot be recognised"
            )
        else:
            cat, note, non_products = _cj_catalog(pfile)
            notes.append(note)
            if non_products:
                n_ids = sum(len(v) for v in non_products.values())
                notes.append(
                    f"non_product rule: {n_ids:,} products of {pfile.name} are fuel, coupons, gift cards, deposits, "
                    "donations, manual sales or other COUPON/MISC ITEMS (docs/data.md lists the departments, "
                    "categories and types)"
                )
    if opts.catalog is not None:
        notes.append("non_product rule: only the item-id pattern applies (no products table read)")
    return RawData(
        lines=lines,
        catalog=cat,
        notes=tuple(n for n in notes if n),
        source=src,
        non_product_items=non_products,
    )
