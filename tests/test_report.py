"""The decision report: golden file, pure rendering (memory == disk), plots, HTML, privacy, bad run dirs.

Regenerate the golden file after an intended change of the report::

    XSELL_UPDATE_GOLDEN=1 pytest tests/test_report.py -k golden

then review ``git diff tests/golden/report.md`` like any other change.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from _report_fixtures import _per_query, fixed_result
from typer.testing import CliRunner

from xsell_eval import decision as D
from xsell_eval.cli import app
from xsell_eval.decision import Decision, decide
from xsell_eval.pipeline import CompareConfig, CompareResult, run_compare
from xsell_eval.report import _format as F
from xsell_eval.report import markdown as M
from xsell_eval.report.html import image_refs, render_html
from xsell_eval.report.plots import planned_plots, write_plots
from xsell_eval.results import read_run, write_run
from xsell_eval.testing import toy_interactions

GOLDEN = Path(__file__).parent / "golden" / "report.md"
runner = CliRunner()


def test_golden_report() -> None:
    result = fixed_result()
    text = M.render_markdown(result)
    assert text == M.render_markdown(result)  # pure: same input, same bytes
    if os.environ.get("XSELL_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), "no golden file: run XSELL_UPDATE_GOLDEN=1 pytest tests/test_report.py -k golden"
    expected = GOLDEN.read_text(encoding="utf-8")
    assert text == expected, "report changed; if intended: XSELL_UPDATE_GOLDEN=1 pytest tests/test_report.py -k golden"


def test_first_screen_answers_the_decision() -> None:
    text = M.render_markdown(fixed_result())
    first = text.split("## Terms used")[0]
    assert "**Recommendation: use `cf`**" in first
    for needle in (
        "95% CI",
        "Holm",
        "per 1,000 baskets",
        "visitors per arm",
        "13 baskets/day observed in the test period (400 baskets over 31 days)",
        "offline proxy",
        "Runner-up",
    ):
        assert needle in first, needle
    assert "£" in first  # loader online-retail -> GBP
    assert "**Failed**" in first and "`lightfm`" in first
    # the metric table hides all-NaN diversity and says why
    assert "diversity@10: the catalog has no categories" in text
    # every figure the renderer references is one the plots module draws
    assert image_refs(text) == list(planned_plots(fixed_result()).values())


def test_decision_numbers_match_independent_computation() -> None:
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

    result = fixed_result()
    facts = decide(result, per_query=result.per_query_frame).to_dict()
    assert facts["verdict"] == "adopt" and facts["winner"] == "cf"
    pq = _per_query()
    # winner vs baseline: the comparison row
    assert facts["vs_baseline"]["diff"] == pytest.approx(
        pq["cf"]["hit_rate@10"].mean() - pq["popular"]["hit_rate@10"].mean()
    )
    # money: 1,000 x the revenue difference
    rev = pq["cf"]["revenue@10"].mean() - pq["popular"]["revenue@10"].mean()
    assert facts["money"]["per_1000"] == pytest.approx(1000 * rev)
    assert facts["money"]["currency"] == "GBP"
    # runner-up paired test: the plain mean difference
    ru = facts["runner_up"]
    assert ru["adapter"] == "rules"
    assert ru["paired"]["diff"] == pytest.approx(pq["cf"]["hit_rate@10"].mean() - pq["rules"]["hit_rate@10"].mean())
    # A/B sizing: statsmodels directly, ceil
    p0, p1 = pq["popular"]["hit_rate@10"].mean(), pq["cf"]["hit_rate@10"].mean()
    n = samplesize_proportions_2indep_onetail(p1 - p0, p0, 0.8, alpha=0.05, alternative="two-sided")
    plan = facts["ab_plan"]
    assert plan["n_per_arm"] == math.ceil(n)
    # traffic: the fixture's test period, 2024-03-02 to 2024-04-01 = 31 calendar days, 400 baskets
    per_day = round(400 / 31)
    assert facts["settings"]["traffic_per_day"] == per_day == 13
    assert plan["days"] == math.ceil(2 * math.ceil(n) / per_day)
    assert plan["days_widget"] == math.ceil(2 * plan["n_per_arm_widget"] / per_day)
    assert plan["n_per_arm_low"] > plan["n_per_arm"]  # the cautious end of the CI needs more visitors
    assert plan["n_per_arm_widget"] > plan["n_per_arm"]


def test_textbook_sample_size() -> None:
    # baseline 5%, +10% relative, alpha 0.05 two-sided, power 0.8: 31,234 per arm (R power.prop.test)
    assert math.ceil(D.sample_size(0.05, 0.10, 0.05, 0.8)) == 31_234
    assert D.sample_size(0.05, -0.1, 0.05, 0.8) is None


def test_keep_baseline_and_degenerate_results() -> None:
    result = fixed_result()
    comp = result.comparisons.assign(significant=False, mark="")
    facts = decide(replace(result, comparisons=comp)).to_dict()
    assert facts["verdict"] == "keep-baseline" and facts["winner"] is None
    text = M.render_markdown(replace(result, comparisons=comp))
    assert "**Recommendation: keep the baseline `popular`**" in text
    empty = replace(
        result, estimates=result.estimates.iloc[0:0], comparisons=comp.iloc[0:0], buckets=result.buckets.iloc[0:0]
    )
    assert "No adapter completed" in M.render_markdown(empty)
    single = replace(result, comparisons=comp.iloc[0:0])
    assert "No comparison" in M.render_markdown(single)


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.6327, "63.3%"), (0.0031, "0.31%"), (0.0, "0.0%"), (None, "—"), (float("nan"), "—")],
)
def test_percent_format(x: float | None, expected: str) -> None:
    assert F.pct(x) == expected


def test_money_and_p_formats() -> None:
    assert F.money(18623.7, "GBP", signed=True) == "+£18,624"
    assert F.money(-871.3, None) == "-871"
    assert F.money(12.5, "CHF", decimals=2) == "12.50 CHF"
    assert F.p_eq(1e-9) == "p < 0.0001" and F.p_eq(0.1312) == "p = 0.13" and F.p_eq(0.0042) == "p = 0.0042"
    assert F.pp(0.2756) == "+27.6 pp" and F.pp(-0.0045) == "-0.45 pp"


# ---------------------------------------------------------------------- a real (small) run
@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompareResult, Path]:
    """compare popular random on the toy shop, with customer ids that must never reach a report."""
    from xsell_eval.data.dataset import Dataset

    inter, catalog = toy_interactions(seed=3)
    inter["user_id"] = inter["user_id"].map(lambda u: f"CUST-{u}-SECRET", na_action="ignore")
    ds = Dataset.from_frames(inter, catalog, name="private")
    cfg = CompareConfig(adapters=("random",), ks=(5, 10), n_bootstrap=100, name="toy")
    result = run_compare(cfg, dataset=ds, hash_user_ids=True)
    d = tmp_path_factory.mktemp("run") / "run"
    write_run(result, d)
    return result, d


def test_report_from_disk_is_byte_identical(toy_run: tuple[CompareResult, Path]) -> None:
    _, d = toy_run
    written = (d / "report.md").read_text(encoding="utf-8")
    again = M.render_markdown(read_run(d))
    assert again == written
    for rel in planned_plots(read_run(d)).values():
        assert (d / rel).is_file(), rel


def test_plots_are_deterministic_and_carry_no_metadata(toy_run: tuple[CompareResult, Path], tmp_path: Path) -> None:
    _, d = toy_run
    result = read_run(d)
    paths = write_plots(result, tmp_path)
    assert set(paths) == {"metric_vs_k", "lift", "cold_start"}
    for rel in paths.values():
        data = (tmp_path / rel).read_bytes()
        assert data == (d / rel).read_bytes(), rel  # same bytes as at run time
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"Software" not in data and b"matplotlib" not in data.lower()


def test_report_cli_rerenders_identically_and_writes_html(toy_run: tuple[CompareResult, Path], tmp_path: Path) -> None:
    _, d = toy_run
    copy = tmp_path / "copy"
    shutil.copytree(d, copy)
    before = (copy / "report.md").read_bytes()
    shutil.rmtree(copy / "plots")
    res = runner.invoke(app, ["report", str(copy), "--format", "html"])
    assert res.exit_code == 0, res.stderr
    assert "byte-identical" in res.stdout
    assert (copy / "report.md").read_bytes() == before
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page and "<table>" in page
    assert 'src="plots/' not in page  # figures embedded: the page stands alone
    for name in ("report.md", "report.html", "summary.json", "context.json", "config.json", "manifest.json"):
        assert "SECRET" not in (copy / name).read_text(encoding="utf-8"), name  # no raw customer id anywhere
    users = pd.read_parquet(copy / "queries.parquet")["user_id"].dropna()
    assert len(users) and not users.str.contains("SECRET").any()  # --hash-user-ids: hashed in the per-query file


def test_render_html_is_pure_and_escapes_title() -> None:
    md = "# A <b> & `c`\n\n| x | y |\n|---|---:|\n| 1 | 2 |\n\n![fig](plots/a.png)\n"
    page = render_html(md, images={"plots/a.png": b"\x89PNG fake"})
    assert page == render_html(md, images={"plots/a.png": b"\x89PNG fake"})
    assert "<title>A &lt;b&gt; &amp; c</title>" in page
    assert 'style="text-align:right"' in page and "data:image/png;base64,iVBORyBmYWtl" in page
    assert "<b>" not in page.split("<body>")[1]  # raw HTML in the Markdown is not passed through


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "context.json").unlink(), "incomplete: missing context.json"),
        (lambda d: (d / "tables" / "summary.parquet").unlink(), "tables/summary.parquet"),
        (
            lambda d: (d / "manifest.json").write_text(
                json.dumps({**json.loads((d / "manifest.json").read_text()), "format_version": 0})
            ),
            "format version 0",
        ),
        (lambda d: (d / "context.json").write_text("{not json"), "could not be read"),
        (lambda d: (d / "context.json").write_text("{}"), "older or different"),
    ],
)
def test_bad_run_directory_gives_one_clear_error(
    toy_run: tuple[CompareResult, Path], tmp_path: Path, damage: object, message: str
) -> None:
    _, d = toy_run
    copy = tmp_path / "broken"
    shutil.copytree(d, copy)
    damage(copy)  # type: ignore[operator]
    res = runner.invoke(app, ["report", str(copy)])
    assert res.exit_code == 1
    assert message in res.stderr and str(copy) in res.stderr
    assert "Traceback" not in res.stderr


def test_report_cli_missing_directory() -> None:
    res = runner.invoke(app, ["report", "/nonexistent/run"])
    assert res.exit_code == 1 and "does not exist" in res.stderr


def test_confidence_level_is_used_and_stated_everywhere() -> None:
    """``confidence = 0.8``: every interval is an 80% interval, computed with the configured resamples."""
    from xsell_eval.stats import bootstrap_mean_ci, paired_comparison
    from xsell_eval.testing import toy_dataset

    cfg = CompareConfig(adapters=("cf",), ks=(10,), n_bootstrap=300, confidence=0.8, name="toy80")
    result = run_compare(cfg, dataset=toy_dataset())
    assert result.per_query_frame is not None
    wide = result.per_query_frame.pivot(index="query_id", columns="adapter", values="hit_rate@10")
    cf, base = wide["cf"].to_numpy(dtype=float), wide["popular"].to_numpy(dtype=float)
    users = result.per_query_frame.drop_duplicates("query_id").set_index("query_id")["customer"].loc[wide.index]
    row = result.estimates.query("adapter == 'cf' and metric == 'hit_rate@10'").iloc[0]
    ref = bootstrap_mean_ci(cf, seed=0, n_resamples=300, confidence=0.8, clusters=users.to_numpy())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ref.low, ref.high))
    comp = result.comparisons.query("adapter == 'cf' and metric == 'hit_rate@10'").iloc[0]
    pref = paired_comparison(cf, base, seed=0, n_resamples=300, confidence=0.8, clusters=users.to_numpy())
    assert (comp["ci_low"], comp["ci_high"]) == pytest.approx((pref.ci_low, pref.ci_high))
    text = M.render_markdown(result)
    assert not re.search(r"(?<![\d.])95%", text) and "80% CI" in text  # (a difference of -0.95% is no level)


# ---------------------------------------------------------------------- audit fixes (first screen, units, CLI)
def _decision(result: CompareResult) -> str:
    return M.render_markdown(result).split("## Terms used")[0]


@pytest.mark.parametrize("kind", ["last-basket", "random-basket"])
def test_leaky_split_is_stated_on_the_first_screen(kind: str) -> None:
    result = fixed_result()
    leaky = replace(result, split={**result.split, "kind": kind, "leakage": f"{kind}: the future leaks; optimistic"})
    lines = [ln for ln in _decision(leaky).splitlines() if "Leaky split" in ln]
    assert len(lines) == 1, lines  # one line
    assert f"**Leaky split ({kind}):**" in lines[0] and "leak in" in lines[0] and "flatters" in lines[0]
    assert "Leaky split" not in _decision(result)  # temporal: no leak, no line
    # also when nothing is compared
    single = replace(leaky, comparisons=leaky.comparisons.iloc[0:0])
    assert "No comparison" in _decision(single) and "Leaky split" in _decision(single)


def test_tied_runner_up_money_carries_its_ci() -> None:
    result = fixed_result()
    facts = decide(result, per_query=result.per_query_frame).to_dict()
    ru = facts["runner_up"]
    row = result.comparisons.query("adapter == 'rules' and metric == 'revenue@10'").iloc[0]
    assert (ru["revenue_per_1000"], ru["revenue_per_1000_ci_low"], ru["revenue_per_1000_ci_high"]) == pytest.approx(
        (1000 * row["diff"], 1000 * row["ci_low"], 1000 * row["ci_high"])
    )
    # the paired test cannot separate winner and runner-up: the money figures of both are shown, each with a CI
    tied = {**facts, "runner_up": {**ru, "paired": {**ru["paired"], "p_value": 0.3}}}
    first = _decision(replace(result, per_query_frame=None, decision=Decision.from_dict(tied)))
    gbp = [F.money(1000 * row[c], "GBP", signed=True) for c in ("diff", "ci_low", "ci_high")]
    expected = f"`rules` is at {gbp[0]} per 1,000 baskets (95% CI {gbp[1]} to {gbp[2]})"
    assert expected in first
    money = facts["money"]
    assert (
        f"`cf` at {F.money(money['per_1000'], 'GBP', signed=True)} (95% CI "
        f"{F.money(money['ci_low'], 'GBP', signed=True)} to" in first
    )
    # facts stored before the CI existed (an older run directory) get it from the comparisons table
    old = {**tied, "runner_up": {k: v for k, v in tied["runner_up"].items() if "_ci_" not in k}}
    assert expected in _decision(replace(result, per_query_frame=None, decision=Decision.from_dict(old)))


def test_money_units_use_the_run_currency() -> None:
    result = fixed_result()
    text = M.render_markdown(result)
    assert "currency/query" not in text
    assert "| revenue@10 (£/basket) |" in text and "| revenue@5 (£/basket) |" in text
    usd = replace(result, data_card={**result.data_card, "loader": "completejourney"})
    assert "| revenue@10 ($/basket) |" in M.render_markdown(usd)
    unknown = replace(result, data_card={**result.data_card, "loader": "csv"})
    assert "| revenue@10 (currency/basket) |" in M.render_markdown(unknown)
    # revenue as the primary metric: the scoreboard header names the currency too
    rev = replace(result, config=replace(result.config, primary_metric="revenue@10"))
    board = M.scoreboard(rev)
    assert "revenue@10 (£/basket)" in board and "vs `popular` (£/basket)" in board


def test_report_cli_accepts_a_file_inside_the_run_directory(
    toy_run: tuple[CompareResult, Path], tmp_path: Path
) -> None:
    _, d = toy_run
    copy = tmp_path / "run"
    shutil.copytree(d, copy)
    res = runner.invoke(app, ["report", str(copy / "report.md")])
    assert res.exit_code == 0, res.stderr
    out = " ".join(res.stdout.split())  # rich wraps at 80 columns
    assert f"re-rendering its run directory '{copy}'" in out and "byte-identical" in out
    res = runner.invoke(app, ["report", str(copy / "reprot.md")])
    err = " ".join(res.stderr.split())
    assert res.exit_code == 1 and f"give the run directory ('{copy}'), not a file in it" in err
    loose = tmp_path / "notes.md"
    loose.write_text("x")
    res = runner.invoke(app, ["report", str(loose)])
    assert res.exit_code == 1 and "is a file, not a run directory" in " ".join(res.stderr.split())


def test_queries_without_any_recommendation_are_reported() -> None:
    """``rules:fallback=none`` leaves some carts without an answer: the report says how many, not just 0% fallback."""
    from xsell_eval.testing import toy_dataset

    cfg = CompareConfig(adapters=("rules:fallback=none,min_support=0.05",), ks=(10,), n_bootstrap=100)
    result = run_compare(cfg, dataset=toy_dataset())
    info = next(a.to_dict() for a in result.adapters if a.name.startswith("rules"))
    assert result.recs_frame is not None
    answered = result.recs_frame.loc[result.recs_frame["adapter"] == info["name"], "query_id"].nunique()
    assert info["empty_share"] == pytest.approx(1 - answered / result.n_queries) and info["empty_share"] > 0.05
    text = M.render_markdown(result)
    assert "| served by fallback | no recommendation |" in text
    assert f"recommended nothing at all for {F.pct(info['empty_share'])}" in text


def test_adapter_warnings_reach_the_report(tmp_path: Path) -> None:
    """A rules file naming unknown items warns; the warning is kept with the outcome and shown, not lost on stderr."""
    from xsell_eval.testing import toy_dataset

    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nif_item = "NOPE"\nthen_items = ["ALSO_NOPE"]\n')
    spec = f"business-rules:path={rules},on_unknown=warn"
    result = run_compare(CompareConfig(adapters=(spec,), ks=(10,), n_bootstrap=100), dataset=toy_dataset())
    info = next(a.to_dict() for a in result.adapters if a.name == spec)
    assert info["status"] == "ok" and any("unknown item 'NOPE'" in w for w in info["warnings"])
    text = M.render_markdown(result)
    assert "Warnings raised while fitting and recommending:" in text and "BusinessRulesWarning" in text


def test_report_traffic_overrides_the_observed_one() -> None:
    from dataclasses import replace

    from xsell_eval.result import ReportSettings

    result = replace(fixed_result(), settings=ReportSettings(traffic_per_day=2_000))
    facts = decide(result, per_query=result.per_query_frame)
    assert facts.settings.traffic_per_day == 2_000 and facts.ab_plan is not None
    assert facts.ab_plan.days == math.ceil(2 * facts.ab_plan.n_per_arm / 2_000)
    text = facts.settings.traffic_text
    assert "2,000 visitors/day as given by [report] traffic_per_day" in text and "13 baskets/day" in text
    # the first screen leads with the realistic scenario (the widget at 10% of the offline rate)
    line = next(x for x in M.render_markdown(result).splitlines() if x.startswith("- **To confirm with an A/B test:**"))
    assert line.index("if the live widget converts at 10%") < line.index("Optimistic bound")
