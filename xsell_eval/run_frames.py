"""The run's per-row output tables, built lean and written exactly as the plain tables were.

A 30M-line run has 576k test queries; three adapters' top-20 lists make a 34.6M-row
recommendations table. Built as one frame per adapter and concatenated, with the adapter and
item ids as string columns, it took ~1.7 GB and twice that while concatenating. Here it is
filled once, into preallocated columns, with the adapter and the item id as categoricals
(1- and 4-byte codes): about 23 bytes a row, no concat copy.

The files do not change: :func:`write_parquet` writes a categorical column as its categories'
dtype (the strings the old table held), in row-group-sized slices, with the same schema and
pandas metadata, so ``recommendations.parquet`` is byte for byte the file ``DataFrame.to_parquet``
wrote before, and reads back as the same strings (``tests/test_run_frames.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.queries import Recommendations

#: rows per Parquet row group: pyarrow's default (``write_table``'s ``row_group_size=None``); slices of this
#: many rows give the row groups of a one-shot write
ROW_GROUP_ROWS = 1024 * 1024


def _codes_dtype(n: int) -> type[np.signedinteger]:
    """The smallest signed integer type that holds the codes 0..n-1 (and -1)."""
    for t in (np.int8, np.int16, np.int32):
        if n <= np.iinfo(t).max:
            return t
    return np.int64


def recommendations_frame(
    lists: Sequence[tuple[str, Recommendations]], query_id: np.ndarray, item_ids: np.ndarray
) -> pd.DataFrame:
    """Every adapter's lists in long format: query_id, adapter, rank (1-based), item_id, score.

    Rows: adapter by adapter in the order given, then query by query, then by rank; padding
    (item -1) dropped. The same rows and values as concatenating each
    ``Recommendations.to_frame(query_id, item_ids)`` labelled with its name, with ``adapter``
    and ``item_id`` as categoricals (their categories hold the strings) instead of strings.
    """
    if not lists:
        return pd.DataFrame()
    masks = [r.items >= 0 for _, r in lists]
    counts = [m.sum(axis=1) for m in masks]
    total = int(sum(int(c.sum()) for c in counts))
    names = list(dict.fromkeys(name for name, _ in lists))
    items_idx = pd.Index(np.asarray(item_ids))
    qid = np.asarray(query_id)
    q = np.empty(total, dtype=qid.dtype)
    adapter = np.empty(total, dtype=_codes_dtype(len(names)))
    rank = np.empty(total, dtype=np.int16)
    item = np.empty(total, dtype=_codes_dtype(len(items_idx)))
    score = np.empty(total, dtype=np.result_type(*(r.scores.dtype for _, r in lists)))
    pos = 0
    for (name, r), mask, per_row in zip(lists, masks, counts, strict=True):
        n, k = r.items.shape
        end = pos + int(per_row.sum())
        q[pos:end] = np.repeat(qid, per_row)  # the mask is read row by row: each query's count of slots
        adapter[pos:end] = names.index(name)
        rank[pos:end] = np.broadcast_to(np.arange(1, k + 1, dtype=np.int16), (n, k))[mask]
        item[pos:end] = r.items[mask]
        score[pos:end] = r.scores[mask]
        pos = end
    return pd.DataFrame(
        {
            C.QUERY: q,
            C.ADAPTER: pd.Categorical.from_codes(adapter, categories=pd.Index(names)),
            C.RANK: rank,
            C.ITEM: pd.Categorical.from_codes(item, categories=items_idx),
            C.SCORE: score,
        },
        copy=False,
    )


def _lean(dtype: object) -> bool:
    """Whether a column of this dtype is stored differently from the plain table it stands for."""
    return isinstance(dtype, pd.CategoricalDtype) or (
        isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype).startswith("list<")
    )


def _plain(df: pd.DataFrame, *, lists: bool = True) -> pd.DataFrame:
    """``df`` as the plain table: categoricals as their categories' dtype; Arrow lists as Python lists.

    ``lists=False`` keeps the Arrow list columns (they convert to Parquet as they are).
    """
    out = {}
    for c in df.columns:
        t = df[c].dtype
        if isinstance(t, pd.CategoricalDtype):
            out[c] = df[c].astype(t.categories.dtype)
        elif lists and _lean(t):
            out[c] = pd.Series(df[c].tolist(), index=df.index, dtype=object)
    return df.assign(**out) if out else df


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """``df.to_parquet(path, index=False)`` of the plain table ``df`` stands for (the same file).

    Categorical columns are written as their values, Arrow list columns (``Queries.to_frame``)
    with the pandas metadata of Python-list columns. A frame without such columns, or without
    rows, is written by ``to_parquet`` itself. Otherwise the rows go in slices of
    :data:`ROW_GROUP_ROWS`, each converted on its own (the plain copy of a 34.6M-row table would
    cost another GB), into the same schema, pandas metadata, row groups and compression (snappy)
    as ``to_parquet`` of the plain table.
    """
    if len(df) == 0 or not any(_lean(t) for t in df.dtypes):
        _plain(df).to_parquet(path, index=False)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    head = df.iloc[:1]
    types = pa.Table.from_pandas(_plain(head, lists=False), preserve_index=False).schema
    # the pandas metadata of the plain table (numpy_type object for the lists), with these Arrow types
    meta = pa.Table.from_pandas(_plain(head), schema=types, preserve_index=False).schema.metadata
    schema = types.with_metadata(meta)
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, len(df), ROW_GROUP_ROWS):
            part = pa.Table.from_pandas(df.iloc[start : start + ROW_GROUP_ROWS], preserve_index=False)
            for i, field in enumerate(schema):  # a categorical comes as a dictionary array: decoded by Arrow
                if part.schema.field(i).type != field.type:
                    part = part.set_column(i, field, part.column(i).cast(field.type))
            writer.write_table(part)


__all__ = ["ROW_GROUP_ROWS", "recommendations_frame", "write_parquet"]
