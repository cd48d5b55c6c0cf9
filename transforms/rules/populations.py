"""Populations: each finding's units (its denominator), and what became of each unit.

A population is a file sql/populations/<name>.sql: a `select` of its units (patient_id;
episode, the folate episode or B12 course, none for a patient; unit_date; site; status
'evaluable', 'pending' or 'not evaluable' and status_reason; data_end, the data end its
windows are judged against), with a `-- Label:` line naming it for readers. Each finding's
registry entry names its population. `build_units` writes every population into
`population_units`; `build`, after tagging, writes `populations` (sql/report/populations.sql):
each finding joined to its population's units with the outcome of each (flagged, not
flagged, pending or not evaluable). Counts, measures, evaluability and the worklist
read `populations`; no denominator is derived anywhere else.
"""

from __future__ import annotations

import duckdb

from transforms.rules.registry import registry
from transforms.rules.steps import header, steps_in
from transforms.sqlfiles import bind, run_file

UNITS_TABLE = """
    create or replace table population_units (
        population varchar, patient_id varchar, episode integer default null,
        unit_date date, site varchar, status varchar, status_reason varchar default null,
        data_end date)
"""


def labels() -> dict[str, str]:
    """Each population's label: what its denominator counts, in words."""
    found = {}
    for step in steps_in("populations"):
        lines = [line for line in header(step.sql()) if line.startswith("-- Label:")]
        if len(lines) != 1:
            raise ValueError(f"sql/{step.file}: needs one '-- Label:' line naming it for readers")
        found[step.name] = lines[0].removeprefix("-- Label:").strip()
    return found


def build_units(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    """Table population_units: the units of every population."""
    con.execute(UNITS_TABLE)
    for step in steps_in("populations"):
        sql = step.sql()
        con.execute(
            f"insert into population_units by name select '{step.name}' as population, * "
            f"from ({sql})",
            bind(sql, params),
        )


STATUSES = ("evaluable", "pending", "not evaluable")


def build(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    """Table populations (after tagging), checked: each unit once per finding, with a
    known status (and why, when it is not evaluable), and every finding row an evaluable
    unit of its finding's population. Counting reads these rows one per unit."""
    _check_units(con)
    run_file(con, "report/populations.sql", params)
    _check_findings_are_units(con)


def _check_units(con: duckdb.DuckDBPyConnection) -> None:
    # A population bug, not bad input: name the populations, never a patient.
    problems = con.execute(
        """
        select population, 'lists a unit twice' from population_units
        group by population, patient_id, episode having count(*) > 1
        union
        select population, 'gives a status other than evaluable, pending, not evaluable'
        from population_units where status is null or status not in $statuses
        union
        select population, 'gives no reason for a unit that is not evaluable'
        from population_units where status <> 'evaluable' and status_reason is null
        order by all
        """,
        {"statuses": list(STATUSES)},
    ).fetchall()
    if problems:
        raise RuntimeError("; ".join(f"population {name} {what}" for name, what in problems))


def _check_findings_are_units(con: duckdb.DuckDBPyConnection) -> None:
    # A rule bug, not bad input: name the findings, never a patient.
    stray = con.execute(
        """
        select distinct f.finding from findings as f
        where not exists (
            select 1 from populations as p
            where p.finding = f.finding and p.patient_id = f.patient_id
                and p.episode is not distinct from f.episode and p.status = 'evaluable')
        order by 1
        """
    ).fetchall()
    if stray:
        names = ", ".join(f"{name} ({registry()[name].population})" for (name,) in stray)
        raise RuntimeError(f"findings outside the evaluable units of their population: {names}")
