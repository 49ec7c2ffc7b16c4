"""Fair hyperparameter tuning with Optuna: validation window only, resumable, shareable.

Modules: :mod:`.space` (search spaces, overrides), :mod:`.storage` (Optuna storages),
:mod:`.study` (study identity, trial selection), :mod:`.search` (the Optuna search),
:mod:`.run` (:func:`tune`: search + one test evaluation, run directory),
:mod:`.compare` (``compare --tuned`` / ``--tune N``).

What happens in :func:`tune`::

    data ──► split ──► fit_train ─┬─► trial 0 (declared defaults), trial 1, ... trial N-1
                       validation ┘     fit on fit_train, score on validation queries only
                                        (seeded TPE; MedianPruner for epoch-wise adapters)
             train ──► best params ──► fit on the full train ─┐
             train ──► default params ► fit on the full train ─┴─► test queries, once each:
                                                                  tuned vs default with CIs

The test split is never touched during the search: trials receive ``split.fit_train``
and queries built from ``split.validation`` (:func:`xsell_eval.pipeline.prepare_validation`).

Studies live in an Optuna storage: an SQLAlchemy URL (``sqlite:///reports/optuna.db`` by
default, ``postgresql://user:pw@host/db`` to share a study between machines) or a
journal file (``journal:PATH``). A study records, as user attributes, the adapter, the
metric(s), the data fingerprint and the hash of the evaluation settings; re-opening it
for another adapter, metric, data set or evaluation raises :class:`ConfigError` and
changes nothing.

Budget semantics: ``n_trials`` is the *total* number of finished (complete or pruned)
trials the study should have. Re-running with the same study tops it up; several
workers on the same study stop together when the total is reached. Failed trials
(an adapter error for a parameter combination, e.g. a text field the catalog lacks)
do not count and are replaced, up to :func:`max_failures` failures per run (a run
whose first 5 trials all fail stops: the adapter is broken, not the parameters).

Sampler seeding: the process that *creates* a study samples with ``seed`` exactly, so
a fresh single-process run (``n_jobs=1``) is reproducible. A process that resumes or
joins an existing study derives its sampler seed from ``seed``, the number of trials
already in the study, the host name and the process id, so that parallel workers do
not propose the same parameters; such runs (and ``n_jobs > 1``, where trials finish in
a timing-dependent order) are not bit-reproducible.

Example:
    >>> from xsell_eval.adapters.knn import ItemKNNAdapter
    >>> space = search_space(ItemKNNAdapter, {"k_neighbors": {"low": 10, "high": 200}})
    >>> space["k_neighbors"]
    IntDistribution(high=200, log=True, low=10, step=1)
"""

from __future__ import annotations

from xsell_eval.tuning.compare import (
    StoredBest,
    apply_tuning,
    best_params_from_storage,
    find_studies,
    tune_then_compare,
)
from xsell_eval.tuning.run import TuneResult, best_params_toml, read_tune_run, tune
from xsell_eval.tuning.search import (
    REPORT_EPOCHS,
    SearchOutcome,
    TuneProgressFn,
    max_failures,
    run_search,
)
from xsell_eval.tuning.space import (
    DEFAULT_METRIC,
    TuneSettings,
    active_params,
    declared_by,
    describe_space,
    parse_objectives,
    read_tune_settings,
    search_conditions,
    search_space,
    suggest_params,
)
from xsell_eval.tuning.storage import DEFAULT_STORAGE, JOURNAL_PREFIX, default_storage, open_storage, redact
from xsell_eval.tuning.study import (
    StudyPlan,
    check_study,
    default_study_name,
    eval_settings,
    pareto_front,
    plan_study,
    select_best,
    settings_hash,
    trials_frame,
)

__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_STORAGE",
    "JOURNAL_PREFIX",
    "REPORT_EPOCHS",
    "SearchOutcome",
    "StoredBest",
    "StudyPlan",
    "TuneProgressFn",
    "TuneResult",
    "TuneSettings",
    "active_params",
    "apply_tuning",
    "best_params_from_storage",
    "best_params_toml",
    "check_study",
    "declared_by",
    "default_storage",
    "default_study_name",
    "describe_space",
    "eval_settings",
    "find_studies",
    "max_failures",
    "open_storage",
    "pareto_front",
    "parse_objectives",
    "plan_study",
    "read_tune_run",
    "read_tune_settings",
    "redact",
    "run_search",
    "search_conditions",
    "search_space",
    "select_best",
    "settings_hash",
    "suggest_params",
    "trials_frame",
    "tune",
    "tune_then_compare",
]
