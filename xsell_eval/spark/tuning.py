"""Optuna tuning of a Spark adapter (``xsell-eval tune spark-als --engine spark``), study in an RDB storage.

The same validation protocol as the pandas tuning (:mod:`xsell_eval.tuning`), done in Spark: the
training period is cut again in time (the latest ``valid_fraction`` of its baskets are the
validation window, :func:`~xsell_eval.spark.prepare.temporal_split`), validation queries are built
from that window (:func:`~xsell_eval.spark.prepare.basket_completion`), and each trial fits the
adapter on the earlier part and scores the validation queries with the engine's per-query metrics
(only the per-query table is collected). The test period is not touched during the search; after
it, the best and the default parameters are fitted on the whole training period and scored once
on the test queries (means; the CIs are ``compare --engine spark``'s job).

The study lives in an Optuna storage (``sqlite:///...``, ``postgresql://...``): workers on several
machines given the same ``--storage`` and ``--study`` join one study and stop together when it has
``n_trials`` finished trials. A study records the engine, adapter, metric and the settings' hash;
re-opening it for something else is a :class:`~xsell_eval.errors.ConfigError`.

Not done here (the pandas tuning has them): multi-objective studies, search-space overrides from an
experiment file, pruning, ``compare --tuned`` reading a Spark study.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from xsell_eval.errors import AdapterError, ConfigError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

    from xsell_eval.settings import CompareConfig
    from xsell_eval.spark.engine import SparkPrepared

#: Study user attributes that must match when a worker joins a study.
_IDENTITY = ("engine", "adapter", "metric", "settings_hash")


def spark_search_space(name: str) -> dict[str, BaseDistribution]:
    """The searched hyperparameters of a Spark adapter (defaults inside every range)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    spaces: dict[str, dict[str, BaseDistribution]] = {
        "spark-als": {
            "factors": IntDistribution(8, 128, log=True),
            "reg": FloatDistribution(1e-4, 1.0, log=True),
            "alpha": FloatDistribution(1.0, 100.0, log=True),
            "iterations": IntDistribution(5, 30),
        },
        "spark-fpgrowth": {
            "min_support": FloatDistribution(1e-4, 0.05, log=True),
            "min_confidence": FloatDistribution(0.01, 0.8, log=True),
        },
    }
    if name not in spaces:
        raise ConfigError(
            f"--engine spark tunes {', '.join(spaces)}; '{name}' has no Spark search space "
            "(popular has no hyperparameters; the single-machine adapters tune with --engine pandas)"
        )
    return spaces[name]


@dataclass(frozen=True)
class SparkTuneResult:
    """What a Spark tuning run found (one adapter)."""

    adapter: str
    study_name: str
    storage: str
    metric: str
    n_finished: int
    best_params: dict[str, Any]
    best_value: float
    default_value: float | None
    test: pd.DataFrame
    """``variant`` (tuned/default), ``metric``, ``mean``, ``n``: the test-period means."""
    trials: pd.DataFrame
    created: bool

    def summary(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "engine": "spark",
            "adapter": self.adapter,
            "study": self.study_name,
            "storage": self.storage,
            "metric": self.metric,
            "finished_trials": self.n_finished,
            "best_params": self.best_params,
            "best_validation": self.best_value,
            "default_validation": self.default_value,
            "test": self.test.to_dict(orient="records"),
        }


def prepare_spark_validation(config: CompareConfig, prepared: SparkPrepared) -> SparkPrepared:
    """(fit_train, validation queries) in Spark: the latest ``valid_fraction`` of the training baskets."""
    from xsell_eval.spark.engine import SparkPrepared
    from xsell_eval.spark.prepare import config_queries, temporal_split

    train_data = replace(prepared.data, lines=prepared.split.train)
    vsplit = temporal_split(train_data, test_fraction=config.valid_fraction)
    vq = config_queries(vsplit, config)
    if vq.n == 0:
        raise ConfigError(
            f"the validation window (valid_fraction={config.valid_fraction}) has no queries; raise --valid-fraction"
        )
    return SparkPrepared(train_data, vsplit, vq, {})


def _settings_hash(config: CompareConfig, metric: str) -> str:
    keys = ("data", "loader", "split", "test_fraction", "valid_fraction", "cutoff", "protocol", "reveal", "hide")
    payload = {k: getattr(config, k) for k in keys} | {"max_queries": config.max_queries, "seed": config.seed}
    payload |= {"metric": metric, "params": config.params}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _score(spec: str, config: CompareConfig, prepared: SparkPrepared, params: dict[str, Any], metric: str) -> float:
    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.spark.engine import run_spark_adapter

    name, _ = parse_spec(spec)
    out = run_spark_adapter(spec, replace(config, params={name: params}), prepared)
    if out.status != "ok" or out.per_query is None:
        raise AdapterError(f"{spec}: {out.error}")
    return float(out.per_query[metric].mean())


def tune_spark(
    spec: str,
    config: CompareConfig,
    *,
    metric: str = "ndcg@10",
    n_trials: int = 20,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int | None = None,
    master: str | None = None,
) -> SparkTuneResult:
    """Tune one Spark adapter on the validation window; then score tuned and default once on test.

    Args:
        spec: ``spark-als`` or ``spark-fpgrowth``, optionally with fixed parameters
            (``spark-als:iterations=10``: not searched).
        config: data, split, protocol, seed (``engine="spark"``).
        metric: per-query metric to maximise on validation.
        n_trials: finished trials the study should have in total (a joined study is topped up).
        storage: Optuna storage URL (default ``sqlite:///reports/optuna.db``); use PostgreSQL to
            share the study between machines.
        study_name: default ``<adapter>-<metric>-spark-<settings hash>`` (re-running resumes).
        seed: sampler seed (default ``config.seed``); a worker joining an existing study
            derives its own from it and the number of trials present.
        master: Spark master (default ``config.spark_master`` or ``local[*]``).

    Raises:
        ConfigError: no search space, a study of that name tuned for something else, bad storage.
        AdapterError: no trial completed.
    """
    import optuna

    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.metrics import METRICS, parse_metric
    from xsell_eval.spark.engine import prepare_spark
    from xsell_eval.spark.session import DEFAULT_MASTER
    from xsell_eval.tuning.storage import default_storage, open_storage, redact

    name, fixed = parse_spec(spec)
    space = {k: d for k, d in spark_search_space(name).items() if k not in fixed}
    mname, _ = parse_metric(metric)
    if METRICS[mname].scope != "per_query":
        raise ConfigError(f"--engine spark tunes a per-query metric (e.g. ndcg@10), got {metric!r}")
    config = replace(config, adapters=(spec,), baseline="", primary_metric=metric, engine="spark").validate()
    storage = storage or default_storage()
    shown = redact(storage)
    st = open_storage(storage)
    identity = {
        "engine": "spark",
        "adapter": spec,
        "metric": metric,
        "settings_hash": _settings_hash(config, metric),
    }
    study_name = study_name or f"{name}-{metric}-spark-{identity['settings_hash'][:8]}"
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(st)}
    created = study_name not in existing
    if not created:
        attrs = existing[study_name].user_attrs
        diff = [f"{k}: study {attrs.get(k)!r} vs run {identity[k]!r}" for k in _IDENTITY if attrs.get(k) != identity[k]]
        if diff:
            raise ConfigError(
                f"study '{study_name}' in {shown} was tuned for something else ({'; '.join(diff)}); "
                "give another --study name, or the same data and settings"
            )
    base_seed = config.seed if seed is None else seed
    n_before = 0 if created else existing[study_name].n_trials
    # the creator samples with the seed exactly; a joining worker must not propose the creator's sequence again
    joined_seed = (base_seed + 7919 * n_before + os.getpid()) % 2**32
    sampler = optuna.samplers.TPESampler(seed=base_seed if created else joined_seed)
    study = optuna.create_study(
        study_name=study_name, storage=st, direction="maximize", sampler=sampler, load_if_exists=True
    )
    if created:
        for k, v in identity.items():
            study.set_user_attr(k, v)
    from xsell_eval.spark.adapters import create_spark_adapter

    defaults = {k: getattr(create_spark_adapter(name, dict(fixed), seed=config.seed), k) for k in space}
    if created and space:
        study.enqueue_trial(defaults, user_attrs={"is_default": True})
    prepared = prepare_spark(config, master=master or config.spark_master or DEFAULT_MASTER)
    valid = prepare_spark_validation(config, prepared)

    def objective(trial: optuna.Trial) -> float:
        params = dict(fixed)
        for k, d in space.items():
            if isinstance(d, optuna.distributions.IntDistribution):
                params[k] = trial.suggest_int(k, d.low, d.high, log=d.log)
            else:
                assert isinstance(d, optuna.distributions.FloatDistribution)
                params[k] = trial.suggest_float(k, d.low, d.high, log=d.log)
        return _score(spec, config, valid, params, metric)

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    if done < n_trials:
        study.optimize(
            objective,
            n_trials=n_trials - done,
            catch=(AdapterError,),
            callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=finished)],
        )
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        errs = [t.system_attrs.get("fail_reason", "") for t in study.get_trials(deepcopy=False)][:3]
        raise AdapterError(f"tuning '{spec}' produced no completed trial in study '{study_name}': {'; '.join(errs)}")
    best = max(complete, key=lambda t: (float(t.value or 0.0), -t.number))
    dtr = [t for t in complete if t.user_attrs.get("is_default")]
    default_value = float(dtr[0].value) if dtr and dtr[0].value is not None else None
    best_params = {**dict(fixed), **best.params}
    rows = []
    for variant, params in (("tuned", best_params), ("default", {**dict(fixed), **defaults})):
        rows.append((variant, metric, _score(spec, config, prepared, params, metric), prepared.queries.n))
    test = pd.DataFrame(rows, columns=["variant", "metric", "mean", "n"])
    trials = study.trials_dataframe(attrs=("number", "value", "params", "state"))
    return SparkTuneResult(
        adapter=spec,
        study_name=study_name,
        storage=shown,
        metric=metric,
        n_finished=len(study.get_trials(deepcopy=False, states=finished)),
        best_params=best_params,
        best_value=float(best.value or 0.0),
        default_value=default_value,
        test=test,
        trials=trials,
        created=created,
    )


__all__ = ["SparkTuneResult", "prepare_spark_validation", "spark_search_space", "tune_spark"]
