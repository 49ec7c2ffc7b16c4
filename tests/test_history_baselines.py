"""History baselines: ``buy-again``, ``tifu-knn`` (Hu et al. 2020) and ``ease`` (Steck 2019)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval.adapters.buy_again import BuyAgainAdapter
from xsell_eval.adapters.ease import EASEAdapter, ease_memory_bytes, ease_weights
from xsell_eval.adapters.tifu_knn import TIFUKNNAdapter, tifu_weights
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.queries import Requests
from xsell_eval.testing import check_adapter, check_hyperparams, toy_dataset, toy_queries

DAY0 = pd.Timestamp("2024-01-01")


def shop(baskets: list[tuple[str | None, int, list[str]]], items: str = "abcde") -> Dataset:
    """A dataset from (user, day, items) baskets; the catalog holds ``items`` (index = position)."""
    rows = [
        {C.USER: u, C.BASKET: f"b{n:03d}", C.ITEM: i, C.TIMESTAMP: DAY0 + pd.Timedelta(days=d)}
        for n, (u, d, its) in enumerate(baskets)
        for i in its
    ]
    return Dataset.from_frames(pd.DataFrame(rows), pd.DataFrame({C.ITEM: list(items)}))


def queries(
    ds: Dataset,
    users: list[str | None],
    days: list[float | None],
    carts: list[list[str]],
    protocol: str = "basket-completion",
) -> Requests:
    """Requests of the given users at the given days (None: no time) with the given carts."""
    n = len(users)
    pos = {it: i for i, it in enumerate(ds.item_ids)}
    upos = {u: i for i, u in enumerate(ds.user_ids)}
    r = np.repeat(np.arange(n), [len(c) for c in carts])
    c = np.array([pos[i] for cart in carts for i in cart], dtype=np.int64)
    ctx = sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(n, ds.n_items))
    t = np.array(
        [np.datetime64("NaT") if d is None else np.datetime64(DAY0 + pd.Timedelta(days=d)) for d in days],
        dtype="datetime64[ns]",
    )
    users_idx = np.array([-1 if u is None else upos[u] for u in users], dtype=np.int64)
    return Requests(np.arange(n), users_idx, t, ctx, np.full(n, np.nan), np.zeros(n, np.int64), protocol)


def ids(ds: Dataset, row: np.ndarray) -> str:
    return "".join(ds.item_ids[i] if i >= 0 else "-" for i in row)


# u1 buys {a,b} on day 0 and {a,c} on day 10; u2 {d} on day 5; a guest {d,e} on day 5.
BASKETS: list[tuple[str | None, int, list[str]]] = [
    ("u1", 0, ["a", "b"]),
    ("u1", 10, ["a", "c"]),
    ("u2", 5, ["d"]),
    (None, 5, ["d", "e"]),
]


# ----------------------------------------------------------------------------- conformance
@pytest.mark.parametrize(
    "factory",
    [
        lambda s: BuyAgainAdapter(seed=s),
        lambda s: BuyAgainAdapter(seed=s, prior_weight=0.0, half_life_days=1e6),
        lambda s: TIFUKNNAdapter(seed=s),
        lambda s: TIFUKNNAdapter(seed=s, k_neighbors=2, alpha=0.0, group_size=1),
        lambda s: EASEAdapter(seed=s),
        lambda s: EASEAdapter(seed=s, max_items=7, interactions="user", lam=5.0),
    ],
    ids=["buy-again", "buy-again-nodecay", "tifu-knn", "tifu-knn-neighbours", "ease", "ease-small"],
)
def test_conformance(factory) -> None:  # type: ignore[no-untyped-def]
    check_adapter(factory)


@pytest.mark.parametrize("cls", [BuyAgainAdapter, TIFUKNNAdapter, EASEAdapter])
def test_hyperparameter_declarations(cls: type) -> None:
    check_hyperparams(cls)


# ----------------------------------------------------------------------------- buy-again
def test_buy_again_hand_computed() -> None:
    ds = shop(BASKETS)
    a = BuyAgainAdapter(half_life_days=10.0, prior_weight=1.0).fit(ds)
    recs = a.recommend(queries(ds, ["u1"], [20], [["e"]]), 4)
    # weights 0.5**(20/10)=0.25 (day 0), 0.5**(10/10)=0.5 (day 10); mass 0.75; shares of 4 baskets:
    # a .5, b .25, c .25, d .5, e .25. a: (0.75+0.5)/1.75, c: (0.5+0.25)/1.75, b: (0.25+0.25)/1.75,
    # d: 0.5/1.75 (ties with b; b has the lower index); e is in the cart.
    assert ids(ds, recs.items[0]) == "acbd"
    np.testing.assert_allclose(recs.scores[0], np.array([1.25, 0.75, 0.5, 0.5]) / 1.75)
    assert not recs.fallback[0]


def test_buy_again_guest_and_cold_user_get_popularity() -> None:
    ds = shop(BASKETS)
    a = BuyAgainAdapter().fit(ds)
    recs = a.recommend(queries(ds, [None, "u1"], [20, -1], [[], []]), 5)
    # the guest, and u1 before their first basket, see popularity: a, d (2 baskets), then b, c, e
    assert ids(ds, recs.items[0]) == "adbce" == ids(ds, recs.items[1])
    np.testing.assert_allclose(recs.scores[0], [0.5, 0.5, 0.25, 0.25, 0.25])
    assert recs.fallback.tolist() == [True, True]


def test_buy_again_personal_only_then_fallback() -> None:
    ds = shop(BASKETS)
    recs = (
        BuyAgainAdapter(prior_weight=0.0, half_life_days=1e6).fit(ds).recommend(queries(ds, ["u1"], [20], [["b"]]), 4)
    )
    # personal: a in 2 of 2 baskets, c in 1; then popular items not yet listed: d, e
    assert ids(ds, recs.items[0]) == "acde"
    np.testing.assert_allclose(recs.scores[0, :2], [1.0, 0.5], rtol=1e-4)  # decay over 20 days: ~0
    assert (recs.scores[0, 2:] < 0).all()


def test_buy_again_never_uses_baskets_after_the_query_time() -> None:
    ds = shop([*BASKETS, ("u1", 30, ["e"]), ("u1", 15, ["d"])])
    recs = BuyAgainAdapter(prior_weight=0.0).fit(ds).recommend(queries(ds, ["u1", "u1"], [12, 40], [[], []]), 5)
    assert ids(ds, recs.items[0])[:2] == "ac"  # at day 12: only the day-0 and day-10 baskets
    assert "e" not in ids(ds, recs.items[0])[:3] and "d" not in ids(ds, recs.items[0])[:3]
    assert set(ids(ds, recs.items[1])[:4]) == set("acde")  # at day 40 all four baskets count


@settings(max_examples=25, deadline=None)
@given(future=st.lists(st.tuples(st.integers(21, 400), st.sets(st.sampled_from("abcde"), min_size=1)), max_size=5))
def test_future_baskets_never_change_buy_again_or_tifu(future: list[tuple[int, set[str]]]) -> None:
    """Train baskets after the query time must not change the query user's own history part."""
    base = shop(BASKETS)
    more = shop([*BASKETS, *[("u1", d, sorted(s)) for d, s in future]])
    q_base = queries(base, ["u1"], [20], [["e"]])
    q_more = queries(more, ["u1"], [20], [["e"]])
    for make in (lambda: BuyAgainAdapter(prior_weight=0.0), lambda: TIFUKNNAdapter(alpha=1.0)):
        r1 = make().fit(base).recommend(q_base, 3)
        r2 = make().fit(more).recommend(q_more, 3)
        own1 = r1.items[0][r1.scores[0] > 0]
        own2 = r2.items[0][r2.scores[0] > 0]
        np.testing.assert_array_equal(own1, own2)
        np.testing.assert_allclose(r1.scores[0][r1.scores[0] > 0], r2.scores[0][r2.scores[0] > 0])


def test_history_adapters_need_user_ids() -> None:
    ds = shop([(None, 0, ["a", "b"]), (None, 1, ["b", "c"])])
    for cls in (BuyAgainAdapter, TIFUKNNAdapter):
        with pytest.raises(DataError, match="needs user ids"):
            cls().fit(ds)


# ----------------------------------------------------------------------------- tifu-knn
def test_tifu_weights_by_hand() -> None:
    # n = 5, m = 2: groups (latest first) {p0, p1}, {p2, p3}, {p4} (oldest, size 1); 3 groups
    w = tifu_weights(np.arange(5), np.full(5, 5), m=2, r_b=0.5, r_g=0.25)
    expected = [1 / 2 / 3, 0.5 / 2 / 3, 0.25 / 2 / 3, 0.125 / 2 / 3, 0.0625 / 1 / 3]
    np.testing.assert_allclose(w, expected)


def _tifu_reference(baskets: list[set[int]], n_items: int, m: int, r_b: float, r_g: float) -> np.ndarray:
    """Paper formulas with explicit loops: groups of m counted from the latest basket."""
    n = len(baskets)
    groups: list[list[set[int]]] = []
    end = n
    while end > 0:
        groups.insert(0, baskets[max(0, end - m) : end])
        end -= m
    u = np.zeros(n_items)
    for j, g in enumerate(groups, start=1):
        gv = np.zeros(n_items)
        for i, b in enumerate(g, start=1):
            for it in b:
                gv[it] += r_b ** (len(g) - i)
        u += r_g ** (len(groups) - j) * gv / len(g)
    return u / len(groups)


def test_tifu_user_vectors_match_a_loop_reference() -> None:
    rng = np.random.default_rng(3)
    baskets: list[tuple[str | None, int, list[str]]] = []
    for u in range(6):
        for d in sorted(rng.choice(100, size=int(rng.integers(1, 9)), replace=False)):
            baskets.append(
                (f"u{u}", int(d), sorted(rng.choice(list("abcde"), size=int(rng.integers(1, 4)), replace=False)))
            )
    ds = shop(baskets)
    a = TIFUKNNAdapter(group_size=3, within_decay=0.8, group_decay=0.6).fit(ds)
    pos = {it: i for i, it in enumerate(ds.item_ids)}
    for uid in ds.user_ids:
        own = sorted((d, n, its) for n, (u, d, its) in enumerate(baskets) if u == uid)
        ref = _tifu_reference([{pos[i] for i in its} for _, _, its in own], ds.n_items, 3, 0.8, 0.6)
        got = a.user_vectors_[int(np.flatnonzero(ds.user_ids == uid)[0])].toarray().ravel()
        np.testing.assert_allclose(got, ref, atol=1e-12)


def test_tifu_cart_is_folded_in_as_the_latest_basket() -> None:
    ds = shop([("u1", 0, ["a"]), ("u1", 5, ["a", "b"]), ("u2", 3, ["c"])])
    a = TIFUKNNAdapter(group_size=2, within_decay=0.5, group_decay=0.5).fit(ds)
    # history alone: one group {B1, B2}: a = (0.5 + 1) / 2 = 0.75, b = 1 / 2 = 0.5
    np.testing.assert_allclose(a.user_vectors_[0].toarray().ravel()[:3], [0.75, 0.5, 0.0])
    # with cart {c}: groups {B2, C} (latest) and {B1}: C 1/2·1/2, B2 0.5/2·1/2, B1 1/1·0.5/2
    v = a.query_vectors(queries(ds, ["u1"], [10], [["c"]])).toarray().ravel()
    np.testing.assert_allclose(v[:3], [0.25 + 0.125, 0.125, 0.25])
    # next-basket: the context is the history itself and is not folded in again
    v_nb = a.query_vectors(queries(ds, ["u1"], [10], [["a", "b"]], protocol="next-basket")).toarray().ravel()
    np.testing.assert_allclose(v_nb[:3], [0.75, 0.5, 0.0])


def test_tifu_neighbours_by_hand() -> None:
    # u1 buys a; u2 buys a and c (distance² to u1's query vector 1); u3 buys d, e (distance² 3)
    ds = shop([("u1", 0, ["a"]), ("u2", 0, ["a", "c"]), ("u3", 0, ["d", "e"])])
    a = TIFUKNNAdapter(k_neighbors=1, alpha=0.5, group_size=1).fit(ds)
    recs = a.recommend(queries(ds, ["u1"], [5], [["b"]]), 3)
    # query vector (m=1, 2 groups: cart b latest, basket {a}): b 1/2, a 0.7/2; nearest of u2 (a,c: 0.35²
    # + 1 + 0.5² = 1.3725), u3 (0.35² + 0.5² + 2 = 2.3725) is u2: scores a 0.5·0.35 + 0.5·1, c 0.5·1
    assert ids(ds, recs.items[0]) == "acd"
    np.testing.assert_allclose(recs.scores[0, :2], [0.5 * 0.35 + 0.5, 0.5])
    assert recs.scores[0, 2] < 0  # d comes from the popularity fallback


# ----------------------------------------------------------------------------- ease
def test_ease_weights_by_hand() -> None:
    # XᵀX + I = [[3, 1], [1, 2]], P = [[2, -1], [-1, 3]] / 5, B_ij = -P_ij / P_jj
    b = ease_weights(np.array([[1.0, 1.0], [1.0, 0.0]]), 1.0)
    np.testing.assert_allclose(b, [[0.0, 1 / 3], [0.5, 0.0]])


def test_ease_matches_direct_numpy_formula() -> None:
    ds = toy_dataset()
    x = ds.basket_item.toarray()
    lam = 25.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b_ref = np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))
    np.testing.assert_allclose(ease_weights(x, lam), b_ref, atol=1e-10)
    a = EASEAdapter(lam=lam, max_items=10_000).fit(ds)
    sold = np.flatnonzero(ds.item_basket_count > 0)
    np.testing.assert_allclose(a.weights_, b_ref[np.ix_(sold, sold)] if len(sold) < ds.n_items else b_ref, atol=1e-10)
    q = toy_queries(ds)
    recs = a.recommend(q, 3)
    s = q.context.toarray() @ b_ref
    s[q.context.toarray() > 0] = -np.inf
    best = np.argmax(np.where(s > 0, s, -np.inf), axis=1)
    has = (s > 0).any(axis=1)
    np.testing.assert_array_equal(recs.items[has, 0], best[has])
    np.testing.assert_allclose(recs.scores[has, 0], s[has, best[has]], rtol=1e-9)


def test_ease_restricts_to_the_most_popular_items() -> None:
    ds = toy_dataset()
    a = EASEAdapter(max_items=5).fit(ds)
    top5 = np.argsort(-ds.item_basket_count, kind="stable")[:5]
    assert set(a.model_items_.tolist()) == set(top5.tolist())
    recs = a.recommend(toy_queries(ds), 8)
    model_part = recs.items[recs.scores > 0]
    assert np.isin(model_part, a.model_items_).all()


def test_ease_refuses_a_catalog_above_the_memory_limit() -> None:
    ds = toy_dataset()
    n = int((ds.item_basket_count > 0).sum())
    with pytest.raises(ConfigError, match=r"would need .* GiB .*lower 'max_items'"):
        EASEAdapter(max_memory_gib=ease_memory_bytes(n) / 2**30 / 2).fit(ds)
    assert ease_memory_bytes(92_000) / 2**30 == pytest.approx(189.2, abs=0.1)  # the Complete Journey catalog
    with pytest.raises(ConfigError, match="'lam' must be > 0"):
        EASEAdapter(lam=0.0)


# ----------------------------------------------------------------------------- not applicable
def test_history_adapters_are_not_applicable_without_user_ids(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Baskets without users: buy-again and tifu-knn are recorded as not applicable; the run succeeds."""
    from typer.testing import CliRunner

    from xsell_eval.cli import app

    rng = np.random.default_rng(0)
    lines = [",".join(sorted(set(rng.choice(list("abcdefghij"), size=int(rng.integers(2, 5)))))) for _ in range(300)]
    data = tmp_path / "groceries.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    args = ["compare", "buy-again", "tifu-knn", "popular", "--data", str(data), "--loader", "baskets"]
    args += ["--split", "random-basket", "--k", "5", "--metric", "hit_rate@5", "--bootstrap", "100", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "adapter buy-again not applicable: adapter 'buy-again' needs user ids" in " ".join(res.stderr.split())
    import json

    status = {a["name"]: a["status"] for a in json.loads((out / "summary.json").read_text())["adapters"]}
    assert status == {"buy-again": "not applicable", "tifu-knn": "not applicable", "popular": "ok"}
    report = (out / "report.md").read_text()
    assert "| `tifu-knn` | neighbourhood | not applicable: adapter 'tifu-knn' needs user ids" in report
    assert "**Not applicable** to this data (not compared): `buy-again`, `tifu-knn`" in report
    assert "**Failed**" not in report


# ----------------------------------------------------------------------------- cf options
def test_cf_history_weight_adds_the_users_own_items_before_the_query() -> None:
    from xsell_eval.adapters.knn import ItemKNNAdapter

    # u1 bought {a, b} on day 0 and {e} on day 30 (after the query); the cart is {c}
    ds = shop(
        [
            ("u1", 0, ["a", "b"]),
            ("u2", 1, ["a", "d"]),
            ("u2", 2, ["c", "d"]),
            ("u3", 3, ["b", "c"]),
            ("u1", 30, ["e", "d"]),
        ]
    )
    a = ItemKNNAdapter(shrink=0.0, history_weight=0.5, fallback="none").fit(ds)
    s = a.similarity_.toarray()
    recs = a.recommend(queries(ds, ["u1"], [10], [["c"]]), 5)
    expected = s[2] + 0.5 * (s[0] + s[1])  # cart c + 0.5 × history {a, b}; the day-30 basket is later
    expected[2] = -np.inf
    got = dict(
        zip(recs.items[0][recs.items[0] >= 0].tolist(), recs.scores[0][recs.items[0] >= 0].tolist(), strict=True)
    )
    assert got == pytest.approx({i: v for i, v in enumerate(expected) if np.isfinite(v) and v > 0})
    # the default (0) ignores the history: only the cart's neighbours
    base = ItemKNNAdapter(shrink=0.0, fallback="none").fit(ds).recommend(queries(ds, ["u1"], [10], [["c"]]), 5)
    assert set(base.items[0][base.items[0] >= 0].tolist()) == set(np.flatnonzero(s[2] > 0).tolist())


def test_cf_popularity_prior_by_hand() -> None:
    from xsell_eval.adapters.knn import ItemKNNAdapter

    ds = shop(
        [("u1", 0, ["a", "b"]), ("u2", 1, ["a", "c"]), ("u3", 2, ["a", "d"]), ("u3", 3, ["d", "e"]), ("u4", 4, ["d"])]
    )
    # baskets with: a 3/5, b 1/5, c 1/5, d 3/5, e 1/5; cosine(b, a) = 1/sqrt(3), cosine(b, others) = 0
    a = ItemKNNAdapter(shrink=0.0, popularity_prior=1.0).fit(ds)
    recs = a.recommend(queries(ds, [None], [None], [["b"]]), 4)
    # a: 1/sqrt(3) + 0.6; d: 0.6; c, e: 0.2 (tie -> lower index c)
    assert ids(ds, recs.items[0]) == "adce"
    np.testing.assert_allclose(recs.scores[0], [1 / np.sqrt(3) + 0.6, 0.6, 0.2, 0.2])
    assert not recs.fallback[0]
    cold = a.recommend(queries(ds, [None], [None], [["e"]]), 2)  # e's only neighbour is d
    assert ids(ds, cold.items[0]) == "da"
