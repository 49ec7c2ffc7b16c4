"""The A/B-test report: a Markdown section and two black-and-white plots of one result.

:class:`~xsell_eval.abtest.result.ABTestReport` holds everything (analysis, response model,
settings, offline metrics of the arms, data facts, manifest) and round-trips through
``abtest.json``. :func:`render_section` is a pure function of it (no clock, no working
directory), so re-rendering a run directory gives the same bytes.

The run directory (layout in :func:`xsell_eval.results.write_abtest_run` and docs/output.md) is
written by :mod:`xsell_eval.results`; this module only renders.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sstats

from xsell_eval.abtest.response import SOURCES, option_name
from xsell_eval.abtest.result import ABTestReport
from xsell_eval.abtest.stats import SRM_THRESHOLD
from xsell_eval.abtest.wording import duration_text, level_label
from xsell_eval.report import _format as F

__all__ = ["ABTestReport", "assumptions_table", "plot_lift", "plot_sequential", "render_report", "render_section"]
LIFT_PNG = "figures/abtest_lift.png"
_P_FLOOR = 1e-12
SEQ_PNG = "figures/abtest_sequential.png"

GENERAL_ASSUMPTIONS: tuple[tuple[str, str], ...] = (
    (
        "visitors",
        "test-period queries replayed; each visitor draws one query uniformly (with replacement once "
        "the distinct queries are used up) and is assigned to an arm at random by the split",
    ),
    ("slots", "each of the k slots is examined and accepted independently of the others, given the visitor"),
    (
        "what counts",
        "only incremental additions (not ones the shopper would have bought anyway) count for "
        "conversion, items and revenue; quantity 1 at the item's price (median price of the data)",
    ),
    ("basket value", "the basket as observed (cart + items bought later) plus the incremental additions"),
    ("traffic", "visitors arrive in random order at a constant number per day; the test ends when all have come"),
)


# ---------------------------------------------------------------------- formatting (report/_format.py)
_num = F.fmt
_table = F.table


def _pct(x: Any, signed: bool = True) -> str:
    return F.pct(x, signed=signed)


def _p(x: Any, alpha: float | None = None) -> str:
    """A p-value for the tables; near ``alpha``, enough digits to fall on the right side of it."""
    return F.p_value(x, alpha)


def _big(x: Any) -> str:
    return F.fmt(math.ceil(float(x))) if F.ok(x) else "—"


# ---------------------------------------------------------------------- sections
def decision_text(report: ABTestReport) -> str:
    """The plain decision line (first thing of the section)."""
    d = report.analysis.decision
    head, sep, rest = d.text.partition(": ")
    return f"**Decision: {head}** — {rest}" if sep else f"**Decision:** {d.text}"


def traffic_text(report: ABTestReport) -> str:
    """``84 baskets/day observed in the test period (...)`` / ``5,000 visitors/day as given by --traffic``."""
    t = report.settings.get("traffic")
    if isinstance(t, dict) and t.get("text"):
        return str(t["text"])
    return f"{report.analysis.traffic_per_day:,} visitors/day"  # runs written before the traffic was recorded


def expected_line(report: ABTestReport) -> str:
    """The response model's expected effect, which leads the first screen when the model knows it.

    Known: ``truth`` (a generated shop's own effect) and ``oracle`` (a model of all the data);
    '' otherwise and in an A/A test.
    """
    from xsell_eval.abtest.repeats import KNOWING_SOURCES, expected_effect_text

    if report.response.source not in KNOWING_SOURCES or report.settings.get("aa"):
        return ""
    return expected_effect_text(report.analysis, report.response.source)


def contradiction_line(report: ABTestReport) -> str:
    """A warning when the decision goes against the model's expected revenue effect ('' when it does not)."""
    from xsell_eval.abtest.repeats import contradiction_text

    return contradiction_text(report.analysis)


_CURSE = " (winner's curse: when power is low, significance selects the lucky draws)"


def cuped_section(report: ABTestReport) -> str:
    """Plain and CUPED-adjusted differences side by side (pre-test spend as the covariate)."""
    from xsell_eval.abtest.cuped import CupedResult
    from xsell_eval.abtest.wording import format_money

    lvl = level_label(report.analysis.alpha)
    rows = []
    for d in report.cuped:
        r = CupedResult.from_dict(d)
        conv = r.metric == "conversion"

        def show(x: float, conv: bool = conv) -> str:
            return f"{x * 100:+.2f} pp" if conv else format_money(x, signed=True)

        rows.append(
            [
                r.arm,
                "conversion" if conv else "revenue / visitor",
                f"{show(r.diff)} [{show(r.diff_low)}, {show(r.diff_high)}]",
                f"{show(r.cuped_diff)} [{show(r.cuped_low)}, {show(r.cuped_high)}]",
                f"{r.rho:.3f}" if math.isfinite(r.rho) else "—",
                f"{r.variance_reduction:.1%}" if math.isfinite(r.variance_reduction) else "—",
                show(r.expected_diff) if math.isfinite(r.expected_diff) else "—",
            ]
        )
    return (
        _table(
            [
                "arm",
                "metric",
                f"plain diff vs control [{lvl} CI]",
                f"CUPED diff [{lvl} CI]",
                "ρ",
                "variance removed",
                "true diff (model)",
            ],
            rows,
            "llrrrrr",
        )
        + "\n\nCUPED (Deng et al. 2013): covariate = the pre-test spend of the shopper whose basket the visitor "
        "replays (training-period quantity × price; 0 for guests and new shoppers); theta from the pooled within-arm "
        "covariance, so the estimate equals the OLS treatment coefficient with the centred covariate. Normal CIs "
        "with unequal variances. The variance removed is ρ²: it only helps when past spend predicts the outcome."
    )


def repeats_lines(report: ABTestReport) -> list[str]:
    """What ``--repeats`` found, in plain sentences (empty without repeats)."""
    from xsell_eval.abtest.repeats import RepeatSummary

    if not report.repeats:
        return []
    r = RepeatSummary.from_dict(report.repeats)
    lines = [
        f"Over {r.n_repeats:,} repeats of this test ({r.visitors:,} visitors each, seeds SeedSequence([{r.seed}, i])): "
        f"{r.sentence()}."
    ]
    for x in r.arms:
        line = (
            f"{x.arm} vs {r.control}: true conversion lift {_pct(x.expected_lift)}, mean estimate {_pct(x.mean_lift)} "
            f"(sd {_pct(x.sd_lift, False)}); significantly better in {x.share_better:.0%} of repeats "
            f"(power at the true effect {_pct(x.power_true, False)}), worse in {x.share_worse:.0%}"
        )
        if x.n_significant:
            over = x.overstatement
            line += (
                f"; the {x.n_significant:,} significant repeats estimate {_pct(x.mean_lift_significant)} on average"
                + (f", {over:+.0%} against the true lift" if math.isfinite(over) else "")
                + (_CURSE if x.power_true < 0.8 else "")
            )
        lines.append(line + ".")
    return lines


def repeats_section(report: ABTestReport) -> str:
    """Markdown of :func:`repeats_lines`: the sentence, then a table per treatment."""
    from xsell_eval.abtest.repeats import RepeatSummary

    r = RepeatSummary.from_dict(report.repeats)
    rows = [[lab, F.fmt(n), f"{n / r.n_repeats:.0%}"] for lab, n in r.decisions.items()]
    arm_rows = [
        [
            x.arm,
            _pct(x.expected_lift),
            _pct(x.mean_lift),
            _pct(x.mean_lift_significant),
            _pct(x.overstatement),
            f"{x.share_better:.0%}",
            _pct(x.power_true, False),
            _pct(x.expected_rpv_lift),
            _pct(x.mean_rpv_lift),
        ]
        for x in r.arms
    ]
    return (
        repeats_lines(report)[0]
        + "\n\n"
        + _table(["decision", "repeats", "share"], rows, "lrr")
        + "\n\n"
        + _table(
            [
                "arm",
                "true lift",
                "mean estimated lift",
                "mean lift if significant",
                "overstatement",
                "significantly better",
                "power at true lift",
                "true revenue/visitor lift",
                "mean estimated revenue/visitor lift",
            ],
            arm_rows,
        )
        + "\n\nOnly visitor sampling, assignment and responses are re-drawn; the adapters are fitted once. "
        "Power at the true lift: statsmodels `power_proportions_2indep` at the true conversion rates and the "
        "expected arm sizes; the share of repeats that ship should match it within binomial noise. "
        "Keeping only significant results overstates the effect when power is low (the winner's curse)."
    )


def _setup_paragraph(report: ABTestReport) -> str:
    a, s, dta = report.analysis, report.settings, report.data
    arms = ", ".join(f"{x.name} ({x.weight:.0%})" for x in a.arms)
    aa = (
        " (A/A test: every arm is the same adapter, so the run is judged as an A/A test — an A/A verdict, no ship "
        "/ keep decision — although it was not started with --aa)"
        if s.get("aa_implied")
        else " (A/A test: the same adapter in both arms)"
        if s.get("aa")
        else ""
    )
    src = report.response.source
    return (
        f"{a.n_visitors:,} simulated visitors over {a.n_days} day(s) at {traffic_text(report)}, "
        f"replaying {_big(dta.get('n_queries'))} distinct {dta.get('protocol', '')} queries from the test period of "
        f"`{dta.get('name', '?')}`; arms {arms}{aa}; top-{s.get('k', '?')} shown; acceptance source "
        f"**{src}**: {SOURCES.get(src, '')}. Control: **{a.arms[0].name}**. Primary metric: incremental "
        f"conversion (the visitor added at least one recommended item *because* it was recommended)."
    )


def arms_table(report: ABTestReport) -> str:
    """Arms with their offline metrics side by side."""
    metric_names = sorted({m for v in report.offline.values() for m in v})
    header = ["arm", "adapter", "traffic", "slots filled", *metric_names]
    rows = []
    for a in report.analysis.arms:
        off = report.offline.get(a.name, {})
        rows.append(
            [a.name, a.adapter, f"{a.weight:.0%}", f"{a.fill_rate:.0%}", *[_num(off.get(m)) for m in metric_names]]
        )
    note = (
        "Offline metrics: the same adapter's top-k on the same test queries (hit rate = conversion proxy)."
        if metric_names
        else "Offline metrics were not computed for this run."
    )
    return _table(header, rows, "ll" + "r" * (len(header) - 2)) + "\n\n" + note


def results_table(report: ABTestReport) -> str:
    """Per-arm outcomes and per-comparison tests."""
    a = report.analysis
    lvl = level_label(a.alpha)
    rows = []
    for x in a.arms:
        rows.append(
            [
                x.name,
                f"{x.visitors:,}",
                f"{_pct(x.conversion, False)} [{_pct(x.conversion_low, False)}, {_pct(x.conversion_high, False)}]",
                f"{_num(x.revenue_per_visitor)} [{_num(x.rpv_low)}, {_num(x.rpv_high)}]",
                _num(x.items_per_visitor),
                _num(x.accepted_per_visitor),
                _num(x.basket_value),
                _pct(x.expected_conversion, False),
                _num(x.expected_rpv),
            ]
        )
    t1 = _table(
        [
            "arm",
            "visitors",
            f"conversion [{lvl} CI]",
            f"revenue / visitor [{lvl} CI]",
            "items added / visitor",
            "widget adds / visitor",
            "basket value",
            "expected conversion (model)",
            "expected revenue / visitor (model)",
        ],
        rows,
    )
    rows2 = []
    for c in a.comparisons:
        mark = " ▲" if c.significant and c.lift > 0 else (" ▼" if c.significant else "")
        rows2.append(
            [
                f"{c.arm} vs {c.control}{mark}",
                f"{_pct(c.lift)} [{_pct(c.lift_low)}, {_pct(c.lift_high)}]",
                f"{c.diff * 100:+.2f} pp [{c.diff_low * 100:+.2f}, {c.diff_high * 100:+.2f}]",
                f"{c.z:.2f}" if math.isfinite(c.z) else "—",
                _p(c.p_value, a.alpha),
                _p(c.p_holm, a.alpha),
                f"{_pct(c.rpv_lift)} [{_pct(c.rpv_lift_low)}, {_pct(c.rpv_lift_high)}]",
                _p(c.rpv_p_value, a.alpha),
                _pct(c.expected_lift),
                _pct(c.expected_rpv_lift),
            ]
        )
    t2 = _table(
        [
            "comparison",
            f"conversion lift [{lvl} CI]",
            f"conversion diff [{lvl} CI]",
            "z",
            "p",
            "p (Holm)",
            f"revenue/visitor lift [{lvl} CI]",
            "p (Welch)",
            "expected conversion lift (model)",
            "expected revenue/visitor lift (model)",
        ],
        rows2,
    )
    srm = (
        f"**Sample-ratio mismatch: WARNING** — the arms' visitor counts differ from the planned split "
        f"(chi² = {a.srm_chi2:.2f}, p = {_p(a.srm_p, SRM_THRESHOLD)} < 0.001). In a live test this would point to an "
        "assignment or logging fault; in this simulation it is chance — re-run with another seed."
        if a.srm_flag
        else f"Sample-ratio check: OK (chi² = {a.srm_chi2:.2f}, p = {_p(a.srm_p, SRM_THRESHOLD)}; "
        "a mismatch is flagged below p = 0.001)."
    )
    return (
        t1
        + "\n\n"
        + t2
        + f"\n\nIntervals are {lvl} (alpha {a.alpha:g}). ▲/▼: conversion significant after Holm correction at "
        + f"alpha {a.alpha:g}. *Expected (model)* values are what the response model implies over the replayed "
        "queries — the truth the test estimates (on a synthetic shop with `--response truth`, the generator's "
        "truth).\n\n" + srm
    )


def plan_section(report: ABTestReport) -> str:
    """Sample size for the MDE and for the observed effect."""
    a = report.analysis
    p = a.plan
    t = a.traffic_per_day
    impossible = math.isfinite(p.baseline) and 0 < p.baseline < 1 and p.baseline * (1 + p.mde) >= 1
    days = math.ceil(p.total_visitors / t) if math.isfinite(p.total_visitors) else None
    rows = [
        ["control conversion (observed)", _pct(p.baseline, False)],
        ["minimum detectable effect (relative)", _pct(p.mde)],
        [
            "alpha (two-sided)",
            f"{p.alpha:g}"
            + (f" (per comparison {p.alpha_per_comparison:.4g}, Bonferroni)" if len(a.comparisons) > 1 else ""),
        ],
        ["power", f"{p.power:.0%}"],
        [f"visitors per treatment arm ({p.method}, used)", _big(p.n_treatment)],
        [f"visitors per treatment arm ({p.other_method}, for reference)", _big(p.n_treatment_other_method)],
        ["visitors in total (all arms)", _big(p.total_visitors)],
        ["days at the current traffic", "—" if days is None else f"{duration_text(days)} at {traffic_text(report)}"],
    ]
    if impossible:
        rows.append(
            [
                "no plan",
                f"the MDE {_pct(p.mde)} on a control conversion of {_pct(p.baseline, False)} implies a rate of "
                f"{p.baseline * (1 + p.mde):.0%}, above 100%",
            ]
        )
    obs = []
    for c in a.comparisons:
        obs.append(
            [
                c.arm,
                _pct(c.lift),
                "—" if not math.isfinite(c.power_observed) else f"{c.power_observed:.0%}",
                _big(c.n_for_observed),
            ]
        )
    names = {"pooled": "the pooled-variance formula", "cohen": "Cohen's h"}
    if math.isfinite(p.n_treatment) and math.isfinite(p.n_treatment_other_method):
        gap = int(p.n_treatment_other_method - p.n_treatment)
        compare = (
            f"{names.get(p.other_method, p.other_method)} would plan {_big(p.n_treatment_other_method)} visitors "
            f"per treatment arm instead of {_big(p.n_treatment)} ({gap:+,})."
        )
    else:
        compare = f"{names.get(p.other_method, p.other_method)} gives no plan either."
    why = (
        "Pooled-variance formula (as R `power.prop.test`; statsmodels `samplesize_proportions_2indep_onetail`), "
        "because it matches the pooled z test used above"
        if p.method == "pooled"
        else "Cohen's h (statsmodels `NormalIndPower`), as requested"
    )
    return (
        _table(["plan", "value"], rows, "lr")
        + f"\n\n{why}; {compare}\n\n"
        + _table(
            ["arm", "observed lift", "power at observed effect", f"visitors/arm to detect it ({p.power:.0%} power)"],
            obs,
        )
        + "\n\nPower at the observed effect is descriptive, not evidence: it only restates the p-value."
    )


def sequential_section(report: ABTestReport) -> str:
    """Day-by-day monitoring summary."""
    a = report.analysis
    rows = []
    for s in a.sequential:
        final = s.bound[-1] if s.bound else math.nan
        rows.append(
            [
                f"{s.arm} vs {s.control}",
                "—" if s.decision_day is None else f"day {s.decision_day}",
                "—" if s.naive_day is None else f"day {s.naive_day}",
                f"{final:.3f}" if math.isfinite(final) else "—",
                f"{s.z[-1]:.2f}" if s.z and math.isfinite(s.z[-1]) else "—",
            ]
        )
    every = f"every {a.look_every} days" if a.look_every > 1 else "at the end of every day"
    s_alpha = a.sequential[0].alpha if a.sequential else a.alpha
    split = f" (= alpha {a.alpha:g} / {len(a.comparisons)} treatments, Bonferroni)" if len(a.comparisons) > 1 else ""
    fixed = float(sstats.norm.isf(s_alpha / 2))
    return (
        f"Looks {every}; boundaries from Lan-DeMets alpha spending ({a.spending}), computed by recursive numerical "
        "integration, with the information fraction = visitors so far / planned visitors. Each comparison's "
        f"boundaries spend a total two-sided alpha of {s_alpha:.3g}{split} over all looks, so the final boundary is "
        f"above the fixed-horizon critical value {fixed:.3f}: part of the alpha went to the earlier looks. A result "
        "can therefore be significant at the planned horizon without ever crossing the boundary; the decision "
        "says so when that happens.\n\n"
        + _table(
            ["comparison", "sequential decision", "naive peeking would stop", "final boundary for abs(z)", "final z"],
            rows,
        )
        + f"\n\nNaive peeking (stopping the first day p < {s_alpha:.3g}) inflates the false-positive rate far above "
        "alpha; the sequential boundary keeps it at alpha. A decision day of — means the boundary was never crossed."
    )


def assumptions_table(report: ABTestReport) -> str:
    """The response model's parameters and the general assumptions."""
    rm = report.response
    rows = [[_option_label(n), v, m] for n, v, m in rm.describe()]
    rows += [[name, "", text] for name, text in GENERAL_ASSUMPTIONS]
    return (
        _table(["assumption", "value", "meaning"], rows, "llr".replace("r", "l"))
        + "\n\nResponse parameters are named by their `xsell-eval abtest` flag and their `[abtest]` key in an "
        "experiment file; parameters that do not apply to this response source or curve are not listed. "
        "P(added because of the widget) = examination(rank) × acceptance × (1 − organic share); "
        "see `docs/abtest.md`."
    )


def _option_label(field_name: str) -> str:
    """``p_accept_hit`` → ``--p-hit`` / `p_hit` (the CLI flag and the [abtest] key of a response parameter)."""
    key = option_name(field_name)
    return f"`--{key.replace('_', '-')}` / `{key}`"


METHODS = (
    "conversion: pooled two-proportion z test (statsmodels `test_proportions_2indep`, score, no correction = "
    "`proportions_ztest`); difference CI Newcombe; relative lift CI by the delta method on log(p_B/p_A) "
    "(statsmodels `confint_proportions_2indep`, ratio, log)",
    "revenue per visitor: Welch's t (scipy `ttest_ind`, unequal variances); CIs of the mean, the difference and "
    "the relative lift by percentile bootstrap",
    "several treatment arms: Holm correction of the p-values (statsmodels `multipletests`)",
    "sample-ratio mismatch: chi-square goodness of fit (scipy `chisquare`)",
)


def render_section(report: ABTestReport, *, heading: str = "##") -> str:
    """The Markdown A/B-test section (pure: same report → same text)."""
    h2, h3 = heading, heading + "#"
    expected, warn = expected_line(report), contradiction_line(report)
    parts = [
        f"{h2} Simulated A/B test",
        *([f"**{expected}**"] if expected else []),
        decision_text(report),
        *([f"**Warning: {warn}**"] if warn else []),
    ]
    if report.repeats:
        parts += [f"{h3} Repeated {report.repeats.get('n_repeats', 0):,} times", repeats_section(report)]
    parts += [
        _setup_paragraph(report),
        f"{h3} Arms",
        arms_table(report),
        f"{h3} Results",
        results_table(report),
    ]
    if "lift" in report.figures:
        parts.append(f"![Lift with {level_label(report.analysis.alpha)} CI]({report.figures['lift']})")
    if report.cuped:
        parts += [f"{h3} CUPED (pre-test spend as covariate)", cuped_section(report)]
    parts += [f"{h3} Sample size and duration", plan_section(report), f"{h3} Sequential monitoring"]
    parts.append(sequential_section(report))
    if "sequential" in report.figures:
        parts.append(f"![Cumulative lift and p-value by day]({report.figures['sequential']})")
    parts += [f"{h3} Assumptions", assumptions_table(report), f"{h3} Methods"]
    parts.append("\n".join(f"- {m}" for m in METHODS) + f"\n- bootstrap resamples: {report.analysis.n_boot:,}")
    cmd = report.settings.get("command")
    if cmd:
        parts += [f"{h3} Reproduce", f"```\n{cmd}\n```"]
    return "\n\n".join(parts) + "\n"


def render_report(report: ABTestReport) -> str:
    """A standalone ``report.md`` for an ``abtest`` run."""
    title = f"# A/B test simulation: {' vs '.join(a.name for a in report.analysis.arms)}\n\n"
    return title + render_section(report)


# ---------------------------------------------------------------------- plots
def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_lift(report: ABTestReport, path: str | Path) -> Path:
    """Horizontal CIs of the conversion and revenue lifts of each treatment arm (black and white)."""
    plt = _mpl()
    comps = report.analysis.comparisons
    lvl = level_label(report.analysis.alpha)
    labels, mids, los, his, exps, markers = [], [], [], [], [], []
    for c in comps:
        for metric, m, lo, hi, ex, mk in (
            ("conversion", c.lift, c.lift_low, c.lift_high, c.expected_lift, "o"),
            ("revenue/visitor", c.rpv_lift, c.rpv_lift_low, c.rpv_lift_high, c.expected_rpv_lift, "s"),
        ):
            labels.append(f"{c.arm} vs {c.control}: {metric}")
            mids.append(m)
            los.append(lo)
            his.append(hi)
            exps.append(ex)
            markers.append(mk)
    n = len(labels)
    has_expected = any(math.isfinite(e) for e in exps)
    legend_h = 0.35 if has_expected else 0.0  # the legend goes below the axes, never over the intervals
    fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.55 * max(n, 1) + legend_h), dpi=120)
    y = np.arange(n)[::-1]
    for yi, m, lo, hi, mk in zip(y, mids, los, his, markers, strict=True):
        if not (math.isfinite(m) and math.isfinite(lo) and math.isfinite(hi)):
            continue
        ax.errorbar(
            [m * 100],
            [yi],
            xerr=[[max(0.0, (m - lo) * 100)], [max(0.0, (hi - m) * 100)]],
            fmt=mk,
            color="black",
            mfc="white" if mk == "s" else "black",
            capsize=4,
            lw=1.5,
        )
    ex_y = [yi for yi, e in zip(y, exps, strict=True) if math.isfinite(e)]
    ex_x = [e * 100 for e in exps if math.isfinite(e)]
    if ex_x:
        ax.plot(ex_x, ex_y, "x", color="0.45", ms=9, mew=1.8, zorder=5, label="expected under the response model")
        fig.legend(loc="lower center", fontsize=8, frameon=False)
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(f"relative lift vs control (%), {lvl} CI")
    ax.set_title(f"Simulated A/B test: lift with {lvl} confidence interval", fontsize=10)
    ax.grid(axis="x", color="0.85", lw=0.6)
    fig.tight_layout(rect=(0.0, legend_h / fig.get_figheight(), 1.0, 1.0))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)
    return out


def plot_sequential(report: ABTestReport, path: str | Path) -> Path:
    """Top: cumulative conversion lift with its unadjusted CI; bottom: p-value by day vs alpha and boundary."""
    plt = _mpl()
    a = report.analysis
    styles = ["-", "--", "-.", ":"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.5, 6.0), dpi=120, sharex=True)
    for i, s in enumerate(a.sequential):
        ls = styles[i % len(styles)]
        d = np.asarray(s.days, dtype=float)
        lift = np.asarray(s.lift, dtype=float) * 100
        lo = np.asarray(s.lift_low, dtype=float) * 100
        hi = np.asarray(s.lift_high, dtype=float) * 100
        ax1.fill_between(d, lo, hi, color="0.85" if i == 0 else "0.92", step=None, lw=0)
        ax1.plot(d, lift, ls, color="black", lw=1.6, label=f"{s.arm} vs {s.control}")
        p = np.clip(np.asarray(s.p_naive, dtype=float), _P_FLOOR, 1.0)
        ax2.plot(d, p, ls, color="black", lw=1.6, label=f"p-value, {s.arm}")
        b = np.asarray(s.bound, dtype=float)
        p_bound = np.where(np.isfinite(b), 2.0 * sstats.norm.sf(np.where(np.isfinite(b), b, 0.0)), np.nan)
        ax2.plot(d, p_bound, ls, color="0.45", lw=1.2, marker=".", ms=4, label=f"sequential boundary ({s.arm})")
        if s.decision_day is not None:
            for ax in (ax1, ax2):
                ax.axvline(s.decision_day, color="0.3", ls=":", lw=1)
            ax1.annotate(
                f"decision day {s.decision_day}",
                (s.decision_day, ax1.get_ylim()[1]),
                fontsize=7,
                ha="left",
                va="top",
                xytext=(3, -3),
                textcoords="offset points",
            )
    ax1.axhline(0, color="black", lw=0.8)
    ax1.set_ylabel("cumulative conversion lift (%)")
    ci_lvl = level_label(a.sequential[0].ci_alpha) if a.sequential else level_label(a.alpha)
    ax1.set_title(f"Cumulative lift ({ci_lvl} CI, unadjusted) and p-value by day", fontsize=10)
    ax1.legend(loc="best", fontsize=8, frameon=False)
    s_alpha = a.sequential[0].alpha if a.sequential else a.alpha
    per = " per comparison" if len(a.sequential) > 1 else ""
    ax2.axhline(s_alpha, color="black", ls="--", lw=1, label=f"alpha = {s_alpha:.3g}{per} (naive peeking threshold)")
    ax2.set_yscale("log")
    ax2.set_ylim(_P_FLOOR / 2, 1.5)
    ax2.set_ylabel(f"p-value (log scale, floored at {_P_FLOOR:g})")
    from matplotlib.ticker import MaxNLocator

    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_xlabel("day")
    ax2.legend(loc="best", fontsize=7, frameon=False)
    for ax in (ax1, ax2):
        ax.grid(color="0.9", lw=0.6)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)
    return out
