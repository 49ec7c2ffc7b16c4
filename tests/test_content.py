"""Tests of the ``content`` adapter (TF-IDF nearest neighbours over the catalog text)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _cch_helpers import BASKETS, TITLES, make_queries, shop
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from xsell_eval.adapters import registry
from xsell_eval.adapters.content import ContentAdapter, item_text, max_aggregate, top_neighbors
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.testing import check_adapter, toy_dataset


def test_conformance_default_and_variants() -> None:
    check_adapter(lambda seed: ContentAdapter(seed=seed))
    check_adapter(lambda seed: ContentAdapter(seed=seed, aggregation="max", ngrams="char_wb3-5"))
    check_adapter(lambda seed: ContentAdapter(seed=seed, popularity_weight=0.0, n_neighbors=3, fields="title"))


def test_registered_as_content() -> None:
    assert registry.get("content") is ContentAdapter
    a = registry.create("content:n_neighbors=7,aggregation=max")
    assert a.params["n_neighbors"] == 7 and a.params["aggregation"] == "max"


def test_hand_computed_cosines_and_sum_max() -> None:
    """TF-IDF by hand: idf(t) = ln((1 + n) / (1 + df)) + 1 over the n = 4 items with text."""
    ds = shop(TITLES, BASKETS)
    a = ContentAdapter(ngrams="word1", stop_words="none", popularity_weight=0.0).fit(ds)
    idf_red = math.log(5 / 4) + 1  # red: A, C, E
    idf_mug = math.log(5 / 4) + 1  # mug: A, B, E
    idf_blue = math.log(5 / 2) + 1
    idf_candle = math.log(5 / 2) + 1
    va = np.array([idf_red, idf_mug, 0, 0])  # red, mug, blue, candle
    vb = np.array([0, idf_mug, idf_blue, 0])
    vc = np.array([idf_red, 0, 0, idf_candle])

    def cos(x: np.ndarray, y: np.ndarray) -> float:
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))

    idx = {i: k for k, i in enumerate(ds.item_ids)}
    n = a.neighbors_.toarray()
    assert n[idx["A"], idx["B"]] == pytest.approx(cos(va, vb), rel=1e-5)
    assert n[idx["A"], idx["C"]] == pytest.approx(cos(va, vc), rel=1e-5)
    assert n[idx["A"], idx["E"]] == pytest.approx(1.0, rel=1e-5)
    assert n[idx["B"], idx["C"]] == 0.0  # no shared term
    assert not n[:, idx["D"]].any() and not n[idx["D"]].any()  # no text, no neighbours
    assert np.diag(n).sum() == 0.0  # never its own neighbour

    q = make_queries(ds.n_items, [[idx["B"], idx["C"]]])
    s_sum = a._score(q)[0]
    assert s_sum[idx["A"]] == pytest.approx(cos(va, vb) + cos(va, vc), rel=1e-5)
    assert s_sum[idx["D"]] == -np.inf
    a_max = ContentAdapter(ngrams="word1", stop_words="none", popularity_weight=0.0, aggregation="max").fit(ds)
    s_max = a_max._score(q)[0]
    assert s_max[idx["A"]] == pytest.approx(max(cos(va, vb), cos(va, vc)), rel=1e-5)


def test_recommends_cold_items_never_bought() -> None:
    ds = shop(TITLES, BASKETS)
    idx = {i: k for k, i in enumerate(ds.item_ids)}
    assert ds.item_basket_count[idx["E"]] == 0  # E is only in the catalog
    a = ContentAdapter(ngrams="word1").fit(ds)
    recs = a.recommend(make_queries(ds.n_items, [[idx["A"]]]), k=4)
    assert recs.items[0, 0] == idx["E"]  # identical text ranks first although never sold
    assert idx["D"] not in recs.items[0]  # no text: not a candidate
    assert recs.items[0, -1] == -1  # only B, C, E are candidates: padded
    assert np.isnan(recs.scores[0, -1])


def test_popularity_weight_breaks_ties() -> None:
    titles = {"X": "jumbo bag red", "P": "jumbo bag pink", "Q": "jumbo bag blue"}
    baskets = [["X", "Q"], ["Q", "X"], ["Q"], ["P"]]  # Q is the best seller
    ds = shop(titles, baskets)
    idx = {i: k for k, i in enumerate(ds.item_ids)}
    q = make_queries(ds.n_items, [[idx["X"]]])
    pure = ContentAdapter(popularity_weight=0.0).fit(ds).recommend(q, k=2)
    assert pure.scores[0, 0] == pytest.approx(pure.scores[0, 1])  # exact tie: lower index (P) first
    assert pure.items[0].tolist() == [idx["P"], idx["Q"]]
    blended = ContentAdapter(popularity_weight=0.01).fit(ds).recommend(q, k=2)
    assert blended.items[0].tolist() == [idx["Q"], idx["P"]]


def test_top_neighbors_matches_sklearn_cosine() -> None:
    rng = np.random.default_rng(3)
    docs = [" ".join(rng.choice(list("abcdefghij"), size=rng.integers(1, 6))) for _ in range(60)]
    x = TfidfVectorizer(analyzer="char").fit_transform(docs).tocsr()
    n_nb = 5
    got = top_neighbors(x, n_nb, chunk_cells=100).toarray()  # many chunks
    ref = cosine_similarity(x)
    np.fill_diagonal(ref, -np.inf)
    for i in range(len(docs)):
        kth = np.sort(ref[i])[-n_nb]
        kept = np.flatnonzero(got[i])
        assert len(kept) == min(n_nb, int((ref[i] > 0).sum()))
        np.testing.assert_allclose(got[i, kept], ref[i, kept], rtol=1e-5)
        assert (ref[i, kept] >= kth - 1e-6).all()  # they are the best n_nb


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 30),
    n_nb=st.integers(1, 40),
    chunk=st.integers(1, 500),
    seed=st.integers(0, 10_000),
    thr=st.sampled_from([0.0, 0.3]),
)
def test_top_neighbors_chunk_independent(n: int, n_nb: int, chunk: int, seed: int, thr: float) -> None:
    x = sp.random(n, 8, density=0.4, random_state=np.random.default_rng(seed), format="csr")
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = (sp.diags(np.where(norms > 0, 1 / np.where(norms > 0, norms, 1), 0)) @ x).tocsr()
    small = top_neighbors(x, n_nb, min_similarity=thr, chunk_cells=chunk)
    big = top_neighbors(x, n_nb, min_similarity=thr)
    np.testing.assert_allclose(np.sort(small.toarray(), axis=1), np.sort(big.toarray(), axis=1), rtol=1e-6)
    counts = np.diff(small.indptr)
    assert (counts <= min(n_nb, n - 1)).all()
    assert (small.data > thr).all()
    assert small.diagonal().sum() == 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_q=st.integers(1, 6))
def test_max_aggregate_matches_dense(seed: int, n_q: int) -> None:
    rng = np.random.default_rng(seed)
    nb = sp.random(12, 12, density=0.3, random_state=np.random.default_rng(seed), format="csr")
    ctx = sp.csr_matrix((rng.random((n_q, 12)) < 0.25).astype(float))
    got = max_aggregate(ctx, nb)
    dense = nb.toarray()
    want = np.zeros((n_q, 12))
    for q in range(n_q):
        rows = np.flatnonzero(ctx[q].toarray()[0])
        if len(rows):
            want[q] = dense[rows].max(axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_item_text_joins_fields() -> None:
    cat = pd.DataFrame({C.TITLE: ["Red mug", ""], C.DESCRIPTION: ["a mug", ""], C.CATEGORY: ["mugs", "cards"]})
    assert item_text(cat, "title+description+category").tolist() == ["Red mug a mug mugs", "cards"]
    assert item_text(cat, "title").tolist() == ["Red mug", ""]


def test_no_catalog_text_is_a_data_error() -> None:
    inter = pd.DataFrame({C.BASKET: ["b1", "b1"], C.ITEM: ["x", "y"]})
    ds = Dataset.from_frames(inter, name="bare")
    with pytest.raises(DataError, match=r"no catalog text.*give --catalog or use a loader with descriptions"):
        ContentAdapter().fit(ds)


def test_empty_fields_and_empty_vocabulary() -> None:
    ds = shop(TITLES, BASKETS)  # titles only
    with pytest.raises(DataError, match="no text in fields 'description'"):
        ContentAdapter(fields="description").fit(ds)
    with pytest.raises(DataError, match="min_df"):
        ContentAdapter(min_df=50).fit(ds)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"min_df": 0}, "min_df"),
        ({"min_similarity": 1.5}, "min_similarity"),
        ({"popularity_weight": -0.1}, "popularity_weight"),
        ({"aggregation": "mean"}, "aggregation"),
        ({"ngrams": "word1-3"}, "ngrams"),
        ({"fields": "title+price"}, "fields"),
        ({"max_features": -1}, "max_features"),
        ({"sublinear_tf": "yes"}, "sublinear_tf"),
    ],
)
def test_out_of_range_hyperparameters(params: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=f"'{name}'"):
        ContentAdapter(**params)


def test_refit_starts_over() -> None:
    ds = toy_dataset()
    a = ContentAdapter(n_neighbors=3).fit(ds)
    first = a.neighbors_.copy()
    a.fit(shop(TITLES, BASKETS))
    assert a.neighbors_.shape == (5, 5)
    a.fit(ds)
    assert (a.neighbors_ != first).nnz == 0
