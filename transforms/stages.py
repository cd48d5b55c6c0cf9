"""The audit's stages as plain functions over a private DuckDB build file.

Each stage opens its own connection, does one step and returns something small (counts,
names), so the Prefect tasks in flows/ stay thin and every stage runs without Prefect.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from transforms import harmonise as harmonise_step
from transforms import ingest as ingest_step
from transforms import publish as publish_step
from transforms import report as report_step
from transforms import tag as tag_step
from transforms import validate as validate_step
from transforms.config import AuditConfig
from transforms.errors import InputError

DUCKDB_MEMORY_LIMIT = "2GB"  # keeps 100M-row runs well under the 4 GB peak target


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    spill = db_path.parent / ".spill"
    con = duckdb.connect(
        str(db_path),
        config={
            "memory_limit": DUCKDB_MEMORY_LIMIT,
            "temp_directory": str(spill),
            "preserve_insertion_order": True,
        },
    )
    con.execute("set enable_progress_bar = false")
    return con


def ingest(db_path: Path, input_dir: Path) -> list[dict]:
    """Stage every extract file as text; returns per-file name, table, sha256 and rows read."""
    sources = ingest_step.discover(input_dir)
    with connect(db_path) as con:
        ingest_step.create_staging(con)
        for source in sources:
            ingest_step.stage_file(con, source)
        ingest_step.finish_staging(con, sources)
    return [
        {"file": s.name, "table": s.table, "sha256": s.sha256, "rows_read": s.rows_read}
        for s in sources
    ]


def validate(
    db_path: Path, config: AuditConfig, files: list[dict], run_dir: Path
) -> dict[str, int]:
    """Quarantines failing rows; returns rows quarantined per file. Stops above the limit,
    leaving the quarantine summary in the run folder so the user can see why."""
    with connect(db_path) as con:
        validate_step.create_quarantine(con)
        for table in dict.fromkeys(f["table"] for f in files):
            validate_step.validate_table(con, table, config)
        try:
            validate_step.check_quarantine_fraction(
                con, {f["file"]: f["rows_read"] for f in files}, config
            )
        except InputError:
            share_dir = run_dir / "shareable"
            share_dir.mkdir(parents=True, exist_ok=True)
            report_step.quarantine_summary(con).to_csv(
                share_dir / "quarantine_summary.csv", index=False
            )
            raise
        counts = dict(
            con.execute(
                "select source_file, count(distinct source_line) from quarantine group by all"
            ).fetchall()
        )
    return {f["file"]: counts.get(f["file"], 0) for f in files}


def harmonise(db_path: Path, config: AuditConfig) -> dict:
    """Typed canonical tables, harmonised labs, B12/MMA classes, drug classes, episodes."""
    with connect(db_path) as con:
        harmonise_step.load_reference(con, config)
        loaded = harmonise_step.load_canonical(con)
        end = harmonise_step.data_end(con, config)
        harmonise_step.derive(con, rule_parameters(config, end))
        return {"rows_loaded": loaded, "data_end": end}


def rows_loaded_by_file(db_path: Path) -> dict[str, int]:
    with connect(db_path) as con:
        return dict(
            con.execute(
                "select source_file, count(*) from (select source_file from lab_results "
                "union all select source_file from medications "
                "union all select source_file from patients) group by all"
            ).fetchall()
        )


def rule_parameters(config: AuditConfig, end: dt.date | None) -> dict[str, object]:
    return {**config.sql_params(), "data_end": end}


def tag(db_path: Path, config: AuditConfig, end: dt.date | None) -> dict[str, int]:
    with connect(db_path) as con:
        return tag_step.tag(con, rule_parameters(config, end))


def report(db_path: Path, run_dir: Path, config: AuditConfig, run: dict) -> dict[str, str]:
    with connect(db_path) as con:
        return report_step.write_outputs(con, run_dir, config, run)


def publish(db_path: Path, out_dir: Path, manifest: dict) -> Path:
    with connect(db_path) as con:
        publish_step.write_run_metadata(con, manifest)
        publish_step.describe(con)
        return publish_step.publish(con, out_dir, manifest["run_id"])
