"""Speed and memory of the ``sequence`` adapter (SASRec-style, torch) on the full Online Retail.

Embedded UCI Online Retail (``load_dataset(None)``), temporal split (last 20 % of baskets
= test), the adapter fitted on the whole train split with its default settings (early
stopping on the last 10 % of train inside ``fit``), then asked for the top 10 of every
test query. Prints epochs run and epochs/s, fit and recommend time (wall clock *and*
process CPU time: on a shared machine the wall clock is pessimistic, CPU time is what the
work costs), peak RSS of the process, and hit rate@10 next to ``popular`` and ``cf``.

Usage::

    python benchmarks/bench_sequence.py
    python benchmarks/bench_sequence.py --protocol next-basket
    python benchmarks/bench_sequence.py --param num_threads=2 --param epochs=5
"""

from __future__ import annotations

import argparse
import logging
import resource
import time

import numpy as np

from xsell_eval.adapters.registry import create, parse_value
from xsell_eval.queries import Queries, Recommendations


def hit_rate(recs: Recommendations, queries: Queries, k: int = 10) -> np.ndarray:
    """Per query: 1.0 when one of the top ``k`` items is a hidden target."""
    items = recs.items[:, :k]
    valid = items >= 0
    rows = np.repeat(np.arange(len(queries)), items.shape[1]).reshape(items.shape)
    found = np.zeros(items.shape, dtype=bool)
    found[valid] = np.asarray(queries.targets[rows[valid], items[valid]]).ravel() > 0
    return found.any(axis=1).astype(float)


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="basket-completion")
    ap.add_argument("--param", action="append", default=[], help="sequence hyperparameter key=value")
    ap.add_argument("--baselines", default="popular,cf", help="comma-separated adapters to compare with")
    ap.add_argument("--verbose", action="store_true", help="log every epoch")
    args = ap.parse_args()
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split

    t0 = time.perf_counter()
    ds = load_dataset(None)
    split = make_split(ds, "temporal")
    queries = build_queries(split.train, split.test, args.protocol, seed=0)
    _ = split.train.baskets, split.train.item_basket_count  # shared caches, built once per run
    print(f"data: {ds!r}; train lines {len(split.train.interactions)}; {len(queries)} {args.protocol} queries")
    print(f"load + split + queries: {time.perf_counter() - t0:.1f}s wall (not part of the adapter)")

    params = {k: parse_value(v) for k, v in (p.split("=", 1) for p in args.param)}
    seq = create("sequence", seed=0, params=params)
    w0, c0 = time.perf_counter(), time.process_time()
    seq.fit(split.train)
    fit_wall, fit_cpu = time.perf_counter() - w0, time.process_time() - c0
    rss_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    w0, c0 = time.perf_counter(), time.process_time()
    recs = seq.recommend(queries.without_targets(), 10)
    rec_wall, rec_cpu = time.perf_counter() - w0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    h = seq.history_  # type: ignore[attr-defined]
    epochs = len(h)
    train_s = sum(e["seconds"] for e in h)
    print(f"\nsequence {seq.get_params()}")
    print(
        f"  windows/epoch {seq.n_windows_}, (position, target) pairs/epoch {seq.n_targets_}, "  # type: ignore[attr-defined]
        f"validation queries {seq.n_valid_queries_}"  # type: ignore[attr-defined]
    )
    for e in h:
        print(
            f"  epoch {e['epoch']:2d}: loss {e['loss']:.4f}  valid hit_rate@10 {e['valid_hit_rate@10']:.4f}  "
            f"{e['seconds']:.1f}s"
        )
    print(
        f"  epochs run {epochs} (best {seq.best_epoch_}, stopped early: {seq.stopped_early_}); "  # type: ignore[attr-defined]
        f"{epochs / train_s:.3f} epochs/s wall"
    )
    print(f"  fit       {fit_wall:7.1f}s wall  {fit_cpu:7.1f}s CPU  (CPU/wall {fit_cpu / fit_wall:.2f})")
    print(f"  recommend {rec_wall:7.1f}s wall  {rec_cpu:7.1f}s CPU  for {len(queries)} queries (k=10)")
    print(f"  peak RSS  {rss_fit:7.0f} MiB after fit, {rss:.0f} MiB after recommend (whole process, data included)")
    hr = hit_rate(recs, queries)
    print(f"  hit_rate@10 {hr.mean():.4f}")

    for name in [b for b in args.baselines.split(",") if b]:
        a = create(name, seed=0)
        w0 = time.perf_counter()
        a.fit(split.train)
        r = a.recommend(queries.without_targets(), 10)
        took = time.perf_counter() - w0
        print(f"{name:>10s}: hit_rate@10 {hit_rate(r, queries).mean():.4f}  fit+recommend {took:.1f}s wall")


if __name__ == "__main__":
    main()
