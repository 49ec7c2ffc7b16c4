"""Per-user attributes (country) travel from the loader's reading pass to ``Dataset.users``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xsell_eval.data.sources.online_retail as online_retail_source
from xsell_eval.columns import Columns as C
from xsell_eval.data.cleaning import CleaningPolicy
from xsell_eval.data.dataset import Dataset
from xsell_eval.data.loaders import load_dataset
from xsell_eval.errors import ConfigError, DataError

OR_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _country(ds: Dataset) -> dict[str, object]:
    country = ds.user_country
    assert country is not None and len(country) == ds.n_users
    return dict(zip(ds.user_ids.tolist(), country.tolist(), strict=True))


# ---------------------------------------------------------------------- Online Retail
def test_online_retail_loader_fills_country_in_its_one_reading_pass(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rows = [
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
        "536366,71053,WHITE METAL LANTERN,2,2010-12-02 09:00:00,3.39,13047.0,France",
        "536367,85123A,WHITE HANGING HEART,1,2010-12-03 10:00:00,2.55,,Spain",  # guest: dropped, no user
        "536368,22141,RED RETROSPOT MUG,3,2010-12-07 14:00:00,1.25,12583.0,",  # no country
    ]
    calls: list[object] = []
    real = online_retail_source._read_table_typed

    def counting(*args: object, **kw: object) -> pd.DataFrame:
        calls.append(args[0])
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(online_retail_source, "_read_table_typed", counting)
    ds = load_dataset(_write(tmp_path / "or.csv", OR_HEADER, rows))
    assert len(calls) == 1  # the country comes from the same read as the lines
    assert _country(ds) == {"12583": None, "13047": "France", "17850": "United Kingdom"}
    assert ds.users is not None and ds.users[C.USER].tolist() == ds.user_ids.tolist()
    first_line = np.arange(len(ds.interactions)) == 0
    assert ds.subset(first_line).users is ds.users  # a period of the data keeps the whole user index's attributes


def test_a_customer_with_several_countries_gets_that_of_most_lines_of_the_file_ties_alphabetical(
    tmp_path: Path,
) -> None:
    rows = [
        # 17850: one kept UK line; two France lines that cleaning drops (a cancellation, a return)
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
        "C536366,85123A,WHITE HANGING HEART,-1,2010-12-02 08:26:00,2.55,17850,France",
        "536367,71053,WHITE METAL LANTERN,-2,2010-12-03 08:26:00,3.39,17850,France",
        # 13047: one Spain line, then one Belgium line: a tie goes to the alphabetically first
        "536368,85123A,WHITE HANGING HEART,1,2010-12-04 10:00:00,2.55,13047,Spain",
        "536369,71053,WHITE METAL LANTERN,1,2010-12-05 10:00:00,3.39,13047,Belgium",
        # 12583: two Norway, one EIRE (blanks around the value do not make another country)
        "536370,85123A,WHITE HANGING HEART,1,2010-12-06 10:00:00,2.55,12583, Norway",
        "536371,71053,WHITE METAL LANTERN,1,2010-12-06 11:00:00,3.39,12583,Norway ",
        "536372,22141,RED RETROSPOT MUG,1,2010-12-06 12:00:00,1.25,12583,EIRE",
    ]
    path = _write(tmp_path / "or.csv", OR_HEADER, rows)
    expected = {"12583": "Norway", "13047": "Belgium", "17850": "France"}
    assert _country(load_dataset(path)) == expected
    # the rule counts the file's lines, not the kept ones: no cleaning switch moves a customer
    assert _country(load_dataset(path, policy=CleaningPolicy.keep_all())) == expected
    assert _country(load_dataset(path, policy=CleaningPolicy.literature())) == expected


def test_online_retail_without_a_country_column_has_no_user_attributes(tmp_path: Path) -> None:
    header = OR_HEADER.removesuffix(",Country")
    ds = load_dataset(_write(tmp_path / "or.csv", header, ["1,a,x,1,2010-12-01 08:26:00,1.0,17850"]))
    assert ds.users is None and ds.user_country is None


# ---------------------------------------------------------------------- csv / parquet
CSV_ROWS = ["u1,b1,a,FR", "u1,b2,b,FR", "u1,b3,a,DE", "u2,b4,a,DE", "u3,b5,c,"]


def test_csv_country_by_name_or_through_the_column_mapping(tmp_path: Path) -> None:
    named = load_dataset(_write(tmp_path / "named.csv", "user_id,basket_id,item_id,country", CSV_ROWS))
    assert _country(named) == {"u1": "FR", "u2": "DE", "u3": None}
    mapped = load_dataset(
        _write(tmp_path / "mapped.csv", "Customer,Order,Product,Region", CSV_ROWS),
        columns={C.USER: "Customer", C.BASKET: "Order", C.ITEM: "Product", C.COUNTRY: "Region"},
    )
    assert _country(mapped) == _country(named)
    parquet = tmp_path / "lines.parquet"
    pd.read_csv(tmp_path / "mapped.csv", dtype=str).to_parquet(parquet)
    from_parquet = load_dataset(
        parquet, columns={C.USER: "Customer", C.BASKET: "Order", C.ITEM: "Product", C.COUNTRY: "Region"}
    )
    assert _country(from_parquet) == _country(named)
    plain = load_dataset(tmp_path / "mapped.csv", columns={C.USER: "Customer", C.BASKET: "Order", C.ITEM: "Product"})
    assert plain.users is None  # Region not mapped: not read


def test_csv_country_mapping_errors_and_a_country_without_users(tmp_path: Path) -> None:
    path = _write(tmp_path / "mapped.csv", "Customer,Order,Product,Region", CSV_ROWS)
    with pytest.raises(DataError, match=r"mapped.csv: missing column 'Land' \(mapped to country\)"):
        load_dataset(path, columns={C.BASKET: "Order", C.ITEM: "Product", C.COUNTRY: "Land"})
    with pytest.raises(ConfigError, match=r"unknown canonical column 'contry'. Did you mean 'country'"):
        load_dataset(path, columns={C.BASKET: "Order", C.ITEM: "Product", "contry": "Region"})
    guests = load_dataset(path, columns={C.BASKET: "Order", C.ITEM: "Product", C.COUNTRY: "Region"})
    assert guests.users is None
    assert any("'Region' ignored: per-user, and there is no user id" in n for n in guests.cleaning.notes)


# ---------------------------------------------------------------------- Dataset
def test_dataset_aligns_user_attributes_with_the_user_index() -> None:
    lines = pd.DataFrame(
        {
            "basket_id": ["1", "1", "2", "3"],
            "item_id": ["a", "b", "a", "c"],
            "user_id": [17850.0, 17850.0, 12346.0, None],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": ["17850", "12346", "12346", "99999", None],
            "country": ["UK", " ", "DE", "FR", "ES"],
        }
    )
    ds = Dataset.from_frames(lines, users=users)
    assert ds.user_ids.tolist() == ["12346", "17850"]
    # 12346: its first row counts (blank = unknown); 99999 has no interactions and the id-less row is dropped
    assert ds.user_country is not None and ds.user_country.tolist() == [None, "UK"]
    assert ds.subset(np.array([True, True, False, False])).user_country.tolist() == [None, "UK"]  # type: ignore[union-attr]
    assert Dataset.from_frames(lines).user_country is None
    assert Dataset.from_frames(lines, users=users[["user_id"]]).users is None  # no attribute: nothing carried
    with pytest.raises(DataError, match=r"shop.csv: per-user attributes need a 'user_id' column"):
        Dataset.from_frames(lines, users=users.rename(columns={"user_id": "customer"}), source="shop.csv")
