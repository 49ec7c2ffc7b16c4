"""tune --engine spark: an Optuna study in an RDB storage (SQLite here) that several workers can join."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from _spark import MASTER, spark  # noqa: F401

from xsell_eval.errors import ConfigError
from xsell_eval.settings import CompareConfig

pytestmark = pytest.mark.xdist_group("spark")  # one xdist worker, one JVM for every Spark test (tests/_spark.py)

SPEC = "spark-als:iterations=3"  # a fixed parameter is not searched (and keeps the fits short)


@pytest.fixture(scope="module")
def tiny_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from xsell_eval.data.synthetic import generate_shop

    d = tmp_path_factory.mktemp("tiny_shop")
    generate_shop(seed=5, n_users=150, n_items=30, n_days=60).save(d, fmt="parquet")
    return d


@pytest.mark.slow  # 7 min on a contended 2-core machine (ten ALS fits and scorings, two Spark preparations)
def test_spark_study_lives_in_the_storage_and_a_second_worker_joins(spark, tiny_shop: Path, tmp_path: Path) -> None:  # noqa: F811
    from typer.testing import CliRunner

    from xsell_eval.cli import app
    from xsell_eval.spark.tuning import tune_spark

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    out = tmp_path / "tune"
    args = ["tune", SPEC, "--engine", "spark", "--spark-master", MASTER, "--data", str(tiny_shop)]
    args += [
        "--storage",
        storage,
        "--study",
        "als-spark",
        "--trials",
        "2",
        "--metric",
        "hit_rate@10",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "study als-spark" in res.output and "2 finished trials" in res.output
    study = optuna.load_study(study_name="als-spark", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2 and done[0].user_attrs.get("is_default")
    assert done[0].params == {"factors": 64, "reg": 0.01, "alpha": 10.0}  # trial 0: the declared defaults
    assert all(0.0 <= t.value <= 1.0 for t in done) and "iterations" not in done[1].params
    assert study.user_attrs["engine"] == "spark" and study.user_attrs["metric"] == "hit_rate@10"
    assert (out / "spark-tune-spark-als_iterations=3.json").exists()

    # a second worker (same storage and study name) tops the study up to 3 trials instead of starting over
    cfg = CompareConfig(adapters=(SPEC,), data=str(tiny_shop), engine="spark", spark_master=MASTER)
    again = tune_spark(SPEC, cfg, metric="hit_rate@10", n_trials=3, storage=storage, study_name="als-spark")
    assert not again.created and again.n_finished == 3
    assert len(optuna.load_study(study_name="als-spark", storage=storage).trials) == 3
    assert again.best_value == max(t.value for t in optuna.load_study(study_name="als-spark", storage=storage).trials)
    assert list(again.test["variant"]) == ["tuned", "default"] and (again.test["n"] > 0).all()

    # the same study name for another metric changes nothing and says why
    with pytest.raises(ConfigError, match=r"study 'als-spark' .* was tuned for something else \(metric"):
        tune_spark(SPEC, cfg, metric="ndcg@10", n_trials=4, storage=storage, study_name="als-spark")
    assert len(optuna.load_study(study_name="als-spark", storage=storage).trials) == 3


def test_spark_tuning_refuses_what_it_cannot_do() -> None:
    from xsell_eval.spark.tuning import spark_search_space

    with pytest.raises(ConfigError, match="--engine spark tunes spark-als, spark-fpgrowth"):
        spark_search_space("popular")
    assert set(spark_search_space("spark-fpgrowth")) == {"min_support", "min_confidence"}
