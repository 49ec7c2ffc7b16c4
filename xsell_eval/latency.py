"""Serving latency: how long an adapter takes to answer one shopper, and its batch throughput.

Offline metrics say which strategy recommends better; a live widget also has a time budget
(often tens of milliseconds). After the batch evaluation, each adapter answers a seeded
sample of test queries **one at a time** (after a few warm-up calls), and the wall time of
each call gives p50 / p95 / p99 in milliseconds. Throughput is the batch rate of the
evaluation itself: queries / seconds of the one ``recommend`` call over all test queries.

Timings depend on the machine and its load; they are reported, never compared by tests.

Example:
    >>> import numpy as np
    >>> stats = latency_from_times(np.array([0.001, 0.002, 0.003]), n_batch=1000, batch_seconds=0.5)
    >>> stats.p50_ms, stats.throughput_qps
    (2.0, 2000.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from xsell_eval.queries import Requests

#: Single-query calls timed per adapter (a seeded sample of the test queries).
LATENCY_SAMPLE = 200
#: Untimed single-query calls first (caches, lazy imports, JIT).
LATENCY_WARMUP = 10


@dataclass(frozen=True)
class Latency:
    """Single-query latency percentiles (milliseconds) and batch throughput (queries per second).

    Attributes:
        p50_ms, p95_ms, p99_ms: percentiles of the single-query wall times.
        mean_ms: their mean.
        n_timed: single-query calls timed (after ``warmup`` untimed ones).
        warmup: untimed warm-up calls.
        throughput_qps: test queries per second of the batch ``recommend`` call (NaN if unknown).
    """

    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    n_timed: int
    warmup: int
    throughput_qps: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return asdict(self)


def latency_from_times(seconds: np.ndarray, *, n_batch: int, batch_seconds: float, warmup: int = 0) -> Latency:
    """Percentiles (linear interpolation, as :func:`numpy.percentile`) of per-call times in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p95, p99 = (float(v) for v in np.percentile(ms, [50, 95, 99])) if len(ms) else (float("nan"),) * 3
    qps = n_batch / batch_seconds if batch_seconds > 0 and n_batch > 0 else float("nan")
    return Latency(
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        mean_ms=float(ms.mean()) if len(ms) else float("nan"),
        n_timed=len(ms),
        warmup=warmup,
        throughput_qps=float(qps),
    )


def measure_latency(
    recommend: Callable[[Requests], Any],
    queries: Requests,
    *,
    batch_seconds: float,
    seed: int = 0,
    sample: int = LATENCY_SAMPLE,
    warmup: int = LATENCY_WARMUP,
) -> Latency:
    """Time ``recommend`` on single queries drawn from ``queries`` (seeded, without replacement).

    Args:
        recommend: answers :class:`~xsell_eval.queries.Requests` of any length
            (e.g. ``lambda r: adapter.recommend(r, 10)``).
        queries: the test requests (what adapters see: no targets).
        batch_seconds: wall time of the batch call over all of ``queries`` (for the throughput).
        seed: picks the sample.
        sample: single-query calls to time (at most ``len(queries)``).
        warmup: untimed calls first (drawn from the same sample, wrapping around).

    Returns:
        The :class:`Latency`.
    """
    n = len(queries)
    if n == 0:
        return latency_from_times(np.zeros(0), n_batch=0, batch_seconds=batch_seconds)
    rng = np.random.default_rng([seed, 7919])
    rows = rng.choice(n, size=min(sample, n), replace=False)
    for i in range(warmup):
        recommend(queries.take(np.array([rows[i % len(rows)]])))
    times = np.empty(len(rows), dtype=np.float64)
    for j, row in enumerate(rows):  # one call per query on purpose: this is what is measured
        one = queries.take(np.array([row]))
        t0 = time.perf_counter()
        recommend(one)
        times[j] = time.perf_counter() - t0
    return latency_from_times(times, n_batch=n, batch_seconds=batch_seconds, warmup=warmup)
