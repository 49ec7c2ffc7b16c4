"""Pandas engine vs Spark engine on the scale ladder's shops: wall time, stages and driver memory.

    python benchmarks/bench_spark.py --sizes 3M [--sizes 30M] [--engines pandas,spark]
        [--max-queries 5000] [--master 'local[2]'] [--workdir /tmp/xsell-scale]

The shops are :mod:`bench_scale`'s (``generate_shop(seed=0, n_lines=..., n_users=..., n_items=...)``,
cached in ``--workdir`` as ``shop-<size>``; generated there when missing). Each (size, engine)
runs ``compare popular rules`` through the library (``run_compare`` / ``run_compare_spark`` and
the run directory writer, as the CLI does) in a fresh process and reports:

* wall time of the child process and each stage's seconds (load, split + queries, each adapter);
* driver Python RSS peak: ``ru_maxrss`` of the Python process (the driver; for pandas, everything);
* driver JVM heap peak (Spark): heap in use (``Runtime.totalMemory - freeMemory``), sampled every
  0.25 s through Py4J, so it includes garbage not yet collected. In ``local[N]`` the executors are
  threads of this same JVM: this heap holds the driver *and* the executors' work (cached and
  checkpointed blocks, shuffles), so it is not a driver-only figure; its ceiling is
  ``spark.driver.memory``;
* process tree peak: driver + JVM + Python workers, RSS summed and sampled every 0.2 s from /proc;
* the per-query tables' size on the driver (the only thing collected that grows with the data).

Driver memory follows the number of test queries, not of lines: with ``--max-queries`` the query
count is the same at every size, so the driver's Python RSS should be the same at 3M and 30M lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# this checkout's xsell_eval, not whichever one the interpreter has installed (children get it via PYTHONPATH)
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
from bench_scale import LADDER  # noqa: E402

ADAPTERS = ("popular", "rules")


# ---------------------------------------------------------------------- /proc sampling (Linux)
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
            out.extend(int(c) for c in (task / "children").read_text().split())
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


# ---------------------------------------------------------------------- children
def _vm_kib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


class Stages:
    """Consecutive stages from the engines' progress events: seconds, driver Python RSS peak, JVM heap peak.

    The Python peak is ``VmHWM`` after resetting the high-water mark at the stage start
    (``/proc/self/clear_refs``, Linux); the JVM figure is the sampler's maximum during the stage.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []
        self.heap_now = 0.0  # set by the JVM sampler
        self._heap_peak = 0.0
        self._name: str | None = None
        self._t0 = 0.0

    def start(self, name: str) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        self._name, self._t0, self._heap_peak = name, time.perf_counter(), self.heap_now
        print(f"{time.strftime('%H:%M:%S', time.gmtime())} {name}", file=sys.stderr, flush=True)  # live progress

    def sampled(self, heap_mib: float) -> None:
        self.heap_now = heap_mib
        self._heap_peak = max(self._heap_peak, heap_mib)

    def stop(self) -> None:
        if self._name is not None:
            py = _vm_kib("VmHWM") / 1024
            self.rows.append((self._name, time.perf_counter() - self._t0, py, self._heap_peak))
        self._name = None

    def progress(self, event: str, who: str, info: dict[str, Any]) -> None:
        if event in ("stage_start", "adapter_start"):
            self.start(who)
        elif event == "adapter_step":
            self.start(f"{who} {info.get('step', '')}")
        elif event in ("stage_end", "adapter_end"):
            self.stop()


def _py_peak_mib() -> float:
    """``ru_maxrss`` (MiB); the stages' VmHWM resets lower it, so callers take the max with the stage peaks."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_spark(shop: str, out: str, max_queries: int | None, master: str, driver_memory: str) -> dict[str, Any]:
    import xsell_eval
    from xsell_eval.settings import CompareConfig
    from xsell_eval.spark.engine import run_compare_spark, write_spark_run
    from xsell_eval.spark.session import get_session

    print(f"xsell_eval from {xsell_eval.__file__}", file=sys.stderr, flush=True)
    config = CompareConfig(adapters=ADAPTERS, data=shop, engine="spark", max_queries=max_queries).validate()
    rec = Stages()
    t0 = time.perf_counter()
    conf = {"spark.driver.memory": driver_memory} if driver_memory != "default" else None
    spark = get_session(master, conf=conf)  # the engine reuses this session
    runtime = spark._jvm.java.lang.Runtime.getRuntime()
    heap = {"peak": 0.0, "max": runtime.maxMemory() / 2**20}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                used = (runtime.totalMemory() - runtime.freeMemory()) / 2**20
                heap["peak"] = max(heap["peak"], used)
                rec.sampled(used)
            except Exception:  # the gateway closing at the end
                return
            done.wait(0.25)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = run_compare_spark(config, master=master, progress=rec.progress)
    rec.start("write run")
    write_spark_run(result, out)
    rec.stop()
    done.set()
    thread.join()
    pq = [o.per_query for o in result.outcomes if o.per_query is not None]
    return {
        "seconds": time.perf_counter() - t0,
        "queries": result.n_queries,
        "lines": result.cleaning.get("rows_out"),
        "status": {o.name: o.status for o in result.outcomes},
        "stages": rec.rows,
        "py_peak_mib": max([_py_peak_mib(), *(r[2] for r in rec.rows)]),
        "jvm_heap_peak_mib": heap["peak"],
        "jvm_heap_max_mib": heap["max"],
        "per_query_mib": sum(float(p.memory_usage(deep=True).sum()) for p in pq) / 2**20,
    }


def child_pandas(shop: str, out: str, max_queries: int | None) -> dict[str, Any]:
    from xsell_eval.pipeline import CompareConfig, run_compare
    from xsell_eval.results import write_run

    config = CompareConfig(adapters=ADAPTERS, data=shop, max_queries=max_queries).validate()
    rec = Stages()
    t0 = time.perf_counter()
    result = run_compare(config, progress=rec.progress)
    rec.start("write run")
    write_run(result, Path(out))
    rec.stop()
    return {
        "seconds": time.perf_counter() - t0,
        "queries": result.n_queries,
        "lines": len(result.dataset.interactions) if getattr(result, "dataset", None) is not None else None,
        "status": {a.name: a.status for a in result.adapters},
        "stages": rec.rows,
        "py_peak_mib": max([_py_peak_mib(), *(r[2] for r in rec.rows)]),
    }


def run_child(args: list[str], log: Path) -> dict[str, Any]:
    """One (size, engine) in a fresh interpreter: its JSON plus wall time and the process tree's peak RSS.

    The child's stderr (stage progress, Spark's errors) goes to ``log``.
    """
    t0 = time.perf_counter()
    with open(log, "w") as err:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env
        )
        tree = 0
        while proc.poll() is None:
            tree = max(tree, sum(_rss_kib(p) for p in _tree(proc.pid)))
            time.sleep(0.2)
        stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode:
        errors = [x for x in log.read_text().splitlines() if "Error" in x or "Exception" in x]
        return {"error": (errors or [f"exit {proc.returncode}"])[0][:300], "log": str(log), "wall": wall}
    out = json.loads(stdout.strip().splitlines()[-1])
    out.update(wall=wall, tree_peak_mib=tree / 1024)
    return out


def _shop(work: Path, size: str) -> Path:
    shop = work / f"shop-{size}"
    if not (shop / "interactions.parquet").is_file():
        lines, users, items = LADDER[size]
        here = Path(__file__).resolve().parent / "bench_scale.py"
        cmd = [sys.executable, str(here), "--child", "generate", str(lines), str(users), str(items), str(shop)]
        subprocess.run(cmd, check=True, capture_output=True)
    return shop


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3M", help="comma-separated among " + ", ".join(LADDER))
    ap.add_argument("--engines", default="pandas,spark")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--max-queries", type=int, default=None, help="cap the test queries (same count at every size)")
    ap.add_argument(
        "--driver-memory", default="default", help="spark.driver.memory (default: the engine's, 2g on local)"
    )
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/xsell-scale"))
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        kind, shop, out, mq, *rest = a.child
        cap = None if mq == "none" else int(mq)
        res = child_spark(shop, out, cap, rest[0], rest[1]) if kind == "spark" else child_pandas(shop, out, cap)
        print(json.dumps(res))
        return
    a.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs; uptime at start: {os.getloadavg()}; master {a.master}", flush=True)
    rows = []
    for size in [s.strip() for s in a.sizes.split(",") if s.strip()]:
        shop = _shop(a.workdir, size)
        for engine in a.engines.split(","):
            mq = "none" if a.max_queries is None else str(a.max_queries)
            mem = "" if a.driver_memory == "default" else f"-{a.driver_memory}"
            out = a.workdir / f"run-spark-bench-{size}-{engine}-{mq}{mem}"
            started = time.strftime("%H:%M:%S", time.gmtime())
            res = run_child([engine, str(shop), str(out), mq, a.master, a.driver_memory], a.workdir / f"{out.name}.log")
            res.update(size=size, engine=engine, started_utc=started, load_after=os.getloadavg())
            rows.append(res)
            print(json.dumps(res), flush=True)
    print("\n| lines | engine | queries | wall s | driver Python RSS peak MiB | JVM heap peak MiB | tree peak MiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['size']} | {r['engine']} | failed: {r['error']} | {r['wall']:.0f} | | | |")
            continue
        heap = f"{r['jvm_heap_peak_mib']:,.0f}" if "jvm_heap_peak_mib" in r else "—"
        print(
            f"| {r['size']} | {r['engine']} | {r['queries']:,} | {r['wall']:.0f} | {r['py_peak_mib']:,.0f} | "
            f"{heap} | {r['tree_peak_mib']:,.0f} |"
        )
    print("\n| lines | engine | stage | s | driver Python RSS peak MiB | JVM heap peak MiB |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        for name, sec, py, heap in r.get("stages", []):
            if sec >= 0.05:
                jvm = f"{heap:,.0f}" if r["engine"] == "spark" else "—"
                print(f"| {r['size']} | {r['engine']} | {name} | {sec:.1f} | {py:,.0f} | {jvm} |")


if __name__ == "__main__":
    main()
