"""``xsell-eval compare``: the offline comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from xsell_eval.cli._app import (
    CatalogOption,
    CleanOption,
    ColumnsOption,
    DataOption,
    LoaderOption,
    app,
    console,
    err_console,
    handle_errors,
    parse_columns,
    parse_ks,
)


def progress_printer(progress: Any, tasks: dict[str, Any]) -> Any:
    """A pipeline progress callback driving a rich Progress (one bar per stage/adapter)."""
    steps = {"fit": 1, "recommend": 2, "latency": 2, "evaluate": 3}

    def emit(event: str, who: str, info: dict[str, Any]) -> None:
        if event == "stage_start":
            tasks[who] = progress.add_task(f"[cyan]{who}", total=1)
        elif event == "stage_end" and who in tasks:
            progress.update(tasks[who], completed=1, description=f"[green]{who}")
        elif event == "adapter_start":
            tasks[who] = progress.add_task(f"{who}: start", total=4)
        elif event == "adapter_step" and who in tasks:
            desc = f"{who}: {info['step']}"
            epoch = info.get("epoch_info")
            if epoch:
                parts = [f"epoch {epoch.get('epoch')}"]
                parts += [f"{k} {v:.4f}" for k, v in epoch.items() if k in ("loss",) or k.startswith("valid")]
                desc += " (" + ", ".join(parts) + ")"
            progress.update(tasks[who], completed=steps[info["step"]] - 1, description=desc)
        elif event == "adapter_end":
            if who not in tasks:
                tasks[who] = progress.add_task(who, total=4)
            status = info.get("status")
            color = {"ok": "green", "restored": "blue"}.get(str(status), "red")
            progress.update(tasks[who], completed=4, description=f"[{color}]{who}: {status}")

    return emit


def results_table(result: Any) -> Any:
    """Rich table of the primary k: adapter × metrics with CIs and marks."""
    from rich.table import Table

    from xsell_eval.report.plots import ci_label, metric_unit

    cfg = result.config
    k = int(cfg.primary_metric.split("@")[1])
    lvl = ci_label(cfg.confidence)
    table = Table(title=f"{cfg.protocol} · {result.n_queries:,} queries · k={k} · mean [{lvl} CI] vs {cfg.baseline}")
    cols = [f"{m}@{k}" for m in ("hit_rate", "precision", "recall", "ndcg", "mrr", "revenue") if m in cfg.metrics]
    table.add_column("adapter", style="bold", overflow="fold", max_width=24)  # long specs wrap, not the numbers
    for c in cols:
        name, _, at = c.partition("@")
        # two header lines and a minimum width: whole names and whole numbers at 80 columns
        table.add_column(f"{name}\n@{at}", justify="right", min_width=7)
    summ, comp = result.estimates, result.comparisons
    if summ.empty:
        return table
    order = summ[summ["metric"] == cfg.primary_metric].sort_values("mean", ascending=False)["adapter"].tolist()
    for a in order:
        cells = []
        for c in cols:
            r = summ[(summ["adapter"] == a) & (summ["metric"] == c)]
            if r.empty:
                cells.append("—")
                continue
            r0 = r.iloc[0]
            mark = ""
            if not comp.empty:
                cr = comp[(comp["adapter"] == a) & (comp["metric"] == c)]
                if not cr.empty and cr.iloc[0]["mark"]:
                    mark = " [green]▲[/]" if cr.iloc[0]["mark"] == "▲" else " [red]▼[/]"
            d = 2 if metric_unit(c.partition("@")[0]) == "currency" else 3  # money in cents, shares to 0.1 pp
            cells.append(f"{r0['mean']:.{d}f} [dim][{r0['ci_low']:.{d}f}, {r0['ci_high']:.{d}f}][/]{mark}")
        table.add_row(a, *cells)
    return table


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
    loader: LoaderOption = "auto",
    catalog: CatalogOption = None,
    columns: ColumnsOption = None,
    clean: CleanOption = None,
    protocol: Annotated[str, typer.Option(help="basket-completion | next-basket | item-to-item")] = "basket-completion",
    split: Annotated[str, typer.Option(help="temporal | last-basket | random-basket")] = "temporal",
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated.")] = "5,10,20",
    metric: Annotated[
        str, typer.Option("--metric", help="Primary metric for the decision, e.g. hit_rate@10, ndcg@10, revenue@10.")
    ] = "hit_rate@10",
    baseline: Annotated[str, typer.Option(help="Adapter every other is compared to.")] = "popular",
    seed: Annotated[int, typer.Option(help="Seed for every random step.")] = 0,
    reveal: Annotated[int, typer.Option(help="basket-completion: items revealed as the cart.")] = 1,
    hide: Annotated[
        int | None, typer.Option(help="basket-completion: hide this many items instead (reveal the rest).")
    ] = None,
    max_queries: Annotated[
        int | None, typer.Option(help="Evaluate a seeded sample of at most this many queries.")
    ] = None,
    cutoff: Annotated[
        str | None, typer.Option(help="temporal split: test starts at this date instead of the last 20%.")
    ] = None,
    test_fraction: Annotated[float, typer.Option(help="Share of baskets (by time) in test.")] = 0.2,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for CIs.")] = 1000,
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
        str | None, typer.Option(help="Optuna storage for --tuned/--tune (default sqlite:///runs/optuna.db).")
    ] = None,
    html: Annotated[
        bool, typer.Option("--html", help="Also write a standalone report.html (figures embedded).")
    ] = False,
) -> None:
    """Compare recommenders offline on the same data, split, queries and metrics."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from xsell_eval.cli._app import typed_command
    from xsell_eval.errors import ConfigError
    from xsell_eval.pipeline import CompareConfig, run_compare
    from xsell_eval.results import check_out_dir, load_outcomes, prepare_out_dir, save_outcome, start_run_dir, write_run

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format must be 'table' or 'json', got {fmt!r}")
    config = CompareConfig(
        adapters=tuple(adapters),
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
        max_queries=max_queries,
        ks=tuple(parse_ks(k)),
        primary_metric=metric,
        baseline=baseline,
        seed=seed,
        n_bootstrap=bootstrap,
    ).validate()
    check_out_dir(out, "compare")  # before any work: not a file, not another kind of run, not a data folder
    dataset, tuning_extra = None, None
    if tuned or tune_trials is not None:  # fill config.params with tuned parameters (xsell_eval.tuning)
        from xsell_eval.cli.tune import tuning_for_compare

        config, dataset, tuning_extra = tuning_for_compare(config, tuned=tuned, trials=tune_trials, storage=storage)
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
        err_console.print(f"[yellow]note:[/] replacing the earlier run in {escape(str(out))}")
    run_dir = start_run_dir(out, config.name, config=config)
    quiet = fmt == "json"
    tasks: dict[str, Any] = {}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
    ) as progress:
        result = run_compare(
            config,
            dataset=dataset,
            progress=progress_printer(progress, tasks),
            hash_user_ids=hash_user_ids,
            completed=completed,
            on_adapter_done=lambda outcome: save_outcome(run_dir, outcome),
            command=typed_command(),
        )
    stale = result.resume.rerun_stale if result.resume is not None else ()
    if stale:
        err_console.print(
            f"[yellow]note:[/] {escape(', '.join(stale))}: the saved results were computed on other data or "
            "test queries; re-run"
        )
    if tuning_extra is not None:
        from dataclasses import replace

        result = replace(result, tuning=tuning_extra)
    write_run(result, run_dir, html=html)
    if quiet:
        summary = json.loads((run_dir / "summary.json").read_text())
        summary["run_dir"] = str(run_dir)
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    console.print(results_table(result))
    for a in result.adapters:
        if not a.ok:
            err_console.print(f"[red]adapter {escape(a.name)} failed:[/] {escape(a.error)}")
        for w in a.warnings:
            err_console.print(f"[yellow]adapter {escape(a.name)} warned:[/] {escape(w)}")
    console.print(f"Report: [bold]{run_dir / 'report.md'}[/]  (run directory {run_dir})")
