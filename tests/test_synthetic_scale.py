"""The synthetic shop at scale (``n_lines`` / ``n_baskets``): sizes, Zipf popularity, truth, Parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from xsell_eval.columns import Columns as C
from xsell_eval.data._synthetic_baskets import zipf_attractiveness
from xsell_eval.data.loaders import load_dataset
from xsell_eval.data.synthetic import generate_shop, load_truth
from xsell_eval.errors import ConfigError

SCALE = {"n_users": 3000, "n_items": 2000, "n_days": 60, "n_lines": 60_000}


@pytest.fixture(scope="module")
def big():
    return generate_shop(seed=4, **SCALE)


def test_sizes_follow_the_targets(big):
    inter = big.interactions
    sizes = inter.groupby(inter[C.BASKET].cat.codes).size()
    assert abs(len(inter) - SCALE["n_lines"]) < 0.05 * SCALE["n_lines"]
    assert 9.0 < sizes.mean() < 11.0  # mean_basket_size=10 (Instacart: 10.1)
    assert 6 <= sizes.median() <= 9 and sizes.std() > 4  # skewed sizes, not a constant
    assert not inter.duplicated([C.BASKET, C.ITEM]).any()
    per_b = inter.groupby(inter[C.BASKET].cat.codes, observed=True).agg(
        u=(C.USER, "nunique"), t=(C.TIMESTAMP, "nunique")
    )
    assert (per_b["u"] <= 1).all() and (per_b["t"] == 1).all()
    assert 0.02 < inter[C.USER].isna().mean() < 0.1  # guest_share 5%
    # users only buy on or after their join day, items only after release
    truth = big.truth
    day = ((inter[C.TIMESTAMP] - pd.Timestamp("2024-01-01")).dt.days).to_numpy()
    item = inter[C.ITEM].cat.codes.to_numpy()
    assert (truth.item_release_day[item] <= day).all()
    user = inter[C.USER].cat.codes.to_numpy()
    known = user >= 0
    assert (truth.user_join_day[user[known]] <= day[known]).all()


def test_n_baskets_wins_and_is_deterministic():
    a = generate_shop(seed=2, n_users=500, n_items=300, n_days=30, n_baskets=1500, n_lines=10**6)
    b = generate_shop(seed=2, n_users=500, n_items=300, n_days=30, n_baskets=1500)
    c = generate_shop(seed=3, n_users=500, n_items=300, n_days=30, n_baskets=1500)
    assert a.interactions[C.BASKET].nunique() <= 1500
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert not a.interactions.equals(c.interactions)
    assert a.params["model"] == "scale" and a.params["n_baskets"] == 1500


def test_zipf_popularity(big):
    a = zipf_attractiveness(np.random.default_rng(0), 1000, 0.75)
    assert sorted(a.tolist(), reverse=True)[:3] == pytest.approx([1.0, 2**-0.75, 3**-0.75])
    counts = np.sort(big.interactions[C.ITEM].value_counts().to_numpy())[::-1]
    ranks = np.arange(1, len(counts) + 1)
    mid = (ranks >= 5) & (ranks <= 500)
    slope = -np.polyfit(np.log(ranks[mid]), np.log(counts[mid]), 1)[0]
    assert 0.4 < slope < 1.1  # a heavy head and a long tail, not uniform (0) popularity
    assert counts[:20].sum() / counts.sum() > 0.05


def test_seed_inclusion_probability_matches_the_truth(big):
    """base_prob is the chance that an item is a seed; seeds + complements >= it, and ranks agree."""
    truth = big.truth
    inter = big.interactions
    freq = inter[C.ITEM].cat.codes.value_counts().reindex(range(truth.n_items), fill_value=0).to_numpy()
    freq = freq / inter[C.BASKET].nunique()
    expect = truth.population_base
    on_sale = np.flatnonzero(truth.item_release_day == 0)  # the law ignores release days
    top = on_sale[np.argsort(-expect[on_sale])[:50]]
    assert np.corrcoef(freq[top], expect[top])[0, 1] > 0.9
    assert (freq[top] > 0.8 * expect[top]).all()


def test_complement_pairs_cooccur_above_independence(big):
    ds = big.to_dataset()
    bi = ds.basket_item.tocsc()
    truth = ds.meta["truth"]
    n_b = bi.shape[0]
    qi, qj = truth.complements.nonzero()
    strong = np.asarray(truth.complements[qi, qj]).ravel() > 0.2
    qi, qj = qi[strong], qj[strong]
    freq = np.asarray(bi.sum(axis=0)).ravel() / n_b
    co = np.asarray(bi[:, qi].multiply(bi[:, qj]).sum(axis=0)).ravel()
    lift = (co + 1) / (freq[qi] * freq[qj] * n_b + 1)
    assert np.median(lift) > 1.8


def test_parquet_roundtrip_through_the_loader(big, tmp_path):
    paths = big.save(tmp_path / "shop", fmt="parquet")
    assert [p.name for p in paths[:2]] == ["interactions.parquet", "catalog.parquet"]
    ds = load_dataset(tmp_path / "shop")
    assert ds.meta["loader"] == "parquet"
    assert len(ds.interactions) == len(big.interactions)
    assert ds.n_baskets == big.interactions[C.BASKET].nunique()
    assert load_truth(tmp_path / "shop").params["model"] == "scale"
    big.save(tmp_path / "shop", fmt="csv")  # the other format replaces the first
    assert not (tmp_path / "shop" / "interactions.parquet").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_lines": 0}, "n_lines must be an integer >= 1"),
        ({"n_baskets": -3}, "n_baskets must be an integer >= 1"),
        ({"n_lines": 100, "mean_basket_size": 0.5}, "mean_basket_size must be >= 1"),
        ({"n_lines": 100, "zipf_exponent": 0}, "zipf_exponent must be a positive number"),
        ({"n_lines": 100, "basket_dispersion": "x"}, "basket_dispersion must be a positive number"),
    ],
)
def test_bad_scale_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        generate_shop(**kwargs)


def test_save_rejects_unknown_format(big, tmp_path):
    with pytest.raises(ConfigError, match="format must be 'csv' or 'parquet', got 'xlsx'"):
        big.save(tmp_path, fmt="xlsx")


def test_cli_generate_lines_writes_parquet(tmp_path):
    from xsell_eval.cli import app

    out = tmp_path / "s"
    res = CliRunner().invoke(
        app, ["data", "generate", "--lines", "5000", "--users", "300", "--items", "200", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert (out / "interactions.parquet").is_file() and "interactions.parquet" in res.output
    inter = pd.read_parquet(out / "interactions.parquet")
    assert 4500 < len(inter) < 5500
