"""Sensitivity: what each clinical switch costs, in findings gained and lost.

For every switch (config.SWITCHES) and each value it could take instead, the derived
tables and rules are rebuilt in a scratch schema that reads the main tables it does not
rebuild, and its findings are compared with the run's. Only `lab_harmonised` is reused:
it depends on no switch (its on-treatment test uses B12 doses, which are administered or
dispensed whatever the switches say), and it is the one step that reads every lab row.
"""

from __future__ import annotations

import duckdb

from transforms.config import SWITCHES, AuditConfig, flipped
from transforms.sqlfiles import files_in, run_file
from transforms.tag import tag

SWITCH_FREE = {"derive/04_lab_harmonised.sql"}
SCRATCH = "sensitivity_scratch"

# A finding is the same finding when patient, finding, episode and reason agree.
COMPARE = """
    with run as (
        select distinct patient_id, finding, coalesce(episode, 0) as episode,
               coalesce(reason, '') as reason from main.findings),
    alt as (
        select distinct patient_id, finding, coalesce(episode, 0) as episode,
               coalesce(reason, '') as reason from {scratch}.findings),
    gained as (select finding, count(*) as n from (from alt except from run) group by all),
    lost as (select finding, count(*) as n from (from run except from alt) group by all)
    select f.finding, coalesce(g.n, 0) as gained, coalesce(l.n, 0) as lost
    from (select finding from gained union select finding from lost) as f
    left join gained as g using (finding)
    left join lost as l using (finding)
    order by f.finding
"""


def sensitivity(con: duckdb.DuckDBPyConnection, config: AuditConfig, scope: dict) -> None:
    """Writes table `sensitivity`: one row per switch, alternative value and finding that
    changes (or one 'no change' row when nothing does)."""
    con.execute(
        """
        create or replace table sensitivity (
            switch varchar, value_in_force varchar, flipped_to varchar,
            finding varchar, findings_gained bigint, findings_lost bigint)
        """
    )
    for switch in SWITCHES:
        for alternative in flipped(config, switch):
            params = {**alternative.sql_params(), **scope}
            con.execute(f"create schema {SCRATCH}")
            con.execute(f"set search_path = '{SCRATCH},main'")
            con.execute(f"set schema = '{SCRATCH}'")
            try:
                for file in files_in("derive"):
                    if file not in SWITCH_FREE:
                        run_file(con, file, params)
                tag(con, params)
            finally:
                con.execute("set schema = 'main'")
                con.execute("set search_path = 'main'")
            changes = con.execute(COMPARE.format(scratch=SCRATCH)).fetchall() or [
                ("(no change)", 0, 0)
            ]
            con.execute(f"drop schema {SCRATCH} cascade")
            value_now, value_then = getattr(config, switch), getattr(alternative, switch)
            con.executemany(
                "insert into sensitivity values (?, ?, ?, ?, ?, ?)",
                [(switch, str(value_now), str(value_then), *row) for row in changes],
            )
