"""Lake paths for ``--engine spark``: ``hdfs://``, ``s3a://``, ``gs://``, ``abfss://``, ``file://`` URIs.

A URI is read by Spark itself (its Hadoop file systems), so it is not checked on the local disk:
``--data hdfs://nn:8020/shop/lines`` passes validation and a missing path is Spark's error at read
time. ``file:///...`` is a local path written as a URI: it is turned into that path, so it keeps
the local checks ("data file not found ... Did you mean ...") and the local folder layouts.
The pandas engine reads local files only; a URI with ``--engine pandas`` is a clear error.

Only this module's callers import pyspark; this module itself does not (config validation uses it).

Example:
    >>> lake_uri("s3a://bucket/shop/lines/")
    's3a://bucket/shop/lines/'
    >>> lake_uri("/data/lines.parquet") is None, lake_uri("file:///data/lines.parquet") is None
    (True, True)
    >>> local_path("file:///data/lines.parquet")
    PosixPath('/data/lines.parquet')
    >>> uri_format("hdfs://nn:8020/shop/lines.csv.gz", "auto"), uri_format("hdfs://nn:8020/shop/lines", "auto")
    ('csv', 'parquet')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from xsell_eval.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: URI schemes of the Hadoop file systems Spark reads (the cluster must have the connector jars).
LAKE_SCHEMES = ("hdfs", "viewfs", "s3a", "s3", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "dbfs", "oss")
_URI_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: A long column read for a timestamp holds nanoseconds when its values are this large (1e15 s is year ~31.7M).
_NANOS_FLOOR = 10**15


def uri_scheme(value: str | Path | None) -> str | None:
    """The lower-case scheme of ``scheme://...`` (None for a plain path)."""
    if value is None or isinstance(value, Path):
        return None
    m = _URI_RE.match(str(value).strip())
    return m.group(1).lower() if m else None


def lake_uri(value: str | Path | None) -> str | None:
    """``value`` when Spark must read it through a Hadoop file system (not ``file://``), else None.

    Raises:
        ConfigError: an unknown scheme (``htps://``, ``ftp://``) or a URI without a path.
    """
    scheme = uri_scheme(value)
    if scheme is None or scheme == "file":
        return None
    uri = str(value).strip()
    if scheme not in LAKE_SCHEMES:
        raise ConfigError(
            f"--data {uri!r}: unknown URI scheme '{scheme}://'; the Spark engine reads local paths, file:///... "
            f"and the lake schemes {', '.join(s + '://' for s in LAKE_SCHEMES)}"
        )
    parsed = urlparse(uri)
    if not (parsed.netloc or parsed.path.strip("/")) or not parsed.path.strip("/"):
        raise ConfigError(f"--data {uri!r}: expected {scheme}://HOST_OR_BUCKET/PATH (e.g. {scheme}://lake/shop/lines)")
    return uri


def local_path(value: str | Path) -> Path:
    """The local path of a plain path or a ``file://`` URI (``file:///data/x`` -> ``/data/x``)."""
    if uri_scheme(value) == "file":
        parsed = urlparse(str(value).strip())
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"--data {str(value)!r}: a file:// URI names a local path: file:///ABSOLUTE/PATH")
        return Path(unquote(parsed.path))
    return Path(value).expanduser()


def check_engine_reads(value: str | Path | None, engine: str | None) -> None:
    """A lake URI needs ``--engine spark`` (the pandas loaders read local files); checks the URI's form."""
    uri = lake_uri(value)
    if uri is not None and engine != "spark":
        raise ConfigError(
            f"--data {uri!r} is a lake URI, which only --engine spark reads (the pandas engine reads local "
            "files and folders); add --engine spark, or copy the data to a local path"
        )


def uri_format(uri: str, loader: str) -> str:
    """``csv`` or ``parquet`` for a lake URI: ``csv`` for the csv loader or a ``.csv``/``.tsv`` name, else Parquet."""
    name = urlparse(uri).path.rstrip("/").lower()
    if loader == "csv" or name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        return "csv"
    return "parquet"


def uri_name(uri: str) -> str:
    """The last path part of a URI (``hdfs://nn/shop/lines/`` -> ``lines``), the dataset's name and message source."""
    return urlparse(uri).path.rstrip("/").rsplit("/", 1)[-1] or uri


def nanos_long_columns(df: DataFrame, columns: list[str]) -> set[str]:
    """Which of ``columns`` (read as long) hold Parquet ``timestamp[ns]`` values, judged from the first non-null value.

    A local file's schema is read with pyarrow; a lake file is not reachable from pyarrow here, and
    Spark (``spark.sql.legacy.parquet.nanosAsLong``) reads ``timestamp[ns]`` as a long, so the
    magnitude tells: nanoseconds since 1970 are above 10^15, seconds are about 10^9.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    out = set()
    for c in columns:
        if isinstance(df.schema[c].dataType, T.LongType):
            first = df.where(F.col(c).isNotNull()).select(F.abs(F.col(c)).alias("v")).limit(1).collect()
            if first and first[0]["v"] >= _NANOS_FLOOR:
                out.add(c)
    return out


__all__ = [
    "LAKE_SCHEMES",
    "check_engine_reads",
    "lake_uri",
    "local_path",
    "nanos_long_columns",
    "uri_format",
    "uri_name",
    "uri_scheme",
]
