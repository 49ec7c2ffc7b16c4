"""`xsell-eval runs list|diff` on run directories written from fixed results."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from _report_fixtures import fixed_result
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.results import write_run
from xsell_eval.runs import diff_runs, list_runs

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("runs")
    a = fixed_result()
    write_run(a, base / "20240101-120000-golden", report="(report)\n")
    # B: another seed and a changed data fingerprint; cf a little better
    summ = a.estimates.copy()
    sel = (summ["adapter"] == "cf") & (summ["metric"] == "hit_rate@10")
    summ.loc[sel, ["mean", "ci_low", "ci_high"]] += 0.2
    manifest = {**a.manifest, "dataset": {**a.manifest["dataset"], "fingerprint": "fedcba9876543210"}}
    b = replace(a, config=replace(a.config, seed=1), estimates=summ, manifest=manifest)
    write_run(b, base / "20240102-090000-golden", report="(report)\n")
    (base / "not-a-run").mkdir()
    (base / "20240103-000000-broken").mkdir()
    (base / "20240103-000000-broken" / "config.json").write_text("{}")
    # everything but tables/: summary.json exists, yet `report` cannot render it
    c = write_run(a, base / "20240104-000000-notables", report="(report)\n")
    shutil.rmtree(c / "tables")
    # complete, but no adapter finished
    failed = tuple(replace(ad, status="failed", error="boom") for ad in a.adapters)
    write_run(replace(a, adapters=failed), base / "20240105-000000-allfailed", report="(report)\n")
    return base


def test_list_shows_runs_oldest_first(runs: Path) -> None:
    infos = list_runs(runs)
    assert [i["run"] for i in infos][:3] == [
        "20240101-120000-golden",
        "20240102-090000-golden",
        "20240103-000000-broken",
    ]
    first = infos[0]
    assert first["date"] == "2024-01-01 12:00:00" and first["kind"] == "compare" and first["data"] == "golden-shop"
    assert first["adapters"] == ["popular", "cf", "rules", "random", "lightfm"]
    assert first["primary_metric"] == "hit_rate@10" and first["best"] == "cf"
    assert first["decision"] == "cf"  # the report's decision, from summary.json
    assert first["status"] == "complete" and first["problem"] == ""
    assert (infos[2]["kind"], infos[2]["status"]) == ("compare", "incomplete")


def test_list_and_report_share_one_completeness_check(runs: Path) -> None:
    infos = {i["run"]: i for i in list_runs(runs)}
    no_tables = infos["20240104-000000-notables"]
    assert no_tables["status"] == "incomplete" and "tables/summary.parquet" in no_tables["problem"]
    assert infos["20240105-000000-allfailed"]["status"] == "failed"
    for name in ("20240103-000000-broken", "20240104-000000-notables"):
        res = runner.invoke(app, ["report", str(runs / name)])
        assert res.exit_code == 1
        assert " ".join(res.stderr.split()).endswith(f"run directory '{runs / name}' {infos[name]['problem']}")
    res = runner.invoke(app, ["runs", "list", "--dir", str(runs)])
    out = " ".join(res.stdout.split())
    assert res.exit_code == 0
    assert "20240104-000000-notables is incomplete: missing tables/summary.parquet" in out
    assert "20240105-000000-allfailed has no adapter that completed" in out
    assert "20240101-120000-golden is" not in out  # complete runs get no such line


def test_list_cli_table_and_json(runs: Path) -> None:
    res = runner.invoke(app, ["runs", "list", "--dir", str(runs), "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert [r["run"] for r in json.loads(res.stdout)][:2] == ["20240101-120000-golden", "20240102-090000-golden"]
    res = runner.invoke(app, ["runs", "list", "--dir", str(runs)])
    assert res.exit_code == 0 and "runs in" in res.stdout and "golden" in res.stdout  # a table (wrapped at 80 columns)
    res = runner.invoke(app, ["runs", "list", "--dir", str(runs / "nothing")])
    assert res.exit_code == 0 and "no runs" in res.stdout


def test_diff_names_changed_keys_data_and_metric_deltas(runs: Path) -> None:
    d = diff_runs(runs / "20240101-120000-golden", runs / "20240102-090000-golden")
    assert [(c["key"], c["a"], c["b"]) for c in d["changes"]] == [("seed", 0, 1)]
    assert d["data"] == {"a": "0123456789abcdef", "b": "fedcba9876543210"}
    row = next(m for m in d["metrics"] if m["adapter"] == "cf" and m["metric"] == "hit_rate@10")
    assert row["delta"] == pytest.approx(0.2) and row["cis_overlap"] is False
    same = next(m for m in d["metrics"] if m["adapter"] == "rules" and m["metric"] == "hit_rate@10")
    assert same["delta"] == 0 and same["cis_overlap"] is True


def test_diff_cli(runs: Path) -> None:
    res = runner.invoke(
        app, ["runs", "diff", str(runs / "20240101-120000-golden"), str(runs / "20240102-090000-golden")]
    )
    assert res.exit_code == 0, res.stderr
    assert "DIFFERENT" in res.stdout and "seed" in res.stdout and "+0.2000" in res.stdout
    res = runner.invoke(
        app,
        [
            "runs",
            "diff",
            str(runs / "20240101-120000-golden"),
            str(runs / "20240102-090000-golden"),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["changes"][0]["key"] == "seed"
    res = runner.invoke(app, ["runs", "diff", str(runs / "not-a-run"), str(runs / "20240101-120000-golden")])
    assert res.exit_code == 1 and "is not a run directory" in res.stderr
    res = runner.invoke(app, ["runs", "diff", str(runs / "missing"), str(runs / "20240101-120000-golden")])
    assert res.exit_code == 1 and "does not exist" in res.stderr
    # a file inside a run directory stands for the directory
    d = diff_runs(runs / "20240101-120000-golden" / "report.md", runs / "20240102-090000-golden")
    assert d["a"] == str(runs / "20240101-120000-golden")
