"""Time a simulated A/B/n test: 1,000,000 visitors × 3 arms (target: under 60 s).

Usage: python benchmarks/bench_abtest.py [--visitors N] [--traffic-per-day T] [--response truth|replay|oracle]
                                          [--users U] [--items I] [--k K] [--adapters popular,cf,rules]

Data: a synthetic shop (its ground truth gives the ``truth`` response). Arms: the given
registered adapters, fitted on the temporal train split (fitting is timed separately and is
not part of the simulator's budget). Prints seconds per stage, the peak resident memory and
the result. The machine is shared: figures are pessimistic.
"""

from __future__ import annotations

import argparse
import resource
import time


def peak_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visitors", type=int, default=1_000_000)
    ap.add_argument("--traffic-per-day", type=int, default=50_000)
    ap.add_argument("--response", default="truth")
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--adapters", default="popular,cf,rules")
    args = ap.parse_args()

    from xsell_eval.abtest.analysis import analyse
    from xsell_eval.abtest.response import ResponseModel
    from xsell_eval.abtest.simulate import prepare_arms, simulate_prepared
    from xsell_eval.adapters.registry import create
    from xsell_eval.data.synthetic import generate_shop, truth_of
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split

    t_all = time.perf_counter()
    t0 = time.perf_counter()
    shop = generate_shop(seed=0, n_users=args.users, n_items=args.items)
    ds = shop.to_dataset()
    print(f"generate shop          {time.perf_counter() - t0:7.2f} s   {ds!r}")
    t0 = time.perf_counter()
    split = make_split(ds, "temporal")
    queries = build_queries(split.train, split.test, seed=0)
    print(f"split + queries        {time.perf_counter() - t0:7.2f} s   {len(queries):,} distinct queries")
    recs = {}
    for spec in args.adapters.split(","):
        t0 = time.perf_counter()
        adapter = create(spec, seed=0).fit(split.train)
        recs[spec] = adapter.recommend(queries.without_targets(), args.k)
        print(f"adapter {spec:<14} {time.perf_counter() - t0:7.2f} s   (fit + recommend once per distinct query)")

    t_sim = time.perf_counter()
    t0 = time.perf_counter()
    prep = prepare_arms(
        queries,
        recs,
        ResponseModel(source=args.response),
        item_price=ds.item_price,
        full_data=ds,
        truth=truth_of(ds),
    )
    shape = f"{len(recs)} arms × {len(queries):,} × k={args.k}"
    print(f"slot probabilities     {time.perf_counter() - t0:7.2f} s   ({shape})")
    t0 = time.perf_counter()
    sim = simulate_prepared(prep, n_visitors=args.visitors, seed=0, traffic_per_day=args.traffic_per_day)
    print(f"simulate visitors      {time.perf_counter() - t0:7.2f} s   {sim.n_visitors:,} visitors, {sim.n_days} days")
    t0 = time.perf_counter()
    an = analyse(sim, n_boot=2000, seed=0)
    print(f"statistics             {time.perf_counter() - t0:7.2f} s   (bootstrap 2000, {an.n_days} sequential looks)")
    sim_total = time.perf_counter() - t_sim
    print(f"SIMULATOR TOTAL        {sim_total:7.2f} s   (target < 60 s for 1M visitors × 3 arms)")
    print(f"TOTAL incl. data/fit   {time.perf_counter() - t_all:7.2f} s   peak RSS {peak_mib():,.0f} MiB")
    for a in an.arms:
        print(
            f"  {a.name:<10} visitors {a.visitors:>9,}  conversion {a.conversion:.4f}  "
            f"rev/visitor {a.revenue_per_visitor:.3f}"
        )
    print(f"  decision: {an.decision.text}")


if __name__ == "__main__":
    main()
