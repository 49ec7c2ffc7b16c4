"""Serving latency: percentiles against numpy, the probe's calls, outcome / summary.json / report table."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _report_fixtures import fixed_result

from xsell_eval.latency import latency_from_times, measure_latency
from xsell_eval.queries import Requests
from xsell_eval.report.sections import adapters_table


def test_percentiles_hand_computed() -> None:
    # 1..100 ms: p50 = 50.5, p95 = 95.05, p99 = 99.01 (linear interpolation, numpy's default)
    stats = latency_from_times(np.arange(1, 101) / 1000.0, n_batch=5000, batch_seconds=2.0, warmup=3)
    assert stats.p50_ms == pytest.approx(50.5)
    assert stats.p95_ms == pytest.approx(95.05)
    assert stats.p99_ms == pytest.approx(99.01)
    assert stats.mean_ms == pytest.approx(50.5)
    assert stats.throughput_qps == pytest.approx(2500.0)
    assert (stats.n_timed, stats.warmup) == (100, 3)


def test_empty_and_unknown_batch_time_are_nan() -> None:
    stats = latency_from_times(np.zeros(0), n_batch=0, batch_seconds=0.0)
    assert np.isnan(stats.p50_ms) and np.isnan(stats.throughput_qps) and stats.n_timed == 0


def _queries(n: int) -> Requests:
    ctx = sp.csr_matrix(np.eye(n, 5, dtype=np.float64))
    return Requests(np.arange(n), np.full(n, -1), np.zeros(n, dtype="datetime64[ns]"), ctx, np.zeros(n), np.zeros(n))


def test_probe_calls_one_query_at_a_time_seeded() -> None:
    seen: list[np.ndarray] = []
    q = _queries(50)
    stats = measure_latency(
        lambda one: seen.append(one.query_id.copy()), q, batch_seconds=0.5, seed=4, sample=20, warmup=5
    )
    assert len(seen) == 25 and all(len(s) == 1 for s in seen)
    timed = [int(s[0]) for s in seen[5:]]
    assert len(set(timed)) == 20  # a sample without replacement
    again: list[np.ndarray] = []
    measure_latency(lambda one: again.append(one.query_id.copy()), q, batch_seconds=0.5, seed=4, sample=20, warmup=5)
    assert [int(s[0]) for s in again] == [int(s[0]) for s in seen]
    assert stats.n_timed == 20 and stats.throughput_qps == pytest.approx(100.0)
    few = measure_latency(lambda one: None, _queries(3), batch_seconds=0.1, sample=200, warmup=2)
    assert few.n_timed == 3


def test_report_table_shows_latency_only_when_measured() -> None:
    result = fixed_result()
    plain = adapters_table(result)
    assert "p50" not in plain  # the golden fixture has no latency: its report is unchanged
    lat = {"p50_ms": 1.25, "p95_ms": 3.5, "p99_ms": 7.0, "mean_ms": 1.5, "n_timed": 200, "warmup": 10,
           "throughput_qps": 12345.6}  # fmt: skip
    adapters = [replace(a, latency=lat) if a.ok else a for a in result.adapters]
    table = adapters_table(replace(result, adapters=adapters))
    assert "one query p50 / p95 / p99 (ms)" in table and "batch (queries/s)" in table
    assert "| 1.25 / 3.50 / 7.00 | 12,346 |" in table
    failed = next(line for line in table.splitlines() if line.startswith("| `lightfm`"))
    assert failed.count("—") >= 2


def test_compare_records_latency_in_summary_json(tmp_path: Path) -> None:
    from xsell_eval.data.synthetic import generate_shop
    from xsell_eval.pipeline import CompareConfig, run_compare
    from xsell_eval.results import write_run

    ds = generate_shop(seed=1, n_users=200, n_items=40, n_days=30).to_dataset()
    result = run_compare(CompareConfig(adapters=("popular", "cf"), n_bootstrap=100).validate(), dataset=ds)
    write_run(result, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for a in summary["adapters"]:
        lat = a["latency"]
        assert lat["n_timed"] == min(200, result.n_queries) and lat["warmup"] == 10
        assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
        assert lat["throughput_qps"] == pytest.approx(result.n_queries / a["recommend_seconds"])
    report = (tmp_path / "run" / "report.md").read_text()
    assert "one query p50 / p95 / p99 (ms)" in report
    assert isinstance(pd.read_parquet(tmp_path / "run" / "metrics.parquet"), pd.DataFrame)
