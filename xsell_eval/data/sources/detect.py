"""Auto-detection: pick a loader from a file's name, a folder's files or a table's columns."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

from xsell_eval.columns import Columns as C
from xsell_eval.data.sources._parsing import (
    _head_lines,
    _peek_columns,
    _require_file,
    _suffix,
)
from xsell_eval.data.sources.registry import LOADERS
from xsell_eval.errors import DataError


def _columns_match(found: Sequence[str], *groups: Sequence[str]) -> bool:
    lower = {f.lower() for f in found}
    return all(any(a.lower() in lower for a in g) for g in groups)


def detect_loader(path: str | Path, *, columns: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Pick a loader from the file name and columns.

    Returns:
        ``(loader name, reason)``; the reason is a sentence for the cleaning notes.

    Raises:
        DataError: the file is missing or matches no loader (the message lists what was
            found and the loader names).
    """
    path = _require_file(Path(path))
    known = ", ".join(LOADERS)
    if path.is_dir():
        names = {p.name.lower() for p in path.iterdir()}
        if columns or names & {"interactions.csv", "interactions.csv.gz", "interactions.parquet", "interactions.pq"}:
            fmt = (
                "parquet"
                if names & {"interactions.parquet", "interactions.pq"}
                and not names & {"interactions.csv", "interactions.csv.gz"}
                else "csv"
            )
            return fmt, f"folder {path.name!r} holds an interactions file"
        if names & {"orders.csv", "orders.csv.gz"} and any(n.startswith("order_products__") for n in names):
            return "instacart", f"folder {path.name!r} holds orders.csv and order_products__*.csv"
        if names & {"u.data", "ratings.csv", "ratings.dat"}:
            return "movielens", f"folder {path.name!r} holds a MovieLens ratings file"
        if any(n.startswith("transaction") for n in names):
            return "completejourney", f"folder {path.name!r} holds a transactions file"
        if any(n.startswith("online_retail") for n in names):
            return "online-retail", f"folder {path.name!r} holds an online_retail file"
        raise DataError(
            f"cannot tell which loader reads the folder {str(path)!r} (files: {sorted(names)[:15]}); "
            f"pass --loader NAME, one of: {known}"
        )
    lname = path.name.lower()
    if columns:
        fmt = "parquet" if _suffix(path) in (".parquet", ".pq") else "csv"
        return fmt, "a column mapping was given"
    if lname.startswith("u.data") or lname == "ratings.dat":
        return "movielens", f"file name {path.name!r}"
    found = _peek_columns(path)
    if _columns_match(found, ["InvoiceNo", "Invoice"], ["StockCode"]):
        return "online-retail", "columns InvoiceNo/Invoice and StockCode (UCI Online Retail)"
    if _columns_match(found, ["household_id", "household_key"], ["basket_id"], ["product_id"], ["sales_value"]):
        return "completejourney", "columns household_id, basket_id, product_id, sales_value (Complete Journey)"
    if _columns_match(found, ["order_id"], ["user_id"], ["order_number"], ["product_id"]):
        return "instacart", "columns order_id, user_id, order_number, product_id (Instacart, merged file)"
    if _columns_match(found, ["userId"], ["movieId"], ["rating"]):
        return "movielens", "columns userId, movieId, rating (MovieLens)"
    canonical = [c for c in (C.BASKET, C.ITEM, C.USER) if c in found]
    if canonical:
        fmt = "parquet" if _suffix(path) in (".parquet", ".pq") else "csv"
        return fmt, f"canonical column(s) {', '.join(repr(c) for c in canonical)}"
    if _suffix(path) not in (".parquet", ".pq"):
        head = [ln for ln in _head_lines(path, 50) if ln.strip()]
        widths = {ln.count(",") for ln in head}
        if len(head) >= 2 and len(widths) > 1:
            return "baskets", "lines have different numbers of comma-separated fields (one basket per line)"
    raise DataError(
        f"cannot tell which loader reads {str(path)!r}: its first line has columns {found[:12]}"
        f"{_closest_signature(found)}; pass --loader NAME (one of: {known}) or map canonical columns with "
        f"--columns {C.BASKET}=...,{C.ITEM}=..."
    )


_SIGNATURES: dict[str, tuple[str, ...]] = {
    "online-retail": ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"),
    "completejourney": ("household_id", "basket_id", "product_id", "quantity", "sales_value", "transaction_timestamp"),
    "instacart": ("order_id", "user_id", "order_number", "product_id"),
    "movielens": ("userId", "movieId", "rating", "timestamp"),
    "csv": (C.BASKET, C.ITEM),
}


def _closest_signature(found: Sequence[str]) -> str:
    """`` — it looks like 'online-retail' ('Invoice_No' ~ 'InvoiceNo')`` when most columns match."""
    lower = {f.lower(): f for f in found}
    best: tuple[float, str, list[str]] = (0.0, "", [])
    for name, sig in _SIGNATURES.items():
        score, pairs = 0.0, []
        for col in sig:
            if col.lower() in lower:
                score += 1
                continue
            close = difflib.get_close_matches(col.lower(), list(lower), n=1, cutoff=0.75)
            if close:
                score += 0.75
                pairs.append(f"{lower[close[0]]!r} ~ {col!r}")
        if score / len(sig) > best[0]:
            best = (score / len(sig), name, pairs)
    share, name, pairs = best
    if share < 0.5:
        return ""
    detail = f" ({', '.join(pairs)})" if pairs else ""
    return f" — it looks like '{name}' data with misnamed columns{detail}"
