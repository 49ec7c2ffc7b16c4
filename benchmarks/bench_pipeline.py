"""Time each stage of `compare` on the full embedded UCI Online Retail and print the figures.

Usage: python benchmarks/bench_pipeline.py [ADAPTER ...]   (default: popular random)

Prints wall-clock seconds per stage and the peak resident memory of the process.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    from xsell_eval.pipeline import CompareConfig, assemble, prepare, run_adapter
    from xsell_eval.results import write_run

    adapters = tuple(argv) or ("popular", "random")
    t_all = time.perf_counter()
    config = CompareConfig(adapters=adapters).validate()
    t0 = time.perf_counter()
    prepared = prepare(config)
    print(f"load + clean          {prepared.timings['load']:7.2f} s   {prepared.dataset!r}")
    print(f"split + queries       {prepared.timings['split_and_queries']:7.2f} s   {len(prepared.queries):,} queries")
    outcomes = []
    for spec in config.adapters:
        out = run_adapter(spec, config, prepared)
        outcomes.append(out)
        print(
            f"{spec:<12} fit {out.fit_seconds:7.2f} s   recommend {out.recommend_seconds:7.2f} s   "
            f"metrics {out.evaluate_seconds:6.2f} s   [{out.status}] {out.error}"
        )
    t0 = time.perf_counter()
    result = assemble(config, prepared, outcomes, started=t_all)
    print(f"statistics (bootstrap {config.n_bootstrap})  {time.perf_counter() - t0:7.2f} s")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        write_run(result, Path(d) / "run")
    print(f"write run directory   {time.perf_counter() - t0:7.2f} s")
    print(f"TOTAL                 {time.perf_counter() - t_all:7.2f} s   peak RSS {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
