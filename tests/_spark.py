"""The one Spark session the Spark tests share (``local[2]``), skipped with a reason when Spark cannot run.

Import the fixture into a test module: ``from _spark import spark  # noqa: F401`` and mark the module
``pytestmark = pytest.mark.xdist_group("spark")``: with ``--dist loadgroup`` (pyproject's addopts) every
Spark test runs on ONE xdist worker, so the JVM starts once per test run (about 10 s), not once per worker.
The session is the engine's (:func:`xsell_eval.spark.session.get_session`) with test-friendly settings:
two shuffle partitions (the test frames are tiny), no UI, a small driver heap.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MASTER = "local[2]"
#: Session settings for tests: tiny frames, so few partitions; nothing to watch, so no UI.
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
}
ROOT = Path(__file__).resolve().parents[1]


def spark_unavailable() -> str | None:
    """Why Spark cannot run here (no pyspark, no Java 17+), or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    from xsell_eval.spark.session import MIN_JAVA, java_version

    v = java_version()
    if v is None or v < MIN_JAVA:
        return f"Spark needs Java {MIN_JAVA}+ (found {v})"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The shared ``local[2]`` SparkSession (skips the test when Spark cannot run)."""
    why = spark_unavailable()
    if why:
        pytest.skip(why)
    from xsell_eval.spark.session import get_session, stop_session

    # the Python workers must import this checkout's package (a worktree, not the installed one)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *paths])
    session = get_session(MASTER, app_name="xsell-eval-tests", conf=TEST_CONF)
    yield session
    stop_session()


def retail_head(directory: Path, lines: int) -> Path:
    """The header and first ``lines`` lines of the embedded Online Retail, as a plain CSV in ``directory``."""
    from xsell_eval.data.loaders import default_data_path

    out = directory / f"online_retail_{lines // 1000}k.csv"
    with gzip.open(default_data_path(), "rt", encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > lines:
                break
            dst.write(line)
    return out
