"""Popularity-penalty re-ranking: lists by hand, X+rerank through the registry, compare --rerank end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from xsell_eval.adapters.registry import create, get
from xsell_eval.cli import app
from xsell_eval.errors import ConfigError, UnknownNameError
from xsell_eval.rerank import base_spec, popularity_penalty, with_rerank
from xsell_eval.testing import conformance_data


def test_popularity_penalty_hand_computed() -> None:
    items = np.array([[4, 1, 2, -1], [3, 0, -1, -1]])
    scores = np.array([[10.0, 6.0, 2.0, np.nan], [1.0, 1.0, np.nan, np.nan]])
    pop = np.array([0.0, 10.0, 0.0, 5.0, 20.0])  # divided by 20
    # row 0: normalised [1, .5, 0] − 1·[1, .5, 0] = [0, 0, 0]: a three-way tie keeps the adapter's order
    # row 1: equal scores normalise to 1; 1 − .25 = .75 for item 3, 1 − 0 = 1 for item 0
    got_items, got_scores = popularity_penalty(items, scores, pop, 3, 1.0)
    assert got_items.tolist() == [[4, 1, 2], [0, 3, -1]]
    np.testing.assert_allclose(got_scores[0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(got_scores[1, :2], [1.0, 0.75])
    assert np.isnan(got_scores[1, 2])
    # lam = 2: row 0 becomes [1 − 2, .5 − 1, 0] = [−1, −.5, 0] -> reversed
    assert popularity_penalty(items, scores, pop, 2, 2.0)[0].tolist() == [[2, 1], [0, 3]]
    with pytest.raises(ConfigError, match="lam"):
        popularity_penalty(items, scores, pop, 2, -1.0)


def test_reranked_adapter_from_the_spec_and_lam_zero_is_the_adapter_itself() -> None:
    train, requests = conformance_data()
    cf = create("cf", params={}).fit(train).recommend(requests, 5)
    same = create("cf+rerank:lam=0,depth=4").fit(train).recommend(requests, 5)
    np.testing.assert_array_equal(same.items, cf.items)
    moved = create("cf+rerank:lam=2").fit(train).recommend(requests, 5)
    pop = train.item_basket_count
    valid = moved.items >= 0
    assert pop[moved.items[valid]].mean() < pop[cf.items[cf.items >= 0]].mean()  # less popular items shown
    # the cart never comes back (the base adapter's candidates exclude it)
    ctx = requests.context.tocsr()
    for q in range(0, len(requests), 7):
        assert not set(moved.items[q][moved.items[q] >= 0]) & set(ctx.indices[ctx.indptr[q] : ctx.indptr[q + 1]])
    assert create("cf+rerank:k_neighbors=5,lam=1").get_params()["k_neighbors"] == 5
    assert get("cf+rerank") is get("cf+rerank")
    with pytest.raises(ConfigError, match="lam"):
        create("cf+rerank:lam=-1")
    with pytest.raises(UnknownNameError):
        get("nosuch+rerank")


def test_with_rerank_and_base_spec() -> None:
    assert with_rerank(("cf", "popular"), "pop-penalty") == ("cf", "cf+rerank", "popular", "popular+rerank")
    assert with_rerank(("cf:k_neighbors=5",), "pop-penalty:lam=1,depth=2") == (
        "cf:k_neighbors=5",
        "cf+rerank:k_neighbors=5,lam=1,depth=2",
    )
    assert with_rerank(("cf",), None) == ("cf",)
    assert base_spec("cf+rerank:k_neighbors=5,lam=1,depth=2") == "cf:k_neighbors=5"
    with pytest.raises(ConfigError, match="unknown method"):
        with_rerank(("cf",), "calibrated")
    with pytest.raises(ConfigError, match="unknown parameter"):
        with_rerank(("cf",), "pop-penalty:alpha=1")


def test_compare_rerank_end_to_end(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["compare", "cf", "--data", str(shop), "--k", "5", "--metric", "hit_rate@5", "--bootstrap", "200"]
    res = CliRunner().invoke(app, [*args, "--rerank", "pop-penalty:lam=1", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    names = [a["name"] for a in summary["adapters"]]
    assert names == ["popular", "cf", "cf+rerank:lam=1"]  # the baseline joins by itself, not re-ranked
    fair = summary["extra"]["fairness"]
    exposure = {r["adapter"]: r for r in fair["exposure"]}
    assert exposure["cf+rerank:lam=1"]["long_tail_share"] > exposure["cf"]["long_tail_share"]
    assert {g["metric"] for g in fair["gaps"]} == {"hit_rate@5", "long_tail_share"}
    report = (out / "report.md").read_text()
    section = report[report.index("## Fairness and popularity bias") : report.index("## Adapters")]
    assert "`cf+rerank:lam=1` against `cf`: hit_rate@5" in section
    assert "Largest gap in hit_rate@5" in section
    assert report.index("## Cold start") < report.index("## Fairness and popularity bias")
    # the report re-rendered from the run directory shows the same section
    res = CliRunner().invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.stderr
    assert (out / "report.md").read_text() == report
