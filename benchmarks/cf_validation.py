"""Validation-window comparison of ``cf`` options (history_weight, popularity_prior) against its defaults.

Each data set is split as ``compare`` splits it; the *validation window* (the last part of train, carved
out as tuning does) is used, never the test period. Prints hit@10 and ndcg@10 per variant, and the
paired difference to the defaults with a 95% bootstrap CI.

    python benchmarks/cf_validation.py                       # embedded Online Retail
    python benchmarks/cf_validation.py /work/shared/data/completejourney_sample
"""

from __future__ import annotations

import sys
import time

import numpy as np

from xsell_eval.adapters._history import BasketHistory
from xsell_eval.adapters.knn import ItemKNNAdapter
from xsell_eval.data.dataset import Dataset
from xsell_eval.pipeline import CompareConfig, evaluate_recs, prepare, prepare_validation

VARIANTS: dict[str, dict[str, float]] = {
    "defaults": {},
    "history_weight=0.5": {"history_weight": 0.5},
    "history_weight=1": {"history_weight": 1.0},
    "popularity_prior=0.1": {"popularity_prior": 0.1},
    "popularity_prior=1": {"popularity_prior": 1.0},
    "both (0.5, 0.1)": {"history_weight": 0.5, "popularity_prior": 0.1},
}


def _sharing_similarity(variant: ItemKNNAdapter, fitted: ItemKNNAdapter, train: Dataset) -> ItemKNNAdapter:
    """``variant`` made ready with ``fitted``'s similarity (the options change scoring, not the fit)."""
    variant.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    variant.history_ = BasketHistory.from_dataset(train) if variant.params["history_weight"] > 0 else None
    return variant


def main(data: str | None, max_queries: int | None) -> None:
    cfg = CompareConfig(data=data, adapters=("cf",), max_queries=max_queries).validate()
    prepared = prepare(cfg)
    train_v, queries_v = prepare_validation(cfg, prepared)
    print(f"data={data or 'online_retail (embedded)'} validation queries={len(queries_v):,}")
    base = None
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    fitted = ItemKNNAdapter(seed=cfg.seed).fit(train_v)
    print(f"cf fit {time.perf_counter() - t0:.0f} s (one fit: both options act at scoring time only)")
    for label, params in VARIANTS.items():
        t0 = time.perf_counter()
        variant = _sharing_similarity(ItemKNNAdapter(seed=cfg.seed, **params), fitted, train_v)
        recs = variant.recommend(queries_v.requests, 10)
        pq, _, _ = evaluate_recs(recs, queries_v, train_v, (10,))
        hit, ndcg = pq["hit_rate@10"].to_numpy(), pq["ndcg@10"].to_numpy()
        line = f"{label:24s} hit@10 {hit.mean():.4f}  ndcg@10 {ndcg.mean():.4f}  ({time.perf_counter() - t0:.0f} s)"
        if base is None:
            base = hit
        else:
            d = hit - base
            boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(1000)]
            line += f"  Δhit {d.mean():+.4f} [{np.quantile(boots, 0.025):+.4f}, {np.quantile(boots, 0.975):+.4f}]"
        print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None, int(sys.argv[2]) if len(sys.argv) > 2 else None)
