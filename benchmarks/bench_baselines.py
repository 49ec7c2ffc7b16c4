"""Time and memory of one adapter on one data set: fit + recommend on compare's test queries.

    python benchmarks/bench_baselines.py ADAPTER [DATA]      # DATA: a path; default the embedded Online Retail

Run one process per (adapter, data set): the peak resident memory (``ru_maxrss``) is the process's,
so it includes loading the data; the line also gives the peak before the adapter started.
"""

from __future__ import annotations

import resource
import sys
import time

from xsell_eval.adapters.registry import create
from xsell_eval.pipeline import CompareConfig, prepare


def peak_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(adapter: str, data: str | None) -> None:
    cfg = CompareConfig(data=data, adapters=(adapter,)).validate()
    prepared = prepare(cfg)
    before = peak_mib()
    a = create(adapter, seed=0)
    t0 = time.perf_counter()
    a.fit(prepared.split.train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    a.recommend(prepared.queries.requests, 10)
    rec_s = time.perf_counter() - t0
    print(
        f"{adapter:10s} {data or 'online_retail (embedded)'}: {len(prepared.queries):,} queries, "
        f"fit {fit_s:.1f} s, recommend {rec_s:.1f} s, total {fit_s + rec_s:.1f} s; "
        f"peak RSS {peak_mib():.0f} MiB (after loading the data: {before:.0f} MiB)"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
