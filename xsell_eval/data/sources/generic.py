"""Generic CSV / Parquet in canonical columns (or a ``--columns`` mapping)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.sources._parsing import (
    _MAPPABLE,
    _TABLE_SUFFIXES,
    _TEXT_COLUMNS,
    _USER_COLUMNS,
    LoadOptions,
    RawData,
    _check_ids,
    _datetimes,
    _find,
    _finish_lines,
    _missing_column,
    _name,
    _numeric,
    _peek_columns,
    _read_catalog_file,
    _read_table_typed,
    _sniff_sep,
    _suffix,
    _user_attributes,
)
from xsell_eval.errors import ConfigError, DataError


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


def resolve_generic_columns(found: list[str], columns: Mapping[str, str] | None, src: str) -> dict[str, str]:
    """Canonical column -> column of the file, from a ``--columns`` mapping and same-named columns.

    Raises ConfigError for an unknown canonical key and DataError (naming the file, the column and the
    columns found) for a mapped or required column the file does not have. The Spark engine uses it too.
    """
    mapping = dict(columns or {})
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
    return resolved


def _read_generic(path: Path, opts: LoadOptions, fmt: str) -> RawData:
    file, catalog = _generic_files(path, fmt, opts.catalog)
    src = _name(file)
    sep = _sniff_sep(file)
    found = _peek_columns(file, sep=sep)
    resolved = resolve_generic_columns(found, opts.columns, src)
    typed: dict[str, Any] = {
        resolved[c]: "category" for c in (C.USER, C.BASKET, C.ITEM, *_TEXT_COLUMNS, *_USER_COLUMNS) if c in resolved
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
    attrs: dict[str, pd.Series] = {}
    for col, srccol in resolved.items():
        values = df[srccol]
        if col in _USER_COLUMNS:
            attrs[col] = values  # per-user (RawData.users), not a line column
        elif col in (C.QUANTITY, C.PRICE, C.RATING):
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
    users = None
    if attrs and C.USER in lines.columns:
        users = _user_attributes(lines[C.USER], attrs)
    elif attrs:
        notes.append(f"{src}: {', '.join(repr(resolved[c]) for c in attrs)} ignored: per-user, and there is no user id")
    cat = _read_catalog_file(catalog, opts.columns) if catalog is not None else None
    if catalog is not None:
        notes.append(f"catalog read from {_name(catalog)}")
    return RawData(lines=lines, catalog=cat, notes=tuple(n for n in notes if n), source=src, users=users)
