"""Loaders: raw files in, a cleaned :class:`~xsell_eval.data.dataset.Dataset` out.

One function, :func:`load_dataset`, and a registry, :data:`LOADERS`::

    file / folder ──► loader (LOADERS[name]) ──► canonical lines (+ catalog, cancellation mask, notes)
                                                   │  cleaning.clean(policy)  — counted, never silent
                                                   ▼
                                               Dataset.from_frames(..., cleaning=CleaningReport)

Every loader produces canonical lines (:class:`~xsell_eval.columns.Columns`) whose index
is the 1-based data row of the source file (header excluded, blank lines not counted),
so every message can point at the row that caused it. Bad input stops with one
:class:`~xsell_eval.errors.DataError` naming the file, the column, the row and what was
expected — never a pandas traceback.

Example:
    >>> from xsell_eval.data.loaders import load_dataset
    >>> ds = load_dataset()  # the embedded UCI Online Retail  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.cleaning import CleaningPolicy, clean, item_in_mask
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, unknown_name

#: File name of the embedded default dataset inside the data directory.
EMBEDDED_FILE = "online_retail.csv.gz"
#: Environment variable that overrides the data directory.
DATA_DIR_ENV = "XSELL_DATA_DIR"

_LINE_COLUMNS: tuple[str, ...] = (*C.INTERACTIONS, C.RATING)
_TEXT_COLUMNS: tuple[str, ...] = (C.TITLE, C.DESCRIPTION, C.CATEGORY)
_MAPPABLE: tuple[str, ...] = (*_LINE_COLUMNS, *_TEXT_COLUMNS)
_TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", ".parquet", ".pq")


# ====================================================================== values
@dataclass(frozen=True)
class RawData:
    """What a loader hands to cleaning.

    Attributes:
        lines: canonical lines; optional line-level ``title``/``description``/``category``
            (the catalog is then derived from the lines that survive cleaning).
        catalog: a separate canonical catalog table, or ``None``.
        cancelled: boolean mask of cancellation lines, ``None`` if the source has no marker.
        notes: facts for the cleaning report (synthetic timestamps, skipped lines...).
        source: short file name for messages.
        non_product_items: item ids that the source's product hierarchy marks as
            non-products, by reason (Complete Journey: fuel, coupons...); cleaning's
            ``non_product`` rule applies to them as to ``non_product_pattern``.
    """

    lines: pd.DataFrame
    catalog: pd.DataFrame | None = None
    cancelled: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    source: str = ""
    non_product_items: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadOptions:
    """Options passed to every loader function."""

    columns: Mapping[str, str] | None = None
    catalog: Path | None = None


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


# ====================================================================== small helpers
def _name(path: Path) -> str:
    return path.name or str(path)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".csv.gz", ".tsv.gz", ".txt.gz", ".parquet", ".pq", ".csv", ".tsv", ".txt", ".gz", ".xlsx", ".xls"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def _stem(path: Path) -> str:
    name = path.name
    for s in (".gz", ".csv", ".tsv", ".txt", ".parquet", ".pq", ".data", ".dat"):
        if name.lower().endswith(s):
            name = name[: -len(s)]
    return name or path.name


def _require_file(path: Path, what: str = "data file") -> Path:
    if not path.exists():
        hint = ""
        parent = path.parent
        if parent.is_dir():
            close = difflib.get_close_matches(path.name, [p.name for p in parent.iterdir()], n=3, cutoff=0.5)
            if close:
                hint = f" Did you mean {' or '.join(repr(str(parent / c)) for c in close)}?"
        else:
            hint = f" (folder {str(parent)!r} does not exist either)"
        raise DataError(f"{what} not found: {str(path)!r}.{hint}")
    return path


def _suggest(name: str, found: Sequence[str]) -> str:
    lower = {f.lower(): f for f in found}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(lower[c]) for c in close)}?" if close else ""


def _missing_column(source: str, column: str, found: Sequence[str], *, role: str = "", hint: str = "") -> DataError:
    what = f"column {column!r}" + (f" ({role})" if role else "")
    tail = f" — {hint}" if hint else ""
    return DataError(f"{source}: missing {what}; found columns {list(found)}{_suggest(column, found)}{tail}")


def _head_lines(path: Path, n: int = 20) -> list[str]:
    """First ``n`` text lines (gzip aware); [] for binary files."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            out = []
            for _ in range(n):
                line = fh.readline()
                if not line:
                    break
                out.append(line.rstrip("\r\n"))
            return out
    except (OSError, EOFError) as exc:
        raise DataError(f"{_name(path)}: cannot read the file: {exc}") from None


def _sniff_sep(path: Path) -> str:
    """The delimiter of a text table: the most frequent of ``, ; TAB |`` in its header line."""
    if _suffix(path) in (".parquet", ".pq"):
        return ","
    head = _head_lines(path, 1)
    if not head:
        return ","
    counts = {sep: head[0].count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] > 0 else ","


def _peek_columns(path: Path, *, sep: str | None = None) -> list[str]:
    """Column names of a CSV/Parquet file without reading it (``sep=None``: sniffed)."""
    sep = sep or _sniff_sep(path)
    if _suffix(path) in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:
            raise DataError(f"{_name(path)}: cannot read as Parquet: {exc}") from None
    head = _head_lines(path, 1)
    if not head:
        raise DataError(f"{_name(path)}: the file is empty; expected a header line with column names")
    return [c.strip().strip('"') for c in head[0].split(sep)]


def _read_table(
    path: Path,
    *,
    usecols: Sequence[str] | None = None,
    dtype: Mapping[str, Any] | str | None = None,
    sep: str = ",",
    header: int | None = 0,
    names: Sequence[str] | None = None,
    fmt: str | None = None,
) -> pd.DataFrame:
    """Read a CSV (pyarrow engine when possible) or Parquet file; errors become DataError.

    The returned index is the 1-based data row (header excluded).
    """
    _require_file(path)
    suffix = _suffix(path)
    if suffix in (".xlsx", ".xls"):
        raise DataError(
            f"{_name(path)}: Excel files are not read directly; save the sheet as CSV "
            "(e.g. pandas.read_excel(...).to_csv('data.csv', index=False)) and load that"
        )
    kind = fmt or ("parquet" if suffix in (".parquet", ".pq") else "csv")
    try:
        if kind == "parquet":
            df = pd.read_parquet(path, columns=list(usecols) if usecols else None)
        else:
            engine: Any = "pyarrow" if len(sep) == 1 else "python"
            df = pd.read_csv(
                path,
                sep=sep,
                header=header,
                names=list(names) if names else None,
                usecols=list(usecols) if usecols else None,
                dtype=(dict(dtype) if isinstance(dtype, Mapping) else dtype) if dtype else None,
                keep_default_na=False,
                na_values=[""],
                engine=engine,
            )
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{_name(path)}: cannot read as {kind.upper()}: {text}") from None
    df.index = pd.RangeIndex(1, len(df) + 1)
    return df


def _read_table_typed(path: Path, *, usecols: Sequence[str], typed: Mapping[str, Any], **kw: Any) -> pd.DataFrame:
    """Fast path with numeric dtypes; on a conversion error re-read as text so that the
    column converters can name the offending row and value."""
    try:
        return _read_table(path, usecols=usecols, dtype=typed, **kw)
    except DataError:
        text = {c: "string" for c in usecols}
        return _read_table(path, usecols=usecols, dtype=text, **kw)


def _where(label: Any) -> str:
    return f"data row {label}"


def _categorical(s: pd.Series, *, float_ids: bool) -> pd.Series:
    """Stripped strings as a categorical (empty = missing), computed on the distinct values only.

    Categoricals keep cleaning fast (duplicate checks and row selection work on integer
    codes); :class:`Dataset` turns them into plain strings. With ``float_ids``, ids rendered
    as floats (``17850.0``, a common export artefact) become ``17850``.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()
        uniq = pd.Series(s.cat.categories)
    else:
        if float_ids and pd.api.types.is_float_dtype(s):
            whole = s.dropna()
            if len(whole) and bool((whole == np.floor(whole)).all()):
                s = s.astype("Int64")
        codes, values = pd.factorize(s, use_na_sentinel=True)
        uniq = pd.Series(values)
    u = uniq.astype("string").str.strip()
    u = u.mask(u == "")
    if float_ids:
        valid = u.dropna()
        if len(valid) and bool(valid.str.fullmatch(r"-?\d+\.0+").all()):
            u = u.str.replace(r"\.0+$", "", regex=True)
    new_codes, new_uniq = pd.factorize(u, use_na_sentinel=True)
    lookup = np.append(new_codes, -1)  # index -1 (missing) -> -1
    mapped = lookup[np.where(codes >= 0, codes, len(new_codes))]
    cats = pd.Index(np.asarray(new_uniq, dtype=object), dtype="string")
    return pd.Series(pd.Categorical.from_codes(mapped, categories=cats), index=s.index)


def _cat_mask(s: pd.Series, test: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """Evaluate ``test`` on the categories of a categorical and map it to the rows (missing -> False)."""
    cats = pd.Series(s.cat.categories).astype("string")
    hit = np.append(test(cats).fillna(False).to_numpy(dtype=bool), False)
    codes = s.cat.codes.to_numpy()
    return hit[np.where(codes >= 0, codes, len(cats))]


def _ids(s: pd.Series) -> pd.Series:
    """IDs as stripped strings (categorical; missing = NA); ``17850.0`` renderings become ``17850``."""
    return _categorical(s, float_ids=True)


def _text(s: pd.Series) -> pd.Series:
    """Free text stripped (categorical; empty = NA)."""
    return _categorical(s, float_ids=False)


def _numeric(s: pd.Series, *, column: str, role: str, source: str, allow_empty: bool) -> pd.Series:
    """Float series; a non-numeric (or, unless allowed, empty) cell is a DataError with row and value."""
    if pd.api.types.is_bool_dtype(s):
        s = s.astype("float64")
    if pd.api.types.is_numeric_dtype(s):
        out = s.astype("float64")
        bad = out.isna().to_numpy()
        if not allow_empty and bad.any():
            first = s.index[int(np.flatnonzero(bad)[0])]
            raise DataError(
                f"{source}: column {column!r} ({role}) is empty at {_where(first)} "
                f"({int(bad.sum()):,} empty cell(s)); expected a number"
            )
        return out
    txt = s.astype("string").str.strip()
    num = pd.to_numeric(txt, errors="coerce").astype("float64")
    empty = (txt.isna() | (txt == "")).to_numpy(dtype=bool)
    bad = num.isna().to_numpy(dtype=bool) & ~empty
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: column {column!r} ({role}) has a non-numeric value {str(txt.iloc[pos])!r} at "
            f"{_where(s.index[pos])} ({int(bad.sum()):,} such cell(s)); expected a number"
        )
    if not allow_empty and empty.any():
        pos = int(np.flatnonzero(empty)[0])
        raise DataError(
            f"{source}: column {column!r} ({role}) is empty at {_where(s.index[pos])} "
            f"({int(empty.sum()):,} empty cell(s)); expected a number"
        )
    return num


_TZ_RE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}:?\d{2}|Z|UTC)$")  # offset after a time
_DAYFIRST_RE = re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")  # ambiguous dd-mm vs mm-dd


def _datetimes(s: pd.Series, *, column: str, source: str, unit: str | None = None) -> tuple[pd.Series, str]:
    """Naive datetime64 series (tz-aware input converted to UTC) and a note ("" if none).

    Numbers are read as Unix seconds (``unit`` overrides). An unparseable, non-empty cell is
    a DataError naming the column, the row and the value; empty cells become NaT.
    """
    note = ""
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s
    elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        out = pd.to_datetime(s, unit=unit or "s", errors="coerce")  # type: ignore[call-overload]
        note = f"{source}: column {column!r} read as Unix time ({unit or 's'})"
    else:
        txt = s.astype("string").str.strip()
        txt = txt.mask(txt == "")
        valid = txt.dropna()
        if len(valid) == 0:
            return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]"), f"{source}: column {column!r} is empty"
        first = str(valid.iloc[0])
        if first.isdigit() and len(first) >= 9:
            num = _numeric(txt, column=column, role="timestamp", source=source, allow_empty=True)
            return _datetimes(num, column=column, source=source, unit=unit)
        utc = bool(_TZ_RE.search(first))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # format-inference chatter; we report ourselves
            try:
                out = pd.to_datetime(txt, errors="coerce", utc=utc)
            except (ValueError, TypeError, OverflowError):
                out = pd.to_datetime(txt, errors="coerce", utc=True, format="mixed")
            bad = (out.isna() & txt.notna()).to_numpy(dtype=bool)
            alt = pd.to_datetime(txt, errors="coerce", dayfirst=True) if bad.any() and not utc else None
        # e.g. 05-01-2015 read month-first, then 21-07-2015 fails: retry day-first
        if alt is not None and not (alt.isna() & txt.notna()).any():
            out, bad = alt, np.zeros(len(txt), dtype=bool)
            note = f"{source}: column {column!r} parsed day-first (e.g. {first!r} = {alt.dropna().iloc[0].date()})"
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            good = out.dropna()
            expected = (
                f"a date-time in the same format as the first readable one, {str(txt[out.notna()].iloc[0])!r}"
                if len(good)
                else "a date-time such as '2011-12-09 12:50:00' or '2011-12-09T12:50:00+01:00', or Unix seconds"
            )
            raise DataError(
                f"{source}: column {column!r} (timestamp) has an unparseable value {str(txt.iloc[pos])!r} at "
                f"{_where(s.index[pos])} ({int(bad.sum()):,} such cell(s)); expected {expected}"
            )
        if utc:
            note = f"{source}: timestamps carry UTC offsets and were converted to UTC"
        elif not note and _DAYFIRST_RE.match(first):
            parsed = out.dropna().iloc[0]
            order = "day-first" if parsed.day == int(re.split(r"[-/.]", first)[0]) != parsed.month else "month-first"
            note = (
                f"{source}: column {column!r} parsed {order} ({first!r} = {parsed.date()}); check the day/month order"
            )
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]"), note


def _resolve(
    found: Sequence[str], wanted: Mapping[str, Sequence[str]], *, source: str, required: Sequence[str]
) -> dict[str, str]:
    """Map each wanted key to the first accepted name present (exact, then case-insensitive)."""
    lower = {f.lower(): f for f in found}
    out: dict[str, str] = {}
    for key, accepted in wanted.items():
        hit = next((a for a in accepted if a in found), None)
        if hit is None:
            hit = next((lower[a.lower()] for a in accepted if a.lower() in lower), None)
        if hit is not None:
            out[key] = hit
        elif key in required:
            also = [a for a in accepted[1:]]
            extra = f" (also accepted: {', '.join(repr(a) for a in also)})" if also else ""
            raise DataError(
                f"{source}: missing column {accepted[0]!r}{extra}; found columns {list(found)}"
                f"{_suggest(accepted[0], found)}"
            )
    return out


def _catalog_from_lines(lines: pd.DataFrame) -> pd.DataFrame | None:
    """Per item, the most frequent non-empty value of each line-level text column (ties: alphabetical)."""
    cols = [c for c in _TEXT_COLUMNS if c in lines.columns]
    if not cols:
        return None
    items = _ids(lines[C.ITEM]).cat.remove_unused_categories()
    item_codes = items.cat.codes.to_numpy()
    cat = pd.DataFrame({C.ITEM: np.asarray(items.cat.categories, dtype=object)})
    for col in cols:
        text = _text(lines[col])
        text_codes = text.cat.codes.to_numpy()
        ok = (item_codes >= 0) & (text_codes >= 0)
        values = np.full(len(cat), None, dtype=object)
        if ok.any():
            pairs = pd.DataFrame({"i": item_codes[ok], "t": text_codes[ok]})
            counts = pairs.value_counts(sort=False).rename("n").reset_index()
            counts["text"] = np.asarray(text.cat.categories, dtype=object)[counts["t"].to_numpy()]
            best = counts.sort_values(["n", "text"], ascending=[False, True], kind="stable").drop_duplicates("i")
            values[best["i"].to_numpy()] = best["text"].to_numpy()
        cat[col] = values
    return cat


def _finish_lines(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order; IDs normalised."""
    out = pd.DataFrame(index=df.index)
    for col in (*_LINE_COLUMNS, *_TEXT_COLUMNS):
        if col in df.columns:
            if col in (C.USER, C.BASKET, C.ITEM):
                out[col] = _ids(df[col])
            elif col in _TEXT_COLUMNS:
                out[col] = _text(df[col])
            else:
                out[col] = df[col]
    return out


def _check_ids(lines: pd.DataFrame, source: str, names: Mapping[str, str]) -> None:
    """Empty basket or item ids are errors (with the row), before cleaning."""
    for col in (C.BASKET, C.ITEM):
        bad = lines[col].isna().to_numpy(dtype=bool)
        if bad.any():
            first = lines.index[int(np.flatnonzero(bad)[0])]
            raise DataError(
                f"{source}: column {names.get(col, col)!r} ({col}) is empty at {_where(first)} "
                f"({int(bad.sum()):,} empty cell(s)); every line needs a {col}"
            )


def _find(folder: Path, candidates: Sequence[str]) -> Path | None:
    for c in candidates:
        p = folder / c
        if p.is_file():
            return p
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ====================================================================== generic csv / parquet
def _read_catalog_file(path: Path, columns: Mapping[str, str] | None) -> pd.DataFrame:
    src = _name(path)
    sep = _sniff_sep(path)
    found = _peek_columns(path, sep=sep)
    resolved: dict[str, str] = {}
    for col in (C.ITEM, *_TEXT_COLUMNS, C.PRICE):
        mapped = (columns or {}).get(col)
        if col in found:
            resolved[col] = col
        elif mapped and mapped in found:
            resolved[col] = mapped
    if C.ITEM not in resolved:
        raise _missing_column(src, C.ITEM, found, role="catalog item id")
    df = _read_table(path, usecols=list(resolved.values()), dtype=dict.fromkeys(resolved.values(), "string"), sep=sep)
    out = pd.DataFrame(index=df.index)
    out[C.ITEM] = _ids(df[resolved[C.ITEM]])
    for col in _TEXT_COLUMNS:
        if col in resolved:
            out[col] = _text(df[resolved[col]])
    if C.PRICE in resolved:
        out[C.PRICE] = _numeric(
            df[resolved[C.PRICE]], column=resolved[C.PRICE], role="price", source=src, allow_empty=True
        )
    return out


def _generic_files(path: Path, fmt: str, catalog: Path | None) -> tuple[Path, Path | None]:
    if not path.is_dir():
        return path, catalog
    order = ("parquet", "csv") if fmt == "parquet" else ("csv", "parquet")
    names = {"csv": ("{}.csv", "{}.csv.gz"), "parquet": ("{}.parquet", "{}.pq")}
    cands = [n.format("interactions") for f in order for n in names[f]]
    inter = _find(path, cands)
    if inter is None:
        raise DataError(
            f"{str(path)!r} is a folder without an interactions file; expected one of {cands} "
            f"(found {sorted(p.name for p in path.iterdir())[:20]})"
        )
    if catalog is None:
        catalog = _find(path, [n.format("catalog") for f in order for n in names[f]])
    return inter, catalog


def _read_generic(path: Path, opts: LoadOptions, fmt: str) -> RawData:
    file, catalog = _generic_files(path, fmt, opts.catalog)
    src = _name(file)
    sep = _sniff_sep(file)
    found = _peek_columns(file, sep=sep)
    mapping = dict(opts.columns or {})
    for key in mapping:
        if key not in _MAPPABLE:
            close = difflib.get_close_matches(key, _MAPPABLE, n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(
                f"columns mapping: unknown canonical column {key!r}.{hint} Expected keys among {list(_MAPPABLE)}"
            )
    resolved: dict[str, str] = {}
    for col in _MAPPABLE:
        if col in mapping:
            if mapping[col] not in found:
                raise _missing_column(src, mapping[col], found, role=f"mapped to {col}")
            resolved[col] = mapping[col]
        elif col in found:
            resolved[col] = col
    for col in C.REQUIRED_INTERACTIONS:
        if col not in resolved:
            raise _missing_column(src, col, found, hint=f"name it {col!r} or map it, e.g. --columns {col}=YOUR_COLUMN")
    typed: dict[str, Any] = {
        resolved[c]: "category" for c in (C.USER, C.BASKET, C.ITEM, *_TEXT_COLUMNS) if c in resolved
    }
    typed.update({resolved[c]: "float64" for c in (C.QUANTITY, C.PRICE, C.RATING) if c in resolved})
    df = _read_table_typed(
        file,
        usecols=list(dict.fromkeys(resolved.values())),
        typed=typed,
        fmt=None if _suffix(file) in _TABLE_SUFFIXES else fmt,
        sep=sep,
    )
    lines = pd.DataFrame(index=df.index)
    notes: list[str] = [f"{src}: columns separated by {sep!r}"] if sep != "," else []
    for col, srccol in resolved.items():
        values = df[srccol]
        if col in (C.QUANTITY, C.PRICE, C.RATING):
            lines[col] = _numeric(values, column=srccol, role=col, source=src, allow_empty=col != C.QUANTITY)
        elif col == C.TIMESTAMP:
            lines[col], note = _datetimes(values, column=srccol, source=src)
            notes.append(note)
        else:
            lines[col] = values
    lines = _finish_lines(lines)
    _check_ids(lines, src, resolved)
    if C.TIMESTAMP not in resolved:
        notes.append(f"{src}: no timestamp column; temporal splits are unavailable")
    cat = _read_catalog_file(catalog, opts.columns) if catalog is not None else None
    if catalog is not None:
        notes.append(f"catalog read from {_name(catalog)}")
    return RawData(lines=lines, catalog=cat, notes=tuple(n for n in notes if n), source=src)


# ====================================================================== UCI Online Retail (I and II)
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


# ====================================================================== Instacart
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


# ====================================================================== basket lists
def _read_baskets(path: Path, opts: LoadOptions) -> RawData:
    _require_file(path)
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder; the 'baskets' loader reads one file with one basket per line")
    src = _name(path)
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="strict") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{src}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected one basket per line"
        ) from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{src}: cannot read the file: {exc}") from None
    raw = pd.Series(text.splitlines(), dtype="string")
    raw.index = pd.RangeIndex(1, len(raw) + 1)  # 1-based line numbers
    empty = (raw.str.strip() == "").to_numpy(dtype=bool)
    items = raw[~empty].str.split(",").explode()
    blank_items = (items.str.strip() == "").to_numpy(dtype=bool)
    items = items[~blank_items]
    if len(items) == 0:
        raise DataError(f"{src}: no items found; expected one basket per line, items separated by commas")
    lines = pd.DataFrame({C.BASKET: items.index.astype(str), C.ITEM: items.to_numpy()}, index=items.index)
    lines[C.QUANTITY] = 1.0
    lines = _finish_lines(lines)
    notes = [
        f"{src}: one basket per line (basket_id = line number); no users, timestamps or prices — "
        "temporal splits, user-history and value metrics are unavailable"
    ]
    if empty.any():
        notes.append(
            f"{src}: skipped {int(empty.sum()):,} empty line(s), first at line {int(np.flatnonzero(empty)[0]) + 1}"
        )
    if blank_items.any():
        notes.append(f"{src}: ignored {int(blank_items.sum()):,} empty item field(s) (e.g. ',,' or a trailing comma)")
    cat = _read_catalog_file(opts.catalog, None) if opts.catalog else None
    return RawData(lines=lines, catalog=cat, notes=tuple(notes), source=src)


# ====================================================================== Complete Journey / dunnhumby
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


# ====================================================================== MovieLens
_ML_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def _ml_catalog(folder: Path) -> tuple[pd.DataFrame | None, str]:
    uitem = _find(folder, ["u.item"])
    if uitem is not None:
        try:
            df = pd.read_csv(uitem, sep="|", header=None, encoding="latin-1", dtype="string", keep_default_na=False)
        except Exception as exc:
            raise DataError(f"{uitem.name}: cannot read as '|'-separated MovieLens items: {exc}") from None
        if df.shape[1] < 5 + len(_ML_GENRES):
            raise DataError(f"{uitem.name}: expected {5 + len(_ML_GENRES)} '|'-separated fields, got {df.shape[1]}")
        flags = df.iloc[:, 5 : 5 + len(_ML_GENRES)].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() > 0
        genre_names = np.array(_ML_GENRES, dtype=object)
        long = pd.DataFrame({"row": np.nonzero(flags)[0], "g": genre_names[np.nonzero(flags)[1]]})
        joined = long.groupby("row")["g"].agg(" ".join).reindex(range(len(df)), fill_value="")
        first = long.drop_duplicates("row").set_index("row")["g"].reindex(range(len(df)), fill_value="")
        cat = pd.DataFrame(
            {
                C.ITEM: _ids(df[0]).to_numpy(),
                C.TITLE: df[1].to_numpy(),
                C.DESCRIPTION: joined.to_numpy(),
                C.CATEGORY: first.to_numpy(),
            }
        )
        return cat, "catalog from u.item: category = first listed genre, description = all genres"
    movies = _find(folder, ["movies.csv", "movies.dat"])
    if movies is None:
        return None, "no movies file (u.item / movies.csv) next to the ratings; no catalog text"
    if movies.name == "movies.dat":
        try:
            df = pd.read_csv(
                movies,
                sep="::",
                header=None,
                names=["movieId", "title", "genres"],
                engine="python",
                encoding="latin-1",
                dtype="string",
            )
        except Exception as exc:
            raise DataError(f"{movies.name}: cannot read as '::'-separated MovieLens movies: {exc}") from None
    else:
        df = _read_table(movies, dtype="string")
    for col in ("movieId", "title", "genres"):
        if col not in df.columns:
            raise _missing_column(movies.name, col, list(df.columns))
    genres = _text(df["genres"]).astype("string").fillna("")
    cat = pd.DataFrame(
        {
            C.ITEM: _ids(df["movieId"]).to_numpy(),
            C.TITLE: df["title"].to_numpy(),
            C.DESCRIPTION: genres.str.replace("|", " ", regex=False).to_numpy(),
            C.CATEGORY: genres.str.split("|").str[0].to_numpy(),
        }
    )
    return cat, f"catalog from {movies.name}: category = first listed genre, description = all genres"


def _read_movielens(path: Path, opts: LoadOptions) -> RawData:
    _require_file(path)
    if path.is_dir():
        file = _find(path, ["u.data", "ratings.csv", "ratings.dat"])
        if file is None:
            raise DataError(f"{str(path)!r}: no MovieLens ratings file (u.data, ratings.csv or ratings.dat)")
        path = file
    src = _name(path)
    raw_cols = ["userId", "movieId", "rating", "timestamp"]
    if path.name.lower().startswith("u.data") or _suffix(path) == ".tsv":
        df = _read_table(path, dtype="string", sep="\t", header=None, names=raw_cols)
    elif path.name.lower().endswith(".dat"):
        try:
            df = pd.read_csv(path, sep="::", header=None, names=raw_cols, engine="python", dtype="string")
        except Exception as exc:
            raise DataError(f"{src}: cannot read as '::'-separated MovieLens ratings: {exc}") from None
        df.index = pd.RangeIndex(1, len(df) + 1)
    else:
        found = _peek_columns(path)
        cols = _resolve(found, {c: (c,) for c in raw_cols}, source=src, required=raw_cols)
        df = _read_table_typed(
            path,
            usecols=list(cols.values()),
            typed={"userId": "string", "movieId": "string", "rating": "float64", "timestamp": "float64"},
        )
    lines = pd.DataFrame(index=df.index)
    lines[C.USER] = df["userId"]
    lines[C.ITEM] = df["movieId"]
    lines[C.RATING] = _numeric(df["rating"], column="rating", role="rating", source=src, allow_empty=False)
    secs = _numeric(df["timestamp"], column="timestamp", role="Unix seconds", source=src, allow_empty=False)
    ts = pd.to_datetime(secs, unit="s")
    lines[C.TIMESTAMP] = ts
    lines[C.QUANTITY] = 1.0
    lines = _finish_lines(lines)
    missing_user = lines[C.USER].isna().to_numpy(dtype=bool)
    if missing_user.any():
        first = lines.index[int(np.flatnonzero(missing_user)[0])]
        raise DataError(f"{src}: column 'userId' is empty at {_where(first)}; every rating needs a user")
    day = lines[C.TIMESTAMP].dt.strftime("%Y-%m-%d")
    lines[C.BASKET] = lines[C.USER].astype("string").str.cat(day, sep="@")
    lines = _finish_lines(lines)
    _check_ids(lines, src, {C.ITEM: "movieId"})
    notes = (
        f"{src}: MovieLens ratings as baskets — one basket per (user, UTC calendar day) of rating activity, "
        "basket_id = user@YYYY-MM-DD; every rating counts as an interaction (the value is kept in 'rating'); "
        "quantity = 1, no prices",
    )
    cat, note = (
        (_read_catalog_file(opts.catalog, None), f"catalog read from {opts.catalog.name}")
        if opts.catalog
        else _ml_catalog(path.parent)
    )
    return RawData(lines=lines, catalog=cat, notes=(*notes, note), source=src)


# ====================================================================== registry
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


# ====================================================================== detection
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


# ====================================================================== embedded data
def data_dir() -> Path:
    """The data directory: ``$XSELL_DATA_DIR`` if set, else ``<repo>/data``."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import xsell_eval

    return Path(xsell_eval.__file__).resolve().parents[1] / "data"


def default_data_path() -> Path:
    """Path of the embedded UCI Online Retail file.

    Raises:
        DataError: the file is absent, with how to get it.
    """
    path = data_dir() / EMBEDDED_FILE
    if not path.is_file():
        source = (
            f"${DATA_DIR_ENV}={os.environ[DATA_DIR_ENV]}"
            if os.environ.get(DATA_DIR_ENV, "").strip()
            else "the repository's data/ folder"
        )
        raise DataError(
            f"the embedded dataset {EMBEDDED_FILE} was not found at {str(path)!r} (looked in {source}). It ships in "
            "the git repository (data/online_retail.csv.gz), not in the wheel: clone the repository, or set "
            f"{DATA_DIR_ENV} to a folder holding {EMBEDDED_FILE} (UCI Online Retail, DOI 10.24432/C5BW33, saved as "
            "CSV with the original columns), or pass your own data with --data PATH."
        )
    return path


# ====================================================================== entry point
def load_dataset(
    path: str | Path | None = None,
    *,
    loader: str = "auto",
    columns: Mapping[str, str] | None = None,
    catalog: str | Path | None = None,
    policy: CleaningPolicy | str | None = None,
    name: str | None = None,
) -> Dataset:
    """Read, clean and index a dataset.

    Args:
        path: a file or folder; ``None`` means the embedded UCI Online Retail
            (``<repo>/data/online_retail.csv.gz`` or ``$XSELL_DATA_DIR``).
        loader: a key of :data:`LOADERS`, or ``"auto"`` to detect from names and columns
            (the choice is recorded in the cleaning notes).
        columns: ``{canonical: source}`` column mapping (``csv``/``parquet`` loaders only).
        catalog: optional catalog file in canonical columns (``item_id`` plus any of
            ``title``, ``description``, ``category``, ``price``).
        policy: cleaning switches. ``None`` means the loader's default (:class:`CleaningPolicy`
            defaults; the ``csv``/``parquet`` loaders keep guests); a string such as
            ``"missing_customer=keep,duplicates=keep"`` or ``"literature"`` is applied on top
            of the loader's default (see :meth:`CleaningPolicy.from_spec`).
        name: dataset name for reports (default: the file stem).

    Returns:
        A :class:`Dataset` whose ``cleaning`` is the :class:`CleaningReport` and whose
        ``meta`` holds ``loader``, ``path``, ``embedded`` and (for files) ``sha256``.

    Raises:
        DataError: missing file, missing column, unparseable value, empty after cleaning.
        UnknownNameError: unknown loader name.
        ConfigError: a column mapping given to a loader that does not take one.

    Example:
        >>> import pandas as pd, tempfile, pathlib
        >>> tmp = pathlib.Path(tempfile.mkdtemp()) / "lines.csv"
        >>> pd.DataFrame({"basket_id": [1, 1, 2], "item_id": ["a", "b", "a"]}).to_csv(tmp, index=False)
        >>> load_dataset(tmp).n_baskets
        2
    """
    embedded = path is None
    p = default_data_path() if path is None else Path(path).expanduser()
    _require_file(p)
    if _suffix(p) in (".xlsx", ".xls"):
        raise DataError(
            f"{_name(p)}: Excel files are not read directly; save the sheet as CSV "
            "(e.g. pandas.read_excel(...).to_csv('data.csv', index=False)) and load that"
        )
    notes: list[str] = []
    if loader == "auto":
        chosen, reason = (
            ("online-retail", "embedded default dataset") if embedded else detect_loader(p, columns=columns)
        )
        notes.append(f"loader '{chosen}' chosen automatically: {reason}")
    elif loader in LOADERS:
        chosen = loader
    else:
        raise unknown_name("loader", loader, [*LOADERS, "auto"])
    spec = LOADERS[chosen]
    if columns and not spec.accepts_columns:
        raise ConfigError(
            f"a column mapping (--columns) applies to the 'csv' and 'parquet' loaders only, not to '{chosen}', "
            "which knows its own column names"
        )
    cat_path = Path(catalog).expanduser() if catalog is not None else None
    if cat_path is not None:
        _require_file(cat_path, "catalog file")
    if policy is None or isinstance(policy, str):
        policy = CleaningPolicy.from_spec(policy, base=spec.default_policy)
    raw = spec.read(p, LoadOptions(columns=columns, catalog=cat_path))
    lines, report = clean(
        raw.lines,
        policy,
        source=raw.source or _name(p),
        cancelled=raw.cancelled,
        non_product_items=raw.non_product_items,
    )
    report = report.with_notes(*notes, *raw.notes)
    cat = raw.catalog if raw.catalog is not None else _catalog_from_lines(lines)
    if cat is not None and raw.non_product_items and policy.non_product == "drop":
        gone = item_in_mask(cat[C.ITEM], {i for ids in raw.non_product_items.values() for i in ids})
        if gone.any():
            cat = cat.loc[~gone]
            report = report.with_notes(
                f"catalog: {int(gone.sum()):,} non-product entries removed too (non_product=drop), so no adapter "
                "can recommend them"
            )
    keep = [c for c in _LINE_COLUMNS if c in lines.columns]
    meta: dict[str, Any] = {"loader": chosen, "path": str(p), "embedded": embedded}
    if p.is_file():
        meta["sha256"] = _sha256(p)
    ds_name = name or ("online_retail" if embedded else _stem(p))
    return Dataset.from_frames(
        lines[keep].reset_index(drop=True),
        cat,
        name=ds_name,
        cleaning=report,
        source=raw.source or _name(p),
        meta=meta,
    )


__all__ = [
    "DATA_DIR_ENV",
    "EMBEDDED_FILE",
    "LOADERS",
    "LoadOptions",
    "Loader",
    "RawData",
    "data_dir",
    "default_data_path",
    "detect_loader",
    "load_dataset",
]
