"""Frequent itemsets and association rules from a binary basket × item matrix.

A level-wise Apriori written on top of :mod:`scipy.sparse`: every count is a sparse
matrix product, never a Python loop over baskets::

    level 1   item counts                     column sums of X (n_baskets × n_items)
    level 2   pair counts                     X[:, block]ᵀ X        (blocks of bounded size)
    level k   candidates = Apriori join of    T = (X A == k-1)      baskets × parent itemsets
              frequent (k-1)-itemsets,        Tᵀ X                  counts of parent ∪ {j}
              pruned by their subsets

Definitions (identical to mlxtend's ``association_rules`` and R arules):

* ``support(S) = count(S) / n_baskets``; ``n_baskets`` is the number of rows of the
  matrix, empty rows included.
* An itemset is frequent when ``count / n_baskets >= min_support`` evaluated in IEEE
  double arithmetic, the way its support is reported. The minimum count is therefore
  ``ceil(min_support · n_baskets)`` *except* when that product is an integer the
  floating-point multiplication overshoots (``0.07 · 100 = 7.000000000000001``): there a
  naive ``ceil`` — which arules' C code (``istree.c``: ``(int)ceil(tacnt * supp)``) and
  mlxtend's fpgrowth (``math.ceil(min_support * n)``) both use — asks for one basket
  more than the stated support. :func:`min_count_for` is exact for that case and equal
  to the naive ``ceil`` everywhere else.
* ``confidence(A ⇒ C) = count(A ∪ C) / count(A)`` (one division of integers, so an
  exact tie such as 4/5 at 0.8 rounds to the same double as the threshold). A rule is
  kept when ``confidence >= min_confidence - 1e-12`` (:data:`CONFIDENCE_TOL`), the same
  ``EPSILON`` arules uses: it keeps exact ties even when the threshold itself carries a
  rounding error (``0.7 + 0.1 < 0.8``), and with fewer than ~10⁶ baskets no count ratio
  that is truly below a threshold of six decimals lies within 1e-12 of it.
* ``lift = confidence / support(C)``, ``leverage = support − support(A)·support(C)``,
  ``conviction = (1 − support(C)) / (1 − confidence)`` and ``inf`` when confidence is 1
  (as mlxtend).
* Rules have a non-empty antecedent and a non-empty consequent, like mlxtend. arules
  (``minlen=1``) can also return rules ``{} ⇒ {j}`` whose confidence is the support of
  ``j``; they are never produced here. arules only produces single-item consequents:
  pass ``max_consequent_len=1`` to reproduce its rule set.

Example:
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix([[1, 1, 0], [1, 1, 1], [1, 0, 1], [0, 1, 1]])
    >>> rs = mine_rules(X, min_support=0.5, min_confidence=0.6, max_len=2)
    >>> len(rs), rs.min_count
    (6, 2)
    >>> r = rs.rules.iloc[0]
    >>> r.antecedent, r.consequent, int(r["count"]), round(float(r.confidence), 4), round(float(r.lift), 4)
    ((0,), (1,), 2, 0.6667, 0.8889)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.errors import ConfigError, DataError

CONFIDENCE_TOL: Final = 1e-12
"""Absolute tolerance on the confidence threshold (arules' ``EPSILON``)."""

_BLOCK_ENTRIES: Final = 1 << 23
"""Budget of stored entries per intermediate sparse product (~100 MB with indices)."""

_JOIN_FACTOR: Final = 25
"""A raw Apriori join above ``_JOIN_FACTOR × max_itemsets`` raises before it is generated."""

_MAX_TIDLIST_ENTRIES: Final = 1 << 28
"""Cap on the basket lists kept between levels (5 bytes an entry: ~1.3 GB)."""

RULE_COLUMNS: Final = (
    "antecedent",
    "consequent",
    "support",
    "confidence",
    "lift",
    "conviction",
    "leverage",
    "antecedent_support",
    "consequent_support",
    "count",
)


# --------------------------------------------------------------------------- values
@dataclass(frozen=True, eq=False)
class RuleSet:
    """Association rules mined from one basket matrix, with the parameters used.

    Attributes:
        rules: one row per rule, columns :data:`RULE_COLUMNS`. ``antecedent`` and
            ``consequent`` are sorted tuples of item (column) indices; ``count`` is the
            number of baskets containing antecedent ∪ consequent. Sorted by lift,
            confidence and count, all descending (ties keep generation order).
        n_baskets: rows of the mined matrix (the denominator of every support).
        n_items: columns of the mined matrix (width of the item index).
        min_support, min_confidence, max_len, max_consequent_len: the parameters.
        min_count: the minimum basket count an itemset needed (see :func:`min_count_for`).
        itemset_counts: number of frequent itemsets of length 1, 2, ... found.
    """

    rules: pd.DataFrame
    n_baskets: int
    n_items: int
    min_support: float
    min_confidence: float
    max_len: int
    max_consequent_len: int | None
    min_count: int
    itemset_counts: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.rules)

    def to_frame(
        self, item_ids: np.ndarray | Sequence[Any], titles: np.ndarray | Sequence[Any] | None = None
    ) -> pd.DataFrame:
        """The rules with external item ids (and titles) instead of column indices.

        Args:
            item_ids: external id of every column (``Dataset.item_ids``).
            titles: optional human title of every column (``Dataset.catalog["title"]``).

        Returns:
            A new frame: ``antecedent``/``consequent`` as tuples of item ids, then
            ``antecedent_titles``/``consequent_titles`` when ``titles`` is given, then
            the measures (support, confidence, lift, conviction, leverage,
            antecedent_support, consequent_support, count).
        """
        ids = np.asarray(item_ids, dtype=object)
        if len(ids) != self.n_items:
            raise ConfigError(f"to_frame: item_ids has {len(ids)} entries, the rules index {self.n_items} items")
        out = pd.DataFrame(
            {
                "antecedent": _map_tuples(self.rules["antecedent"], ids),
                "consequent": _map_tuples(self.rules["consequent"], ids),
            }
        )
        if titles is not None:
            tt = np.asarray(titles, dtype=object)
            if len(tt) != self.n_items:
                raise ConfigError(f"to_frame: titles has {len(tt)} entries, the rules index {self.n_items} items")
            out["antecedent_titles"] = _map_tuples(self.rules["antecedent"], tt)
            out["consequent_titles"] = _map_tuples(self.rules["consequent"], tt)
        for col in RULE_COLUMNS[2:]:
            out[col] = self.rules[col].to_numpy()
        return out

    def antecedent_matrix(self) -> sp.csr_matrix:
        """Binary CSR (n_rules × n_items): row r marks the items of rule r's antecedent."""
        return _tuples_to_csr(self.rules["antecedent"], self.n_items)

    def consequent_matrix(self) -> sp.csr_matrix:
        """Binary CSR (n_rules × n_items): row r marks the items of rule r's consequent."""
        return _tuples_to_csr(self.rules["consequent"], self.n_items)


def _map_tuples(col: pd.Series, values: np.ndarray) -> list[tuple[Any, ...]]:
    lens = col.map(len).to_numpy(dtype=np.int64) if len(col) else np.zeros(0, np.int64)
    flat = values[_flatten(col)]
    ends = np.cumsum(lens)
    return [tuple(flat[e - n : e]) for e, n in zip(ends.tolist(), lens.tolist(), strict=True)]


def _flatten(col: pd.Series) -> np.ndarray:
    from itertools import chain

    return np.fromiter(chain.from_iterable(col.tolist()), dtype=np.int64)


def _tuples_to_csr(col: pd.Series, n_items: int) -> sp.csr_matrix:
    lens = col.map(len).to_numpy(dtype=np.int64) if len(col) else np.zeros(0, np.int64)
    indptr = np.concatenate([[0], np.cumsum(lens)])
    idx = _flatten(col)
    return sp.csr_matrix((np.ones(len(idx), dtype=np.float32), idx, indptr), shape=(len(col), n_items))


# --------------------------------------------------------------------------- helpers
def min_count_for(min_support: float, n_baskets: int) -> int:
    """Smallest basket count ``c >= 1`` with ``c / n_baskets >= min_support`` in double arithmetic.

    Equals ``ceil(min_support * n_baskets)`` unless the product overshoots an integer.

    Example:
        >>> min_count_for(0.07, 100), math.ceil(0.07 * 100)
        (7, 8)
        >>> min_count_for(0.001, 9835)
        10
    """
    c = max(1, math.ceil(min_support * n_baskets))
    while c > 1 and (c - 1) / n_baskets >= min_support:
        c -= 1
    while c / n_baskets < min_support:
        c += 1
    return c


def _validate(
    min_support: float,
    min_confidence: float,
    max_len: int,
    min_count: int | None,
    max_itemsets: int,
    max_consequent_len: int | None,
) -> None:
    def num(x: Any) -> bool:
        return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(x)

    if not num(min_support) or not 0 < min_support <= 1:
        raise ConfigError(f"min_support must be a number in (0, 1], got {min_support!r}")
    if not num(min_confidence) or not 0 <= min_confidence <= 1:
        raise ConfigError(f"min_confidence must be a number in [0, 1], got {min_confidence!r}")
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 2:
        raise ConfigError(
            f"max_len must be an integer >= 2 (an itemset of a rule has at least 2 items), got {max_len!r}"
        )
    if min_count is not None and (
        isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1
    ):
        raise ConfigError(f"min_count must be an integer >= 1 or None, got {min_count!r}")
    if isinstance(max_itemsets, bool) or not isinstance(max_itemsets, (int, np.integer)) or max_itemsets < 1:
        raise ConfigError(f"max_itemsets must be an integer >= 1, got {max_itemsets!r}")
    if max_consequent_len is not None and (
        isinstance(max_consequent_len, bool)
        or not isinstance(max_consequent_len, (int, np.integer))
        or max_consequent_len < 1
    ):
        raise ConfigError(f"max_consequent_len must be an integer >= 1 or None, got {max_consequent_len!r}")


def _as_binary_csr(baskets: Any) -> sp.csr_matrix:
    """Any sparse or dense 2-D matrix -> CSR with int32 ones where the input is non-zero."""
    if sp.issparse(baskets):
        x = sp.csr_matrix(baskets, copy=True)
    else:
        arr = np.asarray(baskets)
        if arr.ndim != 2:
            raise DataError(f"baskets must be a 2-D basket × item matrix, got shape {arr.shape}")
        x = sp.csr_matrix(arr)
    x.sum_duplicates()
    x.eliminate_zeros()
    x = sp.csr_matrix((np.ones(x.nnz, dtype=np.int32), x.indices, x.indptr), shape=x.shape)
    x.sort_indices()
    return x


def _horner(items: np.ndarray, base: int) -> np.ndarray:
    """Mixed-radix key of each row (lexicographic order preserved); caller checks overflow."""
    key = np.zeros(items.shape[0], dtype=np.int64)
    for t in range(items.shape[1]):
        key = key * base + items[:, t]
    return key


class _Lookup:
    """Row index of k-item tuples in a lexicographically sorted table (-1 when absent)."""

    def __init__(self, items: np.ndarray, base: int) -> None:
        self.base = max(base, 2)
        self.use_keys = items.shape[1] * (self.base - 1).bit_length() <= 62
        if self.use_keys:
            self.keys = _horner(items, self.base)
        else:  # long itemsets over many items: hash lookup
            self.index = pd.MultiIndex.from_arrays([items[:, t] for t in range(items.shape[1])])

    def find(self, query: np.ndarray) -> np.ndarray:
        if len(query) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.use_keys:
            q = _horner(query, self.base)
            pos = np.searchsorted(self.keys, q)
            pos_c = np.minimum(pos, len(self.keys) - 1)
            found = (len(self.keys) > 0) & (self.keys[pos_c] == q)
            return np.where(found, pos_c, -1).astype(np.int64)
        qi = pd.MultiIndex.from_arrays([query[:, t] for t in range(query.shape[1])])
        return np.asarray(self.index.get_indexer(qi), dtype=np.int64)


def _chunks(cost: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive [a, b) ranges whose summed cost stays within budget (at least one element)."""
    out: list[tuple[int, int]] = []
    cum = np.cumsum(cost, dtype=np.float64)
    a, n, base = 0, len(cost), 0.0
    while a < n:
        b = int(np.searchsorted(cum, base + budget, side="right"))
        b = max(b, a + 1)
        out.append((a, b))
        base = float(cum[b - 1])
        a = b
    return out


def _too_many(min_support: float, n: int, length: int, max_itemsets: int, *, more_than: bool = False) -> ConfigError:
    what = f"more than {n:,}" if more_than else f"~{n:,}"
    return ConfigError(
        f"min_support={min_support:g} would create {what} candidate itemsets of length {length} "
        f"(> max_itemsets={max_itemsets:,}); raise min_support or lower max_len"
    )


def _too_big(min_support: float, entries: int, length: int) -> ConfigError:
    return ConfigError(
        f"min_support={min_support:g} needs the basket lists of the frequent itemsets of length {length}: "
        f"{entries:,} entries (~{entries * 5 / 2**30:.1f} GiB, > {_MAX_TIDLIST_ENTRIES:,}); "
        "raise min_support or lower max_len"
    )


# --------------------------------------------------------------------------- itemsets
@dataclass(frozen=True)
class _Levels:
    """Frequent itemsets per length in *local* item ids (0..m-1 = frequent items)."""

    items: list[np.ndarray]  # items[k-1]: (N_k, k) int64, rows sorted lexicographically
    counts: list[np.ndarray]  # counts[k-1]: (N_k,) int64
    freq_items: np.ndarray  # local id -> column index of the input
    n_baskets: int
    n_items: int
    min_count: int


def _count_pairs(xf: sp.csr_matrix, mc: int, min_support: float, max_itemsets: int) -> tuple[np.ndarray, np.ndarray]:
    m = xf.shape[1]
    xc = xf.tocsc()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    total = 0
    # block a..b of columns against columns a..m-1: only the upper triangle is formed
    for a, b in _chunks(np.full(m, float(max(m, 1))), _BLOCK_ENTRIES):
        prod = (xc[:, a:b].T @ xc[:, a:]).tocoo()
        i = prod.row.astype(np.int64) + a
        j = prod.col.astype(np.int64) + a
        keep = (j > i) & (prod.data >= mc)
        total += int(keep.sum())
        if total > max_itemsets:
            raise _too_many(min_support, total, 2, max_itemsets, more_than=True)
        rows.append(i[keep])
        cols.append(j[keep])
        vals.append(prod.data[keep].astype(np.int64))
    if not rows:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    i, j, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    order = np.lexsort((j, i))
    return np.column_stack([i[order], j[order]]), v[order]


def _siblings_after(prev: np.ndarray) -> np.ndarray:
    """For each row of ``prev``: how many later rows share all but its last item."""
    n, k1 = prev.shape
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    change = np.any(prev[1:, :-1] != prev[:-1, :-1], axis=1) if k1 > 1 else np.zeros(n - 1, dtype=bool)
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    ends = np.concatenate([starts[1:], [n]])
    return (np.repeat(ends, ends - starts) - np.arange(n) - 1).astype(np.int64)


def _join_candidates(later: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Apriori join for parents a..b-1: pairs of rows p < q sharing all but the last item."""
    cnt = later[a:b]
    total = int(cnt.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    parent = np.repeat(np.arange(a, b, dtype=np.int64), cnt)
    first = np.cumsum(cnt) - cnt
    offset = np.arange(total, dtype=np.int64) - np.repeat(first, cnt)
    return parent, parent + 1 + offset


def _pruned_candidates(
    prev: np.ndarray, m: int, later: np.ndarray, limit: int, min_support: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Apriori join + prune (every (k-1)-subset frequent), in chunks of bounded size.

    Dropping the last or the second-to-last item gives the two joined parents, which
    are frequent; the other k-2 subsets are looked up. Raises when more than ``limit``
    candidates survive.
    """
    look = _Lookup(prev, m)
    parents: list[np.ndarray] = []
    siblings: list[np.ndarray] = []
    kept = 0
    for a, b in _chunks(later.astype(np.float64), _BLOCK_ENTRIES // k):
        parent, sibling = _join_candidates(later, a, b)
        if len(parent) == 0:
            continue
        ok = np.ones(len(parent), dtype=bool)
        for t in range(k - 2):
            sub = np.column_stack([np.delete(prev[parent], t, axis=1), prev[sibling, -1]])
            ok &= look.find(sub) >= 0
        kept += int(ok.sum())
        if kept > limit:
            raise _too_many(min_support, kept, k, limit, more_than=True)
        parents.append(parent[ok])
        siblings.append(sibling[ok])
    if not parents:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(parents), np.concatenate(siblings)


def _tidlists(rows_a: np.ndarray, rows_b: np.ndarray, table: sp.csr_matrix, table_b: sp.csr_matrix) -> sp.csr_matrix:
    """Row-wise intersection of basket lists: ``table[rows_a] ∘ table_b[rows_b]`` (CSR, int8)."""
    out = sp.csr_matrix(table[rows_a].multiply(table_b[rows_b]))
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _mine_levels(
    baskets: Any,
    *,
    min_support: float,
    max_len: int,
    min_count: int | None,
    max_itemsets: int,
) -> _Levels:
    x = _as_binary_csr(baskets)
    n, n_items = x.shape
    if n == 0:
        raise DataError("no baskets to mine (the basket × item matrix has 0 rows)")
    mc = min_count_for(float(min_support), n)
    if min_count is not None:
        mc = max(mc, int(min_count))
    c1 = np.bincount(x.indices, minlength=n_items).astype(np.int64)
    freq = np.flatnonzero(c1 >= mc).astype(np.int64)
    m = len(freq)
    items: list[np.ndarray] = [np.arange(m, dtype=np.int64).reshape(-1, 1)]
    counts: list[np.ndarray] = [c1[freq]]
    if m < 2:
        return _Levels(items, counts, freq, n, n_items, mc)
    xf = x[:, freq]
    xf.sort_indices()
    pairs, pc = _count_pairs(xf, mc, float(min_support), max_itemsets)
    items.append(pairs)
    counts.append(pc)
    if max_len < 3 or len(pairs) < 2:
        return _Levels(items, counts, freq, n, n_items, mc)
    # basket lists (tid-lists) of the frequent items and pairs: itemsets × baskets, int8
    if int(pc.sum()) > _MAX_TIDLIST_ENTRIES:
        raise _too_big(float(min_support), int(pc.sum()), 2)
    xf_t = sp.csr_matrix(xf.T.astype(np.int8))
    xf_t.sort_indices()
    tt = _tidlists_in_chunks(pairs[:, 0], pairs[:, 1], xf_t, counts[0][pairs].sum(axis=1))
    for k in range(3, max_len + 1):
        prev = items[-1]
        later = _siblings_after(prev)
        joined = int(later.sum())
        if joined == 0:
            break
        if joined > _JOIN_FACTOR * max_itemsets:  # hopeless: do not even generate the join
            raise _too_many(float(min_support), joined, k, max_itemsets)
        parent, sibling = _pruned_candidates(prev, m, later, max_itemsets, float(min_support), k)
        if len(parent) == 0:
            break
        cand = np.column_stack([prev[parent], prev[sibling, -1]])
        # count(p ∪ q) = |baskets(p) ∩ baskets(q)| for the two joined parents p, q
        prev_counts = counts[-1]
        cost = (prev_counts[parent] + prev_counts[sibling]).astype(np.float64)
        need_lists = k < max_len
        cand_counts = np.zeros(len(cand), dtype=np.int64)
        kept_lists: list[sp.csr_matrix] = []
        kept_entries = 0
        for a, b in _chunks(cost, _BLOCK_ENTRIES):
            inter = _tidlists(parent[a:b], sibling[a:b], tt, tt)
            cnt = np.diff(inter.indptr).astype(np.int64)
            cand_counts[a:b] = cnt
            if need_lists:
                kept_lists.append(inter[cnt >= mc])
                kept_entries += int(cnt[cnt >= mc].sum())
                if kept_entries > _MAX_TIDLIST_ENTRIES:
                    raise _too_big(float(min_support), kept_entries, k)
        keep = cand_counts >= mc
        if not keep.any():
            break
        items.append(cand[keep])
        counts.append(cand_counts[keep])
        if need_lists:
            tt = sp.vstack(kept_lists, format="csr") if kept_lists else sp.csr_matrix((0, n), dtype=np.int8)
    return _Levels(items, counts, freq, n, n_items, mc)


def _tidlists_in_chunks(
    rows_a: np.ndarray, rows_b: np.ndarray, table: sp.csr_matrix, cost: np.ndarray
) -> sp.csr_matrix:
    """:func:`_tidlists` in blocks of bounded size, stacked."""
    parts = [
        _tidlists(rows_a[a:b], rows_b[a:b], table, table) for a, b in _chunks(cost.astype(np.float64), _BLOCK_ENTRIES)
    ]
    return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, table.shape[1]), dtype=np.int8)


def frequent_itemsets(
    baskets: sp.csr_matrix,
    *,
    min_support: float,
    max_len: int = 3,
    min_count: int | None = None,
    max_itemsets: int = 2_000_000,
) -> pd.DataFrame:
    """All itemsets of 1..max_len items with ``count / n_baskets >= min_support``.

    Args:
        baskets: binary basket × item matrix (any non-zero counts as present).
        min_support: minimum support in (0, 1].
        max_len: longest itemset (>= 2).
        min_count: optional floor on the basket count (on top of ``min_support``).
        max_itemsets: guard; a level with more candidates raises ConfigError.

    Returns:
        Columns ``itemset`` (sorted tuple of column indices), ``count``, ``support``;
        ordered by length, then lexicographically.

    Example:
        >>> import scipy.sparse as sp
        >>> frequent_itemsets(sp.csr_matrix([[1, 1], [1, 0]]), min_support=0.5)["itemset"].tolist()
        [(0,), (1,), (0, 1)]
    """
    _validate(min_support, 0.0, max_len, min_count, max_itemsets, None)
    lv = _mine_levels(
        baskets, min_support=min_support, max_len=int(max_len), min_count=min_count, max_itemsets=int(max_itemsets)
    )
    tuples: list[tuple[int, ...]] = []
    cnts: list[np.ndarray] = []
    for arr, c in zip(lv.items, lv.counts, strict=True):
        tuples.extend(map(tuple, lv.freq_items[arr].tolist()))
        cnts.append(c)
    count = np.concatenate(cnts) if cnts else np.zeros(0, np.int64)
    return pd.DataFrame({"itemset": tuples, "count": count, "support": count / lv.n_baskets})


# --------------------------------------------------------------------------- rules
def mine_rules(
    baskets: sp.csr_matrix,
    *,
    min_support: float,
    min_confidence: float,
    max_len: int = 3,
    min_count: int | None = None,
    max_itemsets: int = 2_000_000,
    max_consequent_len: int | None = None,
) -> RuleSet:
    """Association rules ``A ⇒ C`` from frequent itemsets of 2..max_len items.

    Args:
        baskets: binary basket × item CSR (e.g. ``Dataset.basket_item`` restricted to
            the rows of the training baskets); every row counts as a basket.
        min_support: minimum support of ``A ∪ C`` in (0, 1] (see :func:`min_count_for`).
        min_confidence: minimum confidence in [0, 1] (tolerance :data:`CONFIDENCE_TOL`).
        max_len: maximum number of items in ``A ∪ C`` (>= 2), as mlxtend's ``max_len``
            and arules' ``maxlen``.
        min_count: optional floor on the basket count of ``A ∪ C``.
        max_itemsets: guard against memory blow-up: before a level is counted, its
            number of candidate itemsets is computed (Apriori join); above this cap a
            ConfigError says to raise ``min_support`` or lower ``max_len``.
        max_consequent_len: longest consequent; ``None`` = every split of every
            frequent itemset (mlxtend), ``1`` = single-item consequents (arules).

    Returns:
        The :class:`RuleSet`.

    Raises:
        ConfigError: a parameter is out of range, or the guard fired.
        DataError: the matrix has no rows.
    """
    _validate(min_support, min_confidence, max_len, min_count, max_itemsets, max_consequent_len)
    lv = _mine_levels(
        baskets, min_support=min_support, max_len=int(max_len), min_count=min_count, max_itemsets=int(max_itemsets)
    )
    n = lv.n_baskets
    m = len(lv.freq_items)
    lookups = [_Lookup(arr, m) for arr in lv.items]
    ante_blocks: list[np.ndarray] = []
    cons_blocks: list[np.ndarray] = []
    num: dict[str, list[np.ndarray]] = {"c": [], "ca": [], "cc": []}
    thr = float(min_confidence) - CONFIDENCE_TOL
    for k in range(2, len(lv.items) + 1):
        sets, cs = lv.items[k - 1], lv.counts[k - 1]
        if len(sets) == 0:
            continue
        for mask in range(1, (1 << k) - 1):
            ante_pos = [t for t in range(k) if mask >> t & 1]
            cons_pos = [t for t in range(k) if not mask >> t & 1]
            if max_consequent_len is not None and len(cons_pos) > max_consequent_len:
                continue
            ante, cons = sets[:, ante_pos], sets[:, cons_pos]
            ia = lookups[len(ante_pos) - 1].find(ante)
            ic = lookups[len(cons_pos) - 1].find(cons)
            if (ia < 0).any() or (ic < 0).any():  # pragma: no cover - downward closure
                raise RuntimeError("internal error: a subset of a frequent itemset is missing")
            ca = lv.counts[len(ante_pos) - 1][ia]
            keep = cs / ca >= thr
            if not keep.any():
                continue
            ante_blocks.append(lv.freq_items[ante[keep]])
            cons_blocks.append(lv.freq_items[cons[keep]])
            num["c"].append(cs[keep])
            num["ca"].append(ca[keep])
            num["cc"].append(lv.counts[len(cons_pos) - 1][ic[keep]])
    rules = _rules_frame(ante_blocks, cons_blocks, num, n)
    return RuleSet(
        rules=rules,
        n_baskets=n,
        n_items=lv.n_items,
        min_support=float(min_support),
        min_confidence=float(min_confidence),
        max_len=int(max_len),
        max_consequent_len=None if max_consequent_len is None else int(max_consequent_len),
        min_count=lv.min_count,
        itemset_counts=tuple(len(a) for a in lv.items),
    )


def _rules_frame(
    ante_blocks: list[np.ndarray], cons_blocks: list[np.ndarray], num: dict[str, list[np.ndarray]], n: int
) -> pd.DataFrame:
    if not ante_blocks:
        empty: dict[str, Any] = {c: np.zeros(0) for c in RULE_COLUMNS}
        empty["antecedent"] = pd.Series([], dtype=object)
        empty["consequent"] = pd.Series([], dtype=object)
        empty["count"] = np.zeros(0, dtype=np.int64)
        return pd.DataFrame(empty, columns=list(RULE_COLUMNS))
    ante: list[tuple[int, ...]] = []
    cons: list[tuple[int, ...]] = []
    for a, c in zip(ante_blocks, cons_blocks, strict=True):
        ante.extend(map(tuple, a.tolist()))
        cons.extend(map(tuple, c.tolist()))
    c = np.concatenate(num["c"]).astype(np.int64)
    ca = np.concatenate(num["ca"]).astype(np.int64)
    cc = np.concatenate(num["cc"]).astype(np.int64)
    support = c / n
    s_a = ca / n
    s_c = cc / n
    conf = c / ca
    lift = conf / s_c
    leverage = support - s_a * s_c
    certain = c == ca
    with np.errstate(divide="ignore"):
        conviction = np.where(certain, np.inf, (1.0 - s_c) / np.where(certain, 1.0, 1.0 - conf))
    order = np.lexsort((np.arange(len(c)), -c, -conf, -lift))
    frame = pd.DataFrame(
        {
            "antecedent": pd.Series(ante, dtype=object),
            "consequent": pd.Series(cons, dtype=object),
            "support": support,
            "confidence": conf,
            "lift": lift,
            "conviction": conviction,
            "leverage": leverage,
            "antecedent_support": s_a,
            "consequent_support": s_c,
            "count": c,
        }
    )
    return frame.iloc[order].reset_index(drop=True)


def write_rules_csv(frame: pd.DataFrame, out: Path) -> None:
    """Write the rules of :meth:`RuleSet.to_frame` as CSV, itemsets as JSON lists (unambiguous with commas in ids)."""
    csv = frame.copy()
    for col in ("antecedent", "consequent", "antecedent_titles", "consequent_titles"):
        if col in csv.columns:
            csv[col] = [json.dumps([str(v) for v in t], ensure_ascii=False) for t in csv[col]]
    out.parent.mkdir(parents=True, exist_ok=True)
    csv.to_csv(out, index=False)
