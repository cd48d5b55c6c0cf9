"""Sensitivity: what each clinical switch costs, in findings gained and lost.

For every switch (config.SWITCHES) and each value it could take instead, the steps that
depend on the switch are rerun in a scratch schema, reading the run's own tables for
everything else, and the findings they give are compared with the run's. "Depend" is read
from the SQL itself: a derive file depends on a switch when it binds `$switch` or reads a
table made by a file that depends on it; a rule likewise. Steps that do not depend on a
switch cannot change when it flips, so they are not rerun.
"""

from __future__ import annotations

import re

import duckdb

from transforms.config import SWITCHES, AuditConfig, flipped
from transforms.sqlfiles import PARAMETER, code_only, files_in, run_file, sql_text
from transforms.tag import tag

SCRATCH = "sensitivity_scratch"
CREATES = re.compile(r"create\s+(?:or\s+replace\s+)?(?:temp\w*\s+)?(?:table|view)\s+(\w+)", re.I)

# A finding is the same finding when patient, finding and reason agree and, for findings
# about an episode or course, its index date too. (Episode numbers are no key: flipping the
# folate scope renumbers a patient's episodes.)
SAME_FINDING = """
    select distinct patient_id, finding, coalesce(reason, '') as reason,
        if(episode is null, null, index_date) as episode_date
    from {table}
"""
COMPARE = """
    with run as (
        from ({same_in_run}) where finding in $rules),
    alt as ({same_in_scratch}),
    gained as (select finding, count(*) as n from (from alt except from run) group by all),
    lost as (select finding, count(*) as n from (from run except from alt) group by all)
    select f.finding, coalesce(g.n, 0) as gained, coalesce(l.n, 0) as lost
    from (select finding from gained union select finding from lost) as f
    left join gained as g using (finding)
    left join lost as l using (finding)
    order by f.finding
"""


def dependent_files(switch: str) -> tuple[list[str], list[str]]:
    """The derive files and rule files whose result can change when `switch` flips."""
    derive, made = [], set()
    for file in files_in("derive"):
        code = code_only(sql_text(file))
        if _uses(code, switch, made):
            derive.append(file)
            made.update(CREATES.findall(code))
    rules = [f for f in files_in("rules") if _uses(code_only(sql_text(f)), switch, made)]
    return derive, rules


def _uses(code: str, switch: str, tables: set[str]) -> bool:
    if switch in PARAMETER.findall(code):
        return True
    return any(re.search(rf"\b{table}\b", code) for table in tables)


def sensitivity(con: duckdb.DuckDBPyConnection, config: AuditConfig, scope: dict) -> None:
    """Writes table `sensitivity`: one row per switch, alternative value and finding that
    changes (or one '(no change)' row when nothing does)."""
    con.execute(
        """
        create or replace table sensitivity (
            switch varchar, value_in_force varchar, flipped_to varchar,
            finding varchar, findings_gained bigint, findings_lost bigint)
        """
    )
    for switch in SWITCHES:
        derive, rules = dependent_files(switch)
        for alternative in flipped(config, switch):
            changes = _flip(con, {**alternative.sql_params(), **scope}, derive, rules)
            con.executemany(
                "insert into sensitivity values (?, ?, ?, ?, ?, ?)",
                [
                    (switch, str(getattr(config, switch)), str(getattr(alternative, switch)), *c)
                    for c in changes or [("(no change)", 0, 0)]
                ],
            )


def _flip(
    con: duckdb.DuckDBPyConnection, params: dict, derive: list[str], rules: list[str]
) -> list[tuple]:
    con.execute(f"create schema {SCRATCH}")
    con.execute(f"set search_path = '{SCRATCH},main'")
    con.execute(f"set schema = '{SCRATCH}'")
    try:
        for file in derive:
            run_file(con, file, params)
        # The run's own findings were validated; these differ only in a switch and are
        # compared on patient, finding, episode and reason, so site and checks are skipped.
        tag(con, params, rules, check=False)
    finally:
        con.execute("set schema = 'main'")
        con.execute("set search_path = 'main'")
    names = [f.split("/")[-1].removesuffix(".sql") for f in rules]
    compare = COMPARE.format(
        same_in_run=SAME_FINDING.format(table="main.findings"),
        same_in_scratch=SAME_FINDING.format(table=f"{SCRATCH}.findings"),
    )
    changes = con.execute(compare, {"rules": names}).fetchall()
    con.execute(f"drop schema {SCRATCH} cascade")
    return changes
