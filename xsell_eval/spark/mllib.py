"""Adapters that train on Spark MLlib: ``spark-als`` (ALS, implicit preferences) and ``spark-fpgrowth``.

Both follow the Spark adapter protocol of the Spark engine::

    fit(train)                 train:   user_idx int (-1 = guest), item_idx int, basket_idx long, ...
    recommend(queries, k)      queries: query_id long, user_idx int, cart array<int> (the revealed items)
        -> DataFrame           query_id long, rank int (1-based), item_idx int, score double

and share these rules: cart items are never recommended; a query for which the model has
fewer than ``k`` candidates is filled with the most bought training items (see
:func:`popular_fill`); ranks are deterministic. Only scalars (basket counts, the number of
rules, the longest cart) are collected to the driver, except the ALS item-factor matrix
(see :class:`SparkALSAdapter`). pyspark is imported lazily (extra ``[spark]``).

``spark-als``
    :class:`pyspark.ml.recommendation.ALS` with ``implicitPrefs=True`` on the user × item
    matrix ``r_ui`` = number of the user's training baskets containing the item (guest lines
    are not used), as the single-machine ``als`` adapter. Query vector: a user with a
    trained factor gets that factor; a guest or a user unknown to the model gets the cart
    folded in by the exact least-squares user step Spark's ALS itself solves, each cart
    item counted as one purchase (``r = 1``)::

        x_q = (YᵀY + α Σ_{i∈cart} y_i y_iᵀ + λ·n_cart·I)⁻¹ (1 + α) Σ_{i∈cart} y_i

    (Spark scales λ by the number of the user's observed items, "ALS-WR"; the fold-in does
    the same, so folding a user's whole history in reproduces the factor Spark trained.)
    Scores ``x_q · y_i`` over every item with a factor, cart items removed, top ``k`` by
    score desc then item_idx asc. A query with no vector (a guest whose cart has no item
    with a factor, or an empty cart) has no ALS candidates and is served by the fallback.
    The item-factor matrix (items × factors float32: 50k items × 64 factors = 12.8 MB)
    is collected once at fit and broadcast; queries are scored in blocks of 512 by
    ``mapInPandas`` with numpy, so scoring is a matrix product per block instead of a
    (queries × catalog)-row Spark cross join.

``spark-fpgrowth``
    :class:`pyspark.ml.fpm.FPGrowth` mines the frequent itemsets of the training baskets;
    the single-consequent rules ``A ⇒ {j}`` (``|A| + 1 <= max_len``) and their measures are
    derived from the itemsets with DataFrame joins, with the definitions of
    :mod:`xsell_eval.mining` (so they are the rules ``rules mine`` and R arules give): the
    minimum count is :func:`xsell_eval.mining.min_count_for` (exact where
    ``ceil(min_support · n)`` overshoots), confidence is kept at ``>= min_confidence −
    1e-12``. Served like the ``rules`` adapter: a rule fires when its whole antecedent is
    in the cart; an item's score is the max (or sum) of the ``metric`` of the fired rules
    that recommend it; ties go to the item bought in more training baskets, then to the
    lower item_idx; conviction of certain rules is taken at confidence ``count(A) /
    (count(A) + 1)``. FPGrowth has no length limit, so every frequent itemset is mined and
    the longer ones are dropped afterwards (same result, more work at low supports).
    ``aggregation="sum"`` adds in Spark's order, which can differ from the single-machine
    adapter's in the last bit, so two items tied there may come out in the other order.

Fallback (both): the free slots of a query are filled with the most bought training
items (basket count desc, item_idx asc) that are neither in the cart nor already
recommended, scored ``min(0, lowest model score of the query) − 1 + share / 2`` (share =
fraction of training baskets containing the item): strictly below every model score of the
query — the ``rules`` adapter's convention. ``fallback="none"`` (spark-fpgrowth) leaves
the list short instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xsell_eval._imports import require
from xsell_eval.errors import ConfigError, DataError, NotFittedError
from xsell_eval.mining import CONFIDENCE_TOL, min_count_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

TRAIN_COLUMNS = ("user_idx", "item_idx", "basket_idx")
QUERY_COLUMNS = ("query_id", "user_idx", "cart")
OUTPUT_SCHEMA = "query_id long, rank int, item_idx int, score double"
METRICS = ("confidence", "lift", "conviction", "leverage")
AGGREGATIONS = ("max", "sum")
FALLBACKS = ("popular", "none")
SCORE_BLOCK = 512
"""Queries scored per numpy block by spark-als (block × items float64 scores)."""


def _pyspark() -> Any:
    """``pyspark.sql.functions`` (raises MissingExtraError with the install hint when absent)."""
    require("pyspark", extra="spark")
    from pyspark.sql import functions

    return functions


def check_columns(df: DataFrame, needed: tuple[str, ...], what: str) -> None:
    """Raise DataError naming the columns of ``needed`` that ``df`` lacks."""
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(
            f"{what} is missing the column(s) {', '.join(missing)}; expected {', '.join(needed)} "
            f"(found: {', '.join(df.columns) or 'none'})"
        )


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def _number(adapter: str, name: str, value: Any, *, low: float, high: float = math.inf, integer: bool = False) -> Any:
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not low <= value <= high or not math.isfinite(float(value)):
        kind = "an integer" if integer else "a number"
        span = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"adapter '{adapter}': hyperparameter '{name}' must be {kind} {span}, got {value!r}")
    return int(value) if integer else float(value)


def _choice(adapter: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(
            f"adapter '{adapter}': hyperparameter '{name}' must be one of {', '.join(choices)}, got {value!r}"
        )
    return str(value)


# --------------------------------------------------------------------------- popularity
class _Popularity:
    """Training basket counts per item (a small DataFrame, cached) and the number of training baskets."""

    def __init__(self, train: DataFrame) -> None:
        f = _pyspark()
        pairs = train.select(f.col("basket_idx").cast("long"), f.col("item_idx").cast("int")).distinct()
        self.counts: DataFrame = (
            pairs.groupBy("item_idx").agg(f.count(f.lit(1)).cast("long").alias("popularity")).cache()
        )
        self.n_baskets = int(train.select("basket_idx").distinct().count())

    def unpersist(self) -> None:
        self.counts.unpersist()


def popular_fill(chosen: DataFrame, queries: DataFrame, pop: _Popularity, k: int) -> DataFrame:
    """``chosen`` (query_id, rank, item_idx, score; ranks 1..n ≤ k) completed to k per query with popular items.

    Free slots take the most bought training items (count desc, item_idx asc) not in the
    cart and not already chosen, scored ``min(0, lowest chosen score) − 1 + share / 2``.
    Only the ``k + longest cart`` most popular items can be needed, so every query is paired
    with that many items at most. ``chosen`` is read once: chosen rows and popular
    candidates are one union, resolved by window functions (no self-join that would compute
    an expensive ``chosen`` — ALS scoring — several times).
    """
    f = _pyspark()
    from pyspark.sql import Window

    longest = queries.agg(f.max(f.size("cart"))).first()
    width = k + max(int(longest[0] or 0), 0) if longest is not None else k
    top = (
        pop.counts.orderBy(f.desc("popularity"), f.asc("item_idx"))
        .limit(width)
        .withColumn("pop_pos", f.row_number().over(Window.orderBy(f.desc("popularity"), f.asc("item_idx"))))
    )
    model = chosen.select(
        f.col("query_id").cast("long"),
        f.col("item_idx").cast("int"),
        f.col("rank").cast("int"),
        f.col("score").cast("double"),
        f.lit(0).alias("src"),
        f.lit(None).cast("int").alias("pop_pos"),
        f.lit(None).cast("long").alias("popularity"),
    )
    popular = (
        queries.select(f.col("query_id").cast("long"), "cart")
        .crossJoin(f.broadcast(top))
        .filter(~f.coalesce(f.array_contains("cart", f.col("item_idx")), f.lit(False)))
        .select(
            "query_id",
            f.col("item_idx").cast("int"),
            f.lit(None).cast("int").alias("rank"),
            f.lit(None).cast("double").alias("score"),
            f.lit(1).alias("src"),
            f.col("pop_pos").cast("int"),
            f.col("popularity").cast("long"),
        )
    )
    per_query = Window.partitionBy("query_id")
    both = (
        model.unionByName(popular)
        # a popular item the model already chose is not a fill candidate
        .withColumn("first_src", f.min("src").over(Window.partitionBy("query_id", "item_idx")))
        .filter((f.col("src") == 0) | (f.col("first_src") == 1))
        .withColumn("n_chosen", f.sum(1 - f.col("src")).over(per_query))
        .withColumn("lowest", f.min(f.when(f.col("src") == 0, f.col("score"))).over(per_query))
        .withColumn("fill_pos", f.row_number().over(Window.partitionBy("query_id", "src").orderBy("pop_pos")))
        .filter((f.col("src") == 0) | (f.col("fill_pos") <= f.lit(k) - f.col("n_chosen")))
    )
    base = f.least(f.lit(0.0), f.coalesce(f.col("lowest"), f.lit(0.0))) - f.lit(1.0)
    fill_score = base + f.lit(0.5) * f.col("popularity") / f.lit(float(max(pop.n_baskets, 1)))
    is_model = f.col("src") == 0
    return both.select(
        "query_id",
        f.when(is_model, f.col("rank")).otherwise(f.col("n_chosen") + f.col("fill_pos")).cast("int").alias("rank"),
        "item_idx",
        f.when(is_model, f.col("score")).otherwise(fill_score).cast("double").alias("score"),
    )


def _ranked(cand: DataFrame, k: int, pop: _Popularity | None) -> DataFrame:
    """Top k of (query_id, item_idx, score) candidates: score desc, [popularity desc,] item_idx asc."""
    f = _pyspark()
    from pyspark.sql import Window

    order = [f.desc("score")]
    if pop is not None:
        cand = cand.join(pop.counts, "item_idx", "left").fillna({"popularity": 0})
        order.append(f.desc("popularity"))
    order.append(f.asc("item_idx"))
    w = Window.partitionBy("query_id").orderBy(*order)
    return (
        cand.withColumn("rank", f.row_number().over(w))
        .filter(f.col("rank") <= k)
        .select(
            f.col("query_id").cast("long"),
            f.col("rank").cast("int"),
            f.col("item_idx").cast("int"),
            f.col("score").cast("double"),
        )
    )


# --------------------------------------------------------------------------- ALS
def fold_in(
    factors: np.ndarray, rows: np.ndarray, positions: np.ndarray, ratings: np.ndarray, *, alpha: float, reg: float
) -> np.ndarray:
    """Spark's implicit-ALS user step for ``n`` profiles given as (row, item position, rating) triples.

    ``x = (YᵀY + Σ α r_i y_i y_iᵀ + λ·n_obs·I)⁻¹ Σ (1 + α r_i) y_i`` over the profile's items
    with ``r_i > 0`` (``n_obs`` of them), as ``ALS.computeFactors`` with ``implicitPrefs``.

    Args:
        factors: item factors Y (items × f).
        rows: profile (output row) of each entry, values in ``0..n-1``, non-decreasing.
        positions: row of ``factors`` of each entry.
        ratings: r of each entry (> 0).
        alpha, reg: ALS's ``alpha`` and ``regParam``.

    Returns:
        (n × f) float64 vectors, ``n = rows.max() + 1``; rows without entries are zero.

    Example:
        >>> y = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> # (YᵀY + 1·y₀y₀ᵀ + 0.5·1·I) x = 2·y₀  ->  x = (2 / 2.5, 0)
        >>> fold_in(y, np.array([0]), np.array([0]), np.array([1.0]), alpha=1.0, reg=0.5).round(4).tolist()
        [[0.8, 0.0]]
    """
    y = np.asarray(factors, dtype=np.float64)
    f_dim = y.shape[1]
    n = int(rows.max()) + 1 if len(rows) else 0
    out = np.zeros((n, f_dim))
    if not n:
        return out
    gram = y.T @ y
    yi = y[positions]
    c1 = alpha * np.asarray(ratings, dtype=np.float64)
    a = np.broadcast_to(gram, (n, f_dim, f_dim)).copy()
    outer = (c1[:, None, None] * yi[:, :, None]) * yi[:, None, :]
    np.add.at(a, rows, outer)
    b = np.zeros((n, f_dim))
    np.add.at(b, rows, (1.0 + c1)[:, None] * yi)
    n_obs = np.bincount(rows, minlength=n)
    a += (reg * n_obs)[:, None, None] * np.eye(f_dim)
    has = n_obs > 0
    out[has] = np.linalg.solve(a[has], b[has][:, :, None])[:, :, 0]
    return out


def cart_positions(carts: list[Any], pos_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query row, factor row) of every cart item that has a factor; ``pos_of`` maps item_idx -> factor row or -1.

    Example:
        >>> cart_positions([[3, 0], None, [7]], np.array([-1, 1, -1, 0]))
        (array([0]), array([0]))
    """
    lens = np.array([0 if c is None else len(c) for c in carts], dtype=np.int64)
    parts = [np.asarray(c, dtype=np.int64) for c in carts if c is not None and len(c)]
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(carts), dtype=np.int64), lens)
    inside = (flat >= 0) & (flat < len(pos_of))
    pos = np.full(len(flat), -1, dtype=np.int64)
    pos[inside] = pos_of[flat[inside]]
    ok = pos >= 0
    return rows[ok], pos[ok]


def _top_rows(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise top k of a dense block among finite scores: (row, rank 1.., column), score desc then id asc."""
    n, m = scores.shape
    kk = min(k, m)
    if n == 0 or kk == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    kth = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1]
    r, c = np.nonzero((scores >= kth[:, None]) & np.isfinite(scores))
    order = np.lexsort((ids[c], -scores[r, c], r))
    r, c = r[order], c[order]
    start = np.searchsorted(r, np.arange(n))
    rank = np.arange(len(r)) - start[r] + 1
    keep = rank <= k
    return r[keep], rank[keep], c[keep]


class SparkALSAdapter:
    """MLlib ALS with implicit preferences; known users by their factor, others by cart fold-in.

    Hyperparameters: ``factors`` (rank), ``reg`` (regParam), ``alpha`` (confidence scale),
    ``iterations`` (maxIter), ``seed``. See the module docstring for the scoring.
    """

    name = "spark-als"

    def __init__(
        self, *, factors: int = 64, reg: float = 0.01, alpha: float = 10.0, iterations: int = 15, seed: int = 0
    ) -> None:
        n = self.name
        self.factors = _number(n, "factors", factors, low=1, integer=True)
        self.reg = _number(n, "reg", reg, low=0.0)
        self.alpha = _number(n, "alpha", alpha, low=0.0)
        self.iterations = _number(n, "iterations", iterations, low=1, integer=True)
        self.seed = _number(n, "seed", seed, low=-(2**63), high=2**63 - 1, integer=True)
        self._fitted = False

    def fit(self, train: DataFrame) -> None:
        """Train ALS on r_ui = number of the user's training baskets containing the item."""
        f = _pyspark()
        from pyspark.ml.recommendation import ALS

        check_columns(train, TRAIN_COLUMNS, f"{self.name}: training data")
        self.popularity_ = _Popularity(train)
        counts = (
            train.filter(f.col("user_idx") >= 0)
            .select(f.col("user_idx").cast("int"), f.col("item_idx").cast("int"), f.col("basket_idx"))
            .distinct()
            .groupBy("user_idx", "item_idx")
            .agg(f.count(f.lit(1)).cast("float").alias("rating"))
        )
        als = ALS(
            rank=self.factors,
            maxIter=self.iterations,
            regParam=self.reg,
            alpha=self.alpha,
            implicitPrefs=True,
            seed=self.seed,
            userCol="user_idx",
            itemCol="item_idx",
            ratingCol="rating",
            coldStartStrategy="drop",
        )
        self.model_ = als.fit(counts)
        self.user_factors_: DataFrame = self.model_.userFactors.select(
            f.col("id").alias("user_idx"), f.col("features").alias("user_features")
        )
        items = self.model_.itemFactors.orderBy("id").toPandas()  # items × factors: the one collected table
        self.item_ids_ = items["id"].to_numpy(dtype=np.int64)
        self.item_factors_ = (
            np.stack(items["features"].tolist()).astype(np.float32)
            if len(items)
            else np.zeros((0, self.factors), np.float32)
        )
        self._fitted = True

    def recommend(self, queries: DataFrame, k: int) -> DataFrame:
        """Top-k per query (see the module docstring), filled with popular items when ALS has too few."""
        if not self._fitted:
            raise NotFittedError(f"adapter '{self.name}': call fit() before recommend()")
        k = _check_k(k)
        check_columns(queries, QUERY_COLUMNS, f"{self.name}: queries")
        f = _pyspark()
        spark = queries.sparkSession
        bc = spark.sparkContext.broadcast((self.item_ids_, self.item_factors_))
        this = _ALSScorer(self.alpha, self.reg, bc)
        joined = queries.select("query_id", f.col("user_idx").cast("int"), "cart").join(
            self.user_factors_, "user_idx", "left"
        )
        chosen = joined.mapInPandas(lambda it: this.score(it, k), OUTPUT_SCHEMA)
        return popular_fill(chosen, queries, self.popularity_, k)


class _ALSScorer:
    """The picklable part of spark-als scoring (runs in the Python workers, factors from a broadcast)."""

    def __init__(self, alpha: float, reg: float, bc: Any) -> None:
        self.alpha, self.reg, self.bc = alpha, reg, bc

    def score(self, batches: Iterator[pd.DataFrame], k: int) -> Iterator[pd.DataFrame]:
        ids, factors = self.bc.value
        pos_of = position_lookup(ids)
        y = factors.astype(np.float64)
        for batch in batches:
            for a in range(0, len(batch), SCORE_BLOCK):
                part = batch.iloc[a : a + SCORE_BLOCK]
                rows, pos = cart_positions(part["cart"].tolist(), pos_of)
                vec, has = query_vectors(y, part["user_features"].tolist(), rows, pos, alpha=self.alpha, reg=self.reg)
                scores = vec @ y.T
                scores[~has] = -np.inf
                scores[rows, pos] = -np.inf  # cart items are never recommended
                r, rank, c = _top_rows(scores, ids, k)
                yield pd.DataFrame(
                    {
                        "query_id": part["query_id"].to_numpy(dtype=np.int64)[r],
                        "rank": rank.astype(np.int32),
                        "item_idx": ids[c].astype(np.int32),
                        "score": scores[r, c].astype(np.float64),
                    }
                )


def position_lookup(ids: np.ndarray) -> np.ndarray:
    """item_idx -> row of the factor table (-1 for items without a factor)."""
    size = int(ids.max()) + 1 if len(ids) else 0
    pos = np.full(size, -1, dtype=np.int64)
    pos[ids] = np.arange(len(ids))
    return pos


def query_vectors(
    factors: np.ndarray, user_features: list[Any], rows: np.ndarray, positions: np.ndarray, *, alpha: float, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Query vectors of a block (the user factor where given, else the cart fold-in) and which rows have one.

    Args:
        factors: item factors (items × f).
        user_features: per query, the user's trained factor or None.
        rows, positions: the block's cart entries that have a factor (:func:`cart_positions`).
        alpha, reg: ALS's alpha and regParam (for the fold-in).
    """
    n = len(user_features)
    vec = np.zeros((n, factors.shape[1]))
    known = np.array([u is not None for u in user_features], dtype=bool)
    if known.any():
        vec[known] = np.stack([np.asarray(user_features[i], dtype=np.float64) for i in np.flatnonzero(known)])
    cold = ~known[rows]
    has = known.copy()
    if cold.any():
        uniq, inv = np.unique(rows[cold], return_inverse=True)
        vec[uniq] = fold_in(factors, inv, positions[cold], np.ones(len(inv)), alpha=alpha, reg=reg)
        has[uniq] = True
    return vec, has


# --------------------------------------------------------------------------- FPGrowth
class SparkFPGrowthAdapter:
    """MLlib FPGrowth frequent itemsets turned into single-consequent rules, served like ``rules``.

    Hyperparameters (defaults as ``rules``): ``min_support``, ``min_confidence``, ``max_len``,
    ``metric``, ``aggregation``, ``fallback``. See the module docstring.
    """

    name = "spark-fpgrowth"

    def __init__(
        self,
        *,
        min_support: float = 0.001,
        min_confidence: float = 0.1,
        max_len: int = 2,
        metric: str = "confidence",
        aggregation: str = "max",
        fallback: str = "popular",
    ) -> None:
        n = self.name
        self.min_support = _number(n, "min_support", min_support, low=0.0, high=1.0)
        if not self.min_support > 0:
            raise ConfigError(f"adapter '{n}': hyperparameter 'min_support' must be > 0, got {min_support!r}")
        self.min_confidence = _number(n, "min_confidence", min_confidence, low=0.0, high=1.0)
        self.max_len = _number(n, "max_len", max_len, low=2, integer=True)
        self.metric = _choice(n, "metric", metric, METRICS)
        self.aggregation = _choice(n, "aggregation", aggregation, AGGREGATIONS)
        self.fallback = _choice(n, "fallback", fallback, FALLBACKS)
        self._fitted = False

    def fit(self, train: DataFrame) -> None:
        """Mine the frequent itemsets with FPGrowth and derive the rules (cached DataFrame ``rules_``)."""
        f = _pyspark()
        from pyspark.ml.fpm import FPGrowth

        check_columns(train, ("item_idx", "basket_idx"), f"{self.name}: training data")
        self.popularity_ = _Popularity(train)
        n = self.popularity_.n_baskets
        if n == 0:
            raise DataError(f"{self.name}: no training baskets to mine")
        self.min_count_ = min_count_for(self.min_support, n)
        baskets = train.groupBy("basket_idx").agg(f.collect_set(f.col("item_idx").cast("int")).alias("items"))
        # Spark keeps itemsets with freq >= ceil(minSupport * n): ask for exactly min_count_
        fp = FPGrowth(itemsCol="items", minSupport=(self.min_count_ - 0.5) / n, minConfidence=0.0)
        model = fp.fit(baskets)
        sets = (
            model.freqItemsets.select(f.array_sort("items").alias("items"), f.col("freq").cast("long").alias("freq"))
            .filter((f.size("items") <= self.max_len) & (f.col("freq") >= self.min_count_))
            .withColumn("key", f.concat_ws(",", f.col("items").cast("array<string>")))
            .cache()
        )
        self.itemset_counts_ = sets.count()
        self.rules_ = self._rules(sets, n).cache()
        self.n_rules_ = self.rules_.count()
        self._rule_items = self.rules_.select("rule_id", f.explode("antecedent").alias("item_idx")).cache()
        sets.unpersist()
        self._fitted = True

    def _rules(self, sets: DataFrame, n: int) -> DataFrame:
        """Rules A ⇒ {j} from the itemsets: (rule_id, antecedent, consequent, measures, weight)."""
        f = _pyspark()
        counts = sets.select(f.col("key").alias("a_key"), f.col("freq").alias("count_a"))
        singles = sets.filter(f.size("items") == 1).select(
            f.col("items")[0].alias("consequent"), f.col("freq").alias("count_c")
        )
        split = (
            sets.filter(f.size("items") >= 2)
            .select("items", f.col("freq").alias("count"), f.explode("items").alias("consequent"))
            .withColumn("antecedent", f.array_remove("items", f.col("consequent")))
            .withColumn("a_key", f.concat_ws(",", f.col("antecedent").cast("array<string>")))
        )
        nn = f.lit(float(n))
        conf = f.col("count") / f.col("count_a")
        rules = (
            split.join(counts, "a_key")
            .join(singles, "consequent")
            .withColumn("confidence", conf)
            .filter(f.col("confidence") >= f.lit(self.min_confidence - CONFIDENCE_TOL))
            .withColumn("support", f.col("count") / nn)
            .withColumn("antecedent_support", f.col("count_a") / nn)
            .withColumn("consequent_support", f.col("count_c") / nn)
            .withColumn("lift", f.col("confidence") / f.col("consequent_support"))
            .withColumn("leverage", f.col("support") - f.col("antecedent_support") * f.col("consequent_support"))
        )
        if self.metric == "conviction":
            # count_a recovered from the support as the single-machine adapter does
            count_a = f.rint(f.col("antecedent_support") * nn)
            c = f.when(f.col("count") >= count_a, count_a / (count_a + f.lit(1.0))).otherwise(f.col("confidence"))
            weight = (f.lit(1.0) - f.col("consequent_support")) / (f.lit(1.0) - c)
        else:
            weight = f.col(self.metric)
        return rules.select(
            f.concat_ws("=>", "a_key", f.col("consequent").cast("string")).alias("rule_id"),
            "antecedent",
            f.size("antecedent").alias("ante_len"),
            f.col("consequent").cast("int"),
            "count",
            "support",
            "confidence",
            "lift",
            "leverage",
            "antecedent_support",
            "consequent_support",
            weight.cast("double").alias("weight"),
        )

    def recommend(self, queries: DataFrame, k: int) -> DataFrame:
        """Fire the rules on each cart, aggregate per consequent, rank, fill (see the module docstring)."""
        if not self._fitted:
            raise NotFittedError(f"adapter '{self.name}': call fit() before recommend()")
        k = _check_k(k)
        check_columns(queries, QUERY_COLUMNS, f"{self.name}: queries")
        f = _pyspark()
        cart = queries.select(f.col("query_id").cast("long"), f.explode("cart").alias("item_idx")).distinct()
        hits = (
            cart.join(self._rule_items, "item_idx").groupBy("query_id", "rule_id").agg(f.count(f.lit(1)).alias("hit"))
        )
        fired = hits.join(self.rules_.select("rule_id", "ante_len", "consequent", "weight"), "rule_id").filter(
            f.col("hit") == f.col("ante_len")
        )
        agg = f.max("weight") if self.aggregation == "max" else f.sum("weight")
        cand = (
            fired.select("query_id", f.col("consequent").alias("item_idx"), "weight")
            .join(cart, ["query_id", "item_idx"], "left_anti")
            .groupBy("query_id", "item_idx")
            .agg(agg.alias("score"))
            .filter(~f.isnan("score") & (f.abs("score") < f.lit(math.inf)))
        )
        chosen = _ranked(cand, k, self.popularity_)
        if self.fallback == "none":
            return chosen
        return popular_fill(chosen, queries, self.popularity_, k)
