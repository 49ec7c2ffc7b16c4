"""als: conformance, fold-in against numpy's solve and against the learned factors, carts, determinism."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from _extras import run_without

from xsell_eval.adapters.als import ALSAdapter, confidence
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError, MissingExtraError
from xsell_eval.split import make_split
from xsell_eval.testing import check_adapter, toy_dataset, toy_queries

pytest.importorskip("implicit")

FAST = {"factors": 8, "iterations": 5}


@pytest.fixture(scope="module")
def train() -> Dataset:
    return make_split(toy_dataset(), "temporal").train


@pytest.mark.parametrize(
    "params",
    [FAST, {**FAST, "confidence": "log"}, {**FAST, "confidence": "binary", "use_cg": False}],
    ids=["linear", "log", "binary-cholesky"],
)
def test_conformance(params: dict) -> None:
    check_adapter(lambda seed: ALSAdapter(seed=seed, **params))


def test_confidence_by_hand() -> None:
    r = sp.csr_matrix(np.array([[0.0, 1.0, 3.0], [2.0, 0.0, 0.0]]))
    np.testing.assert_allclose(confidence(r, alpha=2.0, scaling="linear").toarray(), [[0, 3, 7], [5, 0, 0]])
    np.testing.assert_allclose(
        confidence(r, alpha=2.0, scaling="log").toarray(),
        [[0, 1 + 2 * np.log(2), 1 + 2 * np.log(4)], [1 + 2 * np.log(3), 0, 0]],
        rtol=1e-6,
    )
    np.testing.assert_allclose(confidence(r, alpha=2.0, scaling="binary").toarray(), [[0, 3, 3], [3, 0, 0]])


def test_fold_in_is_hu_et_al_closed_form(train: Dataset) -> None:
    """x = (YᵀY + Yᵀ(C − I)Y + λI)⁻¹ YᵀCp, solved by numpy for a few profiles."""
    a = ALSAdapter(factors=6, iterations=5, regularization=0.3, alpha=4.0, confidence="log").fit(train)
    rng = np.random.default_rng(0)
    known = np.flatnonzero(a.item_known_)
    prof = sp.lil_matrix((4, train.n_items), dtype=np.float32)
    for row in range(4):
        items = rng.choice(known, size=row + 1, replace=False)
        prof[row, items] = rng.integers(1, 4, size=row + 1)
    prof = sp.csr_matrix(prof)
    x = a.fold_in(prof)
    y = a.item_factors_.astype(np.float64)
    for row in range(4):
        cols = prof[row].indices
        c = 1 + 4.0 * np.log1p(prof[row].data.astype(np.float64))
        lhs = y.T @ y + (y[cols].T * (c - 1)) @ y[cols] + 0.3 * np.eye(6)
        rhs = y[cols].T @ c
        np.testing.assert_allclose(x[row], np.linalg.solve(lhs, rhs), rtol=2e-4, atol=2e-5)


def test_fold_in_of_a_training_row_is_close_to_its_learned_factors(train: Dataset) -> None:
    a = ALSAdapter(factors=8, iterations=30, use_cg=False, regularization=0.1).fit(train)
    users = np.flatnonzero(np.diff(a.counts_.indptr) > 0)
    x = a.fold_in(a.counts_[users])
    learned = a.user_factors_[users]
    rel = np.linalg.norm(x - learned, axis=1) / np.linalg.norm(learned, axis=1)
    assert np.median(rel) < 0.03 and rel.max() < 0.06, (np.median(rel), rel.max())
    # an untouched model and a random vector are far apart: the check can fail
    other = ALSAdapter(seed=1, factors=8, iterations=30, use_cg=False, regularization=0.1).fit(train)
    far = np.linalg.norm(other.user_factors_[users] - learned, axis=1) / np.linalg.norm(learned, axis=1)
    assert np.median(far) > 0.3


def test_profile_is_history_with_cart_raised_to_one(train: Dataset) -> None:
    a = ALSAdapter(**FAST).fit(train)
    u = int(np.argmax(np.diff(a.counts_.indptr)))
    hist = a.counts_[u].toarray().ravel()
    bought, new = int(np.argmax(hist)), int(np.flatnonzero(hist == 0)[0])
    q = toy_queries(toy_dataset()).take(np.arange(3))
    ctx = sp.csr_matrix((np.ones(4), ([0, 0, 1, 2], [bought, new, new, new])), shape=q.context.shape)
    q = dataclasses.replace(q, user_idx=np.array([u, -1, u]), context=ctx)
    prof = a.profiles(q).toarray()
    expected = hist.copy()
    expected[new] = 1.0
    np.testing.assert_array_equal(prof[0], expected)  # the bought item keeps its count (>= 1)
    np.testing.assert_array_equal(prof[1], np.eye(train.n_items)[new])  # guest: the cart alone
    np.testing.assert_array_equal(prof[2], expected)


def test_empty_profile_and_never_bought_items_are_not_candidates(train: Dataset) -> None:
    a = ALSAdapter(**FAST).fit(train)
    q = toy_queries(toy_dataset()).take(np.arange(2))
    known = int(np.flatnonzero(a.item_known_)[0])
    ctx = sp.csr_matrix((np.ones(1), ([1], [known])), shape=q.context.shape)
    q = dataclasses.replace(q, user_idx=np.array([-1, -1]), context=ctx)
    s = a._score(q)
    assert (s[0] == -np.inf).all()
    assert np.isfinite(s[1, a.item_known_]).all() and (s[1, ~a.item_known_] == -np.inf).all()


def test_same_seed_same_factors_for_any_thread_count(train: Dataset) -> None:
    one = ALSAdapter(seed=3, num_threads=1, **FAST).fit(train)
    two = ALSAdapter(seed=3, num_threads=2, **FAST).fit(train)
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    other = ALSAdapter(seed=4, num_threads=1, **FAST).fit(train)
    assert not np.array_equal(one.item_factors_, other.item_factors_)


def test_bad_input(train: Dataset) -> None:
    with pytest.raises(ConfigError, match=r"'factors' must be >= 1"):
        ALSAdapter(factors=0)
    with pytest.raises(ConfigError, match=r"'confidence' must be one of"):
        ALSAdapter(confidence="sqrt")
    guests = train.subset(train.interactions["user_idx"].to_numpy() < 0, name="guests")
    with pytest.raises(DataError, match=r"adapter 'als' needs user ids"):
        ALSAdapter(**FAST).fit(guests)


def test_missing_implicit_gives_install_hint(monkeypatch: pytest.MonkeyPatch, train: Dataset) -> None:
    monkeypatch.setitem(sys.modules, "implicit", None)
    monkeypatch.setitem(sys.modules, "implicit.als", None)
    with pytest.raises(MissingExtraError, match=r"'implicit'.*pip install 'xsell-eval\[implicit\]'"):
        ALSAdapter(**FAST).fit(train)


def test_listed_and_install_hint_without_implicit() -> None:
    """In a fresh interpreter where ``implicit`` cannot be imported: listed, and fit says what to install."""
    out = run_without("implicit", ("als",), "als:factors=4")
    assert out["errors"] == {"als": ""} and out["extras"] == {"als": "implicit"}
    assert out["raised"].startswith("MissingExtraError")
    assert "pip install 'xsell-eval[implicit]'" in out["raised"]
