"""`xsell-eval run`: every shipped experiment runs (small overrides) and its report renders identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.config import load_experiment
from xsell_eval.report.markdown import render_markdown
from xsell_eval.results import read_run

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "online_retail.csv.gz"
runner = CliRunner()


#: The fields of a paired test the decision facts of a run carry (only p_value matters to the console line).
PAIRED = {"n": 100, "diff": 0.01, "ci_low": -0.01, "ci_high": 0.03, "wins": 5, "ties": 90, "losses": 5, "test": "t"}


def experiment_files() -> list[Path]:
    """Experiment files (business-rules files in the same folder are not experiments)."""
    return sorted(p for p in EXPERIMENTS.glob("*.toml") if "[[rule]]" not in p.read_text(encoding="utf-8"))


def small_overrides(path: Path, shop: Path | None, tmp: Path) -> list[str]:
    """Overrides that keep a shipped experiment quick without changing its shape."""
    exp = load_experiment(path)
    sets = ["metrics.bootstrap=100", "protocol.max_queries=40"]
    if exp.data.generate is not None:
        sets += ["data.generate.users=200", "data.generate.days=30"]
    elif shop is not None:
        sets.append(f"data.path={shop}")
    if exp.abtest is not None:
        sets += ["abtest.visitors=1000", "abtest.bootstrap=100"]
    if exp.tune is not None:
        sets += ["tune.trials=1", f"tune.storage=sqlite:///{tmp / 'optuna.db'}"]
    return sets


def _run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_the_four_worked_examples_ship() -> None:
    assert {p.stem for p in experiment_files()} >= {"default_retail", "tuned_comparison", "abtest", "synthetic_truth"}


@pytest.mark.parametrize("path", experiment_files(), ids=lambda p: p.stem)
def test_every_experiment_runs_and_its_report_renders(path: Path, shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sets = small_overrides(path, shop, tmp_path)
    code, stdout, stderr = _run("run", str(path), *[x for s in sets for x in ("--set", s)], "--out", str(out))
    assert code == 0, stderr
    assert "Decision:" in stdout
    # the console's decision line says what the report's decision says (finding 9)
    stored = read_run(out)
    assert stored.decision is not None
    line = stored.decision.headline(failed=stored.failed_adapters, n_completed=len(stored.ok_adapters))
    assert line and line in " ".join(stdout.split())
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Cross-sell decision") and "## Decision" in report
    exp = load_experiment(path, sets)
    assert ("## Simulated A/B test" in report) == (exp.abtest is not None)
    assert ("## Tuning" in report) == (exp.tune is not None)
    assert f"xsell-eval run {path}" in report  # the exact command, overrides included
    info = json.loads((out / "experiment.json").read_text())
    assert info["hash"] == exp.hash and info["overrides"] == sets
    assert (out / "experiment.toml").read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    if exp.report.html:
        assert (out / "report.html").is_file()
    # re-rendering from the stored results gives the same bytes (the CLI, which also redraws the
    # figures, once: for the experiment with the most sections)
    assert render_markdown(read_run(out)) == report
    if exp.abtest is not None and exp.data.generate is not None:
        code, stdout, stderr = _run("report", str(out), "--format", "html")
        assert code == 0, stderr
        assert "byte-identical" in stdout


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[adapters.random]\n[split]\ntets_fraction = 0.3\n", ["'tets_fraction'", "[split]", "test_fraction"]),
        ("[adapters.random]\n[protocol]\nreveal = 'one'\n", ["'reveal'", "must be an integer"]),
        ("[adapters.random]\n[data]\npath = 'missing.csv'\n", ["[data] path = 'missing.csv'", "not found"]),
    ],
)
def test_bad_experiment_files_exit_1_with_one_message(tmp_path: Path, text: str, needles: list[str]) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    code, _, stderr = _run("run", str(p), "--out", str(tmp_path / "out"))
    assert code == 1
    assert str(p) in stderr.replace("\n", "")
    for n in needles:
        assert n in stderr, (n, stderr)
    assert "Traceback" not in stderr


def test_bad_override_exit_1(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text("[adapters.random]\n", encoding="utf-8")
    code, _, stderr = _run("run", str(p), "--set", "protocol.max_querys=5")
    assert code == 1 and "max_querys" in stderr and "Traceback" not in stderr
    code, _, stderr = _run("run", str(tmp_path / "nope.toml"))
    assert code == 1 and "not found" in stderr


@pytest.mark.slow
@pytest.mark.skipif(
    not EMBEDDED.is_file(), reason="the embedded UCI Online Retail (data/online_retail.csv.gz) is absent"
)
@pytest.mark.parametrize("path", experiment_files(), ids=lambda p: p.stem)
def test_experiment_runs_as_written_on_its_data(path: Path, tmp_path: Path) -> None:
    sets = [s for s in small_overrides(path, None, tmp_path) if not s.startswith("data.generate")]
    sets = [s.replace("protocol.max_queries=40", "protocol.max_queries=400") for s in sets]
    code, _, stderr = _run("run", str(path), *[x for s in sets for x in ("--set", s)], "--out", str(tmp_path / "r"))
    assert code == 0, stderr
    assert "## Decision" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")


def test_truth_next_to_a_data_file_is_found_and_missing_truth_fails_first(tmp_path: Path) -> None:
    """Finding 8: [data] path = 'shop/interactions.csv' finds shop/truth.*; without one, fail before any work."""
    from xsell_eval.data.synthetic import generate_shop

    shop = tmp_path / "shop"
    generate_shop(seed=0, n_users=200, n_items=40, n_days=40).save(shop)
    text = (
        'name = "t"\nbaseline = "popular"\n[data]\npath = "shop/interactions.csv"\n[adapters.popular]\n'
        "[adapters.random]\n[protocol]\nmax_queries = 40\n[metrics]\nbootstrap = 100\n[report]\nhtml = false\n"
        '[abtest]\nresponse = "truth"\nvisitors = 1000\nbootstrap = 100\np_hit = 0.5\n'
    )
    exp = tmp_path / "t.toml"
    exp.write_text(text, encoding="utf-8")
    code, _, stderr = _run("run", str(exp), "--out", str(tmp_path / "ok"))
    assert code == 0, stderr
    assert "[abtest] p_hit ignored: no effect with response = 'truth'" in " ".join(stderr.split())
    assert read_run(tmp_path / "ok").abtest.data["has_truth"] is True  # type: ignore[union-attr]
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "interactions.csv").write_bytes((shop / "interactions.csv").read_bytes())
    exp.write_text(text.replace("shop/interactions.csv", "plain/interactions.csv"), encoding="utf-8")
    code, _, stderr = _run("run", str(exp), "--out", str(tmp_path / "bad"))
    assert code == 1 and "needs data with a ground truth" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "bad").exists()  # refused before the run directory, the data or the comparison


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (
            {"verdict": "adopt", "baseline": "popular", "winner": "cf", "better": ["cf", "rules"],
             "runner_up": {"adapter": "rules", "paired": {**PAIRED, "p_value": 0.14}}},
            "replace the baseline popular with cf or rules (both reliably better; not separable here)",
        ),
        (
            {"verdict": "adopt", "baseline": "popular", "winner": "cf", "better": ["cf", "rules"],
             "runner_up": {"adapter": "rules", "paired": {**PAIRED, "p_value": 0.001}}},
            "use cf instead of the baseline popular",
        ),
        (
            {"verdict": "keep-baseline", "baseline": "popular", "primary_metric": "hit_rate@10",
             "vs_baseline": {"adapter": "cf", "metric": "hit_rate@10"}},
            "keep the baseline popular (no candidate is reliably better on hit_rate@10)",
        ),
        ({"verdict": "nothing-completed", "baseline": "popular"}, "none — no adapter completed"),
        (
            {"verdict": "no-comparison", "baseline": "", "best": "cf", "primary_metric": "hit_rate@10"},
            "no comparison (only one adapter completed); best on hit_rate@10: cf",
        ),
    ],
)  # fmt: skip
def test_console_decision_line_agrees_with_the_report(facts: dict, expected: str) -> None:
    """Finding 9: the console line follows the decision facts (tie, no comparison, nothing completed)."""
    from xsell_eval.decision import Decision

    line = Decision.from_dict(facts).headline(failed=[], n_completed=1)
    assert line is not None and line.startswith(expected), line
    assert "keep the baseline" not in line or facts["verdict"] == "keep-baseline"


def _abtest_experiment(tmp_path: Path, abtest: str) -> Path:
    from xsell_eval.data.synthetic import generate_shop

    shop = tmp_path / "shop"
    if not shop.exists():
        generate_shop(seed=0, n_users=200, n_items=40, n_days=40).save(shop)
    text = (
        'name = "t"\nbaseline = "popular"\n[data]\npath = "shop"\n[adapters.popular]\n'
        "[adapters.random]\n[protocol]\nmax_queries = 40\n[metrics]\nbootstrap = 100\n[report]\nhtml = false\n"
        f"[abtest]\nvisitors = 1000\nbootstrap = 100\n{abtest}\n"
    )
    exp = tmp_path / "t.toml"
    exp.write_text(text, encoding="utf-8")
    return exp


def test_repeated_abtest_arms_run_as_an_aa_test(tmp_path: Path) -> None:
    """Audit 2 #1: arms = ["popular", "popular"] used to fail after the comparison ("2 weight(s) for 1 arm(s))."""
    exp = _abtest_experiment(tmp_path, 'arms = ["popular", "popular"]')
    code, stdout, stderr = _run("run", str(exp), "--out", str(tmp_path / "ok"))
    assert code == 0, stderr
    assert "treating the simulated test as an A/A test" in " ".join(stderr.split())
    assert "Simulated A/B test: A/A check" in " ".join(stdout.split())
    ab = read_run(tmp_path / "ok").abtest.to_dict()  # type: ignore[union-attr]
    assert [a["name"] for a in ab["analysis"]["arms"]] == ["popular (A)", "popular (B)"]
    assert ab["settings"]["aa"] is True and ab["settings"]["adapters"] == ["popular", "popular"]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("abtest.alpha=0.6", "[abtest] alpha must be a two-sided level in (0, 0.5), got 0.6"),
        ("abtest.mde=0", "[abtest] mde must be a nonzero relative effect"),
        ("abtest.visitors=5", "[abtest] visitors 5 gives the smallest arm"),
        ("abtest.split=[150, -50]", "[abtest] split shares must be positive percentages"),
    ],
)
def test_bad_abtest_values_fail_before_any_work(tmp_path: Path, override: str, needle: str) -> None:
    """Audit 2 #3 and #6: every [abtest] value is checked first; the file is named once."""
    exp = _abtest_experiment(tmp_path, "")
    code, _, stderr = _run("run", str(exp), "--set", override, "--out", str(tmp_path / "bad"))
    text = " ".join(stderr.split())
    assert code == 1 and needle in text and "Traceback" not in text
    assert text.count(str(exp)) == 1 and "--mde" not in text and "--alpha" not in text
    assert not (tmp_path / "bad").exists()  # refused before the run directory, the data or the comparison
