"""Fairness and popularity bias: exposure by hand, cluster-robust gaps against statsmodels, Holm, groups."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from xsell_eval.data.dataset import Dataset
from xsell_eval.data.sources.online_retail import read_user_country
from xsell_eval.errors import ConfigError
from xsell_eval.fairness import (
    FairnessSummary,
    cluster_mean_ci,
    cluster_ols_gap,
    exposure_metrics,
    fairness_summary,
    gini,
    long_tail_mask,
    user_groups,
)
from xsell_eval.results import plain


# --------------------------------------------------------------------------- item side
def test_gini_hand_computed_and_against_the_mean_absolute_difference() -> None:
    # sorted [1, 2, 3]: Σ(2i − n − 1)x = −2·1 + 0·2 + 2·3 = 4; n Σx = 18
    assert gini(np.array([3.0, 1.0, 2.0])) == pytest.approx(4 / 18)
    assert gini(np.array([0.0, 0.0, 0.0, 4.0])) == pytest.approx(0.75)  # (n − 1)/n: one item takes all
    assert gini(np.full(5, 2.0)) == pytest.approx(0.0)
    assert np.isnan(gini(np.zeros(3)))
    rng = np.random.default_rng(3)
    x = rng.poisson(2.0, 300).astype(float)
    mad = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())  # Gini's mean difference / 2μ
    assert gini(x) == pytest.approx(mad, rel=1e-12)
    with pytest.raises(ConfigError, match="non-negative"):
        gini(np.array([-1.0, 2.0]))


def test_long_tail_is_outside_the_head_of_80_percent() -> None:
    # 100 occurrences: 50 + 30 = 80 -> head {a, b}; the rest (and the never-bought item) is long tail
    pop = np.array([50, 30, 10, 5, 5, 0])
    assert long_tail_mask(pop).tolist() == [False, False, True, True, True, True]
    assert long_tail_mask(pop, head_share=0.5).tolist() == [False, True, True, True, True, True]


def test_exposure_hand_computed() -> None:
    pop = np.array([50, 30, 10, 5, 5, 0])  # baskets holding each item, of 100 training baskets
    items = np.array([[0, 1, 2], [0, 5, -1], [-1, -1, -1]])
    values, lt_q, arp_q = exposure_metrics(items, pop, 100)
    # exposure over the catalog (pop > 0: items 0..4): counts [2, 1, 1, 0, 0]
    assert values["gini"] == pytest.approx(gini(np.array([2.0, 1, 1, 0, 0])))
    assert values["items_exposed"] == 3
    assert values["unseen_share"] == pytest.approx(1 / 5)  # item 5 in 1 of 5 filled slots
    np.testing.assert_allclose(lt_q[:2], [1 / 3, 1 / 2])  # item 2 tail; item 5 tail
    assert np.isnan(lt_q[2]) and np.isnan(arp_q[2])  # empty list: left out, not a zero
    np.testing.assert_allclose(arp_q[:2], [(0.5 + 0.3 + 0.1) / 3, (0.5 + 0.0) / 2])
    assert values["long_tail_share"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert values["arp"] == pytest.approx((0.3 + 0.25) / 2)
    catalog_mean = np.mean([0.5, 0.3, 0.1, 0.05, 0.05])
    assert values["arp_ratio"] == pytest.approx(0.275 / catalog_mean)
    with pytest.raises(ConfigError, match="item index 6 is outside the 6 items"):
        exposure_metrics(np.array([[6]]), pop, 100)


# --------------------------------------------------------------------------- cluster-robust statistics
def _clustered(seed: int, n_clusters: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = rng.integers(1, 6, n_clusters)
    cl = np.repeat(np.arange(n_clusters), size)
    group = np.repeat(rng.random(n_clusters) < 0.4, size)  # a customer-level group, as in the report
    y = np.repeat(rng.normal(0, 1, n_clusters), size) + rng.normal(0, 1, cl.size) + 0.3 * group
    return y, group, cl


@pytest.mark.parametrize("seed", [0, 1])
def test_cluster_gap_matches_statsmodels_ols_cluster(seed: int) -> None:
    y, b, cl = _clustered(seed)
    gap, lo, hi, p = cluster_ols_gap(y, b, cl)
    ref = sm.OLS(y, sm.add_constant(b.astype(float))).fit(cov_type="cluster", cov_kwds={"groups": cl}, use_t=True)
    assert gap == pytest.approx(ref.params[1], rel=1e-10)
    assert (lo, hi) == pytest.approx(tuple(ref.conf_int()[1]), rel=1e-9)
    assert p == pytest.approx(ref.pvalues[1], rel=1e-8)


def test_cluster_mean_ci_matches_statsmodels_intercept_only() -> None:
    y, _, cl = _clustered(5)
    mean, lo, hi = cluster_mean_ci(y, cl)
    ref = sm.OLS(y, np.ones((y.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": cl}, use_t=True)
    assert mean == pytest.approx(ref.params[0])
    assert (lo, hi) == pytest.approx(tuple(ref.conf_int()[0]), rel=1e-9)


def test_cluster_statistics_degenerate_inputs_are_nan() -> None:
    assert np.isnan(cluster_mean_ci(np.array([]), np.array([]))[0])
    assert np.isnan(cluster_mean_ci(np.array([1.0, 2.0]), np.array([7, 7]))[1])  # one cluster: no CI
    assert np.isnan(cluster_ols_gap(np.ones(4), np.zeros(4, bool), np.arange(4))[0])  # one group empty


# --------------------------------------------------------------------------- user groups
def _train() -> Dataset:
    # users u0..u5; spends 1, 2, 3, 4, 5, 6 (price × quantity); u6 buys only in the test period
    rows = [(f"b{i}", f"u{i}", "x", float(i + 1), 1.0) for i in range(6)]
    df = pd.DataFrame(rows, columns=["basket_id", "user_id", "item_id", "price", "quantity"])
    extra = pd.DataFrame([("b9", "u6", "x", 1.0, 1.0)], columns=df.columns)
    full = Dataset.from_frames(pd.concat([df, extra], ignore_index=True))
    return full.subset(full.interactions["user_id"].to_numpy() != "u6")


def test_user_groups_history_spend_terciles_and_countries() -> None:
    train = _train()
    uidx = {u: i for i, u in enumerate(train.user_ids)}
    users = np.array([uidx[f"u{i}"] for i in range(7)] + [-1])  # 6 returning, 1 new, 1 guest
    hist = np.array([1, 1, 1, 1, 1, 1, 0, 0])
    country = np.array(["UK", "UK", "UK", "FR", "FR", "DE", "UK"], dtype=object)[
        np.argsort([uidx[f"u{i}"] for i in range(7)])
    ]
    groups, contrasts, notes = user_groups(users, hist, train, country=country, min_country_customers=2)
    assert groups["history"].tolist() == ["returning"] * 6 + ["new", None]
    # terciles of the returning customers' spends 1..6: cuts at 2.67 and 4.33
    assert groups["spend"].tolist() == ["low", "low", "mid", "mid", "high", "high", None, None]
    assert groups["country"].tolist() == ["UK", "UK", "UK", "FR", "FR", "other", "UK", None]
    assert contrasts == {"history": ("new", "returning"), "spend": ("low", "high"), "country": ("not UK", "UK")}
    assert notes == []
    _, _, notes = user_groups(users, hist, train)
    assert any("country" in n for n in notes)


def test_read_user_country_takes_each_customers_usual_country(tmp_path: Path) -> None:
    csv = (
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1,a,1,2011-01-01 10:00,1.0,17850.0,United Kingdom\n"
        "2,a,1,2011-01-01 10:00,1.0,17850.0,France\n"
        "3,a,1,2011-01-01 10:00,1.0,17850.0,United Kingdom\n"
        "4,a,1,2011-01-01 10:00,1.0,12346.0,Germany\n"
        "5,a,1,2011-01-01 10:00,1.0,,Spain\n"
    )
    path = tmp_path / "online_retail.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(csv)
    got = read_user_country(path, np.array(["12346", "17850", "99999"], dtype=object))
    assert got.tolist() == ["Germany", "United Kingdom", None]
    assert read_user_country(tmp_path, np.array(["12346"], dtype=object)).tolist() == ["Germany"]  # a folder


# --------------------------------------------------------------------------- the summary
def test_fairness_summary_gaps_are_holm_corrected_as_one_family_and_round_trip() -> None:
    train = _train()
    rng = np.random.default_rng(0)
    n = 60
    users = rng.integers(0, train.n_users, n)
    hist = np.where(users == 0, 0, 2)
    items = rng.integers(-1, train.n_items, (n, 3))
    recs = {"a": items, "b": items[:, ::-1]}
    per_query = {name: pd.DataFrame({"hit_rate@3": rng.random(n) < 0.3 + 0.1 * i}) for i, name in enumerate(recs)}
    s = fairness_summary(recs, per_query, train=train, user_idx=users, user_history=hist, k=3, metrics=("hit_rate@3",))
    assert set(s.exposure["adapter"]) == {"a", "b"}
    assert set(s.gaps["grouping"]) == {"history", "spend"}
    ok = s.gaps["p_value"].notna().to_numpy()
    expected = multipletests(s.gaps.loc[ok, "p_value"], method="holm")[1]
    np.testing.assert_allclose(s.gaps.loc[ok, "p_holm"], expected)
    assert (s.gaps["significant"] == (s.gaps["p_holm"] < 0.05)).all()
    # a gap is the difference of the two group means shown in the groups table
    row = s.gaps[(s.gaps["adapter"] == "a") & (s.gaps["grouping"] == "spend") & (s.gaps["metric"] == "hit_rate@3")]
    g = s.groups[
        (s.groups["adapter"] == "a") & (s.groups["grouping"] == "spend") & (s.groups["metric"] == "hit_rate@3")
    ]
    means = g.set_index("group")["mean"]
    assert float(row["gap"].iloc[0]) == pytest.approx(means["high"] - means["low"])
    back = FairnessSummary.from_dict(plain(s.to_dict()))
    pd.testing.assert_frame_equal(back.gaps, s.gaps, check_dtype=False)
    pd.testing.assert_frame_equal(back.exposure, s.exposure, check_dtype=False)
    assert back.contrasts == s.contrasts
    with pytest.raises(ConfigError, match="per-query rows"):
        fairness_summary(
            recs, {"a": per_query["a"].iloc[:5]}, train=train, user_idx=users, user_history=hist, k=3, metrics=()
        )
