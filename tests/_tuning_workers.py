"""Shared set-up of the tuning tests that run real worker processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

from xsell_eval.testing import toy_interactions

WORKER = """
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
from xsell_eval.data.loaders import load_dataset
from xsell_eval.pipeline import CompareConfig, prepare
from xsell_eval.tuning import run_search
data, url, study = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = CompareConfig(adapters=("cf",), data=data)
out = run_search("cf", cfg, prepared=prepare(cfg, dataset=load_dataset(data)), n_trials=400, timeout=4.0,
                 storage=url, study_name=study)
print("ran", out.trials_this_run, "created", out.created)
"""


def write_shop(folder: Path) -> Path:
    """A small shop (interactions.csv + catalog.csv) in ``folder``."""
    inter, catalog = toy_interactions(seed=2, n_baskets=900, n_items=60)
    inter.to_csv(folder / "interactions.csv", index=False)
    catalog.to_csv(folder / "catalog.csv", index=False)
    return folder


def run_two_workers(shop: Path, url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """Start two worker processes on one study at once (4 s of trials each); check they shared it.

    Asserts: both exit 0; exactly one created the study; the trials form one sequence of
    numbers; all completed; each worker's count of trials matches what it says it ran; the two
    workers' samplers proposed different parameters. Returns the study's trials.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(shop), url, study],
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
    trials = optuna.load_study(study_name=study, storage=url).get_trials()
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # one numbering, no duplicates
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.user_attrs.get("error") for t in trials]
    by_worker: dict[str, list[dict]] = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"], []).append(t.params)
    assert len(by_worker) == 2, by_worker.keys()
    assert sorted(map(len, by_worker.values())) == sorted(int(w[w.index("ran") + 1]) for w in words)
    a, b = by_worker.values()
    assert a[:3] != b[:3]  # distinct sampler seeds: the workers do not propose the same sequence
    return trials
