"""Memory guard: estimate what a comparison needs and stop before the work when it cannot fit.

An out-of-memory kill loses the whole run without a word; this check runs once the data,
split and test queries are ready and before any adapter is fitted, and raises
:class:`~xsell_eval.errors.MemoryBudgetError` naming the estimated need, what is available
and the options that reduce it (``--max-queries``, a smaller ``k_neighbors``).

Available memory is ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can hand out
without swapping), capped by the cgroup limit when the process runs in one
(``/sys/fs/cgroup/memory.max`` minus ``memory.current``), else
``os.sysconf("SC_AVPHYS_PAGES") × page size``. ``$XSELL_MEMORY_BUDGET`` (bytes, or with a
``K``/``M``/``G`` suffix, powers of 1024) replaces it — to plan for less than the machine has,
or to test the guard.

The estimate (documented, deliberately on the high side; see :func:`estimate_compare_bytes`):

==========================  ====================================================================
outputs kept per adapter    ``n_queries × (K × 64 + n_metric_columns × 16 + 64)`` bytes: the top-K
                            lists (item int64 + score float64), their long-format copy for the
                            run directory (~40 bytes a row), the per-query metric table and its
                            concatenated copy; kept for every adapter until the report is built
largest working set         the largest, over the adapters (they run one after the other), of:
                            ``cf``'s item similarity (:func:`~xsell_eval.similarity.similarity_memory_bytes`),
                            a dense score block ``batch_size × n_items × 8 × 4`` for adapters that
                            score densely, and the metrics' batch (``min(n_queries, 100000) × K × 100``)
==========================  ====================================================================

Only the peak that grows with the run is estimated; the data set itself is already in memory
when the check runs (what is "available" is measured then).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xsell_eval.errors import ConfigError, MemoryBudgetError, XsellError

BUDGET_ENV = "XSELL_MEMORY_BUDGET"
"""Environment variable that replaces the measured available memory (bytes; ``K``/``M``/``G`` suffixes)."""

#: bytes per recommended slot kept per adapter (arrays + long-format frame), see the module table
BYTES_PER_SLOT = 64
#: bytes per per-query metric cell kept per adapter (the table and the concatenated copy)
BYTES_PER_METRIC_CELL = 16
#: bytes per query and adapter for the rest of its row (query id, user history, bucket tables)
BYTES_PER_QUERY = 64
#: bytes per (query, slot) of the metrics' working batch (hit matrix and cumulative sums)
BYTES_PER_METRIC_SLOT = 100
#: dense float64 copies of a (batch × items) score block alive at once in the dense top-k
DENSE_BLOCK_COPIES = 4

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_bytes(text: str) -> int:
    """``"512M"`` -> 536870912; plain numbers are bytes; suffixes K/M/G/T (optional ``iB``/``B``) are powers of 1024.

    Example:
        >>> parse_bytes("1.5G"), parse_bytes("2048")
        (1610612736, 2048)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:i?B)?\s*", str(text), flags=re.IGNORECASE)
    if m is None:
        raise ConfigError(f"${BUDGET_ENV} must be a size such as 8G, 512M or 1000000 (bytes), got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def _meminfo_available(path: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((root / "memory.current").read_text().strip()), 0)
    except (OSError, ValueError):
        return None


def available_memory() -> tuple[int, str]:
    """Bytes this process may still allocate, and where the figure comes from (for messages)."""
    env = os.environ.get(BUDGET_ENV, "").strip()
    if env:
        return parse_bytes(env), f"${BUDGET_ENV}"
    avail = _meminfo_available()
    source = "MemAvailable in /proc/meminfo"
    if avail is None:
        try:
            avail = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
            source = "os.sysconf(SC_AVPHYS_PAGES)"
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not on a POSIX system
            return 1 << 62, "unknown (not checked)"
    room = _cgroup_room()
    if room is not None and room < avail:
        return room, "the cgroup memory limit"
    return avail, source


def format_bytes(n: float) -> str:
    """``1536 * 2**20`` -> ``"1.5 GiB"``."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimated peak, broken down by part (``parts``: label -> bytes)."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        """Sum of the parts."""
        return int(sum(self.parts.values()))


def adapter_working_bytes(adapter: Any, train: Any, n_items: int) -> tuple[int, str]:
    """The largest transient allocation of one adapter's fit + recommend, and a label for it.

    ``cf`` (item kNN): its item similarity; adapters that score densely (the base class's
    top-k over a ``batch × items`` block, or LightFM's blocks): the dense block; others: 0
    (their scoring is sparse and follows the nonzeros; a bare Adapter-protocol class, whose
    scoring is unknown, counts 0 too).
    """
    from xsell_eval.adapters.base import BaseAdapter
    from xsell_eval.adapters.knn import ItemKNNAdapter

    if isinstance(adapter, ItemKNNAdapter):
        from xsell_eval.similarity import similarity_memory_bytes

        x = train.user_item if adapter.params["interactions"] == "user" else train.basket_item
        k = adapter.params["k_neighbors"]
        return similarity_memory_bytes(x, k), f"{adapter.name}'s item similarity (k_neighbors={k})"
    block_cells = getattr(adapter, "score_block_cells", None)
    batch = int(getattr(adapter, "batch_size", 512))
    if block_cells is not None:
        cells = min(int(block_cells), batch * n_items)
    elif isinstance(adapter, BaseAdapter) and type(adapter)._recommend_batch is BaseAdapter._recommend_batch:
        cells = batch * n_items
    else:
        return 0, ""
    return cells * 8 * DENSE_BLOCK_COPIES, f"{adapter.name}'s dense score block ({batch} × {n_items:,} items)"


def estimate_compare_bytes(
    adapters: Sequence[tuple[str, Any]], train: Any, *, n_queries: int, n_items: int, k: int, n_metric_columns: int
) -> MemoryEstimate:
    """Estimated peak of a comparison (module table): outputs kept for every adapter + the largest working set."""
    per_adapter = n_queries * (k * BYTES_PER_SLOT + n_metric_columns * BYTES_PER_METRIC_CELL + BYTES_PER_QUERY)
    parts = {f"results of {len(adapters)} adapter(s) for {n_queries:,} queries": per_adapter * len(adapters)}
    best, label = min(n_queries, 100_000) * k * BYTES_PER_METRIC_SLOT, "the metrics' working batch"
    for _, adapter in adapters:
        b, lab = adapter_working_bytes(adapter, train, n_items)
        if b > best:
            best, label = b, lab
    parts[label] = int(best)
    return MemoryEstimate(parts)


def check_memory(estimate: MemoryEstimate, *, what: str, hints: Sequence[str]) -> None:
    """Raise :class:`MemoryBudgetError` when ``estimate`` exceeds the available memory.

    The message names the estimated need and its parts, what is available (and from where),
    and the ``hints`` (options that reduce the need).
    """
    avail, source = available_memory()
    if estimate.total <= avail:
        return
    parts = "; ".join(f"{label}: {format_bytes(b)}" for label, b in estimate.parts.items() if b > 0)
    raise MemoryBudgetError(
        f"{what} needs an estimated {format_bytes(estimate.total)} of memory ({parts}), but only "
        f"{format_bytes(avail)} is available ({source}); stopped before the work. To reduce it: " + "; ".join(hints)
    )


def check_compare_memory(config: Any, prepared: Any, *, instances: dict[str, Any] | None = None) -> MemoryEstimate:
    """The guard of ``compare``: estimate the run (:func:`estimate_compare_bytes`) and stop early if it cannot fit.

    Returns:
        The estimate (when it fits).

    Raises:
        MemoryBudgetError: the estimate exceeds :func:`available_memory`; the message suggests
            ``--max-queries`` (about the number of queries that would fit) and, when an item
            kNN dominates, a smaller ``k_neighbors``.
    """
    from xsell_eval.adapters.registry import create, parse_spec
    from xsell_eval.metrics import METRICS

    adapters: list[tuple[str, Any]] = []
    for spec in config.adapters:
        if instances and spec in instances:
            adapters.append((spec, instances[spec]))
            continue
        name, spec_params = parse_spec(spec)
        params = {**config.params.get(name, {}), **config.params.get(spec, {}), **spec_params}
        params.update((config.tuned or {}).get(spec, {}))
        try:
            adapters.append((spec, create(name, seed=config.seed, params=params)))
        except XsellError:  # a broken spec is reported by its own run, not here
            continue
    n_q, n_items, k = len(prepared.queries), prepared.queries.n_items, max(config.ks)
    per_query_metrics = [m for m in config.metrics if METRICS[m.split("@")[0]].scope == "per_query"]
    n_cols = (len(set(per_query_metrics) | {"hit_rate", "recall", "ndcg", "revenue"})) * len(config.ks) + 2
    est = estimate_compare_bytes(
        adapters, prepared.split.train, n_queries=n_q, n_items=n_items, k=k, n_metric_columns=n_cols
    )
    avail, _ = available_memory()
    hints = []
    per_query = est.parts[next(iter(est.parts))] / max(n_q, 1)
    working = est.total - est.parts[next(iter(est.parts))]
    fit_q = int(max(avail - working, 0) / per_query) if per_query > 0 else n_q
    if fit_q >= 1:
        hints.append(f"sample the test queries with --max-queries (about {max(fit_q // 2, 1):,} would fit)")
    else:
        hints.append("sample the test queries with --max-queries")
    if any("k_neighbors" in label for label in est.parts):
        hints.append("use a smaller k_neighbors (e.g. cf:k_neighbors=50)")
    hints.append(f"compare fewer adapters at once, or set ${BUDGET_ENV} if more memory is really free")
    check_memory(est, what=f"comparing {len(adapters)} adapter(s) on {n_q:,} queries × {n_items:,} items", hints=hints)
    return est
