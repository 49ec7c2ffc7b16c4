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
from optuna.trial import TrialState
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.testing import toy_interactions

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
    d = tmp_path_factory.mktemp("shop")
    inter, catalog = toy_interactions(seed=2, n_baskets=900, n_items=60)
    inter.to_csv(d / "interactions.csv", index=False)
    catalog.to_csv(d / "catalog.csv", index=False)
    return d


WORKER = """
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
from xsell_eval.data.loaders import load_dataset
from xsell_eval.pipeline import CompareConfig, prepare
from xsell_eval.tuning import run_search
data, url = sys.argv[1], sys.argv[2]
cfg = CompareConfig(adapters=("cf",), data=data)
out = run_search("cf", cfg, prepared=prepare(cfg, dataset=load_dataset(data)), n_trials=400, timeout=4.0,
                 storage=url, study_name="machines")
print("ran", out.trials_this_run, "created", out.created)
"""


def test_two_workers_share_a_postgresql_study_then_compare_reads_it(
    postgres_url: str, shop: Path, tmp_path: Path
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(shop), postgres_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    words = [o.split() for o in outs]
    assert sorted(w[w.index("created") + 1] for w in words) == ["False", "True"]  # exactly one creator
    trials = optuna.load_study(study_name="machines", storage=postgres_url).get_trials()
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # one numbering, no duplicates
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.user_attrs.get("error") for t in trials]
    by_worker: dict[str, int] = {}
    for t in trials:
        by_worker[t.user_attrs["worker"]] = by_worker.get(t.user_attrs["worker"], 0) + 1
    assert sorted(by_worker.values()) == sorted(int(w[w.index("ran") + 1]) for w in words)

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
