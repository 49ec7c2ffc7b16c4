"""End-to-end `xsell-eval compare` through the CLI, on a generated CSV."""

from __future__ import annotations

import json
import shutil
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
    code, stdout, stderr = _run(
        "compare", "random", "--data", str(shop), "--k", "5,10", "--bootstrap", "200", "--out", str(out)
    )
    assert code == 0, stderr
    # the decision on the console (wrapped at the terminal's width), the same words as the report's headline
    flat = " ".join(stdout.split())
    expected = f"Decision: {read_run(out).decided().headline(n_completed=2)} (details in the report)"
    assert flat.count("Decision: ") == 1 and " ".join(expected.split()) in flat, stdout
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
    # the command as typed (not one rebuilt from the config), recorded in the manifest too
    typed = f"xsell-eval compare random --data {shop} --k 5,10 --bootstrap 200 --out {out}"
    assert f"- Reproduce (the command as typed):\n\n```\n{typed}\n```" in report
    assert json.loads((out / "manifest.json").read_text())["command"] == typed
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


def _fit_seconds(out: Path) -> dict[str, float]:
    return {a["name"]: a["fit_seconds"] for a in json.loads((out / "summary.json").read_text())["adapters"]}


def test_resume_reuses_completed_adapters(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    args = _quick_compare(shop, out, "random", "cf")
    assert _run(*args)[0] == 0
    first, timings = pd.read_parquet(out / "metrics.parquet"), _fit_seconds(out)
    shutil.rmtree(out / "adapters" / "cf")  # as if interrupted before cf finished
    (out / "report.md").unlink()
    code, _, stderr = _run(*args, "--resume")
    assert code == 0, stderr
    pd.testing.assert_frame_equal(first, pd.read_parquet(out / "metrics.parquet"))
    again = _fit_seconds(out)
    assert again["random"] == timings["random"] and again["popular"] == timings["popular"]  # restored, not re-run
    assert again["cf"] != timings["cf"]  # re-run (a new timing)
    resume = json.loads((out / "summary.json").read_text())["extra"]["resume"]
    assert resume == {"restored": ["popular", "random"], "rerun_stale": []}
    # a different config cannot resume into the same directory
    code, _, stderr = _run(*args[:-2], "--seed", "3", "--out", str(out), "--resume")
    assert code == 1 and "different configuration" in stderr


def test_resume_reruns_results_computed_on_other_data(tmp_path: Path) -> None:
    from xsell_eval.testing import toy_interactions

    shop = tmp_path / "shop"
    shop.mkdir()
    inter, catalog = toy_interactions(seed=1)
    inter.to_csv(shop / "interactions.csv", index=False)
    catalog.to_csv(shop / "catalog.csv", index=False)
    out = tmp_path / "r"
    args = _quick_compare(shop, out, "random")
    assert _run(*args)[0] == 0
    inter.assign(price=inter["price"] * 100).to_csv(shop / "interactions.csv", index=False)  # same path, new data
    code, _, stderr = _run(*args, "--resume")
    assert code == 0, stderr
    said = " ".join(stderr.split())  # rich wraps long lines
    assert "popular, random: the saved results were computed on other data or test queries; re-run" in said
    fresh = tmp_path / "fresh"
    assert _run(*_quick_compare(shop, fresh, "random"))[0] == 0
    pd.testing.assert_frame_equal(  # per-query metrics of the re-run = a fresh run on the new data
        pd.read_parquet(out / "metrics.parquet"), pd.read_parquet(fresh / "metrics.parquet")
    )
    # other test queries (another seed's toy shop, same path) re-run too, without a crash
    inter2, _ = toy_interactions(seed=5)
    inter2.to_csv(shop / "interactions.csv", index=False)
    code, _, stderr = _run(*args, "--resume")
    assert code == 0 and "re-run" in stderr, stderr


def test_a_new_run_into_an_old_out_folder_drops_its_saved_results(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert _run(*_quick_compare(shop, out, "random", "cf"))[0] == 0
    code, _, stderr = _run(*_quick_compare(shop, out, "random"), "--seed", "1")
    assert code == 0 and "replacing the earlier run" in stderr, stderr
    assert sorted(p.name for p in (out / "adapters").iterdir()) == ["popular", "random"]  # cf's seed-0 result gone


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
    for name in ("popular", "random", "cf", "rules", "content", "business-rules", "surprise-knn", "surprise-svd"):
        assert f"│ {name} " in stdout  # whole names, even at 80 columns
    assert "pip install 'xsell-eval[lightfm]'" in stdout  # not eaten as rich markup


def test_out_must_not_be_a_file_or_a_foreign_folder(shop: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, stderr = _run(*_quick_compare(shop, afile, "random"))
    assert code == 1 and f"--out {afile} is a file" in stderr
    code, _, stderr = _run(*_quick_compare(shop, shop, "random"))  # the data folder itself
    said = " ".join(stderr.split())
    assert code == 1 and "is an existing folder that is not a run directory (it holds catalog.csv" in said
    assert sorted(p.name for p in shop.iterdir()) == ["catalog.csv", "interactions.csv"]  # untouched


def test_compare_maps_columns_and_switches_cleaning(tmp_path: Path) -> None:
    from xsell_eval.testing import toy_interactions

    inter, _ = toy_interactions(seed=1)
    renamed = inter.rename(columns={"user_id": "Customer", "item_id": "SKU"})
    renamed.to_csv(tmp_path / "shop.csv", index=False)
    data = str(tmp_path / "shop.csv")
    code, _, stderr = _run("compare", "random", "--data", data)
    assert code == 1 and "--columns item_id=YOUR_COLUMN" in " ".join(stderr.split())  # the hint names an option
    out = tmp_path / "r"
    args = ["compare", "random", "--data", data, "--bootstrap", "200", "--out", str(out)]
    code, _, stderr = _run(*args, "--columns", "user_id=Customer,item_id=SKU", "--clean", "duplicates=keep")
    assert code == 0, stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["columns"] == {"user_id": "Customer", "item_id": "SKU"} and cfg["cleaning"] == "duplicates=keep"
    assert "--columns user_id=Customer,item_id=SKU --clean duplicates=keep" in (out / "report.md").read_text()


def test_a_failed_new_run_never_passes_for_the_old_one(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert _run(*_quick_compare(shop, out, "random"), "--html")[0] == 0
    notes = out / "notes.txt"
    notes.write_text("mine")  # not a run output: kept
    code, _, _ = _run(*_quick_compare(tmp_path / "typo", out, "rules"))
    assert code == 1
    assert not (out / "report.md").exists() and not (out / "report.html").exists()  # the old run's report is gone
    assert notes.read_text() == "mine"
    code, _, stderr = _run("report", str(out))
    assert code == 1 and "incomplete" in stderr
    code, _, stderr = _run("tune", "cf", "--data", str(shop), "--trials", "1", "--out", str(out))
    assert code == 1 and "holds a compare run; a tune run would overwrite it" in " ".join(stderr.split())
