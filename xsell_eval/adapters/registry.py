"""Adapter registry: names -> classes, from entry points and from :func:`register_adapter`.

Third-party packages register their own adapters in their ``pyproject.toml``::

    [project.entry-points."xsell_eval.adapters"]
    my-model = "my_package.module:MyAdapter"

and a notebook registers a class directly (no packaging)::

    import xsell_eval
    xsell_eval.register_adapter("my-model", MyAdapter)

Any class with the members of :class:`~xsell_eval.adapters.base.Adapter` (``name``,
``fit(train)``, ``recommend(requests, k)``) is accepted; :class:`BaseAdapter` is optional.
Entry points are read once and re-read when a name is not found, so a plugin installed
into a running session is found without a restart.

A spec string may carry parameters: ``"cf"``, ``"cf:k_neighbors=50,similarity=jaccard"``
or, for the hybrid, ``"hybrid:cf=0.7,content=0.3"``.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from xsell_eval.adapters.base import Adapter
from xsell_eval.errors import ConfigError, unknown_name

GROUP = "xsell_eval.adapters"

_entry_points: dict[str, EntryPoint] | None = None
"""The entry points as last read (None: not read yet); see :func:`available`."""
_registered: dict[str, type] = {}
"""Classes registered in this session by :func:`register_adapter`; they take precedence over entry points."""

_MEMBERS: tuple[tuple[str, tuple[str, ...]], ...] = (("fit", ("train",)), ("recommend", ("requests", "k")))


def available(*, refresh: bool = False) -> dict[str, EntryPoint]:
    """Adapter names registered through entry points -> entry points (not yet imported), sorted by name.

    Read once per session; ``refresh=True`` reads them again (a package installed since).
    """
    global _entry_points
    if refresh or _entry_points is None:
        importlib.invalidate_caches()  # the metadata finders cache directory listings
        eps = entry_points(group=GROUP)
        _entry_points = {ep.name: ep for ep in sorted(eps, key=lambda e: e.name)}
    return dict(_entry_points)


def names() -> list[str]:
    """Every adapter name that :func:`get` resolves: entry points plus :func:`register_adapter` classes."""
    return sorted(set(available()) | set(_registered))


def protocol_problems(cls: Any) -> list[str]:
    """What ``cls`` lacks to satisfy the :class:`~xsell_eval.adapters.base.Adapter` protocol (empty: nothing)."""
    if not isinstance(cls, type):
        return [f"to be a class (got the {type(cls).__name__} {cls!r})"]
    problems = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        problems.append(f"a class attribute `name` (a non-empty str; got {name!r})")
    for member, args in _MEMBERS:
        fn = getattr(cls, member, None)
        call = f"{member}({', '.join(args)})"
        if not callable(fn):
            problems.append(f"a method `{call}`")
            continue
        try:
            inspect.signature(fn).bind(None, *args)  # None stands for self
        except TypeError:
            problems.append(f"a method callable as `{call}` (its signature is {member}{inspect.signature(fn)})")
        except ValueError:  # no signature available (a builtin): trust it
            continue
    return problems


def check_adapter_class(cls: Any, *, label: str) -> type[Adapter]:
    """Return ``cls`` if it satisfies the Adapter protocol; else raise ConfigError naming what is missing."""
    problems = protocol_problems(cls)
    if problems:
        raise ConfigError(
            f"{label} does not satisfy the Adapter protocol: it needs "
            + "; ".join(problems)
            + " (see xsell_eval.Adapter)"
        )
    return cls  # type: ignore[no-any-return]


def register_adapter(name: str, cls: type, *, replace: bool = False) -> type:
    """Make ``cls`` available as adapter ``name`` in this session (spec strings, :func:`xsell_eval.compare`).

    ``cls`` needs the members of :class:`~xsell_eval.adapters.base.Adapter`; subclassing
    :class:`~xsell_eval.adapters.base.BaseAdapter` is optional. Registering a name again
    replaces the earlier class (re-running a notebook cell); shadowing an adapter installed
    through entry points needs ``replace=True``. Registrations live in this process only:
    worker processes of a parallel tuning study do not see them.

    Returns:
        ``cls``, unchanged.

    Raises:
        ConfigError: a malformed name, a class that lacks protocol members (named in the
            message), or a name taken by an installed adapter without ``replace=True``.

    Example:
        >>> from xsell_eval.adapters.baselines import PopularAdapter
        >>> class Bestsellers(PopularAdapter):
        ...     name = "bestsellers"
        >>> register_adapter("bestsellers", Bestsellers) is Bestsellers
        True
        >>> get("bestsellers").__name__
        'Bestsellers'
        >>> unregister_adapter("bestsellers")
    """
    if not isinstance(name, str) or not name.strip() or any(ch in name for ch in ":,= \t"):
        raise ConfigError(f"adapter name must be a non-empty string without ':', ',', '=' or spaces, got {name!r}")
    check_adapter_class(cls, label=f"adapter class {getattr(cls, '__name__', cls)!r} registered as '{name}'")
    installed = available()
    if name in installed and not replace:
        raise ConfigError(
            f"adapter name '{name}' is taken by the installed adapter {installed[name].value}; "
            "choose another name or pass replace=True to shadow it in this session"
        )
    _registered[name] = cls
    return cls


def unregister_adapter(name: str) -> None:
    """Forget a class registered with :func:`register_adapter` (installed adapters stay)."""
    if name not in _registered:
        raise unknown_name("registered adapter", name, sorted(_registered))
    del _registered[name]


def get(name: str) -> type[Any]:
    """The adapter class registered as ``name`` (by :func:`register_adapter` or an entry point).

    ``X+rerank`` is adapter ``X`` re-ranked with a popularity penalty (:mod:`xsell_eval.rerank`).

    Raises:
        UnknownNameError: with the available names and a "did you mean".
        MissingExtraError: when the adapter's module needs an extra that is missing.
        ConfigError: when the entry point's class does not satisfy the Adapter protocol.
    """
    if name in _registered:
        return _registered[name]
    if name.endswith("+rerank") and len(name) > len("+rerank"):  # X+rerank: X with a popularity penalty
        from xsell_eval.rerank import SUFFIX, reranked_class

        base = name.removesuffix(SUFFIX)
        base_cls: Any = get(base)
        return check_adapter_class(reranked_class(base, base_cls), label=f"adapter '{name}'")
    eps = available()
    if name not in eps:
        eps = available(refresh=True)  # a plugin installed into this session since the last read
    if name not in eps:
        raise unknown_name("adapter", name, names())
    return check_adapter_class(eps[name].load(), label=f"entry point '{name}' in group {GROUP}")


def parse_value(text: str) -> Any:
    """Parse a CLI parameter value: int, float, true/false, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"cf:k_neighbors=50,similarity=jaccard"`` -> ``("cf", {...})``."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    if rest.strip():
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise ConfigError(f"adapter spec '{spec}': expected key=value pairs after ':', got '{part}'")
            params[key.strip()] = parse_value(value)
    return name.strip(), params


def _takes_seed(cls: type) -> bool:
    """Whether ``cls(seed=...)`` is accepted (a ``seed`` parameter or ``**kwargs``)."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "seed" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def create(spec: str, *, seed: int = 0, params: dict[str, Any] | None = None) -> Any:
    """Instantiate an adapter from a spec string plus optional extra parameters.

    The seed is passed as ``seed=`` when the class's constructor accepts it.
    """
    name, spec_params = parse_spec(spec)
    cls = get(name)
    merged = {**spec_params, **(params or {})}
    return cls(seed=seed, **merged) if _takes_seed(cls) else cls(**merged)


def describe() -> list[dict[str, Any]]:
    """Metadata of every registered adapter, for ``xsell-eval adapters``.

    An adapter whose module cannot be imported is listed with its error, not skipped.
    """
    rows: list[dict[str, Any]] = []
    available(refresh=True)
    for name in names():
        try:
            cls = get(name)
            rows.append(
                {
                    "name": name,
                    "family": getattr(cls, "family", ""),
                    "description": getattr(cls, "description", ""),
                    "cold_users": getattr(cls, "serves_cold_users", False),
                    "cold_items": getattr(cls, "serves_cold_items", False),
                    "extra": getattr(cls, "extra", None) or "",
                    "hyperparams": [p.describe() for p in getattr(cls, "hyperparams", ())],
                    "error": "",
                }
            )
        except Exception as exc:
            rows.append(
                {
                    "name": name,
                    "family": "?",
                    "description": "",
                    "cold_users": False,
                    "cold_items": False,
                    "extra": "",
                    "hyperparams": [],
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
    return rows
