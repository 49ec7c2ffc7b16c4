"""Console rendering shared by the commands: progress bars, result tables, notes (rich).

Only the CLI prints; the library reports progress through callbacks
(``progress(event, who, info)``) and these functions turn them into rich output.
Heavy modules (pandas, the report's formatting) are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.markup import escape

from xsell_eval.cli._app import console, err_console

Emit = Callable[[str, str, dict[str, Any]], None]


def print_note(text: str) -> None:
    """One yellow ``note:`` line on stderr."""
    err_console.print(f"[yellow]note:[/] {escape(text)}")


def progress_bar(*, steps: bool = False, disable: bool = False) -> Any:
    """A rich Progress on stderr (``steps``: with an ``N/M`` column, for tuning trials)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    if steps:
        columns.append(MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=err_console, disable=disable)


def progress_printer(progress: Any, tasks: dict[str, Any]) -> Emit:
    """A pipeline progress callback driving a rich Progress (one bar per stage/adapter; notes printed)."""
    steps = {"fit": 1, "recommend": 2, "latency": 2, "evaluate": 3}

    def emit(event: str, who: str, info: dict[str, Any]) -> None:
        if event == "note":
            progress.console.print(f"[yellow]note:[/] {escape(str(info.get('text', '')))}")
        elif event == "stage_start":
            tasks[who] = progress.add_task(f"[cyan]{escape(who)}", total=1)
        elif event == "stage_end" and who in tasks:
            progress.update(tasks[who], completed=1, description=f"[green]{escape(who)}")
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
            color = {"ok": "green", "restored": "blue", "not applicable": "yellow"}.get(str(status), "red")
            progress.update(tasks[who], completed=4, description=f"[{color}]{who}: {status}")

    return emit


def study_progress(progress: Any, tasks: dict[str, Any]) -> Emit:
    """A tuning progress callback driving a rich Progress: one bar per study, best value so far."""

    def label(who: str, info: dict[str, Any]) -> str:
        best = info.get("best")
        shown = f"{best:.4f}" if isinstance(best, (int, float)) else "—"
        return f"{who}: best {shown}"

    def emit(event: str, who: str, info: dict[str, Any]) -> None:
        if event == "note":
            progress.console.print(f"[yellow]note:[/] {escape(str(info.get('text', '')))}")
        elif event == "prepare_start":
            tasks[""] = progress.add_task("loading data and splitting", total=None)
        elif event == "prepare_end" and "" in tasks:
            progress.update(tasks[""], description="[green]data ready", total=1, completed=1)
        elif event == "study_start":
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
        elif event == "study_failed" and who in tasks:
            progress.update(tasks[who], description=f"[red]{who}: failed")
        elif event == "stage_start" and who in tasks:
            progress.update(tasks[who], description=f"{who}: refit on train, evaluate on test")
        elif event == "stage_end" and who in tasks:
            progress.update(tasks[who], description=f"[green]{who}: done")

    return emit


def quiet_optuna() -> None:
    """Optuna's per-trial log lines off (failed trials are listed in the report instead)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def compare_table(result: Any) -> Any:
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


def print_decision_line(result: Any) -> None:
    """The decision in one console line (``Decision: … (details in the report)``), worded as the report's."""
    text = result.decided().headline(failed=result.failed_adapters, n_completed=len(result.ok_adapters))
    console.print(f"[bold]Decision:[/] {escape(text)} (details in the report)", soft_wrap=True)


def print_adapter_problems(adapters: Iterable[Any]) -> None:
    """A red line per failed adapter, a yellow one per adapter not applicable to the data and per warning."""
    for a in adapters:
        if getattr(a, "not_applicable", False):
            err_console.print(f"[yellow]adapter {escape(a.name)} not applicable:[/] {escape(a.error)}")
        elif not a.ok:
            err_console.print(f"[red]adapter {escape(a.name)} failed:[/] {escape(a.error)}")
        for w in a.warnings:
            err_console.print(f"[yellow]adapter {escape(a.name)} warned:[/] {escape(w)}")


def print_tuning_applied(summary: Any) -> None:
    """What ``compare --tuned`` / ``--tune N`` used for each adapter, and whether the budgets were fair."""
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
        print_note("not every tunable adapter was tuned with the same budget; the report says so.")


def tuning_table(results: list[Any]) -> Any:
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
        budget = f"{r.budget.get('finished', 0)}/{r.budget.get('target_trials', 0)}"
        table.add_row(r.adapter, m, budget, "—" if best is None else f"{best:.4f}", *cells, diff)
    return table


def abtest_table(report: Any) -> Any:
    """Rich table of a simulated A/B test: per arm, conversion and revenue with lifts and Holm p-values."""
    from rich.table import Table

    from xsell_eval.abtest.wording import level_label, p_text

    a = report.analysis
    lvl = level_label(a.alpha)
    table = Table(
        title=f"simulated A/B test · {a.n_visitors:,} visitors · {a.n_days} day(s) · response {report.response.source}"
    )
    cols = ("arm", "visitors", "conversion", f"conversion lift [{lvl} CI]", "p (Holm)", "revenue/visitor")
    for col in (*cols, f"revenue lift [{lvl} CI]", "p (Welch, Holm)"):
        table.add_column(col, justify="left" if col == "arm" else "right")
    comp = {c.arm: c for c in a.comparisons}

    def ci(x: float, lo: float, hi: float) -> str:
        return "n/a" if x != x else f"{x:+.1%} [{lo:+.1%}, {hi:+.1%}]"

    for x in a.arms:
        c = comp.get(x.name)
        table.add_row(
            x.name,
            f"{x.visitors:,}",
            f"{x.conversion:.2%}",
            "control" if c is None else ci(c.lift, c.lift_low, c.lift_high),
            "" if c is None else p_text(c.p_holm, a.alpha).removeprefix("= "),
            f"{x.revenue_per_visitor:.3f}",
            "control" if c is None else ci(c.rpv_lift, c.rpv_lift_low, c.rpv_lift_high),
            "" if c is None else p_text(c.rpv_p_holm, a.alpha).removeprefix("= "),
        )
    return table


def print_abtest(report: Any) -> None:
    """The A/B table, a sample-ratio warning if any, and the decision line."""
    from xsell_eval.abtest.stats import SRM_THRESHOLD
    from xsell_eval.abtest.wording import p_text

    a = report.analysis
    console.print(abtest_table(report))
    if a.srm_flag:
        err_console.print(
            f"[bold red]sample-ratio mismatch[/] (p {p_text(a.srm_p, SRM_THRESHOLD)}): in a live test this would point "
            "to an assignment or logging fault; in this simulation it is chance — re-run with another seed"
        )
    color = {"ship": "green", "keep-control": "yellow", "aa-pass": "green", "aa-flag": "red", "srm": "red"}.get(
        a.decision.kind, "cyan"
    )
    console.print(f"[bold {color}]decision:[/] {escape(a.decision.text)}")


def print_report_path(run_dir: Any) -> None:
    """``Report: runs/x/report.md [and report.html]  (run directory runs/x)``."""
    html = run_dir / "report.html"
    console.print(
        f"Report: [bold]{run_dir / 'report.md'}[/]"
        + (f" and [bold]{html}[/]" if html.exists() else "")
        + f"  (run directory {run_dir})"
    )
