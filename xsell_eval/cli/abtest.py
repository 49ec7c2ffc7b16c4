"""``xsell-eval abtest``: a simulated A/B(/n) test of recommenders on replayed test traffic."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from xsell_eval.cli._app import DataOption, LoaderOption, app, console, err_console, handle_errors


def _drop_inapplicable(argv: dict[str, Any], model: Any) -> list[str]:
    """Remove from ``argv`` the response options given that have no effect on ``model``; return their flags."""
    from xsell_eval.abtest.response import OPTION_FIELDS

    ignored = []
    for opt, field_name in OPTION_FIELDS.items():
        if argv.get(opt) is not None and not model.applies(field_name):
            ignored.append("--" + opt.replace("_", "-"))
            argv[opt] = None
    return ignored


def _flag(key: str) -> str:
    """``p_hit`` → ``--p-hit``: the option that sets a key."""
    return "--" + key.replace("_", "-")


def _command(argv: dict[str, Any], arms: list[str]) -> str:
    parts = ["xsell-eval", "abtest", *arms]
    for key, value in argv.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


@app.command()
@handle_errors
def abtest(
    arms: Annotated[
        list[str],
        typer.Argument(help="Adapters to put in the arms, control first, e.g. rules cf (see `xsell-eval adapters`)."),
    ],
    data: DataOption = None,
    loader: LoaderOption = "auto",
    protocol: Annotated[str, typer.Option(help="basket-completion | next-basket | item-to-item")] = "basket-completion",
    visitors: Annotated[int, typer.Option("--visitors", "-n", help="Simulated visitors in total.")] = 50_000,
    split: Annotated[
        str | None, typer.Option("--split", help="Traffic percentages per arm, summing to 100, e.g. 50,50.")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Recommendations shown per visitor.")] = 10,
    response: Annotated[
        str, typer.Option(help="Acceptance source: replay (held-out truth) | oracle (fitted on all data) | truth.")
    ] = "replay",
    traffic_per_day: Annotated[int, typer.Option(help="Visitors per day (for the days of the test).")] = 5_000,
    mde: Annotated[float, typer.Option(help="Relative minimum detectable effect on conversion (0.1 = +10%).")] = 0.10,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level, in (0, 0.5).")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed for the split of queries, adapters and the simulation.")] = 0,
    aa: Annotated[
        bool,
        typer.Option(
            "--aa",
            help="A/A test: the one given adapter in two arms (the same adapter given for every arm is one too).",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default reports/<time>-abtest).")
    ] = None,
    curve: Annotated[str, typer.Option(help="Examination curve by rank: log (1/log2(rank+1)) | geometric.")] = "log",
    exam_top: Annotated[float, typer.Option(help="P(the shopper examines the first slot).")] = 0.5,
    exam_decay: Annotated[float, typer.Option(help="Geometric curve: examination ratio between ranks.")] = 0.7,
    p_hit: Annotated[
        float, typer.Option(help="replay: P(add | examined) of an item bought later in the basket.")
    ] = 0.3,
    p_other: Annotated[float, typer.Option(help="replay: P(add | examined) of other items; oracle floor.")] = 0.01,
    oracle_smoothing: Annotated[
        float, typer.Option(help="oracle: P(j|i) = n_ij / (n_i + smoothing), shrinking rare items.")
    ] = 5.0,
    organic_rate: Annotated[
        float, typer.Option(help="Share of recommended later-bought items that would have been bought anyway.")
    ] = 0.5,
    max_queries: Annotated[
        int | None, typer.Option(help="Replay a seeded sample of at most this many queries.")
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the revenue CIs.")] = 2000,
) -> None:
    """Simulate an A/B(/n) test: replayed test queries, a shopper-response model, honest statistics."""
    from dataclasses import replace

    import numpy as np
    from rich.markup import escape

    from xsell_eval.abtest.response import ResponseModel
    from xsell_eval.abtest.runner import arm_labels, is_aa, run_simulation
    from xsell_eval.abtest.simulate import check_visitors_per_arm, parse_split
    from xsell_eval.abtest.stats import check_test_settings
    from xsell_eval.adapters.registry import get, parse_spec
    from xsell_eval.data.synthetic import find_truth, truth_dir
    from xsell_eval.errors import AdapterError, ConfigError, DataError
    from xsell_eval.results import prepare_out_dir

    t_start = time.perf_counter()
    prepare_out_dir(out, "abtest")  # before any work: not a file, another kind of run or a data folder
    specs = list(arms)
    if aa:
        if len(specs) != 1:
            raise ConfigError(f"--aa runs one adapter against itself: give exactly one ARM, got {len(specs)}")
        specs = [specs[0], specs[0]]
    elif len(specs) < 2:
        raise ConfigError("an A/B test needs at least two arms, e.g. `xsell-eval abtest rules cf` (or --aa for A/A)")
    for s in dict.fromkeys(specs):
        get(parse_spec(s)[0])  # UnknownNameError with "did you mean"
    weights = parse_split(split, len(specs)) if split is not None else np.full(len(specs), 1.0 / len(specs))
    if visitors < len(specs):
        raise ConfigError(f"--visitors must be at least the number of arms ({len(specs)}), got {visitors}")
    check_visitors_per_arm(visitors, weights)
    if k < 1:
        raise ConfigError(f"--k must be an integer >= 1, got {k}")
    if traffic_per_day < 1:
        raise ConfigError(f"--traffic-per-day must be >= 1, got {traffic_per_day}")
    if bootstrap < 100:
        raise ConfigError(f"--bootstrap must be >= 100, got {bootstrap}")
    check_test_settings(alpha=alpha, mde=mde, label=_flag)
    model = ResponseModel.from_options(
        label=_flag,
        response=response,
        curve=curve,
        exam_top=exam_top,
        exam_decay=exam_decay,
        p_hit=p_hit,
        p_other=p_other,
        organic_rate=organic_rate,
        oracle_smoothing=oracle_smoothing,
    )
    # every arm the same adapter spec: whatever the flags say, this is an A/A test
    aa_implied = not aa and is_aa(specs)
    if response == "truth" and truth_dir(data) is None:
        where = "the default data (UCI Online Retail)" if data is None else f"'{data}'"
        raise DataError(
            f"--response truth needs a ground truth, and {where} has none; only data written by "
            "`xsell-eval data generate` carries one (truth.npz + truth.json). Use --response replay or oracle, or "
            "generate a shop: `xsell-eval data generate --out shop && xsell-eval abtest ... --data shop --response truth`"
        )

    from xsell_eval.pipeline import CompareConfig, package_versions, prepare, run_adapter

    config = CompareConfig(
        adapters=tuple(dict.fromkeys(specs)),
        data=data,
        loader=loader,
        protocol=protocol,
        ks=(k,),
        seed=seed,
        max_queries=max_queries,
        baseline="",
        name="abtest",
    )
    timings: dict[str, float] = {}
    with err_console.status("loading data, splitting, building test queries…"):
        t0 = time.perf_counter()
        prepared = prepare(config)
        timings["prepare"] = time.perf_counter() - t0
    ds, queries = prepared.dataset, prepared.queries
    truth = find_truth(data, ds) if response == "truth" else None
    outcomes: dict[str, Any] = {}
    for s in dict.fromkeys(specs):
        with err_console.status(f"fitting {s} and recommending for {len(queries):,} queries…"):
            t0 = time.perf_counter()
            o = run_adapter(s, config, prepared)
            timings[f"adapter:{s}"] = time.perf_counter() - t0
        if o.status != "ok":
            raise AdapterError(f"adapter '{s}' failed: {o.error}")
        outcomes[s] = o

    labels = arm_labels(specs)
    recs = {lab: outcomes[s].recs for lab, s in zip(labels, specs, strict=True)}
    argv = {
        "data": data,
        "loader": None if loader == "auto" else loader,
        "protocol": None if protocol == "basket-completion" else protocol,
        "visitors": visitors,
        "split": split,
        "k": k,
        "response": response,
        "traffic_per_day": traffic_per_day,
        "mde": mde,
        "alpha": None if alpha == 0.05 else alpha,
        "seed": seed,
        "aa": aa,
        "curve": None if curve == "log" else curve,
        "exam_top": None if exam_top == 0.5 else exam_top,
        "exam_decay": None if exam_decay == 0.7 else exam_decay,
        "p_hit": None if p_hit == 0.3 else p_hit,
        "p_other": None if p_other == 0.01 else p_other,
        "organic_rate": None if organic_rate == 0.5 else organic_rate,
        "oracle_smoothing": None if oracle_smoothing == 5.0 else oracle_smoothing,
        "max_queries": max_queries,
        "bootstrap": None if bootstrap == 2000 else bootstrap,
    }
    if aa_implied:
        n = len(specs)
        err_console.print(
            f"[yellow]note:[/] all {n} arms are the same adapter ({escape(specs[0])}): treating this as an A/A test "
            f"(A/A verdict, no ship / keep decision); `xsell-eval abtest {escape(specs[0])} --aa` does the same with two arms"
        )
    ignored = _drop_inapplicable(argv, model)
    if ignored:
        why = f"--response {response}" + (f" and --curve {curve}" if "--exam-decay" in ignored else "")
        err_console.print(
            f"[yellow]note:[/] {', '.join(ignored)} ignored: no effect with {why} (left out of the report's command)"
        )
    with err_console.status(f"simulating {visitors:,} visitors…"):
        done = run_simulation(
            prepared,
            recs,
            response=model,
            visitors=visitors,
            split=weights,
            k=k,
            traffic_per_day=traffic_per_day,
            mde=mde,
            alpha=alpha,
            bootstrap=bootstrap,
            seed=seed,
            protocol=protocol,
            truth=truth,
            per_query={lab: outcomes[s].per_query for lab, s in zip(labels, specs, strict=True)},
            adapters=specs,
            aa=aa or aa_implied,
            aa_implied=aa_implied,
            data=data,
            loader=loader,
            max_queries=max_queries,
            command=_command(argv, list(arms)),
        )
    timings.update(done.seconds)
    settings = done.report.settings
    from xsell_eval.pipeline import git_revision

    git = git_revision()
    timings["total"] = time.perf_counter() - t_start
    manifest = {
        "kind": "abtest",
        "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "source": data or "embedded:online_retail"},
        "seed": seed,
        "git_revision": git,
        "packages": package_versions(),
        "timings_seconds": timings,
    }
    report = replace(done.report, manifest=manifest)
    from xsell_eval.results import new_run_dir, write_abtest_run

    run_dir = out if out is not None else new_run_dir(name="abtest")
    write_abtest_run(report, run_dir, sim=done.sim, settings=settings, manifest=manifest)
    _print_summary(report)
    console.print(f"Report: [bold]{run_dir / 'report.md'}[/]  (run directory {run_dir})")


def _print_summary(report: Any) -> None:
    from rich.table import Table

    from xsell_eval.abtest.stats import SRM_THRESHOLD, level_label, p_text

    a = report.analysis
    lvl = level_label(a.alpha)
    table = Table(
        title=f"simulated A/B test · {a.n_visitors:,} visitors · {a.n_days} day(s) · response {report.response.source}"
    )
    cols = (
        "arm",
        "visitors",
        "conversion",
        f"conversion lift [{lvl} CI]",
        "p (Holm)",
        "revenue/visitor",
        f"revenue lift [{lvl} CI]",
        "p (Welch, Holm)",
    )
    for col in cols:
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
    console.print(table)
    if a.srm_flag:
        err_console.print(
            f"[bold red]sample-ratio mismatch[/] (p {p_text(a.srm_p, SRM_THRESHOLD)}): in a live test this would point "
            "to an assignment or logging fault; in this simulation it is chance — re-run with another seed"
        )
    color = {"ship": "green", "keep-control": "yellow", "aa-pass": "green", "aa-flag": "red", "srm": "red"}.get(
        a.decision.kind, "cyan"
    )
    from rich.markup import escape

    console.print(f"[bold {color}]decision:[/] {escape(a.decision.text)}")
