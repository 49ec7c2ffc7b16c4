"""Lake paths for --engine spark (xsell_eval.spark.lake): URIs pass validation and are read by Spark.

No HDFS or S3 here: the URI handling is unit-tested, and the read path Spark takes for a lake URI is
exercised on a local Parquet directory given as a ``file:`` URI (Hadoop's local file system).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _spark import spark  # noqa: F401

from xsell_eval.errors import ConfigError, DataError
from xsell_eval.settings import CompareConfig
from xsell_eval.spark import lake

pytestmark = pytest.mark.xdist_group("spark")  # one xdist worker, one JVM for every Spark test (tests/_spark.py)


@pytest.mark.parametrize(
    "uri",
    ["hdfs://namenode:8020/shop/lines", "s3a://bucket/shop/lines/", "gs://b/x.parquet", "abfss://c@acct.dfs/x"],
)
def test_lake_uris_pass_validation_with_spark(uri: str) -> None:
    assert lake.lake_uri(uri) == uri
    cfg = CompareConfig(adapters=("popular",), data=uri, engine="spark").validate()
    assert cfg.data == uri  # kept as written (a Path would fold '//' into '/')
    with pytest.raises(ConfigError, match=r"is a lake URI, which only --engine spark reads"):
        CompareConfig(adapters=("popular",), data=uri).validate()


def test_bad_uris_and_file_uris() -> None:
    with pytest.raises(ConfigError, match=r"unknown URI scheme 'htps://'"):
        lake.lake_uri("htps://host/x")
    with pytest.raises(ConfigError, match=r"expected hdfs://HOST_OR_BUCKET/PATH"):
        lake.lake_uri("hdfs://namenode")
    assert lake.lake_uri("file:///data/x.parquet") is None and lake.lake_uri(Path("/data/x")) is None
    assert lake.local_path("file:///data/my%20shop/x.parquet") == Path("/data/my shop/x.parquet")
    with pytest.raises(ConfigError, match="file:///ABSOLUTE/PATH"):
        lake.local_path("file://otherhost/data/x")
    assert lake.uri_format("s3a://b/lines.csv.gz", "auto") == "csv"
    assert lake.uri_format("s3a://b/lines", "csv") == "csv"
    assert lake.uri_format("s3a://b/lines/", "auto") == "parquet"
    assert lake.uri_name("s3a://b/shop/lines/") == "lines"


def test_experiment_file_keeps_a_lake_uri_and_still_checks_local_paths(tmp_path: Path) -> None:
    from xsell_eval.config import loads_experiment

    text = 'engine = "spark"\n[data]\npath = "hdfs://nn:8020/shop/lines"\n[adapters.popular]\n'
    cfg = loads_experiment(text, base_dir=str(tmp_path)).to_compare_config()
    assert cfg.data == "hdfs://nn:8020/shop/lines"
    with pytest.raises(ConfigError, match=r"\[data\] path.*only --engine spark reads"):
        loads_experiment(text.replace('engine = "spark"\n', ""), base_dir=str(tmp_path))
    shop = tmp_path / "lines.parquet"
    shop.write_bytes(b"")
    as_file_uri = text.replace("hdfs://nn:8020/shop/lines", shop.as_uri()).replace('engine = "spark"\n', "")
    assert loads_experiment(as_file_uri, base_dir=str(tmp_path)).to_compare_config().data == str(shop)
    with pytest.raises(ConfigError, match=r"\[data\] path = 'missing.parquet': data file or folder not found"):
        loads_experiment(text.replace("hdfs://nn:8020/shop/lines", "missing.parquet"), base_dir=str(tmp_path))


def _lake(tmp_path: Path, frame: pd.DataFrame) -> Path:
    d = tmp_path / "lake"
    d.mkdir()
    half = len(frame) // 2
    frame.iloc[:half].to_parquet(d / "part-0.parquet")
    frame.iloc[half:].to_parquet(d / "part-1.parquet")
    return d


def _as_lake_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat ``file:`` URIs as lake URIs, so a local directory takes the path an hdfs:// one takes."""
    monkeypatch.setattr(lake, "lake_uri", lambda v: str(v) if str(v).startswith("file:") else None)


def test_a_lake_uri_is_read_by_spark(spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from xsell_eval.spark.data import read_lines

    ts = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-02 11:30", "2024-01-03 09:15"])
    frame = pd.DataFrame(
        {"user_id": ["u1", "u1", "u2", "u2"], "basket_id": ["b1", "b1", "b2", "b3"], "item_id": ["x", "y", "x", "z"]}
    ).assign(timestamp=ts.astype("datetime64[ns]"))
    d = _lake(tmp_path, frame)
    local, *_ = read_lines(spark, d)  # the local folder (pyarrow reads the schema)
    _as_lake_uri(monkeypatch)
    uri = d.resolve().as_uri()
    lines, loader, src, cat, _ = read_lines(spark, uri)
    assert (loader, src, cat) == ("parquet", "lake", None)
    got = lines.toPandas().sort_values(["basket_id", "item_id"]).reset_index(drop=True)
    want = local.toPandas().sort_values(["basket_id", "item_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert list(got["timestamp"].astype("datetime64[ns]")) == list(ts.sort_values())


def test_a_lake_without_a_needed_column_gives_the_loaders_message(
    spark,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from xsell_eval.data.loaders import load_dataset
    from xsell_eval.spark.data import load

    frame = pd.DataFrame({"basket_id": ["b1", "b1", "b2"], "sku": ["x", "y", "x"]})
    d = _lake(tmp_path, frame)
    one = tmp_path / "lines.parquet"
    frame.to_parquet(one)
    with pytest.raises(DataError) as ref:
        load_dataset(one)
    _as_lake_uri(monkeypatch)
    with pytest.raises(DataError, match=r"missing column 'item_id'; found columns \['basket_id', 'sku'\]") as got:
        load(spark, d.resolve().as_uri())
    assert str(got.value).split(": ", 1)[1] == str(ref.value).split(": ", 1)[1]
    assert str(got.value).startswith("lake: ")


def test_a_missing_local_path_keeps_its_message(spark, tmp_path: Path) -> None:  # noqa: F811
    from xsell_eval.spark.data import load

    with pytest.raises(DataError, match=r"data file not found: '.*nothere.parquet'"):
        load(spark, (tmp_path / "nothere.parquet").as_uri())
    with pytest.raises(DataError, match=r"data file not found: '.*nothere.parquet'"):
        load(spark, str(tmp_path / "nothere.parquet"))
