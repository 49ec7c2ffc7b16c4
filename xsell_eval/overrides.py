"""The raw side of an experiment file: the accepted ``adapters`` forms, ``[tune.<adapter>]`` tables and ``--set``.

These functions work on the dict ``tomllib`` returns, before :mod:`xsell_eval.config`
validates it, so that a ``--set`` override is validated exactly like the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from xsell_eval.errors import ConfigError


def is_path_param(key: str, value: Any) -> bool:
    """Whether an adapter parameter or ``[data]`` key names a file (``path``, ``*_path``, ``*_file``)."""
    return isinstance(value, str) and (key == "path" or key.endswith(("_path", "_file")))


def normalise_adapters(raw: dict[str, Any], source: str) -> dict[int, str]:
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


def normalise_tune(raw: dict[str, Any]) -> None:
    """Gather the ``[tune.<adapter>]`` tables of a raw ``[tune]`` section under ``overrides``."""
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
        if is_path_param(path[-1], value) or (
            path[:1] == ["data"] and path[-1] == "catalog" and isinstance(value, str)
        ):
            value = str(Path(value).expanduser().absolute())  # a path typed on the command line is read from the cwd
        node[path[-1]] = value
        if path == ["adapters"]:
            labels = normalise_adapters(raw, source)
    return labels


__all__ = ["apply_overrides", "is_path_param", "normalise_adapters", "normalise_tune", "parse_override"]
