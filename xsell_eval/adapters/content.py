"""``content``: TF-IDF nearest neighbours of the cart, from the catalog text.

The catalog's title, description and category (``train.catalog``, row ``i`` = item
``i``) are turned into L2-normalised TF-IDF vectors (scikit-learn
``TfidfVectorizer``). At fit time the ``n_neighbors`` most similar items of every
item are precomputed (cosine = dot product of unit vectors), in chunks of rows so
that memory stays bounded (a chunk is at most ~16 M similarity cells), and kept as a
sparse item × item matrix ``N``::

    catalog text ──TF-IDF──> X (items × terms, rows unit length)
    N[i, j] = cos(X_i, X_j) for the n_neighbors best j ≠ i (and cos > min_similarity)

    score(query, j) = Σ_{c in context} N[c, j]        (aggregation = "sum")
                    = max_{c in context} N[c, j]      (aggregation = "max")
                      + popularity_weight · log1p(count_j) / log1p(max count)

Only items that are a neighbour of some context item are candidates; the popularity
term re-orders candidates but never adds one. Item popularity is the number of
train baskets containing the item, so with the default ``popularity_weight = 0.01``
near-identical descriptions (the many colour variants of Online Retail, whose
cosines tie or nearly tie) are ordered best-seller first, while a difference of more
than 0.01 in similarity always wins over popularity. ``popularity_weight = 0`` gives
pure content similarity.

The adapter never looks at who the user is, only at the context, so it serves cold
users (with a cart), and items never bought in train (cold items) are recommended
like any other as long as they have catalog text — that is its point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from xsell_eval.adapters.base import BaseAdapter, HyperParam
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import DataError
from xsell_eval.queries import Recommendations, Requests, top_k_sparse
from xsell_eval.similarity import max_gather

#: ``fields`` choices: catalog columns joined with ``+``.
FIELD_CHOICES: tuple[str, ...] = (
    "title+description+category",
    "title+description",
    "title+category",
    "title",
    "description",
)

_FIELD_COLUMNS: dict[str, str] = {"title": C.TITLE, "description": C.DESCRIPTION, "category": C.CATEGORY}

#: ``ngrams`` choices -> (analyzer, ngram_range) of ``TfidfVectorizer``.
NGRAM_CHOICES: dict[str, tuple[str, tuple[int, int]]] = {
    "word1": ("word", (1, 1)),
    "word1-2": ("word", (1, 2)),
    "char_wb3-5": ("char_wb", (3, 5)),
}

_CELLS_PER_CHUNK = 1 << 24  # dense similarity cells computed at once (64 MiB in float32)


def item_text(catalog: pd.DataFrame, fields: str) -> np.ndarray:
    """One document per catalog row: the chosen text columns joined by ``" "``.

    Args:
        catalog: canonical catalog (``title``, ``description``, ``category``).
        fields: columns joined by ``+``, e.g. ``"title+category"``.

    Returns:
        object array of strings, ``""`` where the item has no text in these fields.

    Example:
        >>> cat = pd.DataFrame({C.TITLE: ["Red mug", ""], C.DESCRIPTION: ["", ""], C.CATEGORY: ["mugs", ""]})
        >>> item_text(cat, "title+category").tolist()
        ['Red mug mugs', '']
    """
    cols = [catalog[_FIELD_COLUMNS[f]].astype(object).fillna("").astype(str).str.strip() for f in fields.split("+")]
    text = cols[0]
    for col in cols[1:]:
        text = text.str.cat(col, sep=" ").str.strip()
    return text.to_numpy(dtype=object)


def top_neighbors(
    x: sp.csr_matrix, n_neighbors: int, *, min_similarity: float = 0.0, chunk_cells: int = _CELLS_PER_CHUNK
) -> sp.csr_matrix:
    """Sparse top-``n_neighbors`` cosine neighbours of every row of ``x`` (rows unit length).

    Row ``i`` of the result holds ``cos(x_i, x_j)`` for the ``n_neighbors`` most similar
    ``j ≠ i`` with similarity ``> max(min_similarity, 0)``. Rows are processed in chunks
    of at most ``chunk_cells`` dense cells, so memory is bounded by the chunk plus the
    output (``n_rows × n_neighbors``). Among equal similarities at the boundary the
    choice is deterministic (numpy's introselect on the same input).

    Example:
        >>> x = sp.csr_matrix(np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]))
        >>> top_neighbors(x, 1).toarray().astype(float).round(2).tolist()
        [[0.0, 0.6, 0.0], [0.0, 0.0, 0.8], [0.0, 0.8, 0.0]]
    """
    n = x.shape[0]
    xt = x.T.tocsc().astype(np.float32)
    xf = x.astype(np.float32).tocsr()
    nn = min(n_neighbors, max(n - 1, 0))
    step = max(1, min(n, chunk_cells // max(n, 1)))
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    thr = max(float(min_similarity), 0.0)
    for start in range(0, n if nn > 0 else 0, step):
        stop = min(n, start + step)
        sim = (xf[start:stop] @ xt).toarray()
        local = np.arange(stop - start)
        sim[local, start + local] = -np.inf  # no self-neighbour
        part = np.argpartition(-sim, nn - 1, axis=1)[:, :nn]  # nn <= n - 1
        vals = np.take_along_axis(sim, part, axis=1)
        keep = vals > thr
        r = np.broadcast_to(local[:, None] + start, part.shape)
        rows_out.append(r[keep])
        cols_out.append(part[keep])
        vals_out.append(vals[keep])
    if rows_out:
        rows = np.concatenate(rows_out)
        cols = np.concatenate(cols_out)
        vals = np.concatenate(vals_out)
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0, dtype=np.float32)
    out = sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(n, n))
    out.sort_indices()
    return out


def max_aggregate(context: sp.csr_matrix, neighbors: sp.csr_matrix) -> np.ndarray:
    """Dense ``out[q, j] = max_{c in context_q} neighbors[c, j]`` (0 where no context item reaches j).

    Vectorised: every (query, context item) pair is expanded to the context item's
    neighbour list, then ``np.maximum.at`` reduces into the dense batch matrix.
    """
    n_q = context.shape[0]
    n_items = neighbors.shape[1]
    out = np.zeros((n_q, n_items), dtype=np.float64)
    ctx = context.tocoo()
    if ctx.nnz == 0 or neighbors.nnz == 0:
        return out
    starts = neighbors.indptr[ctx.col]
    lengths = neighbors.indptr[ctx.col + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return out
    q = np.repeat(ctx.row, lengths)
    offs = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = np.repeat(starts, lengths) + offs
    np.maximum.at(out, (q, neighbors.indices[pos]), neighbors.data[pos].astype(np.float64))
    return out


class ContentAdapter(BaseAdapter):
    """TF-IDF nearest neighbours of the context items over the catalog text.

    See the module docstring for the scoring formula.

    Example:
        >>> from xsell_eval.testing import toy_dataset, toy_queries
        >>> ds = toy_dataset()
        >>> recs = ContentAdapter(n_neighbors=5).fit(ds).recommend(toy_queries(ds), k=3)
        >>> recs.items.shape[1]
        3
    """

    name = "content"
    family = "content-based"
    description = "TF-IDF (title, description, category) nearest neighbours of the cart; serves never-sold items"
    serves_cold_users = True
    serves_cold_items = True
    hyperparams = (
        HyperParam(
            "fields",
            "categorical",
            "title+description+category",
            choices=FIELD_CHOICES,
            help="catalog text columns to index, joined with '+'",
        ),
        HyperParam(
            "ngrams",
            "categorical",
            "word1-2",
            choices=tuple(NGRAM_CHOICES),
            help="word unigrams, word uni+bigrams, or character 3-5-grams inside word boundaries",
        ),
        HyperParam(
            "stop_words",
            "categorical",
            "english",
            choices=("english", "none"),
            help="drop scikit-learn's English stop words (word n-grams only)",
            active_if=("ngrams", ("word1", "word1-2")),
        ),
        HyperParam(
            "min_df",
            "int",
            1,
            low=1,
            high=100_000,
            tune_low=1,
            tune_high=5,
            help="ignore terms found in fewer than min_df items",
        ),
        HyperParam("sublinear_tf", "bool", True, help="use 1 + log(tf) instead of raw term counts"),
        HyperParam(
            "max_features",
            "int",
            0,
            low=0,
            high=10_000_000,
            tune_low=500,
            tune_high=50_000,
            log=True,
            help="keep only the most frequent terms (0 = no limit)",
        ),
        HyperParam(
            "n_neighbors",
            "int",
            50,
            low=1,
            high=10_000,
            tune_low=5,
            tune_high=300,
            log=True,
            help="neighbours kept per item (memory: n_items × n_neighbors)",
        ),
        HyperParam(
            "min_similarity",
            "float",
            0.0,
            low=0.0,
            high=1.0,
            tune_low=0.0,
            tune_high=0.5,
            help="drop neighbours with cosine similarity at or below this",
        ),
        HyperParam(
            "aggregation",
            "categorical",
            "sum",
            choices=("sum", "max"),
            help="combine the neighbour lists of several context items by sum or max",
        ),
        HyperParam(
            "popularity_weight",
            "float",
            0.01,
            low=0.0,
            high=100.0,
            tune_low=0.0,
            tune_high=1.0,
            help="weight of normalised log-popularity added to candidates' similarity (0 = pure content)",
        ),
    )

    def _vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        analyzer, ngram_range = NGRAM_CHOICES[self.params["ngrams"]]
        stop = self.params["stop_words"] if analyzer == "word" and self.params["stop_words"] != "none" else None
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=ngram_range,
            stop_words=stop,
            lowercase=True,
            min_df=self.params["min_df"],
            sublinear_tf=self.params["sublinear_tf"],
            max_features=self.params["max_features"] or None,
            norm="l2",
            dtype=np.float32,
        )

    def _fit(self, train: Dataset) -> None:
        if not train.has_catalog_text:
            raise DataError(
                f"adapter 'content': dataset '{train.name}' has no catalog text (title, description or "
                "category) for content: give --catalog or use a loader with descriptions"
            )
        docs = item_text(train.catalog, self.params["fields"])
        has_text = docs != ""
        if not has_text.any():
            raise DataError(
                f"adapter 'content': the catalog of '{train.name}' has no text in fields "
                f"'{self.params['fields']}'; choose other fields (e.g. content:fields=title+description+category)"
            )
        vec = self._vectorizer()
        try:
            x_text = vec.fit_transform(docs[has_text])
        except ValueError as exc:  # empty vocabulary after min_df / stop words
            raise DataError(
                f"adapter 'content': no terms left to index ({exc}); lower 'min_df' "
                f"(now {self.params['min_df']}) or change 'ngrams'/'stop_words'"
            ) from exc
        n_items = train.n_items
        # place the text rows back at their item index (items without text are all-zero rows)
        sel = sp.csr_matrix(
            (np.ones(int(has_text.sum()), dtype=np.float32), (np.flatnonzero(has_text), np.arange(has_text.sum()))),
            shape=(n_items, int(has_text.sum())),
        )
        x = (sel @ x_text).tocsr()
        self.vocabulary_size_ = len(vec.vocabulary_)
        self.neighbors_ = top_neighbors(x, self.params["n_neighbors"], min_similarity=self.params["min_similarity"])
        counts = train.item_basket_count.astype(np.float64)
        top = np.log1p(counts.max()) if counts.max() > 0 else 1.0
        self.popularity_ = np.log1p(counts) / top

    def _candidates(self, batch: Requests) -> sp.csr_matrix:
        """Sparse (n_b × n_items) scores of the items the context's neighbour lists reach."""
        ctx = batch.context.astype(np.float32)
        ctx.data[:] = 1.0
        if self.params["aggregation"] == "sum":
            sim = sp.csr_matrix((ctx @ self.neighbors_).astype(np.float64))
        else:
            sim = max_gather(ctx.tocsr(), self.neighbors_)
        sim.sum_duplicates()
        keep = sim.data > 0
        rows = np.repeat(np.arange(sim.shape[0]), np.diff(sim.indptr))[keep]
        cols = sim.indices[keep]
        vals = sim.data[keep]
        w = self.params["popularity_weight"]
        if w > 0:
            vals = vals + w * self.popularity_[cols]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=sim.shape[0]))])
        return sp.csr_matrix((vals, cols, indptr), shape=sim.shape)

    def _score(self, batch: Requests) -> np.ndarray:
        cand = self._candidates(batch)
        dense = np.full(cand.shape, -np.inf)
        rows = np.repeat(np.arange(cand.shape[0]), np.diff(cand.indptr))
        dense[rows, cand.indices] = cand.data
        return dense

    def _recommend_batch(self, batch: Requests, k: int) -> Recommendations:
        items, top, _ = top_k_sparse(self._candidates(batch), k, exclude=batch.context)
        return Recommendations(items, top, self.name)
