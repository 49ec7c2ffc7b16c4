"""Instacart: orders.csv + order_products__*.csv (+ products, aisles, departments)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.sources._parsing import (
    LoadOptions,
    RawData,
    _check_ids,
    _find,
    _finish_lines,
    _ids,
    _missing_column,
    _name,
    _numeric,
    _peek_columns,
    _read_catalog_file,
    _read_table,
    _read_table_typed,
    _require_file,
    _resolve,
    _text,
    _where,
)
from xsell_eval.errors import DataError

_INSTACART_ANCHOR = pd.Timestamp("2017-05-01")


def _instacart_timestamps(orders: pd.DataFrame) -> pd.Series:
    """Synthetic, per-user monotone timestamps from order_number / days_since_prior_order / hour.

    Each user's last order is placed on the anchor day (2017-05-01); earlier orders go back
    by the cumulative ``days_since_prior_order``. Within a user the order is exact (ties
    broken by order_number); across users the alignment is approximate.
    """
    o = orders.sort_values([C.USER, "order_number"], kind="stable")
    gap = o["days_since_prior_order"].fillna(0.0).to_numpy(dtype=float)
    cum = pd.Series(gap, index=o.index).groupby(o[C.USER].to_numpy()).cumsum()
    total = cum.groupby(o[C.USER].to_numpy()).transform("max")
    hour = o["order_hour_of_day"].fillna(0.0).to_numpy(dtype=float)
    hours = (cum - total).to_numpy() * 24.0 + hour
    mono = pd.Series(hours, index=o.index).groupby(o[C.USER].to_numpy()).cummax().to_numpy()
    seconds = np.round(mono * 3600.0) + o["order_number"].to_numpy(dtype=float)
    ts = _INSTACART_ANCHOR + pd.to_timedelta(seconds, unit="s")
    return pd.Series(ts, index=o.index).reindex(orders.index)


def _read_instacart_catalog(folder: Path) -> tuple[pd.DataFrame | None, str]:
    products = _find(folder, ["products.csv", "products.csv.gz"])
    if products is None:
        return None, "Instacart: no products.csv next to the orders; no catalog text"
    src = _name(products)
    found = _peek_columns(products)
    cols = _resolve(
        found,
        {
            "product_id": ("product_id",),
            "product_name": ("product_name",),
            "aisle_id": ("aisle_id",),
            "department_id": ("department_id",),
        },
        source=src,
        required=["product_id"],
    )
    p = _read_table(products, usecols=list(cols.values()), dtype=dict.fromkeys(cols.values(), "string"))
    cat = pd.DataFrame({C.ITEM: _ids(p[cols["product_id"]])}, index=p.index)
    if "product_name" in cols:
        cat[C.TITLE] = _text(p[cols["product_name"]])
    parts: list[pd.Series] = []
    for key, fname, label in (("department_id", "departments.csv", "department"), ("aisle_id", "aisles.csv", "aisle")):
        table = _find(folder, [fname, fname + ".gz"])
        if key not in cols or table is None:
            continue
        names = _read_table(table, dtype="string")
        if key not in names.columns or label not in names.columns:
            raise _missing_column(_name(table), label if key in names.columns else key, list(names.columns))
        lookup = pd.Series(_text(names[label]).astype("string").to_numpy(), index=_ids(names[key]).astype("string"))
        parts.append(_ids(p[cols[key]]).astype("string").map(lookup).astype("string"))
    if parts:
        category = parts[0].fillna("")
        for extra in parts[1:]:
            category = category.str.cat(extra.fillna(""), sep="/")
        cat[C.CATEGORY] = category.str.strip("/")
    return cat, "Instacart catalog: title = product_name, category = department/aisle"


def _read_instacart(path: Path, opts: LoadOptions) -> RawData:
    _require_file(path)
    notes: list[str] = []
    ints = {"order_number": "float64", "order_hour_of_day": "float64", "days_since_prior_order": "float64"}
    if path.is_dir():
        folder = path
        orders_file = _find(folder, ["orders.csv", "orders.csv.gz"])
        if orders_file is None:
            raise DataError(
                f"{str(folder)!r}: no orders.csv; expected the Instacart files orders.csv and order_products__*.csv"
            )
        line_files = [
            p
            for p in (
                _find(folder, [f"order_products__{s}.csv", f"order_products__{s}.csv.gz"]) for s in ("prior", "train")
            )
            if p
        ]
        if not line_files:
            raise DataError(
                f"{str(folder)!r}: no order_products__prior.csv or order_products__train.csv next to orders.csv"
            )
        osrc = _name(orders_file)
        ofound = _peek_columns(orders_file)
        ocols = _resolve(
            ofound,
            {c: (c,) for c in ("order_id", "user_id", "order_number", "order_hour_of_day", "days_since_prior_order")},
            source=osrc,
            required=["order_id", "user_id", "order_number", "days_since_prior_order"],
        )
        odf = _read_table_typed(
            orders_file,
            usecols=list(ocols.values()),
            typed={"order_id": "string", "user_id": "string", **{k: v for k, v in ints.items() if k in ocols}},
        )
        frames = []
        for lf in line_files:
            lfound = _peek_columns(lf)
            _resolve(
                lfound,
                {"order_id": ("order_id",), "product_id": ("product_id",)},
                source=_name(lf),
                required=["order_id", "product_id"],
            )
            part = _read_table(
                lf, usecols=["order_id", "product_id"], dtype={"order_id": "string", "product_id": "string"}
            )
            frames.append(part)
        lines_raw = pd.concat(frames)
        notes.append(f"Instacart lines from {', '.join(p.name for p in line_files)}")
        src = f"{folder.name}/{line_files[0].name}"
    else:
        folder = path.parent
        src = _name(path)
        found = _peek_columns(path)
        ocols = _resolve(
            found,
            {
                c: (c,)
                for c in (
                    "order_id",
                    "user_id",
                    "order_number",
                    "order_hour_of_day",
                    "days_since_prior_order",
                    "product_id",
                )
            },
            source=src,
            required=["order_id", "user_id", "order_number", "product_id"],
        )
        typed = {
            "order_id": "string",
            "user_id": "string",
            "product_id": "string",
            **{k: v for k, v in ints.items() if k in ocols},
        }
        df = _read_table_typed(path, usecols=list(ocols.values()), typed=typed)
        lines_raw = df[["order_id", "product_id"]]
        odf = df.drop(columns=["product_id"]).drop_duplicates("order_id")
        osrc = src
    orders = pd.DataFrame(index=odf.index)
    orders["order_id"] = _ids(odf["order_id"])
    orders[C.USER] = _ids(odf["user_id"])
    for c in ("order_number", "order_hour_of_day", "days_since_prior_order"):
        orders[c] = (
            _numeric(odf[c], column=c, role="order timing", source=osrc, allow_empty=c != "order_number")
            if c in odf.columns
            else np.nan
        )
    orders[C.TIMESTAMP] = _instacart_timestamps(orders)
    orders = orders.drop_duplicates("order_id")
    lines = pd.DataFrame(index=lines_raw.index)
    lines[C.BASKET] = _ids(lines_raw["order_id"])
    lines[C.ITEM] = _ids(lines_raw["product_id"])
    o = orders.set_index("order_id")
    pos = o.index.get_indexer(pd.Index(lines[C.BASKET].astype("string")))
    if (pos < 0).any():
        first = int(np.flatnonzero(pos < 0)[0])
        raise DataError(
            f"{src}: order_id {lines[C.BASKET].iloc[first]!r} at {_where(lines.index[first])} is not in "
            f"{osrc} ({int((pos < 0).sum()):,} line(s) without their order)"
        )
    lines[C.USER] = o[C.USER].to_numpy()[pos]
    lines[C.TIMESTAMP] = o[C.TIMESTAMP].to_numpy()[pos]
    lines[C.QUANTITY] = 1.0
    lines = _finish_lines(lines)
    _check_ids(lines, src, {C.BASKET: "order_id", C.ITEM: "product_id"})
    notes.append(
        "Instacart timestamps are SYNTHETIC: the data has no dates, so each user's orders are placed on a "
        f"common clock ending on {_INSTACART_ANCHOR.date()} (the user's last order) using "
        "days_since_prior_order (capped at 30 in the source) and order_hour_of_day; the order within a user "
        "is exact, the alignment across users is approximate"
    )
    notes.append("Instacart has no prices or quantities: quantity = 1, price unknown")
    cat, note = (
        (_read_catalog_file(opts.catalog, None), f"catalog read from {opts.catalog.name}")
        if opts.catalog
        else _read_instacart_catalog(folder)
    )
    notes.append(note)
    return RawData(lines=lines, catalog=cat, notes=tuple(notes), source=src)
