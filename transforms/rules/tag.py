"""Tag: run every rule in sql/rules/ into one findings table, then validate it.

A rule selects the findings columns it decides: patient_id, index_date, site, and where it
has them reason, episode and evidence_*_row_ids. The runner adds the finding's name (the
file's) and fills the rest: no reason, no episode, no evidence rows of that kind.
"""

from __future__ import annotations

import duckdb
import pandera.pandas as pa

from schemas.findings import findings_schema
from transforms.rules.registry import registry
from transforms.rules.steps import Step, steps_in
from transforms.sqlfiles import bind

FINDINGS_TABLE = """
    create or replace table findings (
        patient_id varchar, finding varchar, reason varchar default null, index_date date,
        episode integer default null,
        evidence_lab_row_ids varchar[] default []::varchar[],
        evidence_medication_row_ids varchar[] default []::varchar[],
        evidence_diagnosis_row_ids varchar[] default []::varchar[],
        site varchar)
"""


def tag(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, object],
    rules: list[Step] | None = None,
    check: bool = True,
) -> dict[str, int]:
    """Runs the rules (all of sql/rules/, or the given ones) into a new findings table,
    then (if `check`) fills sites from the patients file and validates the table."""
    con.execute(FINDINGS_TABLE)
    for rule in steps_in("rules") if rules is None else rules:
        sql = rule.sql()
        con.execute(
            f"insert into findings by name select '{rule.name}' as finding, * from ({sql})",
            bind(sql, params),
        )
    if check:
        _site_from_patients(con)
        check_findings(con)
    return dict(con.execute("select finding, count(*) from findings group by all").fetchall())


def _site_from_patients(con: duckdb.DuckDBPyConnection) -> None:
    # A finding's site is its evidence row's site; the patients file fills the gaps.
    con.execute(
        """
        update findings as f set site = p.site
        from patient_facts as p
        where f.site is null and f.patient_id = p.patient_id and p.site is not null
        """
    )


def check_findings(con: duckdb.DuckDBPyConnection) -> None:
    schema = findings_schema({f.name: f.reason_names for f in registry().values()})
    reader = con.sql("select * from findings").to_arrow_reader(250_000)
    for batch in reader:
        try:
            schema.validate(batch.to_pandas(), lazy=True)
        except pa.errors.SchemaErrors as exc:
            # A rule bug, not bad input. Name the check, never the failing values (patient data).
            checks = sorted(set(exc.failure_cases["check"].astype(str)))
            raise RuntimeError(f"findings table fails its schema: {', '.join(checks)}") from None
