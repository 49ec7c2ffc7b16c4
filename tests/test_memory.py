"""The memory guard stops a run before the work, naming the estimated need and how to reduce it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from xsell_eval import memory
from xsell_eval.adapters.knn import ItemKNNAdapter
from xsell_eval.adapters.recs_file import RecsFileAdapter
from xsell_eval.adapters.registry import create
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, MemoryBudgetError
from xsell_eval.memory import (
    BUDGET_ENV,
    BYTES_PER_RERANK_CANDIDATE,
    QUERY_FRAME_BYTES_PER_ITEM,
    STATS_BASE_BYTES,
    MemoryEstimate,
    available_memory,
    check_memory,
    estimate_compare_bytes,
    format_bytes,
    parse_bytes,
)
from xsell_eval.pipeline import CompareConfig, run_compare
from xsell_eval.similarity import item_similarity, similarity_memory_bytes
from xsell_eval.testing import toy_dataset


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2048", 2048), ("1K", 1024), ("1.5G", 3 * 2**29), ("512MiB", 2**29), ("3 mb", 3 * 2**20)],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


def test_parse_bytes_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match=r"XSELL_MEMORY_BUDGET must be a size such as 8G.*'lots'"):
        parse_bytes("lots")


def test_available_memory_reads_the_machine_or_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    real, source = available_memory()
    assert real > 0 and source
    monkeypatch.setenv(BUDGET_ENV, "3M")
    assert available_memory() == (3 * 2**20, f"${BUDGET_ENV}")


def test_check_memory_message_names_need_availability_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "1K")
    est = MemoryEstimate({"part a": 3 * 2**20, "part b": 2**20})
    with pytest.raises(
        MemoryBudgetError, match=r"needs an estimated 4\.0 MiB.*part a: 3\.0 MiB.*only 1\.0 KiB.*use less"
    ):
        check_memory(est, what="the thing", hints=["use less"])
    monkeypatch.setenv(BUDGET_ENV, "5M")
    check_memory(est, what="the thing", hints=["use less"])  # fits: no error
    assert format_bytes(1536 * 2**20) == "1.5 GiB"


def test_compare_stops_before_any_adapter_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted: list[str] = []
    monkeypatch.setattr(ItemKNNAdapter, "_fit", lambda self, train: fitted.append("cf"))
    monkeypatch.setenv(BUDGET_ENV, "64K")
    cfg = CompareConfig(adapters=("cf",), ks=(10,), n_bootstrap=100)
    with pytest.raises(MemoryBudgetError, match=r"needs an estimated .* The biggest part is .*--max-queries"):
        run_compare(cfg, dataset=toy_dataset())
    assert fitted == []  # stopped before the work


def test_a_dominant_similarity_is_named_with_k_neighbors(monkeypatch: pytest.MonkeyPatch) -> None:
    import xsell_eval.similarity

    monkeypatch.setattr(xsell_eval.similarity, "similarity_memory_bytes", lambda x, k, **kw: 2**30)
    monkeypatch.setenv(BUDGET_ENV, "512M")
    cfg = CompareConfig(adapters=("cf",), ks=(10,), n_bootstrap=100)
    with pytest.raises(
        MemoryBudgetError,
        match=r"The biggest part is cf's item similarity \(k_neighbors=100\), 1\.0 GiB: use a smaller k_neighbors",
    ):
        run_compare(cfg, dataset=toy_dataset())


def test_compare_runs_with_enough_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "8G")
    result = run_compare(CompareConfig(adapters=("cf",), ks=(10,), n_bootstrap=100), dataset=toy_dataset())
    assert result.ok_adapters == ["popular", "cf"]


def test_cf_fit_checks_its_similarity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "1K")
    with pytest.raises(MemoryBudgetError, match=r"adapter 'cf': the item similarity.*cf:k_neighbors=50"):
        ItemKNNAdapter(k_neighbors=200).fit(toy_dataset())


def test_cli_prints_the_memory_message(monkeypatch: pytest.MonkeyPatch, shop: Path, tmp_path: Path) -> None:
    from xsell_eval.cli import app

    monkeypatch.setenv(BUDGET_ENV, "1K")
    res = CliRunner().invoke(app, ["compare", "cf", "--data", str(shop), "--k", "5", "--out", str(tmp_path / "run")])
    assert res.exit_code == 1, res.output
    assert "needs an estimated" in res.stderr and "--max-queries" in res.stderr


@pytest.mark.parametrize("k", [10, None])
def test_similarity_estimate_bounds_the_traced_peak(k: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    # the NumPy/scipy path: tracemalloc does not see numba's allocations, and the compiled pass
    # ([fast] extra) holds less (no co-count chunk: its kept entries plus one scratch row per thread)
    monkeypatch.setenv("XSELL_EVAL_NO_NUMBA", "1")
    rng = np.random.default_rng(0)
    x = sp.random(3000, 400, density=0.02, random_state=1, format="csr")
    x.data[:] = rng.integers(1, 3, x.nnz)
    tracemalloc.start()
    item_similarity(x, k_neighbors=k, n_threads=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= similarity_memory_bytes(x, k, n_threads=1)


# ----------------------------------------------------------------------------- what the estimate counts


def _estimate(adapters: list[tuple[str, object]], **kw: int) -> MemoryEstimate:
    ds = toy_dataset()
    base = {"n_queries": 10_000, "n_items": ds.n_items, "k": 10, "n_metric_columns": 20}
    return estimate_compare_bytes(adapters, ds, **{**base, **kw})  # type: ignore[arg-type]


def _part(est: MemoryEstimate, needle: str) -> int:
    (value,) = [b for label, b in est.parts.items() if needle in label]
    return value


def test_reveal_seeds_multiply_the_test_queries() -> None:
    pop = [("popular", create("popular"))]
    one = _estimate(pop, query_bytes=640_000, reveal_seeds=1)
    three = _estimate(pop, query_bytes=640_000, reveal_seeds=3)
    assert _part(one, "the test queries") == 640_000 and one.held == 640_000
    assert _part(three, "--reveal-seeds 3") == 3 * 640_000 and three.held == 3 * 640_000
    # and the extra reveal's top-k lists while it is evaluated: n × k × 16
    assert _part(three, "an extra reveal's recommendations") == 10_000 * 10 * 16
    assert three.total - one.total == 2 * 640_000 + 10_000 * 10 * 16
    assert "--reveal-seeds" in three.hints[next(lab for lab in three.parts if "--reveal-seeds 3" in lab)]


def test_rerank_variants_count_their_results_and_candidates_on_top_of_the_base() -> None:
    cf = [("cf", create("cf"))]
    with_rerank = [*cf, ("cf+rerank", create("cf+rerank", params={"depth": 3}))]
    deeper = [*cf, ("cf+rerank", create("cf+rerank", params={"depth": 6}))]
    a, b, c = _estimate(cf), _estimate(with_rerank), _estimate(deeper)
    assert _part(b, "results of 2 adapter(s), 1 of them rerank") == 2 * _part(a, "results of 1 adapter(s)")
    # cf+rerank holds cf's similarity while its candidates are re-ranked: both, in the same stage
    assert _part(b, "item similarity") == _part(a, "item similarity") > 0
    assert _part(b, "3 × 10 re-ranked candidates") == 10_000 * 3 * 10 * BYTES_PER_RERANK_CANDIDATE
    assert _part(c, "6 × 10 re-ranked candidates") == 2 * _part(b, "3 × 10 re-ranked candidates")
    assert "depth" in b.hints[next(lab for lab in b.parts if "re-ranked" in lab)]


def test_statistics_grow_with_queries_and_bootstrap_and_the_largest_stage_wins() -> None:
    pop = [("popular", create("popular"))]
    small = _estimate(pop, n_bootstrap=200, query_items=50_000)
    more = _estimate(pop, n_bootstrap=200, query_items=100_000)
    boot = _estimate(pop, n_bootstrap=1000, query_items=50_000)
    stats = "the statistics and the report's tables"
    assert _part(more, stats) - _part(small, stats) == 50_000 * QUERY_FRAME_BYTES_PER_ITEM
    # 1000 resamples × 10,000 queries: the chunk is capped at 2**21 counts, the draws grow 5×
    assert _part(boot, stats) - _part(small, stats) == 2 * 8 * (2**21 - 200 * 10_000) + 2 * 10_000 * 800
    # stages do not add up: cf's similarity (and the metrics' batch) or the statistics, whichever is larger
    cf = _estimate([("cf", create("cf"))], n_bootstrap=200, query_items=50_000)
    assert not any("statistics" in lab for lab in cf.parts) or not any("similarity" in lab for lab in cf.parts)


def _write_recs(path: Path, item_ids: np.ndarray, n_lists: int, width: int) -> None:
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "query_id": np.repeat(np.arange(n_lists), width),
            "rank": np.tile(np.arange(1, width + 1), n_lists),
            "item_id": np.asarray(item_ids, dtype=object)[rng.integers(0, len(item_ids), n_lists * width)],
        }
    ).to_csv(path, index=False)


def test_recs_files_count_their_table_and_fitted_lists_and_bound_the_traced_peak(tmp_path: Path) -> None:
    ds = toy_dataset()
    path = tmp_path / "recs.csv"
    _write_recs(path, ds.item_ids, 3000, 20)
    tracemalloc.start()
    adapter = RecsFileAdapter(path, label="prod")
    loaded, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()  # reading the file happens before the check; the fit after it
    adapter.fit(ds)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    est = _estimate([("prod", adapter)])
    table_part = _part(est, "--recs file(s)")
    assert table_part >= 3000 * 20 * 16  # the fitted padded lists, kept all run
    assert est.held > 0 and est.held <= table_part
    assert loaded <= est.held  # the loaded table, already in memory at the check
    # the fit's growth: the lists it keeps (in the table part) plus its working set (its stage's part)
    assert peak - loaded <= table_part - est.held + _part(est, "prod's fit")
    bigger = tmp_path / "bigger.csv"
    _write_recs(bigger, ds.item_ids, 6000, 20)
    assert _part(_estimate([("prod", RecsFileAdapter(bigger, label="prod"))]), "--recs file(s)") > 1.9 * table_part


@pytest.fixture(scope="module")
def retail() -> Dataset:
    from xsell_eval.pipeline import load_data

    return load_data(CompareConfig())


@pytest.mark.parametrize(
    "settings",
    [
        {"adapters": ("popular", "popular+rerank:depth=10"), "reveal_seeds": 3},
        {"adapters": ("cf", "cf+rerank"), "ks": (5, 10)},
    ],
    ids=["popular-rerank-reveal3", "cf-rerank"],
)
def test_estimate_bounds_the_traced_peak_of_a_run(
    settings: dict[str, object], retail: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the NumPy path (tracemalloc does not see numba's allocations); measured from the check on:
    # what was allocated before it (data, split, the queries of every reveal) is the estimate's `held`
    monkeypatch.setenv("XSELL_EVAL_NO_NUMBA", "1")
    monkeypatch.setenv(BUDGET_ENV, "64G")
    warm_up = CompareConfig(adapters=settings["adapters"], n_bootstrap=100)  # type: ignore[arg-type]
    run_compare(warm_up, dataset=toy_dataset())  # first imports and caches are not the run's
    seen: list[MemoryEstimate] = []
    real = memory.check_compare_memory

    def traced(*args: object, **kwargs: object) -> MemoryEstimate:
        est = real(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(est)
        tracemalloc.start()
        return est

    monkeypatch.setattr(memory, "check_compare_memory", traced)
    try:
        run_compare(CompareConfig(n_bootstrap=200, **settings), dataset=retail)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (est,) = seen
    growth = est.total - est.held
    assert peak <= growth, (format_bytes(peak), est.parts)
    assert growth <= 8 * peak  # on the high side, not absurdly so


def test_cli_stops_a_reveal_seeds_run_that_would_not_fit(
    monkeypatch: pytest.MonkeyPatch, shop: Path, tmp_path: Path
) -> None:
    from xsell_eval.cli import app
    from xsell_eval.pipeline import load_data, prepare

    # the budget sits between the estimates of `compare cf` and `compare cf --reveal-seeds 3`
    monkeypatch.setenv(BUDGET_ENV, "64G")
    ds = load_data(CompareConfig(data=str(shop)))
    need = {}
    for seeds in (1, 3):
        cfg = CompareConfig(data=str(shop), adapters=("cf",), ks=(5,), reveal_seeds=seeds).validate()
        need[seeds] = memory.check_compare_memory(cfg, prepare(cfg, dataset=ds)).total
    assert need[3] > need[1]
    fitted: list[str] = []
    monkeypatch.setattr(ItemKNNAdapter, "_fit", lambda self, train: fitted.append("cf"))
    monkeypatch.setenv(BUDGET_ENV, str((need[1] + need[3]) // 2))
    args = ["compare", "cf", "--data", str(shop), "--k", "5", "--out", str(tmp_path / "run")]
    res = CliRunner().invoke(app, [*args, "--reveal-seeds", "3"])
    assert res.exit_code == 1, res.output
    assert fitted == []  # stopped before any adapter ran
    assert res.stderr.count("needs an estimated") == 1
    assert "the test queries × 3 reveal(s) (--reveal-seeds 3)" in res.stderr
    assert "use fewer --reveal-seeds (now 3)" in res.stderr and "stopped before the work" in res.stderr


def test_a_spec_whose_constructor_raises_is_left_to_its_own_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # random takes its seed from the run: seed=1 makes its constructor raise a TypeError, which the
    # adapter's run reports as a failure; the guard skips it instead of crashing the comparison
    monkeypatch.setenv(BUDGET_ENV, "8G")
    result = run_compare(CompareConfig(adapters=("random:seed=1",), n_bootstrap=100), dataset=toy_dataset())
    (failed,) = [a for a in result.adapters if a.name == "random:seed=1"]
    assert failed.status == "failed" and "TypeError" in (failed.error or "")


def test_the_max_queries_suggestion_leaves_out_what_does_not_shrink(monkeypatch: pytest.MonkeyPatch) -> None:
    import xsell_eval.similarity

    pop = _estimate([("popular", create("popular"))], n_bootstrap=200, query_bytes=10_000, query_items=50_000)
    assert any("statistics" in lab for lab in pop.parts)
    assert pop.scaling == pop.total - STATS_BASE_BYTES  # the statistics' base does not shrink with the queries
    monkeypatch.setattr(xsell_eval.similarity, "similarity_memory_bytes", lambda x, k, **kw: 2**30)
    cf = _estimate([("cf", create("cf"))], n_bootstrap=200, query_bytes=10_000, query_items=50_000)
    assert cf.biggest == ("cf's item similarity (k_neighbors=100)", 2**30)
    assert cf.scaling == cf.total - 2**30
    # a budget the similarity alone exceeds: no number of queries would fit, none is promised
    monkeypatch.setenv(BUDGET_ENV, "512M")
    with pytest.raises(MemoryBudgetError, match=r"with --max-queries;") as err:
        run_compare(CompareConfig(adapters=("cf",), ks=(10,), n_bootstrap=100), dataset=toy_dataset())
    assert "would fit" not in str(err.value)
