"""Run a comparison or a whole experiment file into a run directory (library side of ``compare`` and ``run``).

Order of :func:`run_experiment`: load and validate the file (with ``--set`` overrides;
every ``[abtest]`` value is checked there) → load (or generate) the data with the file's
cleaning switches → tune first if ``[tune]`` says so → compare → simulate the A/B test
of ``[abtest]`` on the same test queries and recommendations → write the run directory
(``experiment.toml`` as given, ``experiment.json`` resolved with its hash, the usual
compare files, ``report.md`` with plots, ``report.html``).

Nothing here prints. Progress goes through the pipeline's callback
(``progress(event, who, info)``): ``stage_start`` / ``stage_end`` around the steps
named here, and ``note`` with ``info["text"]`` for what the user should know (an
ignored key, an implied A/A test, a replaced earlier run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xsell_eval.errors import AdapterError, ConfigError, DataError

if TYPE_CHECKING:
    from xsell_eval.abtest.result import ABTestReport
    from xsell_eval.config import Experiment
    from xsell_eval.data.dataset import Dataset
    from xsell_eval.pipeline import AdapterOutcome, CompareResult, Prepared, ProgressFn
    from xsell_eval.result import TuningSummary
    from xsell_eval.settings import CompareConfig


def _emitter(progress: ProgressFn | None) -> ProgressFn:
    return progress or (lambda *a: None)


def note(progress: ProgressFn | None, text: str) -> None:
    """Send ``text`` as a ``note`` event (the CLI prints it as a yellow note)."""
    _emitter(progress)("note", "", {"text": text})


@contextmanager
def _stage(progress: ProgressFn | None, who: str) -> Iterator[None]:
    emit = _emitter(progress)
    emit("stage_start", who, {})
    yield
    emit("stage_end", who, {})


# ---------------------------------------------------------------------- data and tuning
def load_experiment_data(
    exp: Experiment, config: CompareConfig, run_dir: Path, *, progress: ProgressFn | None = None
) -> tuple[CompareConfig, Dataset]:
    """The experiment's data with its column mapping and cleaning switches.

    ``[data] generate`` writes a synthetic shop into ``run_dir / "data"`` first.

    Returns:
        ``(config with the data path actually used, dataset)``.
    """
    from xsell_eval.data.loaders import load_dataset

    d = exp.data
    if d.generate is not None:
        from xsell_eval.data.synthetic import generate_shop

        g = d.generate
        with _stage(progress, f"generate a synthetic shop (seed {g.seed})"):
            generate_shop(seed=g.seed, n_users=g.users, n_items=g.items, n_days=g.days).save(run_dir / "data")
        config = replace(config, data=str(run_dir / "data"))
    with _stage(progress, "load and clean the data"):
        ds = load_dataset(
            config.data,
            loader=config.loader,
            columns=d.columns,
            catalog=config.catalog,
            policy=d.cleaning.spec(),
            name=d.name or ("synthetic" if d.generate is not None else None),
        )
    return config, ds


def tune_experiment(
    exp: Experiment, config: CompareConfig, dataset: Dataset, *, progress: ProgressFn | None = None
) -> tuple[CompareConfig, Dataset, TuningSummary]:
    """``[tune]``: tune every adapter first (``trials``) or read stored best parameters (``use_stored``)."""
    from xsell_eval.tuning import apply_tuning

    t = exp.tune
    if t is None:
        raise ConfigError(f"{exp.source}: no [tune] section")
    what = f"tune every adapter with {t.trials} trials" if t.trials else "read tuned parameters"
    with _stage(progress, f"{what} (validation window only)"):
        return apply_tuning(
            config,
            tuned=t.use_stored,
            tune_trials=t.trials,
            storage=t.storage,
            dataset=dataset,
            overrides=t.overrides or None,
        )


# ---------------------------------------------------------------------- the [abtest] part
def simulate_abtest(
    exp: Experiment,
    config: CompareConfig,
    prepared: Prepared,
    outcomes: Mapping[str, AdapterOutcome],
    *,
    command: str,
    progress: ProgressFn | None = None,
) -> ABTestReport:
    """Simulate the ``[abtest]`` section on the comparison's queries and recommendations.

    Returns:
        The ``ABTestReport`` for ``result.abtest`` (figures under ``plots/``).

    Raises:
        AdapterError: an arm's adapter did not complete.
        DataError: ``response = "truth"`` and the data has no ground truth.
    """
    from xsell_eval.abtest.runner import arm_labels, is_aa, run_simulation
    from xsell_eval.data.synthetic import find_truth
    from xsell_eval.report.plots import ABTEST_LIFT, ABTEST_SEQUENTIAL

    ab = exp.abtest
    if ab is None:
        raise ConfigError(f"{exp.source}: no [abtest] section")
    arms = exp.abtest_arms
    for a in dict.fromkeys(arms):
        o = outcomes.get(a)
        if o is None or o.status != "ok" or o.recs is None:
            raise AdapterError(
                f"[abtest]: arm '{a}' has no recommendations (the adapter failed: {getattr(o, 'error', '')})"
            )
    truth = None
    if ab.response == "truth":
        truth = find_truth(config.data, prepared.dataset)
        if truth is None:
            raise DataError(
                f"{exp.source}: [abtest] response = 'truth' needs data with a ground truth (written by "
                "`xsell-eval data generate`, or [data] generate = {...}); use 'replay' or 'oracle'"
            )
    model = ab.response_model(label=lambda k: f"{exp.source}: [abtest] {k}")
    ignored = ab.ignored(model)
    if ignored:
        why = f"response = '{ab.response}'" + (f", curve = '{ab.curve}'" if "exam_decay" in ignored else "")
        note(progress, f"[abtest] {', '.join(ignored)} ignored: no effect with {why}")
    aa = is_aa(arms)
    if aa:
        note(
            progress,
            f"[abtest] arms are all the same adapter ({arms[0]}): treating the simulated test as an A/A test "
            "(A/A verdict, no ship / keep decision)",
        )
    labels = arm_labels(arms)  # a repeated arm becomes 'cf (A)', 'cf (B)'
    recs = {lab: outcomes[a].recs.truncate(ab.k) for lab, a in zip(labels, arms, strict=True)}  # type: ignore[union-attr]
    with _stage(progress, f"simulate an A/B test with {ab.visitors:,} visitors"):
        done = run_simulation(
            prepared,
            recs,
            settings=ab,
            config=config,
            response=model,
            truth=truth,
            per_query={lab: outcomes[a].per_query for lab, a in zip(labels, arms, strict=True)},
            adapters=arms,
            aa=aa,
            aa_implied=aa,
            command=command,
            figures={"lift": ABTEST_LIFT, "sequential": ABTEST_SEQUENTIAL},
            traffic_label="[abtest] traffic_per_day",
        )
    return done.report


# ---------------------------------------------------------------------- whole runs
def _saver(run_dir: Path, outcomes: dict[str, AdapterOutcome] | None = None) -> Callable[[AdapterOutcome], None]:
    """Save each adapter's outcome as soon as it finishes (and keep it in ``outcomes``)."""
    from xsell_eval.results import save_outcome

    def on_done(outcome: AdapterOutcome) -> None:
        if outcomes is not None:
            outcomes[outcome.spec] = outcome
        save_outcome(run_dir, outcome)

    return on_done


def run_experiment(
    path: Path,
    overrides: list[str],
    *,
    run_dir: Path | None = None,
    html: bool | None = None,
    progress: ProgressFn | None = None,
    command: str | None = None,
) -> tuple[CompareResult, Path]:
    """Run one experiment file end to end; returns ``(CompareResult, run_dir)``.

    Args:
        path: the experiment TOML.
        overrides: ``--set`` strings.
        run_dir: where to write (default ``reports/<time>-<name>``).
        html: write ``report.html`` (default: the file's ``[report] html``).
        progress: pipeline progress callback (also gets ``note`` events).
        command: the command line as typed (default: ``xsell-eval run PATH --set ...``).
    """
    import shlex

    from xsell_eval.config import load_experiment
    from xsell_eval.pipeline import run_compare
    from xsell_eval.result import ExperimentInfo, ReportSettings
    from xsell_eval.results import prepare_out_dir, start_run_dir, write_config, write_run

    exp = load_experiment(path, overrides)  # every [abtest] value is checked here, before any work
    config = exp.to_compare_config().validate()
    command = command or shlex.join(["xsell-eval", "run", str(path), *[x for o in overrides for x in ("--set", o)]])
    prepare_out_dir(run_dir, "compare")  # before any work: not a file, another kind of run or a data folder
    run_dir = start_run_dir(run_dir, exp.name)
    config, dataset = load_experiment_data(exp, config, run_dir, progress=progress)
    tuning = None
    if exp.tune is not None:
        config, dataset, tuning = tune_experiment(exp, config, dataset, progress=progress)
    info = ExperimentInfo(path=str(path), hash=exp.hash, overrides=tuple(overrides), command=command)
    resolved = {**info.to_dict(), "resolved": exp.resolved_dict(), "compare_config_hash": config.hash}
    start_run_dir(run_dir, exp.name, experiment=(Path(path), resolved))
    write_config(run_dir, config)
    holder: dict[str, Any] = {}
    outcomes: dict[str, AdapterOutcome] = {}
    t0 = time.perf_counter()
    result = run_compare(
        config,
        dataset=dataset,
        progress=progress,
        hash_user_ids=exp.report.hash_user_ids,
        on_adapter_done=_saver(run_dir, outcomes),
        on_prepared=lambda p: holder.__setitem__("prepared", p),
        settings=ReportSettings.from_dict(exp.report_settings()),
        command=command,
    )
    abtest = None
    if exp.abtest is not None:
        abtest = simulate_abtest(exp, config, holder["prepared"], outcomes, command=command, progress=progress)
    manifest = dict(result.manifest)
    manifest["timings_seconds"] = {**manifest.get("timings_seconds", {}), "run_total": time.perf_counter() - t0}
    manifest["experiment_hash"] = exp.hash
    result = replace(result, experiment=info, tuning=tuning, abtest=abtest, manifest=manifest)
    write_run(result, run_dir, html=exp.report.html if html is None else html)
    return result, run_dir


def run_comparison(
    config: CompareConfig,
    *,
    out: Path | None = None,
    resume: bool = False,
    hash_user_ids: bool = False,
    html: bool = False,
    dataset: Dataset | None = None,
    tuning: TuningSummary | None = None,
    progress: ProgressFn | None = None,
    command: str | None = None,
) -> tuple[CompareResult, Path]:
    """``xsell-eval compare``: run a comparison into a run directory; returns ``(result, run_dir)``.

    Args:
        config: the comparison (validated here).
        out: the run directory (default ``reports/<time>-<name>``); an earlier run there is replaced.
        resume: finish the interrupted run in ``out`` (reusing adapters completed on the same
            settings, data and test queries).
        hash_user_ids: write keyed pseudonyms instead of user ids in ``queries.parquet``.
        html: also write ``report.html``.
        dataset: already loaded data (e.g. by :func:`xsell_eval.tuning.apply_tuning`).
        tuning: ``result.tuning`` (from :func:`xsell_eval.tuning.apply_tuning`).
        progress: pipeline progress callback (also gets ``note`` events).
        command: the command line as typed.

    Raises:
        ConfigError: ``--resume`` without a run directory, or on one run with other settings.
    """
    from xsell_eval.pipeline import run_compare
    from xsell_eval.results import check_out_dir, load_outcomes, prepare_out_dir, start_run_dir, write_run

    config = config.validate()
    check_out_dir(out, "compare")  # before any work: not a file, not another kind of run, not a data folder
    completed = {}
    if resume:
        if out is None or not out.exists():
            raise ConfigError("--resume needs --out pointing at the interrupted run directory")
        prev = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else None
        if prev is not None and prev.get("config_hash") != config.hash:
            raise ConfigError(
                f"--resume: {out} was run with a different configuration (hash {prev.get('config_hash')})"
            )
        completed = load_outcomes(out)
    elif prepare_out_dir(out, "compare"):
        # the earlier run's files go now, so a failed or interrupted new run cannot pass for the old one
        note(progress, f"replacing the earlier run in {out}")
    run_dir = start_run_dir(out, config.name, config=config)
    result = run_compare(
        config,
        dataset=dataset,
        progress=progress,
        hash_user_ids=hash_user_ids,
        completed=completed,
        on_adapter_done=_saver(run_dir),
        command=command,
    )
    stale = result.resume.rerun_stale if result.resume is not None else ()
    if stale:
        note(
            progress,
            f"{', '.join(stale)}: the saved results were computed on other data or test queries; re-run",
        )
    if tuning is not None:
        result = replace(result, tuning=tuning)
    write_run(result, run_dir, html=html)
    return result, run_dir


__all__ = [
    "load_experiment_data",
    "note",
    "run_comparison",
    "run_experiment",
    "simulate_abtest",
    "tune_experiment",
]
