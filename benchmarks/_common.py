"""Set-up shared by the benchmark scripts: full UCI Online Retail, temporal split, queries.

The data is read through the product's loader (:func:`xsell_eval.data.loaders.load_dataset`).
``path=None`` is the embedded copy (``data/online_retail.csv.gz``, byte-identical to
``../shared/data/online_retail/online_retail.csv.gz``). ``policy=None`` is the loader's
default cleaning; ``policy="literature"`` is the filter of the published analyses and of
the helper notes (no C-invoices, known customer, quantity > 0, unit price > 0; non-product
codes and duplicate lines kept: 397,884 lines, 18,532 invoices, 3,665 items).
"""

from __future__ import annotations

from pathlib import Path

from xsell_eval.data.dataset import Dataset
from xsell_eval.data.loaders import load_dataset
from xsell_eval.errors import DataError
from xsell_eval.protocols import build_queries
from xsell_eval.queries import Queries
from xsell_eval.split import Split, make_split


def online_retail(path: str | Path | None = None, *, policy: str | None = None) -> Dataset:
    """The full Online Retail as a Dataset; a missing file stops the script with the loader's message."""
    try:
        return load_dataset(path, policy=policy)
    except DataError as exc:
        raise SystemExit(str(exc)) from None


def online_retail_split(
    path: str | Path | None = None,
    *,
    policy: str | None = None,
    protocol: str = "basket-completion",
    validation: bool = False,
    seed: int = 0,
) -> tuple[Dataset, Split, Queries]:
    """Dataset, temporal split and queries (``seed`` picks the revealed items).

    Queries ask from ``split.train`` for ``split.test``, or from ``split.fit_train`` for
    ``split.validation`` when ``validation`` is true.
    """
    ds = online_retail(path, policy=policy)
    split = make_split(ds, "temporal")
    history, target = (split.fit_train, split.validation) if validation else (split.train, split.test)
    return ds, split, build_queries(history, target, protocol, seed=seed)
