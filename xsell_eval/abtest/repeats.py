"""The same simulated A/B test repeated with N seeds: how often each decision comes out.

One simulated test is one draw. Repeating it (``xsell-eval abtest --repeats N``) shows what a
team running this test would conclude *how often*, and how far the estimated lift strays
from the simulation's true lift::

    PreparedArms (adapters fitted and slot probabilities computed ONCE)
        ──► for i in 0..N-1: simulate_prepared(seed_i) ──► analysis.analyse(...) ──► decision, lifts
        ──► RepeatSummary: decision frequencies, mean estimated lift vs the true lift,
            winner's curse (mean lift among significant repeats), power at the true effect

Only the visitors' queries, arms and responses are re-drawn; the seeds are
``numpy.random.SeedSequence([seed, i])`` so the same ``seed`` gives the same numbers. The
decision of each repeat is the one :func:`~xsell_eval.abtest.wording.decide` gives (same rules
as a single run). To keep repeats cheap, the parts no decision reads are trimmed: the revenue
bootstrap uses :data:`REPEAT_BOOTSTRAP` resamples and the day-by-day monitor (which only words
the decision) is skipped.

The *true* lift is the exact expectation of the response model over the replayed queries
(:attr:`PreparedArms.expected`); with ``response=truth`` on a generated shop it is the shop's
own effect.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from xsell_eval.abtest.analysis import Analysis, Decision, analyse
from xsell_eval.abtest.simulate import PreparedArms, simulate_prepared
from xsell_eval.errors import ConfigError

#: Bootstrap resamples per repeat (revenue CIs only; no decision reads them).
REPEAT_BOOTSTRAP = 100

#: The most repeats one command may ask for.
MAX_REPEATS = 100_000


def repeat_seeds(seed: int, n: int) -> list[int]:
    """Seed of repeat ``i`` = first word of ``SeedSequence([seed, i])`` (reproducible, independent streams).

    Example:
        >>> repeat_seeds(0, 3) == repeat_seeds(0, 3), len(set(repeat_seeds(0, 100)))
        (True, 100)
    """
    return [int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0]) for i in range(n)]


def decision_label(d: Decision) -> str:
    """Short outcome of a decision, for counting: ``ship cf``, ``keep rules``, ``no detectable difference``..."""
    if d.kind == "ship":
        return f"ship {d.arm}" + (f" or {d.tied_with}" if d.tied_with else "")
    if d.kind == "keep-control":
        return f"keep {d.arm}"
    return {
        "no-difference": "no detectable difference",
        "needs-more": "no significant difference yet (needs more visitors)",
        "srm": "sample-ratio mismatch (result not trusted)",
        "aa-pass": "A/A pass",
        "aa-flag": "A/A flag",
    }.get(d.kind, d.kind)


@dataclass(frozen=True)
class ArmRepeats:
    """One treatment arm against the control over the repeats.

    Attributes:
        arm: treatment arm label.
        expected_lift: true relative conversion lift (exact expectation of the response model).
        expected_rpv_lift: true relative revenue-per-visitor lift.
        mean_lift, sd_lift: mean and standard deviation of the estimated conversion lift.
        mean_rpv_lift: mean estimated revenue-per-visitor lift.
        share_better, share_worse: share of repeats where conversion was significantly
            (Holm) better / worse than the control.
        n_significant: repeats with a significant conversion result (either direction).
        mean_lift_significant: mean estimated lift among those (the winner's curse: keeping
            only significant results overstates the effect when power is low); NaN if none.
        power_true: power of the test at the true rates and the expected arm sizes
            (statsmodels ``power_proportions_2indep``, two-sided, at the per-comparison alpha).
    """

    arm: str
    expected_lift: float
    expected_rpv_lift: float
    mean_lift: float
    sd_lift: float
    mean_rpv_lift: float
    share_better: float
    share_worse: float
    n_significant: int
    mean_lift_significant: float
    power_true: float

    @property
    def overstatement(self) -> float:
        """Mean significant lift / true lift − 1 (NaN when undefined)."""
        if not (math.isfinite(self.mean_lift_significant) and math.isfinite(self.expected_lift)):
            return math.nan
        if self.expected_lift == 0:
            return math.nan
        return self.mean_lift_significant / self.expected_lift - 1.0


@dataclass(frozen=True)
class RepeatSummary:
    """What :func:`run_repeats` found; JSON round-trip via :meth:`to_dict` / :meth:`from_dict`.

    Attributes:
        n_repeats: number of repeats.
        seed: the base seed (repeat ``i`` uses :func:`repeat_seeds`).
        visitors: visitors per repeat.
        alpha: level of the tests.
        control: the control arm.
        response: the response model's acceptance source.
        decisions: outcome label → number of repeats, most frequent first.
        arms: per treatment arm, see :class:`ArmRepeats`.
        seconds: wall-clock seconds of the repeats.
    """

    n_repeats: int
    seed: int
    visitors: int
    alpha: float
    control: str
    response: str
    decisions: dict[str, int]
    arms: list[ArmRepeats]
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def shares(self) -> dict[str, float]:
        """Outcome label → share of repeats."""
        return {k: v / self.n_repeats for k, v in self.decisions.items()}

    def sentence(self) -> str:
        """``ship cf in 62% of 200 repeats, no detectable difference in 38%``."""
        parts = [f"{lab} in {share:.0%}" for lab, share in self.shares().items()]
        if not parts:
            return "no repeats"
        parts[0] += f" of {self.n_repeats:,} repeats"
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN → None)."""
        from xsell_eval.results import plain

        return plain(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RepeatSummary:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["arms"] = [ArmRepeats(**_nan_for_none(a)) for a in d["arms"]]
        return cls(**d)


def _nan_for_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (math.nan if v is None else v) for k, v in d.items()}


def true_power(p_control: float, p_treatment: float, n_treatment: float, n_control: float, alpha: float) -> float:
    """Two-sided power of the two-proportion z test at the true rates (statsmodels ``power_proportions_2indep``)."""
    from statsmodels.stats.proportion import power_proportions_2indep

    if not (0 < p_control < 1 and 0 < p_treatment < 1) or n_treatment <= 0 or n_control <= 0:
        return math.nan
    if p_treatment == p_control:
        return float(alpha)
    return float(
        power_proportions_2indep(
            p_treatment - p_control,
            p_control,
            n_treatment,
            ratio=n_control / n_treatment,
            alpha=alpha,
            return_results=False,
        )
    )


def run_repeats(
    prepared: PreparedArms,
    *,
    repeats: int,
    n_visitors: int,
    split: Any = None,
    seed: int = 0,
    traffic_per_day: int | None = None,
    alpha: float = 0.05,
    mde: float = 0.10,
    aa: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RepeatSummary:
    """Simulate and analyse the test ``repeats`` times with seeds :func:`repeat_seeds` ``(seed, repeats)``.

    Args:
        prepared: the arms' slot probabilities (:func:`~xsell_eval.abtest.simulate.prepare_arms`),
            computed once and reused by every repeat.
        repeats: number of repeats (>= 1).
        n_visitors, split, traffic_per_day: as :func:`~xsell_eval.abtest.simulate.simulate_prepared`.
        seed: the base seed.
        alpha, mde, aa: as :func:`~xsell_eval.abtest.analysis.analyse`.
        progress: ``progress(done, total)`` after each repeat.

    Raises:
        ConfigError: ``repeats`` not an integer in [1, :data:`MAX_REPEATS`], or bad simulation settings.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or not 1 <= repeats <= MAX_REPEATS:
        raise ConfigError(f"--repeats must be an integer from 1 to {MAX_REPEATS:,}, got {repeats!r}")
    if len(prepared.arms) < 2:
        raise ConfigError(f"an A/B test needs at least two arms, got {len(prepared.arms)}")
    t0 = time.perf_counter()
    n_t = len(prepared.arms) - 1
    labels: list[str] = []
    lift = np.full((repeats, n_t), np.nan)
    rpv_lift = np.full((repeats, n_t), np.nan)
    sig = np.zeros((repeats, n_t), dtype=bool)
    weights = None
    for i, s in enumerate(repeat_seeds(seed, repeats)):
        sim = simulate_prepared(prepared, n_visitors=n_visitors, split=split, seed=s, traffic_per_day=traffic_per_day)
        weights = sim.weights
        a: Analysis = analyse(sim, alpha=alpha, mde=mde, n_boot=REPEAT_BOOTSTRAP, seed=s, aa=aa, sequential=False)
        labels.append(decision_label(a.decision))
        lift[i] = [c.lift for c in a.comparisons]
        rpv_lift[i] = [c.rpv_lift for c in a.comparisons]
        sig[i] = [c.significant for c in a.comparisons]
        if progress is not None:
            progress(i + 1, repeats)
    assert weights is not None
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    order = np.lexsort((values, -counts))
    decisions = {str(values[j]): int(counts[j]) for j in order}
    exp_c, exp_r = prepared.expected["conversion"], prepared.expected["revenue"]
    alpha_each = alpha / n_t
    arms: list[ArmRepeats] = []
    for j in range(n_t):
        a_idx = j + 1
        col, sig_j = lift[:, j], sig[:, j]
        finite = np.isfinite(col)
        sig_vals = col[sig_j & finite]
        arms.append(
            ArmRepeats(
                arm=prepared.arms[a_idx],
                expected_lift=float(exp_c[a_idx] / exp_c[0] - 1.0) if exp_c[0] > 0 else math.nan,
                expected_rpv_lift=float(exp_r[a_idx] / exp_r[0] - 1.0) if exp_r[0] > 0 else math.nan,
                mean_lift=float(col[finite].mean()) if finite.any() else math.nan,
                sd_lift=float(col[finite].std(ddof=1)) if finite.sum() > 1 else math.nan,
                mean_rpv_lift=_nanmean(rpv_lift[:, j]),
                share_better=float(np.mean(sig_j & (col > 0))),
                share_worse=float(np.mean(sig_j & (col < 0))),
                n_significant=int(sig_j.sum()),
                mean_lift_significant=float(sig_vals.mean()) if len(sig_vals) else math.nan,
                power_true=true_power(
                    float(exp_c[0]),
                    float(exp_c[a_idx]),
                    n_visitors * float(weights[a_idx]),
                    n_visitors * float(weights[0]),
                    alpha_each,
                ),
            )
        )
    return RepeatSummary(
        n_repeats=int(repeats),
        seed=int(seed),
        visitors=int(n_visitors),
        alpha=float(alpha),
        control=prepared.arms[0],
        response=prepared.response.source,
        decisions=decisions,
        arms=arms,
        seconds=time.perf_counter() - t0,
    )


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else math.nan


# ---------------------------------------------------------------------- the model's expected effect
#: Response sources whose expected effect is the shop's own (``truth``) or a model of all the data (``oracle``).
KNOWING_SOURCES = ("truth", "oracle")


def expected_effect_text(analysis: Analysis, source: str) -> str:
    """One line per treatment with the response model's true lifts, e.g. for the first screen.

    With ``truth`` (a generated shop) this is the shop's real effect; otherwise it is the exact
    expectation under the response model (``oracle``: fitted on all the data; ``replay``: the
    held-out baskets), which the simulation's estimates scatter around.
    """
    who = {
        "truth": "the shop's true effect (generated shop, response=truth)",
        "oracle": "the response model's expected effect (oracle, fitted on all the data)",
    }.get(source, f"the response model's expected effect ({source})")
    parts = []
    for c in analysis.comparisons:
        parts.append(
            f"{c.arm} vs {c.control}: conversion {_signed(c.expected_lift)}, revenue per visitor "
            f"{_signed(c.expected_rpv_lift)}"
        )
    return f"Expected, {who}: " + "; ".join(parts) + "."


def contradiction_text(analysis: Analysis) -> str:
    """A warning when the decision goes against the model's expected revenue effect ('' when it does not).

    ``ship X`` while X's expected revenue per visitor is below the control's, or ``keep`` the
    control while the worse-converting arm's expected revenue is above it.
    """
    d = analysis.decision
    by_arm = {c.arm: c for c in analysis.comparisons}
    if d.kind == "ship" and d.arm in by_arm:
        c = by_arm[d.arm]
        if math.isfinite(c.expected_rpv_lift) and c.expected_rpv_lift < 0:
            return (
                f"This decision contradicts the model's expected effect: shipping {c.arm} is expected to change "
                f"revenue per visitor by {_signed(c.expected_rpv_lift)} against {c.control}."
            )
    if d.kind == "keep-control":
        ups = [
            c
            for c in analysis.comparisons
            if c.significant and c.lift < 0 and math.isfinite(c.expected_rpv_lift) and c.expected_rpv_lift > 0
        ]
        if ups:
            c = ups[0]
            return (
                f"This decision contradicts the model's expected effect: {c.arm} is expected to change revenue per "
                f"visitor by {_signed(c.expected_rpv_lift)} against {c.control}, yet the test keeps the control."
            )
    return ""


def _signed(x: float) -> str:
    return f"{x:+.1%}" if math.isfinite(x) else "n/a"


__all__ = [
    "KNOWING_SOURCES",
    "MAX_REPEATS",
    "REPEAT_BOOTSTRAP",
    "ArmRepeats",
    "RepeatSummary",
    "contradiction_text",
    "decision_label",
    "expected_effect_text",
    "repeat_seeds",
    "run_repeats",
    "true_power",
]
