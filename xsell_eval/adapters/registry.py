"""Adapter registry: names -> classes through the ``xsell_eval.adapters`` entry points.

Third-party packages register their own adapters in their ``pyproject.toml``::

    [project.entry-points."xsell_eval.adapters"]
    my-model = "my_package.module:MyAdapter"

A spec string may carry parameters: ``"cf"``, ``"cf:k_neighbors=50,similarity=jaccard"``
or, for the hybrid, ``"hybrid:cf=0.7,content=0.3"``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from xsell_eval.adapters.base import BaseAdapter
from xsell_eval.errors import ConfigError, unknown_name

GROUP = "xsell_eval.adapters"


@lru_cache(maxsize=1)
def available() -> dict[str, EntryPoint]:
    """Registered adapter names -> entry points (not yet imported), sorted by name."""
    eps = entry_points(group=GROUP)
    return {ep.name: ep for ep in sorted(eps, key=lambda e: e.name)}


def get(name: str) -> type[BaseAdapter]:
    """The adapter class registered as ``name``.

    Raises:
        UnknownNameError: with the available names and a "did you mean".
        MissingExtraError: when the adapter's module needs an extra that is missing.
    """
    eps = available()
    if name not in eps:
        raise unknown_name("adapter", name, eps)
    cls = eps[name].load()
    if not isinstance(cls, type) or not issubclass(cls, BaseAdapter):
        raise ConfigError(f"entry point '{name}' in group {GROUP} does not point to a BaseAdapter subclass")
    return cls


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


def create(spec: str, *, seed: int = 0, params: dict[str, Any] | None = None) -> BaseAdapter:
    """Instantiate an adapter from a spec string plus optional extra parameters."""
    name, spec_params = parse_spec(spec)
    cls = get(name)
    merged = {**spec_params, **(params or {})}
    return cls(seed=seed, **merged)


def describe() -> list[dict[str, Any]]:
    """Metadata of every registered adapter, for ``xsell-eval adapters``.

    An adapter whose module cannot be imported is listed with its error, not skipped.
    """
    rows: list[dict[str, Any]] = []
    for name, ep in available().items():
        try:
            cls = ep.load()
            rows.append(
                {
                    "name": name,
                    "family": cls.family,
                    "description": cls.description,
                    "cold_users": cls.serves_cold_users,
                    "cold_items": cls.serves_cold_items,
                    "extra": cls.extra or "",
                    "hyperparams": [p.describe() for p in cls.hyperparams],
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
