"""Tuned parameters for a comparison: ``compare --tuned`` and ``compare --tune N``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xsell_eval.errors import ConfigError
from xsell_eval.result import TuningEntry, TuningSummary
from xsell_eval.tuning.search import TuneProgressFn, run_search
from xsell_eval.tuning.space import declared_by, parse_objectives, search_space
from xsell_eval.tuning.storage import default_storage, open_storage, redact
from xsell_eval.tuning.study import _finished_states, eval_settings, same_json, select_best

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from xsell_eval.data.dataset import Dataset
    from xsell_eval.pipeline import CompareConfig, CompareResult


# =============================================================================== stored best params
@dataclass(frozen=True)
class StoredBest:
    """Best parameters found in a storage for one adapter (for ``compare --tuned``)."""

    adapter: str
    study_name: str
    metrics: tuple[str, ...]
    params: dict[str, Any]
    value: float | None
    trial: int
    finished: int
    used_trials: int
    trial_seconds: float
    same_settings: bool


def find_studies(storage: str | BaseStorage | None, adapter: str, fingerprint: str) -> list[Any]:
    """Summaries of the xsell-eval studies of ``adapter`` on data ``fingerprint``."""
    import optuna

    store = open_storage(storage) if (storage is None or isinstance(storage, str)) else storage
    out = []
    for s in optuna.get_all_study_summaries(store, include_best_trial=False):
        if s.user_attrs.get("adapter") == adapter and s.user_attrs.get("fingerprint") == fingerprint:
            out.append(s)
    return out


SPLIT_KEYS = ("split", "test_fraction", "valid_fraction", "cutoff")


def same_split(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two evaluation settings split train / validation / test the same way.

    The temporal split depends on the fractions and the cutoff only; the per-user splits
    also draw with the seed.
    """
    keys = SPLIT_KEYS if a.get("split") == b.get("split") == "temporal" else (*SPLIT_KEYS, "seed")
    return all(a.get(k) == b.get(k) for k in keys)


def best_params_from_storage(
    storage: str | BaseStorage | None,
    adapter: str,
    metric: str | None,
    fingerprint: str,
    *,
    settings: Mapping[str, Any] | None = None,
    first_n: int | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> StoredBest | None:
    """The best parameters stored for ``adapter`` on this data, or None if it was never tuned.

    ``settings`` (:func:`eval_settings` of the comparison) also excludes studies whose split
    differs (:func:`same_split`): their validation window may lie inside this comparison's test
    period, and parameters chosen there would have seen the test data.

    ``fixed`` (the adapter's fixed parameters, spec and experiment ones merged) keeps only
    studies tuned around the same fixed parameters: best ``k_neighbors`` for
    ``cf:similarity=jaccard`` are not applied to a cosine ``cf``, nor a hybrid's tuned
    ``weight_rules`` to a hybrid of cf and content. None: any study of the adapter.

    Among the studies of that adapter and data fingerprint, prefers one whose first
    metric is ``metric`` (None: any), then one with the same evaluation settings
    (``settings``: :func:`eval_settings` of the comparison; the metric is ignored
    there), then the one with the most finished trials. The best trial is
    recomputed from the study's trials (so trials added by other workers count);
    ``first_n`` restricts it to the first N finished trials (a fixed budget).
    """
    import optuna

    store = open_storage(storage) if (storage is None or isinstance(storage, str)) else storage
    cands = find_studies(store, adapter, fingerprint)
    if fixed is not None:
        cands = [s for s in cands if same_json(s.user_attrs.get("base_params", {}), dict(fixed))]
    if settings is not None:
        cands = [s for s in cands if same_split(s.user_attrs.get("eval_settings", {}), settings)]
    if metric is not None:
        from xsell_eval.metrics import parse_metric

        mname, k = parse_metric(metric)
        label = f"{mname}@{k}"
        cands = [s for s in cands if (s.user_attrs.get("metrics") or [None])[0] == label]
    if not cands:
        return None

    def same(s: Any) -> bool:
        if settings is None:
            return False
        stored = {k: v for k, v in s.user_attrs.get("eval_settings", {}).items() if k != "metrics"}
        return stored == {k: v for k, v in settings.items() if k != "metrics"}

    def rank(s: Any) -> tuple[int, int]:
        return (int(same(s)), s.n_trials)

    cands.sort(key=rank, reverse=True)
    for s in cands:
        study = optuna.load_study(study_name=s.study_name, storage=store)
        trials = study.get_trials(deepcopy=False)
        dirs = [d.name.lower() for d in study.directions]
        best = select_best(trials, dirs, first_n=first_n)
        if best is None:
            continue
        fin = sorted((t for t in trials if t.state in _finished_states()), key=lambda t: t.number)
        used = fin[:first_n] if first_n is not None else fin
        secs = float(sum(t.duration.total_seconds() for t in used if t.duration is not None))
        params, value, number = dict(best.params), float(best.values[0]) if best.values else None, best.number
        # defaults outside the search space are no trial: `tune` stored their validation score beside it
        outside = s.user_attrs.get("default_values")
        if outside and len(dirs) == 1 and value is not None:
            d = float(outside[0])
            if (value < d) if dirs[0] == "maximize" else (value > d):
                params, value, number = {}, d, -1
        return StoredBest(
            adapter=adapter,
            study_name=s.study_name,
            metrics=tuple(s.user_attrs.get("metrics", [])),
            params=params,
            value=value,
            trial=number,
            finished=len(fin),
            used_trials=len(used),
            trial_seconds=secs,
            same_settings=same(s),
        )
    return None


def _has_space(spec: str, config: CompareConfig) -> bool:
    from xsell_eval.adapters.registry import parse_spec

    if spec in (config.recs or {}):  # an exported recommendations file: nothing to tune
        return False
    name = parse_spec(spec)[0]
    return bool(search_space(declared_by(spec, {**config.params.get(name, {}), **config.params.get(spec, {})})))


def apply_tuning(
    config: CompareConfig,
    *,
    tuned: bool = False,
    tune_trials: int | None = None,
    storage: str | BaseStorage | None = None,
    dataset: Dataset | None = None,
    progress: TuneProgressFn | None = None,
    n_jobs: int = 1,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[CompareConfig, Dataset, TuningSummary]:
    """Fill ``config.params`` with tuned parameters before a comparison.

    ``tuned=True`` reads the stored best parameters of each adapter (any study of that
    adapter on this data, preferring the comparison's primary metric and settings);
    ``tune_trials=N`` first tunes every adapter on the primary metric with the same
    budget of N finished trials (the best is taken among the first N, even if a study
    already had more). Adapters without tunable parameters, or never tuned, keep
    their defaults; the returned summary says which was which.

    ``overrides`` (``{adapter: [tune.<adapter>] table}``) change the search spaces of
    ``tune_trials``; they are checked before anything runs.

    Returns:
        ``(config with params, dataset, summary)`` where ``summary`` goes into
        ``CompareResult.tuning`` (see :func:`xsell_eval.report.tuning.tuning_summary_markdown`).
    """
    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.pipeline import load_data, prepare

    if tune_trials is not None and (isinstance(tune_trials, bool) or tune_trials < 1):
        raise ConfigError(f"--tune must be a number of trials >= 1, got {tune_trials!r}")
    overrides = dict(overrides or {})
    names = {parse_spec(spec)[0] for spec in config.adapters}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"[tune.{unknown[0]}]: '{unknown[0]}' is not among the adapters {sorted(names)}")
    for spec in config.adapters:
        name = parse_spec(spec)[0]
        if name in overrides:
            search_space(declared_by(spec), overrides[name])
    if storage is None or isinstance(storage, str):
        url = redact(storage or default_storage())
        target = storage or default_storage()
        sqlite_file = target.split("///", 1)[1] if target.startswith("sqlite:///") else ""
        if tune_trials is None and sqlite_file and not Path(sqlite_file).exists():
            raise ConfigError(
                f"--tuned: no tuning storage at {url} (file '{sqlite_file}' does not exist); run "
                "`xsell-eval tune ADAPTER...` first, or pass --storage where your studies are"
            )
        store = open_storage(storage)
    else:
        store, url = storage, type(storage).__name__
    ds = dataset if dataset is not None else load_data(config)
    metric = config.primary_metric
    metrics, _ = parse_objectives(metric)
    settings = json.loads(json.dumps(eval_settings(config, metrics), default=str))
    entries: list[dict[str, Any]] = []
    tuned_by_spec: dict[str, dict[str, Any]] = {}
    prepared = None
    for spec in config.adapters:
        name, spec_params = parse_spec(spec)
        entry: dict[str, Any] = {"adapter": spec, "tuned": False, "trials": 0, "seconds": 0.0}
        if not _has_space(spec, config):
            entry["note"] = "no tunable hyperparameters"
            entries.append(entry)
            continue
        if tune_trials is not None:
            if prepared is None:
                prepared = prepare(replace(config, adapters=(spec,)), dataset=ds)
            tcfg = replace(config, adapters=(spec,), baseline="", primary_metric=metric)
            run_search(
                spec,
                tcfg,
                prepared=prepared,
                metric=metrics,
                n_trials=tune_trials,
                storage=store,
                n_jobs=n_jobs,
                progress=progress,
                overrides=overrides.get(name),
            )
        fixed = {**config.params.get(name, {}), **config.params.get(spec, {}), **spec_params}
        found = best_params_from_storage(
            store,
            name,
            metric if tune_trials is not None else None,
            ds.fingerprint,
            settings=settings,
            first_n=tune_trials,
            fixed=fixed,
        )
        if tune_trials is None and found is not None and found.metrics[:1] != metrics[:1]:
            # prefer a study on the comparison's metric when one exists
            exact = best_params_from_storage(store, name, metric, ds.fingerprint, settings=settings, fixed=fixed)
            found = exact or found
        if found is None:
            others = find_studies(store, name, ds.fingerprint)
            entry["note"] = f"not tuned: no study for '{spec}' on this data in {url}"
            other_split = [o for o in others if not same_split(o.user_attrs.get("eval_settings", {}), settings)]
            if other_split:
                entry["note"] += (
                    f" with this split ({len(other_split)} stud{'y' if len(other_split) == 1 else 'ies'} of "
                    f"'{name}' used another split, whose validation window may overlap this comparison's test "
                    "period; tune again with this comparison's split settings)"
                )
            elif others:
                fixed_sets = sorted({json.dumps(o.user_attrs.get("base_params", {}), sort_keys=True) for o in others})
                entry["note"] += f" (studies of '{name}' there fixed other parameters: {', '.join(fixed_sets)})"
            entries.append(entry)
            continue
        tuned_params = {k: v for k, v in found.params.items() if k not in spec_params}
        tuned_by_spec[spec] = tuned_params  # by exact spec: `cf` and `cf:similarity=jaccard` differ
        entry.update(
            {
                "tuned": True,
                "trials": found.used_trials,
                "seconds": found.trial_seconds,
                "study": found.study_name,
                "metric": "+".join(found.metrics),
                "validation": found.value,
                "best_trial": found.trial,
                "params": tuned_params,
                "same_settings": found.same_settings,
            }
        )
        if found.trial == -1:
            entry["note"] = "no trial beat the defaults (outside the search space) on validation: defaults kept"
        if not found.same_settings:
            entry["note"] = "tuned with other evaluation settings (split/protocol/seed) than this comparison"
        entries.append(entry)
    budgets = {e["trials"] for e in entries if e["tuned"]}
    tunable = [e for e in entries if e.get("note") != "no tunable hyperparameters"]
    fair = bool(tunable) and all(e["tuned"] for e in tunable) and len(budgets) == 1
    summary = TuningSummary(
        mode="tune" if tune_trials is not None else "tuned",
        budget=tune_trials,
        storage=url,
        metric=metric,
        fair=fair,
        adapters=tuple(TuningEntry.from_dict(e) for e in entries),
    )
    return replace(config, tuned=tuned_by_spec or None), ds, summary


def tune_then_compare(
    config: CompareConfig,
    n_trials: int | None,
    *,
    storage: str | BaseStorage | None = None,
    dataset: Dataset | None = None,
    progress: TuneProgressFn | None = None,
    n_jobs: int = 1,
) -> CompareResult:
    """``compare --tune N`` (or ``--tuned`` when ``n_trials`` is None) as one library call.

    Tunes every adapter with the same budget (or reads stored best parameters), runs the
    comparison with them, and records the budgets in ``result.tuning``.
    """
    from xsell_eval.pipeline import run_compare

    config = config.validate()
    cfg, ds, summary = apply_tuning(
        config,
        tuned=n_trials is None,
        tune_trials=n_trials,
        storage=storage,
        dataset=dataset,
        progress=progress,
        n_jobs=n_jobs,
    )
    result = run_compare(cfg, dataset=ds)
    return replace(result, tuning=summary)
