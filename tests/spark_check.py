"""Every spec test's extract on Spark too: with B12AUDIT_SPARK_CROSSCHECK=1, each run of the
stages (conftest.run_stages) on a canonical extract runs again with engine = "spark", from
the same files, and must give DuckDB's findings, population units and quarantine, row for
row. tests/test_spark_equivalence.py runs the rules' spec tests this way.
"""

from __future__ import annotations

import atexit
import functools
import os
from dataclasses import replace
from pathlib import Path

import duckdb

from transforms.config import AuditConfig
from transforms.operations import sequence
from transforms.spark_session import session_for

VARIABLE = "B12AUDIT_SPARK_CROSSCHECK"
COMPARED = ("findings", "population_units", "quarantine", "audit_scope")
SETTINGS = {
    "spark.ui.enabled": "false",
    # Tiny tables: compiling each query (code generation) and planning shuffles would take
    # most of the time; interpreted, one partition, the same rows come out.
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    # Files split into 16 KB blocks, so line numbers are counted across blocks (the
    # sample's lab results are 9 blocks).
    "spark.sql.files.maxPartitionBytes": "16384",
}


def wanted() -> bool:
    return os.environ.get(VARIABLE) == "1"


def on_spark(config: AuditConfig) -> AuditConfig:
    return replace(config, engine="spark", spark_master="local[2]", spark=SETTINGS)


@functools.cache
def session():
    """One local Spark for the test process, stopped when it exits."""
    spark = session_for(on_spark(AuditConfig()))
    spark.sparkContext.setLogLevel("ERROR")
    atexit.register(spark.stop)
    return spark


def build_on_spark(input_dir: Path, config: AuditConfig, work: Path) -> Path:
    """The run sequence from ingest to tag on the Spark engine; returns its build database."""
    session()
    run = sequence.Run(input_dir, work, on_spark(config))
    sequence.tagged(run, sequence.Runner())
    return run.build_db


def rows(db: Path, table: str, columns: list[str] | None = None) -> list[tuple]:
    """A table's rows in one order (every column, or those given)."""
    with duckdb.connect(str(db), read_only=True) as con:
        listed = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        return con.execute(f"select {listed} from {table} order by all").fetchall()


def differences(duck_db: Path, spark_db: Path, table: str) -> str:
    """'' when the table's rows are the same, else a few of the rows that differ."""
    duck, spark = rows(duck_db, table), rows(spark_db, table)
    if duck == spark:
        return ""
    only_duck = [r for r in duck if r not in spark][:5]
    only_spark = [r for r in spark if r not in duck][:5]
    return f"{table} differs on Spark: DuckDB only {only_duck}, Spark only {only_spark}"


def crosscheck(input_dir: Path, config: AuditConfig, duck_db: Path, work: Path) -> None:
    """Fails, showing the rows that differ, unless Spark gives DuckDB's rows."""
    spark_db = build_on_spark(input_dir, config, work)
    problems = [d for t in COMPARED if (d := differences(duck_db, spark_db, t))]
    assert not problems, "\n".join(problems)
