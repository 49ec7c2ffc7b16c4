"""The evaluation pipeline: data → split → queries → adapters → metrics → statistics.

Data flows one way; each stage returns an immutable value. Progress is reported
through an optional callback (only the CLI prints). An adapter that raises is
recorded as failed with its error; the others still run and are saved.

Example:
    >>> from xsell_eval.pipeline import CompareConfig, run_compare
    >>> from xsell_eval.testing import toy_dataset
    >>> result = run_compare(CompareConfig(adapters=("random",), ks=(5,), n_bootstrap=100), dataset=toy_dataset())
    >>> sorted(result.adapter_names)
    ['popular', 'random']
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import NotApplicableError
from xsell_eval.latency import measure_latency
from xsell_eval.protocols import build_queries
from xsell_eval.queries import Queries, Recommendations
from xsell_eval.result import NOT_APPLICABLE, AdapterOutcome, CompareResult, ReportSettings, ResumeInfo
from xsell_eval.settings import DEFAULT_METRICS, CompareConfig  # noqa: F401  (re-exported for existing imports)
from xsell_eval.split import Split, make_split

if TYPE_CHECKING:
    from xsell_eval.adapters.base import Adapter

__all__ = [
    "AdapterOutcome",
    "CompareConfig",
    "CompareResult",
    "Prepared",
    "assemble",
    "prepare",
    "run_adapter",
    "run_compare",
]

USER_BUCKETS = ("0", "1-2", "3-9", "10+")

ProgressFn = Callable[[str, str, dict[str, Any]], None]
"""``progress(event, adapter_or_stage, info)``; events: stage_start, stage_end, adapter_start,
adapter_step, adapter_end."""


@dataclass(frozen=True, eq=False)
class Prepared:
    """Data, split and test queries shared by every adapter of a run."""

    dataset: Dataset
    split: Split
    queries: Queries
    timings: dict[str, float]
    reveal_queries: tuple[Queries, ...] = ()
    """The extra basket-completion reveals of ``--reveal-seeds`` (:mod:`xsell_eval.reveal`)."""

    def identity(self, config: CompareConfig) -> dict[str, str]:
        """What an adapter's results were computed on: settings, data content and the exact test queries.

        Stored with each saved adapter result; ``--resume`` reuses a result only when all
        three match (the same settings on changed data, or a changed query set, re-run).
        """
        q = self.queries
        h = hashlib.sha256()
        for arr in (q.query_id, q.user_idx, q.context.indptr, q.context.indices, q.targets.indptr, q.targets.indices):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(np.ascontiguousarray(q.targets.data, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(q.target_value.data, dtype=np.float64).tobytes())
        return {
            "config_hash": config.hash,
            "data_fingerprint": self.dataset.fingerprint,
            "queries": h.hexdigest()[:16],
        }


def load_data(config: CompareConfig) -> Dataset:
    """Load the configured dataset (the embedded Online Retail when ``data`` is None)."""
    from xsell_eval.data.loaders import load_dataset

    return load_dataset(
        config.data, loader=config.loader, catalog=config.catalog, columns=config.columns, policy=config.cleaning
    )


def prepare(config: CompareConfig, *, dataset: Dataset | None = None, progress: ProgressFn | None = None) -> Prepared:
    """Load (unless ``dataset`` is given), split and build the test queries."""
    emit = progress or (lambda *a: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if dataset is None:
        emit("stage_start", "load", {})
        dataset = load_data(config)
        emit("stage_end", "load", {"dataset": repr(dataset)})
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    emit("stage_start", "split", {})
    split = make_split(
        dataset,
        config.split,
        seed=config.seed,
        test_fraction=config.test_fraction,
        valid_fraction=config.valid_fraction,
        cutoff=config.cutoff,
    )
    queries = build_queries(
        split.train,
        split.test,
        config.protocol,
        seed=config.seed,
        reveal=config.reveal if config.hide is None else None,
        hide=config.hide,
        max_queries=config.max_queries,
    )
    from xsell_eval.reveal import reveal_queries

    extra = reveal_queries(config, split.train, split.test)
    timings["split_and_queries"] = time.perf_counter() - t0
    emit("stage_end", "split", {"queries": len(queries)})
    return Prepared(dataset=dataset, split=split, queries=queries, timings=timings, reveal_queries=extra)


def prepare_validation(config: CompareConfig, prepared: Prepared) -> tuple[Dataset, Queries]:
    """(fit_train, validation queries): what tuning sees; the test period is not touched."""
    sp_ = prepared.split
    q = build_queries(
        sp_.fit_train,
        sp_.validation,
        config.protocol,
        seed=config.seed,
        reveal=config.reveal if config.hide is None else None,
        hide=config.hide,
        max_queries=config.max_queries,
    )
    return sp_.fit_train, q


#: per-query metrics the bucket tables of the report read (``_bucket_tables``), always computed
BUCKET_TABLE_METRICS: tuple[str, ...] = ("hit_rate", "recall", "ndcg", "revenue")


def evaluate_recs(
    recs: Recommendations,
    queries: Queries,
    train: Dataset,
    ks: tuple[int, ...],
    *,
    item_price: np.ndarray | None = None,
    metrics: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict[str, float]]:
    """Per-query metrics, per-item-bucket per-query metrics, and aggregate metrics.

    One ranking pass (:func:`~xsell_eval.metrics.evaluate_ranking`) gives the per-query
    metrics and the per-item-bucket breakdown. ``metrics`` limits the per-query metrics to
    those named (plus :data:`BUCKET_TABLE_METRICS`, which the report's bucket tables use);
    ``None`` computes all. ``item_price`` (whole-dataset unit prices, NaN where unknown) lets
    revenue be NaN rather than 0 when a target's price is unknown. Coverage is over the items
    sold in ``train`` (the items a collaborative method could know about).
    """
    from xsell_eval import metrics as M

    pop = train.item_basket_count
    wanted = None if metrics is None else (*metrics, *BUCKET_TABLE_METRICS)
    res = M.evaluate_ranking(
        recs,
        queries,
        list(ks),
        item_popularity=pop,
        n_train_baskets=len(train.baskets),
        item_category=train.item_category,
        item_price=item_price,
        metrics=wanted,
        item_buckets_of=True,
    )
    per_query = res.per_query
    if "user_history" not in per_query.columns:
        per_query = per_query.assign(user_history=queries.user_history)
    per_query, by_item = _with_clusters(per_query, res.by_item_bucket, queries)
    agg = M.aggregate_metrics(recs, queries, list(ks), catalog=np.flatnonzero(pop > 0))
    return per_query, by_item, {k: float(v) for k, v in agg.items()}


def _with_clusters(
    per_query: pd.DataFrame, by_item: dict[str, pd.DataFrame], queries: Queries
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Add each query's customer (:data:`~xsell_eval.resampling.CLUSTER_COLUMN`): the cluster of the customer bootstrap.

    Customers are numbered 0, 1, ... in order of their first query (guests -1), not by the dataset's
    user index, so the per-query files of a run do not reveal customer numbers (``--hash-user-ids``).
    """
    from xsell_eval.columns import Columns as C
    from xsell_eval.resampling import CLUSTER_COLUMN

    user_idx = np.asarray(queries.user_idx, dtype=np.int64)
    known = user_idx >= 0
    user = np.full(len(user_idx), -1, dtype=np.int64)
    user[known] = pd.factorize(user_idx[known])[0]
    if CLUSTER_COLUMN not in per_query.columns:
        per_query = per_query.assign(**{CLUSTER_COLUMN: user})
    qid = np.asarray(queries.query_id)
    order = np.argsort(qid, kind="stable")
    out = {}
    for b, df in by_item.items():
        pos = order[np.searchsorted(qid, df[C.QUERY].to_numpy(), sorter=order)] if len(df) else np.zeros(0, int)
        out[b] = df if CLUSTER_COLUMN in df.columns else df.assign(**{CLUSTER_COLUMN: user[pos]})
    return per_query, out


def _warning_texts(caught: Sequence[warnings.WarningMessage], limit: int = 5) -> tuple[str, ...]:
    """User and runtime warnings as ``Category: message`` lines, deduplicated, at most ``limit``."""
    texts = [
        f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, (UserWarning, RuntimeWarning))
    ]
    return tuple(dict.fromkeys(texts))[:limit]


def run_adapter(
    spec: str,
    config: CompareConfig,
    prepared: Prepared,
    *,
    train: Dataset | None = None,
    queries: Queries | None = None,
    progress: ProgressFn | None = None,
    params: dict[str, Any] | None = None,
    instance: Adapter | None = None,
) -> AdapterOutcome:
    """Fit, recommend and evaluate one adapter; never raises for adapter failures.

    The adapter is built from ``spec`` through the registry, or is ``instance`` (labelled
    ``spec``; it is refitted here). It receives the test :class:`~xsell_eval.queries.Requests`
    only; the targets stay here, with the evaluation.
    """
    from xsell_eval.adapters.registry import create, parse_spec

    emit = progress or (lambda *a: None)
    train = train if train is not None else prepared.split.train
    queries = queries if queries is not None else prepared.queries
    name, spec_params = parse_spec(spec) if instance is None else (spec, {})
    label = spec
    merged = {
        **config.params.get(name, {}),
        **config.params.get(spec, {}),
        **spec_params,
        **(config.tuned or {}).get(spec, {}),
        **(params or {}),
    }
    adapter = None
    caught: list[warnings.WarningMessage] = []
    try:
        adapter = create(name, seed=config.seed, params=merged) if instance is None else instance
        if hasattr(adapter, "on_epoch"):  # iterative adapters report each epoch (loss, validation metric)
            adapter.on_epoch = lambda info: emit("adapter_step", label, {"step": "fit", "epoch_info": info})
        with warnings.catch_warnings(record=True) as caught:  # kept with the outcome, shown in the report
            warnings.simplefilter("always", UserWarning)
            warnings.simplefilter("always", RuntimeWarning)
            emit("adapter_step", label, {"step": "fit"})
            t0 = time.perf_counter()
            adapter.fit(train)
            fit_s = time.perf_counter() - t0
            emit("adapter_step", label, {"step": "recommend"})
            t0 = time.perf_counter()
            requests = queries.requests
            recs = adapter.recommend(requests, max(config.ks))
            rec_s = time.perf_counter() - t0
            # a BaseAdapter times itself, without the checks; read before the latency probe adds to it
            recommend_s = getattr(adapter, "recommend_seconds_", rec_s)
            emit("adapter_step", label, {"step": "latency"})
            fitted = adapter
            latency = measure_latency(
                lambda one: fitted.recommend(one, max(config.ks)), requests, batch_seconds=recommend_s, seed=config.seed
            ).to_dict()
        emit("adapter_step", label, {"step": "evaluate"})
        t0 = time.perf_counter()
        per_query, by_item, agg = evaluate_recs(
            recs, queries, train, config.ks, item_price=prepared.dataset.item_price, metrics=config.metrics
        )
        eval_s = time.perf_counter() - t0
        reveal_values: tuple[float, ...] = ()
        if prepared.reveal_queries and queries is prepared.queries:  # --reveal-seeds: same fit, other reveals
            from xsell_eval.reveal import primary_values

            reveal_values = primary_values(
                adapter, prepared.reveal_queries, train, config, item_price=prepared.dataset.item_price
            )
    except NotApplicableError as exc:  # e.g. a history adapter on baskets without user ids
        return AdapterOutcome(
            name=label,
            spec=spec,
            status=NOT_APPLICABLE,
            params=merged,
            family=getattr(adapter, "family", ""),
            error=str(exc),
        )
    except Exception as exc:  # a crashing adapter (ours or a plugin) must not sink the run
        return AdapterOutcome(
            name=label,
            spec=spec,
            status="failed",
            params=merged,
            family=getattr(adapter, "family", ""),
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    fb = None if recs.fallback is None else float(np.mean(recs.fallback)) if len(recs) else 0.0
    empty = float(np.mean(recs.items[:, 0] < 0)) if len(recs) and recs.items.shape[1] else 0.0
    return AdapterOutcome(
        name=label,
        spec=spec,
        status="ok",
        params=adapter.get_params() if hasattr(adapter, "get_params") else merged,
        family=getattr(adapter, "family", ""),
        fit_seconds=getattr(adapter, "fit_seconds_", fit_s),  # a BaseAdapter times itself, without the checks
        recommend_seconds=recommend_s,
        evaluate_seconds=eval_s,
        fallback_share=fb,
        empty_share=empty,
        warnings=_warning_texts(caught),
        recs=recs,
        per_query=per_query,
        per_query_items=by_item,
        aggregates=agg,
        latency=latency,
        reveal_seed_values=reveal_values,
    )


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    """Versions of the libraries that can change the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in (
        "xsell-eval",
        "numpy",
        "pandas",
        "scipy",
        "scikit-learn",
        "statsmodels",
        "optuna",
        "scikit-surprise",
        "rectools-lightfm",
        "torch",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def _bucket_tables(outcomes: list[AdapterOutcome], config: CompareConfig) -> pd.DataFrame:
    from xsell_eval import metrics as M
    from xsell_eval.resampling import CLUSTER_COLUMN, shared_draws
    from xsell_eval.stats import summarize_many

    rows: list[tuple[Any, ...]] = []
    _, k = M.parse_metric(config.primary_metric)
    cols = [f"{m}@{k}" for m in ("hit_rate", "recall", "ndcg", "revenue")]
    tables: list[tuple[tuple[str, str, str], pd.DataFrame]] = []

    def add(kind: str, bucket: str, adapter: str, df: pd.DataFrame) -> None:
        tables.append(((kind, bucket, adapter), df))

    for o in outcomes:
        if o.status != "ok" or o.per_query is None:
            continue
        pq = o.per_query
        ub = M.user_bucket(pq["user_history"].to_numpy())
        keep = [c for c in (*cols, CLUSTER_COLUMN) if c in pq]  # the bucket copies hold only what is summarized
        for b in USER_BUCKETS:
            add("user history (train baskets)", b, o.name, pq.loc[ub == b, keep])
        for b, df in (o.per_query_items or {}).items():
            add("target item popularity", b, o.name, df)
    with shared_draws(max_bytes=0):  # each bucket's draws serve all adapters at once and are not needed again
        sums = summarize_many(  # one set of draws per bucket size, shared by the adapters (same numbers as one by one)
            [(df, [c for c in cols if c in df]) for _, df in tables], **config.bootstrap_options, ci_unit=config.ci_unit
        )
    for (kind, bucket, adapter), s in zip((key for key, _ in tables), sums, strict=True):
        rows.extend((kind, bucket, adapter, r.metric, r.mean, r.ci_low, r.ci_high, r.n) for r in s.itertuples())
    return pd.DataFrame(rows, columns=["bucket_type", "bucket", "adapter", "metric", "mean", "ci_low", "ci_high", "n"])


def assemble(
    config: CompareConfig,
    prepared: Prepared,
    outcomes: list[AdapterOutcome],
    *,
    started: float,
    hash_user_ids: bool = False,
    settings: ReportSettings | None = None,
    command: str | None = None,
) -> CompareResult:
    """Statistics over the outcomes, plus the manifest and the decision, as one CompareResult.

    The decision (:func:`xsell_eval.decision.decide`) is computed here, once, while the
    per-query values are at hand (the paired test winner vs runner-up needs them).
    """
    from xsell_eval.data.describe import data_card
    from xsell_eval.fairness import compute_fairness
    from xsell_eval.stats import compare_to_baseline, summarize_many

    per_query = {o.name: o.per_query for o in outcomes if o.status == "ok" and o.per_query is not None}
    metric_cols = [f"{m}@{k}" for m in config.metrics for k in config.ks]
    sums = summarize_many(  # the adapters share the bootstrap draws (same numbers as one summarize each)
        [(pq, [c for c in metric_cols if c in pq]) for pq in per_query.values()],
        **config.bootstrap_options,
        ci_unit=config.ci_unit,
    )
    for name, s in zip(per_query, sums, strict=True):
        s.insert(0, "adapter", name)
    summary = pd.concat(sums, ignore_index=True) if sums else pd.DataFrame()
    baseline = config.baseline
    if baseline in per_query and len(per_query) > 1:
        comparisons = compare_to_baseline(
            per_query,
            baseline,
            [c for c in metric_cols if c in per_query[baseline]],
            alpha=config.alpha,
            **config.bootstrap_options,
            ci_unit=config.ci_unit,
            test=config.test,  # type: ignore[arg-type]  # checked by CompareConfig.validate
        )
    else:
        comparisons = pd.DataFrame()
    agg_rows = [(o.name, m, v) for o in outcomes if o.status == "ok" for m, v in o.aggregates.items()]
    aggregates = pd.DataFrame(agg_rows, columns=["adapter", "metric", "value"])
    buckets = _bucket_tables(outcomes, config)

    # before the output frames: its transient arrays then do not stack on the frames (the stage's peak)
    fairness = compute_fairness(config, prepared, outcomes)  # exposure and user-group gaps (xsell_eval.fairness)
    ds = prepared.dataset
    q = prepared.queries
    card = data_card(ds)
    queries_frame = q.to_frame(ds.item_ids, ds.user_ids, hash_users=hash_user_ids)
    from xsell_eval.run_frames import recommendations_frame

    recs_frame = recommendations_frame(  # labelled by the spec the user typed: cf and cf:k_neighbors=5 stay apart
        [(o.name, o.recs) for o in outcomes if o.recs is not None], q.query_id, ds.item_ids
    )
    pq_frame = (
        pd.concat(
            [_with_fallback(pq, outcomes, name).assign(adapter=name) for name, pq in per_query.items()],
            ignore_index=True,
        )
        if per_query
        else pd.DataFrame()
    )
    examples = _examples(config, ds, queries_frame, recs_frame, outcomes)
    manifest = {
        "format_version": 1,
        "xsell_eval_version": __import__("xsell_eval").__version__,
        "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "source": config.data or "embedded:online_retail"},
        "seed": config.seed,
        "config_hash": config.hash,
        "git_revision": git_revision(),
        "packages": package_versions(),
        "timings_seconds": {
            **prepared.timings,
            **{f"adapter:{o.name}:fit": o.fit_seconds for o in outcomes},
            **{f"adapter:{o.name}:recommend": o.recommend_seconds for o in outcomes},
            "total": time.perf_counter() - started,
        },
    }
    if command:
        manifest["command"] = command
    result = CompareResult(
        config=config,
        manifest=manifest,
        data_card=card.to_dict(),
        data_card_md=card.to_markdown(),
        split=prepared.split.describe(),
        audit=prepared.split.audit.to_dict(),
        n_queries=len(q),
        estimates=summary,
        comparisons=comparisons,
        buckets=buckets,
        aggregates=aggregates,
        adapters=tuple(o.light() for o in outcomes),
        queries_frame=queries_frame,
        recs_frame=recs_frame,
        per_query_frame=pq_frame,
        settings=settings,
        command=command,
        fairness=fairness,
        examples=examples,
    )
    return result.with_decision()


def _examples(
    config: CompareConfig, ds: Dataset, queries: pd.DataFrame, recs: pd.DataFrame, outcomes: list[AdapterOutcome]
) -> Any:
    """Every adapter's top-5 for a few frequent anchors and real carts (:mod:`xsell_eval.examples`)."""
    from xsell_eval.examples import item_titles, select_examples

    ok = [o.name for o in outcomes if o.status == "ok"]
    order = [config.baseline, *[a for a in ok if a != config.baseline]] if config.baseline in ok else ok
    return select_examples(queries, recs, item_titles(ds.catalog), order, k=min(5, max(config.ks)), seed=config.seed)


def _with_fallback(pq: pd.DataFrame, outcomes: list[AdapterOutcome], name: str) -> pd.DataFrame:
    """``pq`` with the per-query fallback flag (1.0/0.0) as ``served_by_fallback`` when the adapter reports one."""
    from xsell_eval.headtohead import FALLBACK_COLUMN

    o = next((o for o in outcomes if o.name == name), None)
    fb = None if o is None or o.recs is None else o.recs.fallback
    if fb is None or len(fb) != len(pq):
        return pq
    return pq.assign(**{FALLBACK_COLUMN: np.asarray(fb, dtype=np.float64)})


def _adapter_identity(identity: dict[str, str], instance: object | None) -> dict[str, str]:
    """The run's identity, plus the digest of the file a file-backed adapter (``--recs``) reads its lists from.

    A re-exported recommendations file at the same path therefore re-runs on ``--resume``.
    """
    digest = getattr(getattr(instance, "table", None), "sha256", None)
    return {**identity, "recs_sha256": str(digest)} if digest else identity


def run_compare(
    config: CompareConfig,
    *,
    dataset: Dataset | None = None,
    progress: ProgressFn | None = None,
    hash_user_ids: bool = False,
    completed: dict[str, AdapterOutcome] | None = None,
    on_adapter_done: Callable[[AdapterOutcome], None] | None = None,
    on_prepared: Callable[[Prepared], None] | None = None,
    instances: Mapping[str, Adapter] | None = None,
    settings: ReportSettings | None = None,
    command: str | None = None,
) -> CompareResult:
    """Run an offline comparison end to end; the result carries its decision.

    Args:
        config: the comparison; validated here.
        instances: adapter objects by label; a label listed in ``config.adapters`` (or as
            ``config.baseline``) runs that object instead of a registry spec.
        dataset: an already loaded dataset (otherwise ``config.data`` is loaded).
        progress: optional callback for progress events.
        completed: outcomes restored from an interrupted run: reused when their ``evaluated_on``
            equals this run's :meth:`Prepared.identity`, re-run otherwise (``result.resume``
            lists which).
        settings: report settings the decision assumes (traffic per day, power, currency).
        command: the command line as typed (the CLI passes it; the report prints it).
        on_adapter_done: called after each adapter (used to save results incrementally).
        on_prepared: called once the data, split and queries are ready.
    """
    started = time.perf_counter()
    instances = dict(instances or {})
    config = config.validate(instances=instances.keys())
    if config.recs:  # exported lists (--recs, [recs]): each file is read and checked now, before any work
        from xsell_eval.adapters.recs_file import recs_instances

        instances = {**recs_instances(config.recs), **instances}
    emit = progress or (lambda *a: None)
    prepared = prepare(config, dataset=dataset, progress=progress)
    from xsell_eval.memory import check_compare_memory

    check_compare_memory(config, prepared, instances=instances)  # stop before the work, not by an OOM kill
    if on_prepared is not None:
        on_prepared(prepared)
    outcomes: list[AdapterOutcome] = []
    identity = prepared.identity(config)
    restored: list[str] = []
    stale: list[str] = []
    for spec in config.adapters:
        saved = (completed or {}).get(spec)
        evaluated_on = _adapter_identity(identity, instances.get(spec))
        if saved is not None and saved.evaluated_on == evaluated_on:
            outcomes.append(saved)
            restored.append(spec)
            emit("adapter_end", spec, {"status": "restored"})
            continue
        if saved is not None:  # computed on other data, settings or queries: never mixed in
            stale.append(spec)
        emit("adapter_start", spec, {})
        out = run_adapter(spec, config, prepared, progress=progress, instance=instances.get(spec))
        out = replace(out, evaluated_on=evaluated_on)
        outcomes.append(out)
        if on_adapter_done is not None:
            on_adapter_done(out)
        emit("adapter_end", spec, {"status": out.status, "error": out.error})
    emit("stage_start", "statistics", {})
    from xsell_eval.resampling import shared_draws

    with shared_draws():  # every bootstrap of the statistics and the decision draws each customer set once
        result = assemble(
            config, prepared, outcomes, started=started, hash_user_ids=hash_user_ids, settings=settings, command=command
        )
    emit("stage_end", "statistics", {})
    if completed is not None:
        result = replace(result, resume=ResumeInfo(tuple(restored), tuple(stale)))
    return result
