"""Benchmark: xsell_eval.mining vs mlxtend (fpgrowth + association_rules) on Online Retail.

Reads the embedded Online Retail (or ``--data FILE``) with ``load_dataset(path,
policy="literature")`` (no ``C`` invoices, customer present, quantity > 0, unit price > 0),
keeps invoices before the cutoff as the train baskets (items never bought before the cutoff
are left out), mines both ways at the same parameters, checks that the rule sets and every
measure agree, and prints wall time, speed-up and peak traced memory (tracemalloc, which
sees numpy/scipy buffers; measured in a second, untimed run because tracing slows
Python-heavy code).

Run::

    python benchmarks/bench_mining.py [--min-support 0.01] [--min-confidence 0.0] [--max-len 3]

Timings on a shared machine are pessimistic; compare ratios, not absolute seconds.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _common import online_retail

from xsell_eval.columns import Columns as C
from xsell_eval.mining import CONFIDENCE_TOL, mine_rules

MEASURES = ("support", "confidence", "lift", "leverage", "conviction")


def train_baskets(path: Path | None, cutoff: str) -> tuple[sp.csr_matrix, np.ndarray]:
    """Binary train basket × item CSR (only baskets and items of the train lines) and the item ids of its columns."""
    ds = online_retail(path, policy="literature")
    x = ds.subset(ds.interactions[C.TIMESTAMP] < pd.Timestamp(cutoff)).basket_item
    rows = np.flatnonzero(np.diff(x.indptr) > 0)
    cols = np.flatnonzero(np.bincount(x.indices, minlength=x.shape[1]) > 0)
    return x[rows][:, cols].tocsr(), np.asarray(ds.item_ids, dtype=object)[cols]


def run_ours(x: sp.csr_matrix, args: argparse.Namespace) -> pd.DataFrame:
    rs = mine_rules(x, min_support=args.min_support, min_confidence=args.min_confidence, max_len=args.max_len)
    return rs.rules


def run_mlxtend(x: sp.csr_matrix, args: argparse.Namespace) -> pd.DataFrame:
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    df = pd.DataFrame(x.toarray().astype(bool))  # mlxtend's documented input: a dense bool one-hot frame
    fi = fpgrowth(df, min_support=args.min_support, max_len=args.max_len)
    if len(fi) == 0:
        return pd.DataFrame(columns=["antecedents", "consequents", *MEASURES])
    # mlxtend compares the ratio of rounded supports without tolerance: lower its
    # threshold by the same 1e-12 so exact ties are kept on both sides
    return association_rules(
        fi, num_itemsets=x.shape[0], metric="confidence", min_threshold=args.min_confidence - CONFIDENCE_TOL
    )


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def compare(ours: pd.DataFrame, ref: pd.DataFrame) -> str:
    """Empty string if identical (same rules, measures within 1e-9 relative), else a reason."""
    key_o = pd.Series([(a, c) for a, c in zip(ours["antecedent"], ours["consequent"], strict=True)], dtype=object)
    key_r = pd.Series(
        [(tuple(sorted(a)), tuple(sorted(c))) for a, c in zip(ref["antecedents"], ref["consequents"], strict=True)],
        dtype=object,
    )
    if len(set(key_o)) != len(key_o):
        return "duplicate rules in our output"
    if set(key_o) != set(key_r):
        return (
            f"rule sets differ: {len(set(key_o) - set(key_r))} only ours, {len(set(key_r) - set(key_o))} only mlxtend"
        )
    o = ours.set_index(key_o)
    r = ref.set_index(key_r).loc[o.index]
    for m in MEASURES:
        if not np.allclose(o[m].to_numpy(float), r[m].to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True):
            return f"measure '{m}' differs"
    return ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="default: the embedded data/online_retail.csv.gz")
    p.add_argument("--cutoff", default="2011-09-09", help="train = invoices before this date")
    p.add_argument("--min-support", type=float, default=0.01)
    p.add_argument("--min-confidence", type=float, default=0.0)
    p.add_argument("--max-len", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3, help="runs of our miner (best time is reported)")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    args = p.parse_args()
    t0 = time.perf_counter()
    x, _items = train_baskets(args.data, args.cutoff)
    print(
        f"Online Retail train (< {args.cutoff}): {x.shape[0]:,} baskets × {x.shape[1]:,} items, "
        f"{x.nnz:,} lines  [read in {time.perf_counter() - t0:.1f}s]"
    )
    print(f"parameters: min_support={args.min_support} min_confidence={args.min_confidence} max_len={args.max_len}")

    ours, t_ours = timed(lambda: run_ours(x, args), args.repeat)
    ref, t_ref = timed(lambda: run_mlxtend(x, args), 1)
    verdict = compare(ours, ref)
    print(
        f"rules: ours {len(ours):,}   mlxtend {len(ref):,}   identical: {'yes' if not verdict else 'NO — ' + verdict}"
    )
    print(
        f"time:  ours {t_ours:8.3f}s (best of {args.repeat})   mlxtend {t_ref:8.3f}s   speed-up {t_ref / t_ours:6.1f}×"
    )
    if not args.no_memory:
        m_ours = peak_mib(lambda: run_ours(x, args))
        m_ref = peak_mib(lambda: run_mlxtend(x, args))
        print(f"peak traced memory: ours {m_ours:8.1f} MiB   mlxtend {m_ref:8.1f} MiB")
    return 0 if not verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
