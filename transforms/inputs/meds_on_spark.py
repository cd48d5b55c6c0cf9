"""A MEDS folder read on Spark (engine = "spark"), mapped by the MEDS adapter's own SQL.

Each shard (data/**/*.parquet) becomes a Spark view of its rows, numbered by place
(source_row), its columns as typed in the file except floating-point numbers, which become
the text DuckDB gives them (shortest form: 150.0, 0.1, 1e-05), so a result reads the same
on both engines. The code patterns (sql/reference/meds_codes.csv, and a site's
meds_codes.csv first) are read and checked on the driver as on DuckDB; then meds.py's
stage_rows counts each shard's rows per table and defines one view per (shard, table)
through transforms/spark_connection.py, translated. The views are checked as the canonical
extract's Parquet files are (spark_views.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from transforms.errors import InputError
from transforms.inputs import ingest
from transforms.inputs.adapters import meds, meds_codes
from transforms.inputs.on_spark import SparkFile
from transforms.inputs.spark_views import check_views
from transforms.spark_connection import SparkConnection

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Spark's types by the names DuckDB gives them (meds.CORE's checks and SQL read these).
DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "binary": "BLOB",
    "date": "DATE",
    "timestamp_ntz": "TIMESTAMP",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
}


def shards(listed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Parquet files anywhere under data/ (meds.find_shards), names in any case."""
    return [
        (n, u)
        for n, u in listed
        if n.split("/")[0].lower() == "data" and n.lower().endswith(".parquet") and "/" in n
    ]


def is_meds(spark: SparkSession, listed: list[tuple[str, str]]) -> bool:
    """meds.detect: shards, and metadata or a first shard with MEDS's core columns."""
    found = shards(listed)
    if not found:
        return False
    metadata = {
        n.split("/")[-1].lower() for n, _ in listed if n.split("/")[0].lower() == "metadata"
    }
    if metadata & meds.MEDS_EVIDENCE:
        return True
    try:
        columns = spark.read.parquet(found[0][1]).columns
    except Exception:  # an unreadable file is no evidence (meds._has_core_columns)  # noqa: BLE001
        return False
    return {"subject_id", "time", "code"} <= set(columns)


def read(spark: SparkSession, input_path: str, listed: list[tuple[str, str]], today):
    """(files for the manifest, {table: checked rows}); the MIMIC lab items as a staging__
    view."""
    found = shards(listed)
    if not found:
        raise InputError(f"{input_path}: no MEDS shards (expected data/**/*.parquet)")
    files = _side_files(spark, listed)
    con = SparkConnection(spark)
    ingest.create_staging(con)
    patterns = meds_codes.read_patterns(duckdb.connect(), _pattern_files(spark, listed))
    meds._supply_lab_items(con)
    for name, uri in found:
        files += _shard(spark, con, name, uri, patterns, len(files))
    return files, check_views(spark, files, {}, today)


def _side_files(spark: SparkSession, listed) -> list[SparkFile]:
    """metadata/ files and a site pattern file, listed; Parquet ones counted."""
    side = [(n, u) for n, u in listed if n.split("/")[0].lower() == "metadata" and "/" in n]
    side += [(n, u) for n, u in listed if n == meds.SITE_PATTERNS]
    files = []
    for index, (name, uri) in enumerate(side):
        role = "code_patterns" if name == meds.SITE_PATTERNS else "metadata"
        rows = spark.read.parquet(uri).count() if name.endswith(".parquet") else 0
        files.append(SparkFile(role, uri, name, index, False, rows_read=rows, source_format="meds"))
    return files


def _pattern_files(spark: SparkSession, listed) -> list[tuple[Path, str]]:
    """The site's pattern file (copied here from where Spark reads it), then the defaults."""
    defaults = meds.reference_file("meds_codes.csv")
    site = [u for n, u in listed if n == meds.SITE_PATTERNS]
    if not site:
        return [(defaults, defaults.name)]
    text = spark.read.text(site[0], wholetext=True).first()[0]
    copy = Path(tempfile.mkdtemp(prefix="b12audit-meds-")) / meds.SITE_PATTERNS
    copy.write_text(text, encoding="utf-8")
    return [(copy, meds.SITE_PATTERNS), (defaults, defaults.name)]


def _shard(spark, con: SparkConnection, name: str, uri: str, patterns, first: int):
    """The shard's files (one per table it feeds), its view named meds_shard_<first>."""
    from pyspark.sql import functions as F

    rows = spark.read.parquet(uri)
    types = {c: DUCKDB_TYPES.get(t, t.upper()) for c, t in rows.dtypes}
    columns = [_as_duckdb_text(c, t) for c, t in rows.dtypes]
    view = f"meds_shard_{first}"
    rows.select(
        *columns, (F.col("_metadata.row_index") + 1).alias("source_row")
    ).createOrReplaceTempView(view)
    sources = meds.stage_rows(con, Path(name), name, types, view, patterns, first)
    return [
        SparkFile(s.table, uri, name, s.index, False, rows_read=s.rows_read, source_format="meds")
        for s in sources
    ]


def _as_duckdb_text(column: str, spark_type: str):
    """A floating-point column as DuckDB's text of it (null stays null); others as typed."""
    from pyspark.sql import functions as F

    quoted = F.col(f"`{column}`")
    convert = {"double": _doubles_as_duckdb, "float": _floats_as_duckdb}.get(spark_type)
    if convert is None:
        return quoted
    text = F.pandas_udf(convert, "string")(quoted)
    return F.when(quoted.isNotNull(), text).alias(column)


# --- In the Spark tasks (a null arrives as NaN here; the caller keeps it null).


def _doubles_as_duckdb(values: pd.Series) -> pd.Series:
    """DuckDB's double -> varchar: the shortest text that reads back, as Python's repr."""
    return values.map(lambda v: repr(float(v)))


def _floats_as_duckdb(values: pd.Series) -> pd.Series:
    """DuckDB's float -> varchar: the shortest text that reads back as that float32."""
    return values.map(
        lambda v: repr(float(np.format_float_positional(np.float32(v), unique=True, trim="-")))
    )
