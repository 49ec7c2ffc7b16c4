"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from xsell_eval.testing import toy_interactions


@pytest.fixture(autouse=True)
def _run_in_a_scratch_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in a fresh scratch folder: a command without ``--out`` writes its run directory
    (``reports/<time>-<name>``) and studies (``reports/optuna.db``) there, never into the repository."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy shop (seed 1) written as ``interactions.csv`` + ``catalog.csv`` in a folder, once per module."""
    d = tmp_path_factory.mktemp("shop")
    inter, catalog = toy_interactions(seed=1)
    inter.to_csv(d / "interactions.csv", index=False)
    catalog.to_csv(d / "catalog.csv", index=False)
    return d


# ----------------------------------------------------------------------------- xdist: one worker for Spark
SPARK_TEST_PREFIX = "tests/test_spark_"


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``--dist loadgroup`` (pyproject's addopts), every Spark test module runs on ONE worker.

    The Spark modules (``tests/test_spark_*.py``, marked ``xdist_group("spark")``) share one JVM and one
    session (tests/_spark.py); on two workers each would start its own JVM and repeat the module
    fixtures (the agreement data, the ALS fits). pytest 9 ignores how xdist 3.8 tags grouped test ids
    (``item._nodeid``), so the group is also recognised here by module name. The other tests are
    scheduled one by one, as ``--dist load`` does; the biggest group (Spark) is handed out first.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class _SparkGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "spark" if nodeid.startswith(SPARK_TEST_PREFIX) else super()._split_scope(nodeid)

    return _SparkGroupScheduling(config, log)  # type: ignore[arg-type]
