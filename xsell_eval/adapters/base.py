"""The adapter contract: a small :class:`Adapter` protocol and :class:`BaseAdapter`.

Call order (template method, as in RecPack)::

    adapter = Cls(seed=0, **hyperparams)   # __init__ only validates and stores
    adapter.fit(train)                     # -> _fit(train); returns self; refit starts over
    adapter.recommend(requests, k)         # batches -> _score(batch) or _recommend_batch(batch, k)
                                           #   base class: drops context items, breaks ties by
                                           #   item index, pads with -1, checks the output

An adapter implements either ``_score`` (dense scores, ``-inf``/NaN = not a candidate)
or ``_recommend_batch`` (its own top-k, e.g. sparse rule firing). The base class
guarantees the conformance properties tested by :mod:`xsell_eval.testing`.

Adapters see :class:`~xsell_eval.queries.Requests` only (query ids, users, timestamps,
context, context value, user history, protocol): the targets stay with the evaluator.
Any class with ``name``, ``fit(train)`` and ``recommend(requests, k)`` satisfies
:class:`Adapter` and can be registered; :class:`BaseAdapter` is optional bookkeeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, NotFittedError
from xsell_eval.queries import Queries, Recommendations, Requests, top_k

ParamKind = Literal["int", "float", "categorical", "bool", "str"]


@dataclass(frozen=True)
class HyperParam:
    """A declared hyperparameter: type, default, valid range and tuning range.

    ``low``/``high`` bound what is *valid*; ``tune_low``/``tune_high`` (default: the
    valid bounds) bound what tuning searches. ``log`` asks for a log-uniform search.
    ``active_if = ("similarity", ("asymmetric",))`` says the parameter matters only when an
    earlier-declared parameter takes one of those values: tuning searches it only then
    (a conditional search space), and keeps the default otherwise.
    """

    name: str
    kind: ParamKind
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False
    tune_low: float | None = None
    tune_high: float | None = None
    tunable: bool = True
    help: str = ""
    active_if: tuple[str, tuple[Any, ...]] | None = None

    def validate(self, value: Any, *, owner: str = "") -> Any:
        """Return ``value`` coerced to this parameter's type, or raise ConfigError naming it."""
        where = f"{owner}: " if owner else ""
        label = f"{where}hyperparameter '{self.name}'"
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ConfigError(f"{label} must be true or false, got {value!r}")
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ConfigError(f"{label} must be an integer, got {value!r}")
            value = int(value)
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"{label} must be a number, got {value!r}")
            value = float(value)
            if not np.isfinite(value):
                raise ConfigError(f"{label} must be finite, got {value!r}")
        elif self.kind in ("categorical", "str"):
            if self.choices is not None and value not in self.choices:
                raise ConfigError(f"{label} must be one of {list(self.choices)}, got {value!r}")
            return value
        if self.low is not None and value < self.low:
            raise ConfigError(f"{label} must be >= {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{label} must be <= {self.high}, got {value!r}")
        return value

    def describe(self) -> str:
        """One-line description for listings: ``name: kind = default [range]``."""
        rng = ""
        if self.choices is not None:
            rng = " {" + ", ".join(map(str, self.choices)) + "}"
        elif self.low is not None or self.high is not None:
            rng = f" [{self.low if self.low is not None else '-inf'}, {self.high if self.high is not None else 'inf'}]"
        return f"{self.name}: {self.kind} = {self.default!r}{rng}"


@runtime_checkable
class Adapter(Protocol):
    """What every recommender offers to the harness (the contract; :class:`BaseAdapter` is optional).

    The registry checks these members structurally (:func:`xsell_eval.register_adapter`);
    the harness builds an adapter as ``cls(seed=..., **params)`` when its constructor takes
    ``seed``, else ``cls(**params)``. Optional extras read with defaults: ``family``,
    ``description``, ``hyperparams``, ``get_params()``, ``fit_seconds_``, ``recommend_seconds_``.
    """

    name: ClassVar[str]

    def fit(self, train: Dataset) -> Adapter:
        """Learn from the training interactions only; return self."""
        ...

    def recommend(self, requests: Requests, k: int) -> Recommendations:
        """Top-k items per request, never containing a context item; the targets are never given."""
        ...


class BaseAdapter:
    """Bookkeeping for adapters: parameters, fit state, batching, top-k, output checks.

    Subclasses set the class attributes and implement ``_fit`` plus ``_score`` or
    ``_recommend_batch``. Fitted state lives in attributes ending with ``_``.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    description: ClassVar[str] = ""
    serves_cold_users: ClassVar[bool] = False
    serves_cold_items: ClassVar[bool] = False
    extra: ClassVar[str | None] = None
    hyperparams: ClassVar[tuple[HyperParam, ...]] = ()
    needs_users: ClassVar[bool] = False
    needs_timestamps: ClassVar[bool] = False
    batch_size: ClassVar[int] = 512

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        declared = {p.name: p for p in self.hyperparams}
        unknown = sorted(set(params) - set(declared))
        if unknown:
            allowed = ", ".join(sorted(declared)) or "(none)"
            raise ConfigError(f"adapter '{self.name}': unknown hyperparameter(s) {unknown}; allowed: {allowed}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"adapter '{self.name}': seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self.params: dict[str, Any] = {}
        for p in self.hyperparams:
            self.params[p.name] = p.validate(params.get(p.name, p.default), owner=f"adapter '{self.name}'")
        self._check_params()
        self.fitted_ = False
        self.fit_seconds_ = float("nan")
        self.recommend_seconds_ = 0.0

    # ---------------------------------------------------------------- public API
    def get_params(self) -> dict[str, Any]:
        """The hyperparameters as passed (after validation), plus nothing fitted."""
        return dict(self.params)

    def fit(self, train: Dataset) -> BaseAdapter:
        """Validate the training data, learn, and return ``self``. A refit starts over."""
        if len(train.interactions) == 0:
            raise DataError(f"adapter '{self.name}': the training data is empty")
        if self.needs_users and not train.has_users:
            raise DataError(f"adapter '{self.name}' needs user ids, but the training data has none (all guests)")
        if self.needs_timestamps and not train.has_timestamps:
            raise DataError(f"adapter '{self.name}' needs timestamps, but the training data has none")
        self.fitted_ = False
        self.n_items_ = train.n_items
        t0 = time.perf_counter()
        self._fit(train)
        self.fit_seconds_ = time.perf_counter() - t0
        self.recommend_seconds_ = 0.0
        self.fitted_ = True
        return self

    def recommend(self, requests: Requests | Queries, k: int) -> Recommendations:
        """Top-``k`` per request, in batches of ``batch_size``; context items never returned.

        Given :class:`~xsell_eval.queries.Queries`, only their :attr:`~Queries.requests` go on
        to the adapter's hooks: no adapter code ever holds the targets.
        """
        if isinstance(requests, Queries):
            requests = requests.requests
        if not isinstance(requests, Requests):
            raise ConfigError(
                f"adapter '{self.name}': recommend() takes Requests (or Queries), got {type(requests).__name__}"
            )
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"adapter '{self.name}': call fit() before recommend()")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k must be an integer >= 1, got {k!r}")
        if requests.n_items != self.n_items_:
            raise DataError(
                f"adapter '{self.name}': requests have {requests.n_items} item columns, "
                f"the adapter was fitted on {self.n_items_}"
            )
        t0 = time.perf_counter()
        parts = [self._recommend_checked(b, int(k)) for b in requests.batches(self.batch_size)]
        if not parts:
            parts = [Recommendations(np.empty((0, k), np.int64), np.empty((0, k)), self.name)]
        recs = Recommendations.concat(parts)
        self.recommend_seconds_ += time.perf_counter() - t0
        return Recommendations(recs.items, recs.scores, self.name, recs.fallback)

    # ---------------------------------------------------------------- hooks
    def _check_params(self) -> None:
        """Cross-parameter checks (override); raise ConfigError naming the parameter."""

    def _fit(self, train: Dataset) -> None:
        raise NotImplementedError

    def _score(self, batch: Requests) -> np.ndarray:
        """Dense (n_batch × n_items) scores; -inf or NaN = not a candidate."""
        raise NotImplementedError

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        """Default: top-k of ``_score`` without the context items."""
        items, scores = top_k(self._score(batch), k, exclude=batch.context)
        return Recommendations(items, scores, self.name)

    def _rng(self, *salt: int) -> np.random.Generator:
        """A generator derived from the adapter seed (and optional salt)."""
        return np.random.default_rng([self.seed, *salt])

    # ---------------------------------------------------------------- checks
    def _recommend_checked(self, batch: Requests, k: int) -> Recommendations:
        recs = self._recommend_batch(batch, k)
        n = len(batch)
        if recs.items.shape != (n, k) or recs.scores.shape != (n, k):
            raise RuntimeError(
                f"adapter '{self.name}' returned shape {recs.items.shape}, expected {(n, k)} (a bug in the adapter)"
            )
        return recs

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"
