"""The audit's stages as plain functions over a private DuckDB build file.

Each stage opens its own connection, does one step and returns something small (counts,
names), so the Prefect tasks in flows/ stay thin and every stage runs without Prefect.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from schemas.canonical import SCHEMAS
from transforms.config import AuditConfig
from transforms.database import connect, sql_quote
from transforms.errors import InputError
from transforms.inputs import adapters
from transforms.inputs import ingest as ingest_step
from transforms.inputs import validate as validate_step
from transforms.operations import history as history_step
from transforms.operations import publish as publish_step
from transforms.outputs import reaudit as reaudit_step
from transforms.outputs import report as report_step
from transforms.outputs import worklist_annotations as annotations_step
from transforms.rules import harmonise as harmonise_step
from transforms.rules import populations
from transforms.rules import sensitivity as sensitivity_step
from transforms.rules import tag as tag_step


def ingest(db_path: Path, input_dir: Path, fmt: str | None = None) -> list[dict]:
    """Hash, count and expose every extract file in its format (detected when None);
    returns per-file facts for the manifest."""
    with connect(db_path) as con:
        ingest_step.create_staging(con)
        sources = adapters.stage(con, input_dir, fmt)
    return [s.record() for s in sources]


def validate(
    db_path: Path, config: AuditConfig, files: list[dict], run_dir: Path
) -> dict[tuple[str, str], int]:
    """Validates every file, loading passing rows and quarantining the rest; returns rows
    quarantined per (file, table). Stops above max_quarantine_fraction, leaving the
    quarantine summary in the run folder so the user can see why."""
    audited = [f for f in files if f["table"] in SCHEMAS]
    with connect(db_path) as con:
        validate_step.create_tables(con)
        try:
            for f in audited:
                load = validate_step.FileToLoad(
                    f["file"], f["table"], f["index"], f["rows_read"], f["header_lines"], f["text"]
                )
                validate_step.validate_and_load(con, load, config)
            validate_step.quarantine_implausible_dates(con, config)
            validate_step.quarantine_duplicate_results(con)
            validate_step.check_quarantine_fraction(
                con, {(f["file"], f["table"]): f["rows_read"] for f in audited}, config
            )
        except InputError:
            leave_quarantine_summary(con, config, run_dir)
            raise
        counts = validate_step.quarantined_rows_by_file(con)
    return {(f["file"], f["table"]): counts.get((f["file"], f["table"]), 0) for f in audited}


def leave_quarantine_summary(
    con: duckdb.DuckDBPyConnection, config: AuditConfig, run_dir: Path
) -> None:
    """A stopped run's quarantine summary in its folder, so the user can see why."""
    share_dir = run_dir / "shareable"
    share_dir.mkdir(parents=True, exist_ok=True)
    summary = report_step.quarantine_summary(con, config)
    summary.to_csv(share_dir / "quarantine_summary.csv", index=False)


def harmonise(db_path: Path, config: AuditConfig) -> dict:
    """Reference lists and the finding registry, harmonised labs, drug classes, courses,
    folate episodes (every sql/derive step) and the populations' units; returns the
    extract's scope (data start and end, whether it had diagnoses)."""
    with connect(db_path) as con:
        harmonise_step.load_reference(con, config)
        scope = harmonise_step.write_scope(con, config)
        params = harmonise_step.parameters(config, scope)
        harmonise_step.derive(con, params)
        populations.build_units(con, params)
        return scope


def load_history(db_path: Path, history_db: Path, reread: set[str]) -> None:
    """Adds the history's rows, except those of files read again this run."""
    with connect(db_path) as con:
        history_step.copy_into_build(con, history_db, reread)


def compare_with_previous(
    db_path: Path, history_db: Path | None, previous: str | None, out_dir: Path
) -> str | None:
    """The re-audit diff against the previous published run: from the history for a
    scheduled run, else the output folder's published database (a one-off run into an
    existing --out). Returns the run compared with, if any."""
    with connect(db_path) as con:
        if history_db is None:
            return reaudit_step.compare_with_published(con, out_dir / publish_step.PUBLISHED_NAME)
        reaudit_step.compare(con, history_db, previous)
        return previous


def commit_history(db_path: Path, history_db: Path, run_id: str, plan: dict) -> None:
    with connect(db_path) as con:
        history_step.commit(
            con, history_db, run_id, plan["dropped"], plan["actions"], plan["data_names"]
        )


def copy_run_log(db_path: Path, history_db: Path, run_id: str) -> None:
    """The history's runs for the published `runs` view, this one as published (it is,
    once the database carrying this table is in place)."""
    with connect(db_path) as con:
        publish_step.write_run_log(con, [])
        con.execute(f"attach '{sql_quote(str(history_db))}' as hist (read_only)")
        con.execute("insert into run_log by name select * from hist.runs order by started_at")
        con.execute("detach hist")
        con.execute(
            "update run_log set outcome = 'published', finished_at = now()::timestamp "
            "where run_id = $run_id",
            {"run_id": run_id},
        )


def latest_signals(db_path: Path) -> list[dict]:
    """What alerts (measure, period, kind): the report stage's table measure_alerts, special
    cause concern on a care-gap measure's latest complete period as the report shows it."""
    with connect(db_path) as con:
        rows = con.execute("select measure, period, kind from measure_alerts order by all")
        return [
            {"measure": m, "month": period.isoformat(), "kind": kind}
            for m, period, kind in rows.fetchall()
        ]


def count_rows(db_path: Path, table: str) -> int:
    with connect(db_path) as con:
        return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def record_runs(db_path: Path, runs: list[dict]) -> None:
    with connect(db_path) as con:
        publish_step.write_run_log(con, runs)


def one_off_run_record(manifest: dict) -> dict:
    """A `b12audit run` as a row of the runs table (no drop folder, no history)."""
    totals = manifest["totals"]
    return {
        "run_id": manifest["run_id"],
        "started_at": manifest["started_at"],
        "outcome": "published",
        "drop_dir": manifest["input_dir"],
        "input_format": manifest["input_format"],
        "files_new": len({f["file"] for f in manifest["inputs"]}),
        "rows_loaded": totals["rows_loaded"],
        "rows_quarantined": totals["rows_quarantined"],
        "code_version": manifest["code_version"],
    }


def rows_loaded_by_file(db_path: Path) -> dict[tuple[str, str], int]:
    """Rows loaded per (file, table)."""
    tables = " union all ".join(f"select source_file, '{t}' as t from {t}" for t in SCHEMAS)
    with connect(db_path) as con:
        rows = con.execute(f"select source_file, t, count(*) from ({tables}) group by all")
        return {(file, table): n for file, table, n in rows.fetchall()}


def tag(db_path: Path, config: AuditConfig) -> dict[str, int]:
    """Findings from every rule, then each finding's population and its outcomes."""
    with connect(db_path) as con:
        params = harmonise_step.run_parameters(con, config)
        counts = tag_step.tag(con, params)
        populations.build(con, params)
        return counts


def sensitivity(db_path: Path, config: AuditConfig) -> None:
    with connect(db_path) as con:
        sensitivity_step.sensitivity(con, config, harmonise_step.scope(con))


def annotations(db_path: Path, path: Path | None) -> int:
    with connect(db_path) as con:
        return annotations_step.load(con, path)


def report(db_path: Path, run_dir: Path, config: AuditConfig, run: dict) -> dict[str, str]:
    with connect(db_path) as con:
        return report_step.write_outputs(con, run_dir, config, run)


def publish(db_path: Path, out_dir: Path, manifest: dict, wait_seconds: float = 60) -> Path:
    with connect(db_path) as con:
        publish_step.write_run_metadata(con, manifest)
        publish_step.create_views(con)
        publish_step.describe(con)
        publish_step.finish(con)
    return publish_step.swap_into_place(db_path, out_dir, wait_seconds)


def published_run_id(published_db: Path) -> str | None:
    """The run the analysts' database holds (None: none yet, or it cannot be read now)."""
    if not published_db.is_file():
        return None
    try:
        with duckdb.connect(str(published_db), read_only=True) as con:
            return con.execute("select run_id from run_metadata").fetchone()[0]
    except duckdb.Error:
        return None


def identifier_changes(db_path: Path) -> dict[str, int]:
    with connect(db_path) as con:
        return validate_step.identifier_changes(con)
