"""Popularity-penalty re-ranking, usable on any adapter: a correction of popularity bias.

The adapter ``X+rerank`` asks ``X`` for ``depth × k`` candidates per query and re-scores them

    s'(i) = (s(i) − min s) / (max s − min s) − λ · pop(i) / max pop

(min and max over the query's candidates; all-equal scores normalise to 1; ``pop`` = training
baskets holding the item), then keeps the best ``k`` (ties keep ``X``'s order). ``λ = 0`` gives
back ``X``'s own top-k; a larger ``λ`` trades accuracy for long-tail exposure (the report shows
both next to ``X``). The min–max step puts every adapter's scores on one scale, so one ``λ`` means
the same trade-off for ``cf``, ``rules`` or ``content``. A re-ranking in the spirit of
Abdollahpouri et al. (2019, "Managing popularity bias in recommender systems with personalized
re-ranking"), in its simplest, unpersonalised form; see ``docs/fairness.md``.

Spec syntax (everywhere an adapter spec is accepted): ``cf+rerank``,
``cf+rerank:lam=1,depth=5``, ``cf+rerank:k_neighbors=50,lam=0.5`` (the base adapter's
parameters and ``lam``/``depth`` together). ``compare --rerank pop-penalty[:lam=0.5,depth=3]``
adds ``X+rerank`` next to every adapter ``X`` given.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from xsell_eval.adapters.base import HyperParam
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError
from xsell_eval.queries import Recommendations, Requests

__all__ = [
    "DEPTH",
    "LAM",
    "RERANK_METHOD",
    "SUFFIX",
    "base_spec",
    "popularity_penalty",
    "reranked_class",
    "with_rerank",
]

SUFFIX = "+rerank"
"""Appended to an adapter name: ``cf+rerank`` is ``cf`` re-ranked with the popularity penalty."""
RERANK_METHOD = "pop-penalty"
"""The one re-ranking method (``--rerank pop-penalty``)."""

LAM = HyperParam(
    "lam",
    "float",
    0.5,
    low=0.0,
    high=100.0,
    tunable=False,
    help="weight of the popularity penalty (0 = the adapter's own ranking)",
)
DEPTH = HyperParam(
    "depth", "int", 3, low=1, high=100, tunable=False, help="candidates re-ranked per query, as a multiple of k"
)


def popularity_penalty(
    items: np.ndarray, scores: np.ndarray, popularity: np.ndarray, k: int, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank candidate lists by min–max-normalised score − ``lam`` · popularity / max popularity.

    Args:
        items: n × depth candidate item indices, best first (-1 = empty slot).
        scores: their scores (NaN or non-finite: lowest normalised score 0).
        popularity: per item (any non-negative scale; divided by its maximum).
        k: slots kept.
        lam: penalty weight (>= 0).

    Returns:
        ``(items, scores)`` n × k, the new scores non-increasing, -1/NaN padding.

    Example:
        >>> it = np.array([[0, 1, 2]]); sc = np.array([[3.0, 2.0, 1.0]]); pop = np.array([10.0, 1.0, 1.0])
        >>> popularity_penalty(it, sc, pop, 2, 0.0)[0].tolist()   # lam = 0: the adapter's own order
        [[0, 1]]
        >>> popularity_penalty(it, sc, pop, 2, 1.0)[0].tolist()   # [1 − 1, .5 − .1, 0 − .1] = [0, .4, −.1]
        [[1, 0]]
    """
    items = np.asarray(items, dtype=np.int64)
    if lam < 0 or not np.isfinite(lam):
        raise ConfigError(f"rerank: lam must be a finite number >= 0, got {lam!r}")
    valid = items >= 0
    s = np.where(valid & np.isfinite(scores), np.asarray(scores, dtype=np.float64), np.nan)
    has = np.isfinite(s).any(axis=1, keepdims=True)
    lo = np.where(has, np.nanmin(np.where(has, s, 0.0), axis=1, keepdims=True), 0.0)
    hi = np.where(has, np.nanmax(np.where(has, s, 0.0), axis=1, keepdims=True), 0.0)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(span > 0, (s - lo) / span, 1.0)
    norm = np.where(np.isnan(s), 0.0, norm)
    pop = np.asarray(popularity, dtype=np.float64)
    top = pop.max() if pop.size else 0.0
    pop_n = pop / top if top > 0 else np.zeros_like(pop)
    new = norm - lam * pop_n[np.where(valid, items, 0)]
    new[~valid] = -np.inf
    order = np.argsort(-new, axis=1, kind="stable")[:, :k]
    out_items = np.take_along_axis(items, order, axis=1)
    out_scores = np.take_along_axis(new, order, axis=1)
    out_scores[out_items < 0] = np.nan
    if out_items.shape[1] < k:  # fewer candidates than k: pad
        pad = k - out_items.shape[1]
        out_items = np.pad(out_items, ((0, 0), (0, pad)), constant_values=-1)
        out_scores = np.pad(out_scores, ((0, 0), (0, pad)), constant_values=np.nan)
    return out_items, out_scores


@cache
def reranked_class(base_name: str, base_cls: Any) -> type:
    """The adapter class ``<base_name>+rerank``: ``base_cls`` re-ranked by :func:`popularity_penalty`."""
    from xsell_eval.adapters.registry import _takes_seed

    base_params = tuple(getattr(base_cls, "hyperparams", ()) or ())

    class Reranked:
        name = f"{base_name}{SUFFIX}"
        family = str(getattr(base_cls, "family", "") or "")
        description = f"{getattr(base_cls, 'description', base_name)}, re-ranked with a popularity penalty"
        serves_cold_users = bool(getattr(base_cls, "serves_cold_users", False))
        serves_cold_items = bool(getattr(base_cls, "serves_cold_items", False))
        needs_users = bool(getattr(base_cls, "needs_users", False))
        needs_timestamps = bool(getattr(base_cls, "needs_timestamps", False))
        extra = getattr(base_cls, "extra", None)
        hyperparams = (*base_params, LAM, DEPTH)

        def __init__(self, *, seed: int = 0, lam: Any = LAM.default, depth: Any = DEPTH.default, **params: Any):
            owner = f"adapter '{self.name}'"
            self.lam = float(LAM.validate(lam, owner=owner))
            self.depth = int(DEPTH.validate(depth, owner=owner))
            self.base = base_cls(seed=seed, **params) if _takes_seed(base_cls) else base_cls(**params)

        def get_params(self) -> dict[str, Any]:
            get = getattr(self.base, "get_params", None)
            return {**(get() if callable(get) else {}), "lam": self.lam, "depth": self.depth}

        def fit(self, train: Dataset) -> Any:
            self.base.fit(train)
            self.popularity_ = np.asarray(train.item_basket_count, dtype=np.float64)
            return self

        def recommend(self, requests: Requests, k: int) -> Recommendations:
            recs = self.base.recommend(requests, self.depth * int(k))
            items, scores = popularity_penalty(recs.items, recs.scores, self.popularity_, int(k), self.lam)
            return Recommendations(items, scores, self.name, recs.fallback)

    Reranked.__name__ = Reranked.__qualname__ = f"Reranked{base_cls.__name__}"
    Reranked.__doc__ = f"``{base_name}`` re-ranked with the popularity penalty of :mod:`xsell_eval.rerank`."
    return Reranked


def with_rerank(adapters: tuple[str, ...] | list[str], option: str | None) -> tuple[str, ...]:
    """The adapter specs with ``X+rerank`` added after every ``X`` (``compare --rerank``).

    ``option`` is ``pop-penalty`` or ``pop-penalty:lam=0.5,depth=3``; None returns ``adapters``.
    ``cf:k_neighbors=50`` becomes ``cf+rerank:k_neighbors=50,lam=0.5,depth=3``. Specs that
    are re-ranked already are kept as they are.

    Raises:
        ConfigError: another method, or parameters other than ``lam`` and ``depth``.

    Example:
        >>> with_rerank(("cf", "rules:min_support=2"), "pop-penalty:lam=1")
        ('cf', 'cf+rerank:lam=1', 'rules:min_support=2', 'rules+rerank:min_support=2,lam=1')
    """
    from xsell_eval.adapters.registry import parse_spec

    if option is None:
        return tuple(adapters)
    method, _, given = option.partition(":")
    if method.strip() != RERANK_METHOD:
        raise ConfigError(f"--rerank: unknown method {method.strip()!r}; expected '{RERANK_METHOD}[:lam=0.5,depth=3]'")
    _, params = parse_spec(f"x:{given}") if given.strip() else ("x", {})
    bad = sorted(set(params) - {LAM.name, DEPTH.name})
    if bad:
        raise ConfigError(f"--rerank: unknown parameter(s) {bad}; expected lam and depth, e.g. {RERANK_METHOD}:lam=0.5")
    out: list[str] = []
    for spec in adapters:
        out.append(spec)
        name, _, rest = spec.partition(":")
        if name.strip().endswith(SUFFIX):
            continue
        tail = ",".join(p for p in (rest.strip(), given.strip()) if p)
        out.append(f"{name.strip()}{SUFFIX}" + (f":{tail}" if tail else ""))
    return tuple(dict.fromkeys(out))


def base_spec(spec: str) -> str | None:
    """The spec a re-ranked spec re-ranks (``cf+rerank:k_neighbors=50,lam=1`` -> ``cf:k_neighbors=50``), else None.

    Example:
        >>> base_spec("cf+rerank:k_neighbors=50,lam=1"), base_spec("cf+rerank"), base_spec("cf")
        ('cf:k_neighbors=50', 'cf', None)
    """
    name, _, rest = spec.partition(":")
    if not name.strip().endswith(SUFFIX):
        return None
    kept = [p for p in rest.split(",") if p.strip() and p.partition("=")[0].strip() not in (LAM.name, DEPTH.name)]
    base = name.strip().removesuffix(SUFFIX)
    return base + (":" + ",".join(p.strip() for p in kept) if kept else "")
