"""End-to-end `xsell-eval compare` through the CLI, on a generated CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.results import read_run

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _quick_compare(shop: Path, out: Path, *adapters: str) -> list[str]:
    """Arguments of a quick comparison on the toy shop: k = 5, 200 bootstrap resamples, ``--out`` last."""
    return [
        "compare",
        *adapters,
        "--data",
        str(shop),
        "--k",
        "5",
        "--metric",
        "hit_rate@5",
        "--bootstrap",
        "200",
        "--out",
        str(out),
    ]


def test_compare_writes_run_directory_and_report(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, stderr = _run(
        "compare", "random", "--data", str(shop), "--k", "5,10", "--bootstrap", "200", "--out", str(out)
    )
    assert code == 0, stderr
    for f in (
        "config.json",
        "manifest.json",
        "summary.json",
        "queries.parquet",
        "recommendations.parquet",
        "metrics.parquet",
        "report.md",
    ):
        assert (out / f).exists(), f
    report = (out / "report.md").read_text()
    assert "## Decision" in report and "## Split, protocol and leakage audit" in report
    assert "xsell-eval compare popular random" in report  # reproduce command, baseline first
    recs = pd.read_parquet(out / "recommendations.parquet")
    assert set(recs["adapter"]) == {"popular", "random"}
    assert recs.groupby(["adapter", "query_id"]).size().max() == 10
    result = read_run(out)
    assert result.ok_adapters == ["popular", "random"]
    # popular vs random at hit_rate@10: a comparison row exists with a Holm p-value
    row = result.comparisons.query("adapter == 'random' and metric == 'hit_rate@10'")
    assert len(row) == 1 and 0 <= row["p_holm"].iloc[0] <= 1


def test_compare_json_format_is_machine_readable(shop: Path, tmp_path: Path) -> None:
    code, stdout, stderr = _run(*_quick_compare(shop, tmp_path / "r", "random"), "--format", "json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["baseline"] == "popular"
    assert {m["metric"] for m in summary["metrics"]} >= {"hit_rate@5", "ndcg@5"}
    assert summary["leakage_audit"]["train_ends_before_test"] is True


def test_failing_adapter_does_not_sink_the_others(shop: Path, tmp_path: Path) -> None:
    # business-rules with a missing rules file fails; the others must still complete
    code, _, stderr = _run(
        *_quick_compare(shop, tmp_path / "r", "random", "business-rules:path=/nonexistent/rules.toml")
    )
    assert code == 0, stderr
    info = json.loads((tmp_path / "r" / "summary.json").read_text())
    status = {a["name"]: a["status"] for a in info["adapters"]}
    assert status["random"] == "ok" and status["popular"] == "ok"
    assert status["business-rules:path=/nonexistent/rules.toml"] == "failed"
    assert "failed" in (tmp_path / "r" / "report.md").read_text()


def test_resume_reuses_completed_adapters(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    args = _quick_compare(shop, out, "random")
    assert _run(*args)[0] == 0
    first = pd.read_parquet(out / "metrics.parquet")
    (out / "report.md").unlink()
    code, _, stderr = _run(*args, "--resume")
    assert code == 0, stderr
    pd.testing.assert_frame_equal(first, pd.read_parquet(out / "metrics.parquet"))
    # a different config cannot resume into the same directory
    code, _, stderr = _run(*args[:-2], "--seed", "3", "--out", str(out), "--resume")
    assert code == 1 and "different configuration" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "popluar"], "Did you mean 'popular'"),
        (["compare", "random", "--k", "0"], "--k values must be integers >= 1"),
        (["compare", "random", "--k", "five"], "comma-separated list of integers"),
        (["compare", "random", "--protocol", "next-baskets"], "Did you mean 'next-basket'"),
        (["compare", "random", "--metric", "ndgc@10"], "Did you mean 'ndcg'"),
        (["compare", "random", "--data", "/nonexistent/file.csv"], "/nonexistent/file.csv"),
    ],
)
def test_bad_arguments_give_one_clear_error(args: list[str], message: str) -> None:
    code, _, stderr = _run(*args)
    assert code == 1
    assert message in stderr
    assert "Traceback" not in stderr


def test_broken_csv_names_the_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("basket,item_id\nb1,a\n")
    code, _, stderr = _run("compare", "random", "--data", str(bad))
    assert code == 1
    assert "basket_id" in stderr and "Traceback" not in stderr


def test_adapters_command_lists_registered_adapters() -> None:
    code, stdout, _ = _run("adapters")
    assert code == 0
    for name in ("popular", "random", "cf", "rules", "content"):
        assert name in stdout
