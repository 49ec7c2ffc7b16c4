"""Loaders: raw files in, a cleaned :class:`~xsell_eval.data.dataset.Dataset` out.

One function, :func:`load_dataset`, and a registry, :data:`LOADERS`::

    file / folder ──► loader (LOADERS[name]) ──► canonical lines (+ catalog, cancellation mask, notes)
                                                   │  + per-user attributes (country), read in the same pass
                                                   │  cleaning.clean(policy)  — counted, never silent
                                                   ▼
                                               Dataset.from_frames(..., cleaning=CleaningReport)

Every loader produces canonical lines (:class:`~xsell_eval.columns.Columns`) whose index
is the 1-based data row of the source file (header excluded, blank lines not counted),
so every message can point at the row that caused it. Bad input stops with one
:class:`~xsell_eval.errors.DataError` naming the file, the column, the row and what was
expected — never a pandas traceback.

The sources live in :mod:`xsell_eval.data.sources` (one module per format, a parsing
toolkit, the registry and auto-detection); this module is the entry point and keeps the
public names.

Example:
    >>> from xsell_eval.data.loaders import load_dataset
    >>> ds = load_dataset()  # the embedded UCI Online Retail  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xsell_eval.columns import Columns as C
from xsell_eval.data.cleaning import CleaningPolicy, clean, item_in_mask
from xsell_eval.data.dataset import Dataset
from xsell_eval.data.sources._parsing import (
    _LINE_COLUMNS,
    LoadOptions,
    RawData,
    _catalog_from_lines,
    _name,
    _require_file,
    _sha256,
    _stem,
    _suffix,
)
from xsell_eval.data.sources.completejourney import CJ_NON_PRODUCT_RULES
from xsell_eval.data.sources.detect import detect_loader
from xsell_eval.data.sources.registry import LOADERS, Loader
from xsell_eval.errors import ConfigError, DataError, unknown_name

#: File name of the embedded default dataset inside the data directory.
EMBEDDED_FILE = "online_retail.csv.gz"
#: Environment variable that overrides the data directory.
DATA_DIR_ENV = "XSELL_DATA_DIR"


# ====================================================================== embedded data
def data_dir() -> Path:
    """The data directory: ``$XSELL_DATA_DIR`` if set, else ``<repo>/data``."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data"  # <repo>/xsell_eval/data/loaders.py -> <repo>/data


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
        A :class:`Dataset` whose ``cleaning`` is the :class:`CleaningReport`, whose
        ``meta`` holds ``loader``, ``path``, ``embedded`` and (for files) ``sha256``, and whose
        ``users`` holds each customer's ``country`` when the source has one (Online Retail's
        ``Country``; ``country`` or ``--columns country=...`` for csv/parquet).

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
        users=raw.users,  # per-user attributes (country) from the reading pass: no stage re-reads the file
    )


__all__ = [
    "CJ_NON_PRODUCT_RULES",
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
