"""Fit/recommend time, peak memory and hit_rate@10 of surprise-knn, surprise-svd and lightfm.

Data: the embedded full UCI Online Retail with the loader's default cleaning
(``load_dataset(None)``: no C-invoices, known customers, quantity > 0, price > 0, no
non-product codes, no duplicate lines), temporal split, basket-completion queries (1 item
revealed, seed 0). Each adapter runs in a fresh subprocess so the peak RSS (``ru_maxrss``)
is its own (it includes the interpreter, pandas and the data, ~0.4 GB). hit_rate@10 =
share of queries with at least one target among the top 10; ``popular`` is the floor.

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

import numpy as np
import pandas as pd
from _common import online_retail_split

DEFAULT_SPECS = [
    "popular",
    "surprise-knn",
    "surprise-knn:profile=cart",
    "surprise-svd",
    "surprise-svd:profile=cart",
    "lightfm",
    "lightfm:use_item_features=true",
]


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

    _, split, queries = online_retail_split(validation=validation)
    train = split.fit_train if validation else split.train
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
    from xsell_eval.data.loaders import default_data_path
    from xsell_eval.errors import DataError

    try:
        default_data_path()
    except DataError as exc:
        print(f"{exc}\nNothing to benchmark.")
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
