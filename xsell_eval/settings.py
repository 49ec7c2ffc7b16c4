"""Settings of an offline comparison: :class:`CompareConfig`, the one place its defaults live.

The command-line options (``xsell-eval compare``, ``tune``) and the experiment file's
sections (:mod:`xsell_eval.config`) read their defaults from here, so a default is
written once. Importing this module is cheap (standard library only): the checks of
:meth:`CompareConfig.validate` import what they need when they run.

Example:
    >>> CompareConfig().test_fraction, CompareConfig().n_bootstrap
    (0.2, 1000)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from xsell_eval.errors import ConfigError

DEFAULT_METRICS = (
    "precision",
    "recall",
    "hit_rate",
    "ndcg",
    "mrr",
    "map",
    "revenue",
    "uplift",
    "novelty",
    "diversity",
)


#: The study budget of ``xsell-eval tune`` when neither ``--trials`` nor ``[tune] trials`` gives one.
DEFAULT_TRIALS = 50


@dataclass(frozen=True)
class CompareConfig:
    """Everything that defines an offline comparison (the resolved config of a run)."""

    adapters: tuple[str, ...] = ("cf", "content", "rules")
    data: str | None = None
    loader: str = "auto"
    catalog: str | None = None
    split: str = "temporal"
    test_fraction: float = 0.2
    valid_fraction: float = 0.1
    cutoff: str | None = None
    protocol: str = "basket-completion"
    reveal: int | None = 1
    hide: int | None = None
    reveal_seeds: int = 1
    """Basket-completion reveals to run (``--reveal-seeds``, ``[protocol] reveal_seeds``): the run's own plus
    N − 1 more; the report shows the between-seed spread of the primary metric (:mod:`xsell_eval.reveal`)."""
    max_queries: int | None = None
    ks: tuple[int, ...] = (5, 10, 20)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    primary_metric: str = "hit_rate@10"
    baseline: str = "popular"
    seed: int = 0
    n_bootstrap: int = 1000
    confidence: float = 0.95
    alpha: float = 0.05
    ci_unit: str = "customer"
    """Resampling unit of every bootstrap CI and paired comparison: ``"customer"`` (cluster bootstrap,
    guests their own clusters) or ``"query"`` (``--ci-unit``, ``[metrics] ci_unit``; docs/statistics.md)."""
    test: str = "bootstrap"
    """Paired test against the baseline: ``"bootstrap"`` (from the CI's own draws, agrees with it),
    ``"wilcoxon"`` or ``"ttest"`` (``--test``, ``[metrics] test``)."""
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str = "compare"
    columns: dict[str, str] | None = None
    """Column mapping canonical -> source for csv/parquet data (``--columns``)."""
    tuned: dict[str, dict[str, Any]] | None = None
    """Tuned hyperparameters by exact spec (``compare --tuned`` / ``--tune N``), applied after ``params``.

    Kept apart from ``params`` (whose adapter-name keys apply to every spec of that adapter) so
    that the values tuned for ``cf`` never reach ``cf:similarity=jaccard``."""
    cleaning: str | None = None
    """Cleaning switches on top of the loader's defaults (``--clean``), e.g. ``"missing_customer=keep"``."""
    recs: dict[str, str] | None = None
    """Exported recommendation files scored like adapters, label -> path (``--recs production=recs.parquet``,
    ``[recs]``); each label joins ``adapters`` (:mod:`xsell_eval.adapters.recs_file`)."""
    engine: str | None = None
    """``None``/``"pandas"`` (one machine) or ``"spark"`` (``--engine spark``, :mod:`xsell_eval.spark`)."""
    spark_master: str | None = None
    """Spark master URL for ``engine="spark"`` (``--spark-master``; default ``local[*]``)."""

    def validate(self, *, instances: Collection[str] = ()) -> CompareConfig:
        """Check values and return a normalised copy (baseline included in adapters).

        ``instances``: labels in ``adapters`` that stand for adapter objects given to
        :func:`~xsell_eval.pipeline.run_compare`, not registry specs (not looked up, not constructed here).
        """
        if not self.adapters:
            raise ConfigError("give at least one adapter to compare, e.g. `xsell-eval compare cf content rules`")
        if not self.ks or any((not isinstance(k, int)) or k < 1 for k in self.ks):
            raise ConfigError(f"k must be integers >= 1, got {list(self.ks)}")
        from xsell_eval.protocols import PROTOCOLS

        if self.protocol not in PROTOCOLS:
            from xsell_eval.errors import unknown_name

            raise unknown_name("protocol", self.protocol, PROTOCOLS)
        if not (0.5 < self.confidence < 1.0):
            raise ConfigError(f"confidence must be in (0.5, 1), got {self.confidence}")
        if self.n_bootstrap < 100:
            raise ConfigError(f"n_bootstrap must be >= 100 for a usable CI, got {self.n_bootstrap}")
        self._check_resampling()
        from xsell_eval.spark.lake import check_engine_reads

        check_engine_reads(self.data, self.engine)  # a lake URI (hdfs://, s3a://) needs --engine spark
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        from xsell_eval.metrics import METRICS, parse_metric

        for m in self.metrics:
            parse_metric(f"{m}@1" if "@" not in m else m)
        pname, pk = parse_metric(self.primary_metric)
        if METRICS[pname].scope != "per_query":
            per_query = sorted(n for n, m in METRICS.items() if m.scope == "per_query")
            raise ConfigError(
                f"the primary metric must be measured per query (it gets a CI and a paired test), and "
                f"{pname} is one value per run; choose one of {per_query} (e.g. hit_rate@10); "
                f"{pname} is reported anyway"
            )
        ks = tuple(sorted(set(self.ks) | {pk}))
        adapters = tuple(dict.fromkeys(self.adapters))
        adapters, instances = self._with_recs(adapters, instances)
        if self.baseline and self.baseline not in adapters:
            adapters = (self.baseline, *adapters)
        if self.engine not in (None, "pandas", "spark"):
            from xsell_eval.errors import unknown_name

            raise unknown_name("engine", str(self.engine), ("pandas", "spark"))
        if self.engine == "spark":  # Spark adapters have their own registry (xsell_eval.spark.adapters)
            from xsell_eval.spark.engine import check_config

            out = replace(self, adapters=adapters, ks=ks, metrics=tuple(dict.fromkeys((*self.metrics, pname))))
            check_config(out)
            return out
        from xsell_eval.adapters.registry import available, parse_spec

        known = available()
        specs = tuple(a for a in adapters if a not in instances)
        for spec in specs:
            name, _ = parse_spec(spec)
            if name not in known:
                from xsell_eval.adapters.registry import get

                get(name)  # raises UnknownNameError with did-you-mean
        self._check_adapter_params(specs)
        return replace(self, adapters=adapters, ks=ks, metrics=tuple(dict.fromkeys((*self.metrics, pname))))

    def _with_recs(self, adapters: tuple[str, ...], instances: Collection[str]) -> tuple[tuple[str, ...], set[str]]:
        """Append the ``recs`` labels to the adapters; they stand for file-backed instances, not registry specs."""
        if not self.recs:
            return adapters, set(instances)
        from xsell_eval.adapters.registry import available

        for label in self.recs:
            if not label or not isinstance(label, str) or ":" in label or "=" in label:
                raise ConfigError(f"recs label {label!r}: expected a plain name such as 'production'")
            if label in available():
                raise ConfigError(f"recs label '{label}' is the name of an adapter; choose another, e.g. 'production'")
        return tuple(dict.fromkeys((*adapters, *self.recs))), {*instances, *self.recs}

    def _check_resampling(self) -> None:
        from xsell_eval.resampling import check_ci_unit
        from xsell_eval.stats import TESTS

        check_ci_unit(self.ci_unit)
        if self.test not in TESTS:
            raise ConfigError(f"test must be one of {list(TESTS)}, got {self.test!r}")
        from xsell_eval.reveal import check_reveal_seeds

        check_reveal_seeds(self)

    def _check_adapter_params(self, adapters: tuple[str, ...]) -> None:
        """Build each adapter once (no data): bad hyperparameters stop the run before any work.

        Constructors only validate (optional libraries are imported at fit), so this is cheap.
        Other construction errors are left to the run, which isolates a failing adapter.
        """
        from xsell_eval.adapters.registry import create, parse_spec

        for spec in adapters:
            name, _ = parse_spec(spec)
            try:
                given = {**self.params.get(name, {}), **self.params.get(spec, {}), **(self.tuned or {}).get(spec, {})}
                create(spec, seed=self.seed, params=given)
            except ConfigError as exc:
                msg = str(exc)
                raise ConfigError(msg if msg.startswith(f"adapter '{name}'") else f"adapter '{spec}': {msg}") from None
            except Exception:  # anything else is reported by run_adapter for this adapter, the others still run
                continue

    @property
    def bootstrap_options(self) -> dict[str, Any]:
        """``seed``, ``n_resamples`` and ``confidence`` for every interval of a run (one place, so none is missed)."""
        return {"seed": self.seed, "n_resamples": self.n_bootstrap, "confidence": self.confidence}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self), default=str))

    @property
    def hash(self) -> str:
        """sha256 (first 12 hex) of the canonical JSON of the config.

        ``columns``, ``cleaning``, ``tuned`` and ``recs`` count only when set, so configs without them keep the
        hashes of earlier versions.
        """
        optional = ("columns", "cleaning", "tuned", "recs", "engine", "spark_master")
        d = {k: v for k, v in self.to_dict().items() if not (k in optional and v is None)}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


__all__ = ["DEFAULT_METRICS", "DEFAULT_TRIALS", "CompareConfig"]
