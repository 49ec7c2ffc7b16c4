"""Fit/recommend time, peak memory and hit_rate@10 of surprise-knn, surprise-svd and lightfm.

Data: the full UCI Online Retail (../shared/data/online_retail/online_retail.csv.gz),
cleaned as in HELPER_COMMON (no C-invoices, known customers, quantity > 0, price > 0),
temporal split, basket-completion queries (1 item revealed, seed 0). Each adapter runs
in a fresh subprocess so the peak RSS (``ru_maxrss``) is its own (it includes the
interpreter, pandas and the data, ~0.4 GB). hit_rate@10 = share of queries with at
least one target among the top 10; ``popular`` is the floor.

Usage::

    python benchmarks/bench_mf.py                       # default list below
    python benchmarks/bench_mf.py "lightfm:epochs=10" popular
    python benchmarks/bench_mf.py --validation ...      # fit_train -> validation instead of train -> test

The machine this was written on had 2 cores shared with other jobs: timings are pessimistic.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
DEFAULT_SPECS = [
    "popular",
    "surprise-knn",
    "surprise-knn:profile=cart",
    "surprise-svd",
    "surprise-svd:profile=cart",
    "lightfm",
    "lightfm:use_item_features=true",
]


def load_online_retail():  # type: ignore[no-untyped-def]
    """The cleaned full Online Retail as a Dataset (the product's loader if present, else inline)."""
    try:
        from xsell_eval.data.loaders import load_dataset
    except ImportError:
        pass
    else:
        try:
            return load_dataset(None)
        except Exception:  # embedded copy absent: read the shared file the same way
            return load_dataset(DATA, loader="online-retail")
    from xsell_eval.columns import Columns as C
    from xsell_eval.data.dataset import Dataset

    raw = pd.read_csv(DATA, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    keep = (
        ~raw["InvoiceNo"].str.startswith("C")
        & raw["CustomerID"].notna()
        & (raw["Quantity"] > 0)
        & (raw["UnitPrice"] > 0)
    )
    raw = raw[keep]
    inter = pd.DataFrame(
        {
            C.USER: raw["CustomerID"].str.replace(r"\.0$", "", regex=True),
            C.BASKET: raw["InvoiceNo"],
            C.ITEM: raw["StockCode"],
            C.TIMESTAMP: pd.to_datetime(raw["InvoiceDate"]),
            C.QUANTITY: raw["Quantity"],
            C.PRICE: raw["UnitPrice"],
        }
    )
    catalog = (
        raw[["StockCode", "Description"]]
        .dropna()
        .drop_duplicates("StockCode")
        .rename(columns={"StockCode": C.ITEM, "Description": C.TITLE})
    )
    return Dataset.from_frames(inter, catalog, name="online_retail")


def hit_rate(items: np.ndarray, targets) -> float:  # type: ignore[no-untyped-def]
    """Share of rows where one of ``items`` (-1 padded) is a target."""
    n, k = items.shape
    valid = items >= 0
    if not valid.any():
        return 0.0
    r = np.repeat(np.arange(n), k).reshape(n, k)[valid]
    hit = np.zeros((n, k), dtype=bool)
    hit[valid] = np.asarray(targets[r, items[valid]]).ravel() > 0
    return float(hit.any(axis=1).mean())


def run_one(spec: str, validation: bool) -> dict[str, object]:
    """Fit + recommend one adapter spec; returns the figures."""
    from xsell_eval.adapters.registry import create
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split

    ds = load_online_retail()
    split = make_split(ds, "temporal")
    train, target = (split.fit_train, split.validation) if validation else (split.train, split.test)
    queries = build_queries(train, target, "basket-completion", seed=0)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    adapter = create(spec, seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    adapter.fit(train)
    t1, c1 = time.perf_counter(), time.process_time()
    recs = adapter.recommend(queries.without_targets(), 10)
    t2, c2 = time.perf_counter(), time.process_time()
    cold = queries.user_history == 0
    return {
        "spec": spec,
        "fit_s": round(t1 - t0, 2),
        "recommend_s": round(t2 - t1, 2),
        "fit_cpu_s": round(c1 - c0, 2),
        "recommend_cpu_s": round(c2 - c1, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_fit_mb": round(rss0),
        "queries": len(queries),
        "hit@10": round(hit_rate(recs.items, queries.targets), 4),
        "hit@10_cold": round(hit_rate(recs.items[cold], queries.targets[cold]), 4) if cold.any() else None,
        "empty_lists": int((recs.items[:, 0] < 0).sum()),
    }


def main(argv: list[str]) -> None:
    """Run every spec in its own subprocess and print a table."""
    if not DATA.exists():
        print(f"Online Retail not found at {DATA}; nothing to benchmark.")
        return
    validation = "--validation" in argv
    args = [a for a in argv if a != "--validation"]
    if args and args[0] == "--one":
        print(json.dumps(run_one(args[1], validation)))
        return
    specs = args or DEFAULT_SPECS
    rows = []
    for spec in specs:
        cmd = [sys.executable, __file__, "--one", spec] + (["--validation"] if validation else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{spec}: FAILED\n{out.stderr[-2000:]}")
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    if rows:
        print()
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1:])
