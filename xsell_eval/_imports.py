"""Lazy imports of optional back-ends with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from xsell_eval.errors import MissingExtraError


def require(module: str, *, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` with an install hint.

    Args:
        module: the importable module name, e.g. ``"lightfm"``.
        extra: the xsell-eval extra that installs it, e.g. ``"lightfm"``.
        package: the PyPI distribution name when it differs from ``module``.

    Example:
        >>> np = require("numpy", extra="core")
        >>> np.__name__
        'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist = package or module
        raise MissingExtraError(
            f"The optional dependency '{dist}' is not installed (needed for import "
            f"'{module}'). Install it with: pip install 'xsell-eval[{extra}]'"
        ) from exc
