"""The ``sequence`` adapter (SASRec-style, optional torch extra).

Tests that train the model use ``pytest.importorskip("torch")``; the pure-numpy sequence
helpers and the "works without torch" checks run everywhere.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval.adapters._sequence_data import assemble, order_lines, runs, training_windows, with_separators
from xsell_eval.adapters.baselines import PopularAdapter
from xsell_eval.adapters.sequence import SequenceAdapter
from xsell_eval.columns import Columns as C
from xsell_eval.data.dataset import Dataset
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.protocols import build_queries
from xsell_eval.queries import Queries
from xsell_eval.testing import check_adapter, toy_dataset, toy_queries

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"

TINY = {"embedding_dim": 16, "n_layers": 1, "epochs": 2, "max_seq_len": 20, "batch_size": 32, "num_threads": 1}


def frame(rows: list[tuple[str | None, str, str, str]]) -> pd.DataFrame:
    """(user, basket, item, day) rows -> canonical interactions."""
    return pd.DataFrame(
        {
            C.USER: [r[0] for r in rows],
            C.BASKET: [r[1] for r in rows],
            C.ITEM: [r[2] for r in rows],
            C.TIMESTAMP: pd.to_datetime([r[3] for r in rows]),
        }
    )


# ============================================================================ sequences (no torch)
def test_order_lines_time_then_line_order_dedup_and_guest_sessions() -> None:
    ds = Dataset.from_frames(
        frame(
            [
                ("u1", "b2", "z", "2024-01-05"),  # later basket, listed first in the file
                ("u1", "b2", "x", "2024-01-05"),
                ("u1", "b1", "y", "2024-01-01"),
                ("u1", "b2", "z", "2024-01-05"),  # duplicate line: dropped
                (None, "g1", "x", "2024-01-02"),  # guest basket: a sequence of its own
                (None, "g1", "y", "2024-01-02"),
                ("u2", "b3", "y", "2024-01-03"),
            ]
        )
    )
    lines = order_lines(ds)
    items = ds.item_ids[lines.item].tolist()
    users = [ds.user_ids[u] if u >= 0 else None for u in lines.user]
    assert list(zip(users, items, strict=True)) == [
        ("u1", "y"),
        ("u1", "z"),
        ("u1", "x"),
        ("u2", "y"),
        (None, "x"),
        (None, "y"),
    ]
    keys, start, length = runs(lines.key)
    assert start.tolist() == [0, 3, 4] and length.tolist() == [3, 1, 2] and len(keys) == 3
    # separators after every basket: u1 = y | z x |, u2 = y |, guest = x y |
    tokens, key, user = with_separators(lines, lines.item + 1, sep=99)
    names = {i + 1: n for i, n in enumerate(ds.item_ids)} | {99: "|"}
    assert [names[t] for t in tokens] == ["y", "|", "z", "x", "|", "y", "|", "x", "y", "|"]
    assert (user[:5] == lines.user[0]).all() and (user[7:] == -1).all()
    assert runs(key)[2].tolist() == [5, 2, 3]


def test_training_windows_by_hand() -> None:
    # baskets [1 2 3] [4 5] with separator 9; windows of 4 positions, horizon 2
    tokens = np.array([1, 2, 3, 9, 4, 5, 9])
    w = training_windows(tokens, np.array([0]), np.array([7]), max_len=4, horizon=2, sep=9)
    assert w.inputs.tolist() == [[3, 9, 4, 5], [1, 2, 0, 0]]
    assert w.lengths.tolist() == [4, 2]
    # the last line of a basket (3, 5) has no target; the separator predicts the next basket
    assert w.has_target.tolist() == [[False, True, True, False], [True, True, False, False]]
    assert w.pair_ptr.tolist() == [0, 3, 6]
    assert w.pair_col.tolist() == [1, 1, 2, 0, 0, 1]
    assert w.pair_token.tolist() == [4, 5, 5, 2, 3, 3]
    np.testing.assert_allclose(w.pair_weight, [0.5, 0.5, 1, 0.5, 0.5, 1])
    one = training_windows(tokens, np.array([0]), np.array([7]), max_len=4, horizon=1, sep=9)
    assert one.pair_token.tolist() == [4, 5, 2, 3]  # plain next item (never the separator)
    # [1 2] [2 4]: after the separator only the new item 4 is a target (2 was bought before)
    rep = np.array([1, 2, 9, 2, 4, 9])
    w = training_windows(rep, np.array([0]), np.array([6]), max_len=8, horizon=5, sep=9)
    assert w.pair_token.tolist() == [2, 4, 4]  # 1 -> {2}; 9 -> {4}; 2 -> {4}
    w = training_windows(
        rep, np.array([0]), np.array([6]), max_len=8, horizon=5, sep=9, new_items_after_separator=False
    )
    assert w.pair_token.tolist() == [2, 2, 4, 4]


def _reference_windows(
    tokens: np.ndarray, start: np.ndarray, length: np.ndarray, max_len: int, horizon: int, sep: int, new_only: bool
) -> list[tuple[list[int], list[list[int]]]]:
    """Plain-Python reference: per window (inputs, targets of each input position)."""
    out = []
    for s, n in zip(start.tolist(), length.tolist(), strict=True):
        j = 0
        while n >= 2 and n - 1 - j * max_len > 0:
            end = n - 1 - j * max_len
            begin = max(end - max_len, 0)
            inputs, targets = [], []
            for p in range(s + begin, s + end):
                inputs.append(int(tokens[p]))
                tg: list[int] = []
                q = p + 1
                while q < s + n and tokens[q] != sep and q < p + 1 + horizon:
                    seen = int(tokens[q]) in tokens[s:q].tolist()
                    if not (new_only and tokens[p] == sep and seen):
                        tg.append(int(tokens[q]))
                    q += 1
                targets.append(tg)
            out.append((inputs, targets))
            j += 1
    return out


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 12), min_size=1, max_size=6),
    max_len=st.integers(1, 6),
    horizon=st.integers(1, 4),
    new_only=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_training_windows_match_reference(
    lengths: list[int], max_len: int, horizon: int, new_only: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    length = np.array(lengths, dtype=np.int64)
    start = np.cumsum(length) - length
    sep = 9
    tokens = np.where(rng.random(int(length.sum())) < 0.3, sep, rng.integers(1, sep, int(length.sum())))
    w = training_windows(tokens, start, length, max_len, horizon, sep, new_items_after_separator=new_only)
    ref = _reference_windows(tokens, start, length, max_len, horizon, sep, new_only)
    assert len(w) == len(ref)
    # every input position 0..n-2 of every sequence is read exactly once
    assert int(w.lengths.sum()) == int(np.maximum(length - 1, 0).sum())
    for win, (inputs, targets) in enumerate(ref):
        n = int(w.lengths[win])
        assert w.inputs[win, :n].tolist() == inputs and (w.inputs[win, n:] == 0).all()
        sel = slice(int(w.pair_ptr[win]), int(w.pair_ptr[win + 1]))
        cols, toks, wts = w.pair_col[sel], w.pair_token[sel], w.pair_weight[sel]
        for col, tg in enumerate(targets):
            assert bool(w.has_target[win, col]) == bool(tg)
            assert toks[cols == col].tolist() == tg
            np.testing.assert_allclose(wts[cols == col], 1.0 / max(len(tg), 1), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    h_lens=st.lists(st.integers(0, 7), min_size=1, max_size=5),
    c_extra=st.lists(st.integers(0, 4), min_size=5, max_size=5),
    max_len=st.integers(1, 8),
)
def test_assemble_matches_reference_and_keeps_most_recent(h_lens: list[int], c_extra: list[int], max_len: int) -> None:
    n = len(h_lens)
    h_len = np.array(h_lens, dtype=np.int64)
    c_len = np.array(c_extra[:n], dtype=np.int64)
    h_start = np.cumsum(h_len) - h_len
    c_start = np.cumsum(c_len) - c_len
    h_tok = np.arange(1, int(h_len.sum()) + 1)
    c_tok = 1000 + np.arange(int(c_len.sum()))
    tok, lens = assemble((h_tok, h_start, h_len), (c_tok, c_start, c_len), max_len)
    for q in range(n):
        ref = list(h_tok[h_start[q] : h_start[q] + h_len[q]]) + list(c_tok[c_start[q] : c_start[q] + c_len[q]])
        ref = ref[-max_len:] if ref else []
        assert lens[q] == len(ref)
        assert tok[q, : lens[q]].tolist() == ref
        assert (tok[q, lens[q] :] == 0).all()


# ============================================================================ params and bad input (no torch)
@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("dropout", 1.5, "'dropout' must be <= 0.9"),
        ("embedding_dim", 2, "'embedding_dim' must be >= 4"),
        ("learning_rate", 0.0, "'learning_rate' must be >= 1e-06"),
        ("max_seq_len", 1, "'max_seq_len' must be >= 2"),
        ("epochs", 0, "'epochs' must be >= 1"),
        ("n_layers", 2.5, "'n_layers' must be an integer"),
        ("hidden", 3, r"unknown hyperparameter\(s\) \['hidden'\]"),
    ],
)
def test_out_of_range_hyperparameters_refused_by_name(param: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SequenceAdapter(**{param: value})


def test_hyperparameters_declared_with_tuning_ranges() -> None:
    hp = {p.name: p for p in SequenceAdapter.hyperparams}
    for name in ("embedding_dim", "n_layers", "dropout", "learning_rate", "epochs", "max_seq_len"):
        assert hp[name].tunable, name
        lo = hp[name].tune_low if hp[name].tune_low is not None else hp[name].low
        hi = hp[name].tune_high if hp[name].tune_high is not None else hp[name].high
        assert lo is not None and hi is not None and hp[name].low <= lo < hi <= hp[name].high, name
        hp[name].validate(hp[name].default)
    assert not hp["batch_size"].tunable and not hp["num_threads"].tunable


def test_refuses_data_without_users_or_timestamps() -> None:
    no_users = frame([(None, "b1", "x", "2024-01-01"), (None, "b1", "y", "2024-01-01")])
    with pytest.raises(DataError, match="needs user ids"):
        SequenceAdapter(**TINY).fit(Dataset.from_frames(no_users))
    no_time = pd.DataFrame({C.USER: ["u", "u"], C.BASKET: ["b1", "b2"], C.ITEM: ["x", "y"]})
    with pytest.raises(DataError, match="needs a timestamp on every line"):
        SequenceAdapter(**TINY).fit(Dataset.from_frames(no_time))


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, check=False
    )


def test_module_and_listing_work_without_torch_and_fit_gives_install_hint() -> None:
    out = _run_python(
        """
        import sys
        sys.modules["torch"] = None  # simulate torch not installed: `import torch` raises ImportError
        from xsell_eval.adapters.registry import describe
        from xsell_eval.adapters.sequence import SequenceAdapter
        from xsell_eval.errors import MissingExtraError
        from xsell_eval.testing import toy_dataset
        row = [r for r in describe() if r["name"] == "sequence"][0]
        assert row["error"] == "" and row["extra"] == "deep", row
        try:
            SequenceAdapter().fit(toy_dataset())
        except MissingExtraError as exc:
            print("HINT:", exc)
        """
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'xsell-eval[deep]'" in out.stdout


def test_product_does_not_import_torch() -> None:
    out = _run_python(
        """
        import sys
        import xsell_eval.cli, xsell_eval.pipeline, xsell_eval.adapters.sequence
        from xsell_eval.adapters.registry import describe
        describe()
        print("torch" in sys.modules)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


# ============================================================================ training (torch)
def planted_shop(
    seed: int = 0, n_users: int = 480, n_pairs: int = 4, n_fillers: int = 30, per_basket: int = 3
) -> tuple[Dataset, np.ndarray]:
    """Users buy 5 baskets of popular fillers; whoever buys A_k buys B_k in the NEXT basket.

    Every third user triggers A_k in the last train basket and is tested on the next
    basket; the others trigger somewhere earlier (the training signal). A and B items are
    rare next to the fillers, so popularity never ranks B_k first.

    Returns:
        (dataset, is_test_line) — the test lines are the test users' fifth baskets.
    """
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_fillers + 1) ** 0.25
    pop /= pop.sum()
    rows: list[tuple[str, str, str, pd.Timestamp]] = []
    test: list[bool] = []
    day0 = pd.Timestamp("2024-01-01")
    for u in range(n_users):
        k = u % n_pairs
        is_test_user = u % 3 == 0
        trigger = 3 if is_test_user else int(rng.integers(0, 4))
        for b in range(5):
            basket = [f"F{i:02d}" for i in rng.choice(n_fillers, size=per_basket, replace=False, p=pop)]
            if b == trigger:
                basket.insert(int(rng.integers(0, per_basket + 1)), f"A{k}")
            if b == trigger + 1:
                basket.insert(int(rng.integers(0, per_basket + 1)), f"B{k}")
            is_test_basket = is_test_user and b == 4
            when = day0 + pd.Timedelta(days=100 if is_test_basket else 10 * b, hours=u % 24)
            for item in basket:
                rows.append((f"u{u}", f"u{u}-b{b}", item, when))
                test.append(is_test_basket)
    df = pd.DataFrame(rows, columns=[C.USER, C.BASKET, C.ITEM, C.TIMESTAMP])
    return Dataset.from_frames(df, name="planted"), np.array(test)


def test_planted_next_basket_pattern_is_recovered_and_popular_is_not() -> None:
    pytest.importorskip("torch")
    ds, is_test = planted_shop()
    train, test = ds.subset(~is_test, name="planted:train"), ds.subset(is_test, name="planted:test")
    q = build_queries(train, test, "next-basket")
    # the expected B_k of each query: user u -> k = u % 4
    user_num = np.array([int(str(u)[1:]) for u in ds.user_ids[q.user_idx]])
    expected = np.searchsorted(ds.item_ids, np.array([f"B{k}" for k in user_num % 4]))
    assert (np.asarray(q.targets[np.arange(len(q)), expected]).ravel() > 0).all()  # B_k is a hidden target

    model = SequenceAdapter(
        seed=0,
        embedding_dim=32,
        n_layers=1,
        dropout=0.2,
        learning_rate=0.01,
        epochs=30,
        max_seq_len=30,
        batch_size=16,
        target_horizon=5,
        valid_fraction=0.0,
        num_threads=1,
    ).fit(train)
    seq_hit1 = float((model.recommend(q.without_targets(), 1).items[:, 0] == expected).mean())
    pop_hit1 = float((PopularAdapter().fit(train).recommend(q.without_targets(), 1).items[:, 0] == expected).mean())
    assert seq_hit1 > 0.9, (seq_hit1, model.history_[-1])
    assert pop_hit1 < 0.3


def test_conformance_suite() -> None:
    pytest.importorskip("torch")
    check_adapter(lambda seed: SequenceAdapter(seed=seed, **TINY))


def test_seeded_fit_is_reproducible_and_leaves_torch_state_alone() -> None:
    torch = pytest.importorskip("torch")
    ds = toy_dataset()
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rng_before = torch.get_rng_state().clone()
    a = SequenceAdapter(seed=3, **{**TINY, "num_threads": 2}).fit(ds)
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG was not consumed
    b = SequenceAdapter(seed=3, **{**TINY, "num_threads": 2}).fit(ds)
    c = SequenceAdapter(seed=4, **{**TINY, "num_threads": 2}).fit(ds)
    q = toy_queries(ds)
    assert [h["loss"] for h in a.history_] == [h["loss"] for h in b.history_]
    np.testing.assert_array_equal(a._score(q), b._score(q))
    assert not np.array_equal(a._score(q), c._score(q))


def test_epoch_events_history_and_early_stopping() -> None:
    pytest.importorskip("torch")
    ds = toy_dataset()
    events: list[dict[str, object]] = []
    # a learning rate this small cannot move validation hit rate: patience 1 stops after epoch 2
    a = SequenceAdapter(**{**TINY, "epochs": 10, "patience": 1, "learning_rate": 1e-6})
    a.on_epoch = events.append
    a.fit(ds)
    assert [e["epoch"] for e in events] == [1, 2] == [h["epoch"] for h in a.history_]
    assert a.stopped_early_ and a.n_epochs_ == 2 and a.best_epoch_ == 1
    assert a.n_valid_queries_ > 0
    assert all(np.isfinite(e["loss"]) and 0.0 <= e["valid_hit_rate@10"] <= 1.0 for e in events)  # type: ignore[operator]
    # without a validation window: every epoch runs, the metric is NaN
    b = SequenceAdapter(**{**TINY, "epochs": 3, "valid_fraction": 0.0}).fit(ds)
    assert b.n_epochs_ == 3 and not b.stopped_early_ and b.n_valid_queries_ == 0
    assert np.isnan(b.history_[-1]["valid_hit_rate@10"])


def test_iter_fit_yields_epochs_and_ends_like_fit() -> None:
    pytest.importorskip("torch")
    ds = toy_dataset()
    q = toy_queries(ds)
    a = SequenceAdapter(**{**TINY, "epochs": 3})
    assert list(a.iter_fit(ds)) == [1, 2, 3]
    b = SequenceAdapter(**{**TINY, "epochs": 3}).fit(ds)
    np.testing.assert_array_equal(a.recommend(q, 5).items, b.recommend(q, 5).items)
    assert a.fit_seconds_ > 0


def _user_rows(rows: list[tuple[str, list[str]]], day0: int = 0) -> list[tuple[str | None, str, str, str]]:
    """(user, items) baskets, one per day, to canonical rows."""
    out = []
    for n, (user, items) in enumerate(rows):
        for item in items:
            out.append((user, f"{user}-{n}", item, str(pd.Timestamp("2024-01-01") + pd.Timedelta(days=day0 + n))))
    return out


def _queries(ds: Dataset, users: list[int], carts: list[list[int]], protocol: str) -> Queries:
    """Hand-made queries (no targets) for the given users (-1 = guest) and carts."""
    import scipy.sparse as sp

    n = len(users)
    rows = np.repeat(np.arange(n), [len(c) for c in carts])
    cols = np.array([i for c in carts for i in c], dtype=np.int64)
    ctx = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, ds.n_items))
    empty = sp.csr_matrix((n, ds.n_items))
    return Queries(
        query_id=np.arange(n),
        user_idx=np.array(users, dtype=np.int64),
        basket_idx=np.full(n, -1),
        timestamp=np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"),
        context=ctx,
        targets=empty,
        target_value=empty,
        context_value=np.full(n, np.nan),
        user_history=np.zeros(n, dtype=np.int64),
        protocol=protocol,
    )


def test_conditioning_history_cart_truncation_and_unsold_items() -> None:
    pytest.importorskip("torch")
    rows = _user_rows([("x", ["p", "q"]), ("x", ["a", "b", "c"])])
    rows += _user_rows([("y", ["r"]), ("y", ["a", "b", "c"])])
    rows += _user_rows([("z", ["c", "a"]), ("z", ["b", "p"]), ("z", ["q", "r"])], day0=5)
    catalog = pd.DataFrame({C.ITEM: ["a", "b", "c", "p", "q", "r", "never-sold"]})
    ds = Dataset.from_frames(frame(rows), catalog)
    item = {name: i for i, name in enumerate(ds.item_ids)}
    user = {name: i for i, name in enumerate(ds.user_ids)}
    # x and y share their last basket "a b c |" (4 tokens) and differ before it
    a = SequenceAdapter(**{**TINY, "max_seq_len": 4, "valid_fraction": 0.0, "epochs": 2}).fit(ds)
    nb = a._score(_queries(ds, [user["x"], user["y"]], [[], []], "next-basket"))
    np.testing.assert_array_equal(nb[0], nb[1])  # truncated to the most recent 4 tokens: same input
    assert np.isneginf(nb[:, item["never-sold"]]).all() and np.isfinite(nb[:, item["a"]]).all()
    # with a longer window the older baskets are read and the answers differ
    b = SequenceAdapter(**{**TINY, "max_seq_len": 20, "valid_fraction": 0.0, "epochs": 2}).fit(ds)
    nb = b._score(_queries(ds, [user["x"], user["y"]], [[], []], "next-basket"))
    assert not np.array_equal(nb[0], nb[1])
    # next-basket ignores the context (it is the history); basket completion appends the cart
    hist_only = b._score(_queries(ds, [user["x"]], [[item["p"]]], "next-basket"))
    np.testing.assert_allclose(hist_only[0], nb[0], rtol=1e-5)  # float32 noise of another batch shape
    cart = b._score(_queries(ds, [user["x"], user["x"]], [[item["p"]], [item["q"]]], "basket-completion"))
    assert not np.array_equal(cart[0], cart[1]) and not np.array_equal(cart[0], nb[0])
    # a guest is served from the cart alone; a guest whose cart was never sold gets nothing
    guest = b._score(_queries(ds, [-1, -1], [[item["a"]], [item["never-sold"]]], "basket-completion"))
    assert np.isfinite(guest[0, item["b"]]) and np.isneginf(guest[1]).all()
    # ... which the recommendation fills with best-sellers, flagged as fallback (or leaves empty)
    q = _queries(ds, [-1, -1], [[item["never-sold"]], [item["a"]]], "basket-completion")
    recs = b.recommend(q, 3)
    assert recs.fallback is not None and recs.fallback.tolist() == [True, False]
    counts = ds.item_basket_count
    assert set(recs.items[0].tolist()) <= set(np.flatnonzero(counts == counts.max()).tolist()) | set(
        np.argsort(-counts, kind="stable")[:3].tolist()
    )
    none = SequenceAdapter(**{**TINY, "max_seq_len": 20, "valid_fraction": 0.0, "fallback": "none"}).fit(ds)
    recs = none.recommend(q, 3)
    assert (recs.items[0] == -1).all() and (recs.items[1] >= 0).all() and recs.fallback is None


@pytest.mark.slow
def test_full_online_retail_beats_popular_and_serves_every_query() -> None:
    """Real data (embedded Online Retail), default settings: a few minutes on 2 cores."""
    pytest.importorskip("torch")
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.split import make_split

    ds = load_dataset(None)
    split = make_split(ds, "temporal")
    q = build_queries(split.train, split.test, seed=0)

    def hit10(recs_items: np.ndarray) -> float:
        rows = np.repeat(np.arange(len(q)), 10).reshape(-1, 10)
        ok = recs_items >= 0
        found = np.zeros(recs_items.shape, dtype=bool)
        found[ok] = np.asarray(q.targets[rows[ok], recs_items[ok]]).ravel() > 0
        return float(found.any(axis=1).mean())

    seq = SequenceAdapter().fit(split.train)
    recs = seq.recommend(q.without_targets(), 10)
    pop = PopularAdapter().fit(split.train).recommend(q.without_targets(), 10)
    assert (recs.items >= 0).all()
    assert seq.n_epochs_ <= 5 and 1 <= seq.best_epoch_ <= seq.n_epochs_
    assert hit10(recs.items) > hit10(pop.items) + 0.15
