"""``hybrid``: weighted fusion of other adapters' normalised scores.

Spec strings name the components and their weights; the registry parses
``"hybrid:cf=0.7,content=0.3"`` into ``HybridAdapter(cf=0.7, content=0.3)``. With no
weights at all the hybrid is ``cf=0.7, content=0.3`` (co-purchases first, catalog text to
reach items cf cannot score). Each component is fitted on the same train data with the
hybrid's seed; component hyperparameters come from ``components`` (from a config or
Python, e.g. ``components={"cf": {"k_neighbors": 50}}``).

Per query (a batch at a time)::

    for every component c with weight w_c > 0:
        pool_c   = c.recommend(query, P)              # P = max(pool_size, k); context already excluded
        n_c(j)   = normalise(score_c(j)) over pool_c  # minmax | rank | zscore, per query
    fused(j) = Σ_c w_c · (n_c(j) if j in pool_c else floor_c)
    answer   = top-k of fused over the union of the pools (ties: lower item index)

Normalisations (per query, over the pool's real items):

* ``minmax`` (default): ``(s - min) / (max - min)``, 1 for every item when all scores are
  equal; ``floor = 0`` (an item absent from a pool counts like that pool's worst item).
* ``rank``: ``(P - position) / P`` with position 0 for the best; ``floor = 0``.
* ``zscore``: ``(s - mean) / std`` (population std; 0 when std is 0);
  ``floor`` = the pool's lowest z-score, so being absent is never better than being in the pool.

Only items in at least one pool are candidates; a component with weight 0 is not fitted.

Fallbacks. Inside the hybrid, a component that declares a ``fallback`` hyperparameter
(``cf``, ``business-rules``...) runs with ``fallback="none"`` unless ``components`` sets it:
a popularity fill inside one component's pool would compete, after normalisation, with
the other components' real candidates (measured on Online Retail, basket completion:
hit rate@10 of ``cf=0.7,content=0.3`` is 0.598 with cf's own fill, 0.632 without). The
hybrid fills the slots the fusion leaves empty itself (``fallback="popular"``, default:
train best sellers, scored below every fused score) or leaves them empty
(``fallback="none"``). ``Recommendations.fallback`` is True for queries that no component
served *genuinely* (every component returned nothing or flagged the query as its own
fallback) — the combination of the components' flags; it is None when the hybrid has no
fallback and no component reports fallback flags.

Tuning: the weights are hyperparameters. An *instance*'s ``hyperparams`` lists the fixed
ones (``normalisation``, ``pool_size``) plus one ``weight_<component>`` float per
component (valid ``[0, 1e6]``, tuned in ``[0, 1]``), so a tuner reads the search space from
``registry.create("hybrid:cf=0.7,content=0.3").hyperparams`` (or
:meth:`HybridAdapter.weight_hyperparams`) and passes trial values back as
``weight_<component>=...``, which take precedence over the plain ``<component>=...`` form.
The class attribute ``HybridAdapter.hyperparams`` lists only the fixed ones, since the
components are not known before construction.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from xsell_eval.adapters import registry
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import AdapterError, ConfigError, MissingExtraError
from xsell_eval.queries import Recommendations, Requests, top_k

#: Components and weights used when the spec gives none (``"hybrid"`` alone).
DEFAULT_WEIGHTS: dict[str, float] = {"cf": 0.7, "content": 0.3}
_PREFIX = "weight_"
_FIXED = ("normalisation", "pool_size", "fallback")


def normalise(scores: np.ndarray, valid: np.ndarray, method: str, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row normalisation of a (n × P) score matrix over its ``valid`` cells.

    Args:
        scores: scores of the pool, best first; NaN where ``valid`` is False.
        valid: True where the cell holds a real item.
        method: ``"minmax"``, ``"rank"`` or ``"zscore"`` (see the module docstring).
        pool: the pool size ``P`` used by ``rank``.

    Returns:
        ``(normalised, floor)``: normalised scores (0 where not valid) and the per-row value
        an item absent from the pool gets.

    Example:
        >>> s = np.array([[3.0, 2.0, 1.0], [5.0, np.nan, np.nan]])
        >>> n, f = normalise(s, np.isfinite(s), "minmax", 3)
        >>> n.tolist(), f.tolist()
        ([[1.0, 0.5, 0.0], [1.0, 0.0, 0.0]], [0.0, 0.0])
    """
    n_rows, width = scores.shape
    s = np.where(valid, scores, 0.0)
    cnt = valid.sum(axis=1)
    floor = np.zeros(n_rows)
    if method == "minmax":
        mn = np.where(valid, scores, np.inf).min(axis=1, initial=np.inf)
        mx = np.where(valid, scores, -np.inf).max(axis=1, initial=-np.inf)
        span = mx - mn
        ok = cnt > 0
        flat = ok & ~(span > 0)
        out = np.zeros_like(s)
        rows = ok & ~flat
        out[rows] = (s[rows] - mn[rows, None]) / span[rows, None]
        out[flat] = 1.0
    elif method == "rank":
        pos = np.broadcast_to(np.arange(width, dtype=np.float64), s.shape)
        out = (pool - pos) / float(pool)
    elif method == "zscore":
        safe = np.maximum(cnt, 1)
        mean = s.sum(axis=1) / safe
        dev = np.where(valid, s - mean[:, None], 0.0)
        std = np.sqrt((dev**2).sum(axis=1) / safe)
        out = np.divide(dev, std[:, None], out=np.zeros_like(dev), where=std[:, None] > 0)
        floor = np.where(cnt > 0, np.where(valid, out, np.inf).min(axis=1, initial=np.inf), 0.0)
    else:  # pragma: no cover - validated by the hyperparameter
        raise ConfigError(f"unknown normalisation {method!r}")
    return np.where(valid, out, 0.0), floor


def fuse_top_k(
    rows: np.ndarray, items: np.ndarray, values: np.ndarray, n_rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``values`` per (row, item) and return each row's top-k (ties: lower item first).

    Vectorised over all rows: one sort by (row, item) to add duplicates, one lexsort by
    (row, -score, item) to rank. Rows with fewer than k candidates are padded with -1/NaN.

    Example:
        >>> it, sc = fuse_top_k(np.array([0, 0, 0]), np.array([4, 2, 4]), np.array([0.2, 0.5, 0.4]), 1, 3)
        >>> it.tolist(), sc.round(2).tolist()
        ([[4, 2, -1]], [[0.6, 0.5, nan]])
    """
    out_items = np.full((n_rows, k), -1, dtype=np.int64)
    out_scores = np.full((n_rows, k), np.nan)
    if len(rows) == 0:
        return out_items, out_scores
    order = np.lexsort((items, rows))
    r, i, v = rows[order], items[order], values[order]
    start = np.r_[0, np.flatnonzero((np.diff(r) != 0) | (np.diff(i) != 0)) + 1]
    r, i, v = r[start], i[start], np.add.reduceat(v, start)
    order = np.lexsort((i, -v, r))
    r, i, v = r[order], i[order], v[order]
    first = np.r_[0, np.flatnonzero(np.diff(r) != 0) + 1]
    lengths = np.diff(np.r_[first, len(r)])
    rank = np.arange(len(r)) - np.repeat(first, lengths)
    keep = rank < k
    out_items[r[keep], rank[keep]] = i[keep]
    out_scores[r[keep], rank[keep]] = v[keep]
    return out_items, out_scores


def _component_class(name: str) -> type[BaseAdapter]:
    if name == HybridAdapter.name:
        raise ConfigError("adapter 'hybrid': a hybrid cannot contain another 'hybrid' component")
    try:
        cls = registry.get(name)
    except (ConfigError, MissingExtraError):
        raise
    except ImportError as exc:
        raise AdapterError(f"adapter 'hybrid': component '{name}' is registered but cannot be imported: {exc}") from exc
    if not issubclass(cls, BaseAdapter):  # the fusion reads declared hyperparameters and per-batch scores
        raise ConfigError(f"adapter 'hybrid': component '{name}' must subclass BaseAdapter, got {cls.__name__}")
    return cls


def _weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"adapter 'hybrid': weight of component '{name}' must be a number >= 0, got {value!r}")
    w = float(value)
    if not np.isfinite(w) or w < 0:
        raise ConfigError(f"adapter 'hybrid': weight of component '{name}' must be a finite number >= 0, got {value!r}")
    return w


class HybridAdapter(BaseAdapter):
    """Weighted fusion of registered adapters' normalised per-query scores.

    Args:
        seed: passed to every component.
        components: optional ``{component: {hyperparameter: value}}``.
        normalisation: ``"minmax"`` (default), ``"rank"`` or ``"zscore"``.
        pool_size: candidates taken from each component per query (at least k).
        fallback: ``"popular"`` (default) or ``"none"``: fill empty slots with best sellers.
        **weights: ``<component>=w`` or ``weight_<component>=w`` (registered adapter
            names, ``w >= 0``, not all 0); default ``cf=0.7, content=0.3``.

    Raises:
        UnknownNameError: a component name is not registered (with "did you mean").
        ConfigError: a weight is negative / not a number, all weights are 0, ``components``
            names a component without a weight, or a component hyperparameter is invalid.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> h = HybridAdapter(popular=0.5, content=0.5)
        >>> h.weights, h.params["normalisation"]
        ({'popular': 0.5, 'content': 0.5}, 'minmax')
        >>> h.fit(ds).recommend(toy_queries(ds), k=3).items.shape[1]
        3
    """

    name = "hybrid"
    family = "hybrid"
    description = "Weighted fusion of named adapters' normalised scores, e.g. hybrid:cf=0.7,content=0.3"
    serves_cold_users = True  # if a component does; instances state their own
    serves_cold_items = True  # if a component does (content does); instances state their own
    hyperparams = (
        HyperParam(
            "normalisation",
            "categorical",
            "minmax",
            choices=("minmax", "rank", "zscore"),
            help="per-query score normalisation of each component before the weighted sum",
        ),
        HyperParam(
            "pool_size",
            "int",
            100,
            low=1,
            high=100_000,
            tunable=False,
            help="candidates taken from each component per query (at least k)",
        ),
        HyperParam(
            "fallback",
            "categorical",
            "popular",
            choices=("popular", "none"),
            tunable=False,
            help="fill slots the fusion leaves empty with train best sellers, or leave them empty",
        ),
    )

    def __init__(self, *, seed: int = 0, components: Mapping[str, Mapping[str, Any]] | None = None, **params: Any):
        fixed = {key: params.pop(key) for key in _FIXED if key in params}
        plain = {key: value for key, value in params.items() if not key.startswith(_PREFIX)}
        prefixed = {key[len(_PREFIX) :]: value for key, value in params.items() if key.startswith(_PREFIX)}
        given = {**plain, **prefixed}  # weight_<name> wins over <name>
        if not given:
            given = dict(DEFAULT_WEIGHTS)
        classes = {name: _component_class(name) for name in given}
        weights = {name: _weight(name, value) for name, value in given.items()}
        if not any(w > 0 for w in weights.values()):
            raise ConfigError(f"adapter 'hybrid': all component weights are 0 ({weights}); give one weight > 0")
        comp_params: dict[str, dict[str, Any]] = {}
        for name, cp in (components or {}).items():
            if name not in weights:
                raise ConfigError(
                    f"adapter 'hybrid': 'components' has parameters for '{name}', which is not a component "
                    f"(components with weights: {', '.join(weights)})"
                )
            if not isinstance(cp, Mapping):
                raise ConfigError(f"adapter 'hybrid': components['{name}'] must be a table of hyperparameters")
            if "seed" in cp:
                raise ConfigError(
                    f"adapter 'hybrid': components['{name}'] must not set 'seed'; the hybrid's seed is used"
                )
            comp_params[name] = dict(cp)
        # per-instance search space: the fixed hyperparameters plus one weight per component
        vars(self)["hyperparams"] = type(self).hyperparams + self.weight_hyperparams(weights)
        super().__init__(seed=seed, **fixed, **{_PREFIX + n: w for n, w in weights.items()})
        self.weights = weights
        self.component_params = comp_params
        self.component_classes = classes
        active = [classes[n] for n, w in weights.items() if w > 0]
        vars(self)["serves_cold_users"] = any(c.serves_cold_users for c in active)
        vars(self)["serves_cold_items"] = any(c.serves_cold_items for c in active)
        for name in weights:  # validate component hyperparameters now, not after a long fit
            classes[name](seed=self.seed, **comp_params.get(name, {}))

    @staticmethod
    def weight_hyperparams(weights: Mapping[str, float]) -> tuple[HyperParam, ...]:
        """One tunable ``weight_<name>`` float per component (default = the given weight).

        Example:
            >>> [p.name for p in HybridAdapter.weight_hyperparams({"cf": 0.7, "content": 0.3})]
            ['weight_cf', 'weight_content']
        """
        return tuple(
            HyperParam(
                _PREFIX + name,
                "float",
                float(w),
                low=0.0,
                high=1e6,
                tune_low=0.0,
                tune_high=1.0,
                help=f"weight of component '{name}' in the fused score",
            )
            for name, w in weights.items()
        )

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters (fixed + ``weight_<name>``), plus ``components`` when any were given."""
        out = dict(self.params)
        if self.component_params:
            out["components"] = copy.deepcopy(self.component_params)
        return out

    def effective_component_params(self, name: str) -> dict[str, Any]:
        """Hyperparameters component ``name`` is built with: ``components[name]``, plus
        ``fallback="none"`` when the component declares a ``fallback`` it was not given."""
        params = dict(self.component_params.get(name, {}))
        declared = {p.name: p for p in self.component_classes[name].hyperparams}
        fb = declared.get("fallback")
        if fb is not None and "fallback" not in params and fb.choices is not None and "none" in fb.choices:
            params["fallback"] = "none"
        return params

    def _fit(self, train: Dataset) -> None:
        self.components_ = {
            name: self.component_classes[name](seed=self.seed, **self.effective_component_params(name)).fit(train)
            for name, w in self.weights.items()
            if w > 0
        }
        counts = train.item_basket_count.astype(np.float64)
        sold = counts > 0
        self.fill_scores_ = np.where(sold, counts / max(counts.max(), 1.0) - 2.0, -np.inf)  # in [-2, -1]

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        n = len(batch)
        pool = max(self.params["pool_size"], k)
        method = self.params["normalisation"]
        base = np.zeros(n)
        rows: list[np.ndarray] = []
        items: list[np.ndarray] = []
        values: list[np.ndarray] = []
        served = np.zeros(n, dtype=bool)
        flags_seen = False
        for name, comp in self.components_.items():
            w = self.weights[name]
            recs = comp.recommend(batch, pool)
            valid = recs.items >= 0
            norm, floor = normalise(recs.scores, valid, method, pool)
            base += w * floor
            r, c = np.nonzero(valid)
            rows.append(r)
            items.append(recs.items[r, c])
            values.append(w * (norm[r, c] - floor[r]))
            genuine = valid.any(axis=1)
            if recs.fallback is not None:
                flags_seen = True
                genuine &= ~np.asarray(recs.fallback, dtype=bool)
            served |= genuine
        top_items, top_scores = fuse_top_k(np.concatenate(rows), np.concatenate(items), np.concatenate(values), n, k)
        top_scores = top_scores + base[:, None]
        if self.params["fallback"] == "popular":
            top_items, top_scores = self._fill(batch, top_items, top_scores, base, k)
            flags_seen = True
        return Recommendations(top_items, top_scores, self.name, ~served if flags_seen else None)

    def _fill(
        self, batch: Requests, items: np.ndarray, scores: np.ndarray, base: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Append train best sellers after the fused items of rows with fewer than k items.

        Fused scores are >= ``base`` (every contribution is >= 0); fill scores are
        ``base - 2 + count / max count``, in ``[base - 2, base - 1]``, so the order holds.
        """
        short = np.flatnonzero((items < 0).any(axis=1))
        if len(short) == 0:
            return items, scores
        sub = batch.take(short)
        fill = np.broadcast_to(self.fill_scores_, (len(short), len(self.fill_scores_))).copy()
        have = items[short]
        r, c = np.nonzero(have >= 0)
        fill[r, have[r, c]] = -np.inf  # already recommended
        f_items, f_scores = top_k(fill, k, exclude=sub.context)
        f_scores = f_scores + base[short, None]
        both_items = np.hstack([have, f_items])
        both_scores = np.hstack([scores[short], f_scores])
        # real items first (fused before fill: they come first and score higher), padding last
        order = np.argsort(both_items < 0, axis=1, kind="stable")[:, :k]
        items, scores = items.copy(), scores.copy()
        items[short] = np.take_along_axis(both_items, order, axis=1)
        scores[short] = np.take_along_axis(both_scores, order, axis=1)
        return items, scores
