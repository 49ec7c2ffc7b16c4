"""Tuning with Optuna: search spaces, no test leakage, resume, mismatched studies, reports, CLI."""

from __future__ import annotations

import json
import math
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial
from typer.testing import CliRunner

from xsell_eval.adapters import registry
from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.adapters.content import ContentAdapter
from xsell_eval.adapters.knn import ItemKNNAdapter
from xsell_eval.cli import app
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, UnknownNameError
from xsell_eval.pipeline import CompareConfig, Prepared, prepare
from xsell_eval.queries import Queries, Requests
from xsell_eval.report.tuning import render_tuning_report, tuning_summary_markdown
from xsell_eval.result import TuningSummary
from xsell_eval.testing import toy_dataset
from xsell_eval.tuning import (
    REPORT_EPOCHS,
    TuneResult,
    best_params_from_storage,
    best_params_toml,
    open_storage,
    read_tune_settings,
    run_search,
    search_space,
    select_best,
    tune,
)

optuna.logging.set_verbosity(optuna.logging.ERROR)
runner = CliRunner()
CFG = CompareConfig(adapters=("cf",), n_bootstrap=200, ks=(10,))


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    return prepare(CFG, dataset=toy_dataset())


# ============================================================================ search space
def test_search_space_follows_declared_hyperparameters() -> None:
    space = search_space(ItemKNNAdapter)
    assert space["k_neighbors"] == IntDistribution(5, 1000, log=True)
    assert space["shrink"] == FloatDistribution(0.0, 100.0)
    assert space["alpha"] == FloatDistribution(0.0, 1.0)  # no tune_low/high: the valid range
    assert isinstance(space["similarity"], CategoricalDistribution)
    assert "fallback" not in space  # declared tunable=False
    content = search_space(ContentAdapter)
    assert content["sublinear_tf"] == CategoricalDistribution((False, True))
    assert content["max_features"] == IntDistribution(500, 50_000, log=True)


def test_overrides_range_choices_fixed_value_and_non_tunable() -> None:
    space = search_space(
        ItemKNNAdapter,
        {
            "k_neighbors": {"low": 10, "high": 200},
            "similarity": ["cosine", "jaccard"],
            "shrink": 5,
            "fallback": ["popular", "none"],
            "alpha": {"high": 0.8, "log": True, "low": 0.1},
        },
    )
    assert space["k_neighbors"] == IntDistribution(10, 200, log=True)  # log kept from the declaration
    assert space["similarity"] == CategoricalDistribution(("cosine", "jaccard"))
    assert space["shrink"] == CategoricalDistribution((5.0,))  # a fixed value, coerced to float
    assert space["fallback"] == CategoricalDistribution(("popular", "none"))
    assert space["alpha"] == FloatDistribution(0.1, 0.8, log=True)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"k_neighbors": {"low": 0, "high": 200}}, r"\[tune\.cf\] k_neighbors = .*low': 0.*>= 1.*\[1, 100000\]"),
        (
            {"k_neighbors": "many"},
            r"\[tune\.cf\] k_neighbors = 'many': must be an integer.*integer in \[1, 100000\]",
        ),
        ({"k_neighbors": {"low": 10, "high": 10**7}}, r"k_neighbors.*must be <= 100000"),
        ({"similarity": ["cosine", "pearson"]}, r"similarity = \['cosine', 'pearson'\].*one or more of \['cosine'"),
        ({"alpha": {"low": 0.5, "high": 0.1}}, r"alpha.*low \(0\.5\) is greater than high \(0\.1\)"),
        ({"shrink": {"low": 0, "high": 10, "log": True}}, r"shrink.*log-scale range needs low > 0"),
        ({"shrink": {"low": 0, "high": 10, "step": 1}}, r"shrink.*unknown key\(s\) \['step'\]"),
        ({"similarity": {"low": 1, "high": 2}}, r"similarity.*needs a numeric parameter"),
        ({"neighbours": 10}, r"\[tune\.cf\]: unknown parameter\(s\) \['neighbours'\]; adapter 'cf' declares"),
        ({"aggregation": []}, r"aggregation.*list of choices is empty"),
    ],
)
def test_bad_overrides_name_adapter_parameter_value_and_range(overrides: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        search_space(ItemKNNAdapter, overrides)


def test_read_tune_settings_from_an_experiment_file(tmp_path: Path) -> None:
    p = tmp_path / "exp.toml"
    p.write_text(
        'seed = 3\n[protocol]\nmax_queries = 300\n[metrics]\nk = [10]\nprimary = "hit_rate@10"\n'
        '[adapters.cf]\nfallback = "none"\n[adapters.rules]\n'
        "[tune]\ntrials = 7\n"
        '[tune.cf]\nk_neighbors = {low = 10, high = 200}\nsimilarity = ["cosine", "jaccard"]\n'
    )
    s = read_tune_settings(p)
    assert s.trials == 7 and s.metrics == ("hit_rate@10",) and s.adapters == ("cf", "rules")
    assert s.overrides == {"cf": {"k_neighbors": {"low": 10, "high": 200}, "similarity": ["cosine", "jaccard"]}}
    assert s.params == {"cf": {"fallback": "none"}}
    assert s.compare.max_queries == 300 and s.compare.seed == 3
    p.write_text("[adapters.cf]\n[tune]\ntrails = 7\n")
    with pytest.raises(ConfigError, match=r"trails"):
        read_tune_settings(p)
    p.write_text("[tune.cf\nk = 1\n")
    with pytest.raises(ConfigError, match=r"exp\.toml: not valid TOML.*line 1"):
        read_tune_settings(p)


# ============================================================================ selection
def _trial(number: int, values: list[float] | None, state: TrialState = TrialState.COMPLETE) -> Any:
    t = create_trial(
        state=state,
        values=values if state == TrialState.COMPLETE else None,
        params={"x": float(number)},
        distributions={"x": FloatDistribution(0, 100)},
    )
    t.number = number
    return t


def test_select_best_single_and_multi_objective_by_hand() -> None:
    trials = [
        _trial(0, [0.3]),
        _trial(1, [0.5]),
        _trial(2, None, TrialState.PRUNED),
        _trial(3, [0.5]),
        _trial(4, [0.9]),
        _trial(5, None, TrialState.FAIL),
    ]
    assert select_best(trials, ["maximize"]).number == 4
    assert select_best(trials, ["maximize"], first_n=4).number == 1  # tie 0.5: lower number; #4 outside budget
    assert select_best(trials, ["minimize"]).number == 0
    assert select_best([_trial(0, None, TrialState.FAIL)], ["maximize"]) is None
    # (ndcg, coverage): #1 dominated by #2; Pareto = {0, 2, 3}; best on the first metric = #3
    mo = [_trial(0, [0.2, 0.9]), _trial(1, [0.3, 0.4]), _trial(2, [0.4, 0.5]), _trial(3, [0.6, 0.1])]
    assert select_best(mo, ["maximize", "maximize"]).number == 3
    assert select_best(mo, ["maximize", "minimize"]).number == 3
    assert select_best(mo[:3], ["maximize", "maximize"], first_n=2).number == 1


# ============================================================================ storage
def test_default_storage_is_reports_and_an_older_runs_study_is_still_found(tmp_path: Path) -> None:
    import optuna

    from xsell_eval.tuning.storage import DEFAULT_STORAGE, LEGACY_STORAGE, default_storage

    assert default_storage() == DEFAULT_STORAGE == "sqlite:///reports/optuna.db"  # a fresh folder (conftest)
    (Path("runs")).mkdir()
    old = optuna.create_study(study_name="old", storage=open_storage(LEGACY_STORAGE))
    old.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert default_storage() == LEGACY_STORAGE  # only runs/optuna.db exists: studies there resume
    assert len(optuna.load_study(study_name="old", storage=open_storage(None)).trials) == 2
    assert not Path("reports/optuna.db").exists()
    open_storage(DEFAULT_STORAGE)  # once reports/optuna.db exists, it is the default
    assert default_storage() == DEFAULT_STORAGE


@pytest.mark.parametrize(
    ("url", "pattern"),
    [
        ("sqlite:////nonexistent-folder-xyz/optuna.db", r"folder '/nonexistent-folder-xyz' does not exist"),
        ("foo://somewhere", r"cannot open Optuna storage 'foo://somewhere'.*unknown database kind"),
        ("postgresql://bob:s3cret@127.0.0.1:1/db", r"'postgresql://bob:\*\*\*@127\.0\.0\.1:1/db'"),
        ("runs/optuna.db", r"is not a URL; use sqlite:///reports/optuna.db"),
        ("journal:/nonexistent-folder-xyz/j.log", r"folder '/nonexistent-folder-xyz' does not exist"),
    ],
)
def test_unopenable_storage_is_a_clear_config_error(url: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as info:
        open_storage(url)
    assert "s3cret" not in str(info.value)


# ============================================================================ tune end to end
def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def test_tune_scores_on_validation_then_tuned_vs_default_on_test(prepared: Prepared, tmp_path: Path) -> None:
    url = _db(tmp_path)
    r = tune("cf", CFG, n_trials=4, storage=url, prepared=prepared, study_name="s")
    study = optuna.load_study(study_name="s", storage=url)
    trials = study.get_trials()
    assert r.budget["finished"] == 4 == len(trials) and r.budget["trials_this_run"] == 4
    # trial 0 evaluates the declared defaults; the best is never worse than it on validation
    defaults = {p.name: p.default for p in ItemKNNAdapter.hyperparams if p.name in trials[0].params}
    assert trials[0].params == defaults and trials[0].user_attrs["is_default"]
    assert r.default_validation["ndcg@10"] == pytest.approx(trials[0].value)
    assert r.best_values["ndcg@10"] == pytest.approx(max(t.value for t in trials))
    assert r.best_values["ndcg@10"] >= r.default_validation["ndcg@10"]
    space = search_space(ItemKNNAdapter)
    conditional = set() if r.best_params["similarity"] == "asymmetric" else {"alpha"}  # alpha only for asymmetric
    assert set(r.best_params) == set(space) - conditional
    assert all(space[k]._contains(space[k].to_internal_repr(v)) for k, v in r.best_params.items())
    # test evaluation: both variants on the same test queries, validation next to test
    assert set(r.test["variant"]) == {"tuned", "default"}
    assert (r.test["n"] > 0).all() and r.test["validation"].notna().all()
    assert (r.test["ci_low"] <= r.test["mean"]).all() and (r.test["mean"] <= r.test["ci_high"]).all()
    tuned_mean = r.test.set_index("variant").loc["tuned", "mean"]
    default_mean = r.test.set_index("variant").loc["default", "mean"]
    assert r.comparison.iloc[0]["diff"] == pytest.approx(tuned_mean - default_mean)
    # identity and accepted result stored in the study
    ua = study.user_attrs
    assert ua["adapter"] == "cf" and ua["metrics"] == ["ndcg@10"] and ua["fingerprint"] == r.fingerprint
    assert ua["config_hash"] == r.config_hash and ua["best_params"] == r.best_params
    assert {t.user_attrs["worker"] for t in trials} == set(r.budget["workers"])
    # round trip of the JSON form
    again = TuneResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again.best_params == r.best_params and again.test.shape == r.test.shape


def test_resume_tops_up_and_other_studies_are_refused_untouched(prepared: Prepared, tmp_path: Path) -> None:
    url = _db(tmp_path)
    run_search("cf", CFG, prepared=prepared, n_trials=3, storage=url, study_name="s")
    out = run_search("cf", CFG, prepared=prepared, n_trials=5, storage=url, study_name="s")
    numbers = [t.number for t in out.study.get_trials()]
    assert numbers == [0, 1, 2, 3, 4] and out.trials_this_run == 2 and not out.created
    same = run_search("cf", CFG, prepared=prepared, n_trials=5, storage=url, study_name="s")
    assert same.trials_this_run == 0  # target already reached: nothing to do
    attrs = dict(out.study.user_attrs)

    def untouched() -> None:
        study = optuna.load_study(study_name="s", storage=url)
        assert len(study.trials) == 5 and dict(study.user_attrs) == attrs

    with pytest.raises(ConfigError, match=r"study 's' in .* was tuned for adapter 'cf' \(you asked for 'content'\)"):
        run_search("content", CFG, prepared=prepared, n_trials=6, storage=url, study_name="s")
    untouched()
    with pytest.raises(ConfigError, match=r"metric ndcg@10 \(you asked for hit_rate@10\).*nothing was changed"):
        run_search("cf", CFG, prepared=prepared, metric="hit_rate@10", n_trials=6, storage=url, study_name="s")
    untouched()
    other = prepare(CFG, dataset=toy_dataset(seed=3))
    with pytest.raises(ConfigError, match=r"data fingerprint"):
        run_search("cf", CFG, prepared=other, n_trials=6, storage=url, study_name="s")
    with pytest.raises(ConfigError, match=r"other evaluation settings \(protocol='basket-completion'→'item-to-item'"):
        cfg = CompareConfig(adapters=("cf",), n_bootstrap=200, protocol="item-to-item")
        run_search("cf", cfg, prepared=prepared, n_trials=6, storage=url, study_name="s")
    untouched()


def test_joining_a_study_waits_for_its_creator_to_finish_writing_attributes(prepared: Prepared) -> None:
    """Optuna writes user attributes one by one: a joiner may see ``adapter`` before ``metrics``.

    This is the race two workers hit in CI; the joiner must wait for the rest, not refuse the study.
    """
    import threading

    from xsell_eval.tuning.study import check_study, plan_study

    storage = optuna.storages.InMemoryStorage()
    plan = plan_study("cf", CFG, prepared.dataset, study_name="race")
    optuna.create_study(storage=storage, study_name="race", direction="maximize")
    sid = storage.get_study_id_from_name("race")
    attrs = plan.attrs()
    storage.set_study_user_attr(sid, "adapter", attrs["adapter"])  # the creator has written one attribute

    def finish() -> None:
        for key, value in attrs.items():
            storage.set_study_user_attr(sid, key, value)

    late = threading.Timer(0.3, finish)
    late.start()
    try:
        assert check_study(storage, plan, wait_s=20.0)  # waits, then matches
    finally:
        late.join()
    storage.set_study_user_attr(sid, "metrics", ["hit_rate@10"])  # a real mismatch is still refused
    with pytest.raises(ConfigError, match=r"metric hit_rate@10 \(you asked for ndcg@10\)"):
        check_study(storage, plan, wait_s=0.0)
    other = optuna.create_study(storage=storage, study_name="half", direction="maximize")
    storage.set_study_user_attr(other._study_id, "adapter", "cf")  # a creator killed mid-write: never completed
    half = plan_study("cf", CFG, prepared.dataset, study_name="half")
    with pytest.raises(ConfigError, match=r"study 'half' .* incomplete settings \(missing base_params, config_hash"):
        check_study(storage, half, wait_s=0.2)


class LeakGuard(BaseAdapter):
    """Fails if it ever sees a test-period basket during the search.

    Fit data must never contain a test basket. Test-period queries may only be answered
    by a model fitted on the full train (the single final evaluation).
    """

    name = "leak-guard"
    family = "test"
    hyperparams = (HyperParam("weight", "float", 0.5, low=0.0, high=1.0),)
    test_start: ClassVar[np.datetime64] = np.datetime64("NaT")
    full_train_baskets: ClassVar[int] = -1
    log: ClassVar[list[tuple[str, int, bool]]] = []

    def _fit(self, train: Dataset) -> None:
        seen = np.unique(train.interactions[C.BASKET_IDX].to_numpy())
        if (train.interactions[C.TIMESTAMP] >= self.test_start).any():
            raise AssertionError("a test-period basket was passed to fit")
        self.full_ = len(seen) == self.full_train_baskets
        self.log.append(("fit", len(seen), self.full_))
        self.pop_ = np.log1p(train.item_basket_count.astype(float))

    def _score(self, batch: Requests) -> np.ndarray:
        from_test = bool((batch.timestamp >= self.test_start).any())  # requests carry no basket index
        if from_test and not self.full_:
            raise AssertionError("test-period queries reached a model of the search")
        self.log.append(("recommend", int(from_test), self.full_))
        bump = self.params["weight"] * (np.arange(self.n_items_) % 5)
        return np.tile(self.pop_ + bump, (len(batch), 1))


def test_search_never_sees_the_test_period(prepared: Prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: LeakGuard if name == "leak-guard" else real_get(name))
    split = prepared.split
    monkeypatch.setattr(LeakGuard, "test_start", split.test.interactions[C.TIMESTAMP].min().to_datetime64())
    monkeypatch.setattr(LeakGuard, "full_train_baskets", int(split.train.interactions[C.BASKET_IDX].nunique()))
    monkeypatch.setattr(LeakGuard, "log", [])
    r = tune("leak-guard", CFG, n_trials=5, storage=_db(tmp_path), prepared=prepared, study_name="leak")
    study = optuna.load_study(study_name="leak", storage=_db(tmp_path))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5, r.errors  # a leak would fail a trial
    assert r.test_error == ""  # the final evaluation did run on test
    fits = [e for e in LeakGuard.log if e[0] == "fit"]
    n_fit_train = int(split.fit_train.interactions[C.BASKET_IDX].nunique())
    assert [e[1] for e in fits[:5]] == [n_fit_train] * 5  # every trial: train before the validation window
    n_final = 1 if r.tuned_params == r.default_params else 2
    assert [e[2] for e in fits[5:]] == [True] * n_final  # then tuned and default, each on the full train, once
    assert any(e[0] == "recommend" and e[1] for e in LeakGuard.log)  # test queries seen only then


def test_multi_objective_reports_a_pareto_front(prepared: Prepared) -> None:
    storage = optuna.storages.InMemoryStorage()
    r = tune("cf", CFG, metric=["ndcg@10", "coverage@10"], n_trials=6, storage=storage, prepared=prepared)
    front = r.pareto
    assert r.directions == ("maximize", "maximize") and not front.empty
    vals = np.array([t.values for t in r.study.trials if t.state == TrialState.COMPLETE])
    for row in front.itertuples(index=False):  # nobody dominates a Pareto trial
        p = np.array([row[1], row[2]])
        assert not ((vals >= p).all(axis=1) & (vals > p).any(axis=1)).any()
    assert r.best_trial in set(front["trial"])
    assert r.best_values["ndcg@10"] == pytest.approx(front["ndcg@10"].max())
    assert set(r.test["metric"]) == {"ndcg@10", "coverage@10"}
    cov = r.test[r.test["metric"] == "coverage@10"]
    assert cov["ci_low"].isna().all() and cov["mean"].between(0, 1).all()  # aggregate metric: no CI


def test_same_seed_same_trials_other_seed_other_trials(prepared: Prepared) -> None:
    def params(seed: int) -> list[dict[str, Any]]:
        out = run_search("cf", CFG, prepared=prepared, n_trials=4, seed=seed, storage=optuna.storages.InMemoryStorage())
        return [t.params for t in out.study.trials]

    a, b, c = params(1), params(1), params(2)
    assert a == b
    assert a[0] == c[0] and a[1:] != c[1:]  # trial 0 is the defaults in both


class Epochwise(BaseAdapter):
    """Validation score independent of the epoch, better with higher ``quality``."""

    name = "epochwise"
    family = "test"
    hyperparams = (
        HyperParam("quality", "float", 0.5, low=0.0, high=1.0),
        HyperParam("epochs", "int", 12, low=1, high=100, tunable=False),
    )

    def iter_fit(self, train: Dataset) -> Iterator[int]:
        self.n_items_ = train.n_items
        self.fit_seconds_ = 0.0
        self.pop_ = np.log1p(train.item_basket_count.astype(float))
        noise = np.random.default_rng(0).random(train.n_items) * self.pop_.max()
        self.s_ = self.params["quality"] * self.pop_ + (1 - self.params["quality"]) * noise
        for e in range(1, self.params["epochs"] + 1):
            self.fitted_ = True
            yield e

    def _fit(self, train: Dataset) -> None:
        for _ in self.iter_fit(train):
            pass

    def _score(self, batch: Queries) -> np.ndarray:
        return np.tile(self.s_, (len(batch), 1))


def test_epochwise_adapters_report_and_get_pruned(prepared: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: Epochwise if name == "epochwise" else real_get(name))
    out = run_search("epochwise", CFG, prepared=prepared, n_trials=12, storage=optuna.storages.InMemoryStorage())
    assert out.pruning.startswith("MedianPruner")
    trials = out.study.trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    for t in trials:
        assert set(t.intermediate_values) <= REPORT_EPOCHS
    for t in pruned:
        assert t.last_step >= 3 and t.last_step < 12
        # pruned because its value was below the median of earlier trials at that step
        earlier = [
            u.intermediate_values[t.last_step]
            for u in trials
            if u.number < t.number and u.state == TrialState.COMPLETE and t.last_step in u.intermediate_values
        ]
        assert len(earlier) >= 5  # MedianPruner(n_startup_trials=5)
        assert t.intermediate_values[t.last_step] < np.median(earlier)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(set(t.intermediate_values) == {1, 2, 3, 5, 7, 10} for t in complete)
    # with two metrics the study cannot prune
    out2 = run_search(
        "epochwise",
        CFG,
        prepared=prepared,
        metric=["ndcg@10", "coverage@10"],
        n_trials=2,
        storage=optuna.storages.InMemoryStorage(),
    )
    assert out2.pruning.startswith("none (multi-objective")


def test_lightfm_is_pruned_epoch_wise(prepared: Prepared) -> None:
    pytest.importorskip("lightfm")
    out = run_search(
        "lightfm",
        CFG,
        prepared=prepared,
        n_trials=2,
        storage=optuna.storages.InMemoryStorage(),
        overrides={"epochs": {"low": 2, "high": 3}, "no_components": [4], "use_item_features": False},
    )
    assert out.pruning.startswith("MedianPruner")
    assert all(set(t.intermediate_values) <= {1, 2, 3} and t.intermediate_values for t in out.study.trials)


def test_failed_trials_are_recorded_and_all_failed_is_an_error(
    prepared: Prepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(LeakGuard):
        name = "broken"

        def _fit(self, train: Dataset) -> None:
            raise ValueError("boom: singular matrix")

    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: Broken if name == "broken" else real_get(name))
    from xsell_eval.errors import AdapterError

    with pytest.raises(AdapterError, match=r"no completed trial.*5 failed.*ValueError: boom: singular matrix"):
        tune("broken", CFG, n_trials=3, storage=optuna.storages.InMemoryStorage(), prepared=prepared)

    class Picky(LeakGuard):
        name = "picky"

        def _fit(self, train: Dataset) -> None:
            if self.params["weight"] > 0.5:
                raise ValueError("weight too high for this data")
            super()._fit(train)

    monkeypatch.setattr(registry, "get", lambda name: Picky if name == "picky" else real_get(name))
    monkeypatch.setattr(LeakGuard, "log", [])
    out = run_search("picky", CFG, prepared=prepared, n_trials=4, storage=optuna.storages.InMemoryStorage())
    states = [t.state for t in out.study.trials]
    assert states.count(TrialState.COMPLETE) == 4 and states.count(TrialState.FAIL) >= 1  # failures replaced
    assert all(t.params["weight"] > 0.5 for t in out.study.trials if t.state == TrialState.FAIL)


def test_unknown_metric_and_bad_budget(prepared: Prepared) -> None:
    with pytest.raises(UnknownNameError, match=r"unknown metric 'ndgc'\. Did you mean 'ndcg'"):
        tune("cf", CFG, metric="ndgc@10", n_trials=2, prepared=prepared, storage=optuna.storages.InMemoryStorage())
    with pytest.raises(ConfigError, match=r"--trials must be an integer >= 1, got 0"):
        run_search("cf", CFG, prepared=prepared, n_trials=0, storage=optuna.storages.InMemoryStorage())


def test_journal_storage_and_stored_best_params(prepared: Prepared, tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 'studies.log'}"
    run_search("cf", CFG, prepared=prepared, n_trials=3, storage=url, study_name="j")
    best = best_params_from_storage(url, "cf", "ndcg@10", prepared.dataset.fingerprint)
    study = optuna.load_study(study_name="j", storage=open_storage(url))
    assert best is not None and best.params == study.best_params and best.finished == 3
    assert best_params_from_storage(url, "cf", "hit_rate@10", prepared.dataset.fingerprint) is None
    assert best_params_from_storage(url, "content", None, prepared.dataset.fingerprint) is None
    assert best_params_from_storage(url, "cf", None, "0" * 16) is None


def test_best_params_toml_round_trips_into_an_adapter(prepared: Prepared) -> None:
    r = tune("cf", CFG, n_trials=3, storage=optuna.storages.InMemoryStorage(), prepared=prepared)
    text = best_params_toml([r])
    parsed = tomllib.loads(text)
    assert parsed["adapters"]["cf"] == r.best_params
    ItemKNNAdapter(**parsed["adapters"]["cf"])  # usable as-is
    md = render_tuning_report([r.to_dict()], context={"data": "toy"})
    assert "## Best parameters" in md and "Tuned vs default on test" in md and "Budget spent" in md
    assert md == render_tuning_report([r.to_dict()], context={"data": "toy"})  # pure renderer


def test_tuning_summary_markdown_states_budgets_and_fairness() -> None:
    extra = {
        "mode": "tune",
        "budget": 20,
        "storage": "sqlite:///reports/optuna.db",
        "metric": "hit_rate@10",
        "fair": True,
        "adapters": [
            {"adapter": "popular", "tuned": False, "trials": 0, "seconds": 0.0, "note": "no tunable hyperparameters"},
            {
                "adapter": "cf",
                "tuned": True,
                "trials": 20,
                "seconds": 12.5,
                "metric": "hit_rate@10",
                "validation": 0.25,
                "params": {"k_neighbors": 120},
            },
        ],
    }
    md = tuning_summary_markdown(TuningSummary.from_dict(extra))
    assert "same budget of **20 finished trials**" in md
    assert "| `cf` | yes | 20 | 12.500 | hit_rate@10 | 0.2500 | k_neighbors=120 |" in md
    assert "Fair comparison" in md
    assert "Not a like-for-like" in tuning_summary_markdown(TuningSummary.from_dict({**extra, "fair": False}))
    assert tuning_summary_markdown(None) == ""


# ============================================================================ CLI
def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_cli_tune_writes_run_directory_and_refuses_a_study_of_another_adapter(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    url = _db(tmp_path)
    res = _invoke(
        "tune",
        "cf",
        "--data",
        str(shop),
        "--trials",
        "4",
        "--storage",
        url,
        "--out",
        str(out),
        "--bootstrap",
        "200",
        "--study",
        "cli",
    )
    assert res.exit_code == 0, res.stderr
    for f in (
        "report.md",
        "best_params.toml",
        "tuning.json",
        "trials_cf.csv",
        "figures/tuning_history_cf.png",
        "figures/tuning_importance_cf.png",
    ):
        assert (out / f).is_file(), f
    report = (out / "report.md").read_text()
    assert "![Optimisation history — cf](figures/tuning_history_cf.png)" in report
    assert "4 finished trials (target 4" in report
    toml = tomllib.loads((out / "best_params.toml").read_text())
    stored = optuna.load_study(study_name="cli", storage=url).user_attrs["best_params"]
    assert toml["adapters"]["cf"] == stored
    trials = pd.read_csv(out / "trials_cf.csv")
    assert len(trials) == 4 and (trials["state"] == "COMPLETE").all()
    # the same study name for another adapter: exit 1, study and output untouched
    res = _invoke(
        "tune",
        "content",
        "--data",
        str(shop),
        "--trials",
        "5",
        "--storage",
        url,
        "--study",
        "cli",
        "--out",
        str(tmp_path / "other"),
    )
    assert res.exit_code == 1 and "study 'cli'" in res.stderr and "was tuned for adapter 'cf'" in res.stderr
    assert len(optuna.load_study(study_name="cli", storage=url).trials) == 4
    assert not (tmp_path / "other").exists()


def test_cli_bad_input_exits_1_and_writes_nothing(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    url = _db(tmp_path)
    base = ["tune", "cf", "--data", str(shop), "--trials", "2", "--storage", url, "--out", str(out)]
    res = _invoke(*base, "--metric", "hit_ratee@10")
    assert res.exit_code == 1 and "unknown metric 'hit_ratee'" in res.stderr
    cfg = tmp_path / "exp.toml"
    cfg.write_text("[adapters.cf]\n[tune]\ntrials = 2\n[tune.cf]\nk_neighbors = {low = 0, high = 50}\n")
    res = _invoke(*base, "--config", str(cfg))
    assert res.exit_code == 1 and "[tune.cf] k_neighbors" in res.stderr and "[1, 100000]" in res.stderr
    res = _invoke("tune", "cf", "--data", str(shop), "--storage", "sqlite:////no/such/dir/x.db", "--out", str(out))
    assert res.exit_code == 1 and "cannot open Optuna storage" in res.stderr
    res = _invoke(*base, "--trials", "0")
    assert res.exit_code == 1 and "--trials must be >= 1" in res.stderr
    assert not out.exists() and not Path(url.removeprefix("sqlite:///")).exists()


def test_cli_compare_tuned_and_tune_n(shop: Path, tmp_path: Path) -> None:
    from xsell_eval.data.loaders import load_dataset

    url = _db(tmp_path)
    cfg = CompareConfig(adapters=("cf",), data=str(shop), n_bootstrap=200)
    tuned = run_search("cf", cfg, prepared=prepare(cfg, dataset=load_dataset(shop)), n_trials=3, storage=url)
    best = tuned.study.best_params
    out = tmp_path / "c"
    res = _invoke(
        "compare",
        "cf",
        "random",
        "--data",
        str(shop),
        "--k",
        "10",
        "--bootstrap",
        "200",
        "--tuned",
        "--storage",
        url,
        "--out",
        str(out),
    )
    assert res.exit_code == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    entries = {e["adapter"]: e for e in summary["extra"]["tuning"]["adapters"]}
    assert entries["cf"]["tuned"] and entries["cf"]["trials"] == 3 and entries["cf"]["params"] == best
    assert entries["cf"]["metric"] == "ndcg@10"  # the only study of cf: tuned on another metric, said so
    assert not entries["random"]["tuned"] and not entries["popular"]["tuned"]
    cf_info = next(a for a in summary["adapters"] if a["name"] == "cf")
    assert {k: cf_info["params"][k] for k in best} == best  # the comparison ran with the tuned parameters
    # the reproduce line is the command as typed: --tuned and the storage
    assert f"--tuned --storage {url}" in (out / "report.md").read_text()
    out2 = tmp_path / "c2"
    res = _invoke(
        "compare",
        "cf",
        "--data",
        str(shop),
        "--k",
        "10",
        "--bootstrap",
        "200",
        "--tune",
        "2",
        "--storage",
        url,
        "--out",
        str(out2),
    )
    assert res.exit_code == 0, res.stderr
    tuning = json.loads((out2 / "summary.json").read_text())["extra"]["tuning"]
    cf = next(e for e in tuning["adapters"] if e["adapter"] == "cf")
    assert tuning["mode"] == "tune" and tuning["budget"] == 2 and tuning["fair"]
    assert cf["tuned"] and cf["trials"] == 2 and cf["metric"] == "hit_rate@10" and cf["same_settings"]
    assert math.isfinite(cf["validation"])


def test_compare_tuned_without_a_storage_file_is_a_clear_error(shop: Path, tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    res = _invoke(
        "compare",
        "cf",
        "--data",
        str(shop),
        "--tuned",
        "--storage",
        f"sqlite:///{missing}",
        "--out",
        str(tmp_path / "c"),
    )
    assert res.exit_code == 1 and "no tuning storage" in res.stderr and "xsell-eval tune" in res.stderr
    assert not missing.exists() and not (tmp_path / "c").exists()


def test_tune_then_compare_library_call(prepared: Prepared) -> None:
    from xsell_eval.tuning import tune_then_compare

    storage = optuna.storages.InMemoryStorage()
    cfg = CompareConfig(adapters=("cf",), ks=(10,), metrics=("hit_rate",), n_bootstrap=100)
    result = tune_then_compare(cfg, 2, storage=storage, dataset=prepared.dataset)
    assert result.tuning is not None
    t = result.tuning.to_dict()
    assert t["budget"] == 2 and t["fair"] and result.ok_adapters == ["popular", "cf"]
    cf = next(a.to_dict() for a in result.adapters if a.name == "cf")
    entry = next(e for e in t["adapters"] if e["adapter"] == "cf")
    assert {k: cf["params"][k] for k in entry["params"]} == entry["params"]


def test_cli_tune_with_an_experiment_file(shop: Path, tmp_path: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text(
        f'seed = 2\n[data]\npath = "{shop}"\n[protocol]\nmax_queries = 40\n[metrics]\nk = [10]\n'
        'primary = "hit_rate@10"\n[adapters.cf]\nfallback = "none"\n'
        '[tune]\ntrials = 3\n[tune.cf]\nsimilarity = ["jaccard"]\nk_neighbors = {low = 5, high = 20}\n'
    )
    url = _db(tmp_path)
    out = tmp_path / "run"
    res = _invoke(
        "tune", "--config", str(exp), "--storage", url, "--out", str(out), "--bootstrap", "100", "--max-queries", "50"
    )
    assert res.exit_code == 0, res.stderr
    r = json.loads((out / "tuning.json").read_text())["results"][0]
    assert r["adapter"] == "cf" and r["metrics"] == ["hit_rate@10"] and r["budget"]["finished"] == 3
    assert r["fixed_params"] == {"fallback": "none"} and r["tuned_params"]["similarity"] == "jaccard"
    assert 5 <= r["tuned_params"]["k_neighbors"] <= 20
    study = optuna.load_study(study_name=r["study_name"], storage=url)
    settings = study.user_attrs["eval_settings"]
    assert settings["seed"] == 2 and settings["max_queries"] == 50  # experiment, then the flag given


# ============================================================================ instance-declared spaces (hybrid)
def test_hybrid_weights_are_tuned_from_the_instance_space(prepared: Prepared) -> None:
    spec = "hybrid:cf=0.7,content=0.3"
    cfg = CompareConfig(adapters=(spec,), n_bootstrap=200, ks=(10,))
    out = run_search(spec, cfg, prepared=prepared, n_trials=5, storage=optuna.storages.InMemoryStorage())
    assert set(out.plan.space) == {"normalisation", "weight_cf", "weight_content"}  # not only the class's fixed ones
    trials = out.study.get_trials()
    default = trials[out.default_trial]
    assert default.params == {"normalisation": "minmax", "weight_cf": 0.7, "weight_content": 0.3}
    assert len({t.params["weight_cf"] for t in trials}) == 5  # the weights are searched
    assert out.study.user_attrs["base_params"] == {"cf": 0.7, "content": 0.3}
    # a weight fixed through [tune.hybrid] stays fixed
    fixed = run_search(
        spec,
        cfg,
        prepared=prepared,
        n_trials=3,
        storage=optuna.storages.InMemoryStorage(),
        overrides={"weight_cf": 1.0},
    )
    assert {t.params["weight_cf"] for t in fixed.study.get_trials()} == {1.0}
    with pytest.raises(
        ConfigError, match=r"unknown parameter\(s\) \['weight_rules'\]; adapter 'hybrid' declares: .*weight_cf"
    ):
        search_space(registry.create(spec), {"weight_rules": 0.5})


def test_stored_best_params_apply_only_to_the_same_fixed_parameters(prepared: Prepared) -> None:
    from xsell_eval.tuning import apply_tuning

    storage = optuna.storages.InMemoryStorage()
    jac = "cf:similarity=jaccard"
    run_search(jac, CFG, prepared=prepared, n_trials=3, storage=storage)
    cfg = CompareConfig(adapters=("cf", jac), n_bootstrap=200, ks=(10,))
    out_cfg, _, extra = apply_tuning(cfg, tuned=True, storage=storage, dataset=prepared.dataset)
    extra = extra.to_dict()
    entries = {e["adapter"]: e for e in extra["adapters"]}
    assert entries[jac]["tuned"] and "similarity" not in entries[jac]["params"]
    assert out_cfg.tuned == {jac: entries[jac]["params"]} and out_cfg.params == {}  # by exact spec, apart from params
    assert not entries["cf"]["tuned"]  # a jaccard study says nothing about cosine cf
    assert 'studies of \'cf\' there fixed other parameters: {"similarity": "jaccard"}' in entries["cf"]["note"]
    assert not extra["fair"]


def test_missing_postgresql_driver_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"install a PostgreSQL driver: pip install 'xsell-eval\[postgres\]'"):
        open_storage("postgresql://bob:s3cret@127.0.0.1:1/db")


# ============================================================================ conditional search spaces
def test_conditional_parameters_are_searched_only_when_active(prepared: Prepared) -> None:
    from xsell_eval.tuning import active_params, describe_space, search_conditions

    conditions = search_conditions(ItemKNNAdapter)
    assert conditions == {"alpha": ("similarity", ("asymmetric",))}
    out = run_search("cf", CFG, prepared=prepared, n_trials=12, storage=optuna.storages.InMemoryStorage())
    trials = out.study.get_trials()
    assert {t.params["similarity"] for t in trials} >= {"cosine", "asymmetric"}  # both branches were visited
    for t in trials:
        assert ("alpha" in t.params) == (t.params["similarity"] == "asymmetric"), t.params
    assert "alpha" not in trials[out.default_trial].params  # defaults: cosine, so alpha is inactive
    assert describe_space(out.plan.space, conditions)["alpha"] == "float [0, 1] when similarity = 'asymmetric'"
    assert "when similarity = 'asymmetric'" in out.study.user_attrs["search_space"]["alpha"]
    # a parent fixed outside the space decides through the defaults
    fixed = run_search(
        "cf:similarity=asymmetric", CFG, prepared=prepared, n_trials=3, storage=optuna.storages.InMemoryStorage()
    )
    assert all("alpha" in t.params for t in fixed.study.get_trials())
    assert active_params({"alpha": 0.2}, conditions, {"similarity": "cosine"}) == {}
    assert active_params({"alpha": 0.2}, {"a": ("b", (True,))}, {}) == {"alpha": 0.2}


# ============================================================================ study identity: fixed parameters, space
def test_experiment_fixed_parameters_are_not_searched_unless_overridden(prepared: Prepared) -> None:
    cfg = CompareConfig(adapters=("cf",), n_bootstrap=200, ks=(10,), params={"cf": {"k_neighbors": 50}})
    out = run_search("cf", cfg, prepared=prepared, n_trials=3, storage=optuna.storages.InMemoryStorage())
    assert "k_neighbors" not in out.plan.space and all("k_neighbors" not in t.params for t in out.study.trials)
    assert out.plan.defaults["k_neighbors"] == 50
    named = run_search(
        "cf",
        cfg,
        prepared=prepared,
        n_trials=3,
        storage=optuna.storages.InMemoryStorage(),
        overrides={"k_neighbors": {"low": 10, "high": 20}},
    )
    assert all(10 <= t.params["k_neighbors"] <= 20 for t in named.study.trials[1:])  # searched when [tune.cf] names it


def test_fixed_parameters_and_search_space_are_part_of_a_study_identity(prepared: Prepared, tmp_path: Path) -> None:
    from xsell_eval.tuning import plan_study

    assert (
        plan_study("cf", CFG, prepared.dataset).study_name
        != plan_study("cf:interactions=user", CFG, prepared.dataset).study_name
    )
    url = _db(tmp_path)
    run_search("cf", CFG, prepared=prepared, n_trials=2, storage=url, study_name="s")
    before = len(optuna.load_study(study_name="s", storage=url).trials)
    with pytest.raises(ConfigError, match=r"was tuned for fixed parameters none \(yours: interactions=user\)"):
        run_search("cf:interactions=user", CFG, prepared=prepared, n_trials=4, storage=url, study_name="s")
    with pytest.raises(ConfigError, match=r"another search space \(similarity: \{.*\} → \{'cosine', 'jaccard'\}\)"):
        run_search(
            "cf",
            CFG,
            prepared=prepared,
            n_trials=4,
            storage=url,
            study_name="s",
            overrides={"similarity": ["cosine", "jaccard"]},
        )
    assert len(optuna.load_study(study_name="s", storage=url).trials) == before  # nothing written


def test_best_params_snippet_reproduces_the_scored_configuration(prepared: Prepared) -> None:
    r = tune("cf:interactions=user", CFG, n_trials=3, storage=optuna.storages.InMemoryStorage(), prepared=prepared)
    table = tomllib.loads(best_params_toml([r]))["adapters"]["cf"]
    assert table["interactions"] == "user" and {k: table[k] for k in r.best_params} == r.best_params
    assert 'interactions = "user"  # held fixed during the search' in best_params_toml([r])
    ItemKNNAdapter(**table)


def test_a_study_that_lost_its_default_trial_gets_it_back(prepared: Prepared, tmp_path: Path) -> None:
    from xsell_eval.tuning import search as search_mod

    url = _db(tmp_path)

    def interrupted(*args: Any, **kwargs: Any) -> int:
        raise KeyboardInterrupt  # Ctrl-C while the creator scores the defaults

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_mod, "_add_default_trial", interrupted)
        with pytest.raises(KeyboardInterrupt):
            tune("cf", CFG, n_trials=3, storage=url, prepared=prepared, study_name="s")
    r = tune("cf", CFG, n_trials=3, storage=url, prepared=prepared, study_name="s")
    trials = optuna.load_study(study_name="s", storage=url).trials
    defaults = [t for t in trials if t.user_attrs.get("is_default")]
    assert len(defaults) == 1 and defaults[0].params["similarity"] == "cosine"
    assert defaults[0].number == min(t.number for t in trials)  # first, so a fixed budget of N includes it
    assert r.best_values["ndcg@10"] >= r.default_validation["ndcg@10"] == pytest.approx(defaults[0].value)


def test_a_file_that_is_not_a_journal_is_refused_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "notes.log"
    bad.write_text("garbage\n")
    with pytest.raises(ConfigError, match=r"line 1 of .*notes.log' is not an Optuna journal record"):
        open_storage(f"journal:{bad}")
    assert bad.read_text() == "garbage\n"


def test_stored_parameters_tuned_on_another_split_are_not_used(prepared: Prepared) -> None:
    from xsell_eval.tuning import apply_tuning

    storage = optuna.storages.InMemoryStorage()
    other = CompareConfig(adapters=("cf",), n_bootstrap=200, ks=(10,), test_fraction=0.1)
    run_search("cf", other, prepared=prepare(other, dataset=prepared.dataset), n_trials=2, storage=storage)
    _, _, extra = apply_tuning(CFG, tuned=True, storage=storage, dataset=prepared.dataset)
    extra = extra.to_dict()
    cf = next(e for e in extra["adapters"] if e["adapter"] == "cf")
    assert not cf["tuned"] and "used another split" in cf["note"] and "overlap" in cf["note"]


def test_values_tuned_for_one_spec_never_reach_another_spec_of_the_same_adapter(prepared: Prepared) -> None:
    from xsell_eval.pipeline import run_compare
    from xsell_eval.tuning import apply_tuning

    storage = optuna.storages.InMemoryStorage()
    run_search("cf", CFG, prepared=prepared, n_trials=4, storage=storage)
    cfg = CompareConfig(adapters=("cf", "cf:similarity=jaccard"), n_bootstrap=200, ks=(10,))
    tuned_cfg, _, extra = apply_tuning(cfg, tuned=True, storage=storage, dataset=prepared.dataset)
    extra = extra.to_dict()
    result = run_compare(tuned_cfg, dataset=prepared.dataset)
    ran = {a.name: a.params for a in result.adapters}
    defaults = ItemKNNAdapter(similarity="jaccard").get_params()
    assert ran["cf:similarity=jaccard"] == defaults  # untuned: its own defaults, not cf's tuned values
    cf_entry = next(e for e in extra["adapters"] if e["adapter"] == "cf")
    assert {k: ran["cf"][k] for k in cf_entry["params"]} == cf_entry["params"]
    assert any(ItemKNNAdapter().get_params()[k] != v for k, v in cf_entry["params"].items())  # a real tuning result


def test_tuning_report_states_the_configured_confidence_level(prepared: Prepared) -> None:
    cfg = CompareConfig(adapters=("cf",), n_bootstrap=200, ks=(10,), confidence=0.8)
    r = tune("cf", cfg, n_trials=2, storage=optuna.storages.InMemoryStorage(), prepared=prepared)
    md = render_tuning_report([r.to_dict()], context={"data": "toy"})
    assert "80% CI by customer bootstrap; paired test: bootstrap" in md and "95%" not in md


# ============================================================================ test-set statistics = compare's
# k_neighbors searched in [2, 3] (a range the user narrowed on purpose, so its best trial is used): the tuned
# parameters always differ from the defaults (k_neighbors = 100)
_NARROW = {"similarity": ["cosine"], "k_neighbors": {"low": 2, "high": 3}}


def _tuned_and_default_tables(r: TuneResult, cfg: CompareConfig, prepared: Prepared) -> tuple[Any, Any]:
    """The per-query test tables of the tuned and default parameters, refitted independently of `tune`."""
    from dataclasses import replace

    from xsell_eval.pipeline import run_adapter

    c = replace(cfg, params={})
    tuned = run_adapter("cf", c, prepared, params=r.tuned_params).per_query
    default = run_adapter("cf", c, prepared, params=r.default_params).per_query
    assert tuned is not None and default is not None
    assert (tuned[C.QUERY].to_numpy() == default[C.QUERY].to_numpy()).all()
    return tuned, default


def _row(df: pd.DataFrame, **where: str) -> pd.Series:
    m = np.ones(len(df), dtype=bool)
    for k, v in where.items():
        m &= (df[k] == v).to_numpy()
    assert m.sum() == 1
    return df[m].iloc[0]


def test_tuned_vs_default_resamples_customers_and_takes_the_configured_test(prepared: Prepared) -> None:
    from xsell_eval.stats import bootstrap_mean_ci, paired_comparison

    cfg = CompareConfig(adapters=("cf",), n_bootstrap=300, ks=(10,), test="ttest")  # ci_unit: customer (default)
    assert cfg.ci_unit == "customer"
    store = optuna.storages.InMemoryStorage()
    r = tune("cf", cfg, n_trials=2, storage=store, prepared=prepared, overrides=_NARROW)
    assert r.tuned_params != r.default_params and (r.ci_unit, r.paired_test) == ("customer", "ttest")
    tuned, default = _tuned_and_default_tables(r, cfg, prepared)
    customers = tuned["customer"].to_numpy()
    assert pd.Series(customers).value_counts().max() > 1  # customers with several test queries
    a, b = tuned["ndcg@10"].to_numpy(), default["ndcg@10"].to_numpy()
    opts = {"seed": cfg.seed, "n_resamples": 300, "confidence": 0.95}
    want = paired_comparison(a, b, **opts, test="ttest", clusters=customers)
    got = _row(r.comparison, metric="ndcg@10")
    assert got["test"] == "ttest" and got["n"] == want.n == len(a)
    for f in ("diff", "ci_low", "ci_high", "p_value", "rel_ci_low", "rel_ci_high"):
        assert got[f] == pytest.approx(getattr(want, f), rel=1e-12), f
    assert want.ci_low < want.diff < want.ci_high
    # the per-query bootstrap gives another (here narrower) interval: the clusters were used
    per_query = paired_comparison(a, b, **opts, test="ttest")
    assert (per_query.ci_low, per_query.ci_high) != pytest.approx((want.ci_low, want.ci_high))
    assert per_query.ci_high - per_query.ci_low < want.ci_high - want.ci_low
    # the test table's CIs too: the customer-clustered bootstrap of each variant's mean
    for variant, x in (("tuned", a), ("default", b)):
        ci = bootstrap_mean_ci(x, **opts, clusters=customers)
        row = _row(r.test, variant=variant, metric="ndcg@10")
        assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx((ci.mean, ci.low, ci.high), rel=1e-12)
        assert (ci.low, ci.high) != pytest.approx(tuple(bootstrap_mean_ci(x, **opts)[1:3]))
    # the statistics are stated in the JSON, the report and after a round trip
    d = json.loads(json.dumps(r.to_dict()))
    assert (d["ci_unit"], d["paired_test"]) == ("customer", "ttest")
    again = TuneResult.from_dict(d)
    assert (again.ci_unit, again.paired_test) == ("customer", "ttest")
    md = render_tuning_report([d], context={"data": "toy"})
    assert "95% CI by customer bootstrap; paired test: ttest" in md


def test_ci_unit_query_reproduces_the_per_query_statistics(prepared: Prepared) -> None:
    """``ci_unit="query"`` with the Wilcoxon test is what tuning computed before it followed ``compare``."""
    from xsell_eval.stats import paired_comparison, summarize

    cfg = CompareConfig(adapters=("cf",), n_bootstrap=300, ks=(10,), ci_unit="query", test="wilcoxon")
    r = tune("cf", cfg, n_trials=2, storage=optuna.storages.InMemoryStorage(), prepared=prepared, overrides=_NARROW)
    tuned, default = _tuned_and_default_tables(r, cfg, prepared)
    old = paired_comparison(tuned["ndcg@10"].to_numpy(), default["ndcg@10"].to_numpy(), **cfg.bootstrap_options)
    got = _row(r.comparison, metric="ndcg@10")
    assert got["test"] == "wilcoxon"
    for f in ("diff", "ci_low", "ci_high", "p_value"):
        assert got[f] == pytest.approx(getattr(old, f), rel=1e-12), f
    for variant, pq in (("tuned", tuned), ("default", default)):
        s = summarize(pq, ["ndcg@10"], **cfg.bootstrap_options).iloc[0]
        row = _row(r.test, variant=variant, metric="ndcg@10")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((s["ci_low"], s["ci_high"]), rel=1e-12)
    md = render_tuning_report([r.to_dict()], context={"data": "toy"})
    assert "95% CI by query bootstrap; paired test: wilcoxon" in md


def test_customer_resampling_without_a_customer_column_is_a_clear_error() -> None:
    from xsell_eval.errors import DataError
    from xsell_eval.tuning.run import tuned_vs_default

    a = pd.DataFrame({C.QUERY: [0, 1, 2], "ndcg@10": [0.1, 0.0, 0.5]})
    b = pd.DataFrame({C.QUERY: [2, 1, 0], "ndcg@10": [0.2, 0.0, 0.1]})
    with pytest.raises(DataError, match="no 'customer' column, needed by ci_unit='customer'"):
        tuned_vs_default(a, b, ["ndcg@10"], CompareConfig(adapters=("cf",)))
    # per query: paired on query_id, not on row order
    (row,) = tuned_vs_default(a, b, ["ndcg@10"], CompareConfig(adapters=("cf",), ci_unit="query", n_bootstrap=100))
    assert row["diff"] == pytest.approx((0.1 - 0.1 + 0.0 - 0.0 + 0.5 - 0.2) / 3)
    assert (row["wins"], row["ties"], row["losses"]) == (1, 2, 0)


def test_a_tuning_json_without_the_statistics_fields_reads_as_per_query_wilcoxon(prepared: Prepared) -> None:
    r = tune("cf", CFG, n_trials=1, storage=optuna.storages.InMemoryStorage(), prepared=prepared)
    d = r.to_dict()
    del d["ci_unit"], d["paired_test"]
    old = TuneResult.from_dict(d)
    assert (old.ci_unit, old.paired_test) == ("query", "wilcoxon")
    assert "95% CI by query bootstrap; paired test: wilcoxon" in render_tuning_report([d], context={"data": "toy"})


def test_defaults_outside_the_declared_space_are_kept_when_no_trial_beats_them(
    prepared: Prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like LightFM's item_alpha = 0 against a log-scale range: the defaults cannot be a trial."""

    class OffSpace(LeakGuard):
        name = "off-space"
        hyperparams = (  # noise added to popularity: 0 (the default) is best, and the tuning range excludes it
            HyperParam("weight", "float", 0.0, low=0.0, high=1.0, tune_low=0.5, tune_high=1.0, help="noise"),
        )

    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: OffSpace if name == "off-space" else real_get(name))
    monkeypatch.setattr(LeakGuard, "full_train_baskets", int(prepared.split.train.interactions[C.BASKET_IDX].nunique()))
    url = _db(tmp_path)
    r = tune("off-space", CFG, n_trials=3, storage=url, prepared=prepared)
    assert r.default_validation["ndcg@10"] > max(t.value for t in r.study.trials)  # no trial is the defaults
    assert r.best_params == {} and r.tuned_params == r.default_params and any("defaults are kept" in n for n in r.notes)
    stored = best_params_from_storage(url, "off-space", "ndcg@10", prepared.dataset.fingerprint)
    assert stored is not None and stored.params == {} and stored.trial == -1
    # a space the user narrowed on purpose is respected: its best trial is used, even if the defaults were better
    narrowed = tune(
        "off-space",
        CFG,
        n_trials=3,
        storage=optuna.storages.InMemoryStorage(),
        prepared=prepared,
        overrides={"weight": {"low": 0.5, "high": 1.0}},
    )
    assert narrowed.best_params and narrowed.best_params["weight"] >= 0.5


def test_tune_reproduce_command_keeps_the_split_and_protocol_flags(shop: Path, tmp_path: Path) -> None:
    url = _db(tmp_path)
    args = ["tune", "cf", "--data", str(shop), "--trials", "2", "--storage", url, "--bootstrap", "100"]
    args += ["--test-fraction", "0.3", "--valid-fraction", "0.2", "--hide", "1", "--out", str(tmp_path / "t")]
    res = _invoke(*args)
    assert res.exit_code == 0, res.stderr
    cmd = json.loads((tmp_path / "t" / "tuning.json").read_text())["context"]["command"]
    for flag in ("--test-fraction 0.3", "--valid-fraction 0.2", "--hide 1", "--bootstrap 100"):
        assert flag in cmd, (flag, cmd)


def test_cli_tune_ci_unit_and_test_reach_the_report_and_the_reproduce_command(shop: Path, tmp_path: Path) -> None:
    url = _db(tmp_path)
    args = ["tune", "cf", "--data", str(shop), "--trials", "1", "--storage", url, "--bootstrap", "100"]
    args += ["--max-queries", "40", "--ci-unit", "query", "--test", "wilcoxon", "--out", str(tmp_path / "t")]
    res = _invoke(*args)
    assert res.exit_code == 0, res.stderr
    run = json.loads((tmp_path / "t" / "tuning.json").read_text())
    r = run["results"][0]
    assert (r["ci_unit"], r["paired_test"]) == ("query", "wilcoxon")
    assert all(c["test"] == "wilcoxon" for c in r["comparison"])
    assert "--ci-unit query" in run["context"]["command"] and "--test wilcoxon" in run["context"]["command"]
    assert "95% CI by query bootstrap; paired test: wilcoxon" in (tmp_path / "t" / "report.md").read_text()
    assert "95% CI by query bootstrap; paired test: wilcoxon" in " ".join(res.stdout.split())


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--ci-unit", "`ci_unit` must be 'customer' or 'query', got 'bogus'"),
        ("--test", "test must be one of ['bootstrap', 'wilcoxon', 'ttest'], got 'bogus'"),
    ],
)
def test_cli_tune_bad_ci_unit_or_test_is_one_clear_error_line(
    shop: Path, tmp_path: Path, flag: str, message: str
) -> None:
    out, url = tmp_path / "run", _db(tmp_path)
    res = _invoke(
        "tune", "cf", "--data", str(shop), "--trials", "1", "--storage", url, "--out", str(out), flag, "bogus"
    )
    assert res.exit_code == 1 and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists() and not Path(url.removeprefix("sqlite:///")).exists()


def test_cli_tune_on_spark_refuses_ci_unit_and_test(shop: Path, tmp_path: Path) -> None:
    # Spark tuning reports test means only: the flags would be silently ignored, so they are refused
    out = tmp_path / "run"
    res = _invoke(
        "tune", "spark-als", "--engine", "spark", "--data", str(shop), "--out", str(out), "--test", "wilcoxon"
    )
    assert res.exit_code == 1 and "tune --engine spark reports test means only" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists()


def test_experiment_metrics_ci_unit_and_test_apply_unless_a_flag_is_given(shop: Path, tmp_path: Path) -> None:
    from xsell_eval.tuning.session import run_tuning

    exp = tmp_path / "exp.toml"
    exp.write_text(
        f'[data]\npath = "{shop}"\n[protocol]\nmax_queries = 30\n[metrics]\nk = [10]\nbootstrap = 100\n'
        'ci_unit = "query"\ntest = "ttest"\n[adapters.cf]\n[tune]\ntrials = 1\n'
    )
    flags = {"seed": 0, "n_bootstrap": 100, "ci_unit": "customer", "test": "bootstrap"}
    url = _db(tmp_path)
    done = run_tuning([], flags=flags, given=set(), config_path=exp, storage=url, out=tmp_path / "a")
    assert (done.results[0].ci_unit, done.results[0].paired_test) == ("query", "ttest")
    done = run_tuning([], flags=flags, given={"test"}, config_path=exp, storage=url, out=tmp_path / "b")
    assert (done.results[0].ci_unit, done.results[0].paired_test) == ("query", "bootstrap")
