"""Write a comparison's test queries for a shop to answer with its own recommender.

``xsell-eval queries export --out queries.parquet`` (same data, split, protocol and seed
options as ``compare``) writes one row per test query; the shop runs its production system on
each cart and sends the lists back as ``query_id, rank, item_id``, which
``xsell-eval compare ... --recs production=recs.parquet`` scores (docs/production.md).

Columns: ``query_id`` (int), ``user_id`` (the customer, empty for guests), ``timestamp`` (the
moment of the query: the shop's system must only use what it knew then), ``cart`` (the item
ids the shopper already has: a list in Parquet, a JSON array such as ``["85123A", "71053"]``
in CSV). The targets are never written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError

if TYPE_CHECKING:
    from xsell_eval.data.dataset import Dataset
    from xsell_eval.pipeline import Prepared
    from xsell_eval.settings import CompareConfig

#: file endings export_queries writes
EXPORT_FORMATS = (".parquet", ".csv", ".csv.gz")


@dataclass(frozen=True)
class QueryExport:
    """What :func:`export_queries` wrote.

    Attributes:
        path: the file.
        n_queries: rows written.
        protocol: the protocol that built the queries.
        config_hash: hash of the comparison settings (``compare`` must use the same ones).
    """

    path: Path
    n_queries: int
    protocol: str
    config_hash: str


def queries_table(prepared: Prepared) -> pd.DataFrame:
    """``query_id, user_id, timestamp, cart`` (cart: list of item ids), one row per test query, no targets."""
    q = prepared.queries
    ds = prepared.dataset
    ctx = q.context.tocsr()
    item_ids = np.asarray(ds.item_ids, dtype=object)
    flat = item_ids[ctx.indices]
    carts = [part.tolist() for part in np.split(flat, ctx.indptr[1:-1])] if len(q) else []
    users: np.ndarray = np.full(len(q), None, dtype=object)
    known = q.user_idx >= 0
    if known.any():
        users[known] = np.asarray(ds.user_ids, dtype=object)[q.user_idx[known]]
    return pd.DataFrame({C.QUERY: q.query_id, C.USER: users, C.TIMESTAMP: q.timestamp, "cart": carts})


def _format(path: Path) -> str:
    name = path.name.lower()
    for end in EXPORT_FORMATS:
        if name.endswith(end):
            return end
    raise ConfigError(f"--out {str(path)!r}: expected a file ending in {', '.join(EXPORT_FORMATS)}")


def export_queries(
    config: CompareConfig, path: str | Path, *, dataset: Dataset | None = None, progress: Any = None
) -> QueryExport:
    """Build the test queries of ``config`` (as ``compare`` would) and write them to ``path``.

    Raises:
        ConfigError: an unsupported file ending, or invalid settings.
    """
    from xsell_eval.pipeline import prepare

    out = Path(path).expanduser()
    fmt = _format(out)
    config = config.validate()
    prepared = prepare(config, dataset=dataset, progress=progress)
    table = queries_table(prepared)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.assign(cart=[json.dumps(c, ensure_ascii=False) for c in table["cart"]]).to_csv(out, index=False)
    return QueryExport(path=out, n_queries=len(table), protocol=config.protocol, config_hash=config.hash)


__all__ = ["EXPORT_FORMATS", "QueryExport", "export_queries", "queries_table"]
