"""Parsing toolkit shared by every source: values handed to cleaning, file sniffing,
table reading (pyarrow), typed column converters whose errors name file, column and row.

Every reader returns canonical lines whose index is the 1-based data row of the source
file (header excluded), so each message can point at the row that caused it.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.errors import DataError

_LINE_COLUMNS: tuple[str, ...] = (*C.INTERACTIONS, C.RATING)
_TEXT_COLUMNS: tuple[str, ...] = (C.TITLE, C.DESCRIPTION, C.CATEGORY)
_USER_COLUMNS: tuple[str, ...] = C.USER_ATTRIBUTES  # per-user attributes: RawData.users, not the lines
_MAPPABLE: tuple[str, ...] = (*_LINE_COLUMNS, *_TEXT_COLUMNS, *_USER_COLUMNS)
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
        users: per-user attributes (``user_id`` plus e.g. ``country``), one row per user id,
            from :func:`_user_attributes`; ``None`` when the source has none. Not cleaned:
            :class:`~xsell_eval.data.dataset.Dataset` keeps the rows of the users that survive.
    """

    lines: pd.DataFrame
    catalog: pd.DataFrame | None = None
    cancelled: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    source: str = ""
    non_product_items: Mapping[str, frozenset[str]] = field(default_factory=dict)
    users: pd.DataFrame | None = None


@dataclass(frozen=True)
class LoadOptions:
    """Options passed to every loader function."""

    columns: Mapping[str, str] | None = None
    catalog: Path | None = None


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


def _most_frequent(key_codes: np.ndarray, n_keys: int, text: pd.Series) -> np.ndarray:
    """Per key code ``0..n_keys-1``, the most frequent non-empty value of ``text`` (a :func:`_text`
    categorical aligned with ``key_codes``) on its rows; ties: alphabetical first; None: no value."""
    text_codes = text.cat.codes.to_numpy()
    ok = (key_codes >= 0) & (text_codes >= 0)
    values = np.full(n_keys, None, dtype=object)
    if ok.any():
        pairs = pd.DataFrame({"i": key_codes[ok], "t": text_codes[ok]})
        counts = pairs.value_counts(sort=False).rename("n").reset_index()
        counts["text"] = np.asarray(text.cat.categories, dtype=object)[counts["t"].to_numpy()]
        best = counts.sort_values(["n", "text"], ascending=[False, True], kind="stable").drop_duplicates("i")
        values[best["i"].to_numpy()] = best["text"].to_numpy()
    return values


def _catalog_from_lines(lines: pd.DataFrame) -> pd.DataFrame | None:
    """Per item, the most frequent non-empty value of each line-level text column (ties: alphabetical)."""
    cols = [c for c in _TEXT_COLUMNS if c in lines.columns]
    if not cols:
        return None
    items = _ids(lines[C.ITEM]).cat.remove_unused_categories()
    item_codes = items.cat.codes.to_numpy()
    cat = pd.DataFrame({C.ITEM: np.asarray(items.cat.categories, dtype=object)})
    for col in cols:
        cat[col] = _most_frequent(item_codes, len(cat), _text(lines[col]))
    return cat


def _user_attributes(users: pd.Series, attributes: Mapping[str, pd.Series]) -> pd.DataFrame | None:
    """Per-user attributes (:data:`RawData.users`) from line-level source columns, in the reading pass.

    The rule: a user's value is the most frequent non-empty one over *all* their lines of the
    source file, before cleaning (a user's country is a fact about the customer, so no ``--clean``
    switch moves a customer to another country); ties go to the alphabetically first value.

    Args:
        users: the lines' user ids (as :func:`_finish_lines` leaves them; missing = guest).
        attributes: canonical attribute (e.g. ``country``) -> the raw column, aligned with ``users``.

    Returns:
        ``user_id`` plus one column per attribute (None: no value), one row per user id; None when
        there are no attributes.
    """
    if not attributes:
        return None
    ids = _ids(users).cat.remove_unused_categories()
    codes = ids.cat.codes.to_numpy()
    out = pd.DataFrame({C.USER: np.asarray(ids.cat.categories, dtype=object)})
    for col, values in attributes.items():
        out[col] = _most_frequent(codes, len(out), _text(values))
    return out


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
