"""Shared set-up of the A/B-test tests: a synthetic shop, its test queries and two arms.

The arms are built with numpy here (not with registered adapters) so these tests do not
depend on other adapters' code: ``popular`` = the most bought training items, ``cooc`` =
items most co-bought with the cart in training (an item-kNN in three lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from xsell_eval.abtest.response import ResponseModel
from xsell_eval.abtest.simulate import PreparedArms, prepare_arms, simulate_prepared
from xsell_eval.data.dataset import Dataset
from xsell_eval.data.synthetic import ShopTruth, generate_shop, truth_of
from xsell_eval.protocols import build_queries
from xsell_eval.queries import Queries, Recommendations, top_k
from xsell_eval.split import make_split


@dataclass(frozen=True, eq=False)
class ShopCase:
    ds: Dataset
    truth: ShopTruth
    queries: Queries
    recs: dict[str, Recommendations]


@lru_cache(maxsize=4)
def shop_case(seed: int = 0, k: int = 5, n_users: int = 2000, n_items: int = 300, n_days: int = 120) -> ShopCase:
    shop = generate_shop(seed=seed, n_users=n_users, n_items=n_items, n_days=n_days)
    ds = shop.to_dataset()
    truth = truth_of(ds)
    assert truth is not None
    split = make_split(ds, "temporal")
    q = build_queries(split.train, split.test, seed=seed)
    pop = split.train.item_basket_count.astype(np.float64)
    items_pop, s_pop = top_k(np.tile(pop, (len(q), 1)), k, exclude=q.context)
    b = split.train.basket_item
    co = (b.T @ b).toarray()
    np.fill_diagonal(co, 0.0)
    score = np.asarray(q.context @ co) + 1e-6 * pop
    items_co, s_co = top_k(score, k, exclude=q.context)
    recs = {
        "popular": Recommendations(items_pop, s_pop, "popular"),
        "cooc": Recommendations(items_co, s_co, "cooc"),
    }
    return ShopCase(ds, truth, q, recs)


def prepared(case: ShopCase, arms: tuple[str, str], source: str = "truth") -> PreparedArms:
    recs = {f"{a}#{i}": case.recs[a] for i, a in enumerate(arms)}
    return prepare_arms(
        case.queries,
        recs,
        ResponseModel(source=source),  # type: ignore[arg-type]
        item_price=case.ds.item_price,
        full_data=case.ds,
        truth=case.truth,
    )


def replicate(
    prep: PreparedArms, *, replications: int, n_visitors: int, traffic_per_day: int, seed0: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative visitors and conversions per (replication, day, arm) of independent seeded runs."""
    n_days = int(np.ceil(n_visitors / traffic_per_day))
    n_arms = len(prep.arms)
    vis = np.zeros((replications, n_days, n_arms), dtype=np.int64)
    conv = np.zeros((replications, n_days, n_arms), dtype=np.int64)
    for r in range(replications):
        sim = simulate_prepared(prep, n_visitors=n_visitors, seed=seed0 + r, traffic_per_day=traffic_per_day)
        key = sim.day.astype(np.int64) * n_arms + sim.arm
        vis[r] = np.bincount(key, minlength=n_days * n_arms).reshape(n_days, n_arms)
        conv[r] = np.bincount(key, weights=sim.converted, minlength=n_days * n_arms).reshape(n_days, n_arms)
    return np.cumsum(vis, axis=1), np.cumsum(conv, axis=1)


def true_outcomes(case: ShopCase, arm: str, model: ResponseModel) -> tuple[float, float]:
    """Expected (conversion, revenue per visitor) of an arm, computed straight from the generator's truth.

    Independent of the simulator's own bookkeeping. For query q and slot r showing item j:
    p_qr = e_r * a_qj * (1 - w_qj) with e_r = exam_top / log2(r + 1), a = truth.accept_prob (the
    generator's purchase law given the cart and the shopper's segment) and w = organic_rate when j
    is one of the items bought later in that basket. P(convert | q) = 1 - prod_r (1 - p_qr) and
    E[revenue | q] = sum_r p_qr * price_j. Visitors draw queries uniformly, so the arm's true
    conversion rate and revenue per visitor are the means over the queries.
    """
    q = case.queries
    items = case.recs[arm].items
    seg = case.truth.segments_of(q.user_idx)
    a = case.truth.accept_prob(q.context, items, seg)
    k = items.shape[1]
    r = np.arange(1, k + 1)
    e = model.exam_top / np.log2(r + 1.0)
    is_target = np.zeros(items.shape, dtype=bool)
    tq = q.targets.tocsr()
    for row in range(len(q)):  # test-only reference computation over a few thousand queries
        t = tq.indices[tq.indptr[row] : tq.indptr[row + 1]]
        is_target[row] = np.isin(items[row], t) & (items[row] >= 0)
    p = e[None, :] * a * np.where(is_target, 1.0 - model.organic_rate, 1.0)
    p = np.where(items >= 0, p, 0.0)
    price = np.nan_to_num(case.ds.item_price[np.maximum(items, 0)])
    conversion = float(np.mean(1.0 - np.prod(1.0 - p, axis=1)))
    revenue = float(np.mean((p * np.where(items >= 0, price, 0.0)).sum(axis=1)))
    return conversion, revenue
