"""The typed result: one decision computed in the library, a notebook-facing API, one run-directory writer."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from _report_fixtures import _per_query, fixed_result
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.decision import Decision, decide
from xsell_eval.pipeline import CompareConfig, run_compare
from xsell_eval.report.markdown import render_markdown
from xsell_eval.result import AdapterOutcome, CompareResult, ResumeInfo, TuningEntry, TuningSummary
from xsell_eval.results import extra_dict, parts_from_extra, plain, read_run, write_run

runner = CliRunner()


def test_library_render_equals_the_cli_report(shop: Path, tmp_path: Path) -> None:
    """``render_markdown(run_compare(...))`` is the CLI's report: no extra step adds the decision."""
    out = tmp_path / "run"
    args = ["compare", "cf", "--data", str(shop), "--k", "5,10", "--bootstrap", "200", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    cfg = CompareConfig(adapters=("cf",), data=str(shop), ks=(5, 10), n_bootstrap=200)
    typed = "xsell-eval " + " ".join(args)
    result = run_compare(cfg, command=typed)
    assert result.decision is not None and result.decision.runner_up is None  # popular vs cf: no runner-up
    # the only numbers that differ between two runs are the adapters' timings (fit, recommend, serving
    # latency): take the CLI run's
    disk = {a.name: a for a in read_run(out).adapters}

    def timed(r: CompareResult) -> CompareResult:
        return replace(
            r,
            adapters=tuple(
                replace(
                    a,
                    fit_seconds=disk[a.name].fit_seconds,
                    recommend_seconds=disk[a.name].recommend_seconds,
                    latency=disk[a.name].latency,
                )
                for a in r.adapters
            ),
        )

    cli = (out / "report.md").read_text(encoding="utf-8")
    assert render_markdown(timed(result)) == cli
    # from Python, without a typed command: the same report but for the reproduce line
    from_python = render_markdown(timed(run_compare(cfg)))
    assert from_python.split("- Reproduce")[0] == cli.split("- Reproduce")[0]
    assert "- Reproduce:\n\n```\nxsell-eval compare popular cf --data" in from_python


def test_decision_is_computed_once_with_the_runner_up_test() -> None:
    result = fixed_result().with_decision()
    d = result.decision
    assert d is not None and d.verdict == "adopt" and d.winner == "cf" and d.better == ("cf", "rules")
    pq = _per_query()
    assert d.runner_up is not None and d.runner_up.paired is not None
    assert d.runner_up.paired.diff == pytest.approx(pq["cf"]["hit_rate@10"].mean() - pq["rules"]["hit_rate@10"].mean())
    assert d.runner_up.paired.separates  # p < 0.05: not a tie
    assert not d.tied
    # the rendered report is the same whether the renderer or the library computed the decision
    assert render_markdown(result) == render_markdown(fixed_result())
    # JSON round trip (what a run directory stores) keeps every number
    assert Decision.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_without_per_query_values_the_paired_test_is_left_out() -> None:
    d = decide(replace(fixed_result(), per_query_frame=None))
    assert d.runner_up is not None and d.runner_up.paired is None and d.runner_up.adapter == "rules"


def test_optional_parts_round_trip_through_a_run_directory(tmp_path: Path) -> None:
    tuning = TuningSummary(
        mode="tune",
        budget=5,
        storage="sqlite:///x.db",
        metric="hit_rate@10",
        fair=False,
        adapters=(TuningEntry("cf", tuned=True, trials=5, seconds=1.5, study="s", metric="hit_rate@10",
                              validation=0.3, best_trial=2, params={"k": 3}, same_settings=True),
                  TuningEntry("popular", note="no tunable hyperparameters")),
    )  # fmt: skip
    result = replace(
        fixed_result(), tuning=tuning, resume=ResumeInfo(("cf",), ("rules",)), command="xsell-eval compare cf"
    )
    write_run(result, tmp_path / "r", report="(report)\n")
    back = read_run(tmp_path / "r")
    assert back.tuning == tuning and back.resume == result.resume and back.command == "xsell-eval compare cf"
    assert back.decision == result.with_decision().decision
    assert plain([a.to_dict() for a in back.adapters]) == plain([a.to_dict() for a in result.adapters])
    assert all(isinstance(a, AdapterOutcome) for a in back.adapters)
    assert parts_from_extra(extra_dict(back))["tuning"] == tuning
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["extra"]["decision"]["winner"] == "cf" and summary["extra"]["resume"]["rerun_stale"] == ["rules"]


def test_summary_is_tidy() -> None:
    result = fixed_result()
    s = result.summary
    assert list(s.columns) == ["adapter", "metric", "k", "mean", "ci_low", "ci_high", "n"]
    assert set(s["k"]) == {5, 10} and "hit_rate" in set(s["metric"]) and not s["metric"].str.contains("@").any()
    row = s.query("adapter == 'cf' and metric == 'hit_rate' and k == 10").iloc[0]
    assert row["mean"] == pytest.approx(_per_query()["cf"]["hit_rate@10"].mean())
    assert len(s) == len(result.estimates)


@pytest.mark.parametrize("method", ["plot_metric_vs_k", "plot_lift", "plot_cold_start"])
def test_plot_methods_return_figures(method: str) -> None:
    from matplotlib.figure import Figure

    fig = getattr(fixed_result(), method)()
    assert isinstance(fig, Figure) and fig.axes
    assert any(ax.get_title() or ax.get_ylabel() for ax in fig.axes)


def test_plots_written_to_disk_are_the_figures(tmp_path: Path) -> None:
    """The report's PNG is the figure the notebook method returns (same drawing code)."""
    from xsell_eval.report.plots import _save, _style, plot_metric_vs_k

    result = fixed_result()
    a = plot_metric_vs_k(result, tmp_path / "a.png").read_bytes()
    with _style():
        b = _save(result.plot_metric_vs_k(), tmp_path / "b.png").read_bytes()
    assert a == b


def test_repr_is_readable() -> None:
    result = fixed_result()
    text = repr(result)
    lines = text.splitlines()
    assert lines[0].startswith("CompareResult(400 queries, 5 adapters, primary metric hit_rate@10")
    assert lines[1] == "  decision: use cf instead of the baseline popular"
    assert lines[2].split()[:2] == ["cf", "0.4425"]  # best first, mean on the primary metric
    assert lines[-1].split() == ["lightfm", "failed"]
    html = result._repr_html_()
    assert "<table>" in html and "<code>cf</code>" in html and "use cf instead of the baseline popular" in html


def test_runs_list_reads_reports_and_legacy_runs(tmp_path: Path) -> None:
    result = fixed_result()
    write_run(result, tmp_path / "reports" / "20240102-000000-new", report="(r)\n")
    write_run(result, tmp_path / "runs" / "20240101-000000-old", report="(r)\n")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        res = runner.invoke(app, ["runs", "list", "--format", "json"])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 0, res.stderr
    assert [r["run"] for r in json.loads(res.stdout)] == ["20240101-000000-old", "20240102-000000-new"]


def test_new_runs_go_to_reports(shop: Path, tmp_path: Path) -> None:
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        res = runner.invoke(app, ["compare", "random", "--data", str(shop), "--k", "5", "--bootstrap", "100"])
    finally:
        os.chdir(cwd)
    assert res.exit_code == 0, res.stderr
    made = list((tmp_path / "reports").iterdir())
    assert len(made) == 1 and (made[0] / "report.md").is_file() and not (tmp_path / "runs").exists()
    assert isinstance(read_run(made[0]).estimates, pd.DataFrame)
