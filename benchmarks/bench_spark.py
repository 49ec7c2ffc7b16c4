"""Pandas engine vs Spark engine on a generated shop: wall time and peak RSS.

    python benchmarks/bench_spark.py --lines 300000 [--lines 3000000] [--master 'local[2]'] [--work DIR]

Each size: ``xsell-eval data generate --lines N`` (once, kept in --work), then
``xsell-eval compare popular rules`` with ``--engine pandas`` and ``--engine spark`` in separate
processes. Peak RSS is sampled from /proc every 0.2 s: the driver (the Python process) and, for
Spark, the whole process tree (driver + the local JVM and its Python workers). The driver's
figure is what "driver memory stays flat" is about: only per-query metrics are collected.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out.extend(int(c) for c in text)
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(_children(p))
    return seen


def run(cmd: list[str]) -> tuple[float, float, float, int]:
    """(wall s, driver peak MiB, tree peak MiB, return code) of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    driver = tree = 0
    while proc.poll() is None:
        driver = max(driver, _rss_kib(proc.pid))
        tree = max(tree, sum(_rss_kib(p) for p in _tree(proc.pid)))
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stderr.read()[-2000:] if proc.stderr else "", file=sys.stderr)
    return wall, driver / 1024, tree / 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, action="append", required=True)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--work", type=Path, default=Path("bench-spark"))
    ap.add_argument("--engines", default="pandas,spark")
    a = ap.parse_args()
    exe = [sys.executable, "-m", "xsell_eval"]
    print("| lines | engine | wall s | driver peak MiB | process tree peak MiB |")
    print("|---:|---|---:|---:|---:|")
    for n in a.lines:
        shop = a.work / f"shop-{n}"
        if not (shop / "interactions.parquet").exists():
            subprocess.run(
                [*exe, "data", "generate", "--lines", str(n), "-o", str(shop)], check=True, capture_output=True
            )
        for engine in a.engines.split(","):
            cmd = [*exe, "compare", "popular", "rules", "--data", str(shop), "--engine", engine, "--format", "json"]
            cmd += ["--out", str(a.work / f"run-{n}-{engine}")]
            if engine == "spark":
                cmd += ["--spark-master", a.master]
            wall, driver, tree, rc = run(cmd)
            status = "" if rc == 0 else f" (exit {rc})"
            print(f"| {n:,} | {engine}{status} | {wall:.1f} | {driver:.0f} | {tree:.0f} |", flush=True)
    print(f"\n{os.cpu_count()} cores; label figures 'contended machine' when other jobs run.")


if __name__ == "__main__":
    main()
