"""``xsell-eval tune``: Optuna studies on the validation window, then one test evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from xsell_eval.cli._app import (
    CatalogOption,
    DataOption,
    HideOption,
    LoaderOption,
    ProtocolOption,
    RevealOption,
    SplitOption,
    TestFractionOption,
    app,
    console,
    err_console,
    handle_errors,
)
from xsell_eval.settings import DEFAULT_TRIALS, CompareConfig

_D = CompareConfig()  # every evaluation default comes from CompareConfig


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
    loader: LoaderOption = _D.loader,
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
            help=f"Total number of finished trials the study should have (a resumed study is topped up). Default {DEFAULT_TRIALS}.",
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Stop starting new trials after this many seconds (per adapter).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage: sqlite:///reports/optuna.db (default), postgresql://user:pw@host/db, or journal:PATH."
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
    seed: Annotated[
        int, typer.Option(help="Seed of the sampler and of every random step of the evaluation.")
    ] = _D.seed,
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
    protocol: ProtocolOption = _D.protocol,
    split: SplitOption = _D.split,
    reveal: RevealOption = _D.reveal,
    hide: HideOption = None,
    max_queries: Annotated[
        int | None, typer.Option(help="Use a seeded sample of at most this many queries (validation and test).")
    ] = None,
    test_fraction: TestFractionOption = _D.test_fraction,
    valid_fraction: Annotated[
        float, typer.Option(help="Share of the training baskets (the latest) in the validation window.")
    ] = _D.valid_fraction,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the test CIs.")] = _D.n_bootstrap,
    ci_unit: Annotated[
        str, typer.Option("--ci-unit", help="Bootstrap resampling unit: customer (cluster bootstrap) | query.")
    ] = _D.ci_unit,
    test: Annotated[
        str,
        typer.Option("--test", help="Paired test tuned vs default: bootstrap (agrees with the CI) | wilcoxon | ttest."),
    ] = _D.test,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="pandas (one machine) or spark: tune spark-als / spark-fpgrowth on Spark (docs/spark.md).",
        ),
    ] = "pandas",
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help="Spark master URL for --engine spark (default local[*]).")
    ] = None,
) -> None:
    """Tune adapters with Optuna on the validation window only; report tuned vs default on test.

    Resumable: re-running the same command (or the same --study) continues the study and tops it up to --trials finished trials. Several processes or machines given the same --storage and --study share one study. See docs/tuning.md.
    """
    from xsell_eval.cli._render import print_note, progress_bar, quiet_optuna, study_progress, tuning_table
    from xsell_eval.tuning.session import run_tuning

    if engine not in ("pandas", "spark"):
        from xsell_eval.errors import unknown_name

        raise unknown_name("engine", engine, ("pandas", "spark"))
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
        "ci_unit": ci_unit,
        "test": test,
    }
    option_of = {"n_bootstrap": "bootstrap"}
    given = {k for k in flags if getattr(ctx.get_parameter_source(option_of.get(k, k)), "name", "") == "COMMANDLINE"}
    if engine == "spark":
        if given & {"ci_unit", "test"}:
            from xsell_eval.errors import ConfigError

            raise ConfigError(
                "--ci-unit and --test set the pandas engine's test-set intervals; tune --engine spark reports "
                "test means only (docs/tuning.md)"
            )
        _tune_on_spark(
            adapters or [],
            config=config,
            metrics=metric or [],
            trials=trials,
            storage=storage,
            study=study,
            spark_master=spark_master,
            seed=seed,
            out=out,
            settings={k: v for k, v in flags.items() if k not in ("n_bootstrap", "ci_unit", "test")},
        )
        return

    quiet_optuna()
    with progress_bar(steps=True) as bar:
        done = run_tuning(
            adapters or [],
            flags=flags,
            given=given,
            config_path=config,
            metrics=metric or [],
            trials=trials,
            timeout=timeout,
            storage=storage,
            study=study,
            n_jobs=n_jobs,
            out=out,
            progress=study_progress(bar, {}),
        )
    console.print(tuning_table(done.results))
    for r in done.results:
        for n in r.notes:
            print_note(f"({r.adapter}) {n}")
        if r.test_error:
            err_console.print(f"[red]{r.adapter}: test evaluation failed:[/] {escape(r.test_error)}")
    run_dir = done.run_dir
    console.print(  # soft wrap: paths and study names are never broken mid-way (copy-paste keeps them whole)
        f"Best parameters: [bold]{escape(str(run_dir / 'best_params.toml'))}[/] · "
        f"report: [bold]{escape(str(run_dir / 'report.md'))}[/] · "
        f"studies in {escape(done.storage)}: {escape(', '.join(r.study_name for r in done.results))}",
        soft_wrap=True,
    )
    if done.failures:
        for f in done.failures:
            err_console.print(f"[bold red]error:[/] {escape(f)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)


def _tune_on_spark(
    adapters: list[str],
    *,
    config: Path | None,
    metrics: list[str],
    trials: int | None,
    storage: str | None,
    study: str | None,
    spark_master: str | None,
    seed: int,
    out: Path | None,
    settings: dict[str, Any],
) -> None:
    """``tune ADAPTER --engine spark``: one Spark study per adapter in the Optuna storage, then the test means."""
    import json

    from xsell_eval.cli._render import quiet_optuna
    from xsell_eval.errors import ConfigError
    from xsell_eval.spark.tuning import tune_spark

    if config is not None:
        raise ConfigError("tune --engine spark takes its settings from the command line, not --config, for now")
    if not adapters:
        raise ConfigError("name the Spark adapter to tune, e.g. `xsell-eval tune spark-als --engine spark`")
    if len(metrics) > 1:
        raise ConfigError("tune --engine spark maximises one metric (--metric once)")
    if study and len(adapters) > 1:
        raise ConfigError("--study names one study: tune one adapter per command with --engine spark")
    quiet_optuna()
    cfg = CompareConfig(adapters=tuple(adapters), engine="spark", spark_master=spark_master, **settings)
    for spec in adapters:
        res = tune_spark(
            spec,
            cfg,
            metric=metrics[0] if metrics else "ndcg@10",
            n_trials=trials or 20,
            storage=storage,
            study_name=study,
            seed=seed,
            master=spark_master,
        )
        best = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.best_params.items())
        dv = "n/a" if res.default_value is None else f"{res.default_value:.4f}"
        console.print(
            f"[bold]{escape(spec)}[/] (Spark) study [bold]{escape(res.study_name)}[/] in {escape(res.storage)}: "
            f"{res.n_finished} finished trials{'' if res.created else ' (joined an existing study)'}; "
            f"validation {res.metric}: best {res.best_value:.4f} (default {dv}); best parameters: {escape(best)}"
        )
        for r in res.test.itertuples(index=False):
            console.print(f"  test {r.metric} {r.variant}: {r.mean:.4f} (n={r.n})")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"spark-tune-{spec.replace(':', '_')}.json").write_text(
                json.dumps(res.summary(), indent=2, sort_keys=True, default=str)
            )
