"""The Spark engine agrees with the pandas engine on a slice of the embedded Online Retail:
the same cleaning counts, indices, split and basket-completion queries (ids, carts, targets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _spark import retail_head, spark  # noqa: F401

from xsell_eval.errors import DataError
from xsell_eval.pipeline import prepare
from xsell_eval.settings import CompareConfig

pytestmark = pytest.mark.xdist_group("spark")  # one xdist worker, one JVM for every Spark test (tests/_spark.py)

LINES = 40_000  # the first lines of the embedded Online Retail (about 270 test baskets)


@pytest.fixture(scope="module")
def retail_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return retail_head(tmp_path_factory.mktemp("retail"), LINES)


@pytest.fixture(scope="module")
def both(spark, retail_slice: Path):  # noqa: F811
    from xsell_eval.spark.engine import prepare_spark

    cfg = CompareConfig(adapters=("popular",), data=str(retail_slice)).validate()
    return prepare_spark(cfg, master="local[2]"), prepare(cfg)


def test_cleaning_and_indices_agree(both) -> None:
    sp, pr = both
    assert sp.data.cleaning.steps == pr.dataset.cleaning.steps
    assert (sp.data.cleaning.rows_in, sp.data.cleaning.rows_out) == (
        pr.dataset.cleaning.rows_in,
        pr.dataset.cleaning.rows_out,
    )
    assert (sp.data.n_items, sp.data.n_users, sp.data.n_baskets) == (
        pr.dataset.n_items,
        pr.dataset.n_users,
        pr.dataset.n_baskets,
    )
    assert list(sp.data.item_ids) == list(pr.dataset.item_ids)
    cols = ["basket_idx", "item_idx", "user_idx", "quantity"]
    got = sp.data.lines.select(*cols).toPandas().sort_values(cols).reset_index(drop=True)
    ref = pr.dataset.interactions[cols].sort_values(cols).reset_index(drop=True)
    for c in cols:
        np.testing.assert_array_equal(got[c].to_numpy(dtype=float), ref[c].to_numpy(dtype=float))


def test_split_and_queries_agree(both) -> None:
    sp, pr = both
    assert sp.split.describe["test"] == pr.split.describe()["test"]
    assert sp.split.describe["train"] == pr.split.describe()["train"]
    q = pr.queries
    got = sp.queries.queries.toPandas().sort_values("query_id").reset_index(drop=True)
    assert sp.queries.n == len(q) > 100
    np.testing.assert_array_equal(got["query_id"], q.query_id)
    np.testing.assert_array_equal(got["basket_idx"], q.basket_idx)
    np.testing.assert_array_equal(got["user_idx"], q.user_idx)
    np.testing.assert_array_equal(got["user_history"], q.user_history)
    np.testing.assert_allclose(got["context_value"], q.context_value, rtol=0, atol=1e-9)
    carts = [q.context.indices[q.context.indptr[i] : q.context.indptr[i + 1]].tolist() for i in range(len(q))]
    assert [list(c) for c in got["cart"]] == carts
    t = q.targets.tocoo()
    ref = pd.DataFrame({"query_id": t.row, "item_idx": t.col, "quantity": t.data}).sort_values(["query_id", "item_idx"])
    st = sp.queries.targets.toPandas().sort_values(["query_id", "item_idx"])
    np.testing.assert_array_equal(st["query_id"], ref["query_id"])
    np.testing.assert_array_equal(st["item_idx"], ref["item_idx"])
    np.testing.assert_allclose(st["quantity"], ref["quantity"])


def test_missing_column_in_a_parquet_lake_gives_the_loaders_message(spark, tmp_path: Path) -> None:  # noqa: F811
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.spark.data import load

    lake = tmp_path / "lake"
    lake.mkdir()
    frame = pd.DataFrame({"basket_id": ["b1", "b1", "b2"], "sku": ["x", "y", "x"]})
    frame.iloc[:2].to_parquet(lake / "part-0.parquet")
    frame.iloc[2:].to_parquet(lake / "part-1.parquet")
    with pytest.raises(DataError, match=r"missing column 'item_id'; found columns \['basket_id', 'sku'\]") as got:
        load(spark, lake)
    one = tmp_path / "lines.parquet"
    frame.to_parquet(one)
    with pytest.raises(DataError) as ref:
        load_dataset(one)
    assert str(got.value).split(": ", 1)[1] == str(ref.value).split(": ", 1)[1]


def _assert_same_metrics(spark_pq: pd.DataFrame, pandas_pq: pd.DataFrame) -> None:
    metric_cols = [c for c in pandas_pq.columns if "@" in c]
    assert metric_cols and set(metric_cols) <= set(spark_pq.columns)
    np.testing.assert_array_equal(spark_pq["query_id"], pandas_pq["query_id"])
    np.testing.assert_array_equal(spark_pq["user_history"], pandas_pq["user_history"])
    for c in metric_cols:
        np.testing.assert_allclose(
            spark_pq[c].to_numpy(float), pandas_pq[c].to_numpy(float), rtol=0, atol=1e-9, equal_nan=True, err_msg=c
        )


@pytest.mark.parametrize("adapter", ["popular", "rules"])
def test_adapter_metrics_agree_to_1e_9(both, adapter: str) -> None:
    from xsell_eval.pipeline import run_adapter
    from xsell_eval.settings import CompareConfig
    from xsell_eval.spark.engine import run_spark_adapter

    sp, pr = both
    cfg = CompareConfig(adapters=(adapter,)).validate()
    got = run_spark_adapter(adapter, cfg, sp)
    ref = run_adapter(adapter, cfg, pr)
    assert got.status == "ok", got.error
    assert got.per_query is not None and ref.per_query is not None
    assert (ref.per_query["hit_rate@10"] > 0).any()  # not a trivially empty comparison
    _assert_same_metrics(got.per_query, ref.per_query)
    assert got.empty_share == pytest.approx(ref.empty_share)


# the CLI end to end (`compare popular rules --engine spark`): tests/test_spark_report.py
