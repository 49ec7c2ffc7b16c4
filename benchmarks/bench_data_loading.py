"""Time each stage of loading the embedded UCI Online Retail: read, clean, index, data card.

Stages (the same calls ``load_dataset`` makes, timed separately):

- ``read``: the ``online-retail`` loader (pyarrow CSV read of 541,909 lines, parsing, ids);
- ``clean``: the six cleaning rules;
- ``index``: ``Dataset.from_frames`` (string ids, index maps) plus the catalog;
- ``card``: ``data_card`` (basket table, distributions);
- ``load_dataset``: the whole call end to end.

Each figure is the best of ``--repeat`` runs, as wall time and as process CPU time. The machine
is shared by several jobs on 2 cores, so wall times are pessimistic; CPU time is the steadier
figure. The script also prints the process max RSS.

Run: ``python benchmarks/bench_data_loading.py [--data FILE] [--repeat 3] [--policy literature]``.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xsell_eval.data.cleaning import CleaningPolicy, clean
from xsell_eval.data.dataset import Dataset
from xsell_eval.data.describe import data_card
from xsell_eval.data.loaders import LOADERS, LoadOptions, _catalog_from_lines, default_data_path, load_dataset


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(best wall seconds, best CPU seconds, last result)."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="Online Retail CSV (default: the embedded file)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--policy", default=None, help="cleaning spec, e.g. 'literature'")
    args = parser.parse_args()
    path = args.data or default_data_path()
    policy = CleaningPolicy.from_spec(args.policy)
    read = LOADERS["online-retail"].read

    rows = []
    w, c, raw = best(lambda: read(path, LoadOptions()), args.repeat)
    rows.append(("read", w, c, f"{len(raw.lines):,} lines"))
    w, c, (lines, report) = best(
        lambda: clean(raw.lines, policy, source=path.name, cancelled=raw.cancelled), args.repeat
    )
    rows.append(("clean", w, c, f"{report.rows_out:,} kept"))

    def index() -> Dataset:
        cat = _catalog_from_lines(lines)
        keep = [col for col in lines.columns if col not in ("title", "description", "category")]
        return Dataset.from_frames(lines[keep].reset_index(drop=True), cat, cleaning=report)

    w, c, ds = best(index, args.repeat)
    rows.append(("index", w, c, repr(ds)))
    w, c, card = best(lambda: data_card(ds), args.repeat)
    rows.append(("card", w, c, f"{card.baskets:,} baskets"))
    w, c, _ = best(lambda: load_dataset(path, policy=policy), args.repeat)
    rows.append(("load_dataset", w, c, "end to end"))

    print(f"data: {path}  policy: {args.policy or 'default'}  best of {args.repeat}")
    print(f"{'stage':<14}{'wall s':>9}{'cpu s':>9}  detail")
    for name, wall, cpu, detail in rows:
        print(f"{name:<14}{wall:>9.2f}{cpu:>9.2f}  {detail}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS: {rss:,.0f} MiB")
    print(report.to_markdown())


if __name__ == "__main__":
    main()
