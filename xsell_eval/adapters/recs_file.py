"""Bring your own recommendations: score a shop's exported lists like any adapter.

``xsell-eval compare cf rules --recs production=recs.parquet`` (or a ``[recs]`` table in an
experiment file) reads a file of ranked lists and answers the test queries from it, so the
live system is scored on the same queries, metrics and statistics as the candidates.

File (CSV or Parquet), one row per recommended item::

    query_id | user_id   one of the two: the list answers that test query (ids from
                         `xsell-eval queries export`), or every test query of that customer
    rank                 1 = first; integers >= 1, unique within a list
    item_id              the shop's item id, as in the data

Lists are cut to the largest k; items in the query's cart are dropped (no adapter may
recommend them) and the list moves up; items the data does not know can never be hits and
are dropped too. A query without a list gets an empty list (a miss). Each of these is counted
and reported as a warning of the adapter. ``fit`` learns nothing: the lists were made by the
shop's system, which must not have seen the test period (the user's responsibility).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, NotFittedError
from xsell_eval.queries import Queries, Recommendations, Requests

KeyKind = Literal["query_id", "user_id"]

#: canonical column -> accepted names in a recommendations file (exact, then case-insensitive)
RECS_COLUMNS: dict[str, tuple[str, ...]] = {
    C.QUERY: (C.QUERY, "query"),
    C.USER: (C.USER, "user", "customer_id"),
    C.RANK: (C.RANK, "position"),
    C.ITEM: (C.ITEM, "item", "product_id", "sku"),
}


@dataclass(frozen=True, eq=False)
class RecsTable:
    """A validated recommendations file, sorted by key then rank.

    Attributes:
        source: the file name (for messages).
        key: ``"query_id"`` or ``"user_id"``: what a list answers.
        keys: the key of each row (int64 query ids or user id strings).
        ranks: int64 rank of each row (>= 1, unique within a key).
        items: item id string of each row.
        sha256: digest of the file (recorded with the results).
        duplicates_dropped: rows dropped because the item already appeared higher in the same list.
    """

    source: str
    key: KeyKind
    keys: np.ndarray
    ranks: np.ndarray
    items: np.ndarray
    sha256: str
    duplicates_dropped: int = 0

    @property
    def n_lists(self) -> int:
        """Distinct keys."""
        return int(pd.unique(self.keys).size)


def read_recs_file(path: str | Path) -> RecsTable:
    """Read and check a recommendations file (CSV or Parquet; columns in the module docstring).

    Raises:
        DataError: a missing file or column, an empty id, a rank that is not an integer >= 1,
            a non-integer query id, or a rank given twice in one list; the message names the
            file, the column, the data row (1-based, header excluded) and what was expected.
    """
    from xsell_eval.data.sources._parsing import (
        _ids,
        _name,
        _numeric,
        _peek_columns,
        _read_table,
        _require_file,
        _resolve,
        _sha256,
        _where,
    )

    p = Path(path).expanduser()
    _require_file(p, "recommendations file")
    if p.is_dir():
        raise DataError(f"{str(p)!r} is a folder; expected a recommendations file (CSV or Parquet)")
    src = _name(p)
    found = _peek_columns(p)
    cols = _resolve(found, RECS_COLUMNS, source=src, required=[C.RANK, C.ITEM])
    if C.QUERY in cols:
        key: KeyKind = "query_id"
    elif C.USER in cols:
        key = "user_id"
    else:
        raise DataError(
            f"{src}: missing column 'query_id' or 'user_id' (what each list answers: a test query from "
            f"`xsell-eval queries export`, or a customer); found columns {found}"
        )
    key_col = cols[C.QUERY if key == "query_id" else C.USER]
    df = _read_table(p, usecols=[key_col, cols[C.RANK], cols[C.ITEM]], dtype="string")
    if len(df) == 0:
        raise DataError(f"{src}: no rows; expected one row per recommended item ({key}, rank, item_id)")

    rank = _numeric(df[cols[C.RANK]], column=cols[C.RANK], role="rank", source=src, allow_empty=False).to_numpy()
    bad = ~(rank >= 1) | (rank != np.floor(rank))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{src}: column {cols[C.RANK]!r} (rank) has {rank[pos]:g} at {_where(df.index[pos])} "
            f"({int(bad.sum()):,} such cell(s)); expected an integer >= 1 (1 = first)"
        )
    items = _ids(df[cols[C.ITEM]])
    if key == "query_id":
        q = _numeric(df[key_col], column=key_col, role="query id", source=src, allow_empty=False).to_numpy()
        bad = q != np.floor(q)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{src}: column {key_col!r} (query id) has {q[pos]:g} at {_where(df.index[pos])}; expected an "
                "integer query id from `xsell-eval queries export`"
            )
        keys: np.ndarray = q.astype(np.int64)
    else:
        users = _ids(df[key_col])
        empty = users.isna().to_numpy(dtype=bool)
        if empty.any():
            first = df.index[int(np.flatnonzero(empty)[0])]
            raise DataError(
                f"{src}: column {key_col!r} (user id) is empty at {_where(first)} ({int(empty.sum()):,} empty "
                "cell(s)); expected the customer id each list is for"
            )
        keys = users.astype(object).to_numpy()
    empty = items.isna().to_numpy(dtype=bool)
    if empty.any():
        first = df.index[int(np.flatnonzero(empty)[0])]
        raise DataError(
            f"{src}: column {cols[C.ITEM]!r} (item id) is empty at {_where(first)} ({int(empty.sum()):,} empty "
            "cell(s)); expected the recommended item's id"
        )
    frame = pd.DataFrame(
        {"key": keys, "rank": rank.astype(np.int64), "item": items.astype(object).to_numpy(), "row": df.index}
    )
    twice = frame.duplicated(["key", "rank"], keep="first").to_numpy()
    if twice.any():
        pos = int(np.flatnonzero(twice)[0])
        k_, r_ = frame["key"].iloc[pos], frame["rank"].iloc[pos]
        first = frame.loc[(frame["key"] == k_) & (frame["rank"] == r_), "row"].iloc[0]
        shown = repr(str(k_)) if key == "user_id" else str(int(k_))
        raise DataError(
            f"{src}: rank {r_} of {key} {shown} is given twice (data rows {first} and {frame['row'].iloc[pos]}); "
            "expected each rank once per list"
        )
    frame = frame.sort_values(["key", "rank"], kind="stable")
    dup_item = frame.duplicated(["key", "item"], keep="first").to_numpy()
    frame = frame.loc[~dup_item]
    return RecsTable(
        source=src,
        key=key,
        keys=frame["key"].to_numpy(),
        ranks=frame["rank"].to_numpy(),
        items=frame["item"].to_numpy(),
        sha256=_sha256(p),
        duplicates_dropped=int(dup_item.sum()),
    )


class RecsFileAdapter:
    """An adapter that answers each test query from a file of exported lists (see the module docstring).

    It satisfies the :class:`~xsell_eval.adapters.base.Adapter` contract, so the pipeline fits,
    recommends, times and evaluates it like the others (``run_compare(instances=...)``).

    Example:
        >>> import tempfile
        >>> from xsell_eval.testing import toy_dataset
        >>> ds = toy_dataset()
        >>> f = Path(tempfile.mkdtemp()) / "recs.csv"
        >>> _ = f.write_text(f"user_id,rank,item_id\\n{ds.user_ids[0]},1,{ds.item_ids[0]}\\n")
        >>> a = RecsFileAdapter(f, label="production").fit(ds)
        >>> a.get_params()["key"], a.get_params()["lists"]
        ('user_id', 1)
    """

    name: ClassVar[str] = "recs-file"
    family: ClassVar[str] = "production lists (file)"
    description: ClassVar[str] = "the shop's own exported recommendations, read from a file"

    def __init__(self, path: str | Path, *, label: str = "recs") -> None:
        self.path = Path(path).expanduser()
        self.label = label
        self.table = read_recs_file(self.path)  # a bad file stops here, before any work
        self.fitted_ = False
        self.fit_seconds_ = 0.0
        self.recommend_seconds_ = 0.0
        self._warned = False

    def get_params(self) -> dict[str, Any]:
        """What identifies the lists: the file, its digest, the key and the number of lists."""
        return {"file": str(self.path), "sha256": self.table.sha256, "key": self.table.key, "lists": self.table.n_lists}

    def fit(self, train: Dataset) -> RecsFileAdapter:
        """Map the file's item ids (and user ids) onto the data's index; nothing is learnt."""
        t = self.table
        item_idx = pd.Index(np.asarray(train.item_ids, dtype=object)).get_indexer(t.items)
        known = item_idx >= 0
        self.unknown_items_ = int((~known).sum())
        keys, ranks, item_idx = t.keys[known], t.ranks[known], item_idx[known]
        if t.key == "user_id":
            key_idx = pd.Index(np.asarray(train.user_ids, dtype=object)).get_indexer(keys)
            self.unknown_users_ = int(pd.unique(keys[key_idx < 0]).size)
            keep = key_idx >= 0
            keys, ranks, item_idx = key_idx[keep].astype(np.int64), ranks[keep], item_idx[keep]
        else:
            self.unknown_users_ = 0
        # one padded row per list, items in rank order (the table is sorted by key, rank)
        uniq, start, counts = np.unique(keys, return_index=True, return_counts=True)
        width = int(counts.max()) if len(counts) else 0
        lists = np.full((len(uniq), width), -1, dtype=np.int64)
        ranked = np.full((len(uniq), width), np.nan)
        if len(keys):
            row = np.repeat(np.arange(len(uniq)), counts)
            col = np.arange(len(keys)) - np.repeat(start, counts)
            lists[row, col] = item_idx
            ranked[row, col] = ranks
        self.list_keys_ = uniq
        self.lists_ = lists
        self.ranks_ = ranked
        self.n_items_ = train.n_items
        self.fitted_ = True
        self._warned = False
        return self

    def recommend(self, requests: Requests | Queries, k: int) -> Recommendations:
        """The file's list for each request (cart items and unknown items removed), cut to ``k``."""
        if isinstance(requests, Queries):
            requests = requests.requests
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"adapter '{self.label}': call fit() before recommend()")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be an integer >= 1, got {k!r}")
        n = len(requests)
        wanted = requests.query_id if self.table.key == "query_id" else requests.user_idx
        pos = np.zeros(n, dtype=np.int64)
        has = np.zeros(n, dtype=bool)
        if len(self.list_keys_):
            pos = np.minimum(np.searchsorted(self.list_keys_, wanted), len(self.list_keys_) - 1)
            has = self.list_keys_[pos] == wanted
        width = self.lists_.shape[1]
        cand = np.full((n, width), -1, dtype=np.int64)
        cand_rank = np.full((n, width), np.nan)
        cand[has] = self.lists_[pos[has]]
        cand_rank[has] = self.ranks_[pos[has]]
        valid = cand >= 0
        in_cart = np.zeros_like(valid)
        if valid.any():
            rr, cc = np.nonzero(valid)
            in_cart[rr, cc] = np.asarray(requests.context[rr, cand[rr, cc]]).ravel() != 0
        keep = valid & ~in_cart
        order = np.argsort(~keep, axis=1, kind="stable")  # kept items first, in rank order
        cand = np.take_along_axis(cand, order, axis=1)
        cand_rank = np.take_along_axis(cand_rank, order, axis=1)
        keep = np.take_along_axis(keep, order, axis=1)
        items = np.full((n, k), -1, dtype=np.int64)
        scores = np.full((n, k), np.nan)
        m = min(k, width)
        items[:, :m] = np.where(keep[:, :m], cand[:, :m], -1)
        scores[:, :m] = np.where(keep[:, :m], -cand_rank[:, :m], np.nan)  # higher = better, non-increasing
        if not self._warned:
            self._warned = True
            self._warn(n, int((~has).sum()), int(in_cart.sum()))
        return Recommendations(items, scores, self.label, None)

    def _warn(self, n: int, missing: int, in_cart: int) -> None:
        t = self.table
        if n and missing == n:
            raise DataError(
                f"{t.source}: none of the {n:,} test queries has a list (matched by {t.key}); the file's ids do not "
                "belong to these queries. Export them with `xsell-eval queries export` using the same data, split, "
                "protocol and seed options as this comparison"
            )
        notes = []
        if missing:
            notes.append(f"{missing:,} of {n:,} test queries have no list in {t.source} and count as misses")
        if self.unknown_items_:
            notes.append(f"{self.unknown_items_:,} recommended item(s) are not in the data and were dropped")
        if self.unknown_users_:
            notes.append(f"{self.unknown_users_:,} user id(s) of the file are not in the data")
        if in_cart:
            notes.append(f"{in_cart:,} recommended item(s) were already in the cart and were dropped")
        if t.duplicates_dropped:
            notes.append(f"{t.duplicates_dropped:,} repeated item(s) within a list were dropped (the best rank kept)")
        for text in notes:
            warnings.warn(f"{self.label}: {text}", UserWarning, stacklevel=3)


def parse_recs_specs(values: list[str] | tuple[str, ...] | None) -> dict[str, str] | None:
    """``["production=recs.parquet", "old.csv"]`` -> ``{"production": "recs.parquet", "old": "old.csv"}``.

    A value without ``label=`` is labelled by the file name without its extensions.

    Example:
        >>> parse_recs_specs(["production=out/recs.parquet", "legacy.csv.gz"])
        {'production': 'out/recs.parquet', 'legacy': 'legacy.csv.gz'}
    """
    from xsell_eval.data.sources._parsing import _stem

    out: dict[str, str] = {}
    for value in values or ():
        label, eq, path = value.partition("=")
        if not eq:
            label, path = _stem(Path(value)), value
        label, path = label.strip(), path.strip()
        if not label or not path:
            raise ConfigError(f"--recs {value!r}: expected LABEL=FILE, e.g. production=recs.parquet")
        if label in out:
            raise ConfigError(f"--recs: the label '{label}' is given twice")
        out[label] = path
    return out or None


def recs_instances(recs: dict[str, str] | None) -> dict[str, RecsFileAdapter]:
    """``{label: RecsFileAdapter}`` for ``CompareConfig.recs`` (each file read and checked now)."""
    return {label: RecsFileAdapter(path, label=label) for label, path in (recs or {}).items()}


__all__ = ["RECS_COLUMNS", "RecsFileAdapter", "RecsTable", "parse_recs_specs", "read_recs_file", "recs_instances"]
