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
    """A rich Progress on stderr (``steps``: with an ``N/M`` column, for tuning trials).

    Off when stderr is not a terminal (a pipe, a file, CI logs): a live bar there would only leave its
    final frame behind. Notes printed through it still appear.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    if steps:
        columns.append(MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=err_console, disable=disable or not err_console.is_terminal)


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
    """Table of the primary k: adapter × metrics with CIs and marks, fitted to the console width (cli._tables)."""
    from xsell_eval.cli._tables import Cell, Column, FitTable
    from xsell_eval.report.plots import ci_label, metric_unit

    cfg = result.config
    k = int(cfg.primary_metric.split("@")[1])
    lvl = ci_label(cfg.confidence)
    title = f"{cfg.protocol} · {result.n_queries:,} queries · k={k} · mean [{lvl} CI] vs {cfg.baseline}"
    cols = [f"{m}@{k}" for m in ("hit_rate", "precision", "recall", "ndcg", "mrr", "revenue") if m in cfg.metrics]
    summ, comp = result.estimates, result.comparisons
    order = (
        []
        if summ.empty
        else summ[summ["metric"] == cfg.primary_metric].sort_values("mean", ascending=False)["adapter"].tolist()
    )
    has_marks = not comp.empty and bool(comp["mark"].astype(bool).any())
    columns = []
    for c in cols:
        cells = []
        for a in order:
            r = summ[(summ["adapter"] == a) & (summ["metric"] == c)]
            if r.empty:
                cells.append(Cell("—"))
                continue
            r0 = r.iloc[0]
            mark = ""  # before the number, so that right-aligned numbers line up marked or not
            if not comp.empty:
                cr = comp[(comp["adapter"] == a) & (comp["metric"] == c)]
                if not cr.empty and cr.iloc[0]["mark"]:
                    mark = "[green]▲[/] " if cr.iloc[0]["mark"] == "▲" else "[red]▼[/] "
            d = 2 if metric_unit(c.partition("@")[0]) == "currency" else 3  # money in cents, shares to 0.1 pp
            cells.append(Cell(f"{mark}{r0['mean']:.{d}f}", f"[dim][{r0['ci_low']:.{d}f}, {r0['ci_high']:.{d}f}][/]"))
        columns.append(Column(c, cells))
    caption = (
        f"[green]▲[/]/[red]▼[/] significantly better/worse than {escape(cfg.baseline)} (paired, Holm-adjusted)"
        if has_marks
        else None
    )
    return FitTable(
        title=title, key_header="adapter", keys=[escape(a) for a in order], columns=columns, caption=caption
    )


def print_decision_line(result: Any) -> None:
    """The decision in one console line (``Decision: … (details in the report)``), worded as the report's."""
    text = result.decided().headline(failed=result.failed_adapters, n_completed=len(result.ok_adapters))
    # wraps at the terminal width (80 columns in a pipe)
    console.print(f"[bold]Decision:[/] {escape(text)} (details in the report)")


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
    """Table: adapter, trials, validation best, test tuned vs default with CIs (fitted to the console width)."""
    from xsell_eval.cli._tables import Cell, Column, FitTable
    from xsell_eval.report.tuning import statistics_phrase

    stats = sorted({statistics_phrase(r.confidence, r.ci_unit, r.paired_test) for r in results})
    title = f"Tuning: validation (search) and test (once, after the search) · mean [{' / '.join(stats) or 'CI'}]"
    rows: list[list[Cell]] = []
    for r in results:
        m = r.metrics[0]
        t = r.test
        cells = []
        for variant in ("tuned", "default"):
            row = t[(t["variant"] == variant) & (t["metric"] == m)] if not t.empty else t
            if row.empty:
                cells.append(Cell("—"))
            else:
                x = row.iloc[0]
                ci = "" if x["ci_low"] != x["ci_low"] else f"[dim][{x['ci_low']:.4f}, {x['ci_high']:.4f}][/]"
                cells.append(Cell(f"{x['mean']:.4f}", ci))
        c = r.comparison
        diff = Cell("—")
        if not c.empty and m in set(c["metric"]):
            x = c[c["metric"] == m].iloc[0]
            diff = Cell(f"{x['diff']:+.4f}", f"[dim][{x['ci_low']:+.4f}, {x['ci_high']:+.4f}][/]")
        best = r.best_values.get(m)
        budget = f"{r.budget.get('finished', 0)}/{r.budget.get('target_trials', 0)}"
        rows.append([Cell(escape(m)), Cell(budget), Cell("—" if best is None else f"{best:.4f}"), *cells, diff])
    heads = [("metric", "search"), ("trials", "search"), ("validation\nbest", "search")]
    heads += [("test\ntuned", "test"), ("test\ndefault", "test"), ("tuned −\ndefault", "test")]
    columns = [
        Column(h, [row[j] for row in rows], group=g, justify="left" if h == "metric" else "right")
        for j, (h, g) in enumerate(heads)
    ]
    return FitTable(title=title, key_header="adapter", keys=[escape(r.adapter) for r in results], columns=columns)


def abtest_table(report: Any) -> Any:
    """Table of a simulated A/B test: per arm, conversion and revenue with lifts and Holm p-values.

    Fitted to the console width (cli._tables): at 80 columns, a conversion table and a revenue table.
    """
    from xsell_eval.abtest.wording import level_label, p_text
    from xsell_eval.cli._tables import Cell, Column, FitTable

    a = report.analysis
    lvl = level_label(a.alpha)
    title = f"simulated A/B test · {a.n_visitors:,} visitors · {a.n_days} day(s) · response {report.response.source}"
    comp = {c.arm: c for c in a.comparisons}

    def ci(x: float, lo: float, hi: float) -> Cell:
        return Cell("n/a") if x != x else Cell(f"{x:+.1%}", f"[{lo:+.1%}, {hi:+.1%}]")

    def col(header: str, group: str, cell: Any) -> Column:
        return Column(header, [cell(x, comp.get(x.name)) for x in a.arms], group=group)

    columns = [
        col("visitors", "conversion", lambda x, c: Cell(f"{x.visitors:,}")),
        col("conversion", "conversion", lambda x, c: Cell(f"{x.conversion:.2%}")),
        col(
            f"conversion lift\n[{lvl} CI]",
            "conversion",
            lambda x, c: Cell("control") if c is None else ci(c.lift, c.lift_low, c.lift_high),
        ),
        col(
            "p (Holm)",
            "conversion",
            lambda x, c: Cell("" if c is None else p_text(c.p_holm, a.alpha).removeprefix("= ")),
        ),
        col("revenue/visitor", "revenue", lambda x, c: Cell(f"{x.revenue_per_visitor:.3f}")),
        col(
            f"revenue lift\n[{lvl} CI]",
            "revenue",
            lambda x, c: Cell("control") if c is None else ci(c.rpv_lift, c.rpv_lift_low, c.rpv_lift_high),
        ),
        col(
            "p (Welch,\nHolm)",
            "revenue",
            lambda x, c: Cell("" if c is None else p_text(c.rpv_p_holm, a.alpha).removeprefix("= ")),
        ),
    ]
    return FitTable(title=title, key_header="arm", keys=[escape(x.name) for x in a.arms], columns=columns)


def print_abtest(report: Any) -> None:
    """The A/B table, a sample-ratio warning if any, and the decision line."""
    from xsell_eval.abtest.stats import SRM_THRESHOLD
    from xsell_eval.abtest.wording import p_text
    from xsell_eval.report.abtest import contradiction_line, expected_line, repeats_lines, traffic_text

    a = report.analysis
    expected = expected_line(report)
    if expected:
        console.print(f"[bold]{escape(expected)}[/]")
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
    console.print(f"traffic: {escape(traffic_text(report))}")
    warn = contradiction_line(report)
    if warn:
        console.print(f"[bold red]warning:[/] {escape(warn)}")
    for d in report.cuped:
        if d.get("metric") == "revenue_per_visitor":
            vr = d.get("variance_reduction")
            console.print(
                f"CUPED (pre-test spend), revenue/visitor {escape(str(d['arm']))} − {escape(str(d['control']))}: "
                f"{d['cuped_diff']:+.4g} [{d['cuped_low']:+.4g}, {d['cuped_high']:+.4g}] vs plain {d['diff']:+.4g} "
                f"[{d['diff_low']:+.4g}, {d['diff_high']:+.4g}]"
                + (f"; variance removed {vr:.1%}" if isinstance(vr, float) else "")
            )
    for i, line in enumerate(repeats_lines(report)):
        console.print(("[bold]repeats:[/] " if i == 0 else "  ") + escape(line))


def print_report_path(run_dir: Any) -> None:
    """``Report: runs/x/report.md [and report.html]  (run directory runs/x)``."""
    html = run_dir / "report.html"
    console.print(  # soft wrap: the terminal folds a long line, Rich never breaks a path (copy-paste keeps it whole)
        f"Report: [bold]{escape(str(run_dir / 'report.md'))}[/]"
        + (f" and [bold]{escape(str(html))}[/]" if html.exists() else "")
        + f"  (run directory {escape(str(run_dir))})",
        soft_wrap=True,
    )
