"""Checked rows to canonical tables and the quarantine, on Spark: validate.py's load steps.

Each table's passing rows are typed by sql/load/<table>.sql (translated), as temporary
view <table>; a table with no file is empty, as on DuckDB. Failed checks go to the
quarantine; then the rows sql/load/implausible_dates.sql and duplicate_results.sql name
move there from their tables, as validate.py `_move_to_quarantine` moves them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.canonical import SCHEMAS, known_columns
from transforms.inputs.on_spark import spark_schema
from transforms.spark_session import keep, union_all
from transforms.spark_sql import translate
from transforms.sqlfiles import bind, sql_text

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

QUARANTINE = ["source_file", "source_line", "table_name", "column_name", "check_name", "value"]
# Rows whose patient identifier loads changed (validate.py `_identifiers_changed`).
CHANGED_IDENTIFIERS = (
    "select source_file, count(*) as n from validated_batch "
    "where clean_id(patient_id) <> trim(patient_id) group by source_file"
)


def load(spark: SparkSession, checked: dict[str, DataFrame], params: dict):
    """(quarantine, {file: identifiers changed}); the canonical tables as views."""
    parts, changed = [], {}
    for table in SCHEMAS:
        rows = checked[table] if table in checked else _empty(spark, table)
        rows = rows.localCheckpoint(eager=True)  # checked once, read twice
        rows.where("check_name is null").createOrReplaceTempView("validated_batch")
        if "patient_id" in rows.columns:
            for file, n in spark.sql(translate(CHANGED_IDENTIFIERS).query).collect():
                changed[file] = changed.get(file, 0) + n
        keep(spark.sql(translate(sql_text(f"load/{table}.sql")).query), table)
        failed = rows.where("check_name is not null")
        parts.append(failed.selectExpr(*_quarantine_columns(f"'{table}'")))
    parts.append(_move(spark, "load/implausible_dates.sql", params))
    parts.append(_move(spark, "load/duplicate_results.sql", params))
    return keep(union_all(parts), "quarantine"), changed


def _quarantine_columns(table_name: str) -> list[str]:
    return [f"{table_name} as table_name" if c == "table_name" else c for c in QUARANTINE]


def _empty(spark: SparkSession, table: str) -> DataFrame:
    return spark.createDataFrame([], spark_schema(tuple(known_columns(table))))


def _move(spark: SparkSession, file: str, params: dict) -> DataFrame:
    """The rows a query names, out of their tables; returns them as quarantine rows."""
    sql = sql_text(file)
    moving = keep(spark.sql(translate(sql).query, args=bind(sql, params)), "moving")
    for (table,) in moving.select("table_name").distinct().collect():
        spark.sql(
            f"select * from {table} as t left anti join moving as m "
            "on m.table_name = :table and m.source_file = t.source_file "
            "and m.source_line = t.source_line",
            args={"table": table},
        ).transform(lambda rows, name=table: keep(rows, name))
    return moving.select(*QUARANTINE)
