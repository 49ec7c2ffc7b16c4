"""`compare --ci-unit` and `--test` end to end on the generated toy shop, and the experiment-file keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.config import loads_experiment
from xsell_eval.errors import ConfigError
from xsell_eval.results import read_run
from xsell_eval.stats import bootstrap_mean_ci

runner = CliRunner()


def _compare(shop: Path, out: Path, *extra: str) -> tuple[int, str]:
    args = ["compare", "cf", "--data", str(shop), "--k", "5", "--metric", "hit_rate@5", "--bootstrap", "300"]
    res = runner.invoke(app, [*args, "--out", str(out), *extra])
    return res.exit_code, res.stderr


def test_default_resamples_customers_and_tests_with_the_bootstrap(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "default"
    code, err = _compare(shop, out)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ci_unit"] == "customer" and summary["test"] == "bootstrap"
    report = (out / "report.md").read_text()
    assert "resample customers (cluster bootstrap" in report
    assert "bootstrap p-value from the same paired resamples as the CI" in report
    # the estimate table is the customer bootstrap of the saved per-query values
    pq = pd.read_parquet(out / "metrics.parquet").query("adapter == 'cf'")
    assert (pq["customer"] >= -1).all() and pq["customer"].nunique() < len(pq)  # customers with several queries
    firsts = pq.loc[pq["customer"] >= 0, "customer"].drop_duplicates().to_numpy()
    assert firsts.tolist() == list(range(len(firsts)))  # numbered by first query, not by customer id
    users = pd.read_parquet(out / "queries.parquet").set_index("query_id")["user_id"]
    pq = pq.assign(user=users.loc[pq["query_id"]].to_numpy())
    assert (pq.query("customer >= 0").groupby("customer")["user"].nunique() == 1).all()  # one number, one customer
    assert pq.loc[pq["customer"] < 0, "user"].isna().all()  # -1: guests (each its own cluster)
    ref = bootstrap_mean_ci(pq["hit_rate@5"], clusters=pq["customer"].to_numpy(), seed=0, n_resamples=300)
    row = read_run(out).estimates.query("adapter == 'cf' and metric == 'hit_rate@5'").iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ref.low, ref.high))
    # test and interval agree on every row (confidence 0.95 = 1 - alpha)
    comp = read_run(out).comparisons
    excl = (comp["ci_low"] > 0) | (comp["ci_high"] < 0)
    assert (comp.loc[excl, "p_value"] <= 0.05).all()
    assert (~excl[comp["p_value"] < 0.05]).sum() == 0


def test_query_unit_and_wilcoxon_are_available(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "query"
    code, err = _compare(shop, out, "--ci-unit", "query", "--test", "wilcoxon")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ci_unit"] == "query" and summary["test"] == "wilcoxon"
    report = (out / "report.md").read_text()
    assert "resample test queries as if independent (`--ci-unit query`)" in report
    assert "Wilcoxon signed-rank p-value" in report
    assert "--ci-unit query --test wilcoxon" in report  # the command as typed
    pq = pd.read_parquet(out / "metrics.parquet")
    wide = pq.pivot(index="query_id", columns="adapter", values="hit_rate@5")
    p = sps.wilcoxon(wide["cf"] - wide["popular"], zero_method="pratt").pvalue
    row = read_run(out).comparisons.query("adapter == 'cf' and metric == 'hit_rate@5'").iloc[0]
    assert row["p_value"] == pytest.approx(p)
    assert read_run(out).config.ci_unit == "query"


def test_bad_ci_unit_and_test_are_named(shop: Path, tmp_path: Path) -> None:
    code, err = _compare(shop, tmp_path / "bad", "--ci-unit", "basket")
    assert code == 1 and "ci_unit" in err and "customer" in err
    code, err = _compare(shop, tmp_path / "bad2", "--test", "mannwhitney")
    assert code == 1 and "test must be one of" in err and "bootstrap" in err


def test_experiment_file_keys() -> None:
    exp = loads_experiment(
        '[adapters.random]\n[metrics]\nk = [5]\nprimary = "hit_rate@5"\nci_unit = "query"\ntest = "ttest"'
    )
    cfg = exp.to_compare_config()
    assert (cfg.ci_unit, cfg.test) == ("query", "ttest")
    default = loads_experiment('[adapters.random]\n[metrics]\nk = [5]\nprimary = "hit_rate@5"').to_compare_config()
    assert (default.ci_unit, default.test) == ("customer", "bootstrap")
    with pytest.raises(ConfigError, match="ci_unit"):
        loads_experiment('[adapters.random]\n[metrics]\nci_unit = "cluster"')


def test_runs_written_before_the_customer_bootstrap_read_back_as_query_unit(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "old"
    code, err = _compare(shop, out, "--ci-unit", "query", "--test", "wilcoxon")
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    for key in ("ci_unit", "test"):
        cfg.pop(key)
    (out / "config.json").write_text(json.dumps(cfg))
    old = read_run(out)
    assert (old.config.ci_unit, old.config.test) == ("query", "wilcoxon")
    assert np.isfinite(old.comparisons["p_value"]).any()
