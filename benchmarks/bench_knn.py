"""Fit + recommend time, peak memory and hit_rate@10 of cf / user-knn / segments vs popular.

Runs on the full UCI Online Retail (the embedded copy, ``load_dataset(None, policy="literature")``:
no C-invoices, known customers, quantity > 0, price > 0), temporal split, basket-completion
queries (1 item revealed), k = 10. Timings on a shared machine are pessimistic. Peak memory
is the tracemalloc peak of fit + recommend (numpy and scipy allocations are traced; it
excludes the interpreter and the data set itself), measured in a second pass because tracing
slows the code down, plus the process max RSS. The train set's shared sparse matrices (built
once per run and cached on the Dataset) are built before timing and reported separately.
Segments limits BLAS/OpenMP to ``n_threads`` (default 1).

Usage::

    python benchmarks/bench_knn.py                 # default settings of each adapter
    python benchmarks/bench_knn.py --grid          # also a small grid of cf settings
    python benchmarks/bench_knn.py --protocol next-basket
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
from _common import online_retail_split

from xsell_eval.adapters.base import BaseAdapter
from xsell_eval.data.dataset import Dataset
from xsell_eval.queries import Queries, Recommendations


def hit_rate(recs: Recommendations, queries: Queries, k: int = 10) -> float:
    """Share of queries with at least one target among the top k."""
    items = recs.items[:, :k]
    valid = items >= 0
    rows = np.repeat(np.arange(len(queries)), k).reshape(-1, k)
    hit = np.zeros(items.shape, dtype=bool)
    hit[valid] = np.asarray(queries.targets[rows[valid], items[valid]]).ravel() > 0
    return float(hit.any(axis=1).mean())


def run(adapter: BaseAdapter, train: Dataset, queries: Queries, k: int = 10) -> dict[str, object]:
    """Fit and recommend: a timed pass, then a tracemalloc pass (tracing slows code down) for peak memory."""
    blind = queries.without_targets()
    t0 = time.perf_counter()
    adapter.fit(train)
    t1 = time.perf_counter()
    recs = adapter.recommend(blind, k)
    t2 = time.perf_counter()
    tracemalloc.start()
    adapter.fit(train)
    adapter.recommend(blind, k)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    fb = recs.fallback
    return {
        "adapter": repr(adapter),
        "fit_s": round(t1 - t0, 2),
        "rec_s": round(t2 - t1, 2),
        "peak_MiB": round(peak / 2**20, 1),
        f"hit@{k}": round(hit_rate(recs, queries, k), 4),
        "fallback": None if fb is None else round(float(fb.mean()), 4),
        "empty_slots": round(float((recs.items < 0).mean()), 4),
    }


def main() -> None:
    """Print one line per adapter configuration."""
    from xsell_eval.adapters.baselines import PopularAdapter
    from xsell_eval.adapters.knn import ItemKNNAdapter, UserKNNAdapter

    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", default="basket-completion")
    ap.add_argument("--grid", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds, split, queries = online_retail_split(policy="literature", protocol=args.protocol)
    t1 = time.perf_counter()
    for cached in ("basket_item", "user_item", "item_basket_count", "item_category"):
        getattr(split.train, cached)  # shared dataset matrices, built once per run by the harness
    t_cache = time.perf_counter() - t1
    t2 = time.perf_counter()
    import sklearn.cluster
    import sklearn.decomposition  # noqa: F401  (one-off import cost, several seconds on a loaded machine)

    t_import = time.perf_counter() - t2
    print(
        f"data: {ds!r}; train lines {len(split.train.interactions)}; {args.protocol} queries {len(queries)}; "
        f"cold-user queries {int((queries.user_history == 0).sum())}; load+split {t1 - t0:.1f}s; "
        f"shared train matrices (not in fit_s) {t_cache:.1f}s; sklearn import (not in fit_s) {t_import:.1f}s"
    )
    adapters: list[BaseAdapter] = [PopularAdapter(), ItemKNNAdapter(), UserKNNAdapter()]
    try:
        from xsell_eval.adapters.segments import SegmentsAdapter

        adapters.append(SegmentsAdapter())
    except ImportError:
        pass
    if args.grid:
        adapters += [
            ItemKNNAdapter(similarity=s, k_neighbors=kn, shrink=sh, aggregation=agg)
            for s in ("cosine", "jaccard", "lift")
            for kn in (50, 200)
            for sh in (0.0, 10.0)
            for agg in ("sum",)
        ]
        adapters += [ItemKNNAdapter(similarity="asymmetric", alpha=a, k_neighbors=200) for a in (0.0, 0.25, 0.75)]
        adapters += [
            ItemKNNAdapter(aggregation="max"),
            ItemKNNAdapter(interactions="user"),
            ItemKNNAdapter(fallback="none"),
            UserKNNAdapter(similarity="pearson"),
            UserKNNAdapter(k_neighbors=200),
        ]
    for a in adapters:
        row = run(a, split.train, queries)
        print("  ".join(f"{key}={val}" for key, val in row.items()), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
