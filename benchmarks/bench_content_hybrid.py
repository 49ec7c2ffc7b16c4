"""Fit / recommend time, peak memory and hit rate@10 of content, business-rules and hybrid.

Data: the full UCI Online Retail (the embedded copy, or ``--data FILE``) read by
``xsell_eval.data.loaders.load_dataset`` with the ``literature`` cleaning of the helper notes
(drop C-invoices, missing CustomerID, Quantity <= 0, UnitPrice <= 0; catalog title = the
most frequent Description of each StockCode), temporal split, basket-completion queries
(one item revealed). ``--loader`` uses the loader's default cleaning instead.

hit_rate@10 = share of queries where at least one of the top 10 is a target;
``cold_hit@10`` = the same, counting only targets never bought in train (share of queries
having such a target in brackets). Peak memory is tracemalloc's peak over fit + recommend
(numpy and scipy allocations are traced), which excludes the shared dataset.

Run: ``python benchmarks/bench_content_hybrid.py [--only content,hybrid:cf=0.7,content=0.3]``.
Timings on a shared 2-core machine are pessimistic.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from _common import online_retail_split

from xsell_eval.adapters import registry
from xsell_eval.queries import Queries, Recommendations

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "experiments" / "rules" / "online_retail.toml"

SPECS = [
    "popular",
    "content",
    "content:popularity_weight=0",
    "content:aggregation=max",
    "content:ngrams=char_wb3-5",
    "content:ngrams=word1",
    "cf",
    "hybrid:popular=0.3,content=0.7",
    "hybrid:cf=0.7,content=0.3",
    "hybrid:cf=0.7,content=0.3,normalisation=rank",
    "hybrid:cf=0.7,content=0.3,normalisation=zscore",
    "hybrid:cf=0.9,content=0.1",
    f"business-rules:path={RULES}",
]


def hit_rate(recs: Recommendations, queries: Queries, k: int, only: np.ndarray | None = None) -> tuple[float, int]:
    """Share of queries with a (selected) target among the top k, and the number of queries counted."""
    tgt = queries.targets.tocsr().copy()
    if only is not None:
        tgt = tgt.multiply(only[None, :].astype(np.float64)).tocsr()
        tgt.eliminate_zeros()
    has = np.diff(tgt.indptr) > 0
    items = recs.items[:, :k]
    rows = np.repeat(np.arange(len(items)), k)
    flat = items.ravel()
    ok = flat >= 0
    hit_cells = np.zeros(flat.shape, dtype=bool)
    hit_cells[ok] = np.asarray(tgt[rows[ok], flat[ok]]).ravel() > 0
    hits = hit_cells.reshape(items.shape).any(axis=1)
    return (float(hits[has].mean()) if has.any() else float("nan")), int(has.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="default: the embedded data/online_retail.csv.gz")
    ap.add_argument("--loader", action="store_true", help="the loader's default cleaning instead of 'literature'")
    ap.add_argument("--only", default="", help="semicolon-separated adapter specs (default: all)")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    import sklearn.feature_extraction.text  # noqa: F401  (import time is not fit time)

    t0 = time.perf_counter()
    ds, split, queries = online_retail_split(args.data, policy=None if args.loader else "literature")
    cold = split.train.item_basket_count == 0
    print(
        f"{ds!r}; train lines {len(split.train.interactions)}, test queries {len(queries)}, "
        f"items never bought in train {int(cold.sum())}; load+split+queries {time.perf_counter() - t0:.1f}s"
    )
    specs = [s for s in args.only.split(";") if s] or SPECS
    labels = [s.replace(str(REPO) + "/", "") for s in specs]
    width = max(len(s) for s in labels)
    header = (
        f"{'adapter':{width}s} {'fit s':>7s} {'rec s':>7s} {'peak MiB':>9s} {'hit@10':>7s} "
        f"{'cold_hit@10 (n)':>16s} {'fallback':>8s}"
    )
    print(header)
    print("-" * len(header))
    for spec, label in zip(specs, labels, strict=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            adapter = registry.create(spec, seed=0)
            tracemalloc.start()
            t1 = time.perf_counter()
            adapter.fit(split.train)
            t2 = time.perf_counter()
            recs = adapter.recommend(queries, args.k)
            t3 = time.perf_counter()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        hr, _ = hit_rate(recs, queries, args.k)
        chr_, n_cold = hit_rate(recs, queries, args.k, only=cold)
        fb = "-" if recs.fallback is None else f"{recs.fallback.mean():.3f}"
        print(
            f"{label:{width}s} {t2 - t1:7.2f} {t3 - t2:7.2f} {peak / 2**20:9.1f} {hr:7.4f} "
            f"{chr_:7.4f} ({n_cold:5d}) {fb:>8s}"
        )
        for w in caught:
            print(f"    warning: {str(w.message).splitlines()[0]}")


if __name__ == "__main__":
    main()
