"""Fairness and popularity bias of recommendation lists: item-side exposure and user-side gaps.

Item side (who gets shown), from each adapter's top-k lists (formulae and sources: ``docs/fairness.md``):

- :func:`gini` of the recommendation exposure over the catalog (the items sold in the training
  period, the catalog of coverage@k): 0 = every item shown equally often, → 1 = a few items take
  every slot;
- :func:`long_tail_mask`: the *head* is the smallest set of most-bought items that makes up
  :data:`HEAD_SHARE` (80%) of the training item-basket occurrences (ties with the boundary item go
  to the head); every other item, never-bought ones included, is the *long tail*. The
  long-tail share is the per-query share of recommended slots holding a long-tail item,
  averaged over queries (APLT, Abdollahpouri et al. 2019);
- average recommendation popularity (ARP, Abdollahpouri et al. 2019): the per-query mean
  popularity of the recommended items (popularity = share of training baskets holding the item),
  averaged over queries; shown against the catalog's mean popularity (ratio > 1: the lists favour
  popular items).

User side (who is served well): each metric by customer group — ``history`` (new: a known customer
with no basket in the training period; returning: one or more), ``country`` (the dataset's per-user
country, :attr:`Dataset.user_country`, filled by the loader: the largest country against all others pooled), and
``spend`` (training-period spend terciles of the returning customers with test queries). Each
group's mean has a cluster-robust CI and each gap (``returning − new``, ``<largest country> − other``,
``high − low`` tercile) an OLS test with standard errors clustered by customer (CR1, t with G − 1
degrees of freedom, as statsmodels' ``cov_type="cluster"`` with ``use_t=True``); the p-values of every
adapter × grouping × metric are Holm-corrected as one family. Guests (no customer id) are their
own clusters and belong to no group.

A library module: no printing; the report renders :class:`FairnessSummary`
(:mod:`xsell_eval.report.fairness_section`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from xsell_eval.errors import ConfigError

if TYPE_CHECKING:
    from xsell_eval.data.dataset import Dataset

__all__ = [
    "EXPOSURE_COLUMNS",
    "GAP_COLUMNS",
    "GROUP_COLUMNS",
    "HEAD_SHARE",
    "FairnessSummary",
    "cluster_mean_ci",
    "cluster_ols_gap",
    "compute_fairness",
    "exposure_metrics",
    "fairness_summary",
    "gini",
    "long_tail_mask",
    "user_groups",
]

HEAD_SHARE = 0.8
"""The head makes up this share of the training item-basket occurrences; the rest of the catalog is the long tail."""

COUNTRY_MIN_CUSTOMERS = 20

REST = "not"
"""A contrast's first group ``"not X"`` stands for every grouped query outside group ``X``."""
"""A country is shown as its own group only with at least this many customers in the test queries."""

EXPOSURE_COLUMNS = (
    "adapter",
    "gini",
    "long_tail_share",
    "arp",
    "arp_ratio",
    "items_exposed",
    "unseen_share",
)
GROUP_COLUMNS = ("adapter", "grouping", "group", "metric", "mean", "ci_low", "ci_high", "n", "n_customers")
GAP_COLUMNS = (
    "adapter",
    "grouping",
    "metric",
    "group_a",
    "group_b",
    "gap",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "significant",
    "n_a",
    "n_b",
)


# ---------------------------------------------------------------------- item side
def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal; (n−1)/n: one takes all); NaN if empty or all 0.

    ``G = Σ_i (2i − n − 1) x_(i) / (n Σ x)`` over the values sorted ascending (i = 1..n).

    Example:
        >>> gini(np.array([1.0, 1.0, 1.0, 1.0]))
        0.0
        >>> round(gini(np.array([0.0, 0.0, 0.0, 4.0])), 4)
        0.75
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0 or x.sum() <= 0:
        return float("nan")
    if x[0] < 0:
        raise ConfigError(f"gini: values must be non-negative, got a minimum of {x[0]}")
    n = x.size
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * x).sum() / (n * x.sum()))


def long_tail_mask(popularity: np.ndarray, *, head_share: float = HEAD_SHARE) -> np.ndarray:
    """True for long-tail items: outside the most-bought items that make up ``head_share`` of the occurrences.

    The head is :func:`xsell_eval.metrics.item_buckets` ``== "head"`` with this ``head_share``
    (items tied with the boundary item are head); never-bought items are long tail.

    Example:
        >>> long_tail_mask(np.array([0, 50, 30, 10, 5, 5])).tolist()
        [True, False, False, True, True, True]
    """
    from xsell_eval.metrics import item_buckets

    return np.asarray(item_buckets(popularity, head_share=head_share) != "head")


def exposure_metrics(
    items: np.ndarray, popularity: np.ndarray, n_baskets: int, *, head_share: float = HEAD_SHARE
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Item-side exposure of one adapter's top-k lists.

    Args:
        items: n_queries × k item indices (-1 = empty slot).
        popularity: training baskets holding each item (length n_items).
        n_baskets: number of training baskets (popularity becomes a share of baskets).
        head_share: see :func:`long_tail_mask`.

    Returns:
        ``(values, long_tail_per_query, arp_per_query)``: ``values`` has ``gini`` (exposure over the
        items with popularity > 0), ``long_tail_share`` and ``arp`` (means over the queries with at
        least one item), ``arp_ratio`` (ARP / the catalog's mean popularity), ``items_exposed``
        (distinct catalog items shown) and ``unseen_share`` (slots holding an item never bought in
        training); the per-query arrays are NaN for an empty list.
    """
    items = np.asarray(items)
    pop = np.asarray(popularity, dtype=np.float64)
    if items.ndim != 2:
        raise ConfigError(f"exposure: items must be a 2-d array (queries × k), got shape {items.shape}")
    if n_baskets <= 0:
        raise ConfigError(f"exposure: n_baskets must be positive, got {n_baskets}")
    valid = items >= 0
    if items.size and items.max() >= len(pop):
        raise ConfigError(f"exposure: item index {int(items.max())} is outside the {len(pop)} items of the popularity")
    safe = np.where(valid, items, 0)
    counts = np.bincount(items[valid], minlength=len(pop)).astype(np.float64)
    catalog = pop > 0
    share = pop / n_baskets
    tail = long_tail_mask(pop, head_share=head_share)
    n_slots = valid.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        lt_q = np.where(valid, tail[safe], False).sum(axis=1) / n_slots
        arp_q = np.where(valid, share[safe], 0.0).sum(axis=1) / n_slots
    lt_q[n_slots == 0] = np.nan
    arp_q[n_slots == 0] = np.nan
    catalog_mean = float(share[catalog].mean()) if catalog.any() else float("nan")
    arp = float(np.nanmean(arp_q)) if np.isfinite(arp_q).any() else float("nan")
    total = float(valid.sum())
    values = {
        "gini": gini(counts[catalog]),
        "long_tail_share": float(np.nanmean(lt_q)) if np.isfinite(lt_q).any() else float("nan"),
        "arp": arp,
        "arp_ratio": arp / catalog_mean if catalog_mean > 0 else float("nan"),
        "items_exposed": float((counts[catalog] > 0).sum()),
        "unseen_share": float(counts[~catalog].sum() / total) if total else float("nan"),
    }
    return values, lt_q, arp_q


# ---------------------------------------------------------------------- cluster-robust statistics
def _clusters(cluster: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(pd.Series(np.asarray(cluster)), sort=False)
    return np.asarray(codes, dtype=np.int64), len(uniq)


def cluster_mean_ci(y: np.ndarray, cluster: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean with a cluster-robust CI: ``(mean, low, high)``; NaN bounds with fewer than 2 clusters.

    The intercept-only OLS with CR1 standard errors: ``se² = G/(G−1) Σ_g (Σ_{i∈g} (y_i − ȳ))² / n²``,
    t quantile with G − 1 degrees of freedom.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(y.mean())
    codes, g = _clusters(cluster)
    if g < 2:
        return mean, float("nan"), float("nan")
    s = np.bincount(codes, weights=y - mean, minlength=g)
    se = float(np.sqrt(g / (g - 1) * (s**2).sum()) / n)
    t = float(sps.t.ppf(0.5 + confidence / 2, g - 1))
    return mean, mean - t * se, mean + t * se


def cluster_ols_gap(
    y: np.ndarray, in_b: np.ndarray, cluster: np.ndarray, *, confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """Gap ``mean(y | b) − mean(y | a)`` from ``y ~ 1 + 1[b]`` with cluster-robust (CR1) errors.

    ``V = c (X'X)⁻¹ (Σ_g X_g'u_g u_g'X_g) (X'X)⁻¹`` with ``c = G/(G−1) · (N−1)/(N−2)``; t test and CI
    with G − 1 degrees of freedom (statsmodels ``OLS(...).fit(cov_type="cluster", use_t=True)``).

    Returns:
        ``(gap, ci_low, ci_high, p_value)``; NaN where a group is empty or there are < 2 clusters.
    """
    y = np.asarray(y, dtype=np.float64)
    d = np.asarray(in_b, dtype=np.float64)
    n = y.size
    nan = float("nan")
    if n < 3 or d.sum() == 0 or d.sum() == n:
        return nan, nan, nan, nan
    gap = float(y[d == 1].mean() - y[d == 0].mean())
    codes, g = _clusters(cluster)
    if g < 2:
        return gap, nan, nan, nan
    X = np.column_stack([np.ones(n), d])
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ (X.T @ y)
    u = y - X @ beta
    scores = np.column_stack([np.bincount(codes, weights=X[:, j] * u, minlength=g) for j in range(2)])
    meat = scores.T @ scores
    c = g / (g - 1) * (n - 1) / (n - 2)
    var = c * (xtx_inv @ meat @ xtx_inv)
    se = float(np.sqrt(max(var[1, 1], 0.0)))
    t = float(sps.t.ppf(0.5 + confidence / 2, g - 1))
    p = float(2 * sps.t.sf(abs(gap) / se, g - 1)) if se > 0 else (0.0 if gap != 0 else 1.0)
    return gap, gap - t * se, gap + t * se, p


# ---------------------------------------------------------------------- user groups
def user_groups(
    user_idx: np.ndarray,
    user_history: np.ndarray,
    train: Dataset,
    *,
    country: np.ndarray | None = None,
    min_country_customers: int = COUNTRY_MIN_CUSTOMERS,
) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, str]], list[str]]:
    """Each query's customer group under every grouping, the pair each gap compares, and notes.

    Args:
        user_idx: per-query user index (-1: guest).
        user_history: per-query training baskets of the user.
        train: the training period (for the spend terciles).
        country: per-user country (indexed by user index; None entries: unknown), or None.
        min_country_customers: countries with fewer test customers are pooled into ``other``.

    Returns:
        ``(groups, contrasts, notes)``: ``groups[name]`` is an object array per query (None: in no
        group); ``contrasts[name] = (a, b)`` is tested as ``b − a``; notes say what was left out.
    """
    from xsell_eval.columns import Columns as C

    u = np.asarray(user_idx, dtype=np.int64)
    hist = np.asarray(user_history, dtype=np.float64)
    known = u >= 0
    groups: dict[str, np.ndarray] = {}
    contrasts: dict[str, tuple[str, str]] = {}
    notes: list[str] = []
    if not known.any():
        return groups, contrasts, ["the data has no customer ids: no user groups"]
    h = np.full(u.size, None, dtype=object)
    h[known & (hist <= 0)] = "new"
    h[known & (hist > 0)] = "returning"
    groups["history"] = h
    contrasts["history"] = ("new", "returning")

    inter = train.interactions
    price = inter[C.PRICE].to_numpy(dtype=np.float64)
    qty = inter[C.QUANTITY].to_numpy(dtype=np.float64)
    tu = inter[C.USER_IDX].to_numpy(dtype=np.int64)
    value = np.where(np.isfinite(price), price, 0.0) * np.where(np.isfinite(qty), qty, 0.0)
    n_users = max(int(u.max()) + 1, int(tu.max()) + 1 if tu.size else 0, 1)
    spend = np.bincount(tu[tu >= 0], weights=value[tu >= 0], minlength=n_users)
    returning = np.unique(u[known & (hist > 0)])
    if np.isfinite(price).any() and returning.size >= 3:
        cuts = np.quantile(spend[returning], [1 / 3, 2 / 3])
        level = np.searchsorted(cuts, spend, side="right")  # 0, 1, 2 per user
        s = np.full(u.size, None, dtype=object)
        sel = known & (hist > 0)
        s[sel] = np.array(["low", "mid", "high"], dtype=object)[level[u[sel]]]
        groups["spend"] = s
        contrasts["spend"] = ("low", "high")
    else:
        notes.append("spend terciles: no prices, or fewer than 3 returning customers")

    if country is None:
        notes.append(
            "country: not in the data (a per-user country comes from Online Retail's Country column, "
            "or a csv/parquet column named country or mapped with --columns country=...)"
        )
    else:
        cq = np.full(u.size, None, dtype=object)
        cq[known] = np.asarray(country, dtype=object)[u[known]]
        has = np.array([c is not None for c in cq])
        if has.any():
            per_customer = pd.Series(cq[has]).groupby(u[has]).first().value_counts()
            big = per_customer.index[per_customer >= min_country_customers].tolist()
            largest = str(per_customer.index[0])
            cq[has] = np.where(np.isin(cq[has], big), cq[has], "other")
            groups["country"] = cq
            contrasts["country"] = (f"{REST} {largest}", largest)
        else:
            notes.append("country: no test customer has a country")
    return groups, contrasts, notes


# ---------------------------------------------------------------------- the summary
@dataclass(frozen=True, eq=False)
class FairnessSummary:
    """Exposure and user-group gaps of every adapter of a run (``summary.json``: ``extra.fairness``).

    Attributes:
        k: the cut-off of the lists (the primary metric's).
        head_share: the head's share of the training occurrences (long tail = the rest).
        catalog_items: items with a training purchase (the Gini's catalog).
        catalog_mean_popularity: their mean popularity (share of training baskets).
        exposure: one row per adapter (:data:`EXPOSURE_COLUMNS`).
        groups: per adapter, grouping, group and metric: mean with cluster-robust CI (:data:`GROUP_COLUMNS`).
        gaps: per adapter, grouping and metric: ``group_b − group_a`` with CI, p and Holm p (:data:`GAP_COLUMNS`).
        contrasts: grouping -> (group_a, group_b).
        notes: what was left out and why.
    """

    k: int
    head_share: float
    catalog_items: int
    catalog_mean_popularity: float
    confidence: float
    alpha: float
    exposure: pd.DataFrame
    groups: pd.DataFrame
    gaps: pd.DataFrame
    contrasts: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def largest_gap(self, metric: str) -> pd.Series | None:
        """The gap row of ``metric`` with the largest absolute size (any adapter, any grouping), or None."""
        g = self.gaps[(self.gaps["metric"] == metric) & self.gaps["gap"].notna()]
        if g.empty:
            return None
        return g.iloc[int(np.argmax(g["gap"].abs().to_numpy()))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tables as lists of records)."""

        def rec(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [
                {str(c): v for c, v in r.items()} for r in df.astype(object).where(df.notna(), None).to_dict("records")
            ]

        return {
            "k": self.k,
            "head_share": self.head_share,
            "catalog_items": self.catalog_items,
            "catalog_mean_popularity": self.catalog_mean_popularity,
            "confidence": self.confidence,
            "alpha": self.alpha,
            "exposure": rec(self.exposure),
            "groups": rec(self.groups),
            "gaps": rec(self.gaps),
            "contrasts": {k: list(v) for k, v in self.contrasts.items()},
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FairnessSummary:
        """Inverse of :meth:`to_dict` (missing numbers become NaN)."""

        def frame(rows: Any, cols: tuple[str, ...]) -> pd.DataFrame:
            df = pd.DataFrame(list(rows or []), columns=list(cols))
            for c in cols:
                if c not in ("adapter", "grouping", "group", "metric", "group_a", "group_b", "significant"):
                    df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
            if "significant" in df:
                df["significant"] = df["significant"].fillna(False).astype(bool)
            return df

        return cls(
            k=int(d.get("k", 0)),
            head_share=float(d.get("head_share", HEAD_SHARE)),
            catalog_items=int(d.get("catalog_items", 0)),
            catalog_mean_popularity=float(d.get("catalog_mean_popularity") or float("nan")),
            confidence=float(d.get("confidence", 0.95)),
            alpha=float(d.get("alpha", 0.05)),
            exposure=frame(d.get("exposure"), EXPOSURE_COLUMNS),
            groups=frame(d.get("groups"), GROUP_COLUMNS),
            gaps=frame(d.get("gaps"), GAP_COLUMNS),
            contrasts={k: (str(v[0]), str(v[1])) for k, v in (d.get("contrasts") or {}).items()},
            notes=tuple(d.get("notes") or ()),
        )


def fairness_summary(
    recs: Mapping[str, np.ndarray],
    per_query: Mapping[str, pd.DataFrame],
    *,
    train: Dataset,
    user_idx: np.ndarray,
    user_history: np.ndarray,
    k: int,
    metrics: tuple[str, ...],
    country: np.ndarray | None = None,
    confidence: float = 0.95,
    alpha: float = 0.05,
    head_share: float = HEAD_SHARE,
) -> FairnessSummary:
    """Exposure and user-group gaps of every adapter.

    Args:
        recs: adapter -> n_queries × K item indices (the first ``k`` columns are used).
        per_query: adapter -> per-query metrics, rows in query order (same queries as ``user_idx``).
        train: the training period (popularity, baskets, spend).
        user_idx, user_history: per query (from :class:`~xsell_eval.queries.Queries`).
        k: cut-off of the lists.
        metrics: per-query metric columns compared across groups (e.g. ``("hit_rate@10",)``).
        country: per-user country (by user index), or None when the data has none.
        confidence, alpha: CI level; significance level of the Holm-corrected gaps.
        head_share: see :func:`long_tail_mask`.
    """
    from xsell_eval.stats import holm

    pop = np.asarray(train.item_basket_count, dtype=np.float64)
    n_b = max(len(train.baskets), 1)
    user_idx = np.asarray(user_idx, dtype=np.int64)
    groups, contrasts, notes = user_groups(user_idx, user_history, train, country=country)
    cluster = np.where(user_idx >= 0, user_idx, -1 - np.arange(user_idx.size))  # guests: own clusters
    exp_rows, grp_rows, gap_rows = [], [], []
    for name, items in recs.items():
        values, lt_q, _ = exposure_metrics(np.asarray(items)[:, :k], pop, n_b, head_share=head_share)
        exp_rows.append({"adapter": name, **values})
        pq = per_query.get(name)
        if pq is None:
            continue
        if len(pq) != user_idx.size:
            raise ConfigError(f"fairness: adapter '{name}' has {len(pq)} per-query rows for {user_idx.size} queries")
        cols = {m: pq[m].to_numpy(dtype=np.float64) for m in metrics if m in pq}
        cols["long_tail_share"] = lt_q
        for gname, g in groups.items():
            a, b = contrasts[gname]
            has = pd.notna(g)
            labels = [str(x) for x in pd.unique(g[has])]
            order = sorted(labels, key=lambda x: (x == b, x != a, x))  # a first, b last (low, mid, high)
            in_a = has & (g != b) if a == f"{REST} {b}" else g == a
            for m, y in cols.items():
                ok = np.isfinite(y)
                for lab in order:
                    sel = ok & (g == lab)
                    mean, lo, hi = cluster_mean_ci(y[sel], cluster[sel], confidence=confidence)
                    grp_rows.append(
                        {
                            "adapter": name,
                            "grouping": gname,
                            "group": str(lab),
                            "metric": m,
                            "mean": mean,
                            "ci_low": lo,
                            "ci_high": hi,
                            "n": int(sel.sum()),
                            "n_customers": int(np.unique(cluster[sel]).size),
                        }
                    )
                pair = ok & (in_a | (g == b))
                gap, lo, hi, p = cluster_ols_gap(y[pair], g[pair] == b, cluster[pair], confidence=confidence)
                gap_rows.append(
                    {
                        "adapter": name,
                        "grouping": gname,
                        "metric": m,
                        "group_a": a,
                        "group_b": b,
                        "gap": gap,
                        "ci_low": lo,
                        "ci_high": hi,
                        "p_value": p,
                        "n_a": int((pair & in_a).sum()),
                        "n_b": int((pair & (g == b)).sum()),
                    }
                )
    gaps = pd.DataFrame(gap_rows, columns=[c for c in GAP_COLUMNS if c not in ("p_holm", "significant")])
    gaps["p_holm"] = holm(gaps["p_value"].to_numpy(dtype=np.float64)) if len(gaps) else np.array([], dtype=float)
    gaps["significant"] = (gaps["p_holm"] < alpha).to_numpy(dtype=bool)
    catalog = pop > 0
    return FairnessSummary(
        k=int(k),
        head_share=float(head_share),
        catalog_items=int(catalog.sum()),
        catalog_mean_popularity=float((pop[catalog] / n_b).mean()) if catalog.any() else float("nan"),
        confidence=float(confidence),
        alpha=float(alpha),
        exposure=pd.DataFrame(exp_rows, columns=list(EXPOSURE_COLUMNS)),
        groups=pd.DataFrame(grp_rows, columns=list(GROUP_COLUMNS)),
        gaps=gaps[list(GAP_COLUMNS)],
        contrasts=contrasts,
        notes=tuple(notes),
    )


def compute_fairness(config: Any, prepared: Any, outcomes: Any) -> FairnessSummary | None:
    """:func:`fairness_summary` of a run (the pipeline's call): lists and per-query values of the ok adapters.

    ``config`` is the :class:`~xsell_eval.settings.CompareConfig`, ``prepared`` the
    :class:`~xsell_eval.pipeline.Prepared` data, ``outcomes`` the adapters' outcomes. The gaps
    compare the primary metric (and the long-tail share) at the primary metric's k; None when no
    adapter has recommendations in memory (a result rebuilt without them).
    """
    from xsell_eval.metrics import parse_metric

    ok = [o for o in outcomes if o.status == "ok" and o.recs is not None]
    if not ok:
        return None
    _, k = parse_metric(config.primary_metric)
    q = prepared.queries
    return fairness_summary(
        {o.name: o.recs.items for o in ok},
        {o.name: o.per_query for o in ok if o.per_query is not None},
        train=prepared.split.train,
        user_idx=q.user_idx,
        user_history=q.user_history,
        k=int(k),
        metrics=(config.primary_metric,),
        country=prepared.dataset.user_country,  # carried from loading (by user index); no file is read here
        confidence=config.confidence,
        alpha=config.alpha,
    )
