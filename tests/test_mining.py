"""Tests of xsell_eval.mining against hand computation, brute force, mlxtend and R arules.

Definitions under test (see the module docstring of xsell_eval.mining):
  support = count / n_baskets; frequent iff count / n_baskets >= min_support in double
  arithmetic (min count = ceil(min_support * n) unless the product overshoots an integer);
  confidence = count(A ∪ C) / count(A), kept iff >= min_confidence - 1e-12 (arules' EPSILON);
  lift = confidence / support(C); leverage = support - support(A) support(C);
  conviction = (1 - support(C)) / (1 - confidence), inf at confidence 1 (as mlxtend).
"""

from __future__ import annotations

import csv
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval import mining
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.mining import CONFIDENCE_TOL, frequent_itemsets, min_count_for, mine_rules

GROCERIES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "groceries_arules" / "groceries.csv"
MEASURES = ("support", "confidence", "lift", "leverage", "conviction")


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = np.repeat(np.arange(len(rows)), [len(x) for x in rows])
    c = np.array([i for x in rows for i in x], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def rule_dict(rules: pd.DataFrame) -> dict[tuple[tuple[int, ...], tuple[int, ...]], pd.Series]:
    return {(r.antecedent, r.consequent): r for r in rules.itertuples(index=False)}


# --------------------------------------------------------------------------- hand-computed
TOY = [[0, 1, 2], [0, 1], [0, 2], [1, 2], [0, 1, 3]]  # n = 5


def test_toy_rules_hand_computed() -> None:
    rs = mine_rules(csr(TOY, 4), min_support=0.4, min_confidence=0.0, max_len=3)
    assert rs.min_count == 2 and rs.n_baskets == 5
    assert rs.itemset_counts == (3, 3)  # {0},{1},{2}; {0,1},{0,2},{1,2}; {0,1,2} has count 1
    got = rule_dict(rs.rules)
    assert len(got) == 6
    # (antecedent, consequent): count, support, confidence, lift, leverage, conviction
    expected = {
        ((0,), (1,)): (3, 0.6, 3 / 4, (3 / 4) / 0.8, 0.6 - 0.8 * 0.8, 0.2 / 0.25),
        ((1,), (0,)): (3, 0.6, 3 / 4, (3 / 4) / 0.8, 0.6 - 0.8 * 0.8, 0.2 / 0.25),
        ((0,), (2,)): (2, 0.4, 2 / 4, 0.5 / 0.6, 0.4 - 0.8 * 0.6, 0.4 / 0.5),
        ((2,), (0,)): (2, 0.4, 2 / 3, (2 / 3) / 0.8, 0.4 - 0.6 * 0.8, 0.2 / (1 / 3)),
        ((1,), (2,)): (2, 0.4, 2 / 4, 0.5 / 0.6, 0.4 - 0.8 * 0.6, 0.4 / 0.5),
        ((2,), (1,)): (2, 0.4, 2 / 3, (2 / 3) / 0.8, 0.4 - 0.6 * 0.8, 0.2 / (1 / 3)),
    }
    for key, (count, supp, conf, lift, lev, conv) in expected.items():
        r = got[key]
        assert r.count == count
        assert r.support == pytest.approx(supp)
        assert r.confidence == pytest.approx(conf)
        assert r.lift == pytest.approx(lift)
        assert r.leverage == pytest.approx(lev)
        assert r.conviction == pytest.approx(conv)
    # sorted by lift, then confidence, then count (all descending)
    assert list(rs.rules["lift"]) == sorted(rs.rules["lift"], reverse=True)


def test_conviction_is_inf_at_confidence_one() -> None:
    # 0 and 1 always together: both directions are certain
    rs = mine_rules(csr([[0, 1], [0, 1], [0, 1, 2], [2]], 3), min_support=0.5, min_confidence=0.9, max_len=2)
    got = rule_dict(rs.rules)
    assert set(got) == {((0,), (1,)), ((1,), (0,))}
    r = got[((0,), (1,))]
    assert r.confidence == 1.0 and np.isinf(r.conviction)
    assert r.lift == pytest.approx(1 / 0.75)
    assert r.leverage == pytest.approx(0.75 - 0.75 * 0.75)


def test_three_item_rules_and_consequent_length() -> None:
    baskets = [[0, 1, 2]] * 3 + [[0, 1]] + [[2]]
    full = mine_rules(csr(baskets, 3), min_support=0.6, min_confidence=0.0, max_len=3)
    single = mine_rules(csr(baskets, 3), min_support=0.6, min_confidence=0.0, max_len=3, max_consequent_len=1)
    got = rule_dict(full.rules)
    assert got[((0, 1), (2,))].confidence == pytest.approx(3 / 4)
    assert got[((2,), (0, 1))].confidence == pytest.approx(3 / 4)
    assert got[((0,), (1, 2))].count == 3
    assert len(full) == 6 + 6  # 3 pairs × 2 directions + one triple × 6 splits
    assert len(single) == 6 + 3
    assert all(len(c) == 1 for c in single.rules["consequent"])


def test_to_frame_and_matrices() -> None:
    rs = mine_rules(csr(TOY, 4), min_support=0.4, min_confidence=0.6, max_len=2)
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    frame = rs.to_frame(ids, titles=["Apple", "Bread", "Cheese", "Dates"])
    assert set(zip(frame["antecedent"], frame["consequent"], strict=True)) == {
        (("a",), ("b",)),
        (("b",), ("a",)),
        (("c",), ("a",)),
        (("c",), ("b",)),
    }
    row = frame[frame["antecedent"] == ("c",)].iloc[0]
    assert row["antecedent_titles"] == ("Cheese",)
    assert list(frame.columns[-8:]) == list(mining.RULE_COLUMNS[2:])
    ante = rs.antecedent_matrix()
    assert ante.shape == (4, 4)
    assert np.array_equal(np.asarray(ante.sum(axis=1)).ravel(), [1, 1, 1, 1])
    with pytest.raises(ConfigError, match="item_ids has 2 entries"):
        rs.to_frame(ids[:2])


def test_empty_result_has_columns() -> None:
    rs = mine_rules(csr([[0], [1], [2]], 3), min_support=0.5, min_confidence=0.1)
    assert len(rs) == 0 and list(rs.rules.columns) == list(mining.RULE_COLUMNS)
    assert rs.to_frame(np.array(["x", "y", "z"], dtype=object)).empty


def test_input_values_are_binarised_and_dense_accepted() -> None:
    counts = sp.csr_matrix(np.array([[3, 2, 0], [1, 1, 0], [0, 5, 1]]))
    dense = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    a = mine_rules(counts, min_support=0.5, min_confidence=0.0, max_len=2).rules
    b = mine_rules(dense, min_support=0.5, min_confidence=0.0, max_len=2).rules
    pd.testing.assert_frame_equal(a, b)
    assert a["count"].tolist() == [2, 2]


def test_min_count_floor() -> None:
    x = csr(TOY, 4)
    assert mine_rules(x, min_support=0.2, min_confidence=0.0, max_len=2).min_count == 1
    rs = mine_rules(x, min_support=0.2, min_confidence=0.0, max_len=2, min_count=3)
    assert rs.min_count == 3 and set(rs.rules["count"]) == {3}


# --------------------------------------------------------------------------- thresholds
def test_min_count_is_float_safe() -> None:
    # 0.07 * 100 = 7.000000000000001: a naive ceil demands 8 baskets for support 0.07
    assert 0.07 * 100 > 7 and math.ceil(0.07 * 100) == 8
    assert min_count_for(0.07, 100) == 7
    assert min_count_for(0.3, 10) == 3
    assert min_count_for(0.07, 200) == 14  # 0.07 * 200 = 14.000000000000002
    assert min_count_for(0.001, 9835) == 10  # arules: (int)ceil(9835 * 0.001) = 10
    assert min_count_for(1.0, 7) == 7
    assert min_count_for(1e-12, 5) == 1
    x = csr([[0, 1]] * 7 + [[0]] * 93, 2)
    pairs = frequent_itemsets(x, min_support=0.07, max_len=2)
    assert ((0, 1), 7) in set(zip(pairs["itemset"], pairs["count"], strict=True))


@given(n=st.integers(1, 10**7), s=st.floats(1e-9, 1.0, allow_nan=False))
def test_min_count_matches_support_comparison(n: int, s: float) -> None:
    c = min_count_for(s, n)
    assert c >= 1
    assert c / n >= s
    assert c == 1 or (c - 1) / n < s
    assert c in (math.ceil(s * n), math.ceil(s * n) - 1)


def test_confidence_ties_at_the_boundary() -> None:
    # rule 0 => 1 has confidence exactly 4/5
    x = csr([[0, 1]] * 4 + [[0]] + [[2]] * 2, 3)

    def has_rule(threshold: float) -> bool:
        rules = mine_rules(x, min_support=0.1, min_confidence=threshold, max_len=2).rules
        return ((0,), (1,)) in set(zip(rules["antecedent"], rules["consequent"], strict=True))

    assert 0.7 + 0.1 < 0.8  # a threshold carrying a rounding error
    assert has_rule(0.8) and has_rule(0.7 + 0.1) and has_rule(0.8 + CONFIDENCE_TOL / 2)
    assert not has_rule(0.8 + 1e-9)


# --------------------------------------------------------------------------- brute force
def brute_force(x: np.ndarray, mc: int, max_len: int) -> dict[tuple[int, ...], int]:
    out: dict[tuple[int, ...], int] = {}
    for k in range(1, max_len + 1):
        for s in combinations(range(x.shape[1]), k):
            c = int(x[:, list(s)].all(axis=1).sum())
            if c >= mc:
                out[s] = c
    return out


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=1, max_size=14),
    s=st.sampled_from([0.05, 0.1, 0.2, 0.25, 1 / 3, 0.5]),
    conf=st.sampled_from([0.0, 0.3, 0.5, 2 / 3, 1.0]),
    max_len=st.integers(2, 4),
)
def test_matches_brute_force(data: list[list[bool]], s: float, conf: float, max_len: int) -> None:
    x = np.array(data, dtype=bool)
    mc = min_count_for(s, len(x))
    truth = brute_force(x, mc, max_len)
    fi = frequent_itemsets(sp.csr_matrix(x), min_support=s, max_len=max_len)
    assert dict(zip(fi["itemset"], fi["count"], strict=True)) == truth
    rules = mine_rules(sp.csr_matrix(x), min_support=s, min_confidence=conf, max_len=max_len).rules
    expected = set()
    for itemset, c in truth.items():
        for r in range(1, len(itemset)):
            for ante in combinations(itemset, r):
                cons = tuple(i for i in itemset if i not in ante)
                if c / truth[ante] >= conf - CONFIDENCE_TOL:
                    expected.add((ante, cons))
    assert set(zip(rules["antecedent"], rules["consequent"], strict=True)) == expected
    assert np.allclose(rules["confidence"] * rules["antecedent_support"], rules["support"])


def test_blocked_counting_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    x = random_baskets(3, n=300, n_items=18)
    ref = mine_rules(x, min_support=0.03, min_confidence=0.1, max_len=4)
    monkeypatch.setattr(mining, "_BLOCK_ENTRIES", 50)  # many tiny blocks
    small = mine_rules(x, min_support=0.03, min_confidence=0.1, max_len=4)
    assert len(ref) > 100 and ref.itemset_counts[3] > 0
    pd.testing.assert_frame_equal(ref.rules, small.rules)


def test_lookup_fallback_path_matches_keys() -> None:
    rng = np.random.default_rng(0)
    items = np.unique(np.sort(rng.integers(0, 50, (200, 3)), axis=1), axis=0)
    query = np.vstack([items[::3], items[::5] + 100])
    fast = mining._Lookup(items, 50)
    slow = mining._Lookup(items, 2**40)  # 3 × 40 bits > 62: hash lookup
    assert fast.use_keys and not slow.use_keys
    assert np.array_equal(fast.find(query), slow.find(query))
    assert (fast.find(items[::3]) >= 0).all() and (fast.find(items[::5] + 100) == -1).all()


# --------------------------------------------------------------------------- mlxtend
def random_baskets(seed: int, *, n: int, n_items: int) -> sp.csr_matrix:
    """Baskets with item popularity skew and planted co-purchase groups (for deep itemsets)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.3, n_items)
    x = rng.random((n, n_items)) < p
    for _ in range(3):
        group = rng.choice(n_items, size=4, replace=False)
        rows = rng.random(n) < 0.15
        x[np.ix_(rows, group)] |= rng.random((int(rows.sum()), 4)) < 0.85
    return sp.csr_matrix(x.astype(np.float64))


def mlxtend_rules(x: sp.csr_matrix, s: float, conf: float, max_len: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    df = pd.DataFrame(x.toarray().astype(bool))
    fi = fpgrowth(df, min_support=s, max_len=max_len)
    if fi.empty:
        return fi, pd.DataFrame(columns=["antecedents", "consequents", *MEASURES])
    # mlxtend compares a ratio of rounded supports with no tolerance: lower its threshold
    # by the same 1e-12 so exact ties are kept on both sides
    ar = association_rules(fi, num_itemsets=x.shape[0], min_threshold=conf - CONFIDENCE_TOL)
    return fi, ar


@pytest.mark.parametrize(
    ("seed", "n", "n_items", "s", "conf", "max_len"),
    [
        (0, 213, 15, 0.04, 0.3, 3),
        (1, 307, 20, 0.03, 0.5, 4),
        (2, 151, 12, 0.05, 0.0, 2),
        (3, 401, 25, 0.025, 0.6, 5),
        (4, 97, 10, 0.09, 0.2, 3),
    ],
)
def test_identical_to_mlxtend(seed: int, n: int, n_items: int, s: float, conf: float, max_len: int) -> None:
    x = random_baskets(seed, n=n, n_items=n_items)
    # outside mlxtend's naive-ceil zone, where both definitions agree (see test above)
    assert min_count_for(s, n) == math.ceil(s * n)
    fi_ref, ar = mlxtend_rules(x, s, conf, max_len)
    fi = frequent_itemsets(x, min_support=s, max_len=max_len)
    ref_sets = {tuple(sorted(i)): v for i, v in zip(fi_ref["itemsets"], fi_ref["support"], strict=True)}
    ours_sets = dict(zip(fi["itemset"], fi["support"], strict=True))
    assert ours_sets.keys() == ref_sets.keys()
    assert all(ours_sets[k] == pytest.approx(ref_sets[k], rel=1e-12) for k in ref_sets)

    rs = mine_rules(x, min_support=s, min_confidence=conf, max_len=max_len)
    ours = rs.rules
    assert len(ours) > 20
    key_r = [(tuple(sorted(a)), tuple(sorted(c))) for a, c in zip(ar["antecedents"], ar["consequents"], strict=True)]
    key_o = list(zip(ours["antecedent"], ours["consequent"], strict=True))
    assert len(set(key_o)) == len(key_o)
    assert set(key_o) == set(key_r)
    ref = ar.set_index(pd.Index(key_r)).loc[pd.Index(key_o)]
    for m in MEASURES:
        np.testing.assert_allclose(ours[m].to_numpy(float), ref[m].to_numpy(float), rtol=1e-10, atol=1e-14)
    # single-item consequents = mlxtend's rules filtered to |C| = 1
    single = mine_rules(x, min_support=s, min_confidence=conf, max_len=max_len, max_consequent_len=1)
    assert set(zip(single.rules["antecedent"], single.rules["consequent"], strict=True)) == {
        k for k in key_r if len(k[1]) == 1
    }


def test_mlxtend_differs_only_where_the_product_overshoots() -> None:
    """mlxtend's fpgrowth uses ceil(min_support * n): at 0.07 × 100 it asks for 8 baskets.

    Documents the one place where our (float-safe) definition and mlxtend's differ: the
    pair {0, 1} bought in exactly 7 of 100 baskets has support 0.07 >= 0.07.
    """
    x = csr([[0, 1]] * 7 + [[0, 2]] * 30 + [[1, 2]] * 30 + [[2]] * 33, 3)
    fi_ref, _ = mlxtend_rules(x, 0.07, 0.0, 2)
    ref_pairs = {tuple(sorted(i)) for i in fi_ref["itemsets"] if len(i) == 2}
    ours = frequent_itemsets(x, min_support=0.07, max_len=2)
    our_pairs = {i for i in ours["itemset"] if len(i) == 2}
    assert our_pairs - ref_pairs == {(0, 1)} and ref_pairs < our_pairs
    # one basket more and both agree
    x2 = csr([[0, 1]] * 8 + [[0, 2]] * 30 + [[1, 2]] * 30 + [[2]] * 32, 3)
    fi_ref2, _ = mlxtend_rules(x2, 0.07, 0.0, 2)
    assert {tuple(sorted(i)) for i in fi_ref2["itemsets"]} == set(frequent_itemsets(x2, min_support=0.07)["itemset"])


# --------------------------------------------------------------------------- guards
def test_parameter_validation() -> None:
    x = csr(TOY, 4)
    for bad in (0.0, -0.1, 1.5, float("nan"), True, "0.1"):
        with pytest.raises(ConfigError, match=r"min_support must be a number in \(0, 1\]"):
            mine_rules(x, min_support=bad, min_confidence=0.5)  # type: ignore[arg-type]
    for bad in (-0.01, 1.01, float("inf")):
        with pytest.raises(ConfigError, match=r"min_confidence must be a number in \[0, 1\]"):
            mine_rules(x, min_support=0.1, min_confidence=bad)
    with pytest.raises(ConfigError, match="max_len must be an integer >= 2"):
        mine_rules(x, min_support=0.1, min_confidence=0.5, max_len=1)
    with pytest.raises(ConfigError, match="min_count must be an integer >= 1"):
        mine_rules(x, min_support=0.1, min_confidence=0.5, min_count=0)
    with pytest.raises(ConfigError, match="max_consequent_len must be an integer >= 1"):
        mine_rules(x, min_support=0.1, min_confidence=0.5, max_consequent_len=0)
    with pytest.raises(DataError, match="no baskets"):
        mine_rules(sp.csr_matrix((0, 3)), min_support=0.1, min_confidence=0.5)


def test_guard_on_candidate_itemsets() -> None:
    rng = np.random.default_rng(0)
    # 100 items, every pair frequent (4,950 pairs): the join for length 3 has C(100, 3) =
    # 161,700 rows > 25 × 5,000, so it is refused before being generated
    x = sp.csr_matrix(rng.random((300, 100)) < 0.5)
    with pytest.raises(
        ConfigError,
        match=r"min_support=0\.01 would create ~161,700 candidate itemsets of length 3 "
        r"\(> max_itemsets=5,000\); raise min_support or lower max_len",
    ):
        mine_rules(x, min_support=0.01, min_confidence=0.5, max_len=3, max_itemsets=5_000)
    # 60 items: the join (34,220) is generated in blocks and pruned; too many survive
    x60 = x[:, :60]
    with pytest.raises(ConfigError, match=r"would create more than [\d,]+ candidate itemsets of length 3 "):
        mine_rules(x60, min_support=0.01, min_confidence=0.5, max_len=3, max_itemsets=5_000)
    with pytest.raises(ConfigError, match=r"would create more than [\d,]+ candidate itemsets of length 2"):
        mine_rules(x60, min_support=0.01, min_confidence=0.5, max_len=3, max_itemsets=1_000)
    # the same data at max_len=2 is fine: the guard is per level
    assert len(mine_rules(x60, min_support=0.01, min_confidence=0.5, max_len=2, max_itemsets=5_000)) > 0


def test_guard_on_basket_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mining, "_MAX_TIDLIST_ENTRIES", 100)
    x = random_baskets(0, n=300, n_items=15)
    with pytest.raises(ConfigError, match=r"needs the basket lists .* raise min_support or lower max_len"):
        mine_rules(x, min_support=0.02, min_confidence=0.5, max_len=3)


# --------------------------------------------------------------------------- R arules
def read_groceries() -> tuple[sp.csr_matrix, np.ndarray]:
    with GROCERIES.open(newline="") as fh:
        lines = [row for row in csv.reader(fh)]
    labels = np.array(sorted({x for row in lines for x in row}), dtype=object)
    index = {x: i for i, x in enumerate(labels)}
    r = np.repeat(np.arange(len(lines)), [len(row) for row in lines])
    c = np.array([index[x] for row in lines for x in row])
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(lines), len(labels))), labels


needs_groceries = pytest.mark.skipif(not GROCERIES.exists(), reason=f"Groceries data not found at {GROCERIES}")


@pytest.mark.shared
@needs_groceries
def test_groceries_matches_arules() -> None:
    """apriori(Groceries, parameter = list(supp = 0.001, conf = 0.8)) -> 410 rules; conf 0.5 -> 5,668.

    arules defaults: maxlen = 10, minlen = 1, single-item consequents. minlen = 1 also
    allows rules {} => {j} with confidence = support(j); none passes here because no
    item has support >= 0.5 (whole milk, the most frequent, has 0.2555), so rules with a
    non-empty antecedent are the whole arules result. maxlen: the longest frequent
    itemset has 6 items, so every max_len >= 6 reproduces arules (max_len = 5 does not).
    """
    x, labels = read_groceries()
    assert x.shape == (9835, 169) and x.nnz == 43367
    assert (np.asarray(x.sum(axis=0)).ravel() / x.shape[0]).max() < 0.5
    rs = mine_rules(x, min_support=0.001, min_confidence=0.8, max_len=10, max_consequent_len=1)
    assert rs.min_count == math.ceil(9835 * 0.001) == 10
    assert len(rs.itemset_counts) == 6
    assert len(rs) == 410
    top = rs.to_frame(labels).iloc[0]
    assert set(top["antecedent"]) == {"liquor", "red/blush wine"}
    assert top["consequent"] == ("bottled beer",)
    assert round(top["lift"], 6) == 11.235269
    assert len(mine_rules(x, min_support=0.001, min_confidence=0.5, max_len=10, max_consequent_len=1)) == 5668
    assert len(mine_rules(x, min_support=0.001, min_confidence=0.8, max_len=6, max_consequent_len=1)) == 410
    assert len(mine_rules(x, min_support=0.001, min_confidence=0.8, max_len=5, max_consequent_len=1)) == 398
