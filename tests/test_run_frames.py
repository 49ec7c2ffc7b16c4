"""The lean output tables (xsell_eval/run_frames.py) leave the run directory's files as they were.

The references are built here the way ``assemble`` and ``write_run`` built them before: one
frame per adapter (``Recommendations.to_frame``) concatenated, ``DataFrame.to_parquet``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xsell_eval import run_frames
from xsell_eval.pipeline import CompareConfig, run_compare
from xsell_eval.queries import Recommendations
from xsell_eval.result import AdapterOutcome
from xsell_eval.results import read_run, write_run
from xsell_eval.run_frames import recommendations_frame, write_parquet
from xsell_eval.testing import toy_dataset

RUN_PARQUETS = ("queries.parquet", "recommendations.parquet", "metrics.parquet")


def _old_recs_frame(outcomes: list[AdapterOutcome], query_id: np.ndarray, item_ids: np.ndarray) -> pd.DataFrame:
    """The recommendations table as ``assemble`` built it before (a concat of per-adapter frames)."""
    return pd.concat(
        [o.recs.to_frame(query_id, item_ids).assign(adapter=o.name) for o in outcomes if o.recs is not None],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list[AdapterOutcome], object, Path]:
    ds = toy_dataset()
    box: dict[str, object] = {}
    outcomes: list[AdapterOutcome] = []
    cfg = CompareConfig(adapters=("cf", "rules", "random"), ks=(3, 5), n_bootstrap=100)
    result = run_compare(cfg, dataset=ds, on_prepared=lambda p: box.setdefault("p", p), on_adapter_done=outcomes.append)
    run_dir = write_run(result, tmp_path_factory.mktemp("run") / "run")
    return result, outcomes, box["p"], run_dir


def test_the_recommendations_file_is_byte_identical_to_the_old_concat(toy_run, tmp_path: Path) -> None:
    result, outcomes, prepared, run_dir = toy_run
    ds = prepared.dataset
    old = _old_recs_frame(outcomes, prepared.queries.query_id, ds.item_ids)
    assert len(old) > 100 and set(old["adapter"]) == {"popular", "cf", "rules", "random"}
    old.to_parquet(tmp_path / "old.parquet", index=False)
    assert (run_dir / "recommendations.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
    # in memory: the same rows and values; adapter and item_id categorical
    new = result.recs_frame
    assert all(isinstance(new[c].dtype, pd.CategoricalDtype) for c in ("adapter", "item_id"))
    pd.testing.assert_frame_equal(run_frames._plain(new), old[list(new.columns)], check_exact=True)


def _old_queries_frame(q, item_ids: np.ndarray, user_ids: np.ndarray) -> pd.DataFrame:
    """``Queries.to_frame`` as it was: list columns of Python lists."""

    def lists(m, values):
        flat = m.data if values is None else values[m.indices]
        return [part.tolist() for part in np.split(flat, m.indptr[1:-1])]

    users = np.full(len(q), None, dtype=object)
    known = q.user_idx >= 0
    users[known] = np.asarray(user_ids, dtype=object)[q.user_idx[known]]
    return pd.DataFrame(
        {
            "query_id": q.query_id,
            "user_id": users,
            "timestamp": q.timestamp,
            "user_history": q.user_history,
            "context": lists(q.context, item_ids),
            "targets": lists(q.targets, item_ids),
            "target_quantity": lists(q.targets, None),
            "target_value": lists(q.target_value, None),
            "context_value": q.context_value,
        }
    )


def test_every_parquet_of_the_run_is_the_file_the_old_tables_wrote(toy_run, tmp_path: Path) -> None:
    result, outcomes, prepared, run_dir = toy_run
    ds = prepared.dataset
    old = {
        "recommendations.parquet": _old_recs_frame(outcomes, prepared.queries.query_id, ds.item_ids),
        "queries.parquet": _old_queries_frame(prepared.queries, ds.item_ids, ds.user_ids),
        "metrics.parquet": result.per_query_frame,
    }
    assert old["queries.parquet"]["user_id"].isna().any()  # guests: None in the user column
    for name in RUN_PARQUETS:
        old[name].to_parquet(tmp_path / name, index=False)
        assert (run_dir / name).read_bytes() == (tmp_path / name).read_bytes(), name
        pd.testing.assert_frame_equal(
            pd.read_parquet(run_dir / name), pd.read_parquet(tmp_path / name), check_exact=True
        )
    assert pd.read_parquet(run_dir / "recommendations.parquet")["adapter"].dtype == "str"  # strings, not a category
    # in memory the list columns are Arrow lists whose elements read as the old Python lists
    new = result.queries_frame
    for c in ("context", "targets", "target_quantity", "target_value"):
        assert isinstance(new[c].dtype, pd.ArrowDtype)
        assert new[c].tolist() == old["queries.parquet"][c].tolist(), c
    pd.testing.assert_frame_equal(
        new.drop(columns=["context", "targets", "target_quantity", "target_value"]),
        old["queries.parquet"].drop(columns=["context", "targets", "target_quantity", "target_value"]),
        check_exact=True,
    )


def test_list_columns_with_empty_rows_nan_and_integer_values_keep_the_old_bytes(tmp_path: Path) -> None:
    import scipy.sparse as sp

    from xsell_eval.queries import _list_column

    m = sp.csr_matrix(np.array([[0, 2.0, 0, 1.0], [0, 0, 0, 0], [3.0, 0, 0, 0]]))
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    cases = {
        "ids": (m.indptr, ids, m.indices),
        "floats": (m.indptr, np.array([1.5, np.nan, 2.0]), None),
        "ints": (m.indptr, np.array([1, 2, 3], dtype=np.int32), None),
        "none": (np.zeros(4, dtype=np.int32), np.zeros(0), None),  # no element at all: list<null>
    }
    for name, (indptr, values, take) in cases.items():
        new = pd.DataFrame({"q": [1, 2, 3], name: _list_column(indptr, values, take)})
        flat = values if take is None else values[take]
        old = pd.DataFrame({"q": [1, 2, 3], name: [p.tolist() for p in np.split(flat, indptr[1:-1])]})
        assert new[name].tolist() == old[name].tolist() or name == "floats"
        write_parquet(new, tmp_path / f"{name}-new.parquet")
        old.to_parquet(tmp_path / f"{name}-old.parquet", index=False)
        assert (tmp_path / f"{name}-new.parquet").read_bytes() == (tmp_path / f"{name}-old.parquet").read_bytes(), name


def test_padding_several_row_groups_and_float32_scores_keep_the_old_bytes(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(3)
    item_ids = np.array([f"item{i:03d}" for i in range(40)], dtype=object)
    qid = np.arange(100, 160, dtype=np.int64)
    lists = []
    for name, dtype in (("a", np.float64), ("b:k=5", np.float32), ("a", np.float64)):
        items = rng.integers(0, 40, size=(60, 7))
        items[rng.random((60, 7)) < 0.3] = -1  # padding, also in the middle of a row
        scores = np.where(items >= 0, rng.random((60, 7)), np.nan).astype(dtype)
        lists.append((name, Recommendations(items, scores, adapter="ignored")))
    outs = [AdapterOutcome(name=n, spec=n, status="ok", params={}, recs=r) for n, r in lists]
    old = _old_recs_frame(outs, qid, item_ids)
    new = recommendations_frame(lists, qid, item_ids)
    pd.testing.assert_frame_equal(run_frames._plain(new), old[list(new.columns)], check_exact=True)
    assert new["adapter"].cat.categories.tolist() == ["a", "b:k=5"]
    # one row group: DataFrame.to_parquet itself
    old.to_parquet(tmp_path / "old1.parquet", index=False)
    write_parquet(new, tmp_path / "new1.parquet")
    assert (tmp_path / "new1.parquet").read_bytes() == (tmp_path / "old1.parquet").read_bytes()
    # several row groups: written slice by slice, the same file as one write with that row-group size
    monkeypatch.setattr(run_frames, "ROW_GROUP_ROWS", 97)
    old.to_parquet(tmp_path / "old2.parquet", index=False, row_group_size=97)
    write_parquet(new, tmp_path / "new2.parquet")
    assert (tmp_path / "new2.parquet").read_bytes() == (tmp_path / "old2.parquet").read_bytes()
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "new2.parquet").metadata.num_row_groups == -(-len(old) // 97) > 1
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "new2.parquet"), old, check_exact=True)


def test_no_lists_give_an_empty_table_and_a_plain_frame_is_written_by_to_parquet(tmp_path: Path) -> None:
    assert recommendations_frame([], np.arange(3), np.array(["x"], dtype=object)).empty
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_parquet(df, tmp_path / "a.parquet")
    df.to_parquet(tmp_path / "b.parquet", index=False)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_a_run_directory_written_before_still_reads_and_rerenders(toy_run, tmp_path: Path) -> None:
    _, outcomes, prepared, run_dir = toy_run
    import shutil

    # an "old" directory: the recommendations written by DataFrame.to_parquet of the string table
    old_dir = tmp_path / "old"
    shutil.copytree(run_dir, old_dir)
    ds = prepared.dataset
    _old_recs_frame(outcomes, prepared.queries.query_id, ds.item_ids).to_parquet(
        old_dir / "recommendations.parquet", index=False
    )
    back = read_run(old_dir)
    assert back.estimates.equals(read_run(run_dir).estimates)
    from xsell_eval.report.markdown import render_markdown

    assert render_markdown(back) == render_markdown(read_run(run_dir))


def test_examples_from_the_arrow_query_lists_equal_those_from_python_lists(toy_run) -> None:
    from xsell_eval.examples import item_titles, select_examples

    result, outcomes, prepared, _ = toy_run
    ds = prepared.dataset
    old_q = _old_queries_frame(prepared.queries, ds.item_ids, ds.user_ids)
    old_r = _old_recs_frame(outcomes, prepared.queries.query_id, ds.item_ids)
    names = [o.name for o in outcomes]
    titles = item_titles(ds.catalog)
    new = select_examples(result.queries_frame, result.recs_frame, titles, names, k=5, seed=0)
    old = select_examples(old_q, old_r, titles, names, k=5, seed=0)
    assert new == old and len(new.examples) == 6 and any(e.kind == "anchor" for e in new.examples)
