"""``xsell-eval run EXPERIMENT.toml``: everything one experiment file describes, in one run directory.

Order: load and validate the file (with ``--set`` overrides) → load (or generate) the
data with the file's cleaning switches → tune first if ``[tune]`` says so → compare →
simulate the A/B test of ``[abtest]`` on the same test queries and recommendations →
write the run directory (``experiment.toml`` as given, ``experiment.json`` resolved with
its hash, the usual compare files, ``report.md`` with plots, ``report.html``).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from xsell_eval.cli._app import app, console, err_console, handle_errors


def load_experiment_data(exp: Any, config: Any, run_dir: Path) -> tuple[Any, Any]:
    """(config with the data path actually used, dataset)."""
    from dataclasses import replace

    from xsell_eval.data.loaders import load_dataset

    d = exp.data
    if d.generate is not None:
        from xsell_eval.data.synthetic import generate_shop

        g = d.generate
        with err_console.status(f"generating a synthetic shop (seed {g.seed}) into {run_dir / 'data'}…"):
            generate_shop(seed=g.seed, n_users=g.users, n_items=g.items, n_days=g.days).save(run_dir / "data")
        config = replace(config, data=str(run_dir / "data"))
    with err_console.status("loading and cleaning the data…"):
        ds = load_dataset(
            config.data,
            loader=config.loader,
            columns=d.columns,
            catalog=config.catalog,
            policy=d.cleaning.spec(),
            name=d.name or ("synthetic" if d.generate is not None else None),
        )
    return config, ds


def _tune(exp: Any, config: Any, dataset: Any) -> tuple[Any, Any, Any]:
    from xsell_eval.tuning import apply_tuning

    t = exp.tune
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    what = f"tuning every adapter with {t.trials} trials" if t.trials else "reading tuned parameters"
    with err_console.status(f"{what} (validation window only)…"):
        cfg, ds, extra = apply_tuning(
            config,
            tuned=t.use_stored,
            tune_trials=t.trials,
            storage=t.storage,
            dataset=dataset,
            overrides=t.overrides or None,
        )
    return cfg, ds, extra


def abtest_arms(exp: Any, config: Any) -> list[str]:
    """The ``[abtest]`` arms, control first (default: the baseline, then the other adapters)."""
    ab = exp.abtest
    return list(ab.arms or [config.baseline, *[a for a in config.adapters if a != config.baseline]])


def abtest_weights(exp: Any, n_arms: int) -> Any:
    """Traffic share per ``[abtest]`` arm (sum 1)."""
    import numpy as np

    from xsell_eval.abtest.simulate import parse_split

    ab = exp.abtest
    return parse_split(",".join(f"{x:g}" for x in ab.split), n_arms) if ab.split else np.full(n_arms, 1.0 / n_arms)


def check_abtest(exp: Any, config: Any) -> None:
    """Checks of every ``[abtest]`` value, run before any work (the comparison can take minutes).

    Messages name the file, ``[abtest]`` and the key. Repeated arms are allowed (labels
    ``cf (A)``, ``cf (B)``); when every arm is the same adapter the run is an A/A test.

    Raises:
        ConfigError: a value the simulation or its statistics cannot use (split, visitors,
            k, traffic_per_day, bootstrap, alpha, mde, a response parameter).
        UnknownNameError: an unknown response source.
        DataError: ``response = "truth"`` on data without a ground truth.
    """
    import math

    from xsell_eval.abtest.simulate import check_visitors_per_arm
    from xsell_eval.abtest.stats import check_test_settings
    from xsell_eval.data.synthetic import truth_dir
    from xsell_eval.errors import ConfigError, DataError

    ab = exp.abtest
    if ab is None:
        return
    src = exp.source

    def key(name: str) -> str:
        return f"{src}: [abtest] {name}"

    arms = abtest_arms(exp, config)
    if len(arms) < 2:
        raise ConfigError(f"{key('arms')}: an A/B test needs at least two arms, got {arms}")
    if ab.split is not None:
        shares = list(ab.split)
        if len(shares) != len(arms):
            raise ConfigError(
                f"{key('split')} has {len(shares)} share(s) for {len(arms)} arm(s) ({', '.join(arms)}): "
                "give one percentage per arm"
            )
        if any(not math.isfinite(x) or x <= 0 for x in shares):
            raise ConfigError(f"{key('split')} shares must be positive percentages, got {shares}")
        if abs(sum(shares) - 100.0) > 1e-6:
            raise ConfigError(f"{key('split')} percentages must sum to 100, got {shares} (sum {sum(shares):g})")
    for name, low in (("visitors", len(arms)), ("k", 1), ("traffic_per_day", 1), ("bootstrap", 100)):
        v = getattr(ab, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ConfigError(f"{key(name)} must be an integer >= {low}, got {v!r}")
    check_visitors_per_arm(ab.visitors, abtest_weights(exp, len(arms)), option="[abtest] visitors", where=f"{src}: ")
    check_test_settings(alpha=ab.alpha, mde=ab.mde, label=key)
    abtest_model(exp)
    if ab.response == "truth" and exp.data.generate is None and truth_dir(config.data) is None:
        where = f"[data] path = '{config.data}'" if config.data else "the default data (UCI Online Retail)"
        raise DataError(
            f"{src}: [abtest] response = 'truth' needs data with a ground truth, and {where} has none "
            "(no truth.npz + truth.json in it or its folder); only data written by `xsell-eval data generate` "
            "(or [data] generate = {...}) carries one. Use response = 'replay' or 'oracle'."
        )


def abtest_model(exp: Any) -> Any:
    """The ``[abtest]`` response model, its values checked under their ``[abtest]`` keys."""
    from xsell_eval.abtest.response import ResponseModel

    ab = exp.abtest
    return ResponseModel.from_options(
        label=lambda k: f"{exp.source}: [abtest] {k}",
        response=ab.response,
        curve=ab.curve,
        exam_top=ab.exam_top,
        exam_decay=ab.exam_decay,
        p_hit=ab.p_hit,
        p_other=ab.p_other,
        organic_rate=ab.organic_rate,
        oracle_smoothing=ab.oracle_smoothing,
    )


def abtest_extra(exp: Any, config: Any, prepared: Any, outcomes: dict[str, Any], command: str) -> Any:
    """Simulate the ``[abtest]`` section on the comparison's queries and recommendations.

    Returns the ``ABTestReport`` for ``result.abtest`` (figures under ``plots/``).
    """
    from rich.markup import escape

    from xsell_eval.abtest.response import OPTION_FIELDS
    from xsell_eval.abtest.runner import arm_labels, is_aa, run_simulation
    from xsell_eval.data.synthetic import find_truth
    from xsell_eval.errors import AdapterError, DataError
    from xsell_eval.report.plots import ABTEST_LIFT, ABTEST_SEQUENTIAL

    ab = exp.abtest
    arms = abtest_arms(exp, config)
    for a in dict.fromkeys(arms):
        o = outcomes.get(a)
        if o is None or o.status != "ok" or o.recs is None:
            raise AdapterError(
                f"[abtest]: arm '{a}' has no recommendations (the adapter failed: {getattr(o, 'error', '')})"
            )
    ds = prepared.dataset
    truth = None
    if ab.response == "truth":
        truth = find_truth(config.data, ds)
        if truth is None:
            raise DataError(
                f"{exp.source}: [abtest] response = 'truth' needs data with a ground truth (written by "
                "`xsell-eval data generate`, or [data] generate = {...}); use 'replay' or 'oracle'"
            )
    model = abtest_model(exp)
    ignored = [k for k, f in OPTION_FIELDS.items() if k in ab.model_fields_set and not model.applies(f)]
    if ignored:
        why = f"response = '{ab.response}'" + (f", curve = '{ab.curve}'" if "exam_decay" in ignored else "")
        keys = ", ".join(ignored)
        err_console.print(f"[yellow]note:[/] {escape(f'[abtest] {keys} ignored: no effect with {why}')}")
    aa = is_aa(arms)
    if aa:
        err_console.print(
            "[yellow]note:[/] "
            + escape(
                f"[abtest] arms are all the same adapter ({arms[0]}): treating the simulated test as an A/A test "
                "(A/A verdict, no ship / keep decision)"
            )
        )
    weights = abtest_weights(exp, len(arms))
    labels = arm_labels(arms)  # a repeated arm becomes 'cf (A)', 'cf (B)'
    recs = {lab: outcomes[a].recs.truncate(ab.k) for lab, a in zip(labels, arms, strict=True)}
    with err_console.status(f"simulating an A/B test with {ab.visitors:,} visitors…"):
        done = run_simulation(
            prepared,
            recs,
            response=model,
            visitors=ab.visitors,
            split=weights,
            k=ab.k,
            traffic_per_day=ab.traffic_per_day,
            mde=ab.mde,
            alpha=ab.alpha,
            bootstrap=ab.bootstrap,
            seed=config.seed,
            protocol=config.protocol,
            truth=truth,
            per_query={lab: outcomes[a].per_query for lab, a in zip(labels, arms, strict=True)},
            adapters=arms,
            aa=aa,
            aa_implied=aa,
            data=config.data,
            loader=config.loader,
            max_queries=config.max_queries,
            command=command,
            figures={"lift": ABTEST_LIFT, "sequential": ABTEST_SEQUENTIAL},
        )
    return done.report


def run_experiment(
    path: Path,
    overrides: list[str],
    *,
    run_dir: Path | None = None,
    html: bool | None = None,
    progress: Any = None,
    command: str | None = None,
) -> tuple[Any, Path]:
    """Run one experiment file end to end; returns ``(CompareResult, run_dir)``.

    Args:
        path: the experiment TOML.
        overrides: ``--set`` strings.
        run_dir: where to write (default ``reports/<time>-<name>``).
        html: write ``report.html`` (default: the file's ``[report] html``).
        progress: pipeline progress callback.
        command: the command line recorded for reproduction.
    """
    from dataclasses import replace

    from xsell_eval.config import load_experiment
    from xsell_eval.pipeline import run_compare
    from xsell_eval.result import ExperimentInfo, ReportSettings
    from xsell_eval.results import prepare_out_dir, save_outcome, start_run_dir, write_config, write_run

    exp = load_experiment(path, overrides)
    config = exp.to_compare_config().validate()
    check_abtest(exp, config)  # before any work: the comparison can take minutes
    command = command or shlex.join(["xsell-eval", "run", str(path), *[x for o in overrides for x in ("--set", o)]])
    prepare_out_dir(run_dir, "compare")  # before any work: not a file, another kind of run or a data folder
    run_dir = start_run_dir(run_dir, exp.name)
    config, dataset = load_experiment_data(exp, config, run_dir)
    tuning_extra = None
    if exp.tune is not None:
        config, dataset, tuning_extra = _tune(exp, config, dataset)
    experiment_info = ExperimentInfo(path=str(path), hash=exp.hash, overrides=tuple(overrides), command=command)
    start_run_dir(
        run_dir,
        exp.name,
        experiment=(
            Path(path),
            {**experiment_info.to_dict(), "resolved": exp.resolved_dict(), "compare_config_hash": config.hash},
        ),
    )
    write_config(run_dir, config)
    holder: dict[str, Any] = {}
    outcomes: dict[str, Any] = {}

    def on_done(outcome: Any) -> None:
        outcomes[outcome.spec] = outcome
        save_outcome(run_dir, outcome)

    t0 = time.perf_counter()
    result = run_compare(
        config,
        dataset=dataset,
        progress=progress,
        hash_user_ids=exp.report.hash_user_ids,
        on_adapter_done=on_done,
        on_prepared=lambda p: holder.__setitem__("prepared", p),
        settings=ReportSettings.from_dict(exp.report_settings()),
        command=command,
    )
    abtest = None
    if exp.abtest is not None:
        abtest = abtest_extra(exp, config, holder["prepared"], outcomes, command)
    manifest = dict(result.manifest)
    manifest["timings_seconds"] = {**manifest.get("timings_seconds", {}), "run_total": time.perf_counter() - t0}
    manifest["experiment_hash"] = exp.hash
    result = replace(result, experiment=experiment_info, tuning=tuning_extra, abtest=abtest, manifest=manifest)
    write_run(result, run_dir, html=exp.report.html if html is None else html)
    return result, run_dir


@app.command()
@handle_errors
def run(
    experiment: Annotated[Path, typer.Argument(help="Experiment file, e.g. experiments/default_retail.toml.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            help="Override a key of the file: section.key=value (TOML value), e.g. --set protocol.max_queries=300 --set adapters.cf.k_neighbors=50. Repeatable.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (default runs/<time>-<name>).")] = None,
    html: Annotated[
        bool | None,
        typer.Option(
            "--html/--no-html",
            help="Also write report.html (default: the html key of the file's report section, true).",
        ),
    ] = None,
) -> None:
    """Run everything an experiment file describes: data, comparison, A/B simulation, tuning, report."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from xsell_eval.cli._app import typed_command
    from xsell_eval.cli.compare import progress_printer, results_table

    overrides = list(set_ or [])
    tasks: dict[str, Any] = {}
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err_console
    ) as progress:
        result, run_dir = run_experiment(
            experiment,
            overrides,
            run_dir=out,
            html=html,
            progress=progress_printer(progress, tasks),
            command=typed_command(),
        )
    console.print(results_table(result))
    for a in result.adapters:
        if not a.ok:
            err_console.print(f"[red]adapter {a.name} failed:[/] {a.error}")
    if result.decision is not None:
        text = result.decision.headline(failed=result.failed_adapters, n_completed=len(result.ok_adapters))
        from rich.markup import escape

        console.print(f"[bold]Decision:[/] {escape(text)} (details in the report)")
    ab = result.abtest.analysis.decision.text if result.abtest is not None else None
    if ab:
        from rich.markup import escape

        head = str(ab).partition(": ")[0]
        console.print(f"[bold]Simulated A/B test:[/] {escape(head)} (details in the report)")
    html_path = run_dir / "report.html"
    console.print(
        f"Report: [bold]{run_dir / 'report.md'}[/]"
        + (f" and [bold]{html_path}[/]" if html_path.exists() else "")
        + f"  (run directory {run_dir})"
    )
