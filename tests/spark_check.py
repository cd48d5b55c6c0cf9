"""Every spec test's extract on Spark too: with B12AUDIT_SPARK_CROSSCHECK=1, each run of the
stages (conftest.run_stages) on a canonical, OMOP or MEDS extract runs again with engine =
"spark", from the same files, and must give DuckDB's findings, population units and
quarantine, row for row; each OMOP and MEDS mapping test's load (`loaded`) must give
DuckDB's files read, loaded rows, quarantine and source codes, or stop with DuckDB's
message. tests/test_spark_equivalence.py runs the rules' and these adapters' spec tests
this way.
"""

from __future__ import annotations

import atexit
import functools
import os
from dataclasses import replace
from pathlib import Path

import duckdb

from schemas.canonical import SCHEMAS
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.operations import on_spark as spark_stages
from transforms.operations import sequence
from transforms.operations import stages as sequence_stages
from transforms.spark_session import session_for

VARIABLE = "B12AUDIT_SPARK_CROSSCHECK"
COMPARED = ("findings", "population_units", "quarantine", "audit_scope")
LOADED = (
    "lab_results",
    "medications",
    "patients",
    "diagnoses",
    "quarantine",
    "identifier_changes",
    "staging.source_drug_classes",
    "staging.source_test_codes",
)
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


def build_on_spark(
    input_dir: Path, config: AuditConfig, work: Path, fmt: str | None = None
) -> Path:
    """The run sequence from ingest to tag on the Spark engine; returns its build database."""
    session()
    run = sequence.Run(input_dir, work, on_spark(config), fmt)
    sequence.tagged(run, sequence.Runner())
    return run.build_db


def load_on_spark(
    input_dir: Path, config: AuditConfig, work: Path, fmt: str | None
) -> tuple[Path, list[dict]]:
    """Only ingest and validate on the Spark engine; returns the build database and the
    files' facts (ingest's)."""
    session()
    work.mkdir(parents=True)
    db = work / "build.duckdb"
    database.create_build_database(db)
    audit = spark_stages.SparkAudit.for_run(on_spark(config), input_dir, fmt, work, "check")
    files = spark_stages.ingest(audit, db)
    spark_stages.validate(audit, db, work)
    with duckdb.connect(str(db)) as con:  # harmonise hands them over on a run
        for table in SCHEMAS:
            spark_stages.hand_over(con, audit, audit.spark.table(table), table)
    return db, files


def loaded(input_dir: Path, config: AuditConfig, db: Path, fmt: str) -> tuple[list, dict]:
    """Ingest and validation on DuckDB into `db` (its folder the run's); returns the files
    and the rows quarantined per file (stages.validate's).
    With B12AUDIT_SPARK_CROSSCHECK=1, Spark must then read DuckDB's files (rows read per
    file and table), load and quarantine its rows and take the same codes from the source,
    or stop with DuckDB's message."""
    try:
        files = sequence_stages.ingest(db, input_dir, fmt)
        quarantined = sequence_stages.validate(db, config, files, db.parent)
    except InputError as stopped:
        if wanted():
            _refused_alike(input_dir, config, db.parent, fmt, stopped)
        raise
    if wanted():
        _loaded_alike(input_dir, config, db, fmt, files)
    return files, quarantined


def _loaded_alike(input_dir: Path, config: AuditConfig, duck_db: Path, fmt, files) -> None:
    spark_db, spark_files = load_on_spark(input_dir, config, duck_db.parent / "on-spark", fmt)
    problems = [d for t in LOADED if (d := differences(duck_db, spark_db, t))]
    read = {(f["file"], f["table"], f["index"], f["rows_read"]) for f in files}
    spark_read = {(f["file"], f["table"], f["index"], f["rows_read"]) for f in spark_files}
    if read != spark_read:
        problems.append(f"files read differ: DuckDB {read - spark_read}, Spark {spark_read - read}")
    assert not problems, "\n".join(problems)


def _refused_alike(input_dir: Path, config: AuditConfig, work: Path, fmt: str, error) -> None:
    try:
        load_on_spark(input_dir, config, work / "on-spark", fmt)
    except InputError as exc:
        assert str(exc) == str(error)
    else:
        raise AssertionError(f"Spark read what DuckDB stopped on: {error}")


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
