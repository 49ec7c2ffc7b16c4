"""Report figures: PNG files in ``<run_dir>/plots/``, readable in black and white.

Every figure is a pure function of a stored :class:`~xsell_eval.pipeline.CompareResult`
(the tables that :func:`~xsell_eval.results.read_run` restores), drawn with
matplotlib's Agg renderer on a private ``Figure`` (no pyplot state), matplotlib's
default style (a user's ``matplotlibrc`` is ignored), a fixed size and DPI, and
``metadata={"Software": None}``, so drawing the same result twice gives the same bytes.

Adapters are told apart by marker, line style and hatching as well as by colour
(Okabe-Ito palette, safe for colour-blind readers and distinct in grey scale).

Figures (relative paths, as referenced from ``report.md``):

====================================  =========================================================
``plots/metric_vs_k.png``             primary metric at every cut-off k, mean with CI bars
``plots/lift_vs_baseline.png``        relative difference vs the baseline with its CI (primary
                                      metric and revenue@k), filled marker = Holm-significant
``plots/cold_start.png``              primary metric by user-history and item-popularity bucket
``plots/abtest_lift.png``             (A/B section) drawn by :mod:`xsell_eval.report.abtest`
``plots/abtest_sequential.png``       (A/B section) drawn by :mod:`xsell_eval.report.abtest`
====================================  =========================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval._lookup import CURRENCY_BY_LOADER, CURRENCY_SYMBOL, adapter_order, currency_of, metric_unit
from xsell_eval.report._format import num

__all__ = [
    "CURRENCY_BY_LOADER",
    "CURRENCY_SYMBOL",
    "adapter_order",
    "currency_of",
    "figure_cold_start",
    "figure_lift",
    "figure_metric_vs_k",
    "metric_unit",
    "planned_plots",
    "write_plots",
]

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from xsell_eval.result import CompareResult

DPI = 110
METRIC_VS_K = "plots/metric_vs_k.png"
LIFT = "plots/lift_vs_baseline.png"
COLD_START = "plots/cold_start.png"
ABTEST_LIFT = "plots/abtest_lift.png"
ABTEST_SEQUENTIAL = "plots/abtest_sequential.png"

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")
LINESTYLES = ("-", "--", "-.", ":")
HATCHES = ("", "//", "\\\\", "xx", "..", "--", "++", "oo", "||", "**")
# Okabe-Ito: distinguishable for colour-blind readers; lightness differs enough for grey scale
COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#999999")

UNIT_LABEL = {
    "share": "share of queries, 0–1",
    "currency": "currency per query",
    "ratio": "ratio",
    "bits": "bits",
}


def _unit_label(result: CompareResult, metric: str) -> str:
    """Axis unit of a metric: money in the run's currency (e.g. ``£ per query``) when it is known."""
    unit = metric_unit(metric)
    if unit == "currency":
        code = currency_of(result)
        if code:
            return f"{CURRENCY_SYMBOL.get(code, code)} per query"
    return UNIT_LABEL.get(unit, unit)


# ---------------------------------------------------------------------- shared helpers
def ci_label(confidence: float) -> str:
    """``0.95`` -> ``"95%"``: the label of the intervals (``CompareConfig.confidence``)."""
    return f"{round(100 * float(confidence), 4):g}%"


def _lvl(result: CompareResult) -> str:
    return ci_label(result.config.confidence)


def planned_plots(result: CompareResult) -> dict[str, str]:
    """Which figures this result gets: ``{key: relative path}`` (a pure function of the result).

    The Markdown renderer references exactly these; :func:`write_plots` draws exactly these.
    """
    out: dict[str, str] = {}
    cfg = result.config
    summ = result.estimates
    name = cfg.primary_metric.partition("@")[0]
    if summ is not None and not summ.empty:
        at_k = summ[summ["metric"].str.partition("@")[0] == name]
        if not at_k.empty and at_k["mean"].notna().any():
            out["metric_vs_k"] = METRIC_VS_K
    comp = result.comparisons
    if comp is not None and not comp.empty:
        sel = comp[comp["metric"] == cfg.primary_metric]
        if not sel.empty and sel["rel_diff"].notna().any():
            out["lift"] = LIFT
    b = result.buckets
    if b is not None and not b.empty and b["mean"].notna().any():
        out["cold_start"] = COLD_START
    if result.abtest is not None:
        out["abtest_lift"] = ABTEST_LIFT
        out["abtest_sequential"] = ABTEST_SEQUENTIAL
    return out


_STYLE_DEPTH = [0]


@contextmanager
def _style() -> Iterator[None]:
    """Matplotlib defaults (not the user's rc file) plus a few fixed choices, restored afterwards.

    Re-entrant: inside :func:`write_plots` the defaults are set once for all figures.
    """
    import matplotlib as mpl

    if _STYLE_DEPTH[0]:
        yield
        return
    with mpl.rc_context():
        _STYLE_DEPTH[0] += 1
        mpl.rcdefaults()
        mpl.rcParams.update(
            {
                "font.size": 9,
                "axes.titlesize": 10,
                "axes.labelsize": 9,
                "legend.fontsize": 8,
                "xtick.labelsize": 8,
                "ytick.labelsize": 8,
                "axes.grid": True,
                "grid.color": "0.88",
                "grid.linewidth": 0.6,
                "axes.axisbelow": True,
                "savefig.dpi": DPI,
                "figure.dpi": DPI,
                "path.simplify": False,
                "svg.hashsalt": "xsell-eval",
            }
        )
        try:
            yield
        finally:
            _STYLE_DEPTH[0] -= 1


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _style_of(i: int) -> dict[str, Any]:
    return {
        "marker": MARKERS[i % len(MARKERS)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
        "color": COLOURS[i % len(COLOURS)],
        "hatch": HATCHES[i % len(HATCHES)],
    }


def _yerr(mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    low = np.where(np.isfinite(lo), np.maximum(mean - lo, 0.0), 0.0)
    high = np.where(np.isfinite(hi), np.maximum(hi - mean, 0.0), 0.0)
    return np.vstack([low, high])


# ---------------------------------------------------------------------- figures
def figure_metric_vs_k(result: CompareResult) -> Figure:
    """The primary metric at every cut-off k, one line per adapter, CI bars (dodged)."""
    cfg = result.config
    name = cfg.primary_metric.partition("@")[0]
    summ = result.estimates
    sel = summ[summ["metric"].str.partition("@")[0] == name].copy()
    sel["k"] = sel["metric"].str.partition("@")[2].astype(int)
    ks = sorted(sel["k"].unique())
    order = [a for a in adapter_order(result) if a in set(sel["adapter"])]
    with _style():
        fig = _figure(7.0, 4.2)
        ax = fig.add_subplot(1, 1, 1)
        pos = np.arange(len(ks), dtype=float)
        width = 0.5 / max(len(order), 1)
        for i, a in enumerate(order):
            st = _style_of(i)
            d = sel[sel["adapter"] == a].set_index("k").reindex(ks)
            m = d["mean"].to_numpy(dtype=float)
            x = pos + (i - (len(order) - 1) / 2) * width
            ax.errorbar(
                x,
                m,
                yerr=_yerr(m, d["ci_low"].to_numpy(dtype=float), d["ci_high"].to_numpy(dtype=float)),
                marker=st["marker"],
                linestyle=st["linestyle"],
                color=st["color"],
                markerfacecolor="white" if i % 2 else st["color"],
                capsize=3,
                linewidth=1.4,
                markersize=5,
                label=a,
            )
        ax.set_xticks(pos)
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_xlabel("k: number of recommended items shown")
        unit = _unit_label(result, name)
        ax.set_ylabel(f"{name}@k ({unit})")
        ax.set_title(
            f"{name}@k by cut-off k: mean per query with {_lvl(result)} bootstrap CI\n"
            f"({result.n_queries:,} test queries)"
        )
        ax.set_ylim(bottom=0)
        ax.legend(loc="best", frameon=False, ncol=2 if len(order) > 4 else 1)
        fig.tight_layout()
        return fig


def _lift_panel(ax: Axes, result: CompareResult, metric: str, order: list[str]) -> None:
    comp = result.comparisons
    sel = comp[comp["metric"] == metric].set_index("adapter")
    names = [a for a in order if a in sel.index]
    y = np.arange(len(names))[::-1].astype(float)
    for yi, a in zip(y, names, strict=True):
        r = sel.loc[a]
        m, lo, hi = (100 * num(r[c]) for c in ("rel_diff", "rel_ci_low", "rel_ci_high"))
        if not math.isfinite(m):
            continue
        sig = bool(r["significant"]) and math.isfinite(m)
        ax.errorbar(
            [m],
            [yi],
            xerr=_yerr(np.array([m]), np.array([lo]), np.array([hi])),
            fmt="o" if sig else "s",
            color="black",
            markerfacecolor="black" if sig else "white",
            capsize=4,
            linewidth=1.4,
            markersize=6,
        )
    ax.axvline(0.0, color="black", linestyle="--", linewidth=1.0)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_xlabel(f"relative difference in {metric} vs '{result.config.baseline}' (%)")
    ax.set_title(f"{metric}: difference vs baseline '{result.config.baseline}', {_lvl(result)} paired bootstrap CI")
    ax.set_ylim(-0.7, len(names) - 0.3)


def figure_lift(result: CompareResult) -> Figure:
    """Relative difference vs the baseline with its CI; filled circle = significant after Holm."""
    from matplotlib.lines import Line2D

    cfg = result.config
    k = cfg.primary_metric.partition("@")[2]
    order = [a for a in adapter_order(result) if a != cfg.baseline]
    metrics = [cfg.primary_metric]
    rev = f"revenue@{k}"
    comp = result.comparisons
    if (
        rev != cfg.primary_metric
        and rev in set(comp["metric"])
        and comp.loc[comp["metric"] == rev, "rel_diff"].notna().any()
    ):
        metrics.append(rev)
    with _style():
        n = len(order)
        legend_h = 0.35  # the marker legend sits below the panels, never over an interval
        fig = _figure(7.0, 1.3 + len(metrics) * (0.9 + 0.35 * n) + legend_h)
        for j, m in enumerate(metrics):
            ax = fig.add_subplot(len(metrics), 1, j + 1)
            _lift_panel(ax, result, m, order)
            if j == 0:
                handles = [
                    Line2D([], [], marker="o", color="black", linestyle="", label="significant after Holm correction"),
                    Line2D(
                        [],
                        [],
                        marker="s",
                        color="black",
                        markerfacecolor="white",
                        linestyle="",
                        label="not significant",
                    ),
                ]
                fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0.0, legend_h / fig.get_figheight(), 1.0, 1.0))
        return fig


def _bucket_panel(ax: Axes, df: pd.DataFrame, title: str, metric: str, order: list[str], unit: str) -> None:
    buckets = list(dict.fromkeys(df["bucket"]))
    names = [a for a in order if a in set(df["adapter"])]
    ns = {b: int(df.loc[df["bucket"] == b, "n"].max()) for b in buckets}
    pos = np.arange(len(buckets), dtype=float)
    width = 0.8 / max(len(names), 1)
    for i, a in enumerate(names):
        st = _style_of(i)
        d = df[df["adapter"] == a].set_index("bucket").reindex(buckets)
        m = d["mean"].to_numpy(dtype=float)
        x = pos + (i - (len(names) - 1) / 2) * width
        ax.bar(
            x,
            np.nan_to_num(m),
            width=width,
            color=st["color"] if i else "0.25",
            alpha=0.85 if i else 1.0,
            edgecolor="black",
            linewidth=0.6,
            hatch=st["hatch"],
            label=a,
        )
        ok = np.isfinite(m)
        if ok.any():
            err = _yerr(m, d["ci_low"].to_numpy(dtype=float), d["ci_high"].to_numpy(dtype=float))
            ax.errorbar(x[ok], m[ok], yerr=err[:, ok], fmt="none", ecolor="black", capsize=2, linewidth=0.9)
    ax.set_xticks(pos)
    ax.set_xticklabels([f"{b}\n(n={ns[b]:,})" for b in buckets])
    ax.set_title(title)
    ax.set_ylabel(f"{metric} ({unit})")
    ax.set_ylim(bottom=0)


def overlap_note(df: pd.DataFrame, n_queries: int) -> str:
    """A line saying that the groups of one breakdown overlap, when their sizes add up to more than the queries.

    Item-popularity groups overlap: a basket that bought an unseen, a tail and a head item counts in
    all three (in each, only that group's items count as hits). User-history groups do not.
    """
    if df.empty or not n_queries:
        return ""
    total = int(df.groupby("bucket", sort=False)["n"].max().sum())
    if total <= int(n_queries):
        return ""
    return (
        f"groups overlap: a basket with items from several groups counts in each "
        f"(the n add up to {total:,} for {int(n_queries):,} queries)"
    )


def cold_start_metric(result: CompareResult) -> str:
    """The metric shown by the cold-start tables and plot (primary if broken down, else hit_rate@k)."""
    prim = result.config.primary_metric
    b = result.buckets
    if b is not None and not b.empty and prim in set(b["metric"]):
        return prim
    return f"hit_rate@{prim.partition('@')[2]}"


def figure_cold_start(result: CompareResult) -> Figure:
    """Grouped bars (hatched per adapter) of the cold-start metric by bucket, with CI bars."""
    b = result.buckets
    metric = cold_start_metric(result)
    types = list(dict.fromkeys(b["bucket_type"]))
    order = adapter_order(result)
    handles: list[Any] = []
    labels: list[str] = []
    with _style():
        fig = _figure(7.5, 3.3 * max(len(types), 1))
        for j, t in enumerate(types):
            ax = fig.add_subplot(len(types), 1, j + 1)
            df = b[(b["bucket_type"] == t) & (b["metric"] == metric)]
            label = (
                "by user history: train baskets of the shopper"
                if t.startswith("user")
                else "by popularity in train of the items bought"
            )
            unit = _unit_label(result, metric.partition("@")[0])
            _bucket_panel(ax, df, f"{metric} {label} ({_lvl(result)} CI)", metric, order, unit)
            note = overlap_note(df, result.n_queries)
            if note:
                ax.set_xlabel(note, fontsize=8, style="italic")
            if j == 0:
                handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)
        fig.tight_layout(rect=(0.0, 0.05 if len(labels) <= 5 else 0.09, 1.0, 1.0))
        return fig


def _abtest_plots(result: CompareResult, run_dir: Path) -> None:
    from xsell_eval.report.abtest import plot_lift as ab_lift
    from xsell_eval.report.abtest import plot_sequential as ab_seq

    rep = result.abtest
    if rep is None:
        return
    with _style():
        ab_lift(rep, run_dir / ABTEST_LIFT)
        ab_seq(rep, run_dir / ABTEST_SEQUENTIAL)


def plot_metric_vs_k(result: CompareResult, path: str | Path) -> Path:
    """Draw :func:`figure_metric_vs_k` into ``path`` (PNG)."""
    with _style():
        return _save(figure_metric_vs_k(result), Path(path))


def plot_lift(result: CompareResult, path: str | Path) -> Path:
    """Draw :func:`figure_lift` into ``path`` (PNG)."""
    with _style():
        return _save(figure_lift(result), Path(path))


def plot_cold_start(result: CompareResult, path: str | Path) -> Path:
    """Draw :func:`figure_cold_start` into ``path`` (PNG)."""
    with _style():
        return _save(figure_cold_start(result), Path(path))


def write_plots(result: CompareResult, run_dir: str | Path) -> dict[str, str]:
    """Draw every figure of :func:`planned_plots` into ``run_dir``; returns ``{key: relative path}``.

    The A/B figures are drawn when the run has a simulated A/B test.
    """
    d = Path(run_dir)
    planned = planned_plots(result)
    drawers = {"metric_vs_k": plot_metric_vs_k, "lift": plot_lift, "cold_start": plot_cold_start}
    with _style():
        for key, rel in planned.items():
            if key in drawers:
                drawers[key](result, d / rel)
        if "abtest_lift" in planned:
            _abtest_plots(result, d)
    return planned
