"""Basket lists: one basket per line, items separated by commas (e.g. Groceries)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.sources._parsing import (
    LoadOptions,
    RawData,
    _finish_lines,
    _name,
    _read_catalog_file,
    _require_file,
)
from xsell_eval.errors import DataError


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
