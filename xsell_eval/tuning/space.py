"""Search spaces from declared hyperparameters, experiment-TOML overrides, metric parsing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.errors import ConfigError

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

DEFAULT_METRIC = "ndcg@10"


# =============================================================================== metrics
def parse_objectives(
    metrics: str | Sequence[str], directions: Sequence[str] | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Normalise metric specs and their optimisation directions.

    Args:
        metrics: one spec (``"ndcg@10"``) or several (multi-objective).
        directions: ``"maximize"``/``"minimize"`` per metric; default: from each
            metric's ``higher_is_better``.

    Returns:
        ``(("ndcg@10", ...), ("maximize", ...))``.

    Raises:
        UnknownNameError: an unknown metric (with the list of known ones).
        ConfigError: a malformed spec, a repeated metric or a bad direction.
    """
    from xsell_eval.metrics import METRICS, parse_metric

    specs = [metrics] if isinstance(metrics, str) else list(metrics)
    if not specs:
        raise ConfigError("give at least one metric to optimise, e.g. --metric ndcg@10")
    out: list[str] = []
    for s in specs:
        name, k = parse_metric(s)
        label = f"{name}@{k}"
        if label in out:
            raise ConfigError(f"metric {label} is given twice; each objective must be different")
        out.append(label)
    if directions is None:
        dirs = tuple("maximize" if METRICS[m.split("@")[0]].higher_is_better else "minimize" for m in out)
    else:
        dirs = tuple(directions)
        if len(dirs) != len(out) or any(d not in ("maximize", "minimize") for d in dirs):
            raise ConfigError(
                f"directions must be 'maximize' or 'minimize', one per metric ({len(out)}), got {list(dirs)}"
            )
    return tuple(out), dirs


# =============================================================================== search space
def _allowed(p: HyperParam) -> str:
    """Human description of the valid values of a declared parameter."""
    if p.kind == "bool":
        return "true or false"
    if p.choices is not None:
        return f"one or more of {list(p.choices)}"
    if p.kind in ("int", "float"):
        lo = "-inf" if p.low is None else (int(p.low) if p.kind == "int" else p.low)
        hi = "inf" if p.high is None else (int(p.high) if p.kind == "int" else p.high)
        what = "an integer" if p.kind == "int" else "a number"
        return f"{what} in [{lo}, {hi}] as a value, a list, or {{low = .., high = .., log = ..}}"
    return "a string or a list of strings"


def _override_error(adapter: str, p: HyperParam, value: Any, reason: str) -> ConfigError:
    return ConfigError(
        f"[tune.{adapter}] {p.name} = {value!r}: {reason}. Allowed for '{p.name}' ({p.kind}): {_allowed(p)}"
    )


def _check_value(adapter: str, p: HyperParam, value: Any, shown: Any) -> Any:
    try:
        return p.validate(value, owner=f"adapter '{adapter}'")
    except ConfigError as exc:
        reason = str(exc).split(": ", 1)[-1].replace(f"hyperparameter '{p.name}' ", "")
        raise _override_error(adapter, p, shown, reason) from None


def _default_distribution(adapter: str, p: HyperParam) -> BaseDistribution | None:
    """The declared tuning range of one parameter, or None when it cannot be searched."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if p.kind == "bool":
        return CategoricalDistribution((False, True))
    if p.kind in ("categorical", "str"):
        return CategoricalDistribution(tuple(p.choices)) if p.choices else None
    lo = p.tune_low if p.tune_low is not None else p.low
    hi = p.tune_high if p.tune_high is not None else p.high
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if lo > hi or (p.log and lo <= 0):
        raise ConfigError(
            f"adapter '{adapter}' declares an invalid tuning range for '{p.name}': "
            f"[{lo}, {hi}]{' (log scale needs low > 0)' if p.log else ''} — a bug in the adapter"
        )
    if p.kind == "int":
        return IntDistribution(math.ceil(lo), math.floor(hi), log=p.log)
    return FloatDistribution(float(lo), float(hi), log=p.log)


def _override_distribution(adapter: str, p: HyperParam, value: Any) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(value, Mapping):
        if p.kind not in ("int", "float"):
            raise _override_error(adapter, p, dict(value), "a {low, high} range needs a numeric parameter")
        unknown = sorted(set(value) - {"low", "high", "log"})
        if unknown:
            raise _override_error(adapter, p, dict(value), f"unknown key(s) {unknown}; use low, high, log")
        base = _default_distribution(adapter, p)
        d_lo = getattr(base, "low", p.low)
        d_hi = getattr(base, "high", p.high)
        lo = _check_value(adapter, p, value.get("low", d_lo), dict(value))
        hi = _check_value(adapter, p, value.get("high", d_hi), dict(value))
        if lo is None or hi is None:
            raise _override_error(adapter, p, dict(value), "give both low and high")
        log = value.get("log", p.log)
        if not isinstance(log, bool):
            raise _override_error(adapter, p, dict(value), f"log must be true or false, got {log!r}")
        if lo > hi:
            raise _override_error(adapter, p, dict(value), f"low ({lo}) is greater than high ({hi})")
        if log and lo <= 0:
            raise _override_error(adapter, p, dict(value), "a log-scale range needs low > 0")
        if p.kind == "int":
            return IntDistribution(int(lo), int(hi), log=log)
        return FloatDistribution(float(lo), float(hi), log=log)
    if isinstance(value, (list, tuple)):
        if not value:
            raise _override_error(adapter, p, list(value), "the list of choices is empty")
        choices = tuple(dict.fromkeys(_check_value(adapter, p, v, list(value)) for v in value))
        return CategoricalDistribution(choices)
    return CategoricalDistribution((_check_value(adapter, p, value, value),))


def declared_by(spec: str, params: Mapping[str, Any] | None = None) -> BaseAdapter:
    """The adapter instance whose ``hyperparams`` define the search space of ``spec``.

    Most adapters declare their hyperparameters on the class; some depend on construction
    (``hybrid:cf=0.7,content=0.3`` adds one ``weight_<component>`` per component), so the
    search space is always read from an instance built with the spec and ``params``.

    Raises:
        ConfigError / UnknownNameError: the spec or a fixed parameter is invalid.
    """
    from xsell_eval.adapters.registry import create

    adapter = create(spec, params=dict(params or {}))
    if not hasattr(adapter, "hyperparams"):  # a bare Adapter-protocol class (no BaseAdapter)
        raise ConfigError(
            f"adapter '{spec}' declares no hyperparameters (a `hyperparams` tuple of HyperParam, as "
            "BaseAdapter subclasses have), so it cannot be tuned"
        )
    return adapter  # type: ignore[no-any-return]


def search_space(
    adapter_cls: type[BaseAdapter] | BaseAdapter, overrides: Mapping[str, Any] | None = None
) -> dict[str, BaseDistribution]:
    """Optuna distributions for an adapter, from its declared hyperparameters.

    ``adapter_cls`` is an adapter class, or an instance when the hyperparameters depend on
    construction (see :func:`declared_by`).

    Every ``tunable`` parameter with a searchable range is included: ints and floats
    over ``[tune_low, tune_high]`` (default: the valid bounds; log-uniform when
    ``log``), categoricals over their ``choices``, bools over ``(False, True)``.

    ``overrides`` (an experiment's ``[tune.<adapter>]`` table) replace entries:

    - ``{low = 10, high = 200}`` (optionally ``log = true``): a numeric range;
    - ``["cosine", "jaccard"]``: a list of choices (any kind);
    - a single value: fixed during the search.

    Overrides may also name parameters that are not tunable by default.

    Raises:
        ConfigError: an unknown parameter, a value of the wrong type or outside the
            declared valid range (the message names the adapter, the parameter, the
            value and what is allowed).

    Example:
        >>> from xsell_eval.adapters.knn import ItemKNNAdapter
        >>> sorted(search_space(ItemKNNAdapter, {"similarity": ["cosine"]}))  # doctest: +NORMALIZE_WHITESPACE
        ['aggregation', 'alpha', 'history_weight', 'interactions', 'k_neighbors',
         'popularity_prior', 'shrink', 'similarity']
    """
    adapter = adapter_cls.name or (adapter_cls if isinstance(adapter_cls, type) else type(adapter_cls)).__name__
    declared = {p.name: p for p in adapter_cls.hyperparams}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ConfigError(
            f"[tune.{adapter}]: unknown parameter(s) {unknown}; adapter '{adapter}' declares: "
            f"{', '.join(declared) or '(none)'}"
        )
    space: dict[str, BaseDistribution] = {}
    for name, p in declared.items():
        if name in overrides:
            space[name] = _override_distribution(adapter, p, overrides[name])
        elif p.tunable:
            d = _default_distribution(adapter, p)
            if d is not None:
                space[name] = d
    return space


Conditions = dict[str, tuple[str, tuple[Any, ...]]]
"""``{"alpha": ("similarity", ("asymmetric",))}``: a parameter is searched only when its parent takes those values."""


def search_conditions(adapter: type[BaseAdapter] | BaseAdapter) -> Conditions:
    """The declared ``active_if`` conditions of an adapter's hyperparameters."""
    return {p.name: p.active_if for p in adapter.hyperparams if p.active_if is not None}


def _active(name: str, conditions: Conditions, known: Mapping[str, Any]) -> bool:
    """Whether ``name`` has no condition, or its parent's value in ``known`` is one of the listed ones."""
    cond = conditions.get(name)
    if cond is None:
        return True
    parent, values = cond
    current = known.get(parent)
    return any(current == v and type(current) is type(v) for v in values)


def active_params(params: Mapping[str, Any], conditions: Conditions, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without those whose condition fails (a parent not in ``params`` takes its value from ``defaults``).

    Example:
        >>> active_params({"similarity": "cosine", "alpha": 0.3}, {"alpha": ("similarity", ("asymmetric",))}, {})
        {'similarity': 'cosine'}
    """
    out: dict[str, Any] = {}
    for name, value in params.items():
        if _active(name, conditions, {**defaults, **params, **out}):
            out[name] = value
    return out


def suggest_params(
    trial: optuna.Trial, space: Mapping[str, BaseDistribution], conditions: Conditions, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """One trial's parameters, in declaration order; a conditional parameter is suggested only when active.

    Parents are declared before their children (``check_hyperparams`` checks it), so a
    parent's suggested value is known when its child is reached. A parent outside the
    space (fixed or not tunable) takes its value from ``defaults``.
    """
    out: dict[str, Any] = {}
    for name, d in space.items():
        if _active(name, conditions, {**defaults, **out}):
            out[name] = _suggest(trial, name, d)
    return out


def describe_space(space: Mapping[str, BaseDistribution], conditions: Conditions | None = None) -> dict[str, str]:
    """``{"k_neighbors": "int [5, 1000] log", "alpha": "float [0, 1] when similarity = 'asymmetric'"}``."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, str] = {}
    for name, d in space.items():
        if isinstance(d, CategoricalDistribution):
            choices = ", ".join(map(repr, d.choices))
            out[name] = f"fixed {d.choices[0]!r}" if len(d.choices) == 1 else "{" + choices + "}"
        elif isinstance(d, (IntDistribution, FloatDistribution)):
            kind = "int" if isinstance(d, IntDistribution) else "float"
            out[name] = f"{kind} [{d.low:g}, {d.high:g}]" + (" log" if d.log else "")
        else:  # pragma: no cover - other distributions are never built here
            out[name] = repr(d)
        cond = (conditions or {}).get(name)
        if cond is not None:
            parent, values = cond
            out[name] += f" when {parent} " + (f"= {values[0]!r}" if len(values) == 1 else f"in {list(values)!r}")
    return out


def _in_space(d: BaseDistribution, value: Any) -> bool:
    from optuna.distributions import CategoricalDistribution

    if isinstance(d, CategoricalDistribution):
        return any(value == c and type(value) is type(c) for c in d.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return bool(d.low <= value <= d.high)  # type: ignore[attr-defined]


def _suggest(trial: optuna.Trial, name: str, d: BaseDistribution) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, log=d.log)
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, log=d.log)
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)  # type: ignore[arg-type]
    raise ConfigError(f"unsupported distribution for '{name}': {d!r}")  # pragma: no cover


# =============================================================================== experiment TOML
@dataclass(frozen=True)
class TuneSettings:
    """The tuning-relevant part of an experiment file (``xsell_eval.config`` format).

    Attributes:
        overrides: ``[tune.<adapter>]`` tables: search-space overrides per adapter.
        params: ``[adapters.<adapter>]`` hyperparameters, held fixed during the search and
            in both test fits (the tables ``best_params.toml`` writes).
        trials, storage: ``[tune]`` keys (CLI flags win).
        metrics: ``[metrics] primary`` (CLI ``--metric`` wins).
        adapters: the experiment's adapter specs, in file order.
        compare: the experiment's data, split, protocol, seed and bootstrap settings.
        experiment: the validated :class:`xsell_eval.config.Experiment`.
        path: the file read.
    """

    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    trials: int | None = None
    storage: str | None = None
    metrics: tuple[str, ...] | None = None
    adapters: tuple[str, ...] = ()
    compare: Any = None
    experiment: Any = None
    path: str | None = None


def read_tune_settings(path: str | Path) -> TuneSettings:
    """Read an experiment TOML (the format of ``xsell-eval run``) for ``xsell-eval tune --config``.

    The whole file is validated by :func:`xsell_eval.config.load_experiment` (unknown keys
    rejected); tuning uses::

        seed = 0
        [data] / [split] / [protocol]        what a trial is scored on (validation window)
        [metrics]
        primary = "ndcg@10"                  the metric to maximise (unless --metric)
        [adapters.cf]                        fixed hyperparameters of cf
        fallback = "popular"
        [tune]
        trials = 50                          total finished trials per study (unless --trials)
        storage = "sqlite:///reports/optuna.db"
        [tune.cf]                            search-space overrides of cf
        k_neighbors = {low = 10, high = 200}
        similarity = ["cosine", "jaccard"]

    Raises:
        ConfigError: anything the experiment validator rejects (file, section and key named).
    """
    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.config import load_experiment

    exp = load_experiment(path, require_adapters=False)  # `tune ADAPTER --config FILE` names them itself
    cfg = exp.to_compare_config()
    params: dict[str, dict[str, Any]] = {}
    for spec, p in cfg.params.items():
        params.setdefault(parse_spec(spec)[0], {}).update(p)
    t = exp.tune
    return TuneSettings(
        overrides={k: dict(v) for k, v in (t.overrides if t is not None else {}).items()},
        params=params,
        trials=t.trials if t is not None else None,
        storage=t.storage if t is not None else None,
        metrics=(cfg.primary_metric,),
        adapters=tuple(exp.specs),
        compare=cfg,
        experiment=exp,
        path=str(path),
    )
