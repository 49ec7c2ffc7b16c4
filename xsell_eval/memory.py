"""Memory guard: estimate what a comparison needs and stop before the work when it cannot fit.

An out-of-memory kill loses the whole run without a word; this check runs once the data,
split and test queries are ready and before any adapter is fitted, and raises
:class:`~xsell_eval.errors.MemoryBudgetError` naming the estimated need and its parts, what is
available, the biggest part and the option that reduces it (``--max-queries``, fewer
``--reveal-seeds``, fewer rerank variants or a smaller ``depth``, a smaller ``k_neighbors``,
fewer ``--bootstrap`` resamples, fewer ``--recs`` files).

Available memory is ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can hand out
without swapping), capped by the cgroup limit when the process runs in one
(``/sys/fs/cgroup/memory.max`` minus ``memory.current``), else
``os.sysconf("SC_AVPHYS_PAGES") × page size``. ``$XSELL_MEMORY_BUDGET`` (bytes, or with a
``K``/``M``/``G`` suffix, powers of 1024) replaces it — to plan for less than the machine has,
or to test the guard. Parts already allocated when the check runs (the test queries of every
reveal, the loaded ``--recs`` files: :attr:`MemoryEstimate.held`) are added back to a measured
figure; a ``$XSELL_MEMORY_BUDGET`` must hold them too.

The estimate (documented, deliberately on the high side; see :func:`estimate_compare_bytes`;
``n`` queries, ``K`` = the largest k, ``A`` adapters counting every ``X+rerank`` variant):
the parts held for the whole run, plus the largest working set of one stage (the adapters run
one after the other, then the statistics):

===============================  =================================================================
**held for the whole run**
results of every adapter         ``A × n × (K × 64 + n_metric_columns × 16 + 64)``: the top-K lists
                                 (item int64 + score float64), their long-format copy for the run
                                 directory (~40 bytes a row), the per-query metric table (one column
                                 per metric × k) and its concatenated copy; kept until the report
the test queries                 ``reveal_seeds × bytes of the built queries`` (their arrays: ids,
                                 cart and target CSRs, values; ~640 B a query on Online Retail):
                                 ``--reveal-seeds N`` holds N reveals of the same baskets
                                 (:mod:`xsell_eval.reveal`); already built when the check runs
``--recs`` files                 each file's table (ids, ranks; item ids as Python strings, + 24 B each),
                                 already loaded, plus the padded lists its fit keeps
                                 (``lists × longest list × 16``) for the rest of the run
**largest working set**          the largest of the stages below
an adapter's fit + evaluation    its own working set (``cf``'s item similarity,
                                 :func:`~xsell_eval.similarity.similarity_memory_bytes`; a dense
                                 score block ``batch_size × n_items × 8 × 4``; a ``--recs`` file's
                                 fit ``rows × 64``), plus — the fitted adapter stays alive while
                                 it is evaluated — the metrics' batch ``min(n, 100000) × K × 100``;
                                 an ``X+rerank`` variant adds its ``n × depth·K`` candidates
                                 (``× 128`` B: the base adapter's lists and the re-ranking's
                                 arrays) to ``X``'s own; with ``--reveal-seeds`` the extra
                                 reveal's top-K lists ``n × K × 16``
the statistics and the report    16 MiB (data card, fairness, examples, decision: 6–8 MiB on Online
                                 Retail), the bootstrap's chunk of resample counts and its products
                                 ``2 × min(n_bootstrap × n, 2²¹) × 8``, the shared draws
                                 ``min(256 MiB, 2 × n × n_bootstrap)``, and the report's query table
                                 (Python lists: ``n × 128 + (cart + target items) × 96``)
===============================  =================================================================

Measured with tracemalloc (NumPy path) from the check on, embedded Online Retail (3,417 queries,
``n_bootstrap`` 200, contended machine): ``popular`` grows 19 MiB (estimate 42 MiB, the statistics
stage dominates at this size), unchanged by ``--reveal-seeds 3`` or ``5`` (their reveals, 2.1 MiB
each, are built before the check: ``held``); ``popular`` + ``popular+rerank:depth=10`` 44 MiB
(estimate 103 MiB; the re-ranking measures ~55 B a candidate); ``cf`` + ``cf+rerank`` 246–281 MiB
(estimate 300–323 MiB); ``n_bootstrap`` 1,000: 41 MiB (estimate 69 MiB). ``tests/test_memory.py``
checks the bound. Only the peak that grows with the run is estimated: the data set and its split are
already in memory when the check runs (an adapter's own fit, e.g. ``rules``' mining, is counted only
for ``cf``, dense scorers and ``--recs`` files).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xsell_eval.errors import ConfigError, MemoryBudgetError

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
#: bytes per re-ranked candidate slot of an ``X+rerank`` variant (base lists + re-ranking arrays; ~110 measured)
BYTES_PER_RERANK_CANDIDATE = 128
#: bytes per slot of an extra reveal's top-K lists (``--reveal-seeds``: item int64 + score float64)
BYTES_PER_REVEAL_SLOT = 16
#: the statistics stage's part that does not grow with the queries (data card, fairness, examples, decision)
STATS_BASE_BYTES = 16 << 20
#: bytes per query / per cart-or-target item of the report's query table (Python lists; ~85 per item measured)
QUERY_FRAME_BYTES_PER_QUERY = 128
QUERY_FRAME_BYTES_PER_ITEM = 96
#: allocator overhead added to each string held in an object array (a ``--recs`` file's item or customer ids)
STRING_OVERHEAD_BYTES = 24
#: bytes per row of a ``--recs`` file while its fit maps the ids (indexers, masks, row/column positions)
BYTES_PER_RECS_ROW_FIT = 64

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
    """An estimated peak, broken down by part (``parts``: label -> bytes).

    ``held``: bytes of the parts already allocated when the check runs (added back to a measured
    availability); ``hints``: label -> the option that reduces that part; ``scaling``: see below.
    """

    parts: dict[str, int]
    held: int = 0
    hints: dict[str, str] = field(default_factory=dict)
    scaling: int = 0
    """Bytes of the parts that grow with the number of queries (what ``--max-queries`` reduces)."""

    @property
    def total(self) -> int:
        """Sum of the parts."""
        return int(sum(self.parts.values()))

    @property
    def biggest(self) -> tuple[str, int]:
        """The largest part, ``(label, bytes)``."""
        label = max(self.parts, key=lambda lab: self.parts[lab])
        return label, int(self.parts[label])


def _rerank_parts(adapter: Any) -> tuple[Any, int] | None:
    """``(base adapter, depth)`` of an ``X+rerank`` variant (:mod:`xsell_eval.rerank`), else None."""
    from xsell_eval.rerank import SUFFIX

    base = getattr(adapter, "base", None)
    if base is None or not str(getattr(adapter, "name", "")).endswith(SUFFIX):
        return None
    return base, int(getattr(adapter, "depth", 1))


def _strings_bytes(arr: np.ndarray) -> int:
    """Bytes of the Python objects an object array points to (mean size of its first 1,000, + overhead each)."""
    if arr.dtype != object or len(arr) == 0:
        return 0
    import sys

    mean = float(np.mean([sys.getsizeof(x) for x in arr[:1000]]))
    return int(len(arr) * (mean + STRING_OVERHEAD_BYTES))


def _recs_file_bytes(adapter: Any) -> tuple[int, int, int] | None:
    """``(loaded table, fitted lists kept, fit working set)`` of a ``--recs`` file adapter, else None."""
    from xsell_eval.adapters.recs_file import RecsFileAdapter

    if not isinstance(adapter, RecsFileAdapter):
        return None
    import pandas as pd

    table = adapter.table
    items = table.items
    n = len(items)
    loaded = sum(int(arr.nbytes) + _strings_bytes(arr) for arr in (table.keys, table.ranks, items))
    counts = pd.Series(table.keys).value_counts(sort=False) if n else pd.Series(dtype=np.int64)
    kept = int(len(counts) * (int(counts.max()) if len(counts) else 0) * 16 + len(counts) * 8)
    return loaded, kept, n * BYTES_PER_RECS_ROW_FIT


def adapter_working_bytes(adapter: Any, train: Any, n_items: int) -> tuple[int, str, str]:
    """The largest transient allocation of one adapter's fit + recommend, a label for it and the option that reduces it.

    ``cf`` (item kNN): its item similarity; adapters that score densely (the base class's
    top-k over a ``batch × items`` block, or LightFM's blocks): the dense block; a ``--recs``
    file: its fit's id mapping; an ``X+rerank`` variant: ``X``'s (its candidates are counted by
    :func:`estimate_compare_bytes`); others: 0 (their scoring is sparse and follows the
    nonzeros; a bare Adapter-protocol class, whose scoring is unknown, counts 0 too).
    """
    from xsell_eval.adapters.base import BaseAdapter
    from xsell_eval.adapters.knn import ItemKNNAdapter

    rerank = _rerank_parts(adapter)
    if rerank is not None:
        return adapter_working_bytes(rerank[0], train, n_items)
    recs = _recs_file_bytes(adapter)
    if recs is not None:
        label = f"{getattr(adapter, 'label', 'recs')}'s fit (--recs file of {len(adapter.table.items):,} rows)"
        return recs[2], label, "pass fewer or shorter --recs files"
    if isinstance(adapter, ItemKNNAdapter):
        from xsell_eval.similarity import similarity_memory_bytes

        x = train.user_item if adapter.params["interactions"] == "user" else train.basket_item
        k = adapter.params["k_neighbors"]
        label = f"{adapter.name}'s item similarity (k_neighbors={k})"
        return similarity_memory_bytes(x, k), label, f"use a smaller k_neighbors (e.g. {adapter.name}:k_neighbors=50)"
    block_cells = getattr(adapter, "score_block_cells", None)
    batch = int(getattr(adapter, "batch_size", 512))
    if block_cells is not None:
        cells = min(int(block_cells), batch * n_items)
    elif isinstance(adapter, BaseAdapter) and type(adapter)._recommend_batch is BaseAdapter._recommend_batch:
        cells = batch * n_items
    else:
        return 0, "", ""
    label = f"{adapter.name}'s dense score block ({batch} × {n_items:,} items)"
    return cells * 8 * DENSE_BLOCK_COPIES, label, "compare fewer adapters at once"


def statistics_bytes(*, n_queries: int, query_items: int, n_bootstrap: int) -> int:
    """The statistics stage's working set (module table): base, bootstrap chunk and draws, the report's query table."""
    from xsell_eval.resampling import CHUNK_ELEMS, SHARED_DRAWS_BYTES

    n = max(int(n_queries), 0)
    chunk = 2 * min(int(n_bootstrap) * n, CHUNK_ELEMS) * 8
    draws = min(SHARED_DRAWS_BYTES, 2 * n * int(n_bootstrap))
    frame = n * QUERY_FRAME_BYTES_PER_QUERY + int(query_items) * QUERY_FRAME_BYTES_PER_ITEM
    return STATS_BASE_BYTES + chunk + draws + frame


def estimate_compare_bytes(
    adapters: Sequence[tuple[str, Any]],
    train: Any,
    *,
    n_queries: int,
    n_items: int,
    k: int,
    n_metric_columns: int,
    query_bytes: int = 0,
    query_items: int = 0,
    reveal_seeds: int = 1,
    n_bootstrap: int = 0,
) -> MemoryEstimate:
    """Estimated peak of a comparison (module table): the parts held for the whole run + the largest working set.

    Args:
        adapters: ``(spec, instance)`` of every entry of the run, ``X+rerank`` variants and ``--recs`` files included.
        query_bytes: bytes of one reveal's built test queries (0: not counted).
        query_items: cart + target items of the test queries (the report's query table).
        reveal_seeds: reveals held (``--reveal-seeds``); multiplies the test queries.
        n_bootstrap: bootstrap resamples of the statistics (0: the statistics stage is not counted).
    """
    n, n_ad = int(n_queries), len(adapters)
    parts: dict[str, int] = {}
    hints: dict[str, str] = {}
    held = 0
    per_adapter = n * (k * BYTES_PER_SLOT + n_metric_columns * BYTES_PER_METRIC_CELL + BYTES_PER_QUERY)
    reranked = [spec for spec, a in adapters if _rerank_parts(a) is not None]
    extra = f", {len(reranked)} of them rerank variants" if reranked else ""
    label = f"results of {n_ad} adapter(s){extra} for {n:,} queries"
    parts[label] = per_adapter * n_ad
    hints[label] = "sample the test queries with --max-queries" + (
        "; compare fewer adapters or rerank variants" if reranked else "; compare fewer adapters at once"
    )
    if query_bytes > 0:
        seeds = max(int(reveal_seeds), 1)
        label = f"the test queries × {seeds} reveal(s) (--reveal-seeds {seeds})" if seeds > 1 else "the test queries"
        parts[label] = int(query_bytes) * seeds
        held += parts[label]
        hints[label] = (
            f"use fewer --reveal-seeds (now {seeds}; each holds another copy of the test queries)"
            if seeds > 1
            else "sample the test queries with --max-queries"
        )
    fixed = 0  # bytes that do not shrink with --max-queries
    recs_files = [(spec, r) for spec, a in adapters if (r := _recs_file_bytes(a)) is not None]
    if recs_files:
        label = f"{len(recs_files)} --recs file(s): the loaded tables and their fitted lists"
        parts[label] = sum(r[0] + r[1] for _, r in recs_files)
        held += sum(r[0] for _, r in recs_files)
        fixed += parts[label]
        hints[label] = "pass fewer or shorter --recs files (cut each list to the largest k)"

    metrics_part = (
        "the metrics' working batch",
        min(n, 100_000) * k * BYTES_PER_METRIC_SLOT,
        "sample the test queries with --max-queries",
        0,
    )
    # a stage: (label, bytes, hint, bytes of it that do not shrink with --max-queries)
    stages: list[list[tuple[str, int, str, int]]] = []
    for spec, adapter in adapters:
        stage = [metrics_part]
        own, own_label, own_hint = adapter_working_bytes(adapter, train, n_items)
        if own > 0:
            stage.append((own_label, own, own_hint, own))
        rerank = _rerank_parts(adapter)
        if rerank is not None:
            stage.append(
                (
                    f"{spec}'s {rerank[1]} × {k} re-ranked candidates per query",
                    n * rerank[1] * k * BYTES_PER_RERANK_CANDIDATE,
                    "use fewer rerank variants or a smaller depth (--rerank pop-penalty:depth=2)",
                    0,
                )
            )
        if reveal_seeds > 1:
            stage.append(
                (
                    "an extra reveal's recommendations (--reveal-seeds)",
                    n * k * BYTES_PER_REVEAL_SLOT,
                    f"use fewer --reveal-seeds (now {reveal_seeds})",
                    0,
                )
            )
        stages.append(stage)
    if n_bootstrap > 0:
        stages.append(
            [
                (
                    f"the statistics and the report's tables (n_bootstrap={n_bootstrap:,})",
                    statistics_bytes(n_queries=n, query_items=query_items, n_bootstrap=n_bootstrap),
                    "use fewer bootstrap resamples (--bootstrap) or --max-queries",
                    STATS_BASE_BYTES,
                )
            ]
        )
    if not stages:
        stages.append([metrics_part])
    for label, b, hint, b_fixed in max(stages, key=lambda st: sum(part[1] for part in st)):
        parts[label] = parts.get(label, 0) + int(b)
        hints[label] = hint
        fixed += b_fixed
    return MemoryEstimate(parts, held=held, hints=hints, scaling=sum(parts.values()) - fixed)


def check_memory(estimate: MemoryEstimate, *, what: str, hints: Sequence[str]) -> None:
    """Raise :class:`MemoryBudgetError` when ``estimate`` exceeds the available memory.

    The message names the estimated need and its parts, what is available (and from where),
    the biggest part with the option that reduces it (``estimate.hints``), and the ``hints``
    (options that reduce the need). ``estimate.held`` (already allocated) is added back to a
    measured availability, not to ``$XSELL_MEMORY_BUDGET``.
    """
    avail, source = available_memory()
    room = avail if source == f"${BUDGET_ENV}" else avail + estimate.held
    if estimate.total <= room:
        return
    parts = "; ".join(f"{label}: {format_bytes(b)}" for label, b in estimate.parts.items() if b > 0)
    big, big_bytes = estimate.biggest
    big_hint = estimate.hints.get(big)
    biggest = f" The biggest part is {big}, {format_bytes(big_bytes)}: {big_hint}." if big_hint else ""
    raise MemoryBudgetError(
        f"{what} needs an estimated {format_bytes(estimate.total)} of memory ({parts}), but only "
        f"{format_bytes(room)} is available ({source}); stopped before the work.{biggest} To reduce it: "
        + "; ".join(hints)
    )


def _queries_bytes(q: Any) -> tuple[int, int]:
    """Bytes of a built :class:`~xsell_eval.queries.Queries` (its arrays), and its cart + target items."""
    total = 0
    for name in ("query_id", "user_idx", "basket_idx", "timestamp", "context_value", "user_history"):
        arr = getattr(q, name, None)
        total += int(getattr(arr, "nbytes", 0))
    for name in ("context", "targets", "target_value"):
        m = getattr(q, name, None)
        if m is not None:
            total += int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)
    return total, int(q.context.nnz + q.targets.nnz)


def check_compare_memory(config: Any, prepared: Any, *, instances: dict[str, Any] | None = None) -> MemoryEstimate:
    """The guard of ``compare``: estimate the run (:func:`estimate_compare_bytes`) and stop early if it cannot fit.

    Returns:
        The estimate (when it fits).

    Raises:
        MemoryBudgetError: the estimate exceeds :func:`available_memory`; the message names the
            biggest part and its option, and suggests ``--max-queries`` (about the number of
            queries that would fit), fewer ``--reveal-seeds`` when more than one, fewer rerank
            variants when there are some, and a smaller ``k_neighbors`` when an item kNN dominates.
    """
    from xsell_eval.adapters.registry import create, parse_spec
    from xsell_eval.metrics import METRICS

    adapters: list[tuple[str, Any]] = []
    for spec in config.adapters:
        if instances and spec in instances:
            adapters.append((spec, instances[spec]))
            continue
        try:
            name, spec_params = parse_spec(spec)
            params = {**config.params.get(name, {}), **config.params.get(spec, {}), **spec_params}
            params.update((config.tuned or {}).get(spec, {}))
            adapters.append((spec, create(name, seed=config.seed, params=params)))
        except Exception:  # a broken spec (or a plugin's constructor) is reported by its own run, not here
            continue
    n_q, n_items, k = len(prepared.queries), prepared.queries.n_items, max(config.ks)
    per_query_metrics = [m for m in config.metrics if METRICS[m.split("@")[0]].scope == "per_query"]
    n_cols = (len(set(per_query_metrics) | {"hit_rate", "recall", "ndcg", "revenue"})) * len(config.ks) + 2
    q_bytes, q_items = _queries_bytes(prepared.queries)
    reveals = 1 + len(getattr(prepared, "reveal_queries", ()) or ())
    est = estimate_compare_bytes(
        adapters,
        prepared.split.train,
        n_queries=n_q,
        n_items=n_items,
        k=k,
        n_metric_columns=n_cols,
        query_bytes=q_bytes,
        query_items=q_items,
        reveal_seeds=reveals,
        n_bootstrap=int(getattr(config, "n_bootstrap", 0) or 0),
    )
    avail, source = available_memory()
    room = avail if source == f"${BUDGET_ENV}" else avail + est.held
    hints = []
    per_query = est.scaling / max(n_q, 1)
    fixed = est.total - est.scaling
    fit_q = int(max(room - fixed, 0) / per_query) if per_query > 0 else n_q
    if fit_q >= 1:
        hints.append(f"sample the test queries with --max-queries (about {max(fit_q // 2, 1):,} would fit)")
    else:
        hints.append("sample the test queries with --max-queries")
    if reveals > 1:
        hints.append(f"use fewer --reveal-seeds (now {reveals})")
    if any(_rerank_parts(a) is not None for _, a in adapters):
        hints.append("use fewer rerank variants or a smaller depth (--rerank pop-penalty:depth=2)")
    if any("k_neighbors" in label for label in est.parts):
        hints.append("use a smaller k_neighbors (e.g. cf:k_neighbors=50)")
    hints.append(f"compare fewer adapters at once, or set ${BUDGET_ENV} if more memory is really free")
    check_memory(est, what=f"comparing {len(adapters)} adapter(s) on {n_q:,} queries × {n_items:,} items", hints=hints)
    return est
