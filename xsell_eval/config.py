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
                ``max_queries``
adapters        ``[adapters.NAME]`` tables of hyperparameters, or ``[[adapters]]`` with
                ``name`` (a name or spec such as ``"cf:similarity=jaccard"``) and ``params``,
                or a list of names ``adapters = ["popular", "cf"]``
``[metrics]``   ``k`` (list), ``primary``, ``list`` (metric names), ``bootstrap``, ``alpha``,
                ``confidence``
``[abtest]``    a simulated A/B test on the same test queries: ``arms`` (control first),
                ``visitors``, ``split``, ``k``, ``response``, ``traffic_per_day``, ``mde``,
                ``alpha``, ``curve``, ``exam_top``, ``exam_decay``, ``p_hit``, ``p_other``,
                ``organic_rate``, ``oracle_smoothing``, ``bootstrap``
``[tune]``      ``trials`` (tune every adapter first with this budget) or ``use_stored =
                true`` (read the best parameters of earlier studies), ``storage``, and
                ``[tune.NAME]`` search-space overrides (as ``xsell-eval tune --config``)
``[report]``    ``traffic_per_day`` and ``power`` for the A/B sizing of the decision,
                ``currency``, ``html``, ``hash_user_ids``
==============  ==========================================================================

Every error names the file, the section, the key and what was expected; an unknown key
also lists the allowed keys (with a "did you mean"). ``--set section.key=value`` on the
command line overrides a key (the value is read as TOML, or as a string if it is not
valid TOML) and is validated like the file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from xsell_eval.errors import ConfigError
from xsell_eval.pipeline import DEFAULT_METRICS, CompareConfig

Action = Literal["drop", "keep", "raise"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class CleaningSection(_Section):
    """``[data.cleaning]``: a preset plus one switch per cleaning rule (unset = the preset's)."""

    preset: Literal["default", "literature", "keep-all"] = "default"
    cancellations: Action | None = None
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
    loader: str = "auto"
    catalog: str | None = None
    name: str | None = None
    columns: dict[str, str] | None = None
    cleaning: CleaningSection = CleaningSection()
    generate: GenerateSection | None = None


class SplitSection(_Section):
    """``[split]``."""

    kind: str = "temporal"
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    valid_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    cutoff: str | None = None

    @field_validator("cutoff", mode="before")
    @classmethod
    def _date_to_text(cls, v: Any) -> Any:
        import datetime as dt

        return v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat() if isinstance(v, dt.date) else v


class ProtocolSection(_Section):
    """``[protocol]``."""

    name: str = "basket-completion"
    reveal: int | None = Field(default=1, ge=1)
    hide: int | None = Field(default=None, ge=1)
    max_queries: int | None = Field(default=None, ge=1)


class MetricsSection(_Section):
    """``[metrics]``."""

    k: list[int] = Field(default_factory=lambda: [5, 10, 20], min_length=1)
    primary: str = "hit_rate@10"
    names: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), alias="list", min_length=1)
    bootstrap: int = Field(default=1000, ge=100)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)


class AdapterEntry(_Section):
    """One adapter: a registered name (or spec string) and its hyperparameters."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class AbtestSection(_Section):
    """``[abtest]``: a simulated A/B test of some of the compared adapters (control first)."""

    arms: list[str] | None = None
    visitors: int = Field(default=50_000, ge=2)
    split: list[float] | None = None
    k: int = Field(default=10, ge=1)
    response: Literal["replay", "oracle", "truth"] = "replay"
    traffic_per_day: int = Field(default=5_000, ge=1)
    mde: float = 0.10
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    curve: Literal["log", "geometric"] = "log"
    exam_top: float = Field(default=0.5, gt=0.0, le=1.0)
    exam_decay: float = Field(default=0.7, gt=0.0, le=1.0)
    p_hit: float = Field(default=0.3, ge=0.0, le=1.0)
    p_other: float = Field(default=0.01, ge=0.0, le=1.0)
    organic_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    oracle_smoothing: float = Field(default=5.0, ge=0.0)
    bootstrap: int = Field(default=2000, ge=100)


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
    seed: int = Field(default=0, ge=0)
    baseline: str = "popular"
    data: DataSection = DataSection()
    split: SplitSection = SplitSection()
    protocol: ProtocolSection = ProtocolSection()
    adapters: list[AdapterEntry] = Field(default_factory=list)
    metrics: MetricsSection = MetricsSection()
    abtest: AbtestSection | None = None
    tune: TuneSection | None = None
    report: ReportSection = ReportSection()
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

    def resolve_path(self, value: str) -> Path:
        """A path of the file, relative to the experiment file's folder unless absolute."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir or ".") / p

    def resolved_dict(self) -> dict[str, Any]:
        """The experiment after overrides and defaults, as plain data (paths as written)."""
        return json.loads(json.dumps(self.model_dump(by_alias=True, exclude_none=False), default=str))

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
        data = None if d.path is None else str(self.resolve_path(d.path))
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
            max_queries=self.protocol.max_queries,
            ks=tuple(sorted(set(self.metrics.k))),
            metrics=tuple(self.metrics.names),
            primary_metric=self.metrics.primary,
            baseline=self.baseline,
            seed=self.seed,
            n_bootstrap=self.metrics.bootstrap,
            confidence=self.metrics.confidence,
            alpha=self.metrics.alpha,
            params=params,
            name=self.name,
            columns=dict(d.columns) if d.columns else None,
            cleaning=d.cleaning.spec(),
        )

    def _resolved_params(self, entry: AdapterEntry) -> dict[str, Any]:
        return {k: (str(self.resolve_path(v)) if _is_path_param(k, v) else v) for k, v in entry.params.items()}

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
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
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


# ---------------------------------------------------------------------- raw dict handling
def _normalise_adapters(raw: dict[str, Any], source: str) -> dict[int, str]:
    """Turn every accepted adapters form into a list of {name, params}; returns index -> label."""
    ad = raw.get("adapters")
    labels: dict[int, str] = {}
    if ad is None:
        return labels
    if isinstance(ad, dict):
        entries = []
        for i, (name, params) in enumerate(ad.items()):
            if not isinstance(params, dict):
                raise ConfigError(
                    f"{source}: [adapters] must hold tables like [adapters.{name}] (hyperparameters inside), "
                    f"got {name} = {params!r}"
                )
            entries.append({"name": name, "params": params})
            labels[i] = f"[adapters.{name}]"
        raw["adapters"] = entries
    elif isinstance(ad, list):
        entries = []
        for i, e in enumerate(ad):
            if isinstance(e, str):
                entries.append({"name": e})
                labels[i] = f"adapters[{i}] ('{e}')"
            else:
                entries.append(e)
                name = e.get("name") if isinstance(e, dict) else None
                labels[i] = f"[[adapters]] #{i + 1}" + (f" (name = '{name}')" if name else "")
        raw["adapters"] = entries
    return labels


def _normalise_tune(raw: dict[str, Any]) -> None:
    tune = raw.get("tune")
    if not isinstance(tune, dict):
        return
    overrides = {k: v for k, v in tune.items() if isinstance(v, dict)}
    if overrides:
        raw["tune"] = {k: v for k, v in tune.items() if not isinstance(v, dict)} | {"overrides": overrides}


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"protocol.max_queries=200"`` -> ``(["protocol", "max_queries"], 200)``.

    The value is read as a TOML value (numbers, booleans, quoted strings, lists, inline
    tables); anything that is not valid TOML is taken as a plain string.
    """
    key, eq, value = text.partition("=")
    key = key.strip()
    if not eq or not key or any(not p.strip() for p in key.split(".")):
        raise ConfigError(f"--set expects section.key=value (e.g. protocol.max_queries=200), got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return [p.strip() for p in key.split(".")], parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str) -> dict[int, str] | None:
    """Apply ``--set`` overrides to the raw (normalised) TOML dict in place.

    Returns the new adapter labels when an override replaced the whole adapter list, else None.
    """
    labels = None
    for text in overrides:
        path, value = parse_override(text)
        node: Any = raw
        for i, part in enumerate(path[:-1]):
            if isinstance(node, list):  # adapters: address an entry by its name
                match = [e for e in node if isinstance(e, dict) and e.get("name") == part]
                if not match:
                    names = [e.get("name") for e in node if isinstance(e, dict)]
                    raise ConfigError(
                        f"--set {text}: no adapter '{part}' in {source} (adapters: {', '.join(map(str, names))})"
                    )
                node = match[0].setdefault("params", {})
                continue
            nxt = node.get(part)
            if nxt is None:
                nxt = [] if (i == 0 and part == "adapters") else {}
                node[part] = nxt
            if not isinstance(nxt, (dict, list)):
                raise ConfigError(f"--set {text}: '{'.'.join(path[: i + 1])}' is a value, not a section")
            node = nxt
        if isinstance(node, list):
            raise ConfigError(f"--set {text}: give the adapter name, e.g. --set adapters.cf.k_neighbors=50")
        if _is_path_param(path[-1], value) or (
            path[:1] == ["data"] and path[-1] == "catalog" and isinstance(value, str)
        ):
            value = str(Path(value).expanduser().absolute())  # a path typed on the command line is read from the cwd
        node[path[-1]] = value
        if path == ["adapters"]:
            labels = _normalise_adapters(raw, source)
    return labels


# ---------------------------------------------------------------------- semantic checks
def _checked(source: str, where: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ConfigError as exc:
        raise type(exc)(f"{source}: {where}: {exc}") from None


def _is_path_param(key: str, value: Any) -> bool:
    return isinstance(value, str) and (key == "path" or key.endswith(("_path", "_file")))


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
    from xsell_eval.adapters.registry import create, get, parse_spec, unknown_name_message
    from xsell_eval.errors import UnknownNameError
    from xsell_eval.metrics import parse_metric
    from xsell_eval.protocols import PROTOCOLS
    from xsell_eval.split import SPLITS

    if exp.protocol.name not in PROTOCOLS:
        raise UnknownNameError(
            f"{source}: [protocol] name: " + unknown_name_message("protocol", exp.protocol.name, list(PROTOCOLS))
        )
    if exp.split.kind not in SPLITS:
        raise UnknownNameError(
            f"{source}: [split] kind: " + unknown_name_message("split", exp.split.kind, list(SPLITS))
        )
    for m in exp.metrics.names:
        _checked(source, "[metrics] list", parse_metric, m, default_k=1)
    _checked(source, "[metrics] primary", parse_metric, exp.metrics.primary)
    if any(k < 1 for k in exp.metrics.k):
        raise ConfigError(f"{source}: [metrics] k must be integers >= 1, got {exp.metrics.k}")
    d = exp.data
    if d.path is not None and d.generate is not None:
        raise ConfigError(f"{source}: [data] give either path or generate, not both")
    if d.path is not None:
        _check_file(exp, source, "[data] path", d.path, "data file or folder")
    if d.catalog is not None:
        _check_file(exp, source, "[data] catalog", d.catalog, "catalog file")
    if d.loader != "auto":
        from xsell_eval.data.loaders import LOADERS

        if d.loader not in LOADERS:
            raise UnknownNameError(
                f"{source}: [data] loader: " + unknown_name_message("loader", d.loader, [*LOADERS, "auto"])
            )
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
            if _is_path_param(k, v):
                _check_file(exp, source, f"{where} {k}", v, "file")
        _checked(source, where, create, a.name, seed=exp.seed, params=exp._resolved_params(a))
    if exp.baseline:
        _checked(source, "baseline", get, parse_spec(exp.baseline)[0])
    if exp.protocol.hide is not None and exp.protocol.name != "basket-completion":
        raise ConfigError(f"{source}: [protocol] hide applies to basket-completion only, not to '{exp.protocol.name}'")
    ab = exp.abtest
    if ab is not None:
        arms = ab.arms or [exp.baseline, *[s for s in exp.specs if s != exp.baseline]]
        unknown = [a for a in arms if a not in exp.specs and a != exp.baseline]
        if unknown:
            raise ConfigError(
                f"{source}: [abtest] arms: {unknown} are not adapters of this experiment "
                f"(adapters: {', '.join([exp.baseline, *[s for s in exp.specs if s != exp.baseline]])}); "
                "add them under [adapters]"
            )
        if len(arms) < 2:
            raise ConfigError(f"{source}: [abtest] arms: an A/B test needs at least two arms, got {arms}")
        if ab.k > max(exp.metrics.k):
            raise ConfigError(
                f"{source}: [abtest] k = {ab.k} is larger than the largest [metrics] k ({max(exp.metrics.k)}); "
                "the A/B test replays the comparison's recommendations, so add it to [metrics] k"
            )
        if ab.split is not None and (len(ab.split) != len(arms) or abs(sum(ab.split) - 100) > 1e-6):
            raise ConfigError(
                f"{source}: [abtest] split must give one percentage per arm ({len(arms)}) summing to 100, "
                f"got {ab.split}"
            )
        if ab.visitors < len(arms):
            raise ConfigError(f"{source}: [abtest] visitors must be >= the number of arms ({len(arms)})")
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
                close = difflib.get_close_matches(name, sorted(names), n=1)
                hint = f" Did you mean [tune.{close[0]}]?" if close else ""
                raise ConfigError(
                    f"{source}: [tune.{name}]: '{name}' is not an adapter of this experiment.{hint} "
                    f"Allowed keys in [tune]: trials, use_stored, storage, or [tune.<adapter>] tables for "
                    f"{', '.join(sorted(names))}"
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
    labels = _normalise_adapters(raw, source)
    _normalise_tune(raw)
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
