"""`xsell-eval data describe|list` through typer's CliRunner: output, JSON, errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from xsell_eval.cli import app
from xsell_eval.columns import Columns as C
from xsell_eval.data.loaders import DATA_DIR_ENV, EMBEDDED_FILE

runner = CliRunner()


@pytest.fixture
def lines_csv(tmp_path: Path) -> Path:
    df = pd.DataFrame(
        {
            C.USER: ["u1", "u1", "u1", "u2", None],
            C.BASKET: ["b1", "b1", "b2", "b3", "b4"],
            C.ITEM: ["x", "y", "x", "z", "x"],
            C.TIMESTAMP: [
                "2024-01-01 10:00",
                "2024-01-01 10:00",
                "2024-01-05 09:00",
                "2024-01-03 12:00",
                "2024-01-04 08:00",
            ],
            C.QUANTITY: [1, 2, 1, 1, 1],
            C.PRICE: [1.0, 2.0, 1.0, 4.0, 1.0],
        }
    )
    path = tmp_path / "lines.csv"
    df.to_csv(path, index=False)
    return path


def test_describe_json_by_hand(lines_csv: Path) -> None:
    result = runner.invoke(app, ["data", "describe", str(lines_csv), "--format", "json"])
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert (card["lines"], card["users"], card["baskets"], card["items_purchased"]) == (5, 2, 4, 3)
    assert card["guest_baskets"] == 1 and card["guest_basket_share"] == 0.25
    # basket sizes 2, 1, 1, 1
    assert card["basket_size"]["mean"] == 1.25 and card["basket_size"]["max"] == 2.0
    assert card["basket_size"]["share_ge2"] == 0.25
    # baskets per user: u1 -> 2, u2 -> 1
    assert card["baskets_per_user"]["mean"] == 1.5 and card["baskets_per_user"]["count_eq1"] == 1
    # basket values: b1 = 1*1 + 2*2 = 5, b2 = 1, b3 = 4, b4 = 1
    assert card["basket_value"]["max"] == 5.0 and card["basket_value"]["median"] == 2.5
    assert card["date_min"] == "2024-01-01 10:00:00" and card["date_max"] == "2024-01-05 09:00:00"
    assert card["cleaning"]["rows_in"] == 5 and card["loader"] == "csv"


def test_describe_table_and_clean_option(lines_csv: Path) -> None:
    result = runner.invoke(app, ["data", "describe", str(lines_csv), "--clean", "missing_customer=drop"])
    assert result.exit_code == 0, result.output
    assert "Data card" in result.stdout and "missing_customer" in result.stdout
    assert "5 lines in → 4 kept" in result.stdout


def test_describe_columns_mapping(tmp_path: Path) -> None:
    pd.DataFrame({"Order": ["o1", "o1"], "SKU": ["a", "b"]}).to_csv(tmp_path / "o.csv", index=False)
    result = runner.invoke(
        app, ["data", "describe", str(tmp_path / "o.csv"), "--columns", "basket_id=Order,item_id=SKU", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["baskets"] == 1


def test_describe_defaults_to_embedded_data(tmp_path: Path, lines_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    (tmp_path / EMBEDDED_FILE).write_bytes(
        __import__("gzip").compress(
            (header + "1,A,a,1,2011-01-01 10:00:00,1.0,5.0,UK\n1,B,b,1,2011-01-01 10:00:00,2.0,5.0,UK\n").encode()
        )
    )
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    result = runner.invoke(app, ["data", "describe", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "online_retail"
    listing = runner.invoke(app, ["data", "list"])
    assert listing.exit_code == 0
    for name in ("online-retail", "instacart", "baskets", "completejourney", "movielens", "csv", "parquet"):
        assert name in listing.stdout
    assert "Embedded default dataset" in listing.stdout
    payload = json.loads(runner.invoke(app, ["data", "list", "-f", "json"]).stdout)
    assert payload["embedded"]["present"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "describe", "nope/missing.csv"], "data file not found"),
        (
            ["data", "describe", "{csv}", "--loader", "onlineretail"],
            "unknown loader 'onlineretail'. Did you mean 'online-retail'",
        ),
        (["data", "describe", "{csv}", "--format", "xml"], "--format must be 'table' or 'json'"),
        (["data", "describe", "{csv}", "--clean", "dupes=keep"], "unknown cleaning rule 'dupes'"),
        (["data", "describe", "{csv}", "--columns", "basket_id"], "--columns expects canonical=source pairs"),
        (["data", "describe", "{bad}"], "column 'timestamp' (timestamp) has an unparseable value 'soon' at data row 2"),
    ],
)
def test_errors_are_one_line_exit_1(tmp_path: Path, lines_csv: Path, args: list[str], message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("basket_id,item_id,timestamp\n1,a,2024-01-01\n1,b,soon\n")
    args = [a.format(csv=lines_csv, bad=bad) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
