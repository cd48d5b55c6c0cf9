"""An adapter's staging views on Spark (transforms/spark_connection.py), checked.

Each audited file's view (ingest.file_view, as a Spark view) gives canonical columns as
text and source_row, the row's line (CSV) or number (Parquet). Its rows are checked by the
schemas inside Spark tasks as a canonical Parquet file's are (on_spark.check_text_rows);
the rows the adapter rejected (staging.row_rejects) and rows of the wrong shape join the
failures, so the quarantine holds what DuckDB's holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from schemas.canonical import SCHEMAS, known_columns
from transforms.inputs import ingest
from transforms.inputs.on_spark import SparkFile, check_text_rows, spark_schema
from transforms.spark_session import union_all

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def check_views(spark: SparkSession, files: list[SparkFile], wrong: dict, today: dt.date | None):
    """Each canonical table's checked rows: the adapter's staging views' rows checked, with
    rows of the wrong shape (by file name) and the adapter's rejects as failures."""
    checked = {}
    for table in SCHEMAS:
        parts = []
        for file in (f for f in files if f.table == table):
            canonical = replace(file, columns=())
            view = spark.table(ingest.file_view(table, file.index).replace(".", "__"))
            text = view.selectExpr("source_row as line", *[f"`{c}`" for c in known_columns(table)])
            check = partial(check_text_rows, canonical, today)
            parts.append(text.mapInArrow(check, spark_schema(canonical.text_columns)))
            parts.append(_rejects(spark, canonical, wrong.get(file.name)))
        if parts:
            checked[table] = union_all(parts)
    return checked


def _rejects(spark: SparkSession, file: SparkFile, wrong: DataFrame | None) -> DataFrame:
    """Rows of the wrong shape and the adapter's rejects, as failed checks of `file`."""
    from pyspark.sql import functions as F

    nulls = [F.lit(None).cast("string").alias(c) for c in known_columns(file.table)]
    failure = ["source_file", "source_line", "column_name", "check_name", "value"]
    rejects = (
        spark.table("staging__row_rejects")
        .where((F.col("source_file") == file.name) & (F.col("table_name") == file.table))
        .select(*nulls, "source_file", F.col("source_row").alias("source_line"), *failure[2:])
    )
    if wrong is not None:
        rejects = rejects.unionByName(wrong.select(*nulls, *failure))
    return rejects


def source_maps(spark: SparkSession) -> dict[str, list[tuple]]:
    """The codes an adapter mapped from the source (an OMOP vocabulary's drug classes,
    MIMIC lab items), for harmonise on the driver: small tables."""
    tables = ("source_test_codes", "source_drug_classes")
    return {t: [tuple(r) for r in spark.table(f"staging__{t}").collect()] for t in tables}
