"""Response models, the simulator, the analysis object and the report renderer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from _abtest_fixtures import prepared, shop_case

from xsell_eval.abtest.analysis import Analysis, analyse
from xsell_eval.abtest.response import (
    ResponseModel,
    cooccurrence_conditional,
    make_acceptance,
    slot_probabilities,
)
from xsell_eval.abtest.result import ABTestReport
from xsell_eval.abtest.simulate import parse_split, simulate, simulate_prepared
from xsell_eval.errors import ConfigError, DataError, UnknownNameError
from xsell_eval.queries import Queries, Recommendations
from xsell_eval.report.abtest import render_section
from xsell_eval.results import read_abtest_run, write_abtest_run


def _queries(context: list[list[int]], targets: list[list[int]], n_items: int, value: float = 2.0) -> Queries:
    def csr(rows: list[list[int]], v: float) -> sp.csr_matrix:
        r = np.repeat(np.arange(len(rows)), [len(x) for x in rows])
        c = np.array([i for x in rows for i in x], dtype=np.int64)
        return sp.csr_matrix((np.full(len(c), v), (r, c)), shape=(len(rows), n_items))

    n = len(context)
    return Queries(
        query_id=np.arange(n),
        user_idx=np.full(n, -1),
        basket_idx=np.arange(n),
        timestamp=np.full(n, np.datetime64("2024-01-01"), dtype="datetime64[ns]"),
        context=csr(context, 1.0),
        targets=csr(targets, 1.0),
        target_value=csr(targets, value),
        context_value=np.full(n, 5.0),
        user_history=np.zeros(n, dtype=np.int64),
    )


def _recs(items: list[list[int]], name: str = "x") -> Recommendations:
    a = np.array(items, dtype=np.int64)
    return Recommendations(a, np.where(a >= 0, 1.0, np.nan), name)


# ---------------------------------------------------------------------- response model


def test_response_model_examination_and_table():
    rm = ResponseModel(exam_top=0.5)
    np.testing.assert_allclose(rm.examination(3), [0.5, 0.5 / math.log2(3), 0.25])
    geo = ResponseModel(curve="geometric", exam_top=0.8, exam_decay=0.5)
    np.testing.assert_allclose(geo.examination(3), [0.8, 0.4, 0.2])
    text = str(rm)
    assert "parameter" in text.splitlines()[0] and "p_accept_hit" in text and "organic_rate" in text
    assert "exam_decay" not in [r[0] for r in rm.describe()]  # not used by the log curve
    names = [r[0] for r in ResponseModel(source="truth").describe()]
    assert "p_accept_hit" not in names and "p_accept_other" not in names
    assert ResponseModel.from_dict(rm.to_dict()) == rm


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"source": "magic"}, UnknownNameError, "unknown response source 'magic'"),
        ({"curve": "linear"}, ConfigError, "'curve' must be"),
        ({"exam_top": 0.0}, ConfigError, "'exam_top' must be in"),
        ({"p_accept_hit": 1.5}, ConfigError, "'p_accept_hit' must be in"),
        ({"organic_rate": -0.1}, ConfigError, "'organic_rate' must be in"),
        ({"oracle_smoothing": -1}, ConfigError, "oracle_smoothing"),
    ],
)
def test_response_model_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ResponseModel(**kwargs)


def test_response_from_dict_rejects_unknown():
    with pytest.raises(ConfigError, match="unknown parameter"):
        ResponseModel.from_dict({"exam_topp": 0.3})


def test_replay_slot_probabilities_hand_computed():
    q = _queries([[0], [1]], [[2, 3], [4]], n_items=6)
    items = np.array([[2, 5, -1], [4, 3, 0]])
    rm = ResponseModel(exam_top=0.6, p_accept_hit=0.4, p_accept_other=0.05, organic_rate=0.25)
    acc = make_acceptance(rm)
    sp_ = slot_probabilities(rm, acc, q, items, np.arange(6, dtype=float) + 1.0)
    e = rm.examination(3)
    exp_add = np.array([[e[0] * 0.4, e[1] * 0.05, 0.0], [e[0] * 0.4, e[1] * 0.05, e[2] * 0.05]])
    exp_inc = exp_add * np.array([[0.75, 1, 1], [0.75, 1, 1]])
    np.testing.assert_allclose(sp_.p_added, exp_add, rtol=1e-6)
    np.testing.assert_allclose(sp_.p_incremental, exp_inc, rtol=1e-6)
    np.testing.assert_allclose(sp_.price, [[3, 6, 0], [5, 4, 1]])
    ex = sp_.expected()
    np.testing.assert_allclose(ex["conversion"], 1 - np.prod(1 - exp_inc, axis=1), rtol=1e-6)
    np.testing.assert_allclose(ex["revenue"], (exp_inc * sp_.price).sum(axis=1), rtol=1e-6)


def test_oracle_conditional_and_noisy_or():
    baskets = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=float))
    cond = cooccurrence_conditional(baskets, smoothing=1.0)
    # n_a = 3, n_ab = 2, n_ac = 2 ; n_b = 3, n_bc = 1
    assert cond[0, 1] == pytest.approx(2 / 4) and cond[0, 2] == pytest.approx(2 / 4)
    assert cond[1, 2] == pytest.approx(1 / 4) and cond[0, 0] == 0
    rm = ResponseModel(source="oracle", p_accept_other=0.1, oracle_smoothing=1.0)

    class Full:
        basket_item = baskets

    acc = make_acceptance(rm, full_data=Full())
    q = _queries([[0, 1]], [[2]], n_items=3)
    a = acc.prob(q, np.array([[2, -1]]))
    assert a[0, 0] == pytest.approx(1 - 0.9 * (1 - 0.5) * (1 - 0.25))
    assert a[0, 1] == 0.0


def test_missing_truth_or_data_is_a_clear_error():
    with pytest.raises(DataError, match="needs a ground truth"):
        make_acceptance(ResponseModel(source="truth"))
    with pytest.raises(DataError, match="oracle' needs the full data set"):
        make_acceptance(ResponseModel(source="oracle"))


# ---------------------------------------------------------------------- simulator


@pytest.fixture(scope="module")
def case():
    return shop_case(seed=0)


def test_simulation_outcomes_are_consistent(case):
    sim = simulate(
        case.queries,
        {"pop": case.recs["popular"], "co": case.recs["cooc"]},
        ResponseModel(source="truth"),
        n_visitors=30_000,
        split=[0.3, 0.7],
        seed=4,
        traffic_per_day=4_000,
        item_price=case.ds.item_price,
        truth=case.truth,
    )
    assert sim.n_visitors == 30_000 and sim.n_days == 8 and sim.day.max() == 7
    np.testing.assert_array_equal(sim.converted, sim.items_added > 0)
    assert (sim.items_accepted >= sim.items_added).all()
    assert (sim.revenue_added[sim.items_added == 0] == 0).all()
    assert (sim.revenue_added[sim.items_added > 0] > 0).all()
    assert sim.visitors_per_arm().sum() == 30_000
    assert abs(sim.visitors_per_arm()[0] / 30_000 - 0.3) < 0.02
    daily = sim.daily()
    assert daily["visitors"].sum() == 30_000 and daily["conversions"].sum() == sim.converted.sum()
    assert daily["revenue"].sum() == pytest.approx(sim.revenue_added.sum())
    frame = sim.to_frame()
    assert list(frame["arm"].cat.categories) == ["pop", "co"] and len(frame) == 30_000


def test_simulation_is_deterministic_and_seeded(case):
    prep = prepared(case, ("popular", "cooc"))
    a = simulate_prepared(prep, n_visitors=5_000, seed=1)
    b = simulate_prepared(prep, n_visitors=5_000, seed=1)
    c = simulate_prepared(prep, n_visitors=5_000, seed=2)
    np.testing.assert_array_equal(a.items_added, b.items_added)
    np.testing.assert_array_equal(a.arm, b.arm)
    assert not np.array_equal(a.query_row, c.query_row)
    assert a.traffic_per_day == math.ceil(5_000 / 14)  # default: a two-week test


def test_queries_without_replacement_until_exhausted(case):
    prep = prepared(case, ("popular", "cooc"))
    n_q = prep.n_queries
    few = simulate_prepared(prep, n_visitors=n_q - 10, seed=0)
    assert len(np.unique(few.query_row)) == n_q - 10
    many = simulate_prepared(prep, n_visitors=3 * n_q, seed=0)
    assert len(np.unique(many.query_row)) < 3 * n_q


def test_conversion_matches_expectation(case):
    """Empirical conversion per arm within 4 binomial SE of the exact model expectation."""
    prep = prepared(case, ("popular", "cooc"))
    sim = simulate_prepared(prep, n_visitors=200_000, seed=9)
    n = sim.visitors_per_arm()
    conv = np.bincount(sim.arm, weights=sim.converted, minlength=2) / n
    rev = np.bincount(sim.arm, weights=sim.revenue_added, minlength=2) / n
    for a in range(2):
        p = prep.expected["conversion"][a]
        assert abs(conv[a] - p) < 4 * math.sqrt(p * (1 - p) / n[a])
        sd = sim.revenue_added[sim.arm == a].std()
        assert abs(rev[a] - prep.expected["revenue"][a]) < 4 * sd / math.sqrt(n[a])


def test_aa_arms_have_equal_expectations(case):
    prep = prepared(case, ("cooc", "cooc"))
    assert prep.expected["conversion"][0] == prep.expected["conversion"][1]
    assert prep.arms == ("cooc#0", "cooc#1")


def test_simulator_bad_input(case):
    recs = {"a": case.recs["popular"], "b": case.recs["cooc"]}
    rm = ResponseModel()
    with pytest.raises(ConfigError, match=r">= the number of arms \(2\)"):
        simulate(case.queries, recs, rm, n_visitors=1)
    with pytest.raises(ConfigError, match="sum to 1"):
        simulate(case.queries, recs, rm, n_visitors=100, split=[0.5, 0.6])
    with pytest.raises(ConfigError, match="3 weight"):
        simulate(case.queries, recs, rm, n_visitors=100, split=[0.5, 0.25, 0.25])
    with pytest.raises(ConfigError, match="traffic per day"):
        simulate(case.queries, recs, rm, n_visitors=100, traffic_per_day=0)
    short = Recommendations(case.recs["popular"].items[:5], case.recs["popular"].scores[:5], "p")
    with pytest.raises(DataError, match="recommendations for 5 queries"):
        simulate(case.queries, {"a": short, "b": case.recs["cooc"]}, rm, n_visitors=100)
    with pytest.raises(DataError, match="same number of slots"):
        simulate(case.queries, {"a": case.recs["popular"].truncate(3), "b": case.recs["cooc"]}, rm, n_visitors=100)
    with pytest.raises(DataError, match="needs a ground truth"):
        simulate(case.queries, recs, ResponseModel(source="truth"), n_visitors=100)


@pytest.mark.parametrize(
    ("text", "n", "match"),
    [("50,40", 2, "sum to 100"), ("50,x", 2, "comma-separated"), ("100", 2, "1 share"), ("120,-20", 2, "positive")],
)
def test_parse_split_errors(text, n, match):
    with pytest.raises(ConfigError, match=match):
        parse_split(text, n)


def test_parse_split_ok():
    np.testing.assert_allclose(parse_split("20, 30,50", 3), [0.2, 0.3, 0.5])


# ---------------------------------------------------------------------- analysis + report


@pytest.fixture(scope="module")
def analysis3(case):
    recs = {"pop": case.recs["popular"], "co": case.recs["cooc"], "co2": case.recs["cooc"]}
    sim = simulate(
        case.queries,
        recs,
        ResponseModel(source="truth"),
        n_visitors=24_000,
        seed=3,
        traffic_per_day=3_000,
        item_price=case.ds.item_price,
        truth=case.truth,
    )
    return sim, analyse(sim, n_boot=300, seed=1)


def test_analysis_three_arms(analysis3):
    _, an = analysis3
    assert [a.name for a in an.arms] == ["pop", "co", "co2"]
    assert [c.arm for c in an.comparisons] == ["co", "co2"]
    assert an.plan.alpha_per_comparison == pytest.approx(0.025)
    from statsmodels.stats.multitest import multipletests

    raw = [c.p_value for c in an.comparisons]
    np.testing.assert_allclose([c.p_holm for c in an.comparisons], multipletests(raw, method="holm")[1])
    for c in an.comparisons:
        assert c.lift_low <= c.lift <= c.lift_high
        assert c.rpv_lift_low <= c.rpv_lift <= c.rpv_lift_high
    s = an.sequential[0]
    assert s.days == list(range(1, 9)) and s.info[-1] == pytest.approx(1.0)
    assert an.decision.kind == "ship"  # cooc beats popular by a wide margin on this shop
    assert not an.srm_flag


def test_analysis_json_roundtrip(analysis3):
    _, an = analysis3
    d = json.loads(json.dumps(an.to_dict()))  # strict JSON
    back = Analysis.from_dict(d)
    assert back.decision == an.decision
    assert back.comparisons[0].lift == pytest.approx(an.comparisons[0].lift)
    assert back.sequential[0].bound[-1] == pytest.approx(an.sequential[0].bound[-1])


def test_analyse_rejects_bad_settings(analysis3):
    sim, _ = analysis3
    with pytest.raises(ConfigError, match="mde must be a nonzero"):
        analyse(sim, mde=0.0)
    with pytest.raises(ConfigError, match="alpha"):
        analyse(sim, alpha=0.7)


def test_report_is_pure_and_complete(analysis3, tmp_path):
    sim, an = analysis3
    rep = ABTestReport(
        analysis=an,
        response=sim.response,
        settings={"k": 5, "command": "xsell-eval abtest popular cf"},
        offline={"pop": {"hit_rate@5": 0.1}, "co": {"hit_rate@5": 0.3}},
        data={"name": "synthetic", "n_queries": sim.n_queries, "protocol": "basket-completion"},
    )
    text = render_section(rep)
    assert text == render_section(rep)
    lines = text.splitlines()
    assert lines[0] == "## Simulated A/B test"
    # the model knows the true effect (response truth), so it leads, then the decision
    assert lines[2].startswith("**Expected, the shop's true effect") and lines[4].startswith("**Decision: ship co")
    needles = (
        "### Arms",
        "hit_rate@5",
        "### Results",
        "Sample-ratio check",
        "### Sample size",
        "(pooled, used)",
        "### Sequential monitoring",
        "### Assumptions",
        "`exam_top`",
        "`organic_rate`",
        "Holm",
    )
    for needle in needles:
        assert needle in text, needle
    out = write_abtest_run(rep, tmp_path / "run", sim=sim)
    for f in (
        "abtest.json",
        "report.md",
        "visitors.parquet",
        "daily.parquet",
        out.figures["lift"],
        out.figures["sequential"],
    ):
        assert (tmp_path / "run" / f).stat().st_size > 0, f
    back = read_abtest_run(tmp_path / "run")
    assert render_section(back) == render_section(out)
    assert "![Lift with 95% CI](figures/abtest_lift.png)" in (tmp_path / "run" / "report.md").read_text()


def test_report_labels_follow_alpha(analysis3):
    """Finding 1: with alpha 0.2 every interval label says 80%, the sequential CIs included."""
    sim, _ = analysis3
    an = analyse(sim, n_boot=100, seed=1, alpha=0.2)
    assert {s.ci_alpha for s in an.sequential} == {0.2}
    rep = ABTestReport(analysis=an, response=sim.response, settings={"k": 5}, figures={"lift": "l.png"})
    text = render_section(rep)
    assert "95%" not in text
    for needle in ("conversion [80% CI]", "conversion lift [80% CI]", "revenue/visitor lift [80% CI]", "80% CI"):
        assert needle in text, needle
    assert "![Lift with 80% CI](l.png)" in text and "80% CI" in an.decision.text


def test_report_tables_show_expected_revenue_and_real_sample_size_gap(analysis3):
    """Finding 4: the model's expected revenue lift is a number in the table; finding 10: Cohen's gap is stated."""
    sim, an = analysis3
    text = render_section(ABTestReport(analysis=an, response=sim.response, settings={"k": 5}))
    assert "expected revenue/visitor lift (model)" in text and "expected revenue / visitor (model)" in text
    c = an.comparisons[0]
    row = next(line for line in text.splitlines() if line.startswith(f"| {c.arm} vs {c.control}"))
    assert row.rstrip(" |").endswith(f"| {c.expected_lift:+.1%} | {c.expected_rpv_lift:+.1%}")
    p = an.plan
    gap = int(p.n_treatment_other_method - p.n_treatment)
    assert f"instead of {p.n_treatment:,} ({gap:+,})" in text and "a few visitors" not in text


def test_multi_arm_ship_compares_the_best_two(analysis3):
    """Finding 5: co and co2 show the same lists, so they must come out 'not separable'."""
    _, an = analysis3
    d = an.decision
    assert d.kind == "ship" and {d.arm, d.tied_with} == {"co", "co2"}
    assert "not separable in this test" in d.text
    by = {a.name: a for a in an.arms}
    from statsmodels.stats.proportion import proportions_ztest

    _z, p = proportions_ztest(
        [by[d.arm].conversions, by[d.tied_with].conversions], [by[d.arm].visitors, by[d.tied_with].visitors]
    )
    assert d.head_to_head is not None and d.head_to_head["p_value"] == pytest.approx(p)


def test_analyse_refuses_an_empty_arm(case):
    """Finding 10: an arm without visitors is refused with a clear message."""
    sim = simulate(
        case.queries,
        {"a": case.recs["popular"], "b": case.recs["cooc"]},
        ResponseModel(source="truth"),
        n_visitors=30,
        split=[0.99, 0.01],
        seed=0,
        item_price=case.ds.item_price,
        truth=case.truth,
    )
    assert sim.visitors_per_arm().tolist() == [30, 0]
    with pytest.raises(ConfigError, match=r"arm\(s\) \['b'\] received no visitors out of 30"):
        analyse(sim, n_boot=100)


def test_check_visitors_per_arm():
    from xsell_eval.abtest.simulate import check_visitors_per_arm

    check_visitors_per_arm(20, [0.5, 0.5])
    with pytest.raises(ConfigError, match="every arm needs at least 10 expected visitors, so --visitors must be at "):
        check_visitors_per_arm(2, [0.5, 0.5])
    with pytest.raises(ConfigError, match="must be at least 200 for this split"):
        check_visitors_per_arm(150, [0.9, 0.05, 0.05])


def test_assumptions_use_the_option_names(analysis3):
    """Finding 6: the report names response parameters by their flag and [abtest] key."""
    from xsell_eval.report.abtest import assumptions_table

    rm = ResponseModel(source="oracle", oracle_smoothing=2.0)
    assert rm.applies("oracle_smoothing") and not rm.applies("p_accept_hit") and not rm.applies("exam_decay")
    assert not ResponseModel(source="truth").applies("p_accept_other")
    assert ResponseModel(curve="geometric").applies("exam_decay")
    text = assumptions_table(ABTestReport(analysis=analysis3[1], response=rm, settings={}))
    assert "| `--oracle-smoothing` / `oracle_smoothing` | 2.0 |" in text and "`--p-other` / `p_other`" in text
    assert "`--response` / `response`" in text and "p_hit" not in text and "p_accept" not in text
