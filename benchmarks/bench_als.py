"""Fit and fold-in time of ``als`` on a seeded synthetic 200k users × 50k items × 4.9M non-zero matrix.

The issue's target: fit under 60 s on 2 cores. The matrix has Zipf-like item popularity and
basket counts 1 + Geometric(0.6); it is generated straight as a CSR (building a ``Dataset`` of
4.9M string-id lines is not part of the model fit and is left out). The adapter's own
``_fit`` runs on it: confidence ``1 + alpha·r``, then ``implicit``'s ALS with the adapter's
defaults (64 factors, 15 iterations, conjugate gradient, all cores). Then ``fold_in`` + scoring
of 10,000 profiles (train rows with one extra cart item), as ``recommend`` does per batch.

Usage::

    python benchmarks/bench_als.py                  # defaults
    python benchmarks/bench_als.py --threads 1 --factors 128 --iterations 15

Timings on a shared machine are pessimistic; the script prints wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import resource
import time
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters.als import ALSAdapter


def synthetic(n_users: int = 200_000, n_items: int = 50_000, nnz: int = 4_900_000, seed: int = 0) -> sp.csr_matrix:
    """Seeded user × item count matrix with exactly ``nnz`` distinct non-zeros."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    pop = rng.permutation(pop / pop.sum())
    draw = int(nnz * 1.3)
    keys = rng.integers(0, n_users, draw, dtype=np.int64) * n_items + rng.choice(n_items, draw, p=pop)
    keys = np.unique(keys)
    if len(keys) < nnz:
        raise SystemExit(f"only {len(keys)} distinct pairs drawn; raise the oversampling")
    keys = np.sort(rng.choice(keys, nnz, replace=False))
    counts = (1 + rng.geometric(0.6, nnz) - 1).astype(np.float32)
    m = sp.csr_matrix((counts, (keys // n_items, keys % n_items)), shape=(n_users, n_items))
    m.sort_indices()
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--queries", type=int, default=10_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    m = synthetic()
    print(
        f"matrix {m.shape[0]:,} users × {m.shape[1]:,} items, {m.nnz:,} non-zeros (seed 0): "
        f"generated in {time.perf_counter() - t0:.1f} s"
    )

    als = ALSAdapter(seed=0, factors=args.factors, iterations=args.iterations, num_threads=args.threads)
    w0, c0 = time.perf_counter(), time.process_time()
    als._fit(SimpleNamespace(user_item=m))  # type: ignore[arg-type]  # _fit only reads user_item
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(
        f"fit: {wall:.1f} s wall, {cpu:.1f} s CPU (factors={args.factors}, iterations={args.iterations}, "
        f"num_threads={args.threads or 'all'}) -> {'under' if wall < 60 else 'OVER'} the 60 s target"
    )

    rng = np.random.default_rng(1)
    users = rng.choice(m.shape[0], args.queries, replace=False)
    cart = sp.csr_matrix(
        (np.ones(args.queries, np.float32), (np.arange(args.queries), rng.integers(0, m.shape[1], args.queries))),
        shape=(args.queries, m.shape[1]),
    )
    prof = m[users].maximum(cart).tocsr()
    w0 = time.perf_counter()
    scored = 0
    for s in range(0, args.queries, ALSAdapter.batch_size):
        x = als.fold_in(prof[s : s + ALSAdapter.batch_size])
        scores = x @ als.item_factors_.T
        scored += scores.shape[0]
    wall = time.perf_counter() - w0
    print(
        f"fold-in + scoring of {scored:,} profiles against all items: {wall:.1f} s "
        f"({1e3 * wall / scored:.2f} ms per query, batches of {ALSAdapter.batch_size})"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB")


if __name__ == "__main__":
    main()
