"""The run's first stages on the Spark engine (engine = "spark"): ingest, validate,
harmonise and tag on Spark; the rest (sensitivity, the report, publishing) on this machine,
from Spark's outputs, exactly as on DuckDB.

Spark writes its outputs as Parquet under `spark_output`/<run id> (default: the run's
patient_level/parquet): the quarantine (partitioned by table), findings and population
units (partitioned by site), and the patient-level tables the report reads (the canonical
and derived tables); after the report, the driver adds the measures (by site). The build
database then holds the same tables a DuckDB run makes, with DuckDB's types: each table is
first made here from the same SQL over no rows, then Spark's rows are inserted by name.
So every later stage runs unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from schemas.canonical import SCHEMAS
from transforms.config import AuditConfig
from transforms.database import connect, sql_quote
from transforms.errors import InputError
from transforms.inputs import ingest as ingest_step
from transforms.inputs import meds_on_spark, omop_on_spark, spark_load
from transforms.inputs import on_spark as spark_input
from transforms.inputs import validate as validate_step
from transforms.inputs.adapters import omop
from transforms.inputs.spark_views import source_maps
from transforms.operations import stages
from transforms.rules import harmonise as harmonise_step
from transforms.rules import populations
from transforms.rules import tag as tag_step
from transforms.rules.on_spark import SparkRules, provided_tables
from transforms.rules.steps import ordered, steps_in
from transforms.spark_session import keep, session_for
from transforms.spark_sql import translate

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Each format's reader: (files for the manifest, {table: checked rows}).
READERS = {
    "canonical": spark_input.read_folder,
    "omop": omop_on_spark.read,
    "meds": meds_on_spark.read,
}
# Outputs partitioned by site (a QI team's unit), the quarantine by table.
PARTITIONS = {"findings": "site", "population_units": "site", "quarantine": "table_name"}


@dataclass
class SparkAudit:
    """One run's Spark session and what its stages pass on (kept out of Prefect state)."""

    config: AuditConfig
    input_path: str
    output: str  # where Spark writes Parquet
    input_format: str | None = None  # None: detected from what the folder holds
    spark: SparkSession | None = None
    files: list = field(default_factory=list)
    checked: dict = field(default_factory=dict)
    scope: dict = field(default_factory=dict)

    @classmethod
    def for_run(
        cls, config: AuditConfig, input_dir: Path, fmt: str | None, build_dir: Path, run_id: str
    ) -> SparkAudit:
        """Outputs under spark_output/<run id>, else the run's patient_level/parquet."""
        if config.spark_output:
            output = f"{config.spark_output.rstrip('/')}/{run_id}"
        else:
            output = str(build_dir / "patient_level" / "parquet")
        input_path, output = spark_input.spark_path(input_dir), spark_input.spark_path(output)
        return cls(config, input_path, output, fmt)


def ingest(audit: SparkAudit, db_path: Path) -> list[dict]:
    """Lists the extract's files where Spark reads them, checks each header and counts each
    file's rows; returns per-file facts for the manifest."""
    audit.spark = session_for(audit.config)
    today = dt.date.today() if audit.config.reject_future_dates else None
    listed = spark_input.list_files(audit.spark, audit.input_path)
    fmt = audit.input_format or spark_input.detect(
        audit.input_path, listed, meds_on_spark.is_meds(audit.spark, listed)
    )
    if fmt not in READERS:
        raise InputError(
            f"format {fmt!r} does not run on the Spark engine (it reads "
            f"{', '.join(READERS)}); run it on engine = duckdb"
        )
    if fmt == "omop" and audit.config.vocabulary_dir:
        raise InputError(omop.OWN_VOCABULARY)
    read = READERS[fmt](audit.spark, audit.input_path, listed, today)
    audit.files, audit.checked = read
    with connect(db_path) as con:
        ingest_step.create_staging(con)
        if fmt != "canonical":  # the codes the source maps itself, for harmonise
            for table, rows in source_maps(audit.spark).items():
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    con.executemany(f"insert into staging.{table} values ({marks})", rows)
    return [f.record() for f in audit.files]


def validate(audit: SparkAudit, db_path: Path, run_dir: Path) -> dict[tuple[str, str], int]:
    """Checks and types every row on Spark (the canonical tables, kept there); the
    quarantine to Parquet and into the build database. Stops above
    max_quarantine_fraction, as the DuckDB engine does (the quarantine summary left in the
    run folder)."""
    config = audit.config
    quarantine, changed = spark_load.load(audit.spark, audit.checked, config.sql_params())
    with connect(db_path) as con:
        validate_step.create_tables(con)
        hand_over(con, audit, quarantine, "quarantine")
        for name, rows in changed.items():
            table = next(f.table for f in audit.files if f.name == name)
            con.execute("insert into identifier_changes values (?, ?, ?)", [name, table, rows])
        read = {(f.name, f.table): f.rows_read for f in audit.files if f.table in SCHEMAS}
        try:
            validate_step.check_quarantine_fraction(con, read, config)
        except InputError:
            stages.leave_quarantine_summary(con, config, run_dir)
            raise
        counts = validate_step.quarantined_rows_by_file(con)
    return {key: counts.get(key, 0) for key in read}


def harmonise(audit: SparkAudit, db_path: Path) -> dict:
    """Reference lists here, handed to Spark; the scope and every derive step and population
    on Spark; their rows, and the canonical tables', into the build database."""
    spark, config = audit.spark, audit.config
    with connect(db_path) as con:
        harmonise_step.load_reference(con, config)
        harmonise_step.write_scope(con, config)  # over no rows yet: DuckDB's types
        rules = SparkRules(spark)
        rules.provide({t: con.sql(f"select * from {t}").to_arrow_table() for t in _handed()})
        audit.scope = _scope(spark, config, any(f.table == "diagnoses" for f in audit.files))
        con.execute("delete from audit_scope")
        values = ", ".join(f"${k} as {k}" for k in audit.scope)
        con.execute(f"insert into audit_scope by name select {values}", audit.scope)
        params = harmonise_step.parameters(config, audit.scope)
        harmonise_step.derive(con, params)  # over no rows: the tables, typed as DuckDB types them
        populations.build_units(con, params)
        rules.derive(params)
        rules.population_units(params)
        derived = [t for s in ordered(steps_in("derive")) for t in s.creates]
        for table in [*SCHEMAS, *derived, "population_units"]:
            hand_over(con, audit, spark.table(table), table)
    return audit.scope


def tag(audit: SparkAudit, db_path: Path) -> dict[str, int]:
    """Findings on Spark, to Parquet by site and into the build database, checked there as
    on DuckDB; then each finding's population and its outcomes."""
    params = harmonise_step.parameters(audit.config, audit.scope)
    findings = SparkRules(audit.spark).tag(params)
    with connect(db_path) as con:
        con.execute(tag_step.FINDINGS_TABLE)
        hand_over(con, audit, findings, "findings")
        tag_step.check_findings(con)
        populations.build(con, params)
        return dict(con.execute("select finding, count(*) from findings group by all").fetchall())


def write_measures(audit: SparkAudit, db_path: Path) -> None:
    """The measures the report counted on the driver (table measure_counts: exact counts,
    every period and site), beside Spark's outputs as Parquet by site."""
    where = sql_quote(_driver_path(f"{audit.output}/measures"))
    with connect(db_path) as con:
        con.execute(
            f"copy (select * from measure_counts) to '{where}' "
            "(format parquet, partition_by (site), overwrite_or_ignore true)"
        )


def _handed() -> list[str]:
    """The tables made here that the rule steps read (reference lists, the registry)."""
    made_on_spark = {*SCHEMAS, "audit_scope"}
    return [t for t in provided_tables() if t not in made_on_spark]


def _scope(spark: SparkSession, config: AuditConfig, diagnoses: bool) -> dict:
    statement = translate(harmonise_step.SCOPE)
    params = harmonise_step.scope_parameters(config, diagnoses)
    row = keep(spark.sql(statement.query, args=params), statement.creates).first()
    return row.asDict()


def hand_over(
    con: duckdb.DuckDBPyConnection, audit: SparkAudit, rows: DataFrame, table: str
) -> None:
    """Writes Spark's rows as Parquet under the output folder, then inserts them into the
    build database's table (typed as DuckDB types it), by name."""
    path = f"{audit.output}/{table}"
    writer = rows.write.mode("overwrite")
    if table in PARTITIONS:
        writer = writer.partitionBy(PARTITIONS[table])
    writer.parquet(path)
    files = f"{sql_quote(_driver_path(path))}/**/*.parquet"
    if not con.execute(f"select count(*) from glob('{files}')").fetchall()[0][0]:
        return  # no rows: Spark writes no file into a partitioned folder
    # A partition's value is text as written (site "01" stays "01"); a null one is
    # __HIVE_DEFAULT_PARTITION__, which DuckDB reads as null.
    hive = "true, hive_types_autocast = false" if table in PARTITIONS else "false"
    selected = ", ".join(f'"{c}"' for c in rows.columns)
    con.execute(
        f"insert into {table} by name select {selected} "
        f"from read_parquet('{files}', hive_partitioning = {hive})"
    )


def _driver_path(path: str) -> str:
    """Where this machine reads Spark's output: a local folder, or an object store DuckDB
    reads (s3a:// is Hadoop's name for s3://)."""
    if path.startswith("file:"):
        return path.removeprefix("file:").replace("///", "/", 1)
    return path.replace("s3a://", "s3://", 1)
