"""Publish: describe the database, then swap it into place for analysts in one rename.

The run builds in a private file created in the DuckDB 1.5 storage format, so analysts
on 1.x tools can open it. Publishing drops the staging views, checkpoints, and renames
the file over `OUT_DIR/b12audit.duckdb`. A rename is atomic: analysts see the previous
complete run or this one, never a half-written database; a reader holding the old file
keeps reading the old snapshot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb

from schemas.canonical import SCHEMAS
from schemas.findings import COLUMN_COMMENTS as FINDINGS_COLUMN_COMMENTS
from transforms.database import sql_quote
from transforms.operations.history import RUN_COLUMNS
from transforms.outputs.worklist import COLUMN_COMMENTS as WORKLIST_COLUMN_COMMENTS
from transforms.rules.steps import steps_in
from transforms.sqlfiles import sql_text

PUBLISHED_NAME = "b12audit.duckdb"

TABLE_COMMENTS = {
    "lab_results": "Canonical lab results that passed validation (one row per input row).",
    "medications": "Canonical medication events that passed validation.",
    "patients": "Canonical patients (optional input file).",
    "diagnoses": "Canonical diagnoses (optional input file).",
    "quarantine": "Input rows that failed validation: file, line, column, check and value.",
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
    for table in (*SCHEMAS, "findings", "worklist_items", "run_log"):
        for column, text in _column_comments(table).items():
            if _has_column(con, table, column):
                con.execute(f"comment on column {table}.\"{column}\" is '{sql_quote(text)}'")


def _column_comments(table: str) -> dict[str, str]:
    if table == "findings":
        return dict(FINDINGS_COLUMN_COMMENTS)
    if table == "worklist_items":
        return dict(WORKLIST_COLUMN_COMMENTS)
    if table == "run_log":
        return dict(RUN_COLUMN_COMMENTS)
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


def swap_into_place(build_db: Path, out_dir: Path) -> Path:
    """Renames the closed build file over the analysts' database, atomically."""
    target = out_dir / PUBLISHED_NAME
    os.replace(build_db, target)
    return target
