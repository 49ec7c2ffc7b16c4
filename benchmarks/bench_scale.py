"""The scale ladder: seeded synthetic shops from 0.5M to 30M lines, ``compare popular cf rules`` on each.

Usage::

    python benchmarks/bench_scale.py                      # 0.5M, 3M, 10M lines
    python benchmarks/bench_scale.py --sizes 0.5M,3M      # a subset
    python benchmarks/bench_scale.py --with-30m           # add the 30M step (200k users, 50k items; long)
    python benchmarks/bench_scale.py --sizes cj1.5M       # issue 11's 1.5M-line / 92k-item grocery shop
    python benchmarks/bench_scale.py --markdown           # also print the tables as Markdown

Every step runs in its own subprocess, so each peak resident memory is that step's own:
``generate`` (``generate_shop(n_lines=...)`` + Parquet write) and ``compare`` (the library's
``run_compare`` + ``write_run``, as ``xsell-eval compare popular cf rules --data SHOP`` does).
Inside the compare subprocess each stage (load, split + queries, each adapter's fit /
recommend / metrics, statistics, report) is timed, and its peak RSS is read from
``VmHWM`` in ``/proc/self/status`` after resetting the high-water mark at the stage start
(``echo 5 > /proc/self/clear_refs``, Linux). Peak RSS of a step is the largest stage peak.

Shop sizes (seeded; Zipf popularity, ~10 lines per basket, 120 days)::

    lines   users   items
    0.5M    20k     10k
    3M      60k     25k
    10M    120k     40k
    30M    200k     50k      (only with --with-30m)
    cj1.5M   2.5k   92k      (365 days; Complete Journey-like: few users, a large catalog; issue 11)

Shops are cached in ``--workdir`` (default ``/tmp/xsell-scale``) and reused when present.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LADDER: dict[str, tuple[int, int, int]] = {
    "0.5M": (500_000, 20_000, 10_000),
    "3M": (3_000_000, 60_000, 25_000),
    "10M": (10_000_000, 120_000, 40_000),
    "30M": (30_000_000, 200_000, 50_000),
    # issue 11's large-catalog target, shaped like the Complete Journey (2,469 households, 92,331
    # products, 1.47M lines in ~155k baskets over calendar 2017): 2,500 users, 92k items, 365 days
    "cj1.5M": (1_500_000, 2_500, 92_000),
}
DAYS: dict[str, int] = {"cj1.5M": 365}  # days of history per size (default 120)
ADAPTERS = ("popular", "cf", "rules")


# ---------------------------------------------------------------------- memory probes (Linux)
def _status_kib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


def _reset_peak() -> None:
    # without it (not Linux, no permission) the peak covers the process so far: still an upper bound
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class StageRecorder:
    """Times consecutive stages and records each one's peak RSS (MiB)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._name: str | None = None
        self._t0 = 0.0

    def start(self, name: str) -> None:
        self.stop()
        _reset_peak()
        self._name, self._t0 = name, time.perf_counter()

    def stop(self) -> None:
        if self._name is None:
            return
        self.rows.append(
            {
                "stage": self._name,
                "seconds": time.perf_counter() - self._t0,
                "peak_mib": _status_kib("VmHWM") / 1024,
                "end_rss_mib": _status_kib("VmRSS") / 1024,
            }
        )
        self._name = None

    def progress(self, event: str, who: str, info: dict[str, Any]) -> None:
        """A ``run_compare`` progress callback."""
        if event == "stage_start":
            self.start({"split": "split + queries"}.get(who, who))
        elif event == "stage_end":
            self.stop()
        elif event == "adapter_step":
            step = {"evaluate": "metrics"}.get(str(info.get("step")), str(info.get("step")))
            if "epoch_info" not in info:
                self.start(f"{who} {step}")
        elif event == "adapter_end":
            self.stop()


# ---------------------------------------------------------------------- child steps
def child_generate(lines: int, users: int, items: int, out: str, days: int = 120) -> dict[str, Any]:
    from xsell_eval.data.synthetic import generate_shop

    rec = StageRecorder()
    rec.start("generate")
    shop = generate_shop(seed=0, n_users=users, n_items=items, n_days=days, n_lines=lines)
    rec.start("write parquet")
    shop.save(out, fmt="parquet")
    rec.stop()
    return {
        "lines": len(shop.interactions),
        "baskets": int(shop.interactions["basket_id"].nunique()),
        "stages": rec.rows,
    }


def child_compare(data: str, out: str, max_queries: int | None) -> dict[str, Any]:
    from xsell_eval.pipeline import CompareConfig, run_compare
    from xsell_eval.results import write_run

    rec = StageRecorder()
    config = CompareConfig(adapters=ADAPTERS, data=data, max_queries=max_queries).validate()
    t0 = time.perf_counter()
    result = run_compare(config, progress=rec.progress)
    rec.start("report")
    write_run(result, Path(out))
    rec.stop()
    return {
        "seconds": time.perf_counter() - t0,
        "queries": result.n_queries,
        "status": {a.name: a.status for a in result.adapters},
        "errors": {a.name: a.error for a in result.adapters if not a.ok},
        "latency": {a.name: a.latency for a in result.adapters},
        "stages": rec.rows,
    }


def child_load(data: str) -> dict[str, Any]:
    """``load_dataset``'s steps one by one: read (pyarrow) + canonical lines, cleaning, indexing."""
    from xsell_eval.columns import Columns as C
    from xsell_eval.data.cleaning import clean
    from xsell_eval.data.dataset import Dataset
    from xsell_eval.data.loaders import LOADERS, LoadOptions, detect_loader

    rec = StageRecorder()
    name, _ = detect_loader(data)
    spec = LOADERS[name]
    rec.start(f"read {name} + canonical lines")
    raw = spec.read(Path(data), LoadOptions())
    rec.start("clean")
    lines, report = clean(raw.lines, spec.default_policy, source=raw.source, cancelled=raw.cancelled)
    del raw
    rec.start("index (Dataset.from_frames)")
    keep = [c for c in (*C.INTERACTIONS, C.RATING) if c in lines.columns]
    ds = Dataset.from_frames(lines[keep].reset_index(drop=True), None, cleaning=report)
    rec.stop()
    return {"lines": len(ds.interactions), "stages": rec.rows}


def run_child(args: list[str]) -> dict[str, Any]:
    """Run one step in a fresh interpreter; returns its JSON plus wall time and whole-process peak RSS."""
    # the child imports this checkout's xsell_eval, not whichever copy the interpreter has installed
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")) if p
    )
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"], "wall": wall}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    out["peak_mib"] = max((s["peak_mib"] for s in out["stages"]), default=float("nan"))
    return out


# ---------------------------------------------------------------------- driver
def _fmt_stage_table(size: str, step: dict[str, Any]) -> list[str]:
    rows = [f"| {size} | {s['stage']} | {s['seconds']:.1f} | {s['peak_mib']:,.0f} |" for s in step["stages"]]
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="0.5M,3M,10M", help="comma-separated among " + ", ".join(LADDER))
    ap.add_argument("--with-30m", action="store_true", help="add the 30M-line step (long: minutes and GiBs)")
    ap.add_argument("--workdir", default="/tmp/xsell-scale", help="where shops and run directories go")
    ap.add_argument("--max-queries", type=int, default=None, help="cap the test queries (default: all)")
    ap.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    if ns.child:
        kind, *rest = ns.child
        if kind == "generate":
            res = child_generate(int(rest[0]), int(rest[1]), int(rest[2]), rest[3], *(int(d) for d in rest[4:5]))
        elif kind == "load":
            res = child_load(rest[0])
        else:
            res = child_compare(rest[0], rest[1], int(rest[2]) if rest[2] != "none" else None)
        print(json.dumps(res))
        return
    sizes = [s.strip() for s in ns.sizes.split(",") if s.strip()]
    if ns.with_30m and "30M" not in sizes:
        sizes.append("30M")
    unknown = [s for s in sizes if s not in LADDER]
    if unknown:
        raise SystemExit(f"--sizes: unknown size(s) {unknown}; expected among {list(LADDER)}")
    work = Path(ns.workdir)
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; adapters {' '.join(ADAPTERS)}"
    )
    print(f"code: {Path(__file__).resolve().parents[1]}")
    summary: list[str] = [
        "| lines | users | items | generate s | generate peak MiB | compare s | compare peak MiB | queries |"
    ]
    summary.append("|---|---|---|---|---|---|---|---|")
    stages: list[str] = ["| size | stage | seconds | peak RSS MiB |", "|---|---|---|---|"]
    for size in sizes:
        lines, users, items = LADDER[size]
        shop = work / f"shop-{size}"
        if (shop / "interactions.parquet").is_file():
            gen: dict[str, Any] = {"wall": float("nan"), "peak_mib": float("nan"), "stages": [], "cached": True}
            print(f"[{size}] shop cached in {shop}")
        else:
            days = DAYS.get(size, 120)
            gen = run_child(["generate", str(lines), str(users), str(items), str(shop), str(days)])
            if "error" in gen:
                print(f"[{size}] generate failed: {gen['error']}")
                continue
            print(
                f"[{size}] generated {gen['lines']:,} lines / {gen['baskets']:,} baskets in {gen['wall']:.1f} s, "
                f"peak {gen['peak_mib']:,.0f} MiB"
            )
        load = run_child(["load", str(shop)])
        if "error" not in load:
            print(f"[{size}] load alone: {load['wall']:.1f} s wall, peak {load['peak_mib']:,.0f} MiB")
            for s in load["stages"]:
                print(f"      {s['stage']:<30} {s['seconds']:8.1f} s   peak {s['peak_mib']:8,.0f} MiB")
            stages.extend(_fmt_stage_table(size, load))
        mq = str(ns.max_queries) if ns.max_queries else "none"
        cmp_ = run_child(["compare", str(shop), str(work / f"run-{size}"), mq])
        if "error" in cmp_:
            print(f"[{size}] compare failed after {cmp_['wall']:.1f} s: {cmp_['error']}")
            continue
        print(
            f"[{size}] compare {' '.join(ADAPTERS)}: {cmp_['wall']:.1f} s wall, peak {cmp_['peak_mib']:,.0f} MiB, "
            f"{cmp_['queries']:,} queries, status {cmp_['status']}"
        )
        for name, lat in (cmp_.get("latency") or {}).items():
            if lat:
                print(
                    f"      {name:<10} one query p50 {lat['p50_ms']:.2f} / p95 {lat['p95_ms']:.2f} / "
                    f"p99 {lat['p99_ms']:.2f} ms, batch {lat['throughput_qps']:,.0f} queries/s"
                )
        for s in cmp_["stages"]:
            print(
                f"      {s['stage']:<22} {s['seconds']:8.1f} s   peak {s['peak_mib']:8,.0f} MiB   "
                f"end {s['end_rss_mib']:8,.0f} MiB"
            )
        summary.append(
            f"| {size} | {users:,} | {items:,} | {gen['wall']:.1f} | {gen['peak_mib']:,.0f} | {cmp_['wall']:.1f} | "
            f"{cmp_['peak_mib']:,.0f} | {cmp_['queries']:,} |"
        )
        stages.extend(_fmt_stage_table(size, gen) + _fmt_stage_table(size, cmp_))
    if ns.markdown:
        print("\n" + "\n".join(summary) + "\n\n" + "\n".join(stages))


if __name__ == "__main__":
    main()
