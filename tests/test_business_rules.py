"""Tests of the ``business-rules`` adapter (hand-written TOML / CSV rules)."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
from _cch_helpers import BASKETS, TITLES, make_queries, shop

from xsell_eval.adapters import registry
from xsell_eval.adapters.business_rules import BusinessRulesAdapter, BusinessRulesWarning, read_rules
from xsell_eval.errors import ConfigError, DataError
from xsell_eval.split import make_split
from xsell_eval.testing import check_adapter, toy_dataset, toy_queries

REPO = Path(__file__).resolve().parents[1]
SHARED_RETAIL = REPO.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"

TOY_TOML = """
# toy shop: items i000..i039, categories mugs/candles/bags/cards (item i is category i % 4)
[[rule]]
if_item = "i001"
then_items = ["i005", "i007"]
weight = 1.0

[[rule]]
if_category = "mugs"
then_categories = ["cards"]
weight = 0.5
name = "mugs need cards"
"""

TOY_CSV = """antecedent_type,antecedent,consequent_type,consequent,weight
# same rules as TOY_TOML
item,i001,item,i005,1.0
item,i001,item,i007,1.0

category,Mugs,category,cards,0.5
"""


@pytest.fixture
def toy_rules(tmp_path: Path) -> Path:
    p = tmp_path / "rules.toml"
    p.write_text(TOY_TOML)
    return p


@pytest.fixture
def toy_rules_csv(tmp_path: Path) -> Path:
    p = tmp_path / "rules.csv"
    p.write_text(TOY_CSV)
    return p


HEAD = "antecedent_type,antecedent,consequent_type,consequent\n"
HEAD_W = "antecedent_type,antecedent,consequent_type,consequent,weight\n"
RULE_AB = '[[rule]]\nif_item = "a"\n'


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_conformance(toy_rules: Path, toy_rules_csv: Path) -> None:
    check_adapter(lambda seed: BusinessRulesAdapter(seed=seed, path=str(toy_rules)))
    check_adapter(lambda seed: BusinessRulesAdapter(seed=seed, path=str(toy_rules_csv), fallback="none"))


def test_registered_and_spec(toy_rules: Path) -> None:
    assert registry.get("business-rules") is BusinessRulesAdapter
    a = registry.create(f"business-rules:path={toy_rules},on_unknown=raise")
    assert a.params == {"path": str(toy_rules), "on_unknown": "raise", "fallback": "popular"}


def test_read_toml_and_csv_agree(toy_rules: Path, toy_rules_csv: Path) -> None:
    t = read_rules(toy_rules)
    assert [(r.number, r.line, r.if_type, r.if_id, r.then_items, r.then_categories, r.weight) for r in t] == [
        (1, 3, "item", "i001", ("i005", "i007"), (), 1.0),
        (2, 8, "category", "mugs", (), ("cards",), 0.5),
    ]
    c = read_rules(toy_rules_csv)
    assert [(r.line, r.if_id, r.then_items, r.then_categories) for r in c] == [
        (3, "i001", ("i005",), ()),
        (4, "i001", ("i007",), ()),
        (6, "Mugs", (), ("cards",)),
    ]
    ds = toy_dataset()
    split = make_split(ds, "temporal")
    q = toy_queries(ds)
    a = BusinessRulesAdapter(path=str(toy_rules)).fit(split.train).recommend(q, 10)
    b = BusinessRulesAdapter(path=str(toy_rules_csv)).fit(split.train).recommend(q, 10)
    np.testing.assert_array_equal(a.items, b.items)
    np.testing.assert_allclose(a.scores, b.scores)


def test_hand_computed_scores(toy_rules: Path) -> None:
    ds = toy_dataset()
    train = make_split(ds, "temporal").train
    a = BusinessRulesAdapter(path=str(toy_rules), fallback="none").fit(train)
    idx = {i: k for k, i in enumerate(ds.item_ids)}
    counts = train.item_basket_count.astype(float)
    cards = np.array([i for i in range(40) if i % 4 == 3])  # i003, i007, ...
    share = np.zeros(ds.n_items)
    share[cards] = counts[cards] / counts[cards].max()

    q = make_queries(ds.n_items, [[idx["i001"]], [idx["i000"]], [idx["i001"], idx["i004"]], [idx["i002"]]])
    s = a.rule_scores(q)
    want0 = np.zeros(ds.n_items)
    want0[[idx["i005"], idx["i007"]]] = 1.0
    np.testing.assert_allclose(s[0], want0)  # item rule only (i001 is a candle)
    np.testing.assert_allclose(s[1], 0.5 * share)  # category rule: cards by train popularity
    np.testing.assert_allclose(s[2], want0 + 0.5 * share)  # both fire; the mugs rule once for i004
    assert not s[3].any()  # a bag: nothing fires

    recs = a.recommend(q, 3)
    assert recs.fallback is None
    # i007 is named by both rules: 1 + 0.5 * share beats i005 (1.0)
    assert recs.items[2, :2].tolist() == [idx["i007"], idx["i005"]]
    assert recs.scores[2, 0] == pytest.approx(1.0 + 0.5 * share[idx["i007"]], abs=1e-5)
    assert (recs.items[3] == -1).all()  # no fallback: empty list
    sold_cards = cards[counts[cards] > 0]
    best = sold_cards[np.lexsort((sold_cards, -counts[sold_cards]))][:3]
    assert recs.items[1].tolist() == best.tolist()  # category rule ranks by popularity


def test_popular_fallback_and_flags(toy_rules: Path) -> None:
    ds = toy_dataset()
    train = make_split(ds, "temporal").train
    a = BusinessRulesAdapter(path=str(toy_rules)).fit(train)
    idx = {i: k for k, i in enumerate(ds.item_ids)}
    q = make_queries(ds.n_items, [[idx["i001"]], [idx["i002"]]])
    recs = a.recommend(q, 5)
    assert recs.fallback is not None
    assert recs.fallback.tolist() == [False, True]
    assert recs.items[0, :2].tolist() == [idx["i005"], idx["i007"]] or recs.items[0, :2].tolist() == [
        idx["i007"],
        idx["i005"],
    ]
    assert (recs.scores[0, :2] > 0).all() and (recs.scores[0, 2:] < -1 + 1e-9).all()  # filled after the rules
    counts = train.item_basket_count.astype(float)
    counts[idx["i002"]] = -1  # context excluded
    order = np.lexsort((np.arange(ds.n_items), -counts))[:5]
    assert recs.items[1].tolist() == order.tolist()


def test_unknown_ids_policy(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "r.toml",
        '[[rule]]\nif_item = "i001"\nthen_items = ["i005", "nope"]\n\n'
        '[[rule]]\nif_item = "I002"\nthen_items = ["i006"]\n\n'
        '[[rule]]\nif_category = "mugs"\nthen_categories = ["plates"]\n',
    )
    ds = toy_dataset()
    with pytest.raises(DataError, match=r"r\.toml: rule #1 \(line 1\): unknown item 'nope'") as exc:
        BusinessRulesAdapter(path=str(p), on_unknown="raise").fit(ds)
    msg = str(exc.value)
    assert "rule #2 (line 5): unknown item 'I002' (did you mean 'i002'?)" in msg
    assert "rule #3 (line 9): unknown category 'plates' (known: bags, candles, cards, mugs)" in msg

    with pytest.warns(BusinessRulesWarning, match=r"3 unknown id\(s\)") as rec:
        a = BusinessRulesAdapter(path=str(p)).fit(ds)
    assert "1 of 3 rule(s) remain usable" in str(rec[0].message)
    assert a.n_rules_ == 3 and a.n_rules_used_ == 1 and len(a.unknown_) == 3
    assert a.r_item_item_.nnz == 1  # i001 -> i005 survives; the rest is dropped

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = BusinessRulesAdapter(path=str(p), on_unknown="ignore").fit(ds)
    assert b.n_rules_used_ == 1


def test_no_categories_in_catalog(tmp_path: Path) -> None:
    p = write(tmp_path, "r.csv", HEAD + "category,mugs,item,A\n")
    with pytest.raises(DataError, match="unknown category 'mugs' \\(the catalog has no categories\\)"):
        BusinessRulesAdapter(path=str(p), on_unknown="raise").fit(shop(TITLES, BASKETS))


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("r.toml", '[[rule]]\nif_item = "a" x\nthen_items = ["b"]\n', r"r\.toml: not valid TOML: .*line 2"),
        (
            "r.toml",
            RULE_AB + 'then_itemz = ["b"]\n',
            r"rule #1 \(line 1\): unknown key\(s\) \['then_itemz'\]",
        ),
        ("r.toml", RULE_AB + 'if_category = "c"\nthen_items = ["b"]\n', "exactly one of 'if_item'"),
        ("r.toml", RULE_AB, "then_items' and/or 'then_categories"),
        (
            "r.toml",
            RULE_AB + 'then_items = ["b"]\nweight = -1\n',
            "'weight' must be a finite number > 0",
        ),
        ("r.toml", '[[rule]]\nif_item = ["a", "c"]\nthen_items = ["b"]\n', "'if_item' must be a single id"),
        ("r.toml", RULE_AB + "then_items = []\n", "'then_items' is an empty list"),
        ("r.toml", "rules = 3\n", r"unknown top-level key\(s\) \['rules'\]"),
        ("r.toml", "# nothing\n", "no rules found"),
        ("r.csv", "a,b,c\nitem,x,item,y\n", "line 1: header must be"),
        (
            "r.csv",
            HEAD + "product,x,item,y\n",
            r"rule #1 \(line 2\): 'antecedent_type'",
        ),
        (
            "r.csv",
            HEAD_W + "\nitem,x,item,y,heavy\n",
            r"line 3\): 'weight'",
        ),
        ("r.csv", HEAD + "item,x,item\n", "expected 4 fields"),
        ("r.csv", HEAD + "item,,item,y\n", "'antecedent' is empty"),
        ("r.json", "{}", r"must end in \.toml or \.csv"),
    ],
)
def test_malformed_files(tmp_path: Path, name: str, text: str, pattern: str) -> None:
    p = write(tmp_path, name, text)
    with pytest.raises(DataError, match=pattern):
        read_rules(p)
    with pytest.raises(DataError, match=pattern):
        BusinessRulesAdapter(path=str(p)).fit(toy_dataset())


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(DataError, match=r"rules file not found: '.*nowhere\.toml'"):
        BusinessRulesAdapter(path=str(missing)).fit(toy_dataset())


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({}, "path"),
        ({"path": ""}, "path"),
        ({"path": 3}, "path"),
        ({"path": "x.toml", "on_unknown": "skip"}, "on_unknown"),
        ({"path": "x.toml", "fallback": "random"}, "fallback"),
    ],
)
def test_bad_hyperparameters(params: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=f"'{name}'"):
        BusinessRulesAdapter(**params)


def test_messages_cite_the_shipped_example() -> None:
    """The missing-path error and the help text name an example file that exists in the repository."""
    import re

    with pytest.raises(ConfigError, match="path") as err:
        BusinessRulesAdapter()
    help_text = next(p.help for p in BusinessRulesAdapter.hyperparams if p.name == "path")
    for text in (str(err.value), help_text):
        cited = re.findall(r"experiments/[\w/.-]+\.toml", text)
        assert cited, text
        assert all((REPO / c).is_file() for c in cited), cited


def test_declared_hyperparameters_not_tunable() -> None:
    assert {p.name: p.tunable for p in BusinessRulesAdapter.hyperparams} == {
        "path": False,
        "on_unknown": False,
        "fallback": False,
    }


@functools.lru_cache(maxsize=1)
def retail_stock_codes() -> frozenset[str]:
    """StockCodes of the cleaned Online Retail (no C-invoice, known customer, quantity and price > 0)."""
    from xsell_eval.data.loaders import load_dataset

    return frozenset(load_dataset(SHARED_RETAIL, policy="literature").item_ids)


@pytest.mark.shared
@pytest.mark.parametrize("example", ["rules/online_retail.toml", "rules/online_retail.csv"])
def test_shipped_example_names_real_stockcodes(example: str) -> None:
    """Every id of the shipped example exists among the cleaned Online Retail StockCodes."""
    rules = read_rules(REPO / "experiments" / example)
    assert len(rules) >= 10
    assert all(r.if_type == "item" and not r.then_categories for r in rules)  # Online Retail has no categories
    if not SHARED_RETAIL.exists():
        pytest.skip(f"Online Retail data not found at {SHARED_RETAIL}")
    ids = {r.if_id for r in rules} | {i for r in rules for i in r.then_items}
    assert ids - retail_stock_codes() == set()
