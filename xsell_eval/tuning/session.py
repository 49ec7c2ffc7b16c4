"""``xsell-eval tune`` as one library call: settings from flags and ``--config``, studies, run directory.

:func:`run_tuning` resolves what to tune (the command line wins over an experiment file),
checks every study before any is touched, tunes each adapter in turn (one failing adapter
does not stop the others), and writes the run directory. It prints nothing: progress and
notes go through ``progress(event, who, info)`` (the study events of
:func:`xsell_eval.tuning.tune`, plus ``prepare_start`` / ``prepare_end`` around loading the
data and ``note`` with ``info["text"]``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xsell_eval.errors import AdapterError, ConfigError
from xsell_eval.settings import DEFAULT_TRIALS, CompareConfig
from xsell_eval.tuning.run import TuneResult
from xsell_eval.tuning.search import TuneProgressFn

_DEFAULT = CompareConfig()

#: Evaluation flags of ``xsell-eval tune``: (CompareConfig field, option) — the option written into
#: the reproduce command when its value differs from the default.
_FLAGS = (
    ("data", "--data"),
    ("loader", "--loader"),
    ("catalog", "--catalog"),
    ("protocol", "--protocol"),
    ("split", "--split"),
    ("max_queries", "--max-queries"),
    ("test_fraction", "--test-fraction"),
    ("valid_fraction", "--valid-fraction"),
    ("reveal", "--reveal"),
    ("hide", "--hide"),
    ("n_bootstrap", "--bootstrap"),
    ("ci_unit", "--ci-unit"),
    ("test", "--test"),
)


@dataclass(frozen=True)
class TuningRun:
    """What :func:`run_tuning` did.

    Attributes:
        results: one written :class:`~xsell_eval.tuning.run.TuneResult` per tuned adapter.
        failures: ``"spec: error"`` for each adapter that could not be tuned.
        run_dir: the run directory written.
        storage: the storage URL, password hidden.
    """

    results: list[TuneResult]
    failures: list[str] = field(default_factory=list)
    run_dir: Path = Path(".")
    storage: str = ""


def _command(
    adapters: Sequence[str], flags: Mapping[str, Any], *, trials: int, storage: str | None, extra: Sequence[str]
) -> str:
    """The reproduce command: the adapters, every evaluation flag that differs from its default, the rest."""
    parts = ["xsell-eval", "tune", *adapters]
    for key, option in _FLAGS:
        value = flags.get(key)
        if key == "reveal" and flags.get("hide") is not None:
            continue  # --hide replaces --reveal
        if value is not None and value != getattr(_DEFAULT, key):
            parts += [option, str(value)]
        if key == "catalog":
            parts += ["--trials", str(trials)] + (["--storage", storage] if storage is not None else [])
        if key == "split":
            parts += ["--seed", str(flags.get("seed", _DEFAULT.seed))]
    return shlex.join([*parts, *extra])


def run_tuning(
    adapters: Sequence[str],
    *,
    flags: Mapping[str, Any],
    given: set[str] | None = None,
    config_path: Path | None = None,
    metrics: Sequence[str] = (),
    trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study: str | None = None,
    n_jobs: int = 1,
    out: Path | None = None,
    progress: TuneProgressFn | None = None,
) -> TuningRun:
    """Tune ``adapters`` (or the experiment's) on the validation window; test once; write the run directory.

    Args:
        adapters: specs to tune (empty: the adapters of ``config_path``).
        flags: :class:`~xsell_eval.settings.CompareConfig` fields of the evaluation (data, loader,
            catalog, split, test_fraction, valid_fraction, protocol, reveal, hide, max_queries, seed,
            n_bootstrap, ci_unit, test).
        given: the keys of ``flags`` the user set on purpose (they win over ``config_path``).
        config_path: an experiment TOML (``xsell-eval tune --config``).
        metrics: metrics to maximise (several: a multi-objective study); default the file's
            primary metric, else :data:`~xsell_eval.tuning.DEFAULT_METRIC`.
        trials: total finished trials per study (default the file's, else :data:`~xsell_eval.settings.DEFAULT_TRIALS`).
        timeout: stop starting new trials after this many seconds (per adapter).
        storage: Optuna storage URL (default the file's, else ``sqlite:///reports/optuna.db``).
        study: study name (``NAME-<adapter>`` with several adapters).
        n_jobs: parallel trials in this process.
        out: the run directory (default ``reports/<time>-tune-<adapters>``).
        progress: ``progress(event, who, info)``.

    Raises:
        ConfigError: nothing to tune, a bad budget, an adapter given twice, a bad override, or a
            study tuned for something else (before anything runs).
        AdapterError: no adapter could be tuned (the failures are listed).
    """
    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.experiment import load_experiment_data, note
    from xsell_eval.pipeline import prepare, prepare_validation
    from xsell_eval.results import new_run_dir, prepare_out_dir, write_tune_run
    from xsell_eval.tuning import (
        DEFAULT_METRIC,
        TuneSettings,
        check_study,
        declared_by,
        default_storage,
        open_storage,
        parse_objectives,
        plan_study,
        read_tune_settings,
        redact,
        search_space,
        tune,
    )

    emit = progress or (lambda *a: None)
    if prepare_out_dir(out, "tune"):  # before any work: not a file, another kind of run or a data folder
        note(progress, f"replacing the earlier tuning run in {out}")
    settings = read_tune_settings(config_path) if config_path is not None else TuneSettings()
    adapters = list(adapters or settings.adapters)
    if not adapters:
        raise ConfigError(
            f"{config_path} lists no adapters: name them on the command line (`xsell-eval tune cf --config "
            f"{config_path}`) or add [adapters.<name>] tables"
            if config_path is not None
            else "give the adapters to tune, e.g. `xsell-eval tune cf rules content`, or --config FILE"
        )
    objectives, _ = parse_objectives(list(metrics) or settings.metrics or (DEFAULT_METRIC,))
    n_trials = trials if trials is not None else (settings.trials or DEFAULT_TRIALS)
    if n_trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {n_trials}")
    storage_url = storage or settings.storage
    names = [parse_spec(a)[0] for a in adapters]
    if len(set(names)) != len(names):
        raise ConfigError(f"each adapter can be tuned once per run, got {adapters}")
    for spec, name in zip(adapters, names, strict=True):
        search_space(declared_by(spec), settings.overrides.get(name))  # bad overrides fail before any work
    unknown = sorted(set(settings.overrides) - set(names))
    if unknown:
        note(progress, f"[tune.<adapter>] ignored for {unknown}: not tuned in this run")
    if settings.compare is not None:  # the experiment's settings, then the flags given on the command line
        base = replace(settings.compare, **{k: v for k, v in flags.items() if k in (given or set())})
    else:
        base = CompareConfig(**flags)
    cfg = replace(
        base,
        adapters=tuple(adapters),
        ks=tuple(sorted({int(m.split("@")[1]) for m in objectives})),
        metrics=tuple(dict.fromkeys(m.split("@")[0] for m in objectives)),
        primary_metric=objectives[0],
        baseline="",
        params=settings.params,
        name="tune-" + "-".join(names),
    ).validate()
    dataset = None
    if settings.experiment is not None and cfg.data == settings.compare.data:
        exp = settings.experiment
        target = out if out is not None else (new_run_dir(name=cfg.name) if exp.data.generate else Path("."))
        dataset = load_experiment_data(exp, cfg, target)[1]
    url = storage_url or default_storage()
    store = open_storage(url)
    emit("prepare_start", "", {})
    prepared = prepare(cfg, dataset=dataset)
    validation = prepare_validation(cfg, prepared)
    emit("prepare_end", "", {})
    study_names = {
        spec: (None if study is None else (study if len(adapters) == 1 else f"{study}-{name}"))
        for spec, name in zip(adapters, names, strict=True)
    }
    plans = [
        plan_study(
            spec,
            cfg,
            prepared.dataset,
            metric=objectives,
            study_name=study_names[spec],
            overrides=settings.overrides.get(name),
        )
        for spec, name in zip(adapters, names, strict=True)
    ]
    for plan in plans:  # every study must match before any is touched
        check_study(store, plan, storage_url=url)
    results, failures = [], []
    for spec, name in zip(adapters, names, strict=True):
        try:
            results.append(
                tune(
                    spec,
                    replace(cfg, adapters=(spec,)),
                    metric=objectives,
                    n_trials=n_trials,
                    timeout=timeout,
                    storage=store,
                    study_name=study_names[spec],
                    n_jobs=n_jobs,
                    seed=cfg.seed,
                    prepared=prepared,
                    progress=progress,
                    overrides=settings.overrides.get(name),
                    validation=validation,
                    storage_url=url,
                )
            )
        except AdapterError as exc:
            failures.append(f"{spec}: {exc}")
            emit("study_failed", name, {"error": str(exc)})
    if not results:
        raise AdapterError("; ".join(failures) or "nothing was tuned")
    run_dir = out if out is not None else new_run_dir(name=cfg.name)
    split_info = prepared.split.describe()
    extra = [x for m in objectives for x in ("--metric", m)] + (["--study", study] if study is not None else [])
    if config_path is not None:
        extra = ["--config", str(config_path), *extra]
    command = _command(adapters, {**flags, "seed": cfg.seed}, trials=n_trials, storage=storage_url, extra=extra)
    context = {
        "data": prepared.dataset.name,
        "fingerprint": prepared.dataset.fingerprint,
        "protocol": flags.get("protocol"),
        "split": flags.get("split"),
        "n_validation_queries": len(validation[1]),
        "n_test_queries": len(prepared.queries),
        "validation_span": f"{split_info['validation']['start']} → {split_info['validation']['end']}",
        "storage": redact(url),
        "command": command,
    }
    written = write_tune_run(results, run_dir, context=context)
    return TuningRun(results=written, failures=failures, run_dir=run_dir, storage=redact(url))


__all__ = ["TuningRun", "run_tuning"]
