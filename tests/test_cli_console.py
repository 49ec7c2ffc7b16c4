"""The console at 80 columns in a pipe: whole header words, no cut cells, no progress frames in stderr.

The end-to-end checks run the real command in a subprocess with stdout and stderr piped and
``COLUMNS=80`` (what a CI log or ``| less`` gives), on the toy shop.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from xsell_eval.cli._tables import Cell, Column, FitTable

ROOT = Path(__file__).resolve().parents[1]


def _render(renderable: object, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, color_system=None).print(renderable)
    return buf.getvalue()


def _metric_table(n_cols: int = 6) -> FitTable:
    names = ["hit_rate@10", "precision@10", "recall@10", "ndcg@10", "mrr@10", "revenue@10"][:n_cols]
    cols = [
        Column(n, [Cell("[green]▲[/] 0.633", "[dim][0.616, 0.649][/]"), Cell("0.357", "[dim][0.340, 0.373][/]")])
        for n in names
    ]
    return FitTable(title="t", key_header="adapter", keys=["cf", "popular"], columns=cols, caption="legend ▲/▼")


def test_wide_console_gives_one_table_with_one_line_cells():
    out = _render(_metric_table(), 200)
    assert out.count("┏") == 1 and "0.633 [0.616, 0.649]" in out and "legend" in out
    stacked, chunks = _metric_table().layout(200)
    assert not stacked and len(chunks) == 1


def test_80_columns_stacks_the_interval_then_splits_whole_columns():
    table = _metric_table()
    stacked, chunks = table.layout(80)
    assert stacked and [len(c) for c in chunks] == [4, 2]  # 1 + 10 + 4 × 17 = 79 columns, then the rest
    out = _render(table, 80)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert out.count("┏") == 2 and out.count("legend") == 1  # the legend once, after the last table
    for name in ("hit_rate@10", "precision@10", "recall@10", "ndcg@10", "mrr@10", "revenue@10"):
        assert name in out
    assert "…" not in out and "[0.616, 0.649]" in out  # no cell cut or wrapped inside the interval


def test_groups_stay_together_when_split():
    def col(h: str, g: str) -> Column:
        return Column(h, [Cell("x" * 14)], group=g)

    t = FitTable(title="t", key_header="arm", keys=["a"], columns=[col("a1", "A"), col("a2", "A"), col("b1", "B")])
    # 1 + 6 + 17 + 17 = 41 fits A; B would make 58 > 50: B goes to the next table as a whole
    assert [[c.header for c in chunk] for chunk in t.layout(50)[1]] == [["a1", "a2"], ["b1"]]
    # narrower than a group: the group itself is split column by column
    assert [[c.header for c in chunk] for chunk in t.layout(30)[1]] == [["a1"], ["a2"], ["b1"]]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="80", PYTHONPATH=str(ROOT))
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_INTERACTIVE", None)
    return subprocess.run(
        [sys.executable, "-m", "xsell_eval", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _assert_readable(out: str, words: list[str]) -> None:
    paths = ("Report: ", "Best parameters: ")  # lines naming paths soft-wrap: a path is never broken
    lines = [ln for ln in out.splitlines() if not ln.startswith(paths)]
    assert max(len(line) for line in lines) <= 80, out
    table_lines = [ln for ln in lines if ln[:1] in "┏┃┡│└"]
    assert table_lines and not any("…" in ln for ln in table_lines), out
    for w in words:
        assert w in out, f"{w!r} missing at 80 columns:\n{out}"


def _assert_no_progress(err: str) -> None:
    assert "━" not in err and "0:00:0" not in err, f"progress frames in piped stderr:\n{err}"


@pytest.mark.parametrize("command", ["compare", "abtest", "tune"])
def test_piped_80_columns_whole_headers_and_quiet_stderr(command, shop, tmp_path):
    if command == "compare":
        args = ["compare", "cf", "rules", "--data", str(shop), "--bootstrap", "200", "--out", str(tmp_path / "c")]
        words = ["hit_rate@10", "precision@10", "recall@10", "ndcg@10", "mrr@10", "revenue@10", "adapter"]
        words += ["significantly better/worse than popular"]
    elif command == "tune":
        args = ["tune", "cf", "--data", str(shop), "--trials", "2", "--bootstrap", "200", "--out", str(tmp_path / "t")]
        words = ["metric", "trials", "validation", "best", "test", "tuned", "default", "tuned −"]
    else:
        args = ["abtest", "popular", "cf", "--data", str(shop), "--visitors", "4000", "--bootstrap", "200"]
        args += ["--out", str(tmp_path / "a")]
        words = ["visitors", "conversion", "conversion lift", "p (Holm)", "revenue/visitor", "revenue lift"]
        words += ["p (Welch,", "Holm)", "decision:"]
    done = _run(args, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_readable(done.stdout, words)
    _assert_no_progress(done.stderr)
    if command == "compare":  # the report path comes whole on one line, whatever its length (copy-paste)
        assert f"Report: {tmp_path / 'c' / 'report.md'}  (run directory {tmp_path / 'c'})" in done.stdout.splitlines()
    if command == "tune":
        assert any(
            ln.startswith(f"Best parameters: {tmp_path / 't' / 'best_params.toml'} · report: {tmp_path / 't'}")
            for ln in done.stdout.splitlines()
        ), done.stdout


def test_runs_list_piped_80_columns_keeps_names_whole(tmp_path):
    from _report_fixtures import fixed_result

    from xsell_eval.results import write_run

    for name in ("20240101-120000-golden", "20240102-090000-a-longer-run-name"):
        write_run(fixed_result(), tmp_path / "reports" / name, report="(report)\n")
    done = _run(["runs", "list", "--dir", str(tmp_path / "reports")], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    data = str(fixed_result().manifest["dataset"]["name"])
    _assert_readable(done.stdout, ["20240101-120000-golden", data, "hit_rate@10", "popular, cf, rules,", "primary"])
    assert "20240102-090000-a-longer" in done.stdout and "-run-name" in done.stdout  # folded over two lines, not cut
