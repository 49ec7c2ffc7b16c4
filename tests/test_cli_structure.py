"""The CLI's shape: lazy imports, one source of defaults, one set of A/B checks, the command as typed."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from xsell_eval.abtest.settings import ABTestSettings
from xsell_eval.cli import app
from xsell_eval.errors import ConfigError, DataError, UnknownNameError, close_names, unknown_name
from xsell_eval.settings import CompareConfig

runner = CliRunner()


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys, xsell_eval.cli; "
        "print(','.join(m for m in ('numpy', 'pandas', 'scipy', 'optuna', 'matplotlib', 'torch', 'sklearn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "compare" in res.output and "abtest" in res.output


def test_name_suggestions_live_in_errors() -> None:
    assert close_names("cff", ["cf", "content", "rules"]) == ["cf"]
    err = unknown_name("split", "temporl", ["temporal", "last-basket"], where="x.toml: [split] kind: ")
    assert isinstance(err, UnknownNameError)
    assert (
        str(err)
        == "x.toml: [split] kind: unknown split 'temporl'. Did you mean 'temporal'? Available: temporal, last-basket"
    )
    assert "Did you mean" not in str(unknown_name("metric", "zzz", ["ndcg", "mrr"]))


def _defaults(command: str) -> dict[str, object]:
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {p.name: p.default for p in cmd.params}


def test_option_defaults_and_file_sections_read_from_compare_config() -> None:
    from xsell_eval.config import Experiment

    d = CompareConfig()
    opts = _defaults("compare")
    assert (opts["test_fraction"], opts["bootstrap"], opts["seed"]) == (d.test_fraction, d.n_bootstrap, d.seed)
    assert (opts["protocol"], opts["split"], opts["metric"], opts["baseline"]) == (
        d.protocol,
        d.split,
        d.primary_metric,
        d.baseline,
    )
    assert opts["k"] == ",".join(map(str, d.ks))
    tune = _defaults("tune")
    assert (tune["test_fraction"], tune["valid_fraction"], tune["bootstrap"]) == (
        d.test_fraction,
        d.valid_fraction,
        d.n_bootstrap,
    )
    assert (tune["ci_unit"], tune["test"]) == (opts["ci_unit"], opts["test"]) == (d.ci_unit, d.test)
    exp = Experiment()
    assert exp.to_compare_config() == CompareConfig(adapters=(), name="experiment")


def test_abtest_option_defaults_read_from_abtest_settings() -> None:
    from xsell_eval.abtest.response import ResponseModel

    opts = _defaults("abtest")
    for key in ("visitors", "k", "response", "mde", "alpha", "curve", "exam_top", "p_hit", "bootstrap"):
        assert opts[key] == ABTestSettings.default(key), key
    assert opts["traffic"] == ABTestSettings.default("traffic_per_day")
    # the response model's own defaults agree with the settings' (the library default and the CLI's)
    rm = {f.name: f.default for f in fields(ResponseModel)}
    s = ABTestSettings()
    assert (rm["exam_top"], rm["exam_decay"], rm["p_accept_hit"], rm["p_accept_other"]) == (
        s.exam_top,
        s.exam_decay,
        s.p_hit,
        s.p_other,
    )
    assert (rm["organic_rate"], rm["oracle_smoothing"], rm["curve"], rm["source"]) == (
        s.organic_rate,
        s.oracle_smoothing,
        s.curve,
        s.response,
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"split": [60.0, 50.0]}, "run.toml: [abtest] split percentages must sum to 100"),
        ({"split": [100.0]}, "run.toml: [abtest] split has 1 share(s) for 2 arm(s) (a, b)"),
        ({"visitors": 1}, "run.toml: [abtest] visitors must be at least the number of arms (2), got 1"),
        ({"traffic_per_day": 0}, "run.toml: [abtest] traffic_per_day must be an integer >= 1, got 0"),
        ({"bootstrap": 50}, "run.toml: [abtest] bootstrap must be an integer >= 100, got 50"),
        ({"p_hit": 1.5}, "run.toml: [abtest] p_hit must be in [0, 1], got 1.5"),
    ],
)
def test_abtest_checks_are_worded_for_the_caller(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ABTestSettings(**values).check(["a", "b"], label=lambda k: f"[abtest] {k}", where="run.toml: ")
    assert str(info.value).startswith(message)
    with pytest.raises(ConfigError, match=r"^--(split|visitors|traffic|bootstrap|p-hit)"):
        ABTestSettings(**values).check(["a", "b"])  # the command line's names by default


def test_truth_check_names_the_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"--response = 'truth' needs data with a ground truth, and '.*' has none"):
        ABTestSettings(response="truth").check(["a", "b"], data=str(tmp_path))
    ABTestSettings(response="truth").check(["a", "b"], data=str(tmp_path), has_truth=True)


def _abtest(shop: Path, out: Path, *traffic: str) -> tuple[int, str, dict]:
    args = ["abtest", "popular", "random", "--data", str(shop), "--visitors", "600", "--k", "5"]
    args += ["--bootstrap", "100", *traffic, "--out", str(out)]
    res = runner.invoke(app, args)
    data = json.loads((out / "abtest.json").read_text()) if res.exit_code == 0 else {}
    return res.exit_code, " ".join(res.output.split()), data


def test_abtest_traffic_option_and_its_deprecated_alias(shop: Path, tmp_path: Path) -> None:
    code, text, data = _abtest(shop, tmp_path / "new", "--traffic", "150")
    assert code == 0, text
    assert data["settings"]["traffic_per_day"] == 150 and "deprecated" not in text
    assert "--traffic 150" in data["settings"]["command"]
    code, text, old = _abtest(shop, tmp_path / "old", "--traffic-per-day", "150")
    assert code == 0, text
    assert "--traffic-per-day is deprecated; use --traffic" in text
    assert old["settings"]["traffic_per_day"] == 150
    assert old["analysis"]["n_days"] == data["analysis"]["n_days"] == 4  # 600 visitors at 150 a day


def test_run_records_the_command_as_typed(shop: Path, tmp_path: Path) -> None:
    exp = tmp_path / "t.toml"
    exp.write_text(
        f'name = "t"\n[data]\npath = "{shop}"\n[adapters.random]\n[protocol]\nmax_queries = 30\n'
        '[metrics]\nbootstrap = 100\nk = [5]\nprimary = "hit_rate@5"\n[report]\nhtml = false\n',
        encoding="utf-8",
    )
    args = ["run", str(exp), "--set", "seed=3", "--out", str(tmp_path / "run")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "run" / "experiment.json").read_text())
    assert info["command"] == shlex.join(["xsell-eval", *args])


def test_library_comparison_keeps_the_command_and_reports_notes(tmp_path: Path) -> None:
    from xsell_eval.experiment import run_comparison
    from xsell_eval.testing import toy_dataset

    config = CompareConfig(adapters=("random",), ks=(5,), primary_metric="hit_rate@5", n_bootstrap=100)
    out = tmp_path / "run"
    first, _ = run_comparison(config, out=out, dataset=toy_dataset(), command="xsell-eval compare random")
    assert first.command == "xsell-eval compare random"
    events: list[tuple[str, str, dict]] = []
    again, run_dir = run_comparison(config, out=out, dataset=toy_dataset(), progress=lambda *e: events.append(e))
    assert run_dir == out and again.command is None
    assert ("note", "", {"text": f"replacing the earlier run in {out}"}) in events


def test_generate_defaults_are_the_generator_s() -> None:
    import inspect

    from xsell_eval.config import GenerateSection
    from xsell_eval.data.synthetic import generate_shop

    sig = inspect.signature(generate_shop).parameters
    g = GenerateSection()
    opts = typer.main.get_command(app).commands["data"].commands["generate"].params  # type: ignore[attr-defined]
    shown = {p.name: p.default for p in opts}
    assert (g.seed, g.users, g.items, g.days) == tuple(sig[k].default for k in ("seed", "n_users", "n_items", "n_days"))
    assert (shown["seed"], shown["users"], shown["items"], shown["days"]) == (g.seed, g.users, g.items, g.days)
