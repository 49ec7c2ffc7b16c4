"""Studies survive a killed process and are shared by parallel workers (real subprocesses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from _tuning_workers import run_two_workers, write_shop
from optuna.trial import TrialState
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.tuning import open_storage

optuna.logging.set_verbosity(optuna.logging.ERROR)
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shop(tmp_path_factory.mktemp("shop"))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from xsell_eval.cli import main; main()", *args]


def _trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = open_storage(url, heartbeat=False)
    try:
        sid = storage.get_study_id_from_name(name)
    except KeyError:
        return []
    return storage.get_all_trials(sid, deepcopy=False)


def test_killed_study_resumes_and_keeps_counting(shop: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    log = tmp_path / "worker.log"
    never = tmp_path / "never"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            _cli(
                "tune",
                "cf",
                "--data",
                str(shop),
                "--trials",
                "1000",
                "--storage",
                url,
                "--study",
                "killme",
                "--out",
                str(never),
            ),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            done: list[optuna.trial.FrozenTrial] = []
            while time.monotonic() < deadline and proc.poll() is None:
                done = [t for t in _trials(url, "killme") if t.state == TrialState.COMPLETE]
                if len(done) >= 3:
                    break
                time.sleep(0.2)
            assert proc.poll() is None, f"the tuning process ended early:\n{log.read_text()}"
            assert len(done) >= 3, f"no 3 trials within 90 s:\n{log.read_text()}"
            os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = _trials(url, "killme")
    n_complete = sum(t.state == TrialState.COMPLETE for t in before)
    last_number = max(t.number for t in before)
    assert not never.exists()  # killed mid-search: no run directory

    res = CliRunner().invoke(
        app,
        [
            "tune",
            "cf",
            "--data",
            str(shop),
            "--trials",
            str(n_complete + 2),
            "--storage",
            url,
            "--study",
            "killme",
            "--out",
            str(tmp_path / "resumed"),
            "--bootstrap",
            "100",
        ],
    )
    assert res.exit_code == 0, res.stderr
    after = _trials(url, "killme")
    new = [t for t in after if t.number > last_number]
    assert sum(t.state == TrialState.COMPLETE for t in after) == n_complete + 2  # topped up to the total
    assert len(new) == 2 and all(t.state == TrialState.COMPLETE for t in new)  # numbering continues
    report = (tmp_path / "resumed" / "report.md").read_text()
    assert f"{n_complete + 2} finished trials (target {n_complete + 2}" in report
    assert "resumed or joined an existing study" in report


def test_two_worker_processes_share_one_study(shop: Path, tmp_path: Path) -> None:
    run_two_workers(shop, f"sqlite:///{tmp_path / 'optuna.db'}", "shared")
