"""Loaders: every format on tiny generated files, auto-detection, bad input, embedded data.

Tests marked ``shared`` read ../shared/data and skip when it is absent; the ones on the
full Online Retail and Complete Journey files are also ``slow`` (run with ``-m slow``).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _stack_matching import reference

from xsell_eval.columns import Columns as C
from xsell_eval.data.cleaning import CleaningPolicy
from xsell_eval.data.loaders import (
    DATA_DIR_ENV,
    EMBEDDED_FILE,
    LOADERS,
    default_data_path,
    detect_loader,
    load_dataset,
)
from xsell_eval.errors import ConfigError, DataError, UnknownNameError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

# ---------------------------------------------------------------------- fixtures
OR_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
OR_ROWS = [
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",  # exact duplicate
    "536366,85123A,CREAM HANGING HEART,2,2010-12-02 09:00:00,2.55,13047.0,United Kingdom",  # minority title
    "536366,POST,POSTAGE,1,2010-12-02 09:00:00,18.00,13047.0,United Kingdom",  # non-product
    "536367,85123A,WHITE HANGING HEART,1,2010-12-03 10:00:00,2.55,,United Kingdom",  # guest
    "C536368,71053,WHITE METAL LANTERN,-1,2010-12-04 11:00:00,3.39,17850.0,United Kingdom",  # cancellation
    "536369,22139,,-5,2010-12-05 12:00:00,0.00,,United Kingdom",  # return (also guest, zero price)
    "536370,22140,FREE GIFT,1,2010-12-06 13:00:00,0.00,13047.0,United Kingdom",  # zero price
    "536371,22141,RED RETROSPOT MUG,3,2010-12-07 14:00:00,1.25,12583.0,France",
    "536371,85123A,WHITE HANGING HEART,1,2010-12-07 14:00:00,2.55,12583.0,France",
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def online_retail(tmp_path: Path, rows: list[str] | None = None, header: str = OR_HEADER, name: str = "or.csv") -> Path:
    return write(tmp_path / name, "\n".join([header, *(OR_ROWS if rows is None else rows)]) + "\n")


def steps(ds) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {s.rule: s.rows_dropped for s in ds.cleaning.steps}


# ---------------------------------------------------------------------- UCI Online Retail
def test_online_retail_default_policy_by_hand(tmp_path: Path) -> None:
    ds = load_dataset(online_retail(tmp_path))
    assert ds.meta["loader"] == "online-retail"
    assert steps(ds) == {
        "cancellations": 1,
        "cancelled_originals": 0,  # C536368 cancels 1 unit of 71053; the earlier line has 6
        "returns": 1,
        "missing_customer": 1,
        "non_product": 1,
        "nonpositive_price": 1,
        "duplicates": 1,
    }
    assert len(ds.interactions) == 5
    assert list(ds.user_ids) == ["12583", "13047", "17850"]  # float artefact removed
    assert list(ds.basket_ids) == ["536365", "536366", "536371"]
    assert list(ds.item_ids) == ["22141", "71053", "85123A"]
    titles = dict(zip(ds.catalog[C.ITEM], ds.catalog[C.TITLE], strict=True))
    assert titles["85123A"] == "WHITE HANGING HEART"  # most frequent description among kept lines
    assert ds.interactions[C.TIMESTAMP].iloc[0] == pd.Timestamp("2010-12-01 08:26:00")
    assert ds.interactions[C.PRICE].tolist()[:2] == [2.55, 3.39]
    assert any("chosen automatically" in n for n in ds.cleaning.notes)
    assert len(ds.meta["sha256"]) == 64


def test_online_retail_literature_policy_and_keep_guests(tmp_path: Path) -> None:
    path = online_retail(tmp_path)
    lit = load_dataset(path, policy=CleaningPolicy.literature())
    assert len(lit.interactions) == 7  # keeps POST and the duplicate
    guests = load_dataset(path, policy="missing_customer=keep")
    assert len(guests.interactions) == 6 and (guests.interactions[C.USER_IDX] == -1).sum() == 1


def test_online_retail_ii_column_names_and_gzip(tmp_path: Path) -> None:
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
    a = load_dataset(online_retail(tmp_path, header=header, name="ii.csv.gz"))
    b = load_dataset(online_retail(tmp_path))
    assert a.meta["loader"] == "online-retail"
    assert a.fingerprint == b.fingerprint


def test_online_retail_other_date_format(tmp_path: Path) -> None:
    rows = ["1,A,x,1,12/1/2010 8:26,1.0,5,UK", "1,B,y,1,12/1/2010 8:26,1.0,5,UK", "2,A,x,1,1/13/2011 17:05,1.0,6,UK"]
    ds = load_dataset(online_retail(tmp_path, rows), loader="online-retail")
    assert ds.interactions[C.TIMESTAMP].max() == pd.Timestamp("2011-01-13 17:05")


# ---------------------------------------------------------------------- generic csv / parquet
def test_generic_csv_canonical_columns_keeps_guests(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            C.USER: ["u1", "u1", None, "u2"],
            C.BASKET: [1, 1, 2, 3],
            C.ITEM: ["a", "b", "a", "c"],
            C.TIMESTAMP: ["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-02 11:00", "2024-01-03 12:00"],
            C.QUANTITY: [1, 2, 1, 1],
            C.PRICE: [1.0, 2.5, 1.0, 4.0],
            C.TITLE: ["Apple", "Banana", "Apple", "Cherry"],
        }
    )
    df.to_csv(tmp_path / "lines.csv", index=False)
    ds = load_dataset(tmp_path / "lines.csv")
    assert ds.meta["loader"] == "csv"
    assert len(ds.interactions) == 4  # csv default keeps guests
    assert ds.cleaning.policy["missing_customer"] == "keep"
    assert list(ds.catalog[C.TITLE]) == ["Apple", "Banana", "Cherry"]
    assert ds.has_catalog_text and ds.has_prices and ds.has_timestamps


def test_generic_column_mapping_unix_time_and_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "Order": ["o1", "o1", "o2"],
            "SKU": ["x", "y", "x"],
            "Who": ["a", "a", "b"],
            "When": [1704103200, 1704103200, 1704189600],
        }
    )
    df.to_parquet(tmp_path / "orders.parquet")
    mapping = {C.BASKET: "Order", C.ITEM: "SKU", C.USER: "Who", C.TIMESTAMP: "When"}
    ds = load_dataset(tmp_path / "orders.parquet", columns=mapping)
    assert ds.meta["loader"] == "parquet"
    assert ds.interactions[C.TIMESTAMP].iloc[0] == pd.Timestamp("2024-01-01 10:00:00")
    assert any("Unix time" in n for n in ds.cleaning.notes)
    with pytest.raises(ConfigError, match=r"unknown canonical column 'basket'\. Did you mean 'basket_id'"):
        load_dataset(tmp_path / "orders.parquet", columns={"basket": "Order", C.ITEM: "SKU"})


def test_generic_folder_with_catalog_and_tz_offsets(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    write(
        folder / "interactions.csv",
        "user_id,basket_id,item_id,timestamp\n"
        "u1,b1,i1,2017-01-28 14:06:53-05:00\nu1,b1,i2,2017-01-28 14:06:53-05:00\nu2,b2,i1,2017-06-01 10:00:00-04:00\n",
    )
    write(folder / "catalog.csv", "item_id,title,category,price\ni1,Mouse,IT,10\ni2,Laptop,IT,900\ni3,Cable,IT,5\n")
    ds = load_dataset(folder)
    assert ds.n_items == 3 and list(ds.catalog[C.TITLE]) == ["Mouse", "Laptop", "Cable"]
    assert ds.interactions[C.TIMESTAMP].tolist()[0] == pd.Timestamp("2017-01-28 19:06:53")  # UTC
    assert ds.interactions[C.TIMESTAMP].tolist()[2] == pd.Timestamp("2017-06-01 14:00:00")


def test_semicolons_bom_and_day_first_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "semi.csv", "\ufeffbasket_id;item_id;timestamp\n1;a;05-01-2015\n1;b;05-01-2015\n2;a;21-07-2015\n"
    )
    ds = load_dataset(path)
    assert ds.interactions[C.TIMESTAMP].tolist() == [pd.Timestamp("2015-01-05")] * 2 + [pd.Timestamp("2015-07-21")]
    notes = " ".join(ds.cleaning.notes)
    assert "separated by ';'" in notes and "parsed day-first" in notes
    us = load_dataset(
        write(tmp_path / "us.csv", "basket_id,item_id,timestamp\n1,a,12/1/2010 8:26\n2,a,1/13/2011 9:00\n")
    )
    assert us.interactions[C.TIMESTAMP].iloc[0] == pd.Timestamp("2010-12-01 08:26")
    assert any("parsed month-first" in n for n in us.cleaning.notes)


def test_synthetic_generator_folder_round_trip(tmp_path: Path) -> None:
    synthetic = pytest.importorskip("xsell_eval.data.synthetic")
    shop = synthetic.generate_shop(seed=3, n_users=60, n_items=30, n_days=20)
    shop.save(tmp_path / "synth")
    ds = load_dataset(tmp_path / "synth")
    direct = shop.to_dataset()
    assert ds.n_items == direct.n_items and ds.n_baskets == direct.n_baskets
    assert len(ds.interactions) == len(direct.interactions)  # guests kept, nothing dropped


# ---------------------------------------------------------------------- Instacart
def test_instacart_folder_synthetic_monotone_timestamps(tmp_path: Path) -> None:
    d = tmp_path / "ic"
    write(
        d / "orders.csv",
        "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,days_since_prior_order\n"
        "10,1,prior,1,2,15,\n11,1,prior,2,3,9,0.0\n12,1,train,3,4,8,7.0\n"
        "20,2,prior,1,1,10,\n21,2,test,2,1,10,30.0\n",
    )
    write(
        d / "order_products__prior.csv",
        "order_id,product_id,add_to_cart_order,reordered\n10,1,1,0\n10,2,2,0\n11,1,1,1\n20,3,1,0\n",
    )
    write(d / "order_products__train.csv", "order_id,product_id,add_to_cart_order,reordered\n12,2,1,1\n12,3,2,0\n")
    write(
        d / "products.csv",
        "product_id,product_name,aisle_id,department_id\n1,Banana,24,4\n2,Yogurt,120,16\n3,Bread,112,3\n",
    )
    write(d / "aisles.csv", "aisle_id,aisle\n24,fresh fruits\n120,yogurt\n112,bread\n")
    write(d / "departments.csv", "department_id,department\n4,produce\n16,dairy eggs\n3,bakery\n")
    ds = load_dataset(d)
    assert ds.meta["loader"] == "instacart"
    b = ds.interactions.drop_duplicates(C.BASKET).set_index(C.BASKET)[C.TIMESTAMP]
    # user 1: days 0, 0, 7 -> last order on the anchor day at 08:00;
    # order 2 (09:00, same day as order 1 at 15:00) is moved just after order 1
    assert b["12"] == pd.Timestamp("2017-05-01 08:00:03")
    assert b["10"] < b["11"] < b["12"]
    assert b["10"] == pd.Timestamp("2017-04-24 15:00:01")
    # user 2's last order (test, no lines) is on the anchor day: the prior one is 30 days before
    assert b["20"] == pd.Timestamp("2017-04-01 10:00:01")
    assert any("SYNTHETIC" in n for n in ds.cleaning.notes)
    cats = dict(zip(ds.catalog[C.ITEM], ds.catalog[C.CATEGORY], strict=True))
    assert cats["2"] == "dairy eggs/yogurt"


def test_instacart_line_without_order_is_an_error(tmp_path: Path) -> None:
    d = tmp_path / "ic"
    write(
        d / "orders.csv",
        "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,days_since_prior_order\n10,1,prior,1,2,15,\n",
    )
    write(d / "order_products__prior.csv", "order_id,product_id\n10,1\n99,2\n")
    with pytest.raises(DataError, match=r"order_id '99' at data row 2 is not in orders.csv"):
        load_dataset(d, loader="instacart")


# ---------------------------------------------------------------------- baskets
def test_basket_list_skips_and_counts_empty_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "groceries.csv", "whole milk,rolls/buns\n\ncream cheese ,whole milk,\nsoda\n")
    ds = load_dataset(path)
    assert ds.meta["loader"] == "baskets"
    assert list(ds.basket_ids) == ["1", "3", "4"]  # line numbers
    assert list(ds.item_ids) == ["cream cheese", "rolls/buns", "soda", "whole milk"]
    notes = " ".join(ds.cleaning.notes)
    assert "skipped 1 empty line(s), first at line 2" in notes
    assert "ignored 1 empty item field(s)" in notes
    assert not ds.has_users and not ds.has_timestamps


# ---------------------------------------------------------------------- Complete Journey
def test_completejourney_price_and_products(tmp_path: Path) -> None:
    d = tmp_path / "cj"
    write(
        d / "transactions_sample.csv.gz",
        "household_id,store_id,basket_id,product_id,quantity,sales_value,retail_disc,coupon_disc,coupon_match_disc,week,transaction_timestamp\n"
        "2261,309,31625220889,940996,2.0,3.86,0.43,0.0,0.0,5,2017-01-28 14:06:53-05:00\n"
        "2261,309,31625220889,873902,1.0,1.59,0.9,0.0,0.0,5,2017-01-28 14:06:53-05:00\n"
        "2131,368,32053127496,873902,0.0,0.0,0.0,0.0,0.0,10,2017-02-28 22:31:57-05:00\n"
        "2131,368,32053127497,940996,1.0,1.50,0.0,0.0,0.0,30,2017-07-28 09:00:00-04:00\n",
    )
    write(
        d / "products.csv.gz",
        "product_id,manufacturer_id,department,brand,product_category,product_type,package_size\n"
        "940996,2,GROCERY,National,FRZN ICE,ICE - CRUSHED/CUBED,22 LB\n873902,69,PRODUCE,Private,APPLES,GALA,\n",
    )
    ds = load_dataset(d / "transactions_sample.csv.gz")
    assert ds.meta["loader"] == "completejourney"
    assert steps(ds)["returns"] == 1  # the quantity-0 line
    prices = ds.interactions[C.PRICE].tolist()
    assert prices == pytest.approx([1.93, 1.59, 1.50])
    cat = ds.catalog.set_index(C.ITEM)
    assert cat.loc["940996", C.TITLE] == "ICE - CRUSHED/CUBED"
    assert cat.loc["873902", C.CATEGORY] == "PRODUCE/APPLES"
    assert ds.interactions[C.TIMESTAMP].iloc[-1] == pd.Timestamp("2017-07-28 13:00:00")


CJ_HEADER = "household_id,basket_id,product_id,quantity,sales_value,transaction_timestamp"
CJ_PRODUCTS = (
    "product_id,manufacturer_id,department,brand,product_category,product_type,package_size\n"
    "1,2,GROCERY,National,FLUID MILK PRODUCTS,FLUID MILK WHITE ONLY,1 GA\n"
    "2,2,PRODUCE,Private,TROPICAL FRUIT,BANANAS,\n"
    "6534178,69,FUEL,Private,COUPON/MISC ITEMS,GASOLINE-REG UNLEADED,\n"  # fuel by department
    "7,69,MISCELLANEOUS,Private,COUPON/MISC ITEMS,GASOLINE-REG UNLEADED,\n"  # fuel by type
    "8,69,COUPON,National,COUPONS/STORE & MFG,COUPONS/STORE & MFG,\n"
    "9,69,MISCELLANEOUS,National,COUPON/MISC ITEMS,OUTSIDE VENDORS GIFT CARDS,\n"
    "10,69,MEAT,National,BEEF,misc sales trans,\n"  # case-insensitive
    "11,69,MISCELLANEOUS,National,COUPON/MISC ITEMS,PRODUCE DEPT KEY RING,\n"
    "12,69,GROCERY,National,COUPON/MISC ITEMS,,\n"  # category alone decides
    "13,69,KIOSK-GAS,Private,,,\n"  # never bought: only the catalog loses it
)


def cj_sample(tmp_path: Path) -> Path:
    """A hand-made Complete Journey folder: 2 baskets of food, every kind of non-product line."""
    t = "2017-03-01 10:00:00-05:00"
    rows = [
        f"100,b1,1,1,1.0,{t}",
        f"100,b1,2,3,0.6,{t}",
        f"100,b1,6534178,9500,20.0,{t}",  # the gasoline line: its quantity is not a count of items
        f"100,b1,8,1,-1.0,{t}",  # a coupon (negative value: would also fail the price rule)
        f"101,b2,1,2,2.0,{t}",
        f"101,b2,7,4200,10.0,{t}",
        f"101,b2,9,1,25.0,{t}",
        f"101,b2,10,1,5.0,{t}",
        f"101,b2,11,2,1.0,{t}",
        f"101,b2,12,1,1.0,{t}",
    ]
    d = tmp_path / "cj"
    write(d / "products.csv", CJ_PRODUCTS)
    write(d / "transactions.csv", "\n".join([CJ_HEADER, *rows]) + "\n")
    return d


def test_completejourney_non_products_from_the_product_hierarchy(tmp_path: Path) -> None:
    d = cj_sample(tmp_path)
    ds = load_dataset(d)
    step = next(s for s in ds.cleaning.steps if s.rule == "non_product")
    assert (step.rows_matched, step.rows_dropped) == (7, 7)
    assert step.note == (
        "lines by reason — item-id pattern: 0; fuel: 2; coupons: 1; gift cards, deposits, donations, manual sales: 2; "
        "other COUPON/MISC ITEMS: 2"
    )
    assert sorted(ds.interactions[C.ITEM].unique()) == ["1", "2"]
    assert ds.interactions[C.QUANTITY].sum() == 6  # 13,700 units of fuel gone
    assert sorted(ds.item_ids) == ["1", "2"]  # removed from the catalog too, even the never-bought 13
    assert any("catalog: 8 non-product entries removed" in n for n in ds.cleaning.notes)
    # the switch still works: keep counts and keeps them (the coupon's negative price then drops it)
    kept = load_dataset(d, policy="non_product=keep")
    ks = next(s for s in kept.cleaning.steps if s.rule == "non_product")
    assert (ks.rows_matched, ks.rows_dropped) == (7, 0)
    assert "6534178" in set(kept.interactions[C.ITEM]) and "13" in set(kept.item_ids)
    with pytest.raises(DataError, match=r"'non_product'.*7 line\(s\).*item_id='6534178'"):
        load_dataset(d, policy="non_product=raise")


def test_completejourney_without_products_table_says_non_products_are_not_recognised(tmp_path: Path) -> None:
    d = cj_sample(tmp_path)
    (d / "products.csv").unlink()
    ds = load_dataset(d)
    assert next(s for s in ds.cleaning.steps if s.rule == "non_product").rows_matched == 0
    assert any("non-products cannot be recognised" in n for n in ds.cleaning.notes)


def test_dunnhumby_original_columns_get_synthetic_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "transaction_data.csv",
        "household_key,BASKET_ID,DAY,PRODUCT_ID,QUANTITY,SALES_VALUE,STORE_ID,RETAIL_DISC,TRANS_TIME,WEEK_NO\n"
        "2375,26984851472,1,1004906,1,1.39,364,-0.6,1631,1\n2375,26984851472,1,1033142,2,1.64,364,0.0,1631,1\n",
    )
    ds = load_dataset(path, loader="completejourney")
    assert ds.interactions[C.TIMESTAMP].iloc[0] == pd.Timestamp("2000-01-02 16:31")
    assert ds.interactions[C.PRICE].tolist() == [1.39, 0.82]
    assert any("synthetic" in n for n in ds.cleaning.notes)


# ---------------------------------------------------------------------- MovieLens
def test_movielens_udata_baskets_per_user_day(tmp_path: Path) -> None:
    d = tmp_path / "ml-100k"
    # 881250949 = 1997-12-04 15:55:49 UTC
    write(
        d / "u.data", "196\t242\t3\t881250949\n196\t302\t4\t881250950\n196\t377\t1\t881350949\n22\t242\t5\t881250949\n"
    )
    genres = "|".join(["0"] * 19)
    comedy = "|".join(["0"] * 5 + ["1"] + ["0"] * 13)
    write(
        d / "u.item",
        f"242|Kolya (1996)|24-Jan-1997||http://x|{comedy}\n302|L.A. Confidential (1997)|01-Jan-1997||http://x|{genres}\n"
        f"377|Heavyweights (1994)|01-Jan-1994||http://x|{comedy}\n",
    )
    ds = load_dataset(d)
    assert ds.meta["loader"] == "movielens"
    assert list(ds.basket_ids) == ["196@1997-12-04", "196@1997-12-05", "22@1997-12-04"]
    assert ds.has_ratings and ds.interactions[C.RATING].tolist() == [3.0, 4.0, 1.0, 5.0]
    assert dict(zip(ds.catalog[C.ITEM], ds.catalog[C.CATEGORY], strict=True))["242"] == "Comedy"


def test_movielens_ratings_csv_with_movies(tmp_path: Path) -> None:
    d = tmp_path / "ml-latest-small"
    write(d / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n")
    write(
        d / "movies.csv",
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,"Grumpier Old Men (1995)",Comedy|Romance\n',
    )
    ds = load_dataset(d / "ratings.csv")
    assert ds.n_baskets == 1 and ds.n_items == 2
    assert ds.catalog.set_index(C.ITEM).loc["1", C.DESCRIPTION] == "Adventure Animation"


# ---------------------------------------------------------------------- detection and names
def test_detection_reasons_and_unknown_loader(tmp_path: Path) -> None:
    assert detect_loader(online_retail(tmp_path))[0] == "online-retail"
    assert detect_loader(write(tmp_path / "b.csv", "a,b\nc\n"))[0] == "baskets"
    with pytest.raises(UnknownNameError, match=r"unknown loader 'onlineretail'. Did you mean 'online-retail'"):
        load_dataset(online_retail(tmp_path), loader="onlineretail")
    with pytest.raises(ConfigError, match="applies to the 'csv' and 'parquet' loaders only"):
        load_dataset(online_retail(tmp_path), loader="online-retail", columns={C.ITEM: "StockCode"})
    assert set(LOADERS) == {"csv", "parquet", "online-retail", "instacart", "baskets", "completejourney", "movielens"}


def test_undetectable_file_suggests_the_closest_loader(tmp_path: Path) -> None:
    path = online_retail(tmp_path, header=OR_HEADER.replace("InvoiceNo", "Invoice_No"))
    with pytest.raises(
        DataError, match=r"looks like 'online-retail' data with misnamed columns \('Invoice_No' ~ 'InvoiceNo'\)"
    ):
        load_dataset(path)
    with pytest.raises(
        DataError, match=r"missing column 'InvoiceNo' \(also accepted: 'Invoice'\).*did you mean 'Invoice_No'"
    ):
        load_dataset(path, loader="online-retail")


# ---------------------------------------------------------------------- bad input
def test_missing_file_names_it_and_suggests(tmp_path: Path) -> None:
    online_retail(tmp_path, name="online_retail.csv")
    with pytest.raises(
        DataError, match=r"data file not found: '.*online_retal.csv'. Did you mean '.*online_retail.csv'"
    ):
        load_dataset(tmp_path / "online_retal.csv")
    with pytest.raises(DataError, match="catalog file not found"):
        load_dataset(tmp_path / "online_retail.csv", catalog=tmp_path / "nope.csv")


def test_bad_timestamp_names_column_row_and_value(tmp_path: Path) -> None:
    rows = [*OR_ROWS[:3], OR_ROWS[3].replace("2010-12-02 09:00:00", "2010-13-45 09:00:00")]
    with pytest.raises(
        DataError,
        match=r"or.csv: column 'InvoiceDate' \(timestamp\) has an unparseable value '2010-13-45 09:00:00' "
        r"at data row 4",
    ):
        load_dataset(online_retail(tmp_path, rows))


def test_empty_timestamp_is_allowed_but_garbage_is_not(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "basket_id,item_id,timestamp\n1,a,2024-01-01\n1,b,\n2,a,yesterday\n")
    with pytest.raises(
        DataError,
        match=r"'timestamp' \(timestamp\) has an unparseable value 'yesterday' at data row 3 \(1 such cell\(s\)\); "
        r"expected a date-time in the same format as the first readable one, '2024-01-01'",
    ):
        load_dataset(path)
    only_bad = write(tmp_path / "u.csv", "basket_id,item_id,timestamp\n1,a,notadate\n")
    with pytest.raises(
        DataError, match=r"'notadate' at data row 1 .*expected a date-time such as '2011-12-09 12:50:00'"
    ):
        load_dataset(only_bad)


def test_non_numeric_quantity_and_price(tmp_path: Path) -> None:
    rows = [*OR_ROWS[:2], OR_ROWS[3].replace(",2,2010", ",two,2010")]
    with pytest.raises(
        DataError,
        match=r"column 'Quantity' \(quantity\) has a non-numeric value 'two' at data row 3.*expected a number",
    ):
        load_dataset(online_retail(tmp_path, rows))
    path = write(tmp_path / "p.csv", "basket_id,item_id,price\n1,a,1.5\n1,b,£2\n")
    with pytest.raises(DataError, match=r"column 'price' \(price\) has a non-numeric value '£2' at data row 2"):
        load_dataset(path)
    path = write(tmp_path / "q.csv", "basket_id,item_id,quantity\n1,a,1\n1,b,\n")
    with pytest.raises(DataError, match=r"column 'quantity' \(quantity\) is empty at data row 2"):
        load_dataset(path)


def test_empty_item_id_and_missing_required_column(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "basket_id,item_id\n1,a\n2,\n")
    with pytest.raises(DataError, match=r"e.csv: column 'item_id' \(item_id\) is empty at data row 2"):
        load_dataset(path)
    path = write(tmp_path / "m.csv", "basket_id,itemid\n1,a\n")
    with pytest.raises(
        DataError,
        match=r"m.csv: missing column 'item_id'; found columns \['basket_id', 'itemid'\]; did you mean 'itemid'",
    ):
        load_dataset(path, loader="csv")


def test_empty_after_cleaning_says_which_rule(tmp_path: Path) -> None:
    rows = [OR_ROWS[6]]  # a single cancellation line
    with pytest.raises(DataError, match=r"no lines left after cleaning.*Rule 'cancellations' removed the last lines"):
        load_dataset(online_retail(tmp_path, rows))


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Excel files are not read directly"):
        load_dataset(write(tmp_path / "x.xlsx", "not really excel"), loader="csv")
    with pytest.raises(DataError, match=r"folder without an interactions file"):
        load_dataset(write(tmp_path / "empty" / "readme.txt", "hi").parent, loader="csv")
    with pytest.raises(DataError, match="cannot tell which loader reads the folder"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="cannot read as CSV"):
        load_dataset(write(tmp_path / "ragged.csv", "basket_id,item_id\n1,a\n2,b,c,d\n"))
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load_dataset(write(tmp_path / "broken.parquet", "PAR1 nonsense"), columns={C.BASKET: "a", C.ITEM: "b"})


# ---------------------------------------------------------------------- embedded data
def test_embedded_default_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    online_retail(tmp_path, name=EMBEDDED_FILE)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_data_path() == tmp_path / EMBEDDED_FILE
    ds = load_dataset()
    assert ds.name == "online_retail" and ds.meta["embedded"] is True and len(ds.interactions) == 5
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"embedded dataset online_retail.csv.gz was not found.*XSELL_DATA_DIR"):
        load_dataset()


def test_embedded_file_is_the_shared_copy() -> None:
    path = REPO / "data" / EMBEDDED_FILE
    if not path.is_file():
        pytest.skip(f"{path} not present (it ships in the git repository)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == "737745256ddb4410bfe4e29f2dcb72329b7486e584837f1e84f9a07416cf7d45"
    readme = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    assert digest in readme


# ---------------------------------------------------------------------- real data (../shared/data)
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not present (real-data checks)")


@pytest.fixture(scope="module")
def raw_online_retail() -> pd.DataFrame:
    return pd.read_csv(
        SHARED / "online_retail" / "online_retail.csv.gz",
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str},
        engine="pyarrow",
    )


@pytest.mark.slow
@pytest.mark.shared
@needs_shared
def test_full_online_retail_literature_filter_reproduces_published_counts() -> None:
    from xsell_eval.data.describe import data_card

    ds = load_dataset(SHARED / "online_retail" / "online_retail.csv.gz", policy=CleaningPolicy.literature())
    assert (len(ds.interactions), ds.n_baskets, ds.n_users, ds.n_items) == (397_884, 18_532, 4_338, 3_665)
    card = data_card(ds)
    assert round(card.basket_size.mean, 1) == 20.9 and card.basket_size.median == 15
    assert round(card.basket_size.share_ge2, 3) == 0.924
    assert round(card.baskets_per_user.mean, 2) == 4.27 and card.baskets_per_user.count_eq1 == 1_493
    assert card.date_min == "2010-12-01 08:26:00" and card.date_max == "2011-12-09 12:50:00"


@pytest.mark.slow
@pytest.mark.shared
@needs_shared
def test_full_online_retail_default_policy_matches_independent_pandas(raw_online_retail: pd.DataFrame) -> None:
    raw = raw_online_retail
    ds = load_dataset(SHARED / "online_retail" / "online_retail.csv.gz")
    got = steps(ds)
    # the same rules, written independently with plain pandas, in the same order
    alive = pd.Series(True, index=raw.index)
    cancel = raw["InvoiceNo"].str.startswith("C")
    assert cancel.sum() == 9_288  # published
    expected = {"cancellations": int(cancel.sum())}
    alive &= ~cancel
    # the originals those cancellations reverse, by the loop-based stack reference
    ref = pd.DataFrame(
        {
            C.BASKET: raw["InvoiceNo"],
            C.USER: raw["CustomerID"].str.replace(r"\.0$", "", regex=True),
            C.ITEM: raw["StockCode"].str.strip(),
            C.QUANTITY: raw["Quantity"].astype(float),
            C.TIMESTAMP: pd.to_datetime(raw["InvoiceDate"]),
        }
    )
    originals = pd.Series(False, index=raw.index)
    originals.iloc[reference(ref)] = True
    expected["cancelled_originals"] = int((originals & alive).sum())
    alive &= ~originals
    for rule, hit in (
        ("returns", raw["Quantity"] <= 0),
        ("missing_customer", raw["CustomerID"].isna()),
        ("non_product", raw["StockCode"].str.fullmatch(CleaningPolicy().non_product_pattern).fillna(False)),
        ("nonpositive_price", raw["UnitPrice"] <= 0),
    ):
        hit = hit.astype(bool) & alive
        expected[rule] = int(hit.sum())
        alive &= ~hit
    kept = raw[alive].drop(columns=["Country"])
    expected["duplicates"] = int(kept.duplicated().sum())
    assert got == expected
    assert len(ds.interactions) == int(alive.sum()) - expected["duplicates"]


@pytest.mark.shared
@needs_shared
def test_groceries_published_counts() -> None:
    ds = load_dataset(SHARED / "groceries_arules" / "groceries.csv")
    assert (ds.n_baskets, ds.n_items, len(ds.interactions)) == (9_835, 169, 43_367)
    milk = int(np.flatnonzero(ds.item_ids == "whole milk")[0])
    assert ds.item_basket_count[milk] == 2_513


@pytest.mark.shared
@needs_shared
def test_instacart_subset_counts() -> None:
    ds = load_dataset(SHARED / "instacart_subset")
    assert (len(ds.interactions), ds.n_baskets, ds.n_users, ds.n_items) == (8_976, 973, 64, 49_688)
    assert ds.interactions[C.ITEM_IDX].nunique() == 2_861
    # per user, baskets are strictly ordered in time
    b = ds.baskets.sort_values([C.USER_IDX, C.TIMESTAMP])
    assert b.groupby(C.USER_IDX)[C.TIMESTAMP].apply(lambda s: s.is_monotonic_increasing).all()


@pytest.mark.slow
@pytest.mark.shared
@needs_shared
def test_completejourney_sample_counts() -> None:
    ds = load_dataset(SHARED / "completejourney_sample" / "transactions_sample.csv.gz")
    assert ds.cleaning.rows_in == 75_000
    assert steps(ds)["returns"] == 416  # published: lines with quantity 0
    # fuel (764 lines, 7.69M of the 7.78M units), coupons and other non-merchandise: see docs/data.md
    assert steps(ds)["non_product"] == 926
    assert ds.interactions[C.QUANTITY].sum() == 97_326
    assert ds.n_items == 92_331 - 214 + 1 and ds.has_catalog_text  # one bought product is not in products.csv
