"""`--reveal-seeds N`: the same test baskets under N seeded reveals, adapters fitted once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from xsell_eval.adapters.baselines import PopularAdapter
from xsell_eval.cli import app
from xsell_eval.config import loads_experiment
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError
from xsell_eval.pipeline import CompareConfig, run_compare
from xsell_eval.protocols import build_queries
from xsell_eval.report import markdown as M
from xsell_eval.results import read_run
from xsell_eval.reveal import seed_spread
from xsell_eval.split import make_split
from xsell_eval.testing import toy_dataset


def _basket_items(q) -> list[set[int]]:  # type: ignore[no-untyped-def]
    both = (q.context + (q.targets > 0)).tocsr()
    return [set(both.indices[both.indptr[i] : both.indptr[i + 1]].tolist()) for i in range(len(q))]


def test_reveal_seed_reveals_other_items_of_the_same_baskets() -> None:
    ds = toy_dataset()
    sp_ = make_split(ds, "temporal", seed=0, test_fraction=0.2, valid_fraction=0.1, cutoff=None)
    base = build_queries(sp_.train, sp_.test, seed=0, reveal=1)
    assert build_queries(sp_.train, sp_.test, seed=0, reveal=1, reveal_seed=None).context.nnz == base.context.nnz
    other = build_queries(sp_.train, sp_.test, seed=0, reveal=1, reveal_seed=1)
    assert np.array_equal(other.basket_idx, base.basket_idx) and np.array_equal(other.query_id, base.query_id)
    assert _basket_items(other) == _basket_items(base)  # the same items per basket, split differently
    assert (other.context != base.context).nnz > 0
    assert np.array_equal(other.context.getnnz(axis=1), np.ones(len(base)))  # still one item revealed
    again = build_queries(sp_.train, sp_.test, seed=0, reveal=1, reveal_seed=1)
    assert (again.context != other.context).nnz == 0  # seeded
    # with a query sample, the sample stays and only the reveal changes
    s0 = build_queries(sp_.train, sp_.test, seed=0, reveal=1, max_queries=20)
    s1 = build_queries(sp_.train, sp_.test, seed=0, reveal=1, max_queries=20, reveal_seed=2)
    assert np.array_equal(s0.basket_idx, s1.basket_idx)


class _CountingPopular(PopularAdapter):
    fits = 0

    def _fit(self, train: Dataset) -> None:
        type(self).fits += 1
        super()._fit(train)


def _hit_rate(recs_items: np.ndarray, q, k: int) -> float:  # type: ignore[no-untyped-def]
    """Share of queries with a target in the top k, by hand."""
    items = recs_items[:, :k]
    rows = np.repeat(np.arange(len(q)), items.shape[1])
    flat = items.ravel()
    ok = flat >= 0
    hit = np.zeros(len(flat), dtype=bool)
    hit[ok] = np.asarray(q.targets[rows[ok], flat[ok]]).ravel() > 0
    return float(hit.reshape(items.shape).any(axis=1).mean())


def test_compare_fits_once_and_scores_each_reveal() -> None:
    ds = toy_dataset()
    cfg = CompareConfig(adapters=("counting", "cf"), ks=(10,), n_bootstrap=200, reveal_seeds=3, name="seeds")
    _CountingPopular.fits = 0
    result = run_compare(cfg, dataset=ds, instances={"counting": _CountingPopular()})
    assert _CountingPopular.fits == 1  # fitted once for three reveals
    out = {o.name: o for o in result.adapters}
    assert all(len(o.reveal_seed_values) == 2 for o in out.values())
    # the values are the hit rates of the same fitted model on the reveals of seed 1 and 2, by hand
    sp_ = make_split(ds, "temporal", seed=0, test_fraction=0.2, valid_fraction=0.1, cutoff=None)
    cf = CompareConfig(adapters=("cf",)).validate()
    from xsell_eval.adapters.registry import create

    model = create("cf", seed=0, params={}).fit(sp_.train)
    for s, v in zip((1, 2), out["cf"].reveal_seed_values, strict=True):
        q = build_queries(sp_.train, sp_.test, seed=0, reveal=1, reveal_seed=s)
        assert v == pytest.approx(_hit_rate(model.recommend(q.requests, max(cf.ks)).items, q, 10))
    text = M.render_markdown(result)
    assert "### The reveal is random too: 3 reveals of the same test baskets" in text
    prim = result.estimates.query("adapter == 'cf' and metric == 'hit_rate@10'").iloc[0]
    spread = seed_spread([prim["mean"], *out["cf"].reveal_seed_values])
    assert f"{spread.sd:.4f}" in text.split("### The reveal is random too")[1].split("##")[0]
    one = run_compare(CompareConfig(adapters=("cf",), ks=(10,), n_bootstrap=200), dataset=ds)
    assert "The reveal is random too" not in M.render_markdown(one)
    assert all(o.reveal_seed_values == () for o in one.adapters)


def test_seed_spread_by_hand() -> None:
    s = seed_spread([0.2, 0.4, 0.3, float("nan")])
    assert (s.n, s.mean, s.low, s.high) == (3, 0.3, 0.2, 0.4)
    assert s.sd == pytest.approx(0.1)
    assert np.isnan(seed_spread([0.5]).sd)


def test_reveal_seeds_settings() -> None:
    with pytest.raises(ConfigError, match="reveal_seeds = 2 needs the basket-completion protocol"):
        CompareConfig(adapters=("cf",), protocol="next-basket", reveal_seeds=2).validate()
    with pytest.raises(ConfigError, match="reveal_seeds must be an integer >= 1"):
        CompareConfig(adapters=("cf",), reveal_seeds=0).validate()
    exp = loads_experiment(
        '[adapters.random]\n[protocol]\nreveal_seeds = 5\n[metrics]\nk = [5]\nprimary = "hit_rate@5"'
    )
    assert exp.to_compare_config().reveal_seeds == 5
    with pytest.raises(ConfigError, match="reveal_seeds"):
        loads_experiment("[adapters.random]\n[protocol]\nreveal_seeds = 0")


def test_cli_reveal_seeds_end_to_end(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "seeds"
    args = ["compare", "cf", "--data", str(shop), "--k", "5", "--metric", "hit_rate@5", "--bootstrap", "200"]
    res = CliRunner().invoke(app, [*args, "--reveal-seeds", "3", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    values = {a["name"]: a.get("reveal_seed_values") for a in summary["adapters"]}
    assert all(v is not None and len(v) == 2 for v in values.values())
    report = (out / "report.md").read_text()
    assert "3 reveals of the same test baskets" in report and "--reveal-seeds 3" in report
    assert M.render_markdown(read_run(out)) == report  # re-rendered from the run directory, identically
