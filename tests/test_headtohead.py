"""The tie-break: head-to-head rows (checked against a direct numpy recomputation) and each branch of the rule."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests._report_fixtures import fixed_result
from xsell_eval.decision import Decision, PairedTest, tie_break
from xsell_eval.headtohead import FALLBACK_COLUMN, H2HRow, HeadToHead, head_to_head
from xsell_eval.report.markdown import render_markdown
from xsell_eval.result import CompareResult


def _h(**rows: H2HRow) -> HeadToHead:
    base = {
        "revenue@10": H2HRow("revenue@10", 40.0, 41.0, -1.0, -3.0, 1.0),
        "coverage@10": H2HRow("coverage@10", 0.40, 0.35, 0.05),
        "fallback_share": H2HRow("fallback_share", 0.10, 0.11, -0.01, -0.03, 0.01),
        "serving_ms": H2HRow("serving_ms", 1.0, 1.5, -0.5),
    }
    base.update(rows)
    return HeadToHead(a="cf", b="rules", rows=tuple(base.values()))


def test_revenue_ci_excluding_zero_picks_the_richer_one() -> None:
    h = tie_break(_h(**{"revenue@10": H2HRow("revenue@10", 38.49, 42.34, -3.85, -5.91, -1.77)}), currency="GBP")
    assert (h.pick, h.rule) == ("rules", "revenue")
    assert h.reason == (
        "rules earns more revenue@10 than cf: £3.85 more per query (paired CI £1.77 to £5.91, excludes 0)"
    )
    h = tie_break(_h(**{"revenue@10": H2HRow("revenue@10", 44.0, 42.0, 2.0, 0.5, 3.5)}))
    assert (h.pick, h.rule) == ("cf", "revenue")


def test_coverage_ten_points_ahead_breaks_the_tie_when_revenue_does_not() -> None:
    h = tie_break(_h(**{"coverage@10": H2HRow("coverage@10", 0.339, 0.679, -0.34)}))
    assert (h.pick, h.rule) == ("rules", "coverage")
    assert "rules covers 68% of the catalog against 34% for cf" in h.reason
    # exactly 10 points is enough; 9.9 is not (then the fallback rule is next, which does not apply here)
    assert tie_break(_h(**{"coverage@10": H2HRow("coverage@10", 0.50, 0.40, 0.10)})).rule == "coverage"
    assert tie_break(_h(**{"coverage@10": H2HRow("coverage@10", 0.499, 0.40, 0.099)})).rule != "coverage"


def test_lower_fallback_share_breaks_the_tie_next() -> None:
    h = tie_break(_h(fallback_share=H2HRow("fallback_share", 0.019, 0.135, -0.116, -0.127, -0.106)))
    assert (h.pick, h.rule) == ("cf", "fallback")
    assert "cf falls back to best-sellers on 1.9% of queries against 13.5% for rules" in h.reason
    # shares without a CI (older runs, no per-query flags) do not decide
    assert tie_break(_h(fallback_share=H2HRow("fallback_share", 0.0, 0.5, -0.5))).rule != "fallback"


def test_twice_as_fast_serving_breaks_the_tie_next() -> None:
    h = tie_break(_h(serving_ms=H2HRow("serving_ms", 3.0, 1.5, 1.5)))
    assert (h.pick, h.rule) == ("rules", "speed")
    assert "rules serves 2.0× faster than cf" in h.reason
    assert tie_break(_h(serving_ms=H2HRow("serving_ms", 2.9, 1.5, 1.4))).rule == "primary"


def test_otherwise_the_leader_on_the_primary_metric() -> None:
    h = tie_break(_h())
    assert (h.pick, h.rule) == ("cf", "primary")
    # missing rows (nothing measured) fall through to the leader too
    assert tie_break(HeadToHead(a="cf", b="rules")).pick == "cf"


def test_head_to_head_cis_match_a_direct_numpy_bootstrap() -> None:
    result = fixed_result()
    pq = result.per_query_frame
    assert pq is not None
    rng = np.random.default_rng(3)
    flags = {"cf": rng.random(400) < 0.05, "rules": rng.random(400) < 0.2}
    pq = pq.assign(**{FALLBACK_COLUMN: np.nan})
    for a, f in flags.items():
        pq.loc[pq["adapter"] == a, FALLBACK_COLUMN] = f.astype(float)
    h = head_to_head(result, "cf", "rules", pq)
    cfg = result.config
    n = 400
    # the run's paired percentile bootstrap: one (n_resamples × n) draw of query indices from the seed
    idx = np.random.default_rng(cfg.seed).integers(0, n, size=(cfg.n_bootstrap, n), dtype=np.int32)
    lo_q, hi_q = 100 * (1 - cfg.confidence) / 2, 100 * (1 + cfg.confidence) / 2
    for measure, col in (
        ("revenue@10", "revenue@10"),
        ("novelty@10", "novelty@10"),
        ("fallback_share", FALLBACK_COLUMN),
    ):
        x = pq.loc[pq["adapter"] == "cf", col].to_numpy(float)
        y = pq.loc[pq["adapter"] == "rules", col].to_numpy(float)
        d = x[idx].mean(axis=1) - y[idx].mean(axis=1)
        row = h.get(measure)
        assert row is not None and row.n == n
        assert row.diff == pytest.approx(x.mean() - y.mean(), abs=1e-12)
        assert row.value_a == pytest.approx(x.mean()) and row.value_b == pytest.approx(y.mean())
        assert row.ci_low == pytest.approx(np.percentile(d, lo_q), abs=1e-9)
        assert row.ci_high == pytest.approx(np.percentile(d, hi_q), abs=1e-9)
    cov = h.get("coverage@10")
    assert cov is not None and cov.diff == pytest.approx(0.6 - 0.3) and cov.ci_low is None
    fit = h.get("fit_seconds")
    assert fit is not None and fit.value_a == 0.5 and fit.diff == 0.0
    serve = h.get("serving_ms")  # no latency measured: batch recommend time / queries, 0.25 s / 400
    assert serve is not None and serve.value_a == pytest.approx(0.625) and "batch" in serve.note


def test_a_tie_carries_the_pick_to_the_headline_the_report_and_the_run_directory(tmp_path: Path) -> None:
    from xsell_eval.report.markdown import render_markdown
    from xsell_eval.results import read_run, write_run

    result = fixed_result()
    base = result.decided()
    assert base.runner_up is not None
    # make the fixture's cf-vs-rules a tie (p = 0.3), then add the head to head as decide() does for a tie
    tied = replace(
        base,
        better=("cf", "rules"),
        runner_up=replace(base.runner_up, paired=PairedTest(n=400, diff=0.01, p_value=0.3)),
    )
    assert tied.tied
    h2h = tie_break(head_to_head(result, "cf", "rules", result.per_query_frame), currency="GBP")
    tied = replace(tied, head_to_head=h2h)
    assert tied.pick == h2h.pick
    line = tied.headline()
    assert line.startswith(f"use {h2h.pick} instead of the baseline popular — tied with ") and h2h.reason in line
    md = render_markdown(replace(result, decision=tied))
    first = md.split("\n## ", 2)[1]
    assert f"**Recommendation: use `{h2h.pick}`**" in first and "**tie-break:**" in first
    assert "## Head to head" in md and f"**Pick: `{h2h.pick}`** — {h2h.reason}." in md
    # JSON round trip (summary.json keeps the head to head)
    assert Decision.from_dict(tied.to_dict()) == tied
    run = tmp_path / "run"
    write_run(replace(result, decision=tied), run)
    assert read_run(run).decided().head_to_head == h2h


def test_no_tie_no_head_to_head_section() -> None:
    from xsell_eval.report.markdown import render_markdown

    result = fixed_result()
    assert not result.decided().tied and result.decided().head_to_head is None
    assert "## Head to head" not in render_markdown(result)


def _tied_result(rules_revenue_factor: float) -> CompareResult:
    """The fixture with `rules` given `cf`'s hits (a tie on hit_rate@10) and its revenue scaled."""
    from xsell_eval.stats import compare_to_baseline, summarize

    result = fixed_result()
    assert result.per_query_frame is not None
    pq = {a: df.drop(columns="adapter").reset_index(drop=True) for a, df in result.per_query_frame.groupby("adapter")}
    rules = pq["cf"].copy()
    rules["revenue@10"] = rules["revenue@10"] * rules_revenue_factor
    pq["rules"] = rules
    cols = [c for c in pq["cf"].columns if "@" in c]
    est = pd.concat(
        [summarize(df, cols, seed=0, n_resamples=200).assign(adapter=a) for a, df in pq.items()], ignore_index=True
    )
    comp = compare_to_baseline(pq, "popular", cols, seed=0, n_resamples=200)
    frame = pd.concat([df.assign(adapter=a) for a, df in pq.items()], ignore_index=True)
    return replace(result, estimates=est, comparisons=comp, per_query_frame=frame, decision=None)


def test_decide_breaks_a_tie_and_focuses_on_the_pick() -> None:
    d = _tied_result(2.0).decided()
    assert d.tied and d.head_to_head is not None
    h = d.head_to_head
    # cf leads by name on an exact tie (adapter order), rules earns twice as much: the revenue rule picks rules
    assert (h.a, h.b, h.pick, h.rule) == ("cf", "rules", "rules", "revenue")
    assert d.winner == "rules" and d.pick == "rules" and d.runner_up is not None and d.runner_up.adapter == "cf"
    assert d.vs_baseline is not None and d.vs_baseline.adapter == "rules"
    assert d.money is not None and d.money.per_1000 is not None
    rev = d.head_to_head.get("revenue@10")
    assert rev is not None and rev.diff is not None and rev.diff < 0  # cf − rules
    assert d.headline().startswith("use rules instead of the baseline popular — tied with cf on hit_rate@10")
    # the same revenue: nothing separates them on revenue, coverage (60% vs 30%: 30 points) decides for cf
    d2 = _tied_result(1.0).decided()
    assert d2.head_to_head is not None and (d2.head_to_head.pick, d2.head_to_head.rule) == ("cf", "coverage")
    assert d2.winner == "cf" and d2.pick == "cf"


def test_money_per_month_at_the_data_s_own_rate() -> None:
    from xsell_eval.decision import basket_rate

    result = fixed_result()
    # the fixture's test period: 400 baskets from 2024-03-02 to 2024-04-01 = 31 calendar days
    assert basket_rate(result) == (400 / 31, 400, 31)
    m = result.decided().money
    assert m is not None and m.per_1000 is not None and m.per_month is not None
    # per month = difference per basket × 400 / 31 baskets a day × 30 days
    assert m.per_month == pytest.approx(m.per_1000 / 1000 * 400 / 31 * 30)
    assert m.per_month_ci_low == pytest.approx((m.ci_low or 0) / 1000 * 400 / 31 * 30)
    assert m.per_month_ci_high == pytest.approx((m.ci_high or 0) / 1000 * 400 / 31 * 30)
    from xsell_eval.report.markdown import render_markdown

    first = render_markdown(result).split("\n## ", 2)[1]
    assert "At the test period's own rate — 13 baskets a day (400 over 31 days), × 30 — that is **+£" in first
    assert "a month, an offline ceiling**" in first
    # no dates in the split: no monthly figure, and no sentence about it
    undated = replace(result, split={"kind": "random"}, decision=None)
    assert undated.decided().money is not None and undated.decided().money.per_month is None  # type: ignore[union-attr]
    assert "a month, an offline ceiling" not in render_markdown(undated)


GOLDEN_TIE = Path(__file__).parent / "golden" / "report_tie.md"


def test_golden_tie_report_first_screen_and_head_to_head() -> None:
    """The golden of a tie: the Decision and Head to head sections of the fixture rigged into a tie.

    Update deliberately, like tests/golden/report.md:
    ``XSELL_UPDATE_GOLDEN=1 pytest tests/test_headtohead.py -k golden``.
    """
    result = _tied_result(2.0)
    md = render_markdown(replace(result, decision=result.decided()))
    start = md.index("## Decision")
    h2h = md.index("## Head to head")
    end = md.index("\n## ", h2h + 1)
    text = md[start:end].rstrip("\n") + "\n"
    if os.environ.get("XSELL_UPDATE_GOLDEN"):
        GOLDEN_TIE.write_text(text, encoding="utf-8")
    assert text == GOLDEN_TIE.read_text(encoding="utf-8"), (
        "tie report changed; if intended: XSELL_UPDATE_GOLDEN=1 pytest tests/test_headtohead.py -k golden"
    )
