"""Cancelled originals: hand-made cases, a stack-based reference, the cleaning rule, the embedded data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _stack_matching import reference

from xsell_eval.columns import Columns as C
from xsell_eval.data.cancellations import match_cancelled_originals
from xsell_eval.data.cleaning import CleaningPolicy, clean
from xsell_eval.errors import DataError


def frame(rows: list[tuple[str, str | None, str, float, str]]) -> pd.DataFrame:
    """(basket, user, item, quantity, timestamp) rows."""
    df = pd.DataFrame(rows, columns=[C.BASKET, C.USER, C.ITEM, C.QUANTITY, C.TIMESTAMP])
    df[C.TIMESTAMP] = pd.to_datetime(df[C.TIMESTAMP])
    return df


def originals(df: pd.DataFrame) -> list[int]:
    cancelled = df[C.BASKET].str.startswith("C").to_numpy()
    m = match_cancelled_originals(df, cancelled, df[C.USER].notna().to_numpy())
    assert m is not None
    return np.flatnonzero(m.originals).tolist()


def test_hand_made_case() -> None:
    df = frame(
        [
            ("1", "u", "a", 5, "2024-01-01 10:00"),  # 0 older original: left, the latest earlier one is taken
            ("2", "u", "a", 5, "2024-01-02 10:00"),  # 1 taken by C5
            ("2", "u", "b", 3, "2024-01-02 10:00"),  # 2 partial cancellation (-1): not matched
            ("3", "v", "a", 5, "2024-01-02 11:00"),  # 3 another customer: not matched
            ("4", None, "a", 5, "2024-01-02 12:00"),  # 4 guest line: never matched
            ("C5", "u", "a", -5, "2024-01-03 10:00"),  # 5
            ("C5", "u", "b", -1, "2024-01-03 10:00"),  # 6
            ("6", "u", "c", 2, "2024-01-04 10:00"),  # 7 same minute as its cancellation: matched
            ("C7", "u", "c", -2, "2024-01-04 10:00"),  # 8
            ("C8", "u", "d", -4, "2024-01-05 10:00"),  # 9 cancellation before the original: not matched
            ("9", "u", "d", 4, "2024-01-06 10:00"),  # 10
            ("C9", "u", "a", -5, "2024-01-07 10:00"),  # 11 second cancellation of (u, a, 5): takes row 0
            ("C10", "u", "a", -5, "2024-01-08 10:00"),  # 12 a third: nothing left, unmatched
        ]
    )
    assert originals(df) == [0, 1, 7] == reference(df)


def test_interleaved_cancellations_take_the_latest_open_original() -> None:
    df = frame(
        [
            ("1", "u", "a", 1, "2024-01-01"),  # 0
            ("2", "u", "a", 1, "2024-01-02"),  # 1 taken by C3
            ("C3", "u", "a", -1, "2024-01-03"),
            ("4", "u", "a", 1, "2024-01-04"),  # 3 taken by C5
            ("C5", "u", "a", -1, "2024-01-05"),
            ("C6", "u", "a", -1, "2024-01-06"),  # takes 0
        ]
    )
    assert originals(df) == [0, 1, 3] == reference(df)


def test_without_timestamps_the_file_order_decides() -> None:
    df = frame([("1", "u", "a", 1, "2024-01-01"), ("C2", "u", "a", -1, "2024-01-01"), ("3", "u", "a", 1, "2024-01-01")])
    df = df.drop(columns=[C.TIMESTAMP])
    m = match_cancelled_originals(df, df[C.BASKET].str.startswith("C").to_numpy(), np.ones(3, dtype=bool))
    assert m is not None and m.originals.tolist() == [True, False, False]


@pytest.mark.parametrize("seed", range(8))
def test_matches_the_stack_reference_on_random_lines(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    cancel = rng.random(n) < 0.35
    df = pd.DataFrame(
        {
            C.BASKET: [("C" if c else "") + str(b) for c, b in zip(cancel, rng.integers(0, 60, n), strict=True)],
            C.USER: np.where(rng.random(n) < 0.1, None, rng.choice(["u1", "u2", "u3"], n)),
            C.ITEM: rng.choice(["a", "b", "c"], n),
            C.QUANTITY: np.where(cancel, -1, 1) * rng.integers(1, 3, n),
            C.TIMESTAMP: pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 30, n), unit="D"),
        }
    )
    got = originals(df)
    assert got == reference(df)
    assert len(got) > 20  # the case exercises matching


def test_counts_in_the_note() -> None:
    df = frame(
        [
            ("1", "u", "a", 1, "2024-01-01"),
            ("1", "u", "b", 1, "2024-01-01"),
            ("2", "u", "a", 2, "2024-01-01"),
            ("2", "u", "b", 2, "2024-01-01"),
            ("C3", "u", "a", -1, "2024-01-02"),
            ("C3", "u", "b", -1, "2024-01-02"),
            ("C4", "u", "a", -2, "2024-01-02"),
            ("C5", "u", "z", -9, "2024-01-02"),
        ]
    )
    m = match_cancelled_originals(df, df[C.BASKET].str.startswith("C").to_numpy(), np.ones(len(df), dtype=bool))
    assert m is not None
    assert (m.cancellation_lines, m.cancellation_invoices, m.matched_cancellations) == (4, 3, 3)
    assert (m.original_lines, m.original_invoices, m.whole_invoices) == (3, 2, 1)
    assert m.note().startswith("3 of 4 cancellation lines (3 invoices) matched")


def test_cleaning_rule_drop_keep_raise_and_literature() -> None:
    df = frame(
        [
            ("1", "u", "a", 5, "2024-01-01"),
            ("1", "u", "b", 1, "2024-01-01"),
            ("C2", "u", "a", -5, "2024-01-02"),
        ]
    )
    df[C.PRICE] = 1.0
    cancelled = df[C.BASKET].str.startswith("C").to_numpy()
    out, rep = clean(df, source="toy", cancelled=cancelled)
    step = next(s for s in rep.steps if s.rule == "cancelled_originals")
    assert (step.rows_matched, step.rows_dropped) == (1, 1) and list(out.index) == [1]
    assert [s.rule for s in rep.steps][:3] == ["cancellations", "cancelled_originals", "returns"]
    out, rep = clean(df, CleaningPolicy.literature(), source="toy", cancelled=cancelled)
    assert list(out.index) == [0, 1]
    with pytest.raises(DataError, match=r"cleaning rule 'cancelled_originals'.*first at row 0"):
        clean(df, CleaningPolicy(cancelled_originals="raise"), source="toy", cancelled=cancelled)
    assert CleaningPolicy.from_spec("cancelled-originals=keep").cancelled_originals == "keep"
    _, rep = clean(df, source="toy")  # no cancellation marker
    assert next(s for s in rep.steps if s.rule == "cancelled_originals").note.startswith("not applicable")


@pytest.mark.slow
def test_embedded_online_retail_published_counts_and_the_80995_unit_order() -> None:
    from xsell_eval.data.describe import data_card
    from xsell_eval.data.loaders import default_data_path, load_dataset

    raw = pd.read_csv(
        default_data_path(), dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str}, engine="pyarrow"
    )
    cancel = raw["InvoiceNo"].str.startswith("C")
    assert (int(cancel.sum()), raw.loc[cancel, "InvoiceNo"].nunique()) == (9_288, 3_836)  # published

    ds = load_dataset()
    step = next(s for s in ds.cleaning.steps if s.rule == "cancelled_originals")
    # an independent computation: the stack reference on the raw columns
    ref = pd.DataFrame(
        {
            C.BASKET: raw["InvoiceNo"],
            C.USER: raw["CustomerID"].str.replace(r"\.0$", "", regex=True),
            C.ITEM: raw["StockCode"].str.strip(),
            C.QUANTITY: raw["Quantity"].astype(float),
            C.TIMESTAMP: pd.to_datetime(raw["InvoiceDate"]),
        }
    )
    expected = reference(ref)
    m = match_cancelled_originals(ref, cancel.to_numpy(), ref[C.USER].notna().to_numpy())
    assert m is not None and np.flatnonzero(m.originals).tolist() == expected  # line for line
    assert step.rows_dropped == len(expected) == 2_899
    assert "2,899 of 9,288 cancellation lines (3,836 invoices)" in step.note
    kept = set(ds.basket_ids)
    assert "581483" not in kept and "541431" not in kept  # 80,995 and 74,215 units, both cancelled
    card = data_card(ds)
    assert card.basket_value is not None and card.basket_value.max < 80_995 * 2.08
    assert (len(ds.interactions), ds.n_baskets) == (388_361, 18_276)
