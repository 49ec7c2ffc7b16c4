"""Experiment files: one validated TOML describes a whole run of ``xsell-eval run``.

Example (``experiments/default_retail.toml``)::

    name = "default_retail"
    seed = 0
    baseline = "popular"

    [data]                     # omit path: the embedded UCI Online Retail
    cleaning = { preset = "default", missing_customer = "drop" }

    [split]
    kind = "temporal"
    test_fraction = 0.2

    [protocol]
    name = "basket-completion"
    reveal = 1

    [adapters.popular]
    [adapters.cf]
    k_neighbors = 100
    [adapters.rules]

    [metrics]
    k = [5, 10, 20]
    primary = "hit_rate@10"

Sections and keys (every section optional; unknown keys are errors):

==============  ==========================================================================
top level       ``name``, ``description``, ``seed``, ``baseline``
``[data]``      ``path`` (file or folder; relative paths are relative to the experiment
                file), ``loader``, ``catalog``, ``name``, ``columns`` (table canonical =
                source), ``cleaning`` (table: ``preset`` default|literature|keep-all and one
                drop|keep|raise switch per rule), ``generate`` (table: ``seed``, ``users``,
                ``items``, ``days`` — a synthetic shop with known truth instead of ``path``)
``[split]``     ``kind`` temporal|last-basket|random-basket, ``test_fraction``,
                ``valid_fraction``, ``cutoff``
``[protocol]``  ``name`` basket-completion|next-basket|item-to-item, ``reveal``, ``hide``,
                ``max_queries``, ``reveal_seeds`` (repeat the reveal with N seeds)
adapters        ``[adapters.NAME]`` tables of hyperparameters, or ``[[adapters]]`` with
                ``name`` (a name or spec such as ``"cf:similarity=jaccard"``) and ``params``,
                or a list of names ``adapters = ["popular", "cf"]``
``[metrics]``   ``k`` (list), ``primary``, ``list`` (metric names), ``bootstrap``, ``alpha``,
                ``confidence``, ``ci_unit`` customer|query, ``test`` bootstrap|wilcoxon|ttest
``[abtest]``    a simulated A/B test on the same test queries: ``arms`` (control first),
                ``visitors``, ``split``, ``k``, ``response``, ``traffic_per_day``, ``mde``,
                ``alpha``, ``curve``, ``exam_top``, ``exam_decay``, ``p_hit``, ``p_other``,
                ``organic_rate``, ``oracle_smoothing``, ``bootstrap``
``[tune]``      ``trials`` (tune every adapter first with this budget) or ``use_stored =
                true`` (read the best parameters of earlier studies), ``storage``, and
                ``[tune.NAME]`` search-space overrides (as ``xsell-eval tune --config``)
``[report]``    ``traffic_per_day`` and ``power`` for the A/B sizing of the decision,
                ``currency``, ``html``, ``hash_user_ids``
``[recs]``      exported recommendation files scored like adapters: ``label = "recs.parquet"``
                (columns ``query_id`` or ``user_id``, ``rank``, ``item_id``; docs/production.md)
==============  ==========================================================================

Every error names the file, the section, the key and what was expected; an unknown key
also lists the allowed keys (with a "did you mean"). ``--set section.key=value`` on the
command line overrides a key (the value is read as TOML, or as a string if it is not
valid TOML) and is validated like the file.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from xsell_eval.abtest.settings import ABTestSettings
from xsell_eval.errors import ConfigError, close_names, unknown_name
from xsell_eval.overrides import apply_overrides, is_path_param, normalise_adapters, normalise_tune, parse_override
from xsell_eval.settings import DEFAULT_METRICS, CompareConfig

_DEFAULT = CompareConfig()  # every default of the comparison part comes from here

Action = Literal["drop", "keep", "raise"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class CleaningSection(_Section):
    """``[data.cleaning]``: a preset plus one switch per cleaning rule (unset = the preset's)."""

    preset: Literal["default", "literature", "keep-all"] = "default"
    cancellations: Action | None = None
    cancelled_originals: Action | None = None
    returns: Action | None = None
    missing_customer: Action | None = None
    non_product: Action | None = None
    nonpositive_price: Action | None = None
    duplicates: Action | None = None
    non_product_pattern: str | None = None

    def spec(self) -> str | None:
        """The ``CleaningPolicy.from_spec`` string, or None for the loader's default."""
        parts: list[str] = [] if self.preset == "default" else [self.preset]
        for key in (
            "cancellations",
            "cancelled_originals",
            "returns",
            "missing_customer",
            "non_product",
            "nonpositive_price",
            "duplicates",
            "non_product_pattern",
        ):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}={value}")
        return ",".join(parts) or None


class GenerateSection(_Section):
    """``[data.generate]``: a seeded synthetic shop (with ground truth) instead of a file."""

    seed: int = 0
    users: int = Field(default=2000, ge=1)
    items: int = Field(default=300, ge=2)
    days: int = Field(default=120, ge=1)


class DataSection(_Section):
    """``[data]``."""

    path: str | None = None
    loader: str = _DEFAULT.loader
    catalog: str | None = None
    name: str | None = None
    columns: dict[str, str] | None = None
    cleaning: CleaningSection = CleaningSection()
    generate: GenerateSection | None = None


class SplitSection(_Section):
    """``[split]``."""

    kind: str = _DEFAULT.split
    test_fraction: float = Field(default=_DEFAULT.test_fraction, gt=0.0, lt=1.0)
    valid_fraction: float = Field(default=_DEFAULT.valid_fraction, ge=0.0, lt=1.0)
    cutoff: str | None = None

    @field_validator("cutoff", mode="before")
    @classmethod
    def _date_to_text(cls, v: Any) -> Any:
        import datetime as dt

        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat() if isinstance(v, dt.date) else v


class ProtocolSection(_Section):
    """``[protocol]``."""

    name: str = _DEFAULT.protocol
    reveal: int | None = Field(default=_DEFAULT.reveal, ge=1)
    hide: int | None = Field(default=None, ge=1)
    reveal_seeds: int = Field(default=_DEFAULT.reveal_seeds, ge=1)
    max_queries: int | None = Field(default=None, ge=1)


class MetricsSection(_Section):
    """``[metrics]``."""

    k: list[int] = Field(default_factory=lambda: list(_DEFAULT.ks), min_length=1)
    primary: str = _DEFAULT.primary_metric
    names: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), alias="list", min_length=1)
    bootstrap: int = Field(default=_DEFAULT.n_bootstrap, ge=100)
    alpha: float = Field(default=_DEFAULT.alpha, gt=0.0, lt=1.0)
    confidence: float = Field(default=_DEFAULT.confidence, gt=0.5, lt=1.0)
    ci_unit: Literal["customer", "query"] = _DEFAULT.ci_unit  # type: ignore[assignment]
    test: Literal["bootstrap", "wilcoxon", "ttest"] = _DEFAULT.test  # type: ignore[assignment]


class AdapterEntry(_Section):
    """One adapter: a registered name (or spec string) and its hyperparameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


AbtestSection = ABTestSettings
"""``[abtest]``: a simulated A/B test of some of the compared adapters (control first); the keys,
defaults and checks are :class:`xsell_eval.abtest.settings.ABTestSettings`."""


class TuneSection(_Section):
    """``[tune]``: tune the adapters before comparing them (validation window only)."""

    trials: int | None = Field(default=None, ge=1)
    use_stored: bool = False
    storage: str | None = None
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ReportSection(_Section):
    """``[report]``."""

    traffic_per_day: int | None = Field(default=None, ge=1)
    power: float = Field(default=0.8, gt=0.0, lt=1.0)
    currency: str | None = None
    html: bool = True
    hash_user_ids: bool = False


class Experiment(_Section):
    """A validated experiment file (see the module docstring for the keys)."""

    name: str = "experiment"
    description: str = ""
    seed: int = Field(default=_DEFAULT.seed, ge=0)
    baseline: str = _DEFAULT.baseline
    engine: Literal["pandas", "spark"] = "pandas"
    spark_master: str | None = None
    data: DataSection = DataSection()
    split: SplitSection = SplitSection()
    protocol: ProtocolSection = ProtocolSection()
    adapters: list[AdapterEntry] = Field(default_factory=list)
    metrics: MetricsSection = MetricsSection()
    abtest: ABTestSettings | None = None
    tune: TuneSection | None = None
    report: ReportSection = ReportSection()
    recs: dict[str, str] | None = None
    """``[recs]``: exported recommendation files scored like adapters, ``label = "path"`` (docs/production.md)."""
    _source: str = PrivateAttr("")
    _base_dir: str = PrivateAttr("")
    _overrides: tuple[str, ...] = PrivateAttr(())

    @property
    def source(self) -> str:
        """The file the experiment was read from."""
        return self._source

    @property
    def base_dir(self) -> str:
        """The folder relative paths of the file are read from."""
        return self._base_dir

    @property
    def overrides(self) -> tuple[str, ...]:
        """The ``--set`` overrides applied."""
        return self._overrides

    # ------------------------------------------------------------------ derived
    @property
    def specs(self) -> list[str]:
        """Adapter specs in file order."""
        return [a.name for a in self.adapters]

    @property
    def abtest_arms(self) -> list[str]:
        """The ``[abtest]`` arms, control first (default: the baseline, then the other adapters)."""
        given = self.abtest.arms if self.abtest is not None else None
        return list(given or [self.baseline, *[s for s in self.specs if s != self.baseline]])

    def resolve_path(self, value: str) -> Path:
        """A path of the file, relative to the experiment file's folder unless absolute."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir or ".") / p

    def _data_location(self, value: str) -> str:
        """``[data] path`` for the run: a lake URI (hdfs://, s3a://; engine = "spark") as written, else resolved."""
        from xsell_eval.spark.lake import lake_uri, local_path

        return lake_uri(value) or str(self.resolve_path(str(local_path(value))))

    def resolved_dict(self) -> dict[str, Any]:
        """The experiment after overrides and defaults, as plain data (paths as written)."""
        out = json.loads(json.dumps(self.model_dump(by_alias=True, exclude_none=False), default=str))
        if out.get("recs") is None:  # files without [recs] keep the hashes of earlier versions
            out.pop("recs", None)
        return out

    @property
    def hash(self) -> str:
        """sha256 (first 12 hex) of the canonical JSON of :meth:`resolved_dict`."""
        text = json.dumps(self.resolved_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_compare_config(self) -> CompareConfig:
        """The :class:`~xsell_eval.pipeline.CompareConfig` of the comparison part.

        Example:
            >>> exp = loads_experiment('[adapters.random]\\n[metrics]\\nk = [5]\\nprimary = "hit_rate@5"')
            >>> cfg = exp.to_compare_config()
            >>> cfg.adapters, cfg.ks, cfg.baseline
            (('random',), (5,), 'popular')
        """
        d = self.data
        data = None if d.path is None else self._data_location(d.path)
        catalog = None if d.catalog is None else str(self.resolve_path(d.catalog))
        params = {a.name: self._resolved_params(a) for a in self.adapters if a.params}
        return CompareConfig(
            adapters=tuple(self.specs),
            data=data,
            loader=d.loader,
            catalog=catalog,
            split=self.split.kind,
            test_fraction=self.split.test_fraction,
            valid_fraction=self.split.valid_fraction,
            cutoff=self.split.cutoff,
            protocol=self.protocol.name,
            reveal=self.protocol.reveal,
            hide=self.protocol.hide,
            reveal_seeds=self.protocol.reveal_seeds,
            max_queries=self.protocol.max_queries,
            ks=tuple(sorted(set(self.metrics.k))),
            metrics=tuple(self.metrics.names),
            primary_metric=self.metrics.primary,
            baseline=self.baseline,
            seed=self.seed,
            n_bootstrap=self.metrics.bootstrap,
            confidence=self.metrics.confidence,
            alpha=self.metrics.alpha,
            ci_unit=self.metrics.ci_unit,
            test=self.metrics.test,
            params=params,
            name=self.name,
            columns=dict(d.columns) if d.columns else None,
            cleaning=d.cleaning.spec(),
            recs={label: str(self.resolve_path(path)) for label, path in self.recs.items()} if self.recs else None,
            engine=None if self.engine == "pandas" else self.engine,
            spark_master=self.spark_master,
        )

    def _resolved_params(self, entry: AdapterEntry) -> dict[str, Any]:
        return {k: (str(self.resolve_path(v)) if is_path_param(k, v) else v) for k, v in entry.params.items()}

    def report_settings(self) -> dict[str, Any]:
        """What the report's decision needs: traffic, power, currency (``CompareResult.settings``)."""
        traffic = self.report.traffic_per_day
        if traffic is None and self.abtest is not None:
            traffic = self.abtest.traffic_per_day
        out: dict[str, Any] = {"power": self.report.power}
        if traffic is not None:
            out["traffic_per_day"] = traffic
        if self.report.currency:
            out["currency"] = self.report.currency
        return out


# ---------------------------------------------------------------------- errors
_EXPECT = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string (in quotes)",
    "bool_type": "true or false",
    "list_type": "a list, e.g. [5, 10]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _section_name(loc: tuple[Any, ...], labels: dict[int, str]) -> tuple[str, str]:
    """(section shown as TOML, key) for a pydantic error location."""
    parts = list(loc)
    if not parts:
        return "top level", ""
    key = str(parts[-1])
    path = parts[:-1]
    if path and path[0] == "adapters" and len(path) >= 2 and isinstance(path[1], int):
        sec = labels.get(path[1], f"[[adapters]] #{path[1] + 1}")
        rest = [str(p) for p in path[2:] if p != "params"]
        return (sec if not rest else f"{sec} {'.'.join(rest)}"), key
    if path and path[0] == "adapters" and len(path) == 1 and isinstance(parts[-1], int):
        return "adapters", f"#{parts[-1] + 1}"
    if path and path[0] == "tune" and len(path) >= 2 and path[1] == "overrides":
        return f"[tune.{path[2]}]" if len(path) > 2 else "[tune]", key
    if not path:
        return "top level", key
    return "[" + ".".join(str(p) for p in path if not isinstance(p, int)) + "]", key


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the last key of ``loc`` (for listing allowed keys)."""
    model: type[BaseModel] = Experiment
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        ann = field.annotation
        found = None
        stack = [ann]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                found = t
                break
            stack.extend(typing.get_args(t))
        if found is None:
            return None
        model = found
    return model


def _allowed(model: type[BaseModel]) -> list[str]:
    if model is TuneSection:
        return ["trials", "use_stored", "storage", "[tune.<adapter>] tables"]
    return [f.alias or name for name, f in model.model_fields.items()]


def _format_errors(exc: ValidationError, source: str, labels: dict[int, str]) -> str:
    lines = []
    for err in exc.errors()[:8]:
        loc = tuple(err.get("loc", ()))
        section, key = _section_name(loc, labels)
        where = f"{section}" if not key else f"{section} key '{key}'" if section != "top level" else f"key '{key}'"
        kind = err.get("type", "")
        value = err.get("input")
        if kind == "extra_forbidden":
            model = _model_at(loc)
            allowed = _allowed(model) if model is not None else []
            close = close_names(key, allowed, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            lines.append(
                f"unknown key '{key}' in {section}.{hint} Allowed keys: {', '.join(allowed)}"
                if section != "top level"
                else f"unknown top-level key '{key}'.{hint} Allowed: {', '.join(allowed)}"
            )
        elif kind == "missing":
            lines.append(f"{where} is required")
        elif kind in _EXPECT:
            lines.append(f"{where} must be {_EXPECT[kind]}, got {value!r} ({type(value).__name__})")
        else:
            msg = str(err.get("msg", "")).replace("Input should be", "must be").replace("Value error, ", "")
            lines.append(f"{where}: {msg}, got {value!r}")
    more = len(exc.errors()) - 8
    if more > 0:
        lines.append(f"... and {more} more")
    head = f"{source}: invalid experiment file"
    return head + (": " + lines[0] if len(lines) == 1 else ":\n  - " + "\n  - ".join(lines))


# ---------------------------------------------------------------------- semantic checks
def _checked(source: str, where: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ConfigError as exc:
        raise type(exc)(f"{source}: {where}: {exc}") from None


def _check_file(exp: Experiment, source: str, where: str, value: str, what: str) -> None:
    p = exp.resolve_path(value)
    if not p.exists():
        rel = (
            ""
            if Path(value).expanduser().is_absolute()
            else f" (relative paths are relative to the experiment file's folder '{exp.base_dir or '.'}')"
        )
        raise ConfigError(f"{source}: {where} = '{value}': {what} not found at '{p}'{rel}")


def _validate(exp: Experiment, source: str, labels: dict[int, str], *, require_adapters: bool = True) -> None:
    from xsell_eval.adapters.registry import create, get, parse_spec
    from xsell_eval.metrics import parse_metric
    from xsell_eval.protocols import PROTOCOLS
    from xsell_eval.split import SPLITS

    if exp.protocol.name not in PROTOCOLS:
        raise unknown_name("protocol", exp.protocol.name, PROTOCOLS, where=f"{source}: [protocol] name: ")
    if exp.split.kind not in SPLITS:
        raise unknown_name("split", exp.split.kind, SPLITS, where=f"{source}: [split] kind: ")
    for m in exp.metrics.names:
        _checked(source, "[metrics] list", parse_metric, m, default_k=1)
    _checked(source, "[metrics] primary", parse_metric, exp.metrics.primary)
    if any(k < 1 for k in exp.metrics.k):
        raise ConfigError(f"{source}: [metrics] k must be integers >= 1, got {exp.metrics.k}")
    d = exp.data
    if d.path is not None and d.generate is not None:
        raise ConfigError(f"{source}: [data] give either path or generate, not both")
    if d.path is not None:
        from xsell_eval.spark.lake import check_engine_reads, lake_uri, local_path

        _checked(source, "[data] path", check_engine_reads, d.path, exp.engine)
        if lake_uri(d.path) is None:  # a lake URI is Spark's to read (xsell_eval.spark.lake); file:// is local
            _check_file(
                exp,
                source,
                "[data] path",
                str(_checked(source, "[data] path", local_path, d.path)),
                "data file or folder",
            )
    if d.catalog is not None:
        _check_file(exp, source, "[data] catalog", d.catalog, "catalog file")
    if d.loader != "auto":
        from xsell_eval.data.loaders import LOADERS

        if d.loader not in LOADERS:
            raise unknown_name("loader", d.loader, [*LOADERS, "auto"], where=f"{source}: [data] loader: ")
    if d.cleaning.spec():
        from xsell_eval.data.cleaning import CleaningPolicy

        _checked(source, "[data.cleaning]", CleaningPolicy.from_spec, d.cleaning.spec())
    if not exp.adapters and require_adapters:
        raise ConfigError(
            f"{source}: no adapters to compare; add tables such as [adapters.cf] (see `xsell-eval adapters`)"
        )
    seen: set[str] = set()
    for i, a in enumerate(exp.adapters):
        where = labels.get(i, f"[[adapters]] #{i + 1}")
        if a.name in seen:
            raise ConfigError(f"{source}: {where}: adapter '{a.name}' is listed twice")
        seen.add(a.name)
        name, _ = _checked(source, where, parse_spec, a.name)
        _checked(source, where, get, name)
        for k, v in a.params.items():
            if is_path_param(k, v):
                _check_file(exp, source, f"{where} {k}", v, "file")
        _checked(source, where, create, a.name, seed=exp.seed, params=exp._resolved_params(a))
    for label, path in (exp.recs or {}).items():
        if label in seen:
            raise ConfigError(f"{source}: [recs] {label}: the label is also an adapter of [adapters]; choose another")
        _check_file(exp, source, f"[recs] {label}", path, "recommendations file")
    if exp.baseline:
        _checked(source, "baseline", get, parse_spec(exp.baseline)[0])
    if exp.protocol.hide is not None and exp.protocol.name != "basket-completion":
        raise ConfigError(f"{source}: [protocol] hide applies to basket-completion only, not to '{exp.protocol.name}'")
    _check_abtest(exp, source)
    t = exp.tune
    if t is not None:
        if (t.trials is None) == (not t.use_stored):
            raise ConfigError(
                f"{source}: [tune] give either trials = N (tune every adapter first with N trials) or "
                "use_stored = true (use the best parameters of earlier `xsell-eval tune` studies)"
            )
        names = {parse_spec(s)[0] for s in exp.specs}
        for name in t.overrides:
            if not exp.adapters and not require_adapters:
                break  # `xsell-eval tune ADAPTER --config FILE`: the adapters come from the command line
            if name not in names:
                close = close_names(name, sorted(names), n=1, cutoff=0.6)
                hint = f" Did you mean [tune.{close[0]}]?" if close else ""
                raise ConfigError(
                    f"{source}: [tune.{name}]: '{name}' is not an adapter of this experiment.{hint} "
                    f"Allowed keys in [tune]: trials, use_stored, storage, or [tune.<adapter>] tables for "
                    f"{', '.join(sorted(names))}"
                )


def _check_abtest(exp: Experiment, source: str) -> None:
    """``[abtest]``: arms among the adapters and k among the cut-offs, then :meth:`ABTestSettings.check`."""
    ab = exp.abtest
    if ab is None:
        return
    arms = exp.abtest_arms
    compared = [exp.baseline, *[s for s in exp.specs if s != exp.baseline]]
    unknown = [a for a in arms if a not in compared]
    if unknown:
        raise ConfigError(
            f"{source}: [abtest] arms: {unknown} are not adapters of this experiment "
            f"(adapters: {', '.join(compared)}); add them under [adapters]"
        )
    if ab.k > max(exp.metrics.k):
        raise ConfigError(
            f"{source}: [abtest] k = {ab.k} is larger than the largest [metrics] k ({max(exp.metrics.k)}); "
            "the A/B test replays the comparison's recommendations, so add it to [metrics] k"
        )
    d = exp.data
    ab.check(
        arms,
        label=lambda k: f"[abtest] {k}",
        where=f"{source}: ",
        data=None if d.path is None else str(exp.resolve_path(d.path)),
        has_truth=True if d.generate is not None else None,
    )


# ---------------------------------------------------------------------- entry points
def _parse(
    raw: dict[str, Any], source: str, base_dir: str, overrides: list[str], *, require_adapters: bool = True
) -> Experiment:
    if "rule" in raw and isinstance(raw["rule"], list):
        raise ConfigError(
            f"{source}: this is a business-rules file ([[rule]] tables), not an experiment; use it from an "
            "experiment as [adapters.business-rules] path = '...'"
        )
    labels = normalise_adapters(raw, source)
    normalise_tune(raw)
    labels = apply_overrides(raw, overrides, source) or labels
    raw.setdefault("name", Path(source).stem if source.endswith(".toml") else "experiment")
    try:
        exp = Experiment.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, labels)) from None
    exp._source, exp._base_dir, exp._overrides = source, base_dir, tuple(overrides)
    _validate(exp, source, labels, require_adapters=require_adapters)
    return exp


def load_experiment(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, require_adapters: bool = True
) -> Experiment:
    """Read and validate an experiment TOML file, with ``--set`` overrides applied first.

    Args:
        path: the ``.toml`` file.
        overrides: ``"section.key=value"`` strings (see :func:`parse_override`).
        require_adapters: refuse a file without adapters (False for ``tune ADAPTER --config FILE``,
            where the command line names them).

    Raises:
        ConfigError: unreadable TOML (line and column), unknown key, wrong type, unknown
            adapter / metric / protocol, missing referenced file — each naming the file,
            the section and the key.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"experiment file '{p}' not found" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a UTF-8 text file: {exc}") from None
    return _parse(raw, str(p), str(p.parent), list(overrides), require_adapters=require_adapters)


def loads_experiment(
    text: str, *, source: str = "<string>", base_dir: str = ".", overrides: list[str] | tuple[str, ...] = ()
) -> Experiment:
    """:func:`load_experiment` for TOML text (paths relative to ``base_dir``)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return _parse(raw, source, base_dir, list(overrides))


__all__ = [
    "AbtestSection",
    "AdapterEntry",
    "CleaningSection",
    "DataSection",
    "Experiment",
    "GenerateSection",
    "MetricsSection",
    "ProtocolSection",
    "ReportSection",
    "SplitSection",
    "TuneSection",
    "apply_overrides",
    "load_experiment",
    "loads_experiment",
    "parse_override",
]
