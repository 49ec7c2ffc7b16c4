"""The memory guard stops a run before the work, naming the estimated need and how to reduce it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from xsell_eval.adapters.knn import ItemKNNAdapter
from xsell_eval.errors import ConfigError, MemoryBudgetError
from xsell_eval.memory import (
    BUDGET_ENV,
    MemoryEstimate,
    available_memory,
    check_memory,
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
    with pytest.raises(MemoryBudgetError, match=r"needs an estimated .* --max-queries.*k_neighbors"):
        run_compare(cfg, dataset=toy_dataset())
    assert fitted == []  # stopped before the work


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
