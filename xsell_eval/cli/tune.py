"""``xsell-eval tune``: Optuna studies on the validation window, then one test evaluation."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from xsell_eval.cli._app import CatalogOption, DataOption, LoaderOption, app, console, err_console, handle_errors


def study_progress(progress: Any, tasks: dict[str, Any]) -> Any:
    """A tuning progress callback driving a rich Progress: one bar per study, best value so far."""

    def label(who: str, info: dict[str, Any]) -> str:
        best = info.get("best")
        shown = f"{best:.4f}" if isinstance(best, (int, float)) else "—"
        return f"{who}: best {shown}"

    def emit(event: str, who: str, info: dict[str, Any]) -> None:
        if event == "study_start":
            tasks[who] = progress.add_task(
                f"{who}: starting ({info.get('finished', 0)} trials already in study '{info.get('study')}')",
                total=max(int(info["target"]), 1),
                completed=min(int(info.get("finished", 0)), int(info["target"])),
            )
        elif event == "trial" and who in tasks:
            progress.update(
                tasks[who], completed=min(int(info["finished"]), int(info["target"])), description=label(who, info)
            )
        elif event == "study_end" and who in tasks:
            progress.update(tasks[who], description=f"[green]{who}: search done ({info['ran']} trials this run)")
        elif event == "stage_start" and who in tasks:
            progress.update(tasks[who], description=f"{who}: refit on train, evaluate on test")
        elif event == "stage_end" and who in tasks:
            progress.update(tasks[who], description=f"[green]{who}: done")

    return emit


def _progress_bar() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    )


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are listed in the report instead


def results_table(results: list[Any]) -> Any:
    """Rich table: adapter, trials, validation best, test tuned vs default with CIs."""
    from rich.table import Table

    from xsell_eval.report.plots import ci_label

    levels = sorted({ci_label(r.confidence) for r in results}) or ["95%"]
    table = Table(title=f"Tuning: validation (search) and test (once, after the search) · mean [{'/'.join(levels)} CI]")
    for col in ("adapter", "metric", "trials", "validation best", "test tuned", "test default", "tuned − default"):
        table.add_column(col, justify="left" if col in ("adapter", "metric") else "right")
    for r in results:
        m = r.metrics[0]
        t = r.test
        cells = []
        for variant in ("tuned", "default"):
            row = t[(t["variant"] == variant) & (t["metric"] == m)] if not t.empty else t
            if row.empty:
                cells.append("—")
            else:
                x = row.iloc[0]
                ci = "" if x["ci_low"] != x["ci_low"] else f" [dim][{x['ci_low']:.4f}, {x['ci_high']:.4f}][/]"
                cells.append(f"{x['mean']:.4f}{ci}")
        c = r.comparison
        diff = "—"
        if not c.empty and m in set(c["metric"]):
            x = c[c["metric"] == m].iloc[0]
            diff = f"{x['diff']:+.4f} [dim][{x['ci_low']:+.4f}, {x['ci_high']:+.4f}][/]"
        best = r.best_values.get(m)
        table.add_row(
            r.adapter,
            m,
            f"{r.budget.get('finished', 0)}/{r.budget.get('target_trials', 0)}",
            "—" if best is None else f"{best:.4f}",
            *cells,
            diff,
        )
    return table


@app.command()
@handle_errors
def tune(
    ctx: typer.Context,
    adapters: Annotated[
        list[str] | None,
        typer.Argument(
            help="Adapters to tune, e.g. cf rules content. A spec may fix parameters: cf:interactions=user. Default with --config: the experiment's adapters."
        ),
    ] = None,
    data: DataOption = None,
    loader: LoaderOption = "auto",
    catalog: CatalogOption = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Metric to maximise on validation, e.g. ndcg@10, hit_rate@10, revenue@10. Repeat for a multi-objective study (Pareto front), e.g. --metric ndcg@10 --metric coverage@10. Default ndcg@10.",
        ),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            help="Total number of finished trials the study should have (a resumed study is topped up). Default 50.",
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Stop starting new trials after this many seconds (per adapter).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage: sqlite:///runs/optuna.db (default), postgresql://user:pw@host/db, or journal:PATH."
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(
            "--study",
            help="Study name (same name = resume / join). With several adapters: NAME-<adapter>. Default: derived from adapter, metric, data and settings.",
        ),
    ] = None,
    n_jobs: Annotated[
        int, typer.Option("--n-jobs", help="Parallel trials in this process (not reproducible when > 1).")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the sampler and of every random step of the evaluation.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default reports/<time>-tune-<adapters>).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Experiment TOML (the format of `xsell-eval run`): its data, split, protocol, seed, primary metric, adapters tables (fixed hyperparameters), tune table (trials, storage) and tune.<adapter> tables (search-space overrides). Flags given on the command line win.",
        ),
    ] = None,
    protocol: Annotated[str, typer.Option(help="basket-completion | next-basket | item-to-item")] = "basket-completion",
    split: Annotated[str, typer.Option(help="temporal | last-basket | random-basket")] = "temporal",
    reveal: Annotated[int, typer.Option(help="basket-completion: items revealed as the cart.")] = 1,
    hide: Annotated[int | None, typer.Option(help="basket-completion: hide this many items instead.")] = None,
    max_queries: Annotated[
        int | None, typer.Option(help="Use a seeded sample of at most this many queries (validation and test).")
    ] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of baskets (by time) in test.")] = 0.2,
    valid_fraction: Annotated[
        float, typer.Option(help="Share of the training baskets (the latest) in the validation window.")
    ] = 0.1,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the test CIs.")] = 1000,
) -> None:
    """Tune adapters with Optuna on the validation window only; report tuned vs default on test.

    Resumable: re-running the same command (or the same --study) continues the study and tops it up to --trials finished trials. Several processes or machines given the same --storage and --study share one study. See docs/tuning.md.
    """
    from dataclasses import replace

    from xsell_eval.adapters.registry import parse_spec
    from xsell_eval.errors import AdapterError, ConfigError
    from xsell_eval.pipeline import CompareConfig, prepare, prepare_validation
    from xsell_eval.results import new_run_dir, prepare_out_dir, write_tune_run
    from xsell_eval.tuning import (
        DEFAULT_METRIC,
        DEFAULT_STORAGE,
        TuneSettings,
        check_study,
        declared_by,
        open_storage,
        parse_objectives,
        plan_study,
        read_tune_settings,
        redact,
        search_space,
    )
    from xsell_eval.tuning import (
        tune as run_tune,
    )

    if prepare_out_dir(out, "tune"):  # before any work: not a file, another kind of run or a data folder
        err_console.print(f"[yellow]note:[/] replacing the earlier tuning run in {escape(str(out))}")
    settings = read_tune_settings(config) if config is not None else TuneSettings()
    adapters = list(adapters or settings.adapters)
    if not adapters:
        raise ConfigError(
            f"{config} lists no adapters: name them on the command line (`xsell-eval tune cf --config {config}`) "
            "or add [adapters.<name>] tables"
            if config is not None
            else "give the adapters to tune, e.g. `xsell-eval tune cf rules content`, or --config FILE"
        )
    metrics, _ = parse_objectives(metric or settings.metrics or (DEFAULT_METRIC,))
    n_trials = trials if trials is not None else (settings.trials or 50)
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
        err_console.print(
            f"[yellow]note:[/] {escape(f'[tune.<adapter>] ignored for {unknown}: not tuned in this run')}"
        )
    ks = tuple(sorted({int(m.split("@")[1]) for m in metrics}))
    flags: dict[str, Any] = {
        "data": data,
        "loader": loader,
        "catalog": catalog,
        "split": split,
        "test_fraction": test_fraction,
        "valid_fraction": valid_fraction,
        "protocol": protocol,
        "reveal": reveal,
        "hide": hide,
        "max_queries": max_queries,
        "seed": seed,
        "n_bootstrap": bootstrap,
    }
    option_of = {"n_bootstrap": "bootstrap"}
    if settings.compare is not None:  # the experiment's settings, then the flags given on the command line
        given = {
            k: v
            for k, v in flags.items()
            if getattr(ctx.get_parameter_source(option_of.get(k, k)), "name", "") == "COMMANDLINE"
        }
        base = replace(settings.compare, **given)
    else:
        base = CompareConfig(**flags)
    cfg = replace(
        base,
        adapters=tuple(adapters),
        ks=ks,
        metrics=tuple(dict.fromkeys(m.split("@")[0] for m in metrics)),
        primary_metric=metrics[0],
        baseline="",
        params=settings.params,
        name="tune-" + "-".join(names),
    ).validate()
    seed = cfg.seed
    dataset = None
    if settings.experiment is not None and cfg.data == settings.compare.data:
        dataset = _experiment_data(settings.experiment, cfg, out)
    store = open_storage(storage_url)
    shown_storage = redact(storage_url or DEFAULT_STORAGE)
    _quiet_optuna()
    with _progress_bar() as progress:
        t = progress.add_task("loading data and splitting", total=None)
        prepared = prepare(cfg, dataset=dataset)
        validation = prepare_validation(cfg, prepared)
        progress.update(t, description="[green]data ready", total=1, completed=1)
        study_names = {
            spec: (None if study is None else (study if len(adapters) == 1 else f"{study}-{name}"))
            for spec, name in zip(adapters, names, strict=True)
        }
        plans = [
            plan_study(
                spec,
                cfg,
                prepared.dataset,
                metric=metrics,
                study_name=study_names[spec],
                overrides=settings.overrides.get(name),
            )
            for spec, name in zip(adapters, names, strict=True)
        ]
        for plan in plans:  # every study must match before any is touched
            check_study(store, plan, storage_url=storage_url or DEFAULT_STORAGE)
        tasks: dict[str, Any] = {}
        emit = study_progress(progress, tasks)
        results = []
        failures = []
        for spec, name in zip(adapters, names, strict=True):
            try:
                results.append(
                    run_tune(
                        spec,
                        replace(cfg, adapters=(spec,)),
                        metric=metrics,
                        n_trials=n_trials,
                        timeout=timeout,
                        storage=store,
                        study_name=study_names[spec],
                        n_jobs=n_jobs,
                        seed=seed,
                        prepared=prepared,
                        progress=emit,
                        overrides=settings.overrides.get(name),
                        validation=validation,
                        storage_url=storage_url or DEFAULT_STORAGE,
                    )
                )
            except AdapterError as exc:
                failures.append(f"{spec}: {exc}")
                if name in tasks:
                    progress.update(tasks[name], description=f"[red]{name}: failed")
    if not results:
        raise AdapterError("; ".join(failures) or "nothing was tuned")
    run_dir = out if out is not None else new_run_dir(name=cfg.name)
    split_info = prepared.split.describe()
    command = ["xsell-eval", "tune", *adapters]
    for flag, val, default in (
        ("--data", data, None),
        ("--loader", loader, "auto"),
        ("--catalog", catalog, None),
        ("--trials", n_trials, None),
        ("--storage", storage_url, None),
        ("--protocol", protocol, "basket-completion"),
        ("--split", split, "temporal"),
        ("--seed", seed, None),
        ("--max-queries", max_queries, None),
        ("--test-fraction", test_fraction, 0.2),
        ("--valid-fraction", valid_fraction, 0.1),
        ("--reveal", reveal if hide is None else None, 1),
        ("--hide", hide, None),
        ("--bootstrap", bootstrap, 1000),
        ("--config", config, None),
    ):
        if val is not None and val != default:
            command += [flag, str(val)]
    for m in metrics:
        command += ["--metric", m]
    if study is not None:
        command += ["--study", study]
    context = {
        "data": prepared.dataset.name,
        "fingerprint": prepared.dataset.fingerprint,
        "protocol": protocol,
        "split": split,
        "n_validation_queries": len(validation[1]),
        "n_test_queries": len(prepared.queries),
        "validation_span": f"{split_info['validation']['start']} → {split_info['validation']['end']}",
        "storage": shown_storage,
        "command": " ".join(shlex.quote(c) for c in command),
    }
    written = write_tune_run(results, run_dir, context=context)
    console.print(results_table(written))
    for r in written:
        for n in r.notes:
            err_console.print(f"[yellow]note ({r.adapter}):[/] {escape(n)}")
        if r.test_error:
            err_console.print(f"[red]{r.adapter}: test evaluation failed:[/] {escape(r.test_error)}")
    console.print(
        f"Best parameters: [bold]{run_dir / 'best_params.toml'}[/] · report: [bold]{run_dir / 'report.md'}[/] · "
        f"studies in {shown_storage}: {', '.join(r.study_name for r in written)}"
    )
    if failures:
        for f in failures:
            err_console.print(f"[bold red]error:[/] {escape(f)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)


def _experiment_data(exp: Any, cfg: Any, out: Path | None) -> Any:
    """The experiment's data with its column mapping and cleaning switches (as `xsell-eval run` loads it)."""
    try:
        from xsell_eval.cli.run import load_experiment_data
    except ImportError:  # pragma: no cover - the run command is part of the package
        return None
    from xsell_eval.results import new_run_dir

    target = out if out is not None else (new_run_dir(name=cfg.name) if exp.data.generate is not None else Path("."))
    return load_experiment_data(exp, cfg, target)[1]


def tuning_for_compare(
    config: Any, *, tuned: bool, trials: int | None, storage: str | None, n_jobs: int = 1
) -> tuple[Any, Any, Any]:
    """``compare --tuned`` / ``compare --tune N``: fill the config with tuned parameters, with progress.

    Returns ``(config, dataset, summary)`` for ``run_compare(config, dataset=dataset)`` and
    ``result.tuning``.
    """
    from xsell_eval.tuning import apply_tuning

    _quiet_optuna()
    with _progress_bar() as progress:
        tasks: dict[str, Any] = {}
        t = progress.add_task("tuning: loading data" if trials else "reading tuned parameters", total=None)
        cfg, ds, summary = apply_tuning(
            config,
            tuned=tuned,
            tune_trials=trials,
            storage=storage,
            progress=study_progress(progress, tasks),
            n_jobs=n_jobs,
        )
        progress.update(t, description="[green]tuned parameters ready", total=1, completed=1)
    for e in summary.adapters:
        if e.tuned:
            err_console.print(
                f"[green]{e.adapter}[/]: tuned parameters from study '{e.study}' "
                f"({e.trials} trials, {e.metric}): {escape(str(e.params))}",
                highlight=False,
            )
        else:
            err_console.print(f"[yellow]{e.adapter}[/]: defaults — {escape(e.note)}", highlight=False)
    if not summary.fair:
        err_console.print(
            "[yellow]note:[/] not every tunable adapter was tuned with the same budget; the report says so."
        )
    return cfg, ds, summary
