"""The search: one Optuna study per adapter, trials on the validation window only."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xsell_eval.adapters.base import BaseAdapter
from xsell_eval.errors import ConfigError, XsellError
from xsell_eval.tuning.space import DEFAULT_METRIC, _in_space, active_params, suggest_params
from xsell_eval.tuning.storage import default_storage, open_storage, redact
from xsell_eval.tuning.study import (
    StudyPlan,
    _count,
    _finished_states,
    _open_study,
    _study_id,
    check_study,
    plan_study,
    select_best,
)

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from xsell_eval.data.dataset import Dataset
    from xsell_eval.pipeline import CompareConfig, Prepared
    from xsell_eval.queries import Queries, Requests

TuneProgressFn = Callable[[str, str, dict[str, Any]], None]
"""``progress(event, adapter, info)``; events: ``study_start`` (study, target, finished, best),
``trial`` (number, state, value, finished, target, best), ``study_end``, ``stage_start`` /
``stage_end`` (stage: "refit and test")."""


# =============================================================================== objective
class _TrialFailed(Exception):
    """A trial that cannot produce a score (adapter error, NaN metric); marked FAIL."""


def _objective_values(
    adapter: BaseAdapter,
    queries: Queries,
    queries_in: Requests,
    train: Dataset,
    metrics: Sequence[str],
    item_price: np.ndarray | None = None,
) -> list[float]:
    """Fit-free scoring of a fitted adapter on the (validation) queries: one value per metric.

    ``item_price`` (whole-dataset unit prices, as in the test evaluation) makes revenue NaN, not 0,
    for a target whose price is unknown.
    """
    from xsell_eval import metrics as M

    parsed = [M.parse_metric(m) for m in metrics]
    ks = sorted({k for _, k in parsed})
    recs = adapter.recommend(queries_in, max(ks))
    per_query = None
    agg: dict[str, float] = {}
    out = []
    for name, k in parsed:
        col = f"{name}@{k}"
        if M.METRICS[name].scope == "aggregate":
            if not agg:
                # the same catalog as the test evaluation (pipeline.evaluate): the items sold in training
                agg = M.aggregate_metrics(recs, queries, ks, catalog=np.flatnonzero(train.item_basket_count > 0))
            out.append(float(agg[col]))
            continue
        if per_query is None:
            per_query = M.per_query_metrics(
                recs,
                queries,
                ks,
                item_popularity=train.item_basket_count,
                n_train_baskets=len(train.baskets),
                item_category=train.item_category,
                item_price=item_price,
                metrics=[n for n, _ in parsed],  # only the tuned metrics are computed
            )
        v = per_query[col].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            hint = " (are prices missing?)" if M.METRICS[name].needs_prices else ""
            raise _TrialFailed(f"{col} is undefined (NaN) for every validation query{hint}")
        out.append(float(v.mean()))
    return out


REPORT_EPOCHS = frozenset({1, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100})
"""Epochs after which an epoch-wise trial is scored for the pruner (then every 25th).

A fixed grid, the same for every trial whatever its ``epochs``, so that the
MedianPruner compares trials at the same steps; about 17 evaluations for 100 epochs."""


def _report_at(epoch: int) -> bool:
    return epoch in REPORT_EPOCHS or (epoch > 100 and epoch % 25 == 0)


def _epochs(adapter: BaseAdapter, train: Dataset) -> Iterator[int] | None:
    """Epoch-wise fitting, if the adapter offers it: an iterator of completed epochs.

    An adapter opts in with ``iter_fit(train) -> Iterator[int]`` that trains one epoch
    per step and yields the number of completed epochs; after each yield the adapter can
    recommend (LightFM does). Other adapters are fitted in one go and cannot be pruned.
    """
    fn = getattr(adapter, "iter_fit", None)
    if not callable(fn):
        return None
    return iter(fn(train))


@dataclass
class _Search:
    """Everything one objective call needs (mutable holder, not passed between stages)."""

    cls: type[BaseAdapter]
    adapter: str
    base: dict[str, Any]
    space: dict[str, Any]
    seed: int
    train: Dataset
    queries: Queries
    queries_in: Requests
    metrics: tuple[str, ...]
    prune: bool
    worker: str
    conditions: dict[str, tuple[str, tuple[Any, ...]]]
    defaults: dict[str, Any]
    item_price: np.ndarray | None = None

    def _score(self, adapter: BaseAdapter) -> list[float]:
        return _objective_values(
            adapter, self.queries, self.queries_in, self.train, self.metrics, item_price=self.item_price
        )

    def evaluate(
        self,
        params: Mapping[str, Any],
        trial: optuna.Trial | None = None,
        record: dict[int, float] | None = None,
    ) -> list[float]:
        """Fit on fit_train with ``params`` and score on the validation queries.

        With a trial and an epoch-wise adapter, the first metric is reported to the
        pruner after the epochs of :data:`REPORT_EPOCHS`; a pruned trial raises
        ``optuna.TrialPruned``. Without a trial, ``record`` (if given) collects the same
        intermediate values. Any adapter error becomes ``_TrialFailed``.
        """
        import optuna

        try:
            adapter = self.cls(seed=self.seed, **{**self.base, **params})
        except ConfigError as exc:
            raise _TrialFailed(str(exc)) from None
        try:
            wanted = self.prune and (trial is not None or record is not None)
            steps = _epochs(adapter, self.train) if wanted else None
            values: list[float] | None = None
            if steps is None:
                adapter.fit(self.train)
            else:
                for epoch in steps:
                    values = None
                    if not _report_at(int(epoch)):
                        continue
                    values = self._score(adapter)
                    if record is not None:
                        record[int(epoch)] = values[0]
                    if trial is None:
                        continue
                    trial.report(values[0], int(epoch))
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.metrics[0]} = {values[0]:.4g}")
            if values is None:
                values = self._score(adapter)
        except (optuna.TrialPruned, _TrialFailed):
            raise
        except XsellError as exc:
            raise _TrialFailed(f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:
            raise _TrialFailed(f"{type(exc).__name__}: {exc}") from exc
        if trial is not None:
            trial.set_user_attr(
                "seconds", {"fit": float(adapter.fit_seconds_), "recommend": float(adapter.recommend_seconds_)}
            )
        return values

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        trial.set_user_attr("worker", self.worker)
        params = suggest_params(trial, self.space, self.conditions, self.defaults)
        try:
            values = self.evaluate(params, trial)
        except _TrialFailed as exc:
            trial.set_user_attr("error", str(exc)[:500])
            raise
        return values[0] if len(values) == 1 else values


def _add_default_trial(study: optuna.Study, search: _Search, params: dict[str, Any], plan: StudyPlan) -> int:
    """Score the declared defaults and add them to a new study as a finished trial.

    Not ``enqueue_trial``: on SQLite two workers starting together can both pop the same
    waiting trial (no row locks), so the defaults are evaluated here by the creator only.
    """
    import datetime

    from optuna.trial import TrialState, create_trial

    start = datetime.datetime.now()
    attrs: dict[str, Any] = {"is_default": True, "worker": search.worker}
    steps: dict[int, float] = {}
    try:
        values: list[float] | None = search.evaluate(params, record=steps)
        state = TrialState.COMPLETE
    except _TrialFailed as exc:
        values, state = None, TrialState.FAIL
        attrs["error"] = str(exc)[:500]
    frozen = create_trial(
        state=state,
        params=params,
        distributions={n: plan.space[n] for n in params},  # a conditional parameter may be inactive
        values=values,
        user_attrs=attrs,
        intermediate_values=steps or None,
    )
    frozen.datetime_start = start
    frozen.datetime_complete = datetime.datetime.now()
    study.add_trial(frozen)
    return max(t.number for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker") == search.worker)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _sampler_seed(seed: int, created: bool, n_existing: int) -> int:
    if created and n_existing == 0:
        return int(seed)
    host = int(hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8], 16)
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, n_existing, host, os.getpid()])
    return int(ss.generate_state(1)[0])


# =============================================================================== search
@dataclass(frozen=True, eq=False)
class SearchOutcome:
    """A finished search (no test evaluation): the study and what this run did."""

    plan: StudyPlan
    study: optuna.Study
    storage_url: str
    sampler_seed: int
    created: bool
    trials_this_run: int
    seconds: float
    pruning: str
    default_trial: int | None
    search: _Search

    @property
    def counts(self) -> dict[str, int]:
        """Trial counts by state (finished = complete + pruned)."""
        return _count(self.study)


def max_failures(remaining: int) -> int:
    """Failed trials tolerated in one run: ``max(10, remaining)``; 5 if none has completed yet."""
    return max(10, remaining)


def _failure_cap(limit: int, *, failed: int = 0, ok: int = 0) -> Callable:
    """Stop this run after ``limit`` failed trials, or after 5 failures and no success (a broken adapter).

    ``failed`` / ``ok``: trials of this run before ``optimize`` (the defaults' trial).
    """
    counts = {"FAIL": failed, "ok": ok}

    def cb(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state.name == "FAIL":
            counts["FAIL"] += 1
        else:
            counts["ok"] += 1
        if counts["FAIL"] >= limit or (counts["ok"] == 0 and counts["FAIL"] >= 5):
            study.stop()

    return cb


def _progress_callback(
    emit: TuneProgressFn, adapter: str, target: int, directions: Sequence[str], counter: list[int]
) -> Callable:
    from optuna.trial import TrialState

    def cb(study: optuna.Study, trial: FrozenTrial) -> None:
        counter[0] += 1
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        best = select_best(trials, directions)
        emit(
            "trial",
            adapter,
            {
                "number": trial.number,
                "state": trial.state.name,
                "value": trial.values[0] if trial.values else None,
                "finished": finished,
                "target": target,
                "best": best.values[0] if best is not None and best.values else None,
            },
        )

    return cb


def run_search(
    spec: str,
    config: CompareConfig,
    *,
    prepared: Prepared,
    metric: str | Sequence[str] = DEFAULT_METRIC,
    directions: Sequence[str] | None = None,
    n_trials: int = 50,
    timeout: float | None = None,
    storage: str | BaseStorage | None = None,
    study_name: str | None = None,
    n_jobs: int = 1,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: TuneProgressFn | None = None,
    validation: tuple[Dataset, Queries] | None = None,
    storage_url: str | None = None,
) -> SearchOutcome:
    """Run (or top up) the Optuna study of one adapter on the validation window only.

    Trials fit on ``prepared.split.fit_train`` and are scored on queries built from
    ``prepared.split.validation``; nothing of the test period is passed to the adapter.
    See :func:`tune` for the arguments.
    """
    import optuna

    from xsell_eval.pipeline import prepare_validation

    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(f"--trials must be an integer >= 1, got {n_trials!r}")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"--timeout must be > 0 seconds, got {timeout!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"--n-jobs must be an integer >= 1, got {n_jobs!r}")
    emit = progress or (lambda *a: None)
    plan = plan_study(
        spec, config, prepared.dataset, metric=metric, directions=directions, study_name=study_name, overrides=overrides
    )
    if storage is None or isinstance(storage, str):
        store = open_storage(storage)
        url = storage or default_storage()
    else:
        store, url = storage, storage_url or ""
    seed = config.seed if seed is None else int(seed)

    from xsell_eval.adapters.registry import get

    cls = get(plan.adapter)
    train, queries = validation if validation is not None else prepare_validation(config, prepared)
    if len(queries) == 0:
        raise ConfigError(
            f"the validation window ({config.valid_fraction:.0%} of train) yields no {config.protocol} queries; "
            "use more data or a larger valid_fraction"
        )
    iterative = callable(getattr(cls, "iter_fit", None))
    prune = iterative and len(plan.metrics) == 1
    pruning = (
        "MedianPruner on the validation score after epochs 1, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40, … "
        "(from the 6th trial, not before epoch 3)"
        if prune
        else (
            "none (multi-objective studies cannot prune)"
            if iterative
            else "none (the adapter is fitted in one step; no epoch-wise fitting to prune)"
        )
    )
    # sampler seed depends on whether we create the study: open first with a placeholder sampler
    n_existing_before = 0
    sid = _study_id(store, plan.study_name)
    if sid is not None:
        check_study(store, plan, storage_url=url)
        n_existing_before = len(store.get_all_trials(sid, deepcopy=False))
    study, created = _open_study(store, plan, None, None, url)
    s_seed = _sampler_seed(seed, created, n_existing_before if not created else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=s_seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3) if prune else optuna.pruners.NopPruner()
    study = optuna.load_study(study_name=plan.study_name, storage=store, sampler=sampler, pruner=pruner)

    search = _Search(
        cls=cls,
        adapter=plan.adapter,
        base=plan.base_params,
        space=plan.space,
        seed=config.seed,
        train=train,
        queries=queries,
        queries_in=queries.requests,
        metrics=plan.metrics,
        prune=prune,
        worker=_worker_id(),
        conditions=plan.conditions,
        defaults=plan.defaults,
        item_price=prepared.dataset.item_price,
    )
    default_params = active_params({n: plan.defaults[n] for n in plan.space}, plan.conditions, plan.defaults)
    counts = _count(study)
    # the defaults are scored first, as a finished trial: by the study's creator, or by the next run when they are
    # missing (the creator was interrupted while scoring them), so that a fixed budget of N trials includes them.
    # A worker that joins a new study while its creator is still scoring the defaults scores them too: at most
    # one duplicate default trial per such worker.
    has_default = any(
        t.user_attrs.get("is_default") and t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)
    )
    add_default = (
        (created or not has_default)
        and plan.space
        and all(_in_space(plan.space[n], v) for n, v in default_params.items())
    )
    remaining = max(0, n_trials - counts["finished"])
    emit(
        "study_start",
        plan.adapter,
        {
            "study": plan.study_name,
            "target": n_trials,
            "finished": counts["finished"],
            "best": None,
            "created": created,
            "remaining": remaining,
        },
    )
    t0 = time.perf_counter()
    ran = [0]
    default_trial = None
    default_failed = default_ok = False
    if add_default and remaining > 0:
        default_trial = _add_default_trial(study, search, default_params, plan)
        ran[0] += 1
        default_failed = study.get_trials(deepcopy=False)[default_trial].state.name == "FAIL"
        default_ok = not default_failed
        counts = _count(study)
        best = select_best(study.get_trials(deepcopy=False), plan.directions)
        emit(
            "trial",
            plan.adapter,
            {
                "number": default_trial,
                "state": "default",
                "finished": counts["finished"],
                "target": n_trials,
                "best": best.values[0] if best is not None and best.values else None,
            },
        )
        remaining = max(0, n_trials - counts["finished"])
    if remaining > 0 and plan.space:
        # runs until the study has n_trials finished trials (all workers together), the
        # timeout, or too many failures in this run (a parameter combination the data
        # cannot support fails its trial and is replaced; a broken adapter stops the run)
        study.optimize(
            search,
            n_trials=None,
            timeout=timeout,
            n_jobs=n_jobs,
            catch=(_TrialFailed,),
            callbacks=[
                optuna.study.MaxTrialsCallback(n_trials, states=_finished_states()),
                _failure_cap(max_failures(remaining), failed=int(default_failed), ok=int(default_ok)),
                _progress_callback(emit, plan.adapter, n_trials, plan.directions, ran),
            ],
        )
    seconds = time.perf_counter() - t0
    emit("study_end", plan.adapter, {"study": plan.study_name, "ran": ran[0], "seconds": seconds})
    return SearchOutcome(
        plan=plan,
        study=study,
        storage_url=redact(url) if url else type(store).__name__,
        sampler_seed=s_seed,
        created=created,
        trials_this_run=ran[0],
        seconds=seconds,
        pruning=pruning,
        default_trial=default_trial,
        search=search,
    )


def _first_errors(study: optuna.Study, limit: int = 5) -> list[str]:
    from optuna.trial import TrialState

    seen: dict[str, None] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        msg = t.user_attrs.get("error") or "failed (no message; the process may have been killed)"
        seen.setdefault(msg, None)
        if len(seen) >= limit:
            break
    return list(seen)


def _importances(study: optuna.Study, seed: int, metrics: Sequence[str]) -> dict[str, float]:
    import optuna
    from optuna.trial import TrialState

    comp = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = {k for t in comp for k in t.params if len({json.dumps(u.params.get(k), default=str) for u in comp}) > 1}
    if len(comp) < 3 or not varied:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(
                study,
                evaluator=optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=seed),
                target=(lambda t: t.values[0]) if len(metrics) > 1 else None,
            )
        return {k: float(v) for k, v in imp.items()}
    except Exception:
        return {}
