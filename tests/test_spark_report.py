"""``compare --engine spark`` writes the same run directory and report as the pandas engine.

One Spark run (the CLI, on the first 8,000 lines of the embedded Online Retail: about 60 test
baskets) serves every test here, so the module adds one short Spark comparison to the suite.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _spark import retail_head, spark  # noqa: F401

pytestmark = pytest.mark.xdist_group("spark")  # one xdist worker, one JVM for every Spark test (tests/_spark.py)

LINES = 8_000
BOOTSTRAP = 200


@pytest.fixture(scope="module")
def small_retail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return retail_head(tmp_path_factory.mktemp("retail"), LINES)


@pytest.fixture(scope="module")
def cli_run(spark, small_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:  # noqa: F811
    """``xsell-eval compare popular rules --engine spark --html`` once: (run directory, console output)."""
    from typer.testing import CliRunner

    from xsell_eval.cli import app

    out = tmp_path_factory.mktemp("spark_run") / "run"
    args = ["compare", "popular", "rules", "--data", str(small_retail), "--engine", "spark"]
    args += ["--spark-master", "local[2]", "--out", str(out), "--bootstrap", str(BOOTSTRAP), "--html"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return out, res.output


def test_cli_prints_the_decision_and_the_report_path(cli_run: tuple[Path, str]) -> None:
    from xsell_eval.results import read_run

    out, output = cli_run
    flat = " ".join(output.split())  # the console wraps long lines
    decision = read_run(out).decided()
    assert f"Decision: {decision.headline(failed=[], n_completed=2)}" in flat
    assert f"Report: {out / 'report.md'} and {out / 'report.html'}" in flat
    for name in ("config.json", "manifest.json", "context.json", "summary.json", "metrics.parquet", "report.html"):
        assert (out / name).is_file(), name
    assert {p.name for p in (out / "plots").iterdir()} >= {"metric_vs_k.png", "cold_start.png"}
    summary = json.loads((out / "summary.json").read_text())
    assert [a["status"] for a in summary["adapters"]] == ["ok", "ok"]
    per_query = pd.read_parquet(out / "metrics.parquet")
    n = summary["n_queries"]
    assert per_query.groupby("adapter").size().to_dict() == {"popular": n, "rules": n}
    assert {"query_id", "hit_rate@10", "user_history", "customer"} <= set(per_query.columns)


def _table_rows(report: str, heading: str) -> tuple[list[str], dict[str, list[str]]]:
    """Header and ``{adapter: cells}`` of the first Markdown table after ``heading``."""
    block: list[str] = []
    for ln in report.split(heading, 1)[1].splitlines():
        if ln.startswith("|"):
            block.append(ln)
        elif block:
            break

    def cells(ln: str) -> list[str]:
        return [c.strip() for c in ln.strip().strip("|").split("|")]

    return cells(block[0]), {cells(ln)[0].strip("`"): cells(ln) for ln in block[2:]}


def test_report_estimates_table_equals_estimates_csv(cli_run: tuple[Path, str]) -> None:
    out, _ = cli_run
    report = (out / "report.md").read_text(encoding="utf-8")
    est = pd.read_csv(out / "estimates.csv")
    header, rows = _table_rows(report, "## Results at k = 10")
    assert set(rows) == {"popular", "rules"}
    checked = 0
    for col_i, col in enumerate(header[1:], start=1):
        metric = col.split(" ")[0]  # "revenue@10 (£/basket)" -> "revenue@10"
        for adapter, cells in rows.items():
            r = est[(est["adapter"] == adapter) & (est["metric"] == metric)].iloc[0]
            nums = [float(x.replace(",", "")) for x in re.findall(r"-?\d[\d,]*\.?\d*", cells[col_i])]
            assert nums[:3] == pytest.approx([r["mean"], r["ci_low"], r["ci_high"]], rel=2e-3, abs=1e-4), (
                adapter,
                metric,
            )
            checked += 1
    assert checked >= 2 * 6  # precision, recall, hit_rate, ndcg, mrr, map, revenue, ... for both adapters
    # the decision's scoreboard quotes the same primary-metric estimates (as percentages)
    prim = est[(est["metric"] == "hit_rate@10")].set_index("adapter")
    for adapter in ("popular", "rules"):
        assert f"| `{adapter}` | {prim.loc[adapter, 'mean']:.1%} [" in report


def test_report_names_the_engine_and_the_data_and_marks_what_spark_does_not_compute(
    cli_run: tuple[Path, str],
) -> None:
    from xsell_eval.report.engine_section import NOT_COMPUTED

    out, _ = cli_run
    report = (out / "report.md").read_text(encoding="utf-8")
    summary = json.loads((out / "summary.json").read_text())
    card = json.loads((out / "context.json").read_text())["data_card"]
    assert summary["engine"] == {"name": "spark", "master": "local[2]"}
    head = report.split("## Decision", 1)[0]
    assert "Engine: **Spark, master `local[2]`**" in head
    assert f"{card['lines']:,} lines after cleaning of {card['cleaning']['rows_in']:,} read" in head
    assert card["cleaning"]["rows_in"] == LINES and 0 < card["lines"] < LINES
    decision = report.split("## Decision", 1)[1].split("\n## ", 1)[0]
    assert "**Recommendation:" in decision
    for part, why in NOT_COMPUTED.items():
        if part not in ("fingerprint", "audit"):
            assert f"_Not computed on the Spark engine: {why}._" in report, part
    assert NOT_COMPUTED["audit"] not in report  # the Spark engine counts the leakage audit
    assert "| train ends before test starts | yes |" in report
    assert "fingerprint not computed on the Spark engine" in report
    assert "**hit_rate@10 by user history (train baskets)**" in report  # the cold-start part Spark has
    assert "by target item popularity**" not in report  # never an empty or invented table
    for section in ("## Example recommendations", "## Fairness and popularity bias", "## Cold start"):
        assert report.count(section) == 1
    assert "validation window" not in report  # the Spark split has none


def test_statistics_equal_the_pandas_engine(cli_run: tuple[Path, str], small_retail: Path) -> None:
    """Same per-query values and seeds: the same CIs, paired tests, Holm, user-history buckets and decision."""
    from xsell_eval.pipeline import run_compare
    from xsell_eval.results import read_run
    from xsell_eval.settings import CompareConfig

    out, _ = cli_run
    got = read_run(out)
    ref = run_compare(CompareConfig(adapters=("popular", "rules"), data=str(small_retail), n_bootstrap=BOOTSTRAP))
    assert got.n_queries == ref.n_queries > 30
    for name, keys in (("estimates", ["adapter", "metric"]), ("comparisons", ["adapter", "metric"])):
        a = getattr(got, name).sort_values(keys).reset_index(drop=True)
        b = getattr(ref, name).sort_values(keys).reset_index(drop=True)
        assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
        for c in a.columns:
            if pd.api.types.is_numeric_dtype(b[c]) and not pd.api.types.is_bool_dtype(b[c]):
                np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), atol=1e-9, equal_nan=True)
            else:
                assert a[c].tolist() == b[c].tolist(), (name, c)
    ref_users = ref.buckets[ref.buckets["bucket_type"] == "user history (train baskets)"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.buckets.reset_index(drop=True), ref_users, check_exact=False, atol=1e-9)
    assert got.decided().headline() == ref.decided().headline()
    assert got.audit == ref.audit and got.audit["test_items"] > 0  # the leakage audit, counted in Spark
    # metrics.parquet: the same per-query rows and columns (customer, served_by_fallback included)
    got_pq = pd.read_parquet(out / "metrics.parquet").sort_values(["adapter", "query_id"]).reset_index(drop=True)
    ref_pq = ref.per_query_frame.sort_values(["adapter", "query_id"]).reset_index(drop=True)
    assert sorted(got_pq.columns) == sorted(ref_pq.columns) and "served_by_fallback" in got_pq
    assert got_pq["adapter"].tolist() == ref_pq["adapter"].tolist()
    for c in ref_pq.columns.drop("adapter"):
        np.testing.assert_allclose(got_pq[c].to_numpy(float), ref_pq[c].to_numpy(float), atol=1e-9, equal_nan=True)
    assert got_pq.loc[got_pq["adapter"] == "rules", "served_by_fallback"].sum() > 0
    assert got.split["train"] == ref.split["train"] and got.split["test"] == ref.split["test"]
    assert got.aggregates.sort_values(["adapter", "metric"])["value"].to_numpy() == pytest.approx(
        ref.aggregates.sort_values(["adapter", "metric"])["value"].to_numpy(), abs=1e-12
    )


def test_report_rerenders_byte_identical(cli_run: tuple[Path, str]) -> None:
    from xsell_eval.runs import rerender

    out, _ = cli_run
    written, unchanged = rerender(out)
    assert unchanged and written == [out / "report.md"]


def test_reveal_seeds_is_refused_on_spark_rather_than_ignored() -> None:
    from xsell_eval.errors import ConfigError
    from xsell_eval.settings import CompareConfig

    with pytest.raises(ConfigError, match=r"--reveal-seeds 3: the Spark engine draws one reveal"):
        CompareConfig(adapters=("popular",), engine="spark", reveal_seeds=3).validate()


def test_report_of_a_spark_result_is_rendered_without_spark(small_retail: Path, tmp_path: Path) -> None:
    """The report side needs no Spark: a SparkCompareResult made from pandas outcomes renders and marks its gaps."""
    from xsell_eval.pipeline import prepare, run_adapter, run_compare
    from xsell_eval.report.engine_section import NOT_COMPUTED
    from xsell_eval.settings import CompareConfig
    from xsell_eval.spark.engine import SparkCompareResult, write_spark_run

    cfg = CompareConfig(adapters=("popular", "rules"), data=str(small_retail), n_bootstrap=100)
    ref = run_compare(cfg)
    pr = prepare(cfg.validate())
    outcomes = tuple(run_adapter(a, cfg.validate(), pr) for a in ("popular", "rules"))
    split = {k: v for k, v in pr.split.describe().items() if k not in ("validation", "fit_train")}
    sp = SparkCompareResult(
        config=CompareConfig(adapters=("popular", "rules"), data=str(small_retail), n_bootstrap=100, engine="spark"),
        master="spark://head:7077",
        outcomes=outcomes,
        estimates=ref.estimates,
        comparisons=ref.comparisons,
        n_queries=ref.n_queries,
        cleaning=pr.dataset.cleaning.to_dict(),
        split=split,
        timings={"total": 1.0},
        data={"name": "retail", "source": small_retail.name, "lines": len(pr.dataset.interactions), "baskets": 3},
    )  # no audit: the report must say it was not computed
    out = tmp_path / "run"
    result = write_spark_run(sp, out)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Engine: **Spark, master `spark://head:7077`**" in report
    assert f"_Not computed on the Spark engine: {NOT_COMPUTED['audit']}._" in report
    assert result.decided().headline() == ref.decided().headline()
    assert pd.read_csv(out / "estimates.csv")["mean"].to_numpy() == pytest.approx(
        ref.estimates["mean"].to_numpy(), nan_ok=True
    )
    assert "--engine spark" in report.split("## Provenance", 1)[1]  # the equivalent command keeps the engine
