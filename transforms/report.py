"""Report: the run's output files.

Patient-level files (findings.csv, quarantine.csv) go to `patient_level/`; shareable files
(report.html, summary.csv, quarantine_summary.csv) go to `shareable/` and carry no
identifiers and no unsuppressed count from 1 to 7. Large tables are written by DuckDB.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from schemas.canonical import CHECK_MEANING
from transforms.config import AuditConfig
from transforms.report_html import render_report
from transforms.sqlfiles import sql_text
from transforms.suppress import suppress_column, suppress_counts

FINDINGS_CSV = """
    copy (
        select patient_id, finding, reason, index_date, episode,
               nullif(array_to_string(evidence_lab_row_ids, ';'), '') as evidence_lab_row_ids,
               nullif(array_to_string(evidence_medication_row_ids, ';'), '')
                   as evidence_medication_row_ids,
               nullif(array_to_string(evidence_diagnosis_row_ids, ';'), '')
                   as evidence_diagnosis_row_ids,
               site
        from findings order by finding, patient_id, index_date, episode
    ) to '{path}' (header, delimiter ',')
"""
QUARANTINE_CSV = """
    copy (select * from quarantine order by source_file, source_line, column_name, check_name)
    to '{path}' (header, delimiter ',')
"""


def write_outputs(
    con: duckdb.DuckDBPyConnection, run_dir: Path, config: AuditConfig, run: dict
) -> dict[str, str]:
    patient_dir, share_dir = run_dir / "patient_level", run_dir / "shareable"
    patient_dir.mkdir(parents=True, exist_ok=True)
    share_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "findings": patient_dir / "findings.csv",
        "quarantine": patient_dir / "quarantine.csv",
        "summary": share_dir / "summary.csv",
        "quarantine_summary": share_dir / "quarantine_summary.csv",
        "report": share_dir / "report.html",
    }
    con.execute(FINDINGS_CSV.format(path=_sql_path(paths["findings"])))
    con.execute(QUARANTINE_CSV.format(path=_sql_path(paths["quarantine"])))
    summary = shareable_summary(con, config)
    summary.to_csv(paths["summary"], index=False)
    quarantine = quarantine_summary(con, config)
    quarantine.to_csv(paths["quarantine_summary"], index=False)
    usability = lab_usability(con, config)
    paths["report"].write_text(
        render_report(summary, quarantine, usability, config, run), encoding="utf-8"
    )
    return {name: str(path) for name, path in paths.items()}


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def shareable_summary(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    counts = con.execute(sql_text("report/finding_counts.sql")).df()
    return suppress_counts(counts, config.suppress_counts_up_to)


def quarantine_summary(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """Rows quarantined by file, column and check: counts of rows (1 to 7 suppressed),
    never values. The values are in patient_level/quarantine.csv."""
    frame = con.execute(
        """
        select source_file, table_name, column_name, check_name,
               count(distinct source_line) as rows
        from quarantine group by all order by all
        """
    ).df()
    frame["meaning"] = frame["check_name"].map(CHECK_MEANING).fillna("")
    return suppress_column(frame, "rows", config.suppress_counts_up_to)


def lab_usability(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """B12 and MMA rows by status: how many could be classified, and why not."""
    frame = con.execute(
        """
        select analyte, status, coalesce(status_reason, '') as reason, count(*) as rows
        from lab_harmonised group by all order by all
        """
    ).df()
    return suppress_column(frame, "rows", config.suppress_counts_up_to)
