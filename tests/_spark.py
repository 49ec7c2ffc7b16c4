"""The one Spark session the Spark tests share (``local[2]``), skipped with a reason when Spark cannot run.

Import the fixture into a test module: ``from _spark import spark  # noqa: F401``. Spark starts once
per test process (about 10 s); every Spark test reuses it, so all of them stay well under 3 minutes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

MASTER = "local[2]"


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

    session = get_session(MASTER)
    yield session
    stop_session()
