"""Publish: describe the database, then swap it into place for analysts in one rename.

The run builds in a private file created in the DuckDB 1.5 storage format, so analysts
on 1.x tools can open it. Publishing drops the staging views, checkpoints, and renames
the file over `OUT_DIR/b12audit.duckdb`. A rename is atomic: analysts see the previous
complete run or this one, never a half-written database; a reader holding the old file
keeps reading the old snapshot.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import time
from pathlib import Path

import duckdb

from schemas.canonical import SCHEMAS
from schemas.findings import COLUMN_COMMENTS as FINDINGS_COLUMN_COMMENTS
from transforms.database import sql_quote
from transforms.operations.history import RUN_COLUMNS
from transforms.operations.view_comments import MEASURE_COLUMNS, VIEW_COLUMNS
from transforms.outputs.worklist import COLUMN_COMMENTS as WORKLIST_COLUMN_COMMENTS
from transforms.rules.steps import steps_in
from transforms.sqlfiles import sql_dir, sql_text

PUBLISHED_NAME = "b12audit.duckdb"

TABLE_COMMENTS = {
    "lab_results": "Canonical lab results that passed validation (one row per input row).",
    "medications": "Canonical medication events that passed validation.",
    "patients": "Canonical patients (optional input file).",
    "diagnoses": "Canonical diagnoses (optional input file).",
    "quarantine": "Input rows that failed validation: file, line, column, check and value.",
    "identifier_changes": "Rows per input file whose patient identifier was normalised on "
    "loading (Unicode NFC, invisible characters removed).",
    "audit_scope": "Medication and lab data ends, medication start, diagnoses file present.",
    "lab_harmonised": "Audited lab rows: analyte, parsed value, canonical unit and status.",
    "b12_results": "Valid, not-on-treatment serum B12 in pg/mL with class.",
    "mma_results": "Valid, not-on-treatment serum/plasma MMA in nmol/L.",
    "medication_classes": "Every medication event: drug class, route kind, what it counts as.",
    "b12_doses": "B12 treatment doses by patient, day and route kind.",
    "diagnosis_concepts": "Diagnoses on a concept list.",
    "b12_courses": "New B12 courses with loading doses and neuro status.",
    "folate_episodes": "Folate episodes with compliance basis or reason.",
    "patient_facts": "One row per patient: sex group, birth date and site (the fallback).",
    "low_haemoglobin": "Valid haemoglobins below the patient's anaemia limit.",
    "monitoring_courses": "monitoring_missed's courses: new courses in anaemic patients.",
    "neuro_workups": "neuro_normal_b12_no_metabolites's population and reasons.",
    "maintenance_courses": "b12_treatment_lapse's population: lifelong maintenance, lapses.",
    "confirmed_deficiencies": "b12_deficiency_untreated's results and their treatment.",
    "oral_courses": "b12_oral_regimen's population: oral courses, severe results, first dose.",
    "findings": "One row per finding (patient, episode, course or result), with evidence.",
    "finding_definitions": "The finding registry: label, kind, unit, population, definition.",
    "finding_reasons": "Each finding's reasons: label, pending or not, worklist severity, action.",
    "population_units": "Every population's units, with status (sql/populations/).",
    "populations": "Each finding's units and outcome: the one source of every denominator.",
    "sensitivity": "Findings gained and lost if each clinical switch were flipped.",
    "run_metadata": "The run that built this database: manifest as JSON.",
    "run_log": "Every scheduled run: when, files, counts, configuration hash, outcome.",
    "reaudit_diff": "Per finding and unit: newly flagged, resolved or still flagged.",
    "finding_units": "Each finding row's unit key (its date in its population), for the diff.",
    "worklist_items": "Care gaps to follow up: priority, state, action, evidence, annotation.",
    "worklist_annotations": "The care team's annotations file as loaded (latest per item shown).",
    "measure_counts": "Exact measures per finding, period (month or quarter) and site.",
    "measure_alerts": "Special cause concern on a care-gap measure's latest complete period.",
    "measure_published": "Each complete period's counts as first published, and by which run.",
    "measure_restatements": "Published periods a later run changed: both values, the cause.",
    "spc_baselines": "Each fixed SPC baseline: chart kind, centre, spread, periods, run.",
    "source_drug_classes": "Drug classes a source format supplies (site mapping, OMOP).",
    "ref_concepts": "Code lists, one concept set per file (sql/reference/concepts/).",
    "ref_unit_conversions": "Unit conversion factors to canonical units.",
    "ref_drug_names": "Drug name patterns by drug class, lowest priority wins.",
    "ref_routes": "Route spellings and name patterns by route kind (sql/reference/routes.csv).",
    "local_test_codes": "Local lab codes mapped to LOINC by the configuration.",
}
EXTRA_COLUMN_COMMENTS = {
    "row_id": "Evidence id: source file name and line (file:line).",
    "source_file": "Extract file the row came from.",
    "source_line": "Line in the CSV file (header is line 1), or row number in a Parquet file.",
    "collected_has_time": "True when collected_at had a time of day; else compare by date.",
    "resulted_has_time": "True when resulted_at had a time of day.",
    "event_has_time": "True when event_at had a time of day.",
}


RUN_COLUMN_COMMENTS = {
    "run_id": "The run: its start time and a random suffix (runs/<run id>/ holds its files).",
    "started_at": "When the run started.",
    "finished_at": "When the run ended (empty while it runs).",
    "input_format": "canonical, site, omop, meds or fhir: the format the run read.",
    "code_version": "The b12audit version and the hash of its rules.",
    "outcome": "running, published, unchanged (nothing new: the last results stand) or failed.",
    "drop_dir": "The drop folder (or, for b12audit run, the input folder) the run read.",
    "files_new": "Files read for the first time by this run.",
    "files_replaced": "Corrected re-deliveries: a known name with new bytes; replaces its rows.",
    "files_unchanged": "Files already in the history, unchanged.",
    "files_duplicate": "Bytes already delivered under another name; not read again.",
    "rows_loaded": "Canonical rows in the audited history after this run.",
    "rows_quarantined": "Rows quarantined from the files this run read.",
    "findings": "Findings this run published.",
    "config_sha256": "SHA-256 of the settings that decide findings (alerts aside).",
    "message": "Why a run failed: file, line and column, never a value.",
}
ANNOTATION_COLUMNS = {
    "annotation_status": "The care team's own status for the item (annotations.csv).",
    "annotation_owner": "Who on the care team holds the item (annotations.csv).",
    "annotation_note": "The care team's note (annotations.csv; patient-level free text).",
    "annotated_on": "When the care team last annotated the item.",
}
# The analysts' entry points. Plain SQL that DuckDB 1.x parses too.
VIEWS = {
    "findings_current": (
        "select f.*, d.status as since_previous_run from findings as f "
        "left join finding_units as u on u.finding = f.finding "
        "and u.patient_id = f.patient_id and u.episode is not distinct from f.episode "
        "left join reaudit_diff as d on d.finding = f.finding "
        "and d.patient_id = f.patient_id and d.unit_key = u.unit_key",
        "This run's findings, with since_previous_run for the finding's unit (patient, "
        "folate episode, B12 course or result): newly_flagged or still_flagged (empty for "
        "the first run, and for rows still waiting on their window).",
    ),
    "measures": (
        "select * from measure_counts",
        "Measures per finding, period and site: exact numerator, denominator, ratio, pending, "
        "and whether the period is complete (shareable/measures.csv is the "
        "disclosure-controlled version).",
    ),
    "worklist": (
        "select * from worklist_items",
        "Care gaps to follow up (open, pending, acted), evidence in plain words, annotations.",
    ),
    "runs": (
        "select * from run_log",
        "Every scheduled run: when, which files were new, counts, configuration hash, outcome.",
    ),
}


def write_run_log(con: duckdb.DuckDBPyConnection, runs: list[dict]) -> None:
    con.execute(f"create or replace table run_log ({RUN_COLUMNS})")
    for run in runs:
        columns = ", ".join(run)
        values = ", ".join(f"${key}" for key in run)
        con.execute(f"insert into run_log ({columns}) values ({values})", run)


TIMELINE_COMMENT = (
    "Each patient's lab results (B12, MMA, homocysteine, Hb, MCV), folate and B12 events and "
    "coded diagnoses on one time axis: event_at, lane, item, value, detail, row_id."
)


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    timeline = (sql_text("report/patient_timeline.sql"), TIMELINE_COMMENT)
    for name, (sql, comment) in {**VIEWS, "patient_timeline": timeline}.items():
        con.execute(f"create or replace view {name} as {sql}")
        con.execute(f"comment on view {name} is '{sql_quote(comment)}'")


def _comment_view_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Each view's columns: its own comments, else those of the table it shows."""
    for view, (table, own) in VIEW_COLUMNS.items():
        inherited = dict(
            con.execute(
                "select column_name, comment from duckdb_columns() "
                "where table_name = $t and comment is not null",
                {"t": table or ""},
            ).fetchall()
        )
        for (column,) in con.execute(
            "select column_name from duckdb_columns() where table_name = $v", {"v": view}
        ).fetchall():
            text = own.get(column) or inherited.get(column)
            if text:
                con.execute(f"comment on column {view}.\"{column}\" is '{sql_quote(text)}'")


def write_run_metadata(con: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    con.execute("create or replace table run_metadata (run_id varchar, manifest json)")
    con.execute(
        "insert into run_metadata values ($id, $m)",
        {"id": manifest["run_id"], "m": json.dumps(manifest, default=str)},
    )


def describe(con: duckdb.DuckDBPyConnection) -> None:
    """Table and column comments, so the database explains itself in any client."""
    existing = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    made_by = {table: s.file for s in steps_in("derive", "report") for table in s.creates}
    for table, text in TABLE_COMMENTS.items():
        if table in existing:
            where = f" (sql/{made_by[table]})" if table in made_by else ""
            con.execute(f"comment on table {table} is '{sql_quote(text.rstrip('.') + where)}.'")
    for table in (*SCHEMAS, "findings", "worklist_items", "run_log", "measure_counts"):
        for column, text in _column_comments(table).items():
            if _has_column(con, table, column):
                con.execute(f"comment on column {table}.\"{column}\" is '{sql_quote(text)}'")
    for table, column, text in _derived_column_comments():
        if _has_column(con, table, column):
            con.execute(f"comment on column {table}.\"{column}\" is '{sql_quote(text)}'")
    _comment_view_columns(con)


def _derived_column_comments() -> list[tuple[str, str, str]]:
    """The columns of the derived and reference tables, one comment each
    (sql/reference/column_comments.csv)."""
    path = sql_dir() / "reference" / "column_comments.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return [(r["table"], r["column"], r["comment"]) for r in csv.DictReader(handle)]


def _column_comments(table: str) -> dict[str, str]:
    if table == "findings":
        return dict(FINDINGS_COLUMN_COMMENTS)
    if table == "worklist_items":  # a finding's row, the team's annotation, what to do
        return {**FINDINGS_COLUMN_COMMENTS, **ANNOTATION_COLUMNS, **WORKLIST_COLUMN_COMMENTS}
    if table == "run_log":
        return dict(RUN_COLUMN_COMMENTS)
    if table == "measure_counts":
        return dict(MEASURE_COLUMNS)
    described = {name: col.description for name, col in SCHEMAS[table]().columns.items()}
    return {**EXTRA_COLUMN_COMMENTS, **described}


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_columns() where table_name = $t and column_name = $c",
            {"t": table, "c": column},
        ).fetchall()[0][0]
    )


def finish(con: duckdb.DuckDBPyConnection) -> None:
    """Drops the staging views and writes everything to the file."""
    con.execute("drop schema if exists staging cascade")
    con.execute("checkpoint")


def swap_into_place(build_db: Path, out_dir: Path, wait_seconds: float = 60) -> Path:
    """Renames the closed build file over the analysts' database, atomically, once no
    analyst's session can leave a write-ahead log behind that would not match the new
    file: waits for a read-write session to close (then stops: PublishBlocked), and folds
    a log left by a session that ended without a checkpoint into the old file first. The
    build file is on disk (fsync) before the rename, and the rename before returning."""
    target = out_dir / PUBLISHED_NAME
    _fsync(build_db)
    if target.exists():
        wait_for_writers(target, wait_seconds)
        _fold_in_write_ahead_log(target)
    os.replace(build_db, target)
    _fsync(out_dir)
    return target


class PublishBlocked(RuntimeError):
    """An analyst's read-write session holds the database: the run is built, not published."""


def wait_for_writers(target: Path, wait_seconds: float) -> None:
    """Returns once no other process holds the database for writing (at once when there
    is no database); stops with PublishBlocked after `wait_seconds`."""
    if not target.exists():
        return
    deadline = time.monotonic() + wait_seconds
    while _held_for_writing(target):
        if time.monotonic() >= deadline:
            raise PublishBlocked(
                f"{target.name} is open read-write by another process (an analyst's DuckDB "
                f"session?) and stayed so for {wait_seconds:g} s; publishing over it would "
                "break that session's changes. Close it (or open the database read-only: "
                "duckdb -readonly) and run again; this run was not published."
            )
        time.sleep(0.5)


def _held_for_writing(target: Path) -> bool:
    """Whether another process holds DuckDB's write lock on the file (DuckDB locks a
    read-write database exclusively with fcntl; read-only sessions share)."""
    with target.open("rb") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(handle, fcntl.LOCK_UN)
    return False


def _fold_in_write_ahead_log(target: Path) -> None:
    """A session that wrote and ended without a checkpoint (killed) leaves `.wal` beside
    the file; replayed onto the new file it would make every connection fail. Checkpoint
    it into the old file; one that cannot be replayed is kept aside, renamed."""
    wal = target.with_name(target.name + ".wal")
    if not wal.exists():
        return
    try:
        with duckdb.connect(str(target)) as con:
            con.execute("checkpoint")
    except duckdb.Error:
        pass
    if wal.exists():
        wal.rename(wal.with_name(f"{wal.name}.unreplayable-{int(time.time())}"))


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
