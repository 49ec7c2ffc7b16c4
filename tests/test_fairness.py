"""Fairness and popularity bias: exposure by hand, cluster-robust gaps against statsmodels, Holm, groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from xsell_eval.data.dataset import Dataset
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


EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "online_retail.csv.gz"


def _usual_country(raw: pd.DataFrame) -> pd.Series:
    """Reference (the rule fairness used when it re-read the file): per customer id, the Country of
    most of their lines in the file, ties alphabetical."""
    ids = raw["CustomerID"].dropna().astype("int64").astype(str)
    pairs = pd.DataFrame({"user": ids, "country": raw.loc[ids.index, "Country"]}).dropna()
    counts = pairs.value_counts(["user", "country"]).rename("n").reset_index()
    counts = counts.sort_values(["user", "n", "country"], ascending=[True, False, True])
    return counts.drop_duplicates("user").set_index("user")["country"]


@pytest.mark.skipif(
    not EMBEDDED.is_file(), reason="the embedded UCI Online Retail (data/online_retail.csv.gz) is absent"
)
def test_embedded_online_retail_country_groups_as_when_fairness_read_the_file() -> None:
    from xsell_eval.data.loaders import load_dataset

    ds = load_dataset()
    raw = pd.read_csv(EMBEDDED, usecols=["CustomerID", "Country"], dtype={"Country": str})
    expected = _usual_country(raw).reindex(ds.user_ids).to_numpy(dtype=object)
    assert ds.user_country is not None and ds.user_country.tolist() == expected.tolist()
    assert ds.n_users == 4324 and sum(c is None for c in ds.user_country) == 0
    # the groups user_groups forms from it are those of the old per-file read, query for query
    train = ds.subset(ds.interactions["timestamp"].to_numpy() < np.datetime64("2011-09-01"))
    rng = np.random.default_rng(5)
    users = np.append(rng.integers(0, ds.n_users, 500), -1)
    hist = rng.integers(0, 3, users.size)
    got, contrasts, _ = user_groups(users, hist, train, country=ds.user_country)
    want, _, _ = user_groups(users, hist, train, country=expected)
    assert got["country"].tolist() == want["country"].tolist()
    assert contrasts["country"] == ("not United Kingdom", "United Kingdom")


def test_compare_groups_by_country_without_opening_the_data_file_again(tmp_path: Path) -> None:
    from xsell_eval import compare, generate_shop
    from xsell_eval.data.loaders import load_dataset

    lines = generate_shop(seed=0, n_users=300, n_items=40, n_days=60).interactions
    uid = lines["user_id"]
    number = pd.to_numeric(uid.str[1:], errors="coerce")
    country = np.where(number % 3 == 0, "France", "United Kingdom")
    csv = pd.DataFrame(
        {
            "InvoiceNo": lines["basket_id"],
            "StockCode": lines["item_id"],
            "Quantity": lines["quantity"],
            "InvoiceDate": lines["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "UnitPrice": lines["price"],
            "CustomerID": uid,
            "Country": country,
        }
    )
    path = tmp_path / "online_retail.csv"
    csv.to_csv(path, index=False)
    ds = load_dataset(path)
    path.unlink()  # the report's fairness must not need the file any more
    result = compare(["cf"], ds, ks=(5,), n_bootstrap=100, metrics=("hit_rate",))
    fair = result.fairness
    assert fair is not None and fair.contrasts["country"] == ("not United Kingdom", "United Kingdom")
    assert not any(n.startswith("country") for n in fair.notes)
    # by hand: each query's customer -> country; countries with < 20 test customers pooled as "other"
    by_user = dict(zip(uid[uid.notna()], country[uid.notna().to_numpy()], strict=True))
    q = result.queries_frame
    q_country = q["user_id"].map(by_user)
    customers = q.assign(c=q_country).dropna(subset=["c"]).groupby("c")["user_id"].nunique()
    big = set(customers.index[customers >= 20])
    want = q_country.dropna().map(lambda c: c if c in big else "other").value_counts().to_dict()
    rows = fair.groups[
        (fair.groups["adapter"] == "cf")
        & (fair.groups["grouping"] == "country")
        & (fair.groups["metric"] == "long_tail_share")
    ]
    assert dict(zip(rows["group"], rows["n"], strict=True)) == want


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
