"""Cleaning rules: hand-computed counts, order (count once), keep/raise, policy parsing, invariants."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xsell_eval.columns import Columns as C
from xsell_eval.data.cleaning import RULES, CleaningPolicy, CleaningReport, clean, non_product_mask
from xsell_eval.errors import ConfigError, DataError


def toy() -> tuple[pd.DataFrame, np.ndarray]:
    """Eleven lines, each annotated with the first rule that drops it under the defaults."""
    df = pd.DataFrame(
        {
            C.BASKET: ["1", "C1", "2", "2", "3", "3", "4", "4", "5", "5", "6"],
            C.ITEM: ["A", "A", "X", "X", "C", "POST", "E", "E2", "F", "F", "POST"],
            C.USER: ["u1", "u1", "u2", "u2", None, "u3", "u3", "u3", "u4", "u4", None],
            C.QUANTITY: [2.0, -1.0, -3.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0],
            C.PRICE: [1.0, 1.0, 1.0, 1.0, 1.0, 18.0, 0.0, -1.0, 2.0, 2.0, 5.0],
        }
    )
    # kept | cancel | return | return | guest | non-product | price 0 | price<0 | kept | duplicate | return
    cancelled = df[C.BASKET].str.startswith("C").to_numpy()
    return df, cancelled


def counts(report: CleaningReport, field: str = "rows_dropped") -> dict[str, int]:
    return {s.rule: getattr(s, field) for s in report.steps}


def test_defaults_hand_computed() -> None:
    df, cancelled = toy()
    out, rep = clean(df, source="toy", cancelled=cancelled)
    assert counts(rep) == {
        "cancellations": 1,
        "cancelled_originals": 0,  # the cancelled quantity (-1) matches no earlier line (2 units)
        "returns": 3,
        "missing_customer": 1,
        "non_product": 1,
        "nonpositive_price": 2,
        "duplicates": 1,
    }
    assert list(out.index) == [0, 8]  # original row labels survive
    assert (rep.rows_in, rep.rows_out, rep.rows_dropped) == (11, 2, 9)
    assert [s.rule for s in rep.steps] == list(RULES)  # application order


def test_a_line_is_counted_once_under_the_first_rule_that_drops_it() -> None:
    df, cancelled = toy()
    # with cancellations kept, the cancellation line (quantity -1) is caught by 'returns'
    _, rep = clean(df, CleaningPolicy(cancellations="keep"), source="toy", cancelled=cancelled)
    assert counts(rep)["cancellations"] == 0
    assert counts(rep, "rows_matched")["cancellations"] == 1
    assert counts(rep)["returns"] == 4
    # line 10 is a guest POST return: only 'returns' counts it under the defaults
    _, rep = clean(df, source="toy", cancelled=cancelled)
    assert counts(rep, "rows_matched")["missing_customer"] == 1


def test_keep_all_counts_every_match_among_all_lines() -> None:
    df, cancelled = toy()
    out, rep = clean(df, CleaningPolicy.keep_all(), source="toy", cancelled=cancelled)
    assert len(out) == len(df)
    assert counts(rep, "rows_matched") == {
        "cancellations": 1,
        "cancelled_originals": 0,  # the cancelled quantity (-1) matches no earlier line (2 units)
        "returns": 4,
        "missing_customer": 2,
        "non_product": 2,
        "nonpositive_price": 2,
        "duplicates": 1,
    }
    assert all(s.rows_dropped == 0 for s in rep.steps)
    assert "kept" in rep.steps[2].note


def test_literature_preset_keeps_non_products_and_duplicates() -> None:
    df, cancelled = toy()
    out, rep = clean(df, CleaningPolicy.literature(), source="toy", cancelled=cancelled)
    assert list(out.index) == [0, 5, 8, 9]
    assert counts(rep)["non_product"] == 0 and counts(rep, "rows_matched")["non_product"] == 1


def test_raise_names_rule_count_and_first_row() -> None:
    df, cancelled = toy()
    with pytest.raises(
        DataError, match=r"toy: cleaning rule 'returns'.*matched 3 line\(s\).*first at row 2: .*quantity=-3"
    ):
        clean(df, CleaningPolicy(returns="raise"), source="toy", cancelled=cancelled)


def test_empty_after_cleaning_names_the_rule() -> None:
    df = pd.DataFrame({C.BASKET: ["1", "2"], C.ITEM: ["a", "b"], C.USER: [None, "  "]})
    with pytest.raises(DataError, match=r"no lines left after cleaning.*Rule 'missing_customer' removed the last"):
        clean(df, source="guests.csv")


def test_not_applicable_rules_when_columns_are_absent() -> None:
    df = pd.DataFrame({C.BASKET: ["1", "1"], C.ITEM: ["a", "b"]})
    out, rep = clean(df, source="x")
    assert len(out) == 2
    notes = {s.rule: s.note for s in rep.steps}
    for rule in ("cancellations", "returns", "missing_customer", "nonpositive_price"):
        assert notes[rule].startswith("not applicable")


def test_unknown_prices_are_kept_and_blank_users_are_missing() -> None:
    df = pd.DataFrame(
        {
            C.BASKET: ["1", "1", "2"],
            C.ITEM: ["a", "b", "a"],
            C.USER: pd.Categorical(["u", "u", " "]),
            C.PRICE: [np.nan, 1.0, 1.0],
        }
    )
    out, rep = clean(df, source="x")
    assert list(out.index) == [0, 1]
    assert counts(rep)["missing_customer"] == 1 and counts(rep)["nonpositive_price"] == 0


def test_non_product_pattern_is_whole_id_case_insensitive_and_configurable() -> None:
    items = pd.Series(["POST", "m", " DOT ", "POSTCARD", "gift_0001_20", "85123A", None, "BANK CHARGES", "b", "post"])
    assert non_product_mask(items, CleaningPolicy().non_product_pattern).tolist() == [
        True, True, True, False, True, False, False, True, False, False,
    ]  # fmt: skip
    assert non_product_mask(items, r"85\d+[A-Z]").tolist() == [False] * 5 + [True] + [False] * 4
    assert non_product_mask(items, r"(?i)post").tolist() == [True] + [False] * 8 + [True]


def test_loader_non_product_items_join_the_rule_counted_by_reason() -> None:
    df = pd.DataFrame(
        {
            C.BASKET: ["1", "1", "1", "2", "2", "3", "3"],
            C.ITEM: ["gas", "milk", "POST", "coupon", " gas ", "gas", "bread"],
            C.USER: ["u1", "u1", "u1", "u2", "u2", None, "u3"],
            C.QUANTITY: [9000.0, 1.0, 1.0, 1.0, 1.0, 5.0, 1.0],
            C.PRICE: [0.5, 1.0, 18.0, 1.0, 0.5, 0.5, 2.0],
        }
    )
    extra = {"fuel": {"gas"}, "coupons": {"coupon", "POST"}}
    out, rep = clean(df, source="toy", non_product_items=extra)
    assert out[C.ITEM].tolist() == ["milk", "bread"]
    step = next(s for s in rep.steps if s.rule == "non_product")
    # the guest's gas line (row 5) went under missing_customer; POST is counted under the pattern, once
    assert (step.rows_matched, step.rows_dropped) == (4, 4)
    assert step.note == "lines by reason — item-id pattern: 1; fuel: 2; coupons: 1"
    _, kept = clean(df, CleaningPolicy(non_product="keep"), source="toy", non_product_items=extra)
    ks = next(s for s in kept.steps if s.rule == "non_product")
    assert (ks.rows_matched, ks.rows_dropped) == (4, 0) and ks.note.endswith("4 matching line(s) kept")
    with pytest.raises(DataError, match=r"'non_product'.*4 line\(s\).*row 0: .*item_id='gas'"):
        clean(df, CleaningPolicy(non_product="raise"), source="toy", non_product_items=extra)
    # without loader lists the rule is the pattern alone, with no note
    _, plain = clean(df, source="toy")
    assert next(s for s in plain.steps if s.rule == "non_product").note == ""


def test_cancellation_mask_shape_is_checked() -> None:
    df, _ = toy()
    with pytest.raises(DataError, match="cancellation mask has shape"):
        clean(df, source="toy", cancelled=np.zeros(3, dtype=bool))


def test_policy_validation_and_spec_parsing() -> None:
    with pytest.raises(ConfigError, match=r"'returns' must be one of \['drop', 'keep', 'raise'\], got 'dorp'"):
        CleaningPolicy(returns="dorp")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a valid regex"):
        CleaningPolicy(non_product_pattern="(")
    p = CleaningPolicy.from_spec("literature, duplicates=drop")
    assert (p.non_product, p.duplicates, p.missing_customer) == ("keep", "drop", "drop")
    assert CleaningPolicy.from_spec("non-product=keep").non_product == "keep"
    p = CleaningPolicy.from_spec(r"non_product_pattern=X\d{1,2},returns=keep")
    assert p.non_product_pattern == r"X\d{1,2}" and p.returns == "keep"
    base = CleaningPolicy(missing_customer="keep")
    assert CleaningPolicy.from_spec("default", base=base) == base
    assert CleaningPolicy.from_spec(None, base=base) is base
    with pytest.raises(ConfigError, match=r"unknown cleaning rule 'duplicate'\. Did you mean 'duplicates'"):
        CleaningPolicy.from_spec("duplicate=keep")
    with pytest.raises(ConfigError, match="expected rule=action or a preset"):
        CleaningPolicy.from_spec("strict")


def test_report_renderers() -> None:
    df, cancelled = toy()
    _, rep = clean(df, source="toy", cancelled=cancelled)
    rep = rep.with_notes("timestamps are synthetic", "")
    md = rep.to_markdown()
    assert "11 lines in, 2 out (9 dropped, 81.8%)" in md
    assert "| 3 | returns | drop | 3 | 3 |  |" in md
    assert md.endswith("- timestamps are synthetic")
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["rows_dropped"] == 9 and d["steps"][0]["rule"] == "cancellations"
    assert d["policy"]["missing_customer"] == "drop"


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, np.ndarray]:
    n = draw(st.integers(1, 40))
    basket = draw(st.lists(st.sampled_from(["1", "2", "C3", "4"]), min_size=n, max_size=n))
    item = draw(st.lists(st.sampled_from(["a", "b", "POST", "m", "c"]), min_size=n, max_size=n))
    user = draw(st.lists(st.sampled_from(["u1", "u2", None, ""]), min_size=n, max_size=n))
    qty = draw(st.lists(st.sampled_from([-2.0, 0.0, 1.0, 3.0]), min_size=n, max_size=n))
    price = draw(st.lists(st.sampled_from([-1.0, 0.0, 1.5, np.nan]), min_size=n, max_size=n))
    df = pd.DataFrame({C.BASKET: basket, C.ITEM: item, C.USER: user, C.QUANTITY: qty, C.PRICE: price})
    return df, df[C.BASKET].str.startswith("C").to_numpy()


@settings(max_examples=30, deadline=None)
@given(frames())
def test_invariants(case: tuple[pd.DataFrame, np.ndarray]) -> None:
    df, cancelled = case
    pol = CleaningPolicy()
    # keep-all matches equal independent per-rule counts over all lines (except duplicates)
    _, every = clean(df, CleaningPolicy.keep_all(), source="h", cancelled=cancelled)
    m = counts(every, "rows_matched")
    assert m["cancellations"] == int(cancelled.sum())
    assert m["returns"] == int((df[C.QUANTITY] <= 0).sum())
    assert m["missing_customer"] == int(df[C.USER].isin([None, ""]).sum())
    assert m["nonpositive_price"] == int((df[C.PRICE] <= 0).sum())
    assert m["duplicates"] == int(df.duplicated().sum())
    try:
        out, rep = clean(df, pol, source="h", cancelled=cancelled)
    except DataError as exc:
        assert "no lines left" in str(exc)
        return
    assert rep.rows_out == len(out) == rep.rows_in - sum(s.rows_dropped for s in rep.steps)
    assert not cancelled[out.index].any()
    assert (out[C.QUANTITY] > 0).all()
    assert out[C.USER].notna().all() and (out[C.USER] != "").all()
    assert not out[C.ITEM].isin(["POST", "m"]).any()
    assert not (out[C.PRICE] <= 0).any()
    assert not out.duplicated().any()
    # idempotent: cleaning the result drops nothing more
    again, rep2 = clean(out, pol, source="h", cancelled=cancelled[out.index])
    assert len(again) == len(out) and rep2.rows_dropped == 0
