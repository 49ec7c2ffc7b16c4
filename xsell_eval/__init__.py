"""xsell-eval: evaluate cross-selling recommenders on the same data, splits and metrics.

The public Python API (see docs/python-api.md)::

    from xsell_eval import compare, generate_shop
    result = compare(["cf", "rules"], generate_shop(seed=0).to_dataset())

Names are imported on first use (module ``__getattr__``), so ``import xsell_eval`` and
``xsell-eval --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # data
    "Dataset": "xsell_eval.data.dataset",
    "load_dataset": "xsell_eval.data.loaders",
    "generate_shop": "xsell_eval.data.synthetic",
    # split and requests
    "Split": "xsell_eval.split",
    "make_split": "xsell_eval.split",
    "build_queries": "xsell_eval.protocols",
    "Queries": "xsell_eval.queries",
    "Requests": "xsell_eval.queries",
    "Truth": "xsell_eval.queries",
    "Recommendations": "xsell_eval.queries",
    # adapters
    "Adapter": "xsell_eval.adapters.base",
    "BaseAdapter": "xsell_eval.adapters.base",
    "HyperParam": "xsell_eval.adapters.base",
    "register_adapter": "xsell_eval.adapters.registry",
    # running a comparison
    "CompareConfig": "xsell_eval.settings",
    "CompareResult": "xsell_eval.result",
    "run_compare": "xsell_eval.pipeline",
    "compare": "xsell_eval.api",
    "evaluate": "xsell_eval.api",
    # errors
    "XsellError": "xsell_eval.errors",
    "ConfigError": "xsell_eval.errors",
    "DataError": "xsell_eval.errors",
    "UnknownNameError": "xsell_eval.errors",
    "NotFittedError": "xsell_eval.errors",
    "MissingExtraError": "xsell_eval.errors",
}

__all__ = [
    "Adapter",
    "BaseAdapter",
    "CompareConfig",
    "CompareResult",
    "ConfigError",
    "DataError",
    "Dataset",
    "HyperParam",
    "MissingExtraError",
    "NotFittedError",
    "Queries",
    "Recommendations",
    "Requests",
    "Split",
    "Truth",
    "UnknownNameError",
    "XsellError",
    "__version__",
    "build_queries",
    "compare",
    "evaluate",
    "generate_shop",
    "load_dataset",
    "make_split",
    "register_adapter",
    "run_compare",
]

if TYPE_CHECKING:
    from xsell_eval.adapters.base import Adapter, BaseAdapter, HyperParam
    from xsell_eval.adapters.registry import register_adapter
    from xsell_eval.api import compare, evaluate
    from xsell_eval.data.dataset import Dataset
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.data.synthetic import generate_shop
    from xsell_eval.errors import (
        ConfigError,
        DataError,
        MissingExtraError,
        NotFittedError,
        UnknownNameError,
        XsellError,
    )
    from xsell_eval.pipeline import run_compare
    from xsell_eval.protocols import build_queries
    from xsell_eval.queries import Queries, Recommendations, Requests, Truth
    from xsell_eval.result import CompareResult
    from xsell_eval.settings import CompareConfig
    from xsell_eval.split import Split, make_split


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (and keep it)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xsell_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
