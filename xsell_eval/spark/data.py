"""Read, clean and index interaction lines with Spark: the pandas loaders' rules, counts and indices.

::

    CSV / Parquet file, a folder with interactions.{parquet,csv} (+ catalog.*), or a lake
    Parquet directory (part files)
      │ columns resolved with the pandas loaders' names and messages (online-retail, csv, parquet)
      │ ids stripped (empty = missing; "17850.0" -> "17850" when every id of the column looks so)
      ▼
    cleaning rules 1-6 of :mod:`xsell_eval.data.cleaning`, same order, same counts
      ▼
    item_idx / user_idx / basket_idx = position of the id in the sorted ids (items: interactions ∪ catalog)

The indices equal :class:`~xsell_eval.data.dataset.Dataset`'s (sorted Python strings and
sorted UTF-8 bytes agree), so queries and recommendations can be compared index for index.
Only the catalog (one row per item) and counts reach the driver; the lines stay in Spark.

Limits (documented in docs/spark.md): loaders ``online-retail``, ``csv`` and ``parquet``;
timestamps are Spark timestamps, ISO-like text, or Parquet ``timestamp[ns]`` (kept to the
microsecond); a ``raise`` cleaning policy names the rule and a matching line, not its row number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xsell_eval.columns import Columns as C
from xsell_eval.data.cleaning import RULES, CleaningPolicy, CleaningReport, CleaningStep
from xsell_eval.data.sources._parsing import (
    _TEXT_COLUMNS,
    _name,
    _read_catalog_file,
    _resolve,
    _sniff_sep,
    _suffix,
)
from xsell_eval.data.sources.generic import resolve_generic_columns
from xsell_eval.data.sources.online_retail import _OR_COLUMNS
from xsell_eval.errors import ConfigError, DataError, unknown_name

if TYPE_CHECKING:
    from pyspark import StorageLevel
    from pyspark.sql import Column, DataFrame, SparkSession

#: loaders the Spark engine reads (others: pandas engine only)
SPARK_LOADERS: tuple[str, ...] = ("online-retail", "csv", "parquet")


@dataclass(frozen=True, eq=False)
class SparkData:
    """Cleaned, indexed lines in Spark plus the small driver-side facts.

    Attributes:
        lines: ``user_idx`` int (-1 guests), ``item_idx`` int, ``basket_idx`` long, ``timestamp``,
            ``quantity`` double, ``price`` double (NaN unknown), ``title`` (when the source has it).
        n_items, n_users, n_baskets: index sizes (whole data set, as :class:`Dataset`).
        item_ids: item index -> id (catalog-sized, on the driver).
        item_category: category code per item (-1 unknown), as :attr:`Dataset.item_category`.
        item_price_known: whether each item has a finite price (median of its lines, else catalog).
        cleaning: the :class:`CleaningReport`.
        name, source: dataset name and file name.
    """

    lines: DataFrame
    n_items: int
    n_users: int
    n_baskets: int
    item_ids: np.ndarray
    item_category: np.ndarray
    item_price_known: np.ndarray
    cleaning: CleaningReport
    name: str
    source: str


#: frames persisted while loading (or preparing): released once their result is materialised
_PERSISTED: list[DataFrame] = []


def on_disk() -> StorageLevel:
    """``StorageLevel.DISK_ONLY``: line-sized frames are kept on local disk (the OS page cache), not in the
    JVM heap — in ``local[N]`` the executors share the driver's heap (``spark.driver.memory``, 2g), which
    30M cached lines would fill (measured: old generation 100 % full, tasks spilling without end)."""
    from pyspark import StorageLevel

    return StorageLevel.DISK_ONLY


def persist(df: DataFrame) -> DataFrame:
    """``df.persist(DISK_ONLY)``, remembered so that :func:`release_persisted` frees it when its users are done."""
    out = df.persist(on_disk())
    _PERSISTED.append(out)
    return out


def release_persisted() -> None:
    """Unpersist the frames :func:`persist` kept (their results are checkpointed by then)."""
    while _PERSISTED:
        _PERSISTED.pop().unpersist()


# ---------------------------------------------------------------------- files
def _files(path: Path, fmt: str) -> tuple[Path, str, Path | None]:
    """(interactions path, csv|parquet, catalog path or None) of a file, a shop folder or a lake directory."""
    if path.is_file():
        return path, "parquet" if _suffix(path) in (".parquet", ".pq") else "csv", None
    order = ("parquet", "csv") if fmt != "csv" else ("csv", "parquet")
    names = {"csv": ("{}.csv", "{}.csv.gz"), "parquet": ("{}.parquet", "{}.pq")}
    for kind in order:
        for n in names[kind]:
            p = path / n.format("interactions")
            if p.exists():
                cat = next(
                    (
                        path / c.format("catalog")
                        for k in order
                        for c in names[k]
                        if (path / c.format("catalog")).exists()
                    ),
                    None,
                )
                return p, kind, cat
    for kind, pattern in (("parquet", "*.parquet"), ("csv", "*.csv*")):
        if any(path.glob(pattern)) or any(path.glob(f"*/{pattern}")):
            return path, kind, None  # a lake directory of part files (partition folders allowed)
    raise DataError(
        f"{str(path)!r} is a folder without an interactions file or Parquet/CSV part files "
        f"(found {sorted(p.name for p in path.iterdir())[:20]})"
    )


def _nanos_columns(file: Path) -> set[str]:
    """Columns of a Parquet file/directory stored as timestamp[ns] (Spark reads them as long nanoseconds)."""
    import pyarrow.dataset as pads
    import pyarrow.types as pat

    try:
        schema = pads.dataset(str(file), format="parquet").schema
    except Exception as exc:
        raise DataError(f"{_name(file)}: cannot read as Parquet: {exc}") from None
    return {f.name for f in schema if pat.is_timestamp(f.type) and f.type.unit == "ns"}


def _read(spark: SparkSession, file: Path | str, kind: str) -> DataFrame:
    """Read a local path or a lake URI (a str, :mod:`xsell_eval.spark.lake`)."""
    try:
        if kind == "parquet":
            return spark.read.parquet(str(file))
        sep = _sniff_sep(file) if isinstance(file, Path) and file.is_file() else ","
        return spark.read.csv(str(file), header=True, sep=sep, inferSchema=False)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{_source_name(file)}: cannot read as {kind.upper()}: {first}") from None


def _source_name(file: Path | str) -> str:
    """The name messages use: a local file's name, a lake URI's last path part."""
    from xsell_eval.spark.lake import uri_name

    return _name(file) if isinstance(file, Path) else uri_name(file)


# ---------------------------------------------------------------------- values
def _ids(df: DataFrame, col: str) -> tuple[Column, bool]:
    """Stripped id text (empty -> null); with ``17850.0``-style floats turned to ``17850`` when every id is so."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtype = df.schema[col].dataType
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        whole = df.where(F.col(col).isNotNull() & (F.col(col) != F.floor(col))).limit(1).count() == 0
        if whole:
            return F.col(col).cast("long").cast("string"), False
    s = F.trim(F.col(col).cast("string"))
    s = F.when(s == "", None).otherwise(s)
    floats = df.select(s.alias("v")).where(F.col("v").isNotNull())
    any_value = floats.limit(1).count() > 0
    if any_value and floats.where(~F.col("v").rlike(r"^-?\d+\.0+$")).limit(1).count() == 0:
        return F.regexp_replace(s, r"\.0+$", ""), True
    return s, False


def _number_parts(df: DataFrame, col: str) -> tuple[Column, Column, Column]:
    """(value as double or null, text, empty) of a number column."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(df.schema[col].dataType, T.NumericType):
        num = F.col(col).cast("double")
        txt = F.col(col).cast("string")
    else:
        txt = F.trim(F.col(col).cast("string"))
        num = F.expr(f"try_cast(trim(`{col}`) AS DOUBLE)")
    return num, txt, txt.isNull() | (txt == "")


def _number_checks(df: DataFrame, cols: list[str]) -> dict[str, tuple[int, int]]:
    """``{column: (non-numeric cells, empty cells)}`` of several number columns, in one Spark pass."""
    from pyspark.sql import functions as F

    if not cols:
        return {}
    exprs = []
    for i, col in enumerate(cols):
        num, _, empty = _number_parts(df, col)
        exprs += [
            F.sum((num.isNull() & ~empty).cast("long")).alias(f"b{i}"),
            F.sum(empty.cast("long")).alias(f"e{i}"),
        ]
    row = df.agg(*exprs).collect()[0]
    return {col: (int(row[f"b{i}"] or 0), int(row[f"e{i}"] or 0)) for i, col in enumerate(cols)}


def _number(
    df: DataFrame, col: str, role: str, source: str, *, allow_empty: bool, checks: tuple[int, int] | None = None
) -> Column:
    """Double column; a non-numeric (or, unless allowed, empty) cell stops with the pandas loaders' message.

    ``checks``: ``(non-numeric, empty)`` counts from :func:`_number_checks` (None: counted here).
    """
    from pyspark.sql import functions as F

    num, txt, empty = _number_parts(df, col)
    n_bad, n_empty = checks if checks is not None else _number_checks(df, [col])[col]
    if n_bad:
        bad = df.where(num.isNull() & ~empty).select(txt.alias("v")).limit(1).collect()
        raise DataError(
            f"{source}: column {col!r} ({role}) has a non-numeric value {bad[0]['v']!r} ({n_bad:,} such cell(s)); "
            "expected a number"
        )
    if not allow_empty and n_empty:
        raise DataError(f"{source}: column {col!r} ({role}) is empty in {n_empty:,} cell(s); expected a number")
    return F.coalesce(num, F.lit(float("nan")))


def _timestamp(df: DataFrame, col: str, source: str, nanos: bool) -> Column:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtype = df.schema[col].dataType
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return F.col(col).cast("timestamp_ntz")
    if nanos:
        return F.timestamp_micros(F.floor(F.col(col) / 1000)).cast("timestamp_ntz")
    if isinstance(dtype, T.NumericType):
        return F.timestamp_seconds(F.col(col)).cast("timestamp_ntz")
    txt = F.trim(F.col(col))
    ts = F.expr(f"try_to_timestamp(trim(`{col}`))").cast("timestamp_ntz")
    bad = df.where(ts.isNull() & txt.isNotNull() & (txt != "")).select(txt.alias("v")).limit(1).collect()
    if bad:
        raise DataError(
            f"{source}: column {col!r} (timestamp) has an unparseable value {bad[0]['v']!r}; the Spark engine reads "
            "date-times such as '2011-12-09 12:50:00' or '2011-12-09T12:50:00' (other formats: --engine pandas)"
        )
    return ts


# ---------------------------------------------------------------------- read
def read_lines(
    spark: SparkSession,
    path: str | Path | None,
    *,
    loader: str = "auto",
    columns: Mapping[str, str] | None = None,
    catalog: str | Path | None = None,
) -> tuple[DataFrame, str, str, pd.DataFrame | None, list[str]]:
    """Canonical lines (strings/doubles/timestamp, plus ``_cancelled``) of a file, folder or lake directory.

    Returns ``(lines, loader, source, catalog or None, notes)``. Column errors are the pandas loaders' messages.
    """
    from pyspark.sql import functions as F

    from xsell_eval.data.loaders import default_data_path
    from xsell_eval.data.sources._parsing import _require_file
    from xsell_eval.spark.lake import lake_uri, local_path, nanos_long_columns, uri_format

    embedded = path is None
    uri = lake_uri(path)  # hdfs://, s3a://...: Spark reads it; no local check (file:// is a local path)
    p = default_data_path() if path is None else local_path(path)
    if uri is None:
        _require_file(p)
    if loader not in ("auto", *SPARK_LOADERS):
        from xsell_eval.data.loaders import LOADERS

        if loader in LOADERS:
            raise ConfigError(
                f"--engine spark reads the loaders {', '.join(SPARK_LOADERS)}; '{loader}' runs with --engine pandas"
            )
        raise unknown_name("loader", loader, [*SPARK_LOADERS, "auto"])
    file: Path | str
    if uri is None:
        file, kind, cat_file = _files(p, "csv" if loader == "csv" else "parquet")
    else:
        file, kind, cat_file = uri, uri_format(uri, loader), None
    src = _source_name(file)
    raw = _read(spark, file, kind).persist(on_disk())  # read once: the checks below and cleaning reuse it
    found = list(raw.columns)
    notes: list[str] = []
    chosen = loader
    if loader == "auto":
        try:
            _resolve(found, _OR_COLUMNS, source=src, required=[c for c in _OR_COLUMNS if c != C.TITLE])
            chosen = "online-retail"
            reason = "embedded default dataset" if embedded else "columns InvoiceNo/Invoice and StockCode"
        except DataError:
            chosen, reason = kind, f"a {kind.upper()} table"
        notes.append(f"loader '{chosen}' chosen automatically: {reason}")
    if chosen == "online-retail":
        if columns:
            raise ConfigError(
                "a column mapping (--columns) applies to the 'csv' and 'parquet' loaders only, not to "
                "'online-retail', which knows its own column names"
            )
        resolved = _resolve(found, _OR_COLUMNS, source=src, required=[c for c in _OR_COLUMNS if c != C.TITLE])
    else:
        resolved = resolve_generic_columns(found, columns, src)
    if kind != "parquet":
        nanos: set[str] = set()
    elif isinstance(file, Path):
        nanos = _nanos_columns(file)
    else:  # a lake file's Parquet schema is not reachable from pyarrow here: judge the timestamp's magnitude
        nanos = nanos_long_columns(raw, [resolved[C.TIMESTAMP]] if C.TIMESTAMP in resolved else [])
    sel: dict[str, Column] = {}
    number_checks = _number_checks(raw, [s for c, s in resolved.items() if c in (C.QUANTITY, C.PRICE, C.RATING)])
    float_note = []
    for col, srccol in resolved.items():
        if col in (C.USER, C.BASKET, C.ITEM):
            expr, floats = _ids(raw, srccol)
            sel[col] = expr
            if floats:
                float_note.append(srccol)
        elif col in _TEXT_COLUMNS:
            t = F.trim(F.col(srccol).cast("string"))
            sel[col] = F.when(t == "", None).otherwise(t)
        elif col in (C.QUANTITY, C.PRICE, C.RATING):
            sel[col] = _number(raw, srccol, col, src, allow_empty=col != C.QUANTITY, checks=number_checks[srccol])
        elif col == C.TIMESTAMP:
            sel[col] = _timestamp(raw, srccol, src, srccol in nanos)
    lines = persist(raw.select(*[e.alias(c) for c, e in sel.items()]))
    empties = lines.agg(*[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in (C.BASKET, C.ITEM)]).collect()[0]
    raw.unpersist()  # `lines` is materialised by the pass above; the checks that needed `raw` are done
    for col in (C.BASKET, C.ITEM):
        n_empty = int(empties[col] or 0)
        if n_empty:
            raise DataError(
                f"{src}: column {resolved.get(col, col)!r} ({col}) is empty in {n_empty:,} cell(s); "
                f"every line needs a {col}"
            )
    if C.TIMESTAMP not in resolved:
        notes.append(f"{src}: no timestamp column; temporal splits are unavailable")
    cancelled = F.upper(F.col(C.BASKET)).startswith("C") if chosen == "online-retail" else F.lit(None)
    lines = lines.withColumn("_cancelled", cancelled.cast("boolean"))
    cat = None
    if cat_file is not None or catalog is not None:
        cat_path = Path(catalog).expanduser() if catalog is not None else cat_file
        assert cat_path is not None
        _require_file(cat_path, "catalog file")
        cat = _read_catalog_file(cat_path, columns)
        notes.append(f"catalog read from {_name(cat_path)}")
    return lines, chosen, src, cat, notes


# ---------------------------------------------------------------------- clean
def _cancelled_originals(lines: DataFrame) -> tuple[DataFrame, str]:
    """``lines`` with ``_orig``: the original lines the cancellations reverse, and the pandas engine's note.

    The same bracket matching as :func:`xsell_eval.data.cancellations.match_cancelled_originals`, in
    window functions: per (customer, item, |quantity|) the events are ordered by (time, original
    first, file position); the open-original depth is a running sum floored at zero; each matched
    cancellation takes the latest earlier original at its level.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    q = F.col(C.QUANTITY)
    known = F.col(C.USER).isNotNull() & F.col(C.TIMESTAMP).isNotNull() & q.isNotNull() & ~F.isnan(q)
    canc = F.coalesce(F.col("_cancelled"), F.lit(False))
    lines = lines.withColumn("_pos", F.monotonically_increasing_id())
    ev = lines.where(known & ((canc & (q < 0)) | (~canc & (q > 0)))).select(
        C.USER,
        C.ITEM,
        F.abs(q).alias("_q"),
        F.col(C.TIMESTAMP).alias("_t"),
        F.when(canc, 1).otherwise(0).alias("_close"),
        "_pos",
    )
    g = [C.USER, C.ITEM, "_q"]
    kinds = Window.partitionBy(*g)
    ev = ev.withColumn("_mn", F.min("_close").over(kinds)).withColumn("_mx", F.max("_close").over(kinds))
    ev = ev.where((F.col("_mn") == 0) & (F.col("_mx") == 1))
    w = Window.partitionBy(*g).orderBy("_t", "_close", "_pos")
    run = w.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    ev = ev.withColumn("_cum", F.sum(F.when(F.col("_close") == 1, -1).otherwise(1)).over(run))
    ev = ev.withColumn("_depth", F.col("_cum") - F.least(F.min("_cum").over(run), F.lit(0)))
    ev = ev.withColumn("_before", F.coalesce(F.lag("_depth").over(w), F.lit(0)))
    ev = ev.withColumn("_level", F.when(F.col("_close") == 1, F.col("_before")).otherwise(F.col("_depth")))
    ev = ev.withColumn("_ord", F.row_number().over(w))
    lw = Window.partitionBy(*g, "_level").orderBy("_ord").rowsBetween(Window.unboundedPreceding, -1)
    ev = ev.withColumn("_open", F.last(F.when(F.col("_close") == 0, F.col("_pos")), ignorenulls=True).over(lw))
    hits = ev.where((F.col("_close") == 1) & (F.col("_before") >= 1)).select(F.col("_open").alias("_pos"))
    hits = hits.withColumn("_orig", F.lit(True))
    out = lines.join(hits, "_pos", "left").withColumn("_orig", F.coalesce(F.col("_orig"), F.lit(False)))
    out = persist(out)
    b = C.BASKET
    per_invoice = out.groupBy(b).agg(F.count(F.lit(1)).alias("_n"), F.sum(F.col("_orig").cast("long")).alias("_o"))
    s = per_invoice.agg(
        F.sum(F.col("_o")).alias("matched"),
        F.sum((F.col("_o") > 0).cast("long")).alias("orig_inv"),
        F.sum(((F.col("_o") > 0) & (F.col("_o") == F.col("_n"))).cast("long")).alias("whole"),
    ).collect()[0]
    c = out.where(canc).agg(F.count(F.lit(1)).alias("n"), F.countDistinct(b).alias("inv")).collect()[0]
    matched = int(s["matched"] or 0)
    note = (
        f"{matched:,} of {int(c['n']):,} cancellation lines ({int(c['inv']):,} invoices) matched an earlier line of "
        f"the same customer, item and quantity; the originals are {matched:,} lines in {int(s['orig_inv'] or 0):,} "
        f"invoices, {int(s['whole'] or 0):,} of them cancelled entirely"
    )
    return out.drop("_pos"), note


def clean_lines(
    lines: DataFrame, policy: CleaningPolicy, *, source: str, has_cancellations: bool
) -> tuple[DataFrame, CleaningReport]:
    """:func:`xsell_eval.data.cleaning.clean` in Spark: same rules, order, counts and report.

    One aggregation pass counts every rule's first matches; duplicates are counted among survivors.
    """
    from pyspark.sql import functions as F

    cols = set(lines.columns)
    orig_note = ""
    can_match = has_cancellations and {C.USER, C.QUANTITY, C.TIMESTAMP} <= cols
    if can_match:
        lines, orig_note = _cancelled_originals(lines)
    matchers: dict[str, Column | None] = {
        "cancellations": F.coalesce(F.col("_cancelled"), F.lit(False)) if has_cancellations else None,
        "cancelled_originals": F.col("_orig") if can_match else None,
        "returns": (F.col(C.QUANTITY) <= 0) & ~F.isnan(C.QUANTITY) if C.QUANTITY in cols else None,
        "missing_customer": F.col(C.USER).isNull() if C.USER in cols else None,
        "non_product": F.coalesce(F.trim(F.col(C.ITEM)).rlike(f"^(?:{policy.non_product_pattern})$"), F.lit(False)),
        "nonpositive_price": (F.col(C.PRICE) <= 0) & ~F.isnan(C.PRICE) if C.PRICE in cols else None,
    }
    notes_na = {
        "cancellations": "not applicable: the source marks no cancellations",
        "cancelled_originals": "not applicable: the source marks no cancellations"
        if not has_cancellations
        else "not applicable: the source has no user ids or quantities",
        "returns": "not applicable: the source has no quantities",
        "missing_customer": "not applicable: the source has no user ids",
        "nonpositive_price": "not applicable: the source has no prices",
    }
    # the rule that sees a line first: a "drop" earlier in the order hides it from later rules
    alive = F.lit(True)
    flags = []
    for rule, m in matchers.items():
        if m is None:
            continue
        flags.append(F.sum((alive & m).cast("long")).alias(rule))
        if getattr(policy, rule) == "drop":
            alive = alive & ~m
    data_cols = [c for c in lines.columns if c not in ("_cancelled", "_orig")]
    marked = lines.withColumn("_alive", alive)
    counts = marked.agg(F.count(F.lit(1)).alias("_n"), *flags).collect()[0].asDict()
    survivors = marked.where("_alive").select(*data_cols)
    # duplicates among survivors: one group per distinct line (null and NaN equal, as pandas' duplicated);
    # with "drop" the groups are the kept lines, persisted for the indexing passes that follow
    distinct = survivors.groupBy(*data_cols).agg(F.count(F.lit(1)).alias("_copies"))
    if policy.duplicates == "drop":
        distinct = persist(distinct)
    d = distinct.agg(F.count(F.lit(1)).alias("n"), F.sum("_copies").alias("all")).collect()[0]
    counts["duplicates"] = int(d["all"] or 0) - int(d["n"] or 0)
    steps = []
    n = int(counts["_n"])
    rows_out = n
    last = None
    for rule in RULES:
        action = getattr(policy, rule)
        if rule not in counts:
            steps.append(CleaningStep(rule, action, 0, 0, notes_na[rule]))
            continue
        c = int(counts[rule] or 0)
        if c and action == "raise":
            raise DataError(
                f"{source}: cleaning rule '{rule}' ({RULES[rule]}) matched {c:,} line(s) and its policy is 'raise'. "
                f"Set {rule}=drop or {rule}=keep to continue."
            )
        dropped = c if action == "drop" else 0
        note = f"{c:,} matching line(s) kept" if action == "keep" and c else ""
        if rule == "cancelled_originals":
            note = f"{orig_note}; {note}" if note else orig_note
        steps.append(CleaningStep(rule, action, c, dropped, note))
        rows_out -= dropped
        if dropped and rows_out == 0 and last is None:
            last = rule
    report = CleaningReport(source=source, rows_in=n, rows_out=rows_out, steps=tuple(steps), policy=policy.to_dict())
    if n and rows_out == 0:
        summary = "; ".join(f"{s.rule} dropped {s.rows_dropped:,}" for s in steps if s.rows_dropped)
        raise DataError(
            f"{source}: no lines left after cleaning ({n:,} in; {summary}). Rule '{last}' removed the last lines — "
            f"check the data or relax it (e.g. --clean {last}=keep)."
        )
    kept = distinct.drop("_copies") if policy.duplicates == "drop" else survivors
    return kept, report


# ---------------------------------------------------------------------- index
def row_index(df: DataFrame, order: list[str], name: str) -> DataFrame:
    """``df`` with ``name`` = 0-based position in ``order`` (ties in unspecified order: give a total order).

    Distributed: a range-partitioned sort, per-partition counts (one small collect) and offsets.
    """
    from pyspark.sql import functions as F

    sorted_df = df.orderBy(*order).select(
        "*", F.spark_partition_id().alias("_pid"), F.monotonically_increasing_id().alias("_mid")
    )
    sorted_df = persist(sorted_df)
    sizes = {r["_pid"]: int(r["n"]) for r in sorted_df.groupBy("_pid").agg(F.count(F.lit(1)).alias("n")).collect()}
    offsets, total = [], 0
    for pid in sorted(sizes):
        offsets.append((pid, total))
        total += sizes[pid]
    spark = df.sparkSession
    off = spark.createDataFrame(offsets or [(0, 0)], "_pid int, _off long")
    out = sorted_df.join(F.broadcast(off), "_pid").withColumn(
        name, F.col("_off") + F.col("_mid") - F.shiftleft(F.col("_pid").cast("long"), 33)
    )
    return out.drop("_pid", "_mid", "_off")


def index_lines(
    lines: DataFrame, catalog: pd.DataFrame | None
) -> tuple[DataFrame, int, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """Add ``item_idx``/``user_idx``/``basket_idx`` as :class:`Dataset` numbers them.

    Returns ``(lines, n_items, n_users, n_baskets, item_ids, item_category, item_price_known)``.
    """
    from pyspark.sql import functions as F

    from xsell_eval.data.dataset import _as_str_ids

    spark = lines.sparkSession
    items = lines.select(F.col(C.ITEM).alias("id")).distinct()
    cat_ids: list[str] = []
    if catalog is not None and len(catalog):
        cat_ids = [str(x) for x in _as_str_ids(catalog[C.ITEM]).dropna().unique()]
        items = items.union(spark.createDataFrame([(x,) for x in cat_ids], "id string")).distinct()
    item_ids = np.array([r["id"] for r in items.orderBy("id").collect()], dtype=object)  # catalog-sized
    item_map = spark.createDataFrame([(s, i) for i, s in enumerate(item_ids)], "id string, item_idx int")
    users = row_index(lines.select(F.col(C.USER).alias("uid")).where(F.col("uid").isNotNull()).distinct(), ["uid"], "u")
    baskets = row_index(lines.select(F.col(C.BASKET).alias("bid")).distinct(), ["bid"], "b")
    n_users, n_baskets = users.count(), baskets.count()
    out = (
        lines.join(F.broadcast(item_map), lines[C.ITEM] == item_map["id"])
        .drop("id")
        .join(users, lines[C.USER] == users["uid"], "left")
        .join(baskets, lines[C.BASKET] == baskets["bid"])
        .withColumn(C.USER_IDX, F.coalesce(F.col("u"), F.lit(-1)).cast("int"))
        .withColumn(C.BASKET_IDX, F.col("b").cast("long"))
        .drop("uid", "u", "bid", "b")
    )
    # materialised once, without the id strings: the price pass below and every later plan start here
    keep = [C.USER_IDX, C.ITEM_IDX, C.BASKET_IDX, *[c for c in (C.TIMESTAMP, C.QUANTITY, C.PRICE) if c in out.columns]]
    out = out.select(*keep).localCheckpoint(storageLevel=on_disk())
    # item categories and price availability, as Dataset.item_category / item_price
    n_items = len(item_ids)
    category = np.full(n_items, -1, dtype=np.int64)
    cat_price = np.full(n_items, np.nan)
    if catalog is not None and len(catalog):
        pos = pd.Index(item_ids).get_indexer(_as_str_ids(catalog[C.ITEM]))
        ok = pos >= 0
        if C.CATEGORY in catalog.columns:
            text = catalog[C.CATEGORY].astype("string").fillna("").astype(object).to_numpy()[ok]
            values = np.full(n_items, "", dtype=object)
            values[pos[ok]] = text
            codes, _ = pd.factorize(pd.Series(values).replace("", None), sort=True)
            category = codes.astype(np.int64)
        if C.PRICE in catalog.columns:
            cat_price[pos[ok]] = pd.to_numeric(catalog[C.PRICE], errors="coerce").to_numpy(dtype=float)[ok]
    known = np.isfinite(cat_price)
    if C.PRICE in out.columns:
        priced = out.where(~F.isnan(C.PRICE)).select(C.ITEM_IDX).distinct()
        known[[int(r[0]) for r in priced.collect()]] = True  # item-sized
    return out, n_items, n_users, n_baskets, item_ids, category, known


def load(
    spark: SparkSession,
    path: str | Path | None = None,
    *,
    loader: str = "auto",
    columns: Mapping[str, str] | None = None,
    catalog: str | Path | None = None,
    policy: CleaningPolicy | str | None = None,
) -> SparkData:
    """Read, clean and index (the Spark twin of :func:`xsell_eval.data.loaders.load_dataset`)."""
    from xsell_eval.data.loaders import LOADERS
    from xsell_eval.data.sources._parsing import _stem

    lines, chosen, src, cat, notes = read_lines(spark, path, loader=loader, columns=columns, catalog=catalog)
    if policy is None or isinstance(policy, str):
        policy = CleaningPolicy.from_spec(policy, base=LOADERS[chosen].default_policy)
    kept, report = clean_lines(lines, policy, source=src, has_cancellations=chosen == "online-retail")
    report = report.with_notes(*notes)
    kept = kept.drop("_cancelled") if "_cancelled" in kept.columns else kept
    indexed, n_items, n_users, n_baskets, item_ids, category, price_known = index_lines(kept, cat)
    keep = [C.USER_IDX, C.ITEM_IDX, C.BASKET_IDX, C.TIMESTAMP, C.QUANTITY, C.PRICE]
    from pyspark.sql import functions as F

    if C.QUANTITY not in indexed.columns:
        indexed = indexed.withColumn(C.QUANTITY, F.lit(1.0))
    if C.PRICE not in indexed.columns:
        indexed = indexed.withColumn(C.PRICE, F.lit(float("nan")))
    if C.TIMESTAMP not in indexed.columns:
        indexed = indexed.withColumn(C.TIMESTAMP, F.lit(None).cast("timestamp_ntz"))
    out = indexed.select(*keep)  # index_lines materialised the lines: plans start there, not at the file
    release_persisted()
    from xsell_eval.spark.lake import lake_uri, local_path, uri_name

    uri = lake_uri(path)
    name = "online_retail" if path is None else _stem(Path(uri_name(uri)) if uri else local_path(path))
    return SparkData(
        lines=out,
        n_items=n_items,
        n_users=int(n_users),
        n_baskets=int(n_baskets),
        item_ids=item_ids,
        item_category=category,
        item_price_known=price_known,
        cleaning=report,
        name=name,
        source=src,
    )
