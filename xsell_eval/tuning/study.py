"""Study identity (adapter, metrics, data fingerprint, settings hash), opening, trial selection."""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval.errors import ConfigError
from xsell_eval.tuning.space import DEFAULT_METRIC, describe_space, parse_objectives, search_conditions, search_space
from xsell_eval.tuning.storage import redact

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from xsell_eval.data.dataset import Dataset
    from xsell_eval.pipeline import CompareConfig

#: How long a worker waits for another worker to finish writing a new study's attributes.
ATTR_WAIT_S = 30.0


# =============================================================================== study identity
def eval_settings(config: CompareConfig, metrics: Sequence[str]) -> dict[str, Any]:
    """The settings that define a study's objective (what a trial's score means)."""
    return {
        "metrics": list(metrics),
        "split": config.split,
        "test_fraction": config.test_fraction,
        "valid_fraction": config.valid_fraction,
        "cutoff": config.cutoff,
        "protocol": config.protocol,
        "reveal": config.reveal if config.hide is None else None,
        "hide": config.hide,
        "max_queries": config.max_queries,
        "seed": config.seed,
    }


def settings_hash(config: CompareConfig, metrics: Sequence[str]) -> str:
    """sha256 (12 hex) of :func:`eval_settings`: stored as the study's ``config_hash``."""
    blob = json.dumps(eval_settings(config, metrics), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON-able values are equal once stored (tuples become lists, keys sorted)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def default_study_name(
    adapter: str,
    metrics: Sequence[str],
    dataset_name: str,
    fingerprint: str,
    chash: str,
    *,
    fixed: Mapping[str, Any] | None = None,
    space: Mapping[str, str] | None = None,
) -> str:
    """``cf-ndcg@10-online_retail-1a2b3c4d``: stable, so re-running the same command resumes.

    The tag hashes the data, the evaluation settings, the fixed parameters and the described
    search space: ``cf`` and ``cf:interactions=user`` get different studies.
    """
    what = json.dumps({"fixed": dict(fixed or {}), "space": dict(space or {})}, sort_keys=True, default=str)
    tag = hashlib.sha256(f"{fingerprint}:{chash}:{what}".encode()).hexdigest()[:8]
    return f"{adapter}-{'+'.join(metrics)}-{dataset_name}-{tag}"


@dataclass(frozen=True)
class StudyPlan:
    """What a study must be: checked against an existing study before anything is written."""

    adapter: str
    spec: str
    study_name: str
    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    fingerprint: str
    config_hash: str
    settings: dict[str, Any]
    space: dict[str, Any]
    base_params: dict[str, Any]
    dataset: str
    conditions: dict[str, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    """Every hyperparameter's value when not searched: declared defaults, then fixed parameters."""

    def attrs(self) -> dict[str, Any]:
        """The study user attributes written when the study is created."""
        from xsell_eval import __version__

        return {
            "adapter": self.adapter,
            "metrics": list(self.metrics),
            "directions": list(self.directions),
            "fingerprint": self.fingerprint,
            "config_hash": self.config_hash,
            "eval_settings": self.settings,
            "dataset": self.dataset,
            "search_space": describe_space(self.space, self.conditions),
            "base_params": self.base_params,
            "xsell_eval_version": __version__,
        }


def plan_study(
    spec: str,
    config: CompareConfig,
    dataset: Dataset,
    *,
    metric: str | Sequence[str] = DEFAULT_METRIC,
    directions: Sequence[str] | None = None,
    study_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> StudyPlan:
    """Resolve adapter, search space, metrics and study name (no storage access)."""
    from xsell_eval.adapters.registry import get, parse_spec

    name, spec_params = parse_spec(spec)
    cls = get(name)
    metrics, dirs = parse_objectives(metric, directions)
    base = {**config.params.get(name, {}), **config.params.get(spec, {}), **spec_params}
    try:
        owner = cls(seed=config.seed, **base)  # validate fixed parameters early, with the adapter's own message
    except ConfigError as exc:
        raise ConfigError(f"fixed parameters of '{spec}': {exc}") from None
    # the instance declares the space: a hybrid's weight_<component> parameters exist only there. Fixed
    # parameters (the spec's, and the experiment's [adapters.<name>] unless [tune.<name>] names them) are not searched.
    named = set(overrides or {})
    space = {
        k: v
        for k, v in search_space(owner, overrides).items()
        if k not in spec_params and (k not in base or k in named)
    }
    conditions = search_conditions(owner)
    chash = settings_hash(config, metrics)
    fp = dataset.fingerprint
    described = describe_space(space, conditions)
    return StudyPlan(
        adapter=name,
        spec=spec,
        study_name=study_name
        or default_study_name(name, metrics, dataset.name, fp, chash, fixed=base, space=described),
        metrics=metrics,
        directions=dirs,
        fingerprint=fp,
        config_hash=chash,
        settings=eval_settings(config, metrics),
        space=space,
        base_params=base,
        dataset=dataset.name,
        conditions=conditions,
        defaults=owner.get_params(),
    )


def _study_id(storage: BaseStorage, name: str) -> int | None:
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        return None


def _complete_attrs(storage: BaseStorage, sid: int, *, required: Iterable[str], wait_s: float) -> dict[str, Any]:
    """The study's user attributes, once whoever created the study has finished writing them.

    Optuna writes user attributes one at a time, so a worker joining a study that another worker
    created a moment ago can see some of them (``adapter`` but not yet ``metrics``). Such a
    half-written study is polled for up to ``wait_s`` seconds; attributes still missing after that
    (a creator killed mid-write) are reported as they are and the caller's check names them.
    """
    required = set(required)
    deadline = time.monotonic() + wait_s
    while True:
        attrs = storage.get_study_user_attrs(sid)
        if "adapter" not in attrs or required <= attrs.keys() or time.monotonic() >= deadline:
            return attrs
        time.sleep(0.05)


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "none"


def check_study(storage: BaseStorage, plan: StudyPlan, *, storage_url: str = "", wait_s: float = ATTR_WAIT_S) -> bool:
    """Raise ConfigError if ``plan.study_name`` exists for another adapter, metric, data or evaluation.

    A study whose attributes another worker is still writing is waited for (``wait_s`` seconds).

    Returns:
        True when the study exists (and matches), False when it does not exist yet.
    """
    from optuna.study import StudyDirection

    sid = _study_id(storage, plan.study_name)
    if sid is None:
        return False
    attrs = _complete_attrs(storage, sid, required=plan.attrs().keys(), wait_s=wait_s)
    where = f"study '{plan.study_name}' in {redact(storage_url) or 'the storage'}"
    fix = "use another --study name, or the same settings; nothing was changed"
    if "adapter" not in attrs:
        n = len(storage.get_all_trials(sid, deepcopy=False))
        if n:
            raise ConfigError(f"{where} has {n} trials but was not created by `xsell-eval tune`; {fix}")
        return True
    missing = sorted(set(plan.attrs()) - attrs.keys() - {"xsell_eval_version"})
    if missing:
        raise ConfigError(
            f"{where} has incomplete settings (missing {', '.join(missing)}), probably because the process "
            f"that created it was killed; {fix}"
        )
    problems = []
    if attrs.get("adapter") != plan.adapter:
        problems.append(f"adapter '{attrs.get('adapter')}' (you asked for '{plan.adapter}')")
    if list(attrs.get("metrics", [])) != list(plan.metrics):
        problems.append(f"metric {'+'.join(attrs.get('metrics', []))} (you asked for {'+'.join(plan.metrics)})")
    if attrs.get("fingerprint") != plan.fingerprint:
        problems.append(
            f"data fingerprint {attrs.get('fingerprint')} of '{attrs.get('dataset')}' "
            f"(your data: {plan.fingerprint} of '{plan.dataset}')"
        )
    if not problems and "base_params" in attrs and not same_json(attrs["base_params"], plan.base_params):
        problems.append(f"fixed parameters {_params(attrs['base_params'])} (yours: {_params(plan.base_params)})")
    wanted = describe_space(plan.space, plan.conditions)
    if not problems and "search_space" in attrs and not same_json(attrs["search_space"], wanted):
        old_space = attrs["search_space"]
        diff = [
            f"{k}: {old_space.get(k, 'not searched')} → {wanted.get(k, 'not searched')}"
            for k in sorted(set(old_space) | set(wanted))
            if old_space.get(k) != wanted.get(k)
        ]
        problems.append(f"another search space ({'; '.join(diff)})")
    if not problems and attrs.get("config_hash") != plan.config_hash:
        old = attrs.get("eval_settings", {})
        diff = [f"{k}={old.get(k)!r}→{v!r}" for k, v in plan.settings.items() if old.get(k) != v]
        problems.append(f"other evaluation settings ({', '.join(diff) or attrs.get('config_hash')})")
    dirs = [d.name.lower() for d in storage.get_study_directions(sid)]
    if not problems and dirs != [d for d in plan.directions] and dirs != [StudyDirection.NOT_SET.name.lower()]:
        problems.append(f"directions {dirs} (you asked for {list(plan.directions)})")
    if problems:
        raise ConfigError(f"{where} was tuned for {'; '.join(problems)}; {fix}")
    return True


def _open_study(
    storage: BaseStorage, plan: StudyPlan, sampler: Any, pruner: Any, storage_url: str
) -> tuple[optuna.Study, bool]:
    """Create the study (returns created=True) or load a matching one; set its attributes."""
    import optuna

    created = False
    if not check_study(storage, plan, storage_url=storage_url):
        try:
            optuna.create_study(
                storage=storage,
                study_name=plan.study_name,
                directions=list(plan.directions),  # type: ignore[arg-type]
                load_if_exists=False,
            )
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            created = False  # another worker created it between our check and our create
    study = optuna.load_study(study_name=plan.study_name, storage=storage, sampler=sampler, pruner=pruner)
    if "adapter" not in study.user_attrs:
        for k, v in plan.attrs().items():
            study.set_user_attr(k, v)
        if len(plan.metrics) > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(list(plan.metrics))
    check_study(storage, plan, storage_url=storage_url)  # a concurrent creator with other settings
    return study, created


# =============================================================================== trials


def _finished_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED)


def _count(study: optuna.Study) -> dict[str, int]:
    from optuna.trial import TrialState

    counts = dict.fromkeys(("complete", "pruned", "failed", "running", "waiting"), 0)
    names = {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
    }
    for t in study.get_trials(deepcopy=False):
        counts[names[t.state]] += 1
    counts["finished"] = counts["complete"] + counts["pruned"]
    return counts


def _pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n × m)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    sign = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    v = values * sign
    ge = (v[:, None, :] >= v[None, :, :]).all(axis=2)  # ge[j, i]: j at least as good as i everywhere
    gt = (v[:, None, :] > v[None, :, :]).any(axis=2)
    dominated = (ge & gt).any(axis=0)
    return ~dominated


def select_best(
    trials: Sequence[FrozenTrial], directions: Sequence[str], *, first_n: int | None = None
) -> FrozenTrial | None:
    """The best complete trial (multi-objective: the Pareto trial best on the first metric).

    Args:
        trials: the study's trials (any states; only complete ones are considered).
        directions: one per objective.
        first_n: consider only the first ``first_n`` finished trials by number (a fixed
            budget for a fair comparison even when the study has more trials).

    Ties are broken by the later objectives, then by the lower trial number.
    """
    from optuna.trial import TrialState

    fin = sorted((t for t in trials if t.state in _finished_states()), key=lambda t: t.number)
    if first_n is not None:
        fin = fin[:first_n]
    comp = [t for t in fin if t.state == TrialState.COMPLETE and t.values is not None]
    if not comp:
        return None
    vals = np.array([t.values for t in comp], dtype=np.float64)
    ok = [bool(np.isfinite(row).all()) for row in vals]  # one row per trial
    comp = [t for t, o in zip(comp, ok, strict=True) if o]
    vals = vals[ok]
    if not comp:
        return None
    if len(directions) > 1:
        mask = _pareto_mask(vals, directions)
        comp = [t for t, m in zip(comp, mask, strict=True) if m]
        vals = vals[mask]
    sign = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    keys = [(*(-(v * sign)), t.number) for t, v in zip(comp, vals, strict=True)]
    return comp[int(min(range(len(comp)), key=lambda i: keys[i]))]


def pareto_front(study: optuna.Study, directions: Sequence[str]) -> pd.DataFrame:
    """Non-dominated complete trials: ``trial``, one column per metric, ``params`` (JSON)."""
    from optuna.trial import TrialState

    comp = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values is not None]
    names = list(study.user_attrs.get("metrics", [f"objective_{i}" for i in range(len(directions))]))
    if not comp:
        return pd.DataFrame(columns=["trial", *names, "params"])
    vals = np.array([t.values for t in comp], dtype=np.float64)
    ok = [bool(np.isfinite(row).all()) for row in vals]  # one row per trial
    comp = [t for t, o in zip(comp, ok, strict=True) if o]
    vals = vals[ok]
    mask = _pareto_mask(vals, directions)
    rows = [
        {"trial": t.number, **dict(zip(names, v.tolist(), strict=True)), "params": json.dumps(t.params, sort_keys=True)}
        for t, v, m in zip(comp, vals, mask, strict=True)
        if m
    ]
    df = pd.DataFrame(rows, columns=["trial", *names, "params"])
    return df.sort_values([names[0], "trial"], ascending=[directions[0] == "minimize", True]).reset_index(drop=True)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, one column per metric, duration, worker, error, params."""
    names = list(study.user_attrs.get("metrics", []))
    rows = []
    for t in study.get_trials(deepcopy=False):
        vals = list(t.values) if t.values is not None else [float("nan")] * len(names)
        dur = t.duration.total_seconds() if t.duration is not None else float("nan")
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
        row.update(dict(zip(names, vals, strict=False)))
        row.update(
            {
                "seconds": dur,
                "worker": t.user_attrs.get("worker", ""),
                "is_default": bool(t.user_attrs.get("is_default", False)),
                "last_step": t.last_step,
                "error": t.user_attrs.get("error", ""),
            }
        )
        row.update({f"param_{k}": v for k, v in t.params.items()})
        rows.append(row)
    return pd.DataFrame(rows)
