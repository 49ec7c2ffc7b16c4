"""Splits and protocols: leakage, disjointness, hand-built baskets, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, UnknownNameError
from xsell_eval.protocols import build_queries
from xsell_eval.split import make_split
from xsell_eval.testing import toy_dataset


def _tiny() -> Dataset:
    # 4 baskets over 4 days; the last (b4, 3 items) is test with test_fraction 0.25
    rows = [
        ("u1", "b1", "a", "2024-01-01", 1, 1.0),
        ("u1", "b1", "b", "2024-01-01", 1, 2.0),
        ("u2", "b2", "a", "2024-01-02", 1, 1.0),
        ("u2", "b2", "c", "2024-01-02", 2, 3.0),
        ("u1", "b3", "b", "2024-01-03", 1, 2.0),
        ("u1", "b4", "a", "2024-01-04", 1, 1.0),
        ("u1", "b4", "b", "2024-01-04", 3, 2.0),
        ("u1", "b4", "d", "2024-01-04", 1, 10.0),
    ]
    df = pd.DataFrame(rows, columns=[C.USER, C.BASKET, C.ITEM, C.TIMESTAMP, C.QUANTITY, C.PRICE])
    df[C.TIMESTAMP] = pd.to_datetime(df[C.TIMESTAMP])
    return Dataset.from_frames(df)


def test_temporal_split_by_hand() -> None:
    s = make_split(_tiny(), "temporal", test_fraction=0.25)
    assert set(s.test.interactions[C.BASKET]) == {"b4"}
    assert s.audit.train_ends_before_test
    assert s.audit.test_baskets_in_train == 0
    assert s.audit.cold_test_items == 1  # "d" never bought in train
    assert s.audit.test_lines_on_cold_items == 1
    assert s.audit.cold_test_users == 0


def test_basket_completion_hide_all_but_n_by_hand() -> None:
    ds = _tiny()
    s = make_split(ds, "temporal", test_fraction=0.25)
    q = build_queries(s.train, s.test, "basket-completion", hide=2, seed=0)
    assert len(q) == 1
    assert q.context.nnz == 1 and q.targets.nnz == 2
    assert q.user_history[0] == 2  # u1 had b1 and b3 in train
    total = 1 * 1.0 + 3 * 2.0 + 1 * 10.0
    assert q.context_value[0] + q.target_value.sum() == pytest.approx(total)


def test_next_basket_targets_only_new_items() -> None:
    s = make_split(_tiny(), "temporal", test_fraction=0.25)
    q = build_queries(s.train, s.test, "next-basket")
    ids = s.train.item_ids
    assert [ids[i] for i in q.targets.indices] == ["d"]  # a and b were bought before
    assert sorted(ids[i] for i in q.context.indices) == ["a", "b"]


def test_item_to_item_queries_by_hand() -> None:
    s = make_split(_tiny(), "temporal", test_fraction=0.25)
    q = build_queries(s.train, s.test, "item-to-item")
    assert len(q) == 3
    assert (np.diff(q.targets.indptr) == 2).all()
    assert (q.context.multiply(q.targets)).nnz == 0


def test_protocol_and_split_errors() -> None:
    ds = _tiny()
    s = make_split(ds, "temporal", test_fraction=0.25)
    with pytest.raises(UnknownNameError, match="Did you mean 'next-basket'"):
        build_queries(s.train, s.test, "next-baskets")
    with pytest.raises(DataError, match="yields no queries"):
        build_queries(s.train, s.test, "basket-completion", reveal=5)
    with pytest.raises(ConfigError, match="test_fraction must be between 0 and 1"):
        make_split(ds, "temporal", test_fraction=1.5)
    with pytest.raises(UnknownNameError, match="unknown split 'temporl'"):
        make_split(ds, "temporl")
    with pytest.raises(DataError, match="cutoff 2030-01-01"):
        make_split(ds, "temporal", cutoff="2030-01-01")


def test_no_timestamps_refuses_temporal_split() -> None:
    df = pd.DataFrame({C.BASKET: ["b1", "b1", "b2", "b2"], C.ITEM: ["a", "b", "a", "c"]})
    with pytest.raises(DataError, match="has no timestamps"):
        make_split(Dataset.from_frames(df), "temporal")


@pytest.mark.parametrize("kind", ["last-basket", "random-basket"])
def test_per_user_splits_state_their_leakage(kind: str) -> None:
    s = make_split(toy_dataset(), kind, seed=3)
    assert "leak" in s.leakage or "optimistic" in s.leakage
    tr = set(s.train.interactions[C.BASKET])
    te = set(s.test.interactions[C.BASKET])
    assert tr.isdisjoint(te)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["basket-completion", "next-basket", "item-to-item"]))
def test_queries_never_leak_and_are_seeded(seed: int, protocol: str) -> None:
    ds = toy_dataset(seed=seed % 7)
    s = make_split(ds, "temporal")
    tr_times = s.train.interactions[C.TIMESTAMP]
    assert tr_times.max() < s.test.interactions[C.TIMESTAMP].min()
    q1 = build_queries(s.train, s.test, protocol, seed=seed)
    q2 = build_queries(s.train, s.test, protocol, seed=seed)
    assert (q1.context != q2.context).nnz == 0
    # targets and context are disjoint, every query has a target
    assert q1.context.multiply(q1.targets).nnz == 0
    assert (np.diff(q1.targets.indptr) > 0).all()
    # every target comes from a test basket
    test_pairs = set(zip(s.test.interactions[C.BASKET_IDX], s.test.interactions[C.ITEM_IDX], strict=True))
    coo = q1.targets.tocoo()
    for r, c in zip(coo.row[:50], coo.col[:50], strict=True):
        assert (q1.basket_idx[r], c) in test_pairs


def test_pseudonyms_are_keyed_not_plain_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from xsell_eval.queries import HASH_KEY_ENV, pseudonymise

    ids = np.array(["12346", "12347", "12346"], dtype=object)
    monkeypatch.delenv(HASH_KEY_ENV, raising=False)
    a, b = pseudonymise(ids), pseudonymise(ids)
    assert a[0] == a[2] != a[1]  # consistent within one call (one run's files)
    assert a[0] != b[0]  # a fresh random key per run: not linkable, not reversible by hashing every id
    assert hashlib.sha256(b"12346").hexdigest()[:16] not in set(a)  # not the plain (dictionary-reversible) hash
    monkeypatch.setenv(HASH_KEY_ENV, "shop-secret")
    assert list(pseudonymise(ids)) == list(pseudonymise(ids))  # stable across runs under the same key
