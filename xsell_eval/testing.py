"""Reusable test helpers shipped with the package: a toy shop and the adapter conformance suite.

Third-party adapter authors call :func:`check_adapter` in their own tests::

    from xsell_eval.testing import check_adapter
    def test_my_adapter():
        check_adapter(lambda seed: MyAdapter(seed=seed))

The suite hands the adapter :class:`~xsell_eval.queries.Requests` only, as the pipeline
does: an adapter that reads the targets (or anything else a request does not carry) fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from xsell_eval.adapters.base import BaseAdapter
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, NotFittedError
from xsell_eval.queries import Queries, Recommendations, Requests


def toy_interactions(
    *, seed: int = 0, n_users: int = 60, n_items: int = 40, n_baskets: int = 500, n_days: int = 100
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small shop with structure: 4 categories, item pairs bought together, a few guests.

    Returns ``(interactions, catalog)`` in canonical columns.
    """
    rng = np.random.default_rng(seed)
    cat = np.arange(n_items) % 4
    names = np.array(["mugs", "candles", "bags", "cards"])
    pop = rng.zipf(1.6, n_items).astype(float)
    pop /= pop.sum()
    partner = (np.arange(n_items) + 1) % n_items  # item i is often bought with i+1
    user_of = rng.integers(0, n_users, n_baskets)
    day = np.sort(rng.integers(0, n_days, n_baskets))
    size = rng.integers(2, 7, n_baskets)
    rows_b = np.repeat(np.arange(n_baskets), size)
    items = rng.choice(n_items, size=len(rows_b), p=pop)
    pair_b = np.flatnonzero(rng.random(n_baskets) < 0.6)
    extra_b = pair_b
    anchor = items[np.searchsorted(rows_b, extra_b)]
    rows_b = np.concatenate([rows_b, extra_b])
    items = np.concatenate([items, partner[anchor]])
    user = np.array([f"u{u}" for u in user_of], dtype=object)[rows_b]
    guest = rng.random(n_baskets) < 0.05
    user[guest[rows_b]] = None
    price = np.round(1.0 + cat * 2.5 + (np.arange(n_items) % 5) * 0.5, 2)
    inter = pd.DataFrame(
        {
            C.USER: user,
            C.BASKET: [f"b{b:05d}" for b in rows_b],
            C.ITEM: [f"i{i:03d}" for i in items],
            C.TIMESTAMP: pd.Timestamp("2024-01-01") + pd.to_timedelta(day[rows_b], unit="D"),
            C.QUANTITY: rng.integers(1, 4, len(rows_b)).astype(float),
            C.PRICE: price[items],
        }
    ).drop_duplicates([C.BASKET, C.ITEM])
    catalog = pd.DataFrame(
        {
            C.ITEM: [f"i{i:03d}" for i in range(n_items)],
            C.TITLE: [f"{names[c]} item {i}" for i, c in enumerate(cat)],
            C.DESCRIPTION: [f"a lovely {names[c]} number {i % 7}" for i, c in enumerate(cat)],
            C.CATEGORY: names[cat],
            C.PRICE: price,
        }
    )
    return inter.reset_index(drop=True), catalog


def toy_dataset(*, seed: int = 0, **kwargs: int) -> Dataset:
    """:func:`toy_interactions` as a :class:`Dataset` named ``"toy"``."""
    inter, catalog = toy_interactions(seed=seed, **kwargs)
    return Dataset.from_frames(inter, catalog, name="toy")


def toy_queries(ds: Dataset, *, seed: int = 0, protocol: str = "basket-completion") -> Queries:
    """Test-period queries of a temporal split of ``ds`` (history = train)."""
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split

    split = make_split(ds, "temporal")
    return build_queries(split.train, split.test, protocol, seed=seed)


def conformance_data(*, seed: int = 0) -> tuple[Dataset, Requests]:
    """Training data and test-period :class:`Requests` of the toy shop: what :func:`check_adapter` uses.

    Built here so that nothing of the test period except the requests outlives the call.
    """
    from xsell_eval.protocols import build_queries
    from xsell_eval.split import make_split

    split = make_split(toy_dataset(seed=seed), "temporal")
    return split.train, build_queries(split.train, split.test, seed=seed).requests


def _digest(requests: Requests) -> str:
    """Hash of every array of ``requests`` (to detect an adapter that modifies its input)."""
    h = hashlib.sha256()
    c = requests.context
    for arr in (requests.query_id, requests.user_idx, requests.user_history, c.indptr, c.indices, c.data):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(np.ascontiguousarray(requests.context_value, dtype=np.float64).tobytes())
    return h.hexdigest()


def _recommend(adapter: Any, requests: Requests, k: int, who: str) -> Recommendations:
    """``adapter.recommend(requests, k)``; reading what a request does not carry fails with a clear message."""
    try:
        recs = adapter.recommend(requests, k)
    except AttributeError as exc:
        if not isinstance(exc.obj, Requests):
            raise
        raise AssertionError(
            f"{who}: recommend() read '{exc.name}', which a request does not carry: adapters get Requests only "
            "(query_id, user_idx, timestamp, context, context_value, user_history, protocol); "
            "the targets stay with the evaluator"
        ) from exc
    if not isinstance(recs, Recommendations):
        raise AssertionError(f"{who}: recommend() must return Recommendations, got {type(recs).__name__}")
    return recs


def _check_recs(recs: Recommendations, queries: Requests | Queries, k: int, who: str) -> None:
    n = len(queries)
    if recs.items.shape != (n, k):
        raise AssertionError(f"{who}: items shape {recs.items.shape}, expected {(n, k)}")
    items, scores = recs.items, recs.scores
    valid = items >= 0
    if not np.array_equal(valid, np.isfinite(scores)):
        raise AssertionError(f"{who}: item -1 must go with score NaN and real items with finite scores")
    if (items >= queries.n_items).any():
        raise AssertionError(f"{who}: item index out of range")
    # padding only at the end of each row
    if (np.diff(valid.astype(np.int8), axis=1) > 0).any():
        raise AssertionError(f"{who}: padding (-1) must come after all real items")
    # unique items per row
    srt = np.sort(np.where(valid, items, -1 - np.arange(k)[None, :]), axis=1)
    if (np.diff(srt, axis=1) == 0).any():
        raise AssertionError(f"{who}: duplicate items in a recommendation list")
    # no context item
    if valid.any():
        r = np.repeat(np.arange(n), k).reshape(n, k)[valid]
        hit = np.asarray(queries.context[r, items[valid]]).ravel()
        if (hit != 0).any():
            raise AssertionError(f"{who}: recommended a context item (query row {int(r[np.flatnonzero(hit)[0]])})")
    # non-increasing scores
    s = np.where(valid, scores, np.nan)
    d = np.diff(s, axis=1)  # NaN where padding is involved
    if (np.nan_to_num(d, nan=0.0) > 1e-12).any():
        raise AssertionError(f"{who}: scores are not sorted in non-increasing order")
    if recs.fallback is not None and len(recs.fallback) != n:
        raise AssertionError(f"{who}: fallback has length {len(recs.fallback)}, expected {n}")


def check_hyperparams(adapter: type[BaseAdapter] | BaseAdapter, *, required: dict[str, object] | None = None) -> None:
    """Check an adapter's declared hyperparameters (class, or instance when they depend on construction).

    Every declared parameter: a unique name with help text; its default is valid and
    unchanged by validation; categorical defaults are among the choices; a tunable number has
    ``low <= tune_low < tune_high <= high`` (the tuning range inside the valid range, both ends
    valid), and a log-scaled range starts above 0; an ``active_if`` condition names an earlier
    parameter and values valid for it. The tuning search space builds from the
    declaration, and the adapter class accepts its own defaults (plus ``required``: values for
    parameters whose default means "must be given", like business-rules' ``path``).

    Raises:
        AssertionError: naming the adapter and the first parameter that failed.
    """
    from xsell_eval.tuning.space import search_space

    cls = adapter if isinstance(adapter, type) else type(adapter)
    who = f"adapter '{adapter.name or cls.__name__}'"
    names = [p.name for p in adapter.hyperparams]
    if len(set(names)) != len(names):
        raise AssertionError(f"{who}: duplicate hyperparameter names in {names}")
    for p in adapter.hyperparams:
        label = f"{who}, hyperparameter '{p.name}'"
        if not p.help:
            raise AssertionError(f"{label}: no help text")
        try:
            value = p.validate(p.default)
        except ConfigError as exc:
            raise AssertionError(f"{label}: default {p.default!r} is invalid: {exc}") from None
        if value != p.default or type(value) is not type(p.default):
            raise AssertionError(f"{label}: validation changes the default {p.default!r} into {value!r}")
        if p.choices is not None and p.default not in p.choices:
            raise AssertionError(f"{label}: default {p.default!r} not among the choices {list(p.choices)}")
        if p.active_if is not None:
            parent, values = p.active_if
            earlier = {q.name: q for q in adapter.hyperparams[: names.index(p.name)]}
            if parent not in earlier:
                raise AssertionError(f"{label}: active_if names '{parent}', which is not declared before it")
            for v in values:
                try:
                    earlier[parent].validate(v)
                except ConfigError as exc:
                    raise AssertionError(f"{label}: active_if value {v!r} is not valid for '{parent}': {exc}") from None
        if p.kind not in ("int", "float") or not p.tunable:
            continue
        lo = p.tune_low if p.tune_low is not None else p.low
        hi = p.tune_high if p.tune_high is not None else p.high
        if lo is None or hi is None:
            raise AssertionError(f"{label}: tunable but without a bounded tuning range (tune_low/tune_high)")
        if not lo < hi:
            raise AssertionError(f"{label}: tuning range [{lo}, {hi}] is empty")
        if (p.low is not None and lo < p.low) or (p.high is not None and hi > p.high):
            raise AssertionError(f"{label}: tuning range [{lo}, {hi}] outside the valid range [{p.low}, {p.high}]")
        if p.log and lo <= 0:
            raise AssertionError(f"{label}: log-scaled tuning range must start above 0, starts at {lo}")
    search_space(adapter)  # raises ConfigError on a declaration the tuner cannot use
    if isinstance(adapter, type):
        defaults = {p.name: p.default for p in adapter.hyperparams}
        defaults.update(required or {})
        got = adapter(seed=0, **defaults).get_params()
        if {k: got[k] for k in defaults} != defaults:
            raise AssertionError(f"{who}: get_params() does not return the declared defaults")


def check_adapter(
    factory: Callable[[int], Any],
    *,
    train: Dataset | None = None,
    requests: Requests | Queries | None = None,
    k: int = 5,
) -> None:
    """The conformance suite every registered adapter must pass.

    ``factory(seed)`` returns a fresh, unfitted adapter (any class with the
    :class:`~xsell_eval.adapters.base.Adapter` members). The adapter gets
    :class:`~xsell_eval.queries.Requests` only (given :class:`Queries`, their requests):
    reading a target, or any attribute a request lacks, fails. Checks: recommend-before-fit
    raises NotFittedError; the declared hyperparameters (:func:`check_hyperparams`, when the
    class declares any); fit returns self; k < 1 raises ConfigError; the result is
    Recommendations; output shape, k unique items, padding, no context items, sorted
    scores; the requests are not modified; determinism under a seed (two instances, and a
    refit); batch independence; empty request batches.

    Raises:
        AssertionError: naming the first property that failed.
    """
    if train is None or requests is None:
        train, requests = conformance_data()
    if isinstance(requests, Queries):
        requests = requests.requests
    before = _digest(requests)
    a = factory(0)
    who = f"adapter '{getattr(a, 'name', '') or type(a).__name__}'"
    if hasattr(a, "hyperparams"):
        check_hyperparams(a)
    try:
        a.recommend(requests, k)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{who}: recommend() before fit() must raise NotFittedError")
    fitted = a.fit(train)
    if fitted is not a:
        raise AssertionError(f"{who}: fit() must return self")
    for bad_k in (0, -1):
        try:
            a.recommend(requests, bad_k)
        except ConfigError:
            pass
        else:
            raise AssertionError(f"{who}: k={bad_k} must raise ConfigError")
    recs = _recommend(a, requests, k, who)
    _check_recs(recs, requests, k, who)
    if _digest(requests) != before:
        raise AssertionError(f"{who}: recommend() modified the requests it was given")
    if recs.adapter != a.name:
        raise AssertionError(f"{who}: Recommendations.adapter is {recs.adapter!r}")
    if not (recs.items >= 0).any():
        raise AssertionError(f"{who}: returned no item at all on the toy shop")
    b = factory(0).fit(train)
    recs_b = _recommend(b, requests, k, who)
    if not np.array_equal(recs.items, recs_b.items):
        raise AssertionError(f"{who}: two instances with the same seed gave different recommendations")
    a.fit(train)
    recs_c = _recommend(a, requests, k, who)
    if not np.array_equal(recs.items, recs_c.items):
        raise AssertionError(f"{who}: a refit with the same seed gave different recommendations")
    # batch independence: a sub-batch gets the same answers as in the full run
    sub = np.arange(0, len(requests), 3)
    recs_sub = _recommend(a, requests.take(sub), k, who)
    if not np.array_equal(recs_sub.items, recs.items[sub]):
        raise AssertionError(f"{who}: answers depend on which other queries are in the batch")
    empty = _recommend(a, requests.take(np.zeros(0, dtype=np.int64)), k, who)
    if empty.items.shape != (0, k):
        raise AssertionError(f"{who}: empty query batch must give shape (0, k)")
    # larger k than candidates must pad, not fail
    few = requests.take(np.arange(min(3, len(requests))))
    big = _recommend(a, few, requests.n_items + 5, who)
    _check_recs(big, few, requests.n_items + 5, who)
