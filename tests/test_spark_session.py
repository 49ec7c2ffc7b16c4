"""The Spark session's checks: Java version, master URLs, an unreachable master fails fast."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from _spark import spark  # noqa: F401

from xsell_eval.errors import ConfigError, MissingExtraError
from xsell_eval.spark import session as S

pytestmark = pytest.mark.xdist_group("spark")  # one xdist worker, one JVM for every Spark test (tests/_spark.py)


def _fake_java(tmp_path: Path, version_line: str) -> str:
    java = tmp_path / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return str(java)


def test_java_versions_are_parsed(tmp_path: Path) -> None:
    assert S.java_version(_fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')) == 17
    assert S.java_version(_fake_java(tmp_path, 'java version "1.8.0_392"')) == 8
    assert S.java_version(str(tmp_path / "absent")) is None


def test_old_or_missing_java_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(S.SparkEngineError, match=r"needs Java 17 or later, found Java 11"):
        S.check_java(_fake_java(tmp_path, 'openjdk version "11.0.2"'))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nojdk"))
    with pytest.raises(S.SparkEngineError, match=r"needs Java 17 or later, and no working `java` was found") as exc:
        S.check_java()
    assert "\n" not in str(exc.value) and "JAVA_HOME" in str(exc.value)


def test_master_urls() -> None:
    for ok in ("local", "local[2]", "local[*]", "yarn", "k8s://https://host:443"):
        assert S.check_master(ok) == ok
    with pytest.raises(ConfigError, match="not a Spark master URL"):
        S.check_master("locale[2]")
    with pytest.raises(ConfigError, match="spark://HOST:PORT"):
        S.check_master("spark://head")


def test_unreachable_master_fails_fast() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(S.SparkEngineError, match=rf"spark://127.0.0.1:{port} is unreachable"):
        S.get_session(f"spark://127.0.0.1:{port}")
    assert time.monotonic() - t0 < 30


def test_missing_pyspark_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'xsell-eval\[spark\]'"):
        S.pyspark()


def test_the_shared_session_runs(spark) -> None:  # noqa: F811
    assert spark.range(10).count() == 10
    assert S.get_session("local[2]") is spark  # reused, not rebuilt
    with pytest.raises(S.SparkEngineError, match="already running"):
        S.get_session("local[1]")


def test_pandas_only_adapters_and_splits_stop_before_spark_starts() -> None:
    from xsell_eval.settings import CompareConfig

    with pytest.raises(ConfigError, match=r"adapter 'cf' runs with --engine pandas only.*--engine spark runs: popular"):
        CompareConfig(adapters=("cf",), engine="spark").validate()
    with pytest.raises(ConfigError, match="'last-basket' needs --engine pandas"):
        CompareConfig(adapters=("rules",), engine="spark", split="last-basket").validate()
    with pytest.raises(ConfigError, match="unknown engine 'dask'"):
        CompareConfig(adapters=("rules",), engine="dask").validate()
    cfg = CompareConfig(adapters=("rules",), engine="spark").validate()
    assert cfg.adapters == ("popular", "rules")
    assert CompareConfig().hash == CompareConfig(engine=None).hash  # pandas runs keep their hashes


def test_experiment_file_engine_key() -> None:
    from xsell_eval.config import loads_experiment

    exp = loads_experiment('engine = "spark"\nspark_master = "local[2]"\n[adapters.rules]\n')
    cfg = exp.to_compare_config()
    assert (cfg.engine, cfg.spark_master) == ("spark", "local[2]")


def test_cli_without_java_is_one_line_naming_what_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from xsell_eval.cli import app

    monkeypatch.setattr(S, "_SESSIONS", {})  # as in a fresh process (the shared test session stays untouched)
    for found, want in ((None, "no working `java` was found"), (11, "found Java 11")):
        monkeypatch.setattr(S, "java_version", lambda java=None, v=found: v)
        res = CliRunner().invoke(app, ["compare", "popular", "--engine", "spark", "--spark-master", "local[1]"])
        assert res.exit_code != 0
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and "needs Java 17 or later" in lines[0] and want in lines[0], res.output
        assert "Traceback" not in res.output


def test_cli_unreachable_master_is_a_clear_error_within_30_s() -> None:
    from typer.testing import CliRunner

    from xsell_eval.cli import app

    t0 = time.monotonic()
    res = CliRunner().invoke(app, ["compare", "popular", "--engine", "spark", "--spark-master", "spark://127.0.0.1:1"])
    assert time.monotonic() - t0 < 30
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "Spark master spark://127.0.0.1:1 is unreachable" in res.output and "start-master.sh" in res.output


def test_spark_submit_script_passes_spark_submits_master(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from xsell_eval.cli import submit
    from xsell_eval.spark.submit import submitted_master

    monkeypatch.setattr(sys, "argv", ["submit.py"])
    monkeypatch.setattr("xsell_eval.spark.submit.submitted_master", lambda: "spark://head:7077")
    seen: list[list[str]] = []
    monkeypatch.setattr("xsell_eval.cli.main", lambda: seen.append(list(sys.argv)))
    submit.main(["compare", "popular", "--engine", "spark"])
    submit.main(["compare", "popular", "--engine", "spark", "--spark-master", "local[1]"])
    submit.main(["compare", "cf"])
    assert seen == [
        ["xsell-eval", "compare", "popular", "--engine", "spark", "--spark-master", "spark://head:7077"],
        ["xsell-eval", "compare", "popular", "--engine", "spark", "--spark-master", "local[1]"],
        ["xsell-eval", "compare", "cf"],
    ]
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert submitted_master() is None  # outside spark-submit
