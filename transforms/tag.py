"""Tag: run every rule in sql/rules/ into one findings table, then validate it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandera.pandas as pa

from schemas.findings import FINDINGS_COLUMNS, findings_schema
from transforms.sqlfiles import bind, files_in, sql_text


def rule_names() -> list[str]:
    return [Path(f).stem for f in files_in("rules")]


def tag(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, object],
    rules: list[str] | None = None,
    check: bool = True,
) -> dict[str, int]:
    """Runs the rules (all of sql/rules/, or the given files) into a new findings table,
    then (if `check`) fills sites from the patients file and validates the table."""
    con.execute(
        """
        create or replace table findings (
            patient_id varchar, finding varchar, reason varchar, index_date date,
            episode integer, evidence_lab_row_ids varchar[],
            evidence_medication_row_ids varchar[], evidence_diagnosis_row_ids varchar[],
            site varchar)
        """
    )
    columns = ", ".join(FINDINGS_COLUMNS)
    for file in files_in("rules") if rules is None else rules:
        sql = sql_text(file)
        con.execute(
            f"insert into findings ({columns}) select {columns} from ({sql})", bind(sql, params)
        )
    if check:
        _site_from_patients(con)
        _validate(con)
    return dict(con.execute("select finding, count(*) from findings group by all").fetchall())


def _site_from_patients(con: duckdb.DuckDBPyConnection) -> None:
    # A finding's site is its evidence row's site; the patients file fills the gaps.
    con.execute(
        """
        update findings f set site = p.site
        from (select patient_id, first(site order by row_id) as site
              from patients where site is not null group by all) p
        where f.site is null and f.patient_id = p.patient_id
        """
    )


def _validate(con: duckdb.DuckDBPyConnection) -> None:
    schema = findings_schema(rule_names())
    reader = con.sql("select * from findings").to_arrow_reader(250_000)
    for batch in reader:
        try:
            schema.validate(batch.to_pandas(), lazy=True)
        except pa.errors.SchemaErrors as exc:
            # A rule bug, not bad input. Name the check, never the failing values (patient data).
            checks = sorted(set(exc.failure_cases["check"].astype(str)))
            raise RuntimeError(f"findings table fails its schema: {', '.join(checks)}") from None
