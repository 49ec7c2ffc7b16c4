"""Notebook entry points: :func:`compare` several adapters, :func:`evaluate` one.

Both take adapters as spec strings (``"cf"``, ``"cf:k_neighbors=50"``), names registered
with :func:`~xsell_eval.adapters.registry.register_adapter`, or adapter objects, and the
data as a :class:`~xsell_eval.data.Dataset`, a path, or ``None`` (the embedded Online
Retail). Any :class:`~xsell_eval.pipeline.CompareConfig` field is a keyword argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from xsell_eval.errors import ConfigError

if TYPE_CHECKING:
    from xsell_eval.adapters.base import Adapter
    from xsell_eval.data.dataset import Dataset
    from xsell_eval.pipeline import CompareConfig, ProgressFn
    from xsell_eval.result import CompareResult

_TUPLE_FIELDS = ("adapters", "ks", "metrics")


def _labelled(adapters: Sequence[Any] | Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Spec strings and adapter objects -> (labels in order, {label: object})."""
    from xsell_eval.adapters.registry import check_adapter_class

    if isinstance(adapters, str):
        adapters = [adapters]
    pairs = list(adapters.items()) if isinstance(adapters, Mapping) else [(None, a) for a in adapters]
    labels: list[str] = []
    instances: dict[str, Any] = {}
    for key, a in pairs:
        if isinstance(a, str):
            label = a if key is None else key
            if key is not None and key != a:
                raise ConfigError(f"adapter label '{key}' maps to the spec '{a}': give specs as a list, not a mapping")
        else:
            check_adapter_class(type(a), label=f"adapter object {a!r}")
            label = key if key is not None else (getattr(a, "name", "") or type(a).__name__)
            instances[label] = a
        if label in labels:
            raise ConfigError(
                f"two adapters are labelled '{label}'; pass a mapping such as "
                f"{{'{label}-a': ..., '{label}-b': ...}} to tell them apart"
            )
        labels.append(label)
    return tuple(labels), instances


def _config(base: CompareConfig | None, settings: dict[str, Any]) -> CompareConfig:
    """``base`` (default: CompareConfig()) with ``settings`` applied; unknown keys name the valid ones."""
    from xsell_eval.errors import unknown_name
    from xsell_eval.pipeline import CompareConfig

    known = [f.name for f in fields(CompareConfig)]
    for key in settings:
        if key not in known:
            raise unknown_name("compare setting", key, known)
    fixed: dict[str, Any] = {
        k: tuple(v) if k in _TUPLE_FIELDS and not isinstance(v, str) else v for k, v in settings.items()
    }
    return replace(base or CompareConfig(), **fixed)


def compare(
    adapters: Sequence[str | Adapter] | Mapping[str, str | Adapter],
    data: Dataset | str | os.PathLike[str] | None = None,
    *,
    config: CompareConfig | None = None,
    progress: ProgressFn | None = None,
    **settings: Any,
) -> CompareResult:
    """Compare adapters on the same data, split, requests and metrics (the baseline is added).

    Args:
        adapters: spec strings, registered names and adapter objects; an object is labelled
            by its ``name`` (a mapping ``{label: adapter}`` sets labels explicitly).
        data: a Dataset, a path to load, or None for ``config.data`` (default: the embedded
            Online Retail).
        config: settings to start from (default: :class:`~xsell_eval.pipeline.CompareConfig`).
        progress: optional ``progress(event, adapter_or_stage, info)`` callback.
        **settings: CompareConfig fields to override, e.g. ``ks=(5, 10)``, ``n_bootstrap=200``,
            ``baseline="popular"``, ``seed=1``.

    Returns:
        The :class:`~xsell_eval.result.CompareResult` (``.summary``, ``.decision``, ``.plot_*()``).

    Raises:
        ConfigError: an unknown setting, a duplicate label, an object that is not an adapter.

    Example:
        >>> from xsell_eval import compare, generate_shop
        >>> shop = generate_shop(seed=0, n_users=150, n_items=40, n_days=60).to_dataset()
        >>> result = compare(["cf", "random"], shop, ks=(5,), n_bootstrap=100, metrics=("hit_rate",))
        >>> result.ok_adapters
        ['popular', 'cf', 'random']
    """
    from xsell_eval.pipeline import run_compare

    labels, instances = _labelled(adapters)
    dataset = None
    if isinstance(data, (str, os.PathLike)):
        settings = {**settings, "data": os.fspath(data)}
    elif data is not None:
        dataset = data
    cfg = _config(config, {**settings, "adapters": labels})
    return run_compare(cfg, dataset=dataset, progress=progress, instances=instances)


def evaluate(
    adapter: str | Adapter,
    data: Dataset | str | os.PathLike[str] | None = None,
    *,
    config: CompareConfig | None = None,
    progress: ProgressFn | None = None,
    **settings: Any,
) -> CompareResult:
    """Evaluate one adapter (no baseline unless ``baseline=`` is given); see :func:`compare`.

    Example:
        >>> from xsell_eval import evaluate, generate_shop
        >>> shop = generate_shop(seed=0, n_users=150, n_items=40, n_days=60).to_dataset()
        >>> result = evaluate("popular", shop, ks=(5,), n_bootstrap=100, metrics=("hit_rate",))
        >>> result.summary[["adapter", "metric", "k"]].values.tolist()  # k=10 comes with the primary metric
        [['popular', 'hit_rate', 5], ['popular', 'hit_rate', 10]]
    """
    settings.setdefault("baseline", "")
    return compare([adapter], data, config=config, progress=progress, **settings)
