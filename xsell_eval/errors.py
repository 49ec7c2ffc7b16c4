"""Exception hierarchy. Every error the user can cause derives from :class:`XsellError`.

The CLI catches ``XsellError`` at the command boundary, prints its message (no
traceback unless ``--debug``) and exits with code 1.
"""

from __future__ import annotations


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
