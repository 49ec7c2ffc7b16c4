"""``xsell-eval data generate`` and ``xsell-eval abtest`` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xsell_eval.cli import app

runner = CliRunner()
NOWHERE = "/nonexistent/xsell-eval-data"  # loading it would fail with "not found"


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
    res = runner.invoke(app, ["data", "generate", "--out", str(tmp_path), "--items", "2"])
    assert res.exit_code == 1  # audit 2: the message is about --items, not the internal mean_seeds
    out = " ".join(res.output.split())
    assert "n_items (`xsell-eval data generate --items`) must be at least 3, got 2" in out
    assert "mean_seeds must be" not in out


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

    from xsell_eval.results import rerender_abtest_run

    assert rerender_abtest_run(out) == report


def test_abtest_aa_mode(shop_dir, tmp_path):
    # also: --alpha 0.2 labels (finding 1), an inapplicable response option left out of the command (finding 6)
    res = runner.invoke(
        app,
        ["abtest", "popular", "--aa", "--data", str(shop_dir), "--visitors", "3000", "--bootstrap", "200",
         "--alpha", "0.2", "--p-hit", "0.4", "--oracle-smoothing", "3", "--out", str(tmp_path / "aa")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "aa" / "abtest.json").read_text())
    arms = data["analysis"]["arms"]
    assert [a["name"] for a in arms] == ["popular (A)", "popular (B)"]
    assert arms[0]["expected_conversion"] == arms[1]["expected_conversion"]
    out = " ".join(res.output.split())
    assert "decision: A/A check " in out and "ship" not in out and "more visitors" not in out  # finding 3
    assert data["analysis"]["decision"]["kind"] in ("aa-pass", "aa-flag")
    report = (tmp_path / "aa" / "report.md").read_text()
    assert "95%" not in out + report and "conversion lift [80% CI]" in report  # finding 1
    cmd = data["settings"]["command"]
    assert "--p-hit 0.4" in cmd and "--oracle-smoothing" not in cmd and "--alpha 0.2" in cmd  # finding 6
    assert "--oracle-smoothing ignored: no effect with --response replay" in out
    assert data["response"]["oracle_smoothing"] == 3.0


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path):
    """Finding 7: checked first — before the (missing) data is even looked at."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    res = runner.invoke(app, ["abtest", "popular", "random", "--data", str(tmp_path / "nope"), "--out", str(afile)])
    assert res.exit_code == 1
    assert f"--out {afile} is a file; give a folder" in " ".join(res.output.split())
    res = runner.invoke(app, ["abtest", "popular", "random", "--out", str(afile / "sub"), "--visitors", "1"])
    assert res.exit_code == 1  # the --out check comes before the --visitors one
    assert f"cannot be created: '{afile}' is a file, not a folder" in " ".join(res.output.split())
    res = runner.invoke(app, ["data", "generate", "--out", str(afile), "--users", "50", "--items", "20"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "is an existing file, not a directory" in " ".join(res.output.split())


def test_generate_small_catalog_clamps_categories(tmp_path):
    """Finding 10: --items 9 works (categories clamped to the items)."""
    res = runner.invoke(app, ["data", "generate", "--out", str(tmp_path), "--items", "9", "--users", "50"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "truth.json").read_text())["params"]["n_categories"] == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["abtest", "popular", "cff"], "unknown adapter 'cff'. Did you mean 'cf'"),
        (["abtest", "popular", "random", "--split", "60,50"], "must sum to 100"),
        (["abtest", "popular", "random", "--split", "100"], "1 share(s) for 2 arm(s)"),
        (["abtest", "popular", "random", "--visitors", "1"], "at least the number of arms (2)"),
        (["abtest", "popular", "random", "--visitors", "2"], "every arm needs at least 10 expected visitors"),
        (["abtest", "popular", "random", "--visitors", "30", "--split", "90,10"], "must be at least 100"),
        (["abtest", "popular", "random", "--response", "truth"], "has none"),
        (["abtest", "popular"], "needs at least two arms"),
        (["abtest", "popular", "random", "--aa"], "give exactly one ARM"),
        (["abtest", "popular", "random", "--response", "magic"], "unknown response source 'magic'"),
        (["abtest", "popular", "random", "--exam-top", "2"], "--exam-top must be in (0, 1], got 2.0"),
        # audit 2: named by the flag, and refused before the (missing) data is looked at
        (["abtest", "popular", "random", "--p-hit", "1.5", "--data", NOWHERE], "--p-hit must be in [0, 1], got 1.5"),
        (["abtest", "popular", "random", "--alpha", "0.6", "--data", NOWHERE], "--alpha must be a two-sided level"),
        (["abtest", "popular", "random", "--mde", "0", "--data", NOWHERE], "--mde must be a nonzero relative effect"),
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
    assert "needs data with a ground truth" in " ".join(res.output.split())


def test_identical_arms_without_aa_are_judged_as_an_aa_test(shop_dir, tmp_path):
    """Audit 2 #1: `abtest popular popular` gets an A/A verdict, a console note and a line in the report."""
    out = tmp_path / "same"
    res = runner.invoke(
        app,
        ["abtest", "popular", "popular", "--data", str(shop_dir), "--visitors", "2000", "--bootstrap", "100",
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "note: all 2 arms are the same adapter (popular): treating this as an A/A test" in text
    data = json.loads((out / "abtest.json").read_text())
    assert data["analysis"]["decision"]["kind"] in ("aa-pass", "aa-flag")
    assert data["settings"]["aa"] is True and data["settings"]["aa_implied"] is True
    assert [a["name"] for a in data["analysis"]["arms"]] == ["popular (A)", "popular (B)"]
    report = (out / "report.md").read_text()
    assert "every arm is the same adapter, so the run is judged as an A/A test" in report
    assert "**Decision: A/A check" in report and "--aa" not in data["settings"]["command"]


def test_abtest_repeats(shop_dir, tmp_path):
    out = tmp_path / "rep"
    args = ["abtest", "popular", "random", "--data", str(shop_dir), "--response", "truth", "--visitors", "2000",
            "--k", "5", "--bootstrap", "100", "--repeats", "12", "--seed", "2", "--out", str(out)]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert flat.index("Expected, the shop's true effect") < flat.index("decision:")  # the truth leads
    assert "repeats: Over 12 repeats of this test" in flat
    data = json.loads((out / "abtest.json").read_text())
    rep = data["repeats"]
    assert rep["n_repeats"] == 12 and sum(rep["decisions"].values()) == 12
    assert rep["arms"][0]["expected_lift"] == pytest.approx(data["analysis"]["comparisons"][0]["expected_lift"])
    report = (out / "report.md").read_text()
    assert "### Repeated 12 times" in report and "power at true lift" in report
    assert "--repeats 12" in report  # in the reproduce command
    res2 = runner.invoke(app, [*args[:-1], str(tmp_path / "rep2")])
    assert json.loads((tmp_path / "rep2" / "abtest.json").read_text())["repeats"]["arms"] == rep["arms"]
    bad = runner.invoke(app, ["abtest", "popular", "random", "--repeats", "-1"])
    assert bad.exit_code == 1 and "--repeats must be from 0" in bad.output
    assert res2.exit_code == 0


def test_abtest_traffic_observed_unless_given(shop_dir, tmp_path):
    base = ["abtest", "popular", "random", "--data", str(shop_dir), "--visitors", "2000", "--k", "5",
            "--bootstrap", "100"]  # fmt: skip
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "obs")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "obs" / "abtest.json").read_text())["settings"]
    t = rec["traffic"]
    assert t["source"] == "observed" and rec["traffic_per_day"] == t["per_day"] == round(t["baskets"] / t["days"])
    assert f"traffic: {t['per_day']:,} baskets/day observed in the test period" in " ".join(res.output.split())
    res = runner.invoke(app, [*base, "--traffic", "700", "--out", str(tmp_path / "given")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "given" / "abtest.json").read_text())["settings"]
    assert rec["traffic_per_day"] == 700 and rec["traffic"]["source"] == "given"
    assert "700 visitors/day as given by --traffic" in (tmp_path / "given" / "report.md").read_text()
