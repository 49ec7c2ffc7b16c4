"""The reveal is random too: the primary metric under several seeded basket-completion reveals.

Basket completion reveals a seeded random item of each test basket as the cart and hides
the rest. Another seed reveals other items of the *same* baskets, so the primary metric
moves even with the adapters, the data and the test baskets fixed. ``--reveal-seeds N``
(``[protocol] reveal_seeds``) repeats the reveal with N seeds: the run's own reveal plus
N − 1 more (:func:`~xsell_eval.protocols.basket_completion` with ``reveal_seed`` 1 … N − 1).
Each adapter is fitted once (the training data does not change) and asked again for each
extra reveal; :func:`seed_spread` summarises the N values (the report shows them next to
the bootstrap CI, :mod:`xsell_eval.report.statistics_section`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from xsell_eval.errors import ConfigError

if TYPE_CHECKING:
    from xsell_eval.data.dataset import Dataset
    from xsell_eval.queries import Queries
    from xsell_eval.settings import CompareConfig


class SeedSpread(NamedTuple):
    """Between-seed spread of one adapter's primary metric over N reveals."""

    n: int
    mean: float
    sd: float
    low: float
    high: float


def check_reveal_seeds(config: CompareConfig) -> None:
    """ConfigError unless ``reveal_seeds`` is an int >= 1, and 1 for protocols without a random reveal."""
    n = config.reveal_seeds
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"reveal_seeds must be an integer >= 1, got {n!r}")
    if n > 1 and config.protocol != "basket-completion":
        raise ConfigError(
            f"reveal_seeds = {n} needs the basket-completion protocol (its reveal is random); "
            f"'{config.protocol}' has no random reveal: use reveal_seeds = 1"
        )


def reveal_queries(config: CompareConfig, history: Dataset, target: Dataset) -> tuple[Queries, ...]:
    """The N − 1 extra reveals of the test baskets (empty when ``reveal_seeds`` is 1)."""
    from xsell_eval.protocols import build_queries

    return tuple(
        build_queries(
            history,
            target,
            config.protocol,
            seed=config.seed,
            reveal=config.reveal if config.hide is None else None,
            hide=config.hide,
            max_queries=config.max_queries,
            reveal_seed=s,
        )
        for s in range(1, config.reveal_seeds)
    )


def primary_values(
    adapter: Any,
    extra: tuple[Queries, ...],
    train: Dataset,
    config: CompareConfig,
    *,
    item_price: np.ndarray | None = None,
) -> tuple[float, ...]:
    """Mean primary metric of a fitted ``adapter`` on each extra reveal (NaN values dropped per query)."""
    from xsell_eval import metrics as M

    name, k = M.parse_metric(config.primary_metric)
    out = []
    for q in extra:
        recs = adapter.recommend(q.requests, max(config.ks))
        res = M.evaluate_ranking(
            recs,
            q,
            [k],
            item_popularity=train.item_basket_count,
            n_train_baskets=len(train.baskets),
            item_category=train.item_category,
            item_price=item_price,
            metrics=[name],
        )
        v = res.per_query[f"{name}@{k}"].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        out.append(float(v.mean()) if len(v) else float("nan"))
    return tuple(out)


def seed_spread(values: tuple[float, ...] | list[float]) -> SeedSpread:
    """n, mean, sample sd (ddof 1; NaN for one value) and min–max of the finite values.

    Example:
        >>> seed_spread([0.30, 0.32, 0.31])
        SeedSpread(n=3, mean=0.31, sd=0.01, low=0.3, high=0.32)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        nan = float("nan")
        return SeedSpread(0, nan, nan, nan, nan)
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
    return SeedSpread(len(v), round(float(v.mean()), 12), round(sd, 12), float(v.min()), float(v.max()))


__all__ = ["SeedSpread", "check_reveal_seeds", "primary_values", "reveal_queries", "seed_spread"]
