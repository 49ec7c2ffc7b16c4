"""The SparkSession of the Spark engine, with the checks that turn Spark's failures into one clear line.

* Java: pyspark 4 runs on Java 17 or later. :func:`check_java` runs ``java -version`` (from
  ``$JAVA_HOME`` when set) before Spark starts, so a missing or old Java is one line naming
  what is needed, not a Py4J traceback.
* Master: ``local``, ``local[N]``, ``local[*]``, ``spark://host:port[,host:port]``, ``yarn``,
  ``k8s://...`` are accepted. For ``spark://`` the master's port is probed first (TCP,
  :data:`CONNECT_TIMEOUT_S`), so an unreachable master fails within seconds instead of Spark's
  minute of retries; the session itself is built under a :data:`SESSION_TIMEOUT_S` deadline.

Example:
    >>> check_master("local[2]")
    'local[2]'
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from xsell_eval._imports import require
from xsell_eval.errors import ConfigError, XsellError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Oldest Java major version pyspark 4 runs on.
MIN_JAVA = 17
#: Seconds to wait for a ``spark://`` master's port to answer.
CONNECT_TIMEOUT_S = 10.0
#: Seconds to wait for a session on a cluster master (JVM start and registration with the master).
SESSION_TIMEOUT_S = 30.0
#: Seconds to wait for a local session (only the JVM start; slow on a busy machine).
LOCAL_SESSION_TIMEOUT_S = 180.0
DEFAULT_MASTER = "local[*]"

_LOCAL_RE = re.compile(r"^local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?$")
_SPARK_RE = re.compile(r"^spark://(.+)$")


class SparkEngineError(XsellError):
    """Spark cannot start or reach its master (Java missing, bad or unreachable master URL)."""


def pyspark() -> ModuleType:
    """``import pyspark`` or :class:`~xsell_eval.errors.MissingExtraError` with ``pip install 'xsell-eval[spark]'``."""
    return require("pyspark", extra="spark")


def java_version(java: str | None = None) -> int | None:
    """Major version of ``java`` (default: ``$JAVA_HOME/bin/java``, else ``java`` on PATH); None when absent.

    Parses the first line of ``java -version`` (``openjdk version "17.0.15"``, ``"1.8.0_392"`` -> 8).
    """
    if java is None:
        home = os.environ.get("JAVA_HOME", "").strip()
        java = str(Path(home) / "bin" / "java") if home else (shutil.which("java") or "")
    if not java or not Path(java).exists():
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if m is None:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def check_java(java: str | None = None) -> int:
    """The Java major version, or :class:`SparkEngineError` naming what is needed."""
    v = java_version(java)
    where = f"JAVA_HOME={os.environ['JAVA_HOME']}" if os.environ.get("JAVA_HOME", "").strip() else "PATH"
    if v is None:
        raise SparkEngineError(
            f"--engine spark needs Java {MIN_JAVA} or later, and no working `java` was found (looked in {where}); "
            f"install a JDK {MIN_JAVA}+ (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    if v < MIN_JAVA:
        raise SparkEngineError(
            f"--engine spark needs Java {MIN_JAVA} or later, found Java {v} (from {where}); "
            f"install a JDK {MIN_JAVA}+ and point JAVA_HOME at it"
        )
    return v


def check_master(master: str) -> str:
    """Validate a master URL (and probe a ``spark://`` master's port); returns it stripped.

    Raises:
        ConfigError: not a master URL Spark knows.
        SparkEngineError: a ``spark://`` master that does not answer within :data:`CONNECT_TIMEOUT_S`.
    """
    m = master.strip()
    if _LOCAL_RE.match(m) or m == "yarn" or m.startswith(("k8s://", "mesos://")):
        return m
    sm = _SPARK_RE.match(m)
    if sm is None:
        raise ConfigError(
            f"--spark-master {master!r} is not a Spark master URL; expected local[*], local[N], "
            "spark://HOST:PORT, yarn or k8s://..."
        )
    errors = []
    for hostport in sm.group(1).split(","):
        host, _, port = hostport.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--spark-master {master!r}: expected spark://HOST:PORT (e.g. spark://head:7077)")
        try:
            with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
                return m
        except OSError as exc:
            errors.append(f"{host}:{port}: {exc.strerror or exc}")
    raise SparkEngineError(
        f"Spark master {m} is unreachable ({'; '.join(errors)}); start it (sbin/start-master.sh), check the "
        "host and port (7077 by default), or run locally with --spark-master 'local[*]'"
    )


_SESSIONS: dict[str, Any] = {}


def get_session(
    master: str = DEFAULT_MASTER, *, app_name: str = "xsell-eval", conf: dict[str, str] | None = None
) -> SparkSession:
    """The SparkSession for ``master`` (built once per process; Spark allows one active context).

    Checks Java and the master first (see the module docstring). Shuffle partitions default
    to a small number on a local master (the engine's frames are small per partition).

    Raises:
        MissingExtraError: pyspark is not installed.
        SparkEngineError: no/old Java, unreachable master, or the session did not start in time.
    """
    pyspark()
    # pyspark 4.3 warns on every pandas conversion that it does not fully support pandas 3; the engine's
    # conversions (small per-query tables) are covered by the agreement tests, so the console stays clean
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    warnings.filterwarnings("ignore", message="The copy keyword is deprecated", module="pyspark")
    master = check_master(master)
    active = _SESSIONS.get("active")
    if active is not None and not active.sparkContext._jsc.sc().isStopped():
        if _SESSIONS.get("master") != master:
            raise SparkEngineError(
                f"a Spark session on {_SESSIONS.get('master')} is already running in this process; "
                f"stop it (xsell_eval.spark.session.stop_session()) before using {master}"
            )
        return active
    check_java()
    from pyspark.sql import SparkSession

    local = master.startswith("local")
    if local:  # Python workers run this interpreter (numpy, pyarrow), not whatever `python3` is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {
        "spark.sql.shuffle.partitions": "4" if local else "200",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": "2g" if local else "1g",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.legacy.parquet.nanosAsLong": "true",  # pandas writes timestamp[ns]; read as long, converted in .data
        **(conf or {}),
    }
    result: dict[str, Any] = {}

    def build() -> None:
        try:
            b = SparkSession.builder.master(master).appName(app_name)
            for k, v in settings.items():
                b = b.config(k, v)
            result["session"] = b.getOrCreate()
        except Exception as exc:  # reported below, in the caller's thread
            result["error"] = exc

    t = threading.Thread(target=build, daemon=True)
    t.start()
    deadline = LOCAL_SESSION_TIMEOUT_S if local else SESSION_TIMEOUT_S
    t.join(deadline)
    if t.is_alive():
        raise SparkEngineError(
            f"the Spark session on {master} did not start within {deadline:.0f} s; check the master "
            "and that the cluster has free cores"
        )
    if "error" in result:
        exc = result["error"]
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SparkEngineError(f"Spark did not start on {master}: {first}") from exc
    session = result["session"]
    session.sparkContext.setLogLevel("ERROR")
    _SESSIONS.update(active=session, master=master)
    return session


def stop_session() -> None:
    """Stop the session :func:`get_session` built (if any)."""
    active = _SESSIONS.pop("active", None)
    _SESSIONS.pop("master", None)
    if active is not None:
        active.stop()


__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_MASTER",
    "LOCAL_SESSION_TIMEOUT_S",
    "MIN_JAVA",
    "SESSION_TIMEOUT_S",
    "SparkEngineError",
    "check_java",
    "check_master",
    "get_session",
    "java_version",
    "pyspark",
    "stop_session",
]
