"""``xsell-eval abtest``: a simulated A/B(/n) test of recommenders on replayed test traffic.

Defaults and checks come from :class:`xsell_eval.abtest.settings.ABTestSettings`; the work is
:func:`xsell_eval.abtest.runner.run_abtest`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xsell_eval.abtest.settings import ABTestSettings, flag
from xsell_eval.cli._app import DataOption, LoaderOption, ProtocolOption, app, handle_errors
from xsell_eval.settings import CompareConfig

_D = ABTestSettings.default
_C = CompareConfig()


@app.command()
@handle_errors
def abtest(
    arms: Annotated[
        list[str],
        typer.Argument(help="Adapters to put in the arms, control first, e.g. rules cf (see `xsell-eval adapters`)."),
    ],
    data: DataOption = None,
    loader: LoaderOption = _C.loader,
    protocol: ProtocolOption = _C.protocol,
    visitors: Annotated[int, typer.Option("--visitors", "-n", help="Simulated visitors in total.")] = _D("visitors"),
    split: Annotated[
        str | None, typer.Option("--split", help="Traffic percentages per arm, summing to 100, e.g. 50,50.")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Recommendations shown per visitor.")] = _D("k"),
    response: Annotated[
        str, typer.Option(help="Acceptance source: replay (held-out truth) | oracle (fitted on all data) | truth.")
    ] = _D("response"),
    traffic: Annotated[
        int | None,
        typer.Option(
            "--traffic",
            help="Visitors per day (for the days of the test); default: the data's observed test-period baskets/day.",
        ),
    ] = None,
    traffic_per_day: Annotated[
        int | None, typer.Option("--traffic-per-day", help="Deprecated name of --traffic.", hidden=True)
    ] = None,
    mde: Annotated[float, typer.Option(help="Relative minimum detectable effect on conversion (0.1 = +10%).")] = _D(
        "mde"
    ),
    alpha: Annotated[float, typer.Option(help="Two-sided significance level, in (0, 0.5).")] = _D("alpha"),
    seed: Annotated[int, typer.Option(help="Seed for the split of queries, adapters and the simulation.")] = _C.seed,
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
    curve: Annotated[str, typer.Option(help="Examination curve by rank: log (1/log2(rank+1)) | geometric.")] = _D(
        "curve"
    ),
    exam_top: Annotated[float, typer.Option(help="P(the shopper examines the first slot).")] = _D("exam_top"),
    exam_decay: Annotated[float, typer.Option(help="Geometric curve: examination ratio between ranks.")] = _D(
        "exam_decay"
    ),
    p_hit: Annotated[float, typer.Option(help="replay: P(add | examined) of an item bought later in the basket.")] = _D(
        "p_hit"
    ),
    p_other: Annotated[float, typer.Option(help="replay: P(add | examined) of other items; oracle floor.")] = _D(
        "p_other"
    ),
    oracle_smoothing: Annotated[
        float, typer.Option(help="oracle: P(j|i) = n_ij / (n_i + smoothing), shrinking rare items.")
    ] = _D("oracle_smoothing"),
    organic_rate: Annotated[
        float, typer.Option(help="Share of recommended later-bought items that would have been bought anyway.")
    ] = _D("organic_rate"),
    max_queries: Annotated[
        int | None, typer.Option(help="Replay a seeded sample of at most this many queries.")
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the revenue CIs.")] = _D("bootstrap"),
    repeats: Annotated[
        int,
        typer.Option(
            help="Also repeat the simulated test N times (seeds SeedSequence([seed, i]), adapters fitted once) and "
            "report how often each decision comes out; 0: no repeats."
        ),
    ] = 0,
) -> None:
    """Simulate an A/B(/n) test: replayed test queries, a shopper-response model, honest statistics."""
    from xsell_eval.abtest.repeats import MAX_REPEATS
    from xsell_eval.abtest.runner import is_aa, run_abtest
    from xsell_eval.abtest.settings import RESPONSE_KEYS, parse_split, reproduce_command
    from xsell_eval.adapters.registry import get, parse_spec
    from xsell_eval.cli._render import print_abtest, print_note, print_report_path, progress_bar, progress_printer
    from xsell_eval.errors import ConfigError
    from xsell_eval.results import prepare_out_dir

    if not 0 <= repeats <= MAX_REPEATS:
        raise ConfigError(f"--repeats must be from 0 (no repeats) to {MAX_REPEATS:,}, got {repeats}")
    prepare_out_dir(out, "abtest")  # before any work: not a file, another kind of run or a data folder
    if traffic_per_day is not None:
        print_note("--traffic-per-day is deprecated; use --traffic (same meaning)")
        traffic = traffic_per_day
    specs = list(arms)
    if aa:
        if len(specs) != 1:
            raise ConfigError(f"--aa runs one adapter against itself: give exactly one ARM, got {len(specs)}")
        specs = [specs[0], specs[0]]
    elif len(specs) < 2:
        raise ConfigError("an A/B test needs at least two arms, e.g. `xsell-eval abtest rules cf` (or --aa for A/A)")
    for s in dict.fromkeys(specs):
        get(parse_spec(s)[0])  # UnknownNameError with "did you mean"
    given: dict[str, Any] = {
        "visitors": visitors,
        "split": parse_split(split),
        "k": k,
        "response": response,
        "traffic_per_day": traffic,
        "mde": mde,
        "alpha": alpha,
        "curve": curve,
        "exam_top": exam_top,
        "exam_decay": exam_decay,
        "p_hit": p_hit,
        "p_other": p_other,
        "organic_rate": organic_rate,
        "oracle_smoothing": oracle_smoothing,
        "bootstrap": bootstrap,
    }
    # response keys left at their default are not "set", so only the ones typed can be reported as ignored
    settings = ABTestSettings(**{k: v for k, v in given.items() if k not in RESPONSE_KEYS or v != _D(k)})
    model = settings.check(specs, label=flag, data=data)
    aa_implied = not aa and is_aa(specs)  # every arm the same adapter spec: an A/A test whatever the flags say
    if aa_implied:
        print_note(
            f"all {len(specs)} arms are the same adapter ({specs[0]}): treating this as an A/A test (A/A verdict, "
            f"no ship / keep decision); `xsell-eval abtest {specs[0]} --aa` does the same with two arms"
        )
    ignored = settings.ignored(model)
    if ignored:
        why = f"--response {response}" + (f" and --curve {curve}" if "exam_decay" in ignored else "")
        flags = ", ".join(flag(x) for x in ignored)
        print_note(f"{flags} ignored: no effect with {why} (left out of the report's command)")
    values = {"data": data, "loader": loader, "protocol": protocol, **given, "split": split, "seed": seed, "aa": aa}
    command = reproduce_command(
        list(arms), values | {"max_queries": max_queries, "repeats": repeats or None}, ignored, defaults=_C
    )
    with progress_bar() as bar:
        report, run_dir = run_abtest(
            specs,
            settings,
            model=model,
            data=data,
            loader=loader,
            protocol=protocol,
            seed=seed,
            max_queries=max_queries,
            aa=aa,
            aa_implied=aa_implied,
            out=out,
            command=command,
            progress=progress_printer(bar, {}),
            repeats=repeats,
        )
    print_abtest(report)
    print_report_path(run_dir)
