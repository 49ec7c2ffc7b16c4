"""``xsell-eval data generate`` and ``xsell-eval abtest`` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xsell_eval.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("shop")
    res = runner.invoke(app, ["data", "generate", "--out", str(d), "--users", "400", "--items", "60", "--days", "60"])
    assert res.exit_code == 0, res.output
    return d


def test_generate_prints_what_it_wrote(shop_dir):
    for f in ("interactions.csv", "catalog.csv", "truth.npz", "truth.json"):
        assert (shop_dir / f).stat().st_size > 0
    res = runner.invoke(app, ["data", "generate", "--out", str(shop_dir / "again"), "--users", "50", "--items", "20"])
    assert res.exit_code == 0
    assert "interactions.csv" in res.output and "truth.npz" in res.output


def test_generate_bad_input(tmp_path):
    res = runner.invoke(app, ["data", "generate", "--out", str(tmp_path), "--items", "1"])
    assert res.exit_code == 1
    assert "n_items must be an integer >= 2" in res.output


def test_abtest_end_to_end_with_truth(shop_dir, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "abtest", "popular", "random", "--data", str(shop_dir), "--response", "truth", "--visitors", "6000",
            "--k", "5", "--traffic-per-day", "1000", "--bootstrap", "200", "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "decision:" in res.output
    report = (out / "report.md").read_text()
    assert "## Simulated A/B test" in report and "**Decision:" in report
    assert "hit_rate@5" in report  # offline metrics of the arms side by side
    data = json.loads((out / "abtest.json").read_text())
    assert data["data"]["has_truth"] is True
    assert [a["name"] for a in data["analysis"]["arms"]] == ["popular", "random"]
    assert (out / "figures" / "abtest_lift.png").exists() and (out / "figures" / "abtest_sequential.png").exists()
    assert data["settings"]["command"].startswith("xsell-eval abtest popular random --data")

    from xsell_eval.abtest.report import rerender_abtest_run

    assert rerender_abtest_run(out) == report


def test_abtest_aa_mode(shop_dir, tmp_path):
    res = runner.invoke(
        app,
        ["abtest", "popular", "--aa", "--data", str(shop_dir), "--visitors", "3000", "--bootstrap", "200",
         "--out", str(tmp_path / "aa")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    arms = json.loads((tmp_path / "aa" / "abtest.json").read_text())["analysis"]["arms"]
    assert [a["name"] for a in arms] == ["popular (A)", "popular (B)"]
    assert arms[0]["expected_conversion"] == arms[1]["expected_conversion"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["abtest", "popular", "cff"], "unknown adapter 'cff'. Did you mean 'cf'"),
        (["abtest", "popular", "random", "--split", "60,50"], "must sum to 100"),
        (["abtest", "popular", "random", "--split", "100"], "1 share(s) for 2 arm(s)"),
        (["abtest", "popular", "random", "--visitors", "1"], "at least the number of arms (2)"),
        (["abtest", "popular", "random", "--response", "truth"], "has none"),
        (["abtest", "popular"], "needs at least two arms"),
        (["abtest", "popular", "random", "--aa"], "give exactly one ARM"),
        (["abtest", "popular", "random", "--response", "magic"], "unknown response source 'magic'"),
        (["abtest", "popular", "random", "--exam-top", "2"], "'exam_top' must be in (0, 1]"),
    ],
)
def test_abtest_bad_input_exits_1(args, message):
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert message in " ".join(res.output.split())


def test_abtest_truth_on_data_without_truth(shop_dir, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    plain.mkdir()
    for f in ("interactions.csv", "catalog.csv"):
        shutil.copy(shop_dir / f, plain / f)
    res = runner.invoke(app, ["abtest", "popular", "random", "--data", str(plain), "--response", "truth"])
    assert res.exit_code == 1
    assert "needs a ground truth" in " ".join(res.output.split())
