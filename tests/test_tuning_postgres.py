"""Studies in a real PostgreSQL server: what several machines use to share one study.

The fixture starts a throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a free
loopback port and removes it afterwards. Skips, saying why, where the PostgreSQL server
programs or the ``psycopg2`` driver (extra ``xsell-eval[postgres]``) are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from _tuning_workers import run_two_workers, write_shop
from optuna.trial import TrialState
from typer.testing import CliRunner

from xsell_eval.cli import app

optuna.logging.set_verbosity(optuna.logging.ERROR)
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="starts a PostgreSQL server with pg_ctl")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("psycopg2", reason="PostgreSQL driver missing: pip install 'xsell-eval[postgres]'")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) not found")
    prefix: list[str] = []
    root = tmp_path_factory.mktemp("pg")
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use the 'postgres' account
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to start PostgreSQL with")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser to start PostgreSQL as 'postgres'")
        prefix = [runuser, "-u", "postgres", "--"]
        for d in (root, *root.parents):
            if d == Path(d.anchor):
                break
            os.chmod(d, os.stat(d).st_mode | 0o011)  # let 'postgres' traverse to its folder
        os.chown(root, account.pw_uid, account.pw_gid)
    data = root / "data"
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "xsell", "-A", "trust", "--no-sync", "-E", "UTF8"], **run)
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"], **run)
    try:
        yield f"postgresql+psycopg2://xsell@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shop(tmp_path_factory.mktemp("shop"))


def test_two_workers_share_a_postgresql_study_then_compare_reads_it(
    postgres_url: str, shop: Path, tmp_path: Path
) -> None:
    trials = run_two_workers(shop, postgres_url, "machines")

    # the CLI tops the same study up, unchanged but for the URL, and compare --tuned reads it
    runner = CliRunner()
    target = len(trials) + 2
    common = ["--data", str(shop), "--storage", postgres_url, "--bootstrap", "100"]
    res = runner.invoke(
        app, ["tune", "cf", "--trials", str(target), "--study", "machines", "--out", str(tmp_path / "t"), *common]
    )
    assert res.exit_code == 0, res.stderr
    after = optuna.load_study(study_name="machines", storage=postgres_url).get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in after) == target
    res = runner.invoke(app, ["compare", "cf", "--tuned", "--out", str(tmp_path / "c"), *common])
    assert res.exit_code == 0, res.stderr
    report = (tmp_path / "c" / "report.md").read_text()
    assert "| `cf` | yes |" in report and "postgresql+psycopg2://xsell@127.0.0.1" in report
