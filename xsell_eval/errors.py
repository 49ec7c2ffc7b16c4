"""Exception hierarchy. Every error the user can cause derives from :class:`XsellError`.

The CLI catches ``XsellError`` at the command boundary, prints its message (no
traceback unless ``--debug``) and exits with code 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class XsellError(Exception):
    """Root of every error raised on purpose by xsell-eval."""


class DataError(XsellError):
    """Input data is missing, malformed or empty after cleaning."""


class ConfigError(XsellError, ValueError):
    """A parameter, option or configuration value is invalid."""


class UnknownNameError(ConfigError, KeyError):
    """A name (adapter, metric, loader, protocol...) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(XsellError, RuntimeError):
    """``recommend`` was called before ``fit``."""


class AdapterError(XsellError):
    """An adapter failed while fitting or recommending."""


class MissingExtraError(XsellError, ImportError):
    """An optional dependency is not installed; the message carries the install hint."""


class RunDirError(XsellError):
    """A run directory is missing, incomplete or of an unsupported format."""


class MemoryBudgetError(XsellError, MemoryError):
    """A run would need more memory than is available; raised before the work, with the options that reduce it."""


def close_names(name: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.5) -> list[str]:
    """The names of ``known`` closest to ``name`` (best first), for a "did you mean".

    Example:
        >>> close_names("cff", ["cf", "content", "rules"])
        ['cf']
    """
    return difflib.get_close_matches(name, list(known), n=n, cutoff=cutoff)


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """``unknown adapter 'cff'. Did you mean 'cf'? Available: ...`` — shared by every registry.

    Example:
        >>> unknown_name_message("adapter", "cff", ["cf", "rules"])
        "unknown adapter 'cff'. Did you mean 'cf'? Available: cf, rules"
    """
    names = list(known)
    close = close_names(name, names)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} '{name}'.{hint} Available: {', '.join(names)}"


def unknown_name(kind: str, name: str, known: Iterable[str], *, where: str = "") -> UnknownNameError:
    """The :class:`UnknownNameError` to raise for ``name``, prefixed by ``where`` (e.g. ``"run.toml: [split] kind: "``).

    Example:
        >>> str(unknown_name("split", "temporl", ["temporal", "last-basket"]))
        "unknown split 'temporl'. Did you mean 'temporal'? Available: temporal, last-basket"
    """
    return UnknownNameError(where + unknown_name_message(kind, name, known))
