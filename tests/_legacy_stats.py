"""Reference copy of the statistics code before the scale work (main at f383204), for the exactness tests.

``tests/test_stats_scale.py`` checks that the optimized :mod:`xsell_eval.stats` /
:mod:`xsell_eval.resampling` give bit-identical CIs, p-values and Holm columns to this code.
Copied verbatim (docstrings shortened); the unchanged helpers are imported from the package.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.columns import Columns as C
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.metrics import METRICS, parse_metric
from xsell_eval.resampling import CLUSTER_COLUMN, check_ci_unit
from xsell_eval.stats import (
    PAIRED_FIELDS,
    PairedComparison,
    _check_confidence,
    _check_resamples,
    _check_test,
    _metric_columns,
    _paired_from_boot,
    _percentile_ci,
    holm,
)

_CHUNK_ELEMS = 1 << 21


# --------------------------------------------------------------------------- resampling.py (old)
def cluster_codes(unit_ids: np.ndarray | Sequence[int]) -> np.ndarray:
    u = np.asarray(unit_ids).ravel()
    if u.dtype.kind not in "iu":
        if u.dtype.kind == "f" and np.all(np.isfinite(u)) and np.all(u == np.round(u)):
            u = u.astype(np.int64)
        else:
            raise DataError(f"cluster ids ('{CLUSTER_COLUMN}') must be integers (-1 for guests), got dtype {u.dtype}")
    u = u.astype(np.int64, copy=False)
    known = u >= 0
    codes = np.empty(len(u), dtype=np.int64)
    uniq, inv = np.unique(u[known], return_inverse=True)
    codes[known] = inv
    codes[~known] = len(uniq) + np.arange(int((~known).sum()))
    return codes


def count_chunks(n: int, n_resamples: int, seed: int | None) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    per_chunk = max(1, min(n_resamples, _CHUNK_ELEMS // max(n, 1)))
    dtype = np.int32 if n < 2**31 else np.int64
    done = 0
    while done < n_resamples:
        c = min(per_chunk, n_resamples - done)
        idx = rng.integers(0, n, size=(c, n), dtype=dtype)
        counts = np.empty((c, n))
        for i in range(c):
            counts[i] = np.bincount(idx[i], minlength=n)
        yield counts
        done += c


def resampled_means(x: np.ndarray, codes: np.ndarray | None, n_resamples: int, seed: int | None) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if codes is None:
        sums, sizes, n_units = x, None, n
    else:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != (n,):
            raise DataError(f"cluster codes: expected {n} values, got {codes.shape}")
        n_units = int(codes.max()) + 1 if n else 0
        g = sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_units, n))
        sums = np.asarray(g @ x)
        sizes = np.asarray(g.sum(axis=1)).ravel()
    out = np.empty((n_resamples, x.shape[1]))
    row = 0
    with threadpool_limits(limits=1, user_api="blas"):
        for w in count_chunks(n_units, n_resamples, seed):
            total = float(n) if sizes is None else (w @ sizes)[:, None]
            out[row : row + len(w)] = (w @ sums) / total
            row += len(w)
    return out


def _digest(a: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()


def resampled_columns(
    columns: Sequence[np.ndarray],
    n_resamples: int,
    seed: int | None,
    codes: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    out = np.full((n_resamples, len(columns)), np.nan)
    groups: dict[bytes, tuple[np.ndarray | None, int, dict[bytes, list[int]]]] = {}
    for j, col in enumerate(columns):
        if codes is None:
            key, cc, units = str(len(col)).encode(), None, len(col)
        else:
            _, cc = np.unique(np.asarray(codes[j], dtype=np.int64), return_inverse=True)
            cc = cc.astype(np.int64).ravel()
            key, units = _digest(cc), (int(cc.max()) + 1 if len(cc) else 0)
        content = _digest(np.asarray(col, dtype=np.float64))
        groups.setdefault(key, (cc, units, {}))[2].setdefault(content, []).append(j)
    for cc, units, distinct in groups.values():
        if units < 2:
            continue
        members = list(distinct.values())
        means = resampled_means(np.column_stack([columns[g[0]] for g in members]), cc, n_resamples, seed)
        for i, g in enumerate(members):
            out[:, g] = means[:, [i]]
    return out


# --------------------------------------------------------------------------- stats.py (old)
def _check_clusters(clusters: np.ndarray | Sequence[int] | None, n: int, where: str) -> np.ndarray | None:
    if clusters is None:
        return None
    g = np.asarray(clusters).ravel()
    if len(g) != n:
        raise DataError(f"{where}: `clusters` must have one id per value ({n}), got {len(g)}")
    return cluster_codes(g)


def _table_clusters(df: pd.DataFrame, ci_unit: str, where: str) -> np.ndarray | None:
    if check_ci_unit(ci_unit) == "query":
        return None
    if CLUSTER_COLUMN not in df.columns:
        raise DataError(f"{where}: no '{CLUSTER_COLUMN}' column")
    return cluster_codes(df[CLUSTER_COLUMN].to_numpy())


def _mean_cis(
    values: np.ndarray, *, confidence: float, n_resamples: int, seed: int | None, codes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=np.float64)
    ok = [np.isfinite(x[:, j]) for j in range(x.shape[1])]
    cols = [x[ok[j], j] for j in range(x.shape[1])]
    count = np.array([len(c) for c in cols], dtype=np.int64)
    mean = np.array([c.mean() if len(c) else np.nan for c in cols])
    boot = resampled_columns(cols, n_resamples, seed, None if codes is None else [codes[m] for m in ok])
    low, high = _percentile_ci(boot, confidence)
    return mean, low, high, count


def _paired_many(
    a: np.ndarray,
    b: np.ndarray,
    *,
    seed: int | None,
    n_resamples: int,
    confidence: float,
    test: str,
    codes: np.ndarray | None = None,
) -> list[PairedComparison]:
    p = a.shape[1]
    valid = np.isfinite(a) & np.isfinite(b)
    ca = [a[valid[:, j], j] for j in range(p)]
    cb = [b[valid[:, j], j] for j in range(p)]
    cc = None if codes is None else [codes[valid[:, j]] for j in range(p)] * 2
    boot = resampled_columns(ca + cb, n_resamples, seed, cc)
    return [_paired_from_boot(ca[j], cb[j], boot[:, j], boot[:, p + j], confidence, test) for j in range(p)]  # type: ignore[arg-type]


def paired_comparison(
    a: np.ndarray | Sequence[float],
    b: np.ndarray | Sequence[float],
    *,
    seed: int | None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    test: str = "wilcoxon",
    clusters: np.ndarray | Sequence[int] | None = None,
) -> PairedComparison:
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    test = _check_test(test)
    xa = np.asarray(a, dtype=np.float64).ravel()
    xb = np.asarray(b, dtype=np.float64).ravel()
    codes = _check_clusters(clusters, len(xa), "paired_comparison")
    return _paired_many(
        xa[:, None], xb[:, None], seed=seed, n_resamples=n_resamples, confidence=confidence, test=test, codes=codes
    )[0]


def summarize(
    per_query: pd.DataFrame,
    metrics: Sequence[str],
    *,
    seed: int | None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    ci_unit: str = "query",
) -> pd.DataFrame:
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    cols = _metric_columns(per_query, metrics, "summarize")
    codes = _table_clusters(per_query, ci_unit, "summarize")
    x = per_query[cols].to_numpy(dtype=np.float64) if cols else np.empty((len(per_query), 0))
    mean, low, high, n = _mean_cis(x, confidence=confidence, n_resamples=n_resamples, seed=seed, codes=codes)
    return pd.DataFrame({"metric": cols, "mean": mean, "ci_low": low, "ci_high": high, "n": n.astype(np.int64)})


def compare_to_baseline(
    per_query: Mapping[str, pd.DataFrame],
    baseline: str,
    metrics: Sequence[str],
    *,
    seed: int | None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    test: str = "wilcoxon",
    ci_unit: str = "query",
) -> pd.DataFrame:
    if not (0.0 < float(alpha) < 1.0):
        raise ConfigError(f"`alpha` must be in (0, 1), got {alpha!r}")
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    test = _check_test(test)
    base = per_query[baseline]
    cols = _metric_columns(base, metrics, f"baseline '{baseline}'")
    clustered = _table_clusters(base, ci_unit, f"baseline '{baseline}'") is not None
    base_keys = [C.QUERY, CLUSTER_COLUMN] if clustered else [C.QUERY]
    keys: list[tuple[str, str, int]] = []
    xa_parts: list[np.ndarray] = []
    xb_parts: list[np.ndarray] = []
    code_parts: list[np.ndarray] = []
    for name, df in per_query.items():
        if name == baseline:
            continue
        joined = base[[*base_keys, *cols]].merge(df[[C.QUERY, *cols]], on=C.QUERY, how="inner", suffixes=("_b", "_a"))
        xa = joined[[f"{c}_a" for c in cols]].to_numpy(dtype=np.float64)
        xb = joined[[f"{c}_b" for c in cols]].to_numpy(dtype=np.float64)
        codes = _table_clusters(joined, ci_unit, f"adapter '{name}'")
        for j, col in enumerate(cols):
            ok = np.isfinite(xa[:, j]) & np.isfinite(xb[:, j])
            xa_parts.append(xa[ok, j])
            xb_parts.append(xb[ok, j])
            if codes is not None:
                code_parts.append(codes[ok])
            keys.append((name, col, len(joined)))
    m = len(keys)
    boot = resampled_columns(xa_parts + xb_parts, n_resamples, seed, code_parts * 2 if clustered else None)
    rows: list[dict[str, object]] = []
    for j, (name, col, n_joined) in enumerate(keys):
        res = _paired_from_boot(xa_parts[j], xb_parts[j], boot[:, j], boot[:, m + j], confidence, test)  # type: ignore[arg-type]
        rows.append({C.ADAPTER: name, "metric": col, "n_joined": n_joined, **asdict(res)})
    columns = [C.ADAPTER, "metric", "n_joined", *PAIRED_FIELDS, "p_holm", "significant", "mark"]
    out = pd.DataFrame(rows, columns=columns[:-3])
    out["p_holm"] = holm(out["p_value"].to_numpy(dtype=np.float64)) if len(out) else np.array([], dtype=float)
    out["significant"] = (out["p_holm"] < alpha).to_numpy(dtype=bool)
    better = np.array([METRICS[parse_metric(m)[0]].higher_is_better for m in out["metric"]], dtype=bool)
    up = np.where(better, out["diff"].to_numpy() > 0, out["diff"].to_numpy() < 0)
    down = np.where(better, out["diff"].to_numpy() < 0, out["diff"].to_numpy() > 0)
    sig = out["significant"].to_numpy(dtype=bool)
    out["mark"] = np.where(sig & up, "▲", np.where(sig & down, "▼", ""))
    return out[columns]
