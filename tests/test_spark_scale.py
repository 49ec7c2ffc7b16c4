"""The Spark engine's faster paths give the pandas engine's results: a ``--max-queries`` sample
(eligible baskets collected through Arrow), the Arrow-collected per-query table and coverage, the
array-based popular fill, duplicates counted by groupBy (policy keep), and the merged number checks'
error message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _spark import spark  # noqa: F401

from xsell_eval.errors import DataError
from xsell_eval.pipeline import prepare, run_adapter
from xsell_eval.settings import CompareConfig


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated shop with 500 repeated lines (so the duplicates rule has work)."""
    from xsell_eval.data.synthetic import generate_shop

    out = tmp_path_factory.mktemp("shop") / "shop.parquet"
    lines = generate_shop(seed=3, n_users=800, n_items=300, n_days=60, n_lines=20_000).interactions
    pd.concat([lines, lines.iloc[:500]], ignore_index=True).to_parquet(out, index=False)
    return out


@pytest.fixture(scope="module")
def capped(spark, shop: Path):  # noqa: F811
    from xsell_eval.spark.engine import prepare_spark

    cfg = CompareConfig(adapters=("popular",), data=str(shop), max_queries=150, cleaning="duplicates=keep").validate()
    return cfg, prepare_spark(cfg, master="local[2]"), prepare(cfg)


def test_max_queries_sample_and_duplicates_keep_agree(capped) -> None:
    _, sp, pr = capped
    assert sp.data.cleaning.steps == pr.dataset.cleaning.steps
    dup = next(s for s in sp.data.cleaning.steps if s.rule == "duplicates")
    assert dup.rows_matched >= 500 and dup.rows_dropped == 0  # kept, but counted
    q = pr.queries
    assert sp.queries.n == len(q) == 150
    got = sp.queries.queries.toPandas().sort_values("query_id").reset_index(drop=True)
    np.testing.assert_array_equal(got["basket_idx"], q.basket_idx)
    carts = [q.context.indices[q.context.indptr[i] : q.context.indptr[i + 1]].tolist() for i in range(len(q))]
    assert [list(c) for c in got["cart"]] == carts


@pytest.mark.parametrize("adapter", ["popular", "rules"])
def test_capped_metrics_and_coverage_agree(capped, adapter: str) -> None:
    from xsell_eval.spark.engine import run_spark_adapter

    cfg, sp, pr = capped
    cfg = CompareConfig(adapters=(adapter,), params={"rules": {"min_support": 0.002}}).validate()
    got = run_spark_adapter(adapter, cfg, sp)
    ref = run_adapter(adapter, cfg, pr)
    assert got.status == "ok", got.error
    assert got.per_query is not None and ref.per_query is not None
    metric_cols = [c for c in ref.per_query.columns if "@" in c]
    assert [c for c in got.per_query.columns if "@" in c] == metric_cols  # same metrics, same order
    assert got.per_query["query_id"].dtype == np.int64 and got.per_query["hit_rate@10"].dtype == np.float64
    assert (ref.per_query["hit_rate@10"] > 0).any()
    for c in ["query_id", "user_history", *metric_cols]:
        np.testing.assert_allclose(
            got.per_query[c].to_numpy(float), ref.per_query[c].to_numpy(float), rtol=0, atol=1e-9, equal_nan=True
        )
    cov = {k: v for k, v in ref.aggregates.items() if k.startswith("coverage@")}
    assert cov, ref.aggregates
    for k, v in cov.items():
        assert got.aggregates[k] == pytest.approx(v, abs=1e-12), k


def test_non_numeric_quantity_names_the_cell_as_pandas(spark, tmp_path: Path) -> None:  # noqa: F811
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.spark.data import load

    f = tmp_path / "lines.csv"
    f.write_text(
        "basket_id,item_id,user_id,timestamp,quantity,price\n"
        "b1,x,u1,2024-01-01 10:00:00,1,2.5\nb1,y,u1,2024-01-01 10:00:00,two,1.0\nb2,x,u2,2024-01-02 10:00:00,3,2.5\n"
    )
    with pytest.raises(DataError, match=r"non-numeric value 'two' \(1 such cell") as got:
        load(spark, f)
    with pytest.raises(DataError) as ref:
        load_dataset(f)
    assert "'two'" in str(ref.value) and "quantity" in str(got.value)
