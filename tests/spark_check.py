"""Every spec test's extract on Spark too: with B12AUDIT_SPARK_CROSSCHECK=1, each run of the
stages (conftest.run_stages) also runs the rule steps on a local Spark from the same build
database and requires DuckDB's findings and population units, row for row.
tests/test_spark_equivalence.py runs the rules' spec tests this way.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import math
import os
from pathlib import Path

import duckdb

from transforms.config import AuditConfig
from transforms.rules import harmonise
from transforms.rules.on_spark import SparkRules, provided_tables

VARIABLE = "B12AUDIT_SPARK_CROSSCHECK"
COMPARED = ("findings", "population_units")


def wanted() -> bool:
    return os.environ.get(VARIABLE) == "1"


@functools.cache
def session():
    """One local Spark for the test process, stopped when it exits."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("b12audit-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # Tiny tables: compiling each query (code generation) and planning shuffles would
        # take most of the time; interpreted, one partition, the same rows come out.
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    atexit.register(spark.stop)
    return spark


def run_rules(spark, con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    """The build database's rule steps again, on Spark, as views named like its tables."""
    params = harmonise.run_parameters(con, config)
    rules = SparkRules(spark)
    rules.provide({t: con.sql(f"select * from {t}").to_arrow_table() for t in provided_tables()})
    rules.derive(params)
    rules.tag(params)
    rules.population_units(params)


def plain(value):
    """A value as Python compares it: Spark's Rows and DuckDB's dicts alike."""
    if hasattr(value, "asDict"):
        value = value.asDict(recursive=True)
    if isinstance(value, dict):
        return tuple(sorted((k, plain(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def rows_of(spark, con: duckdb.DuckDBPyConnection, table: str) -> tuple[list, list]:
    """(DuckDB's rows, Spark's rows) of one table, in one order, comparable."""
    frame = spark.table(table)
    duck = con.execute(f"select {', '.join(frame.columns)} from {table}").fetchall()
    sparks = [tuple(r) for r in frame.collect()]
    return sorted(map(repr, map(plain, duck))), sorted(map(repr, map(plain, sparks)))


def crosscheck(db: Path, config: AuditConfig) -> None:
    """Fails, showing the rows that differ, unless Spark gives DuckDB's rows."""
    with duckdb.connect(str(db), read_only=True) as con:
        spark = session()
        run_rules(spark, con, config)
        for table in COMPARED:
            duck, sparks = rows_of(spark, con, table)
            only_duck = sorted(set(duck) - set(sparks))
            only_spark = sorted(set(sparks) - set(duck))
            assert duck == sparks, (
                f"{table} differs on Spark: "
                f"DuckDB only {only_duck[:5]}, Spark only {only_spark[:5]}"
            )
