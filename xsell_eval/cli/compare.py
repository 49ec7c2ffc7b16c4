"""``xsell-eval compare``: the offline comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xsell_eval.cli._app import (
    CatalogOption,
    CleanOption,
    ColumnsOption,
    DataOption,
    HideOption,
    LoaderOption,
    ProtocolOption,
    RevealOption,
    SplitOption,
    TestFractionOption,
    app,
    console,
    handle_errors,
    parse_columns,
    parse_ks,
    typed_command,
)
from xsell_eval.settings import CompareConfig

_D = CompareConfig()  # every option default comes from CompareConfig


@app.command()
@handle_errors
def compare(
    adapters: Annotated[
        list[str],
        typer.Argument(
            help="Adapters to compare, e.g. cf content rules (see `xsell-eval adapters`). A spec may carry parameters: cf:k_neighbors=50"
        ),
    ],
    data: DataOption = None,
    loader: LoaderOption = _D.loader,
    catalog: CatalogOption = None,
    columns: ColumnsOption = None,
    clean: CleanOption = None,
    protocol: ProtocolOption = _D.protocol,
    split: SplitOption = _D.split,
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated.")] = ",".join(map(str, _D.ks)),
    metric: Annotated[
        str, typer.Option("--metric", help="Primary metric for the decision, e.g. hit_rate@10, ndcg@10, revenue@10.")
    ] = _D.primary_metric,
    baseline: Annotated[str, typer.Option(help="Adapter every other is compared to.")] = _D.baseline,
    seed: Annotated[int, typer.Option(help="Seed for every random step.")] = _D.seed,
    reveal: RevealOption = _D.reveal,
    reveal_seeds: Annotated[
        int,
        typer.Option(
            "--reveal-seeds", help="basket-completion: repeat the reveal with N seeds (spread in the report)."
        ),
    ] = _D.reveal_seeds,
    hide: HideOption = None,
    max_queries: Annotated[
        int | None, typer.Option(help="Evaluate a seeded sample of at most this many queries.")
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(help=f"temporal split: test starts at this date instead of the last {_D.test_fraction:.0%}."),
    ] = None,
    test_fraction: TestFractionOption = _D.test_fraction,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for CIs.")] = _D.n_bootstrap,
    ci_unit: Annotated[
        str, typer.Option("--ci-unit", help="Bootstrap resampling unit: customer (cluster bootstrap) | query.")
    ] = _D.ci_unit,
    test: Annotated[
        str,
        typer.Option("--test", help="Paired test vs the baseline: bootstrap (agrees with the CI) | wilcoxon | ttest."),
    ] = _D.test,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default reports/<time>-compare).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Reuse adapters already completed in --out (same config).")] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="table | json (json: machine-readable summary on stdout)")
    ] = "table",
    hash_user_ids: Annotated[
        bool,
        typer.Option(
            help="Write keyed pseudonyms (HMAC-SHA256) instead of user ids in queries.parquet; "
            "key from $XSELL_HASH_KEY (stable across runs) or random per run."
        ),
    ] = False,
    tuned: Annotated[
        bool, typer.Option("--tuned", help="Use the best parameters stored by `xsell-eval tune` (see --storage).")
    ] = False,
    tune_trials: Annotated[
        int | None,
        typer.Option(
            "--tune", help="Tune every adapter first with the same budget of N trials (validation window only)."
        ),
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage for --tuned/--tune (default sqlite:///reports/optuna.db).")
    ] = None,
    html: Annotated[
        bool, typer.Option("--html", help="Also write a standalone report.html (figures embedded).")
    ] = False,
    rerank: Annotated[
        str | None,
        typer.Option(
            "--rerank",
            help="Add X+rerank next to every adapter X: re-ranked with a popularity penalty, pop-penalty[:lam=0.5,depth=3] (docs/fairness.md).",
        ),
    ] = None,
    recs: Annotated[
        list[str] | None,
        typer.Option(
            "--recs",
            help="Score exported lists like an adapter: LABEL=FILE (CSV/Parquet with query_id or user_id, "
            "rank, item_id; docs/production.md). Repeatable.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="pandas (one machine) or spark (needs the [spark] extra and Java 17+; docs/spark.md)."
        ),
    ] = "pandas",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master", help="Spark master URL for --engine spark: local[*] (default), spark://HOST:7077, yarn..."
        ),
    ] = None,
) -> None:
    """Compare recommenders offline on the same data, split, queries and metrics."""
    from xsell_eval.adapters.recs_file import parse_recs_specs
    from xsell_eval.cli._render import (
        compare_table,
        print_adapter_problems,
        print_decision_line,
        print_report_path,
        print_tuning_applied,
        progress_bar,
        progress_printer,
        quiet_optuna,
        study_progress,
    )
    from xsell_eval.errors import ConfigError
    from xsell_eval.experiment import run_comparison
    from xsell_eval.rerank import with_rerank
    from xsell_eval.results import check_out_dir

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be 'table' or 'json', got {fmt!r}")
    config = CompareConfig(
        adapters=with_rerank(adapters, rerank),
        data=data,
        loader=loader,
        catalog=catalog,
        columns=parse_columns(columns),
        cleaning=clean or None,
        split=split,
        test_fraction=test_fraction,
        cutoff=cutoff,
        protocol=protocol,
        reveal=reveal,
        hide=hide,
        reveal_seeds=reveal_seeds,
        max_queries=max_queries,
        ks=tuple(parse_ks(k)),
        primary_metric=metric,
        baseline=baseline,
        seed=seed,
        n_bootstrap=bootstrap,
        recs=parse_recs_specs(recs),
        ci_unit=ci_unit,
        test=test,
        engine=None if engine == "pandas" else engine,
        spark_master=spark_master,
    ).validate()
    if config.engine == "spark":
        if tuned or tune_trials is not None or resume:
            raise ConfigError("--engine spark does not support --tune/--tuned/--resume yet (see docs/spark.md)")
        _compare_on_spark(config, out, quiet=fmt == "json", html=html)
        return
    check_out_dir(out, "compare")  # before any work: not a file, not another kind of run, not a data folder
    dataset, tuning = None, None
    if tuned or tune_trials is not None:  # fill config.tuned with tuned parameters (xsell_eval.tuning)
        from xsell_eval.tuning import apply_tuning

        quiet_optuna()
        with progress_bar(steps=True) as bar:
            config, dataset, tuning = apply_tuning(
                config, tuned=tuned, tune_trials=tune_trials, storage=storage, progress=study_progress(bar, {})
            )
        print_tuning_applied(tuning)
    quiet = fmt == "json"
    with progress_bar(disable=quiet) as bar:
        result, run_dir = run_comparison(
            config,
            out=out,
            resume=resume,
            hash_user_ids=hash_user_ids,
            html=html,
            dataset=dataset,
            tuning=tuning,
            progress=progress_printer(bar, {}),
            command=typed_command(),
        )
    if quiet:
        summary = json.loads((run_dir / "summary.json").read_text()) | {"run_dir": str(run_dir)}
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    console.print(compare_table(result))
    print_adapter_problems(result.adapters)
    print_decision_line(result)
    print_report_path(run_dir)


def _compare_on_spark(config: CompareConfig, out: Path | None, *, quiet: bool, html: bool) -> None:
    """``--engine spark``: run on Spark, write the run directory and report; print as the pandas engine does."""
    from xsell_eval.cli._render import (
        compare_table,
        print_adapter_problems,
        print_decision_line,
        print_report_path,
        progress_bar,
        progress_printer,
    )
    from xsell_eval.results import prepare_out_dir, start_run_dir
    from xsell_eval.spark.engine import run_compare_spark, write_spark_run

    prepare_out_dir(out, "compare")  # before any work, as the pandas engine: never into a data folder
    run_dir = start_run_dir(out, f"{config.name}-spark", config=config)
    with progress_bar(disable=quiet) as bar:
        spark_result = run_compare_spark(config, progress=progress_printer(bar, {}))
    result = write_spark_run(spark_result, run_dir, html=html, command=typed_command())
    if quiet:
        summary = json.loads((run_dir / "summary.json").read_text()) | {"run_dir": str(run_dir)}
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    console.print(compare_table(result))
    print_adapter_problems(result.adapters)
    print_decision_line(result)
    print_report_path(run_dir)
