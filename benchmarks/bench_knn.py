"""Item-kNN at scale: fit + top-10 for every user, xsell-eval's ``cf`` against a plain scipy reference.

Default: seeded synthetic purchase histories of 200,000 users × 50,000 items with about 4.9M
distinct (user, item) pairs (basket sizes log-normal around 24, Zipf-like item popularity,
exponent ``--zipf``). Both sides compute the same model — cosine item-item similarity on the
binary user × item matrix, no shrinkage, the 100 best neighbours per item, a user's score the
sum of their items' neighbour rows, the user's own items excluded, top 10 (ties: lower item
index) — and the script checks that both give the same lists before printing the times.

- xsell-eval: ``ItemKNNAdapter(interactions="user", shrink=0, fallback="none")`` — its ``_fit``
  on the matrix (item similarity chunked by work, 2 threads) and its ``recommend`` over
  ``Requests`` whose context is each user's history (sparse candidate top-k, batches of 512).
- reference: plain scipy written from scratch in this file: ``XᵀX`` in blocks of 500 item rows,
  cosine on the nonzeros, a row-wise top-100 (``np.partition`` of the rows padded in blocks of
  similar length, then ``np.lexsort`` of the entries at or above the k-th); then ``X @ S`` in blocks of 2,000 users,
  seen items removed by a sparse elementwise product, the same row-wise top-10. Single-threaded.

Timings are wall-clock on whatever else the machine is running (say so when quoting them).

Usage::

    python benchmarks/bench_knn.py                       # 200k × 50k × ~4.9M
    python benchmarks/bench_knn.py --users 20000 --items 5000 --per-user 24   # quick
    python benchmarks/bench_knn.py --online-retail       # the adapters on UCI Online Retail (below)

``--online-retail`` keeps the earlier benchmark: fit + recommend time, peak memory and
hit_rate@10 of popular / cf / user-knn / segments on the embedded Online Retail
(literature cleaning, temporal split, basket completion).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.sparse as sp

from xsell_eval.adapters.base import BaseAdapter
from xsell_eval.queries import Recommendations, Requests


# ----------------------------------------------------------------------------- synthetic data
def synthetic_histories(users: int, items: int, per_user: float, zipf: float, seed: int) -> sp.csr_matrix:
    """Binary users × items CSR: log-normal history sizes (mean ``per_user``), Zipf-like popularity."""
    rng = np.random.default_rng(seed)
    sizes = np.maximum(1, np.rint(rng.lognormal(np.log(per_user) - 0.32, 0.8, size=users))).astype(np.int64)
    w = 1.0 / np.arange(1, items + 1, dtype=np.float64) ** zipf
    w /= w.sum()
    perm = rng.permutation(items)  # popular items spread over the index
    cols = perm[np.searchsorted(np.cumsum(w), rng.random(int(sizes.sum())), side="right").clip(0, items - 1)]
    rows = np.repeat(np.arange(users), sizes)
    x = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(users, items))
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


# ----------------------------------------------------------------------------- plain scipy reference
def _row_top_k(m: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) of each row's k largest entries, ties -> lower column.

    Each row's k-th largest value comes from ``np.partition`` over dense padded blocks of the
    rows longer than ``k``, grouped by length (rows of ``(2^(b-1), 2^b]`` entries share one block,
    so padding at most doubles the work); the entries at or above it are sorted by ``np.lexsort``.
    """
    n = m.shape[0]
    lengths = np.diff(m.indptr)
    rows = np.repeat(np.arange(n), lengths)
    kth = np.full(n, -np.inf)  # rows of at most k entries keep them all
    long = np.flatnonzero(lengths > k)
    bucket = np.ceil(np.log2(lengths[long])).astype(np.int64)
    for b in np.unique(bucket):
        rs = long[bucket == b]
        width = int(lengths[rs].max())
        starts, lens = m.indptr[rs], lengths[rs]
        r_of = np.repeat(np.arange(len(rs)), lens)
        offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        pad = np.full((len(rs), width), -np.inf)
        pad[r_of, offs] = m.data[np.repeat(starts, lens) + offs]
        kth[rs] = -np.partition(-pad, k - 1, axis=1)[:, k - 1]
    sel = np.flatnonzero(m.data >= kth[rows])
    order = sel[np.lexsort((m.indices[sel], -m.data[sel], rows[sel]))]
    r = rows[order]
    rank = np.arange(len(order)) - np.searchsorted(r, r)
    keep = order[rank < k]
    return rows[keep], m.indices[keep], m.data[keep]


def reference_fit(x: sp.csr_matrix, k: int, block: int = 500) -> sp.csr_matrix:
    """Cosine item-item similarity, top-k per row, in plain scipy (blocks of ``block`` item rows)."""
    xt = x.T.tocsr()
    n = np.asarray(x.sum(axis=0)).ravel()
    parts = []
    for start in range(0, x.shape[1], block):
        stop = min(start + block, x.shape[1])
        c = (xt[start:stop] @ x).tocsr()
        r = np.repeat(np.arange(start, stop), np.diff(c.indptr))
        c.data = c.data / np.sqrt(n[r] * n[c.indices])
        c.data[r == c.indices] = 0.0
        c.eliminate_zeros()
        rr, cc, vv = _row_top_k(c, k)
        parts.append(sp.csr_matrix((vv, (rr, cc)), shape=c.shape))
    return sp.vstack(parts, format="csr")


def reference_recommend(x: sp.csr_matrix, s: sp.csr_matrix, k: int, block: int = 2_000) -> np.ndarray:
    """Top-k items per user of ``x @ s`` without the user's own items, in plain scipy."""
    out = np.full((x.shape[0], k), -1, dtype=np.int64)
    for start in range(0, x.shape[0], block):
        xb = x[start : start + block]
        sc = (xb @ s).tocsr()
        sc = (sc - sc.multiply(xb.astype(bool))).tocsr()  # drop seen items
        sc.eliminate_zeros()
        r, c, _ = _row_top_k(sc, k)
        rank = np.arange(len(r)) - np.searchsorted(r, r)
        out[start + r, rank] = c
    return out


# ----------------------------------------------------------------------------- xsell-eval
def xsell_fit(x: sp.csr_matrix, k: int) -> BaseAdapter:
    """``ItemKNNAdapter._fit`` on a train stand-in carrying the user × item matrix."""
    from xsell_eval.adapters.knn import ItemKNNAdapter

    a = ItemKNNAdapter(interactions="user", shrink=0.0, k_neighbors=k, fallback="none")
    train = SimpleNamespace(user_item=x, basket_item=x, has_users=True, item_basket_count=np.diff(x.tocsc().indptr))
    a._fit(train)  # type: ignore[arg-type]
    a.n_items_ = x.shape[1]
    a.fitted_ = True
    return a


def xsell_recommend(a: BaseAdapter, x: sp.csr_matrix, k: int) -> Recommendations:
    """``recommend`` for every user, context = the user's history."""
    n = x.shape[0]
    req = Requests(
        query_id=np.arange(n),
        user_idx=np.arange(n),
        timestamp=np.full(n, "NaT", dtype="datetime64[ns]"),
        context=x,
        context_value=np.full(n, np.nan),
        user_history=np.ones(n, dtype=np.int64),
        protocol="next-basket",
    )
    return a.recommend(req, k)


def _fit_and_recommend(label: str, fit: Any, recommend: Any) -> tuple[tuple[Any, Any], float, float]:
    """Time ``fit()`` then ``recommend(model)``; print one line; return both results and times."""
    t0 = time.perf_counter()
    model = fit()
    t1 = time.perf_counter()
    out = recommend(model)
    t2 = time.perf_counter()
    f, r = t1 - t0, t2 - t1
    print(f"{label:<16s} fit {f:6.1f}s  recommend {r:6.1f}s  total {f + r:6.1f}s", flush=True)
    return (model, out), f, r


def scale(args: argparse.Namespace) -> None:
    """Print the side-by-side timings on synthetic histories."""
    t0 = time.perf_counter()
    x = synthetic_histories(args.users, args.items, args.per_user, args.zipf, args.seed)
    t_gen = time.perf_counter() - t0
    print(
        f"synthetic histories: {x.shape[0]:,} users × {x.shape[1]:,} items, {x.nnz:,} nonzeros "
        f"(seed {args.seed}, zipf {args.zipf}; generated in {t_gen:.1f}s); "
        f"k_neighbors={args.k_neighbors}, top-{args.k}",
        flush=True,
    )
    (a, recs), xs_fit, xs_rec = _fit_and_recommend(
        "xsell-eval cf", lambda: xsell_fit(x, args.k_neighbors), lambda m: xsell_recommend(m, x, args.k)
    )
    if args.skip_reference:
        return
    (s_ref, top_ref), ref_fit, ref_rec = _fit_and_recommend(
        "scipy reference", lambda: reference_fit(x, args.k_neighbors), lambda s: reference_recommend(x, s, args.k)
    )
    sim = a.similarity_  # type: ignore[attr-defined]
    same_sim = sim.shape == s_ref.shape and abs(sim - s_ref).max() <= 1e-9
    same = bool((recs.items == top_ref).all())
    print(
        f"ratio xsell/reference {(xs_fit + xs_rec) / (ref_fit + ref_rec):.2f}×; same similarity: {same_sim}; "
        f"same top-{args.k} lists: {same}; similarity nnz {sim.nnz:,}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {rss:.0f} MiB")
    if not (same and same_sim):
        raise SystemExit("the two implementations disagree")


# ----------------------------------------------------------------------------- Online Retail (earlier benchmark)
def hit_rate(recs: Recommendations, queries: object, k: int = 10) -> float:
    """Share of queries with at least one target among the top k."""
    items = recs.items[:, :k]
    valid = items >= 0
    rows = np.repeat(np.arange(len(recs)), k).reshape(-1, k)
    hit = np.zeros(items.shape, dtype=bool)
    hit[valid] = np.asarray(queries.targets[rows[valid], items[valid]]).ravel() > 0  # type: ignore[attr-defined]
    return float(hit.any(axis=1).mean())


def run(adapter: BaseAdapter, train: object, queries: object, k: int = 10) -> dict[str, object]:
    """Fit and recommend: a timed pass, then a tracemalloc pass (tracing slows code down) for peak memory."""
    blind = queries.without_targets()  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    adapter.fit(train)  # type: ignore[arg-type]
    t1 = time.perf_counter()
    recs = adapter.recommend(blind, k)
    t2 = time.perf_counter()
    tracemalloc.start()
    adapter.fit(train)  # type: ignore[arg-type]
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


def online_retail(args: argparse.Namespace) -> None:
    """One line per adapter configuration on the embedded Online Retail."""
    from _common import online_retail_split

    from xsell_eval.adapters.baselines import PopularAdapter
    from xsell_eval.adapters.knn import ItemKNNAdapter, UserKNNAdapter

    ds, split, queries = online_retail_split(policy="literature", protocol=args.protocol)
    for cached in ("basket_item", "user_item", "item_basket_count", "item_category"):
        getattr(split.train, cached)  # shared dataset matrices, built once per run by the harness
    print(f"data: {ds!r}; train lines {len(split.train.interactions)}; {args.protocol} queries {len(queries)}")
    adapters: list[BaseAdapter] = [PopularAdapter(), ItemKNNAdapter(), UserKNNAdapter()]
    for a in adapters:
        row = run(a, split.train, queries)
        print("  ".join(f"{key}={val}" for key, val in row.items()), flush=True)


def main() -> None:
    """Parse the options and run one of the two benchmarks."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--per-user", type=float, default=24.9, help="mean history length before de-duplication")
    ap.add_argument("--zipf", type=float, default=0.8)
    ap.add_argument("--k-neighbors", type=int, default=100)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--online-retail", action="store_true")
    ap.add_argument("--skip-reference", action="store_true", help="time xsell-eval only")
    ap.add_argument("--protocol", default="basket-completion")
    args = ap.parse_args()
    if args.online_retail:
        online_retail(args)
    else:
        scale(args)


if __name__ == "__main__":
    main()
