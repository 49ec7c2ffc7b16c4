"""Bring your own recommendations: queries export, --recs files scored like adapters, bad files, [recs]."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from xsell_eval.adapters.recs_file import RecsFileAdapter, parse_recs_specs, read_recs_file
from xsell_eval.cli import app
from xsell_eval.config import loads_experiment
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.pipeline import prepare, run_compare
from xsell_eval.query_export import export_queries
from xsell_eval.settings import CompareConfig
from xsell_eval.testing import toy_dataset

runner = CliRunner()


def _top_sellers(shop: Path) -> list[str]:
    inter = pd.read_csv(shop / "interactions.csv", dtype=str)
    return inter.groupby("item_id")["basket_id"].nunique().sort_values(ascending=False, kind="stable").index.tolist()


def test_a_new_user_exports_queries_answers_them_and_compares(shop: Path, tmp_path: Path) -> None:
    # 1. the shop exports the test queries (same options as the comparison below)
    qfile = tmp_path / "queries.csv"
    res = runner.invoke(app, ["queries", "export", "--data", str(shop), "--out", str(qfile)])
    assert res.exit_code == 0, res.output
    queries = pd.read_csv(qfile, dtype={"user_id": str})
    assert list(queries.columns) == ["query_id", "user_id", "timestamp", "cart"]
    assert "Wrote" in res.output and f"{len(queries):,}" in res.output

    # 2. its "production system": the 8 best sellers, minus what is already in the cart, first 5 kept
    best = _top_sellers(shop)[:8]
    rows = []
    for qid, cart in zip(queries["query_id"], queries["cart"], strict=True):
        in_cart = set(json.loads(cart))
        answer = [i for i in best if i not in in_cart][:5]
        rows += [(qid, r, item) for r, item in enumerate(answer, 1)]
    recs = pd.DataFrame(rows, columns=["query_id", "rank", "item_id"])
    rfile = tmp_path / "recs.parquet"
    recs.to_parquet(rfile, index=False)

    # 3. compare it with the candidates on the same queries
    out = tmp_path / "run"
    args = ["compare", "cf", "--data", str(shop), "--k", "5", "--metric", "hit_rate@5", "--bootstrap", "200"]
    res = runner.invoke(app, [*args, "--recs", f"production={rfile}", "--out", str(out)])
    assert res.exit_code == 0, res.output
    per_query = pd.read_parquet(out / "metrics.parquet")
    got = per_query[per_query["adapter"] == "production"].set_index("query_id").sort_index()
    assert set(per_query["adapter"]) == {"popular", "cf", "production"}
    assert "production" in (out / "report.md").read_text()

    # 4. the metrics equal a direct recomputation from the run's targets and the file
    truth = pd.read_parquet(out / "queries.parquet").set_index("query_id").sort_index()
    lists = recs.groupby("query_id")["item_id"].apply(list)
    hits = np.array([len(set(lists.get(q, [])) & set(t)) for q, t in zip(truth.index, truth["targets"], strict=True)])
    n_targets = truth["targets"].map(len).to_numpy()
    assert len(got) == len(truth) == len(queries)
    np.testing.assert_allclose(got["hit_rate@5"], (hits > 0).astype(float))
    np.testing.assert_allclose(got["precision@5"], hits / 5)
    np.testing.assert_allclose(got["recall@5"], hits / n_targets)


def test_a_file_of_an_adapters_own_lists_scores_exactly_like_the_adapter(tmp_path: Path) -> None:
    ds = toy_dataset()
    cfg = CompareConfig(adapters=("cf",), ks=(5,), primary_metric="hit_rate@5", n_bootstrap=100)
    first = run_compare(cfg, dataset=ds)
    recs = first.recs_frame[first.recs_frame["adapter"] == "cf"][["query_id", "rank", "item_id"]]
    path = tmp_path / "cf_lists.csv"
    recs.to_csv(path, index=False)
    second = run_compare(CompareConfig(**{**cfg.__dict__, "recs": {"copy": str(path)}}), dataset=ds)
    pq = second.per_query_frame
    cols = [c for c in pq.columns if "@" in c]
    a = pq[pq["adapter"] == "cf"][cols].reset_index(drop=True)
    b = pq[pq["adapter"] == "copy"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    outcome = next(o for o in second.adapters if o.name == "copy")
    assert outcome.status == "ok" and outcome.params["key"] == "query_id"
    assert len(outcome.params["sha256"]) == 64


def _fitted(tmp_path: Path, text: str) -> tuple[RecsFileAdapter, object]:
    ds = toy_dataset()
    prepared = prepare(CompareConfig(adapters=("popular",), ks=(5,), n_bootstrap=100).validate(), dataset=ds)
    f = tmp_path / "recs.csv"
    f.write_text(text)
    return RecsFileAdapter(f, label="shop").fit(prepared.split.train), prepared


def test_cart_items_are_dropped_unknown_items_too_and_lists_move_up(tmp_path: Path) -> None:
    ds = toy_dataset()
    prepared = prepare(CompareConfig(adapters=("popular",), ks=(5,), n_bootstrap=100).validate(), dataset=ds)
    q = prepared.queries
    cart_item = ds.item_ids[q.context[0].indices[0]]
    others = [i for i in ds.item_ids if i != cart_item][:3]
    qid = int(q.query_id[0])
    text = "query_id,rank,item_id\n" + "\n".join(
        [f"{qid},1,{others[0]}", f"{qid},2,{cart_item}", f"{qid},3,NOT-AN-ITEM", f"{qid},4,{others[1]}"]
    )
    adapter, _ = _fitted(tmp_path, text + "\n")
    with pytest.warns(UserWarning) as caught:
        recs = adapter.recommend(q.requests, 3)
    idx = {v: i for i, v in enumerate(ds.item_ids)}
    assert recs.items[0].tolist() == [idx[others[0]], idx[others[1]], -1]
    assert np.isnan(recs.scores[0, 2]) and recs.scores[0, 0] > recs.scores[0, 1]
    assert (recs.items[1:] == -1).all()  # no list for the other queries: empty
    texts = " | ".join(str(w.message) for w in caught)
    assert f"{len(q) - 1:,} of {len(q):,} test queries have no list" in texts
    assert "1 recommended item(s) are not in the data" in texts and "already in the cart" in texts


def test_user_keyed_lists_answer_every_query_of_that_user(tmp_path: Path) -> None:
    ds = toy_dataset()
    prepared = prepare(CompareConfig(adapters=("popular",), ks=(5,), n_bootstrap=100).validate(), dataset=ds)
    q = prepared.queries
    user = ds.user_ids[q.user_idx[q.user_idx >= 0][0]]
    rows = "\n".join(f"{user},{r},{item}" for r, item in enumerate(ds.item_ids[:10], 1))
    adapter, _ = _fitted(tmp_path, f"user_id,rank,item_id\n{rows}\n")
    with pytest.warns(UserWarning):
        recs = adapter.recommend(q.requests, 5)
    mine = q.user_idx == np.flatnonzero(ds.user_ids == user)[0]
    assert mine.sum() >= 1 and (recs.items[mine, 0] >= 0).all() and (recs.items[~mine] == -1).all()
    # never an item of the cart
    for row in np.flatnonzero(mine):
        assert not set(recs.items[row][recs.items[row] >= 0]) & set(q.context[row].indices)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("query_id,rnk,item_id\n1,1,a\n", r"recs.csv: missing column 'rank'.*found columns.*did you mean 'rnk'"),
        ("qid,rank,item_id\n1,1,a\n", r"recs.csv: missing column 'query_id' or 'user_id'.*found columns"),
        (
            "query_id,rank,item_id\n1,1,a\n1,two,b\n",
            r"'rank' \(rank\) has a non-numeric value 'two' at data row 2",
        ),
        ("query_id,rank,item_id\n1,1,a\n1,0,b\n", r"column 'rank' \(rank\) has 0 at data row 2.*integer >= 1"),
        ("query_id,rank,item_id\n1,1.5,a\n", r"has 1.5 at data row 1.*integer >= 1"),
        ("query_id,rank,item_id\n1,1,a\n1,2,\n", r"column 'item_id' \(item id\) is empty at data row 2"),
        (
            "query_id,rank,item_id\nq1,1,a\n",
            r"'query_id' \(query id\) has a non-numeric value 'q1' at data row 1",
        ),
        ("query_id,rank,item_id\n1,1,a\n1,1,b\n", r"rank 1 of query_id 1 is given twice \(data rows 1 and 2\)"),
        ("query_id,rank,item_id\n", r"recs.csv: no rows"),
    ],
)
def test_bad_files_get_the_loaders_clear_messages(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "recs.csv"
    f.write_text(text)
    with pytest.raises(DataError, match=message):
        read_recs_file(f)


def test_missing_file_and_ids_from_other_queries(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"recommendations file not found.*Did you mean"):
        (tmp_path / "recs.csv").write_text("query_id,rank,item_id\n1,1,a\n")
        read_recs_file(tmp_path / "recs.cvs")
    (tmp_path / "far.csv").write_text("query_id,rank,item_id\n99999999,1,a\n")
    result = run_compare(
        CompareConfig(adapters=("popular",), ks=(5,), n_bootstrap=100, recs={"shop": str(tmp_path / "far.csv")}),
        dataset=toy_dataset(),
    )
    shop = next(o for o in result.adapters if o.name == "shop")
    assert shop.status == "failed" and "xsell-eval queries export" in (shop.error or "")
    assert next(o for o in result.adapters if o.name == "popular").status == "ok"


def test_a_bad_file_stops_compare_before_any_work(shop: Path, tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("query_id,rank\n1,1\n")
    res = runner.invoke(app, ["compare", "popular", "--data", str(shop), "--recs", f"prod={tmp_path / 'r.csv'}"])
    assert res.exit_code == 1 and "missing column 'item_id'" in res.output


def test_labels_and_the_experiment_table(tmp_path: Path) -> None:
    assert parse_recs_specs(["production=a/recs.parquet", "old.csv.gz"]) == {
        "production": "a/recs.parquet",
        "old": "old.csv.gz",
    }
    with pytest.raises(ConfigError, match="given twice"):
        parse_recs_specs(["a=x.csv", "a=y.csv"])
    with pytest.raises(ConfigError, match="name of an adapter"):
        CompareConfig(adapters=("popular",), recs={"cf": "x.csv"}).validate()
    assert CompareConfig().hash == CompareConfig(recs=None).hash  # configs without recs keep their hash
    (tmp_path / "recs.csv").write_text("query_id,rank,item_id\n1,1,a\n")
    toml = '[adapters.cf]\n[recs]\nproduction = "recs.csv"\n'
    exp = loads_experiment(toml, base_dir=str(tmp_path))
    cfg = exp.to_compare_config()
    assert cfg.recs == {"production": str(tmp_path / "recs.csv")}
    assert cfg.validate().adapters[-1] == "production"
    with pytest.raises(ConfigError, match=r"\[recs\] production.*not found"):
        loads_experiment('[adapters.cf]\n[recs]\nproduction = "nope.csv"\n', base_dir=str(tmp_path))
    assert "recs" not in loads_experiment("[adapters.cf]\n").resolved_dict()


def test_export_formats(tmp_path: Path) -> None:
    ds = toy_dataset()
    cfg = CompareConfig(adapters=("popular",), ks=(5,))
    info = export_queries(cfg, tmp_path / "q.parquet", dataset=ds)
    table = pd.read_parquet(info.path)
    prepared = prepare(cfg.validate(), dataset=ds)
    assert info.n_queries == len(prepared.queries) == len(table)
    first = table["cart"].iloc[0]
    assert sorted(first) == sorted(ds.item_ids[prepared.queries.context[0].indices])
    assert "targets" not in table.columns
    info = export_queries(cfg, tmp_path / "q.csv.gz", dataset=ds)
    assert json.loads(pd.read_csv(info.path)["cart"].iloc[0]) == list(first)
    with pytest.raises(ConfigError, match=r"expected a file ending in \.parquet, \.csv, \.csv\.gz"):
        export_queries(cfg, tmp_path / "q.xlsx", dataset=ds)


def test_tuning_leaves_a_recs_file_alone(tmp_path: Path) -> None:
    from xsell_eval.tuning.compare import _has_space

    cfg = CompareConfig(adapters=("cf",), recs={"production": str(tmp_path / "recs.csv")})
    assert _has_space("production", cfg) is False and _has_space("cf", cfg) is True


def test_python_api_takes_recs_as_a_setting(tmp_path: Path) -> None:
    from xsell_eval import compare

    ds = toy_dataset()
    first = compare(["popular"], ds, ks=(5,), n_bootstrap=100, primary_metric="hit_rate@5")
    lists = first.recs_frame[["query_id", "rank", "item_id"]]
    lists.to_parquet(tmp_path / "recs.parquet", index=False)
    result = compare(
        ["popular"],
        ds,
        ks=(5,),
        n_bootstrap=100,
        primary_metric="hit_rate@5",
        recs={"production": str(tmp_path / "recs.parquet")},
    )
    est = result.summary.query("metric == 'hit_rate' and k == 5").set_index("adapter")["mean"]
    assert est["production"] == est["popular"]


def test_the_equivalent_command_passes_the_file_with_recs_not_as_an_adapter() -> None:
    from xsell_eval.command import equivalent_command

    cfg = CompareConfig(adapters=("cf",), recs={"production": "exports/recs.parquet"}).validate()
    assert cfg.adapters == ("popular", "cf", "production")
    cmd = equivalent_command(cfg)
    assert cmd.startswith("xsell-eval compare popular cf --") and cmd.endswith("--recs production=exports/recs.parquet")


def test_resume_reruns_a_recs_label_whose_file_changed_and_restores_the_rest(tmp_path: Path) -> None:
    ds = toy_dataset()
    cfg = CompareConfig(adapters=("cf",), ks=(5,), primary_metric="hit_rate@5", n_bootstrap=100)
    first = run_compare(cfg, dataset=ds)
    recs = first.recs_frame[first.recs_frame["adapter"] == "cf"][["query_id", "rank", "item_id"]]
    path = tmp_path / "lists.csv"
    recs.to_csv(path, index=False)
    with_recs = CompareConfig(**{**cfg.__dict__, "recs": {"production": str(path)}})
    run = run_compare(with_recs, dataset=ds)
    saved = {o.name: o for o in run.adapters}
    assert saved["production"].evaluated_on["recs_sha256"] == saved["production"].params["sha256"]
    assert "recs_sha256" not in saved["cf"].evaluated_on

    same = run_compare(with_recs, dataset=ds, completed=saved)
    assert same.resume is not None and set(same.resume.restored) == {"popular", "cf", "production"}

    recs[recs["rank"] == 1].to_csv(path, index=False)  # re-exported at the same path: one item per list
    changed = run_compare(with_recs, dataset=ds, completed=saved)
    assert changed.resume is not None
    assert changed.resume.rerun_stale == ("production",) and set(changed.resume.restored) == {"popular", "cf"}
    pq = changed.per_query_frame
    assert pq.loc[pq["adapter"] == "production", "precision@5"].max() <= 0.2 + 1e-12  # the new one-item lists
