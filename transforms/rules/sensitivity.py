"""Sensitivity: what each clinical switch costs, in findings gained and lost.

For every switch (config.SWITCHES) and each value it could take instead, the steps that
depend on the switch are rerun in a scratch database in memory (what they write is thrown
away, so it is never written to the build file), reading the run's own tables for
everything else, and the findings they give are compared with the run's. "Depend" comes
from the step graph (rules/steps.py): a derive step or rule depends on a switch when it
binds `$switch` or reads a table made by a step that depends on it. Steps that do not
depend on a switch cannot change when it flips, so they are not rerun.
"""

from __future__ import annotations

import duckdb

from transforms.config import SWITCHES, AuditConfig, flipped
from transforms.rules.harmonise import parameters
from transforms.rules.steps import Step, affected_by, steps_in
from transforms.rules.tag import tag
from transforms.sqlfiles import run_file

SCRATCH = "sensitivity_scratch"

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


def dependent_steps(switch: str) -> tuple[list[Step], list[Step]]:
    """The derive steps and rules whose result can change when `switch` flips, in order."""
    affected = affected_by(switch, steps_in("derive", "rules"))
    return [s for s in affected if s.creates], [s for s in affected if not s.creates]


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
        derive, rules = dependent_steps(switch)
        for alternative in flipped(config, switch):
            changes = _flip(con, parameters(alternative, scope), derive, rules)
            con.executemany(
                "insert into sensitivity values (?, ?, ?, ?, ?, ?)",
                [
                    (switch, str(getattr(config, switch)), str(getattr(alternative, switch)), *c)
                    for c in changes or [("(no change)", 0, 0)]
                ],
            )


def _flip(
    con: duckdb.DuckDBPyConnection, params: dict, derive: list[Step], rules: list[Step]
) -> list[tuple]:
    (home,) = con.execute("select current_database()").fetchone()
    con.execute(f"attach ':memory:' as {SCRATCH}")
    con.execute(f"use {SCRATCH}")
    con.execute(f"set search_path = '{SCRATCH}.main,\"{home}\".main'")
    try:
        for step in derive:
            run_file(con, step.file, params)
        # The run's own findings were validated; these differ only in a switch and are
        # compared on patient, finding, episode and reason, so site and checks are skipped.
        tag(con, params, rules, check=False)
    finally:
        con.execute(f'use "{home}"')
        con.execute("set search_path = 'main'")
    names = [s.name for s in rules]
    compare = COMPARE.format(
        same_in_run=SAME_FINDING.format(table="main.findings"),
        same_in_scratch=SAME_FINDING.format(table=f"{SCRATCH}.main.findings"),
    )
    changes = con.execute(compare, {"rules": names}).fetchall()
    con.execute(f"detach {SCRATCH}")
    return changes
