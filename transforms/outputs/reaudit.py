"""Re-audit diff: units (patients, folate episodes, B12 courses, confirming results) newly
flagged, resolved and still flagged, per finding, against the previous published run
(sql/report/reaudit_diff.sql), each unit keyed by sql/report/finding_units.sql.

The patient-level rows are the table `reaudit_diff` (and `patient_level/reaudit_diff.csv`);
the shareable counts per finding suppress 1 to 7 and protect the totals they add up to.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from transforms.database import sql_quote
from transforms.outputs.suppress import is_small
from transforms.sqlfiles import run_file, sql_text

STATUSES = ("newly_flagged", "resolved", "still_flagged")
# Sums a reader can find elsewhere: this run's flagged patients (newly + still) and the
# previous run's (resolved + still). Hiding one part of a pair hides the other.
PAIRS = (("newly_flagged", "still_flagged"), ("resolved", "still_flagged"))


PREVIOUS_FINDINGS = (
    "create or replace temp table previous_findings (patient_id varchar, "
    "finding varchar, reason varchar, index_date date, episode integer, site varchar, "
    "unit_key varchar)"
)
# A run recorded before units had keys: a patient unit keys as '', another by its episode
# number (so one diff after the upgrade can show such units as resolved and newly flagged).
OLD_UNIT_KEY = "if(episode is null, '', 'episode ' || episode)"
DIFF = "create or replace table reaudit_diff as {}"


def compare(con: duckdb.DuckDBPyConnection, history_db: Path, previous_run: str | None) -> None:
    """Creates `finding_units` and `reaudit_diff` (empty when there is no previous run to
    compare with)."""
    run_file(con, "report/finding_units.sql", {})
    con.execute(PREVIOUS_FINDINGS)
    if previous_run is not None:
        con.execute(f"attach '{sql_quote(str(history_db))}' as hist (read_only)")
        try:
            con.execute(
                "insert into previous_findings select patient_id, finding, reason, "
                f"index_date, episode, site, coalesce(unit_key, {OLD_UNIT_KEY}) "
                "from hist.findings_by_run where run_id = $run",
                {"run": previous_run},
            )
        finally:
            con.execute("detach hist")
    con.execute(DIFF.format(sql_text("report/reaudit_diff.sql")))
    if previous_run is None:
        con.execute("delete from reaudit_diff")


def compare_with_published(con: duckdb.DuckDBPyConnection, published: Path) -> str | None:
    """A one-off run into an output folder that already holds a published database: the
    diff against that run's findings. Returns its run id (None, and an empty diff, when
    there is no published database yet)."""
    run_file(con, "report/finding_units.sql", {})
    if not published.exists():
        create_empty(con)
        return None
    con.execute(PREVIOUS_FINDINGS)
    con.execute(f"attach '{sql_quote(str(published))}' as published (read_only)")
    try:
        (run_id,) = con.execute("select run_id from published.run_metadata").fetchone()
        keyed = con.execute(
            "select count(*) from duckdb_tables() where database_name = 'published' "
            "and table_name = 'finding_units'"
        ).fetchone()[0]
        units = (
            "left join published.finding_units as u on u.finding = f.finding and "
            "u.patient_id = f.patient_id and u.episode is not distinct from f.episode"
            if keyed
            else "left join (select null as unit_key) as u on true"
        )
        old_key = OLD_UNIT_KEY.replace("episode", "f.episode")
        con.execute(
            "insert into previous_findings select f.patient_id, f.finding, f.reason, "
            f"f.index_date, f.episode, f.site, coalesce(u.unit_key, {old_key}) "
            f"from published.findings as f {units}"
        )
    finally:
        con.execute("detach published")
    con.execute(DIFF.format(sql_text("report/reaudit_diff.sql")))
    return run_id


def create_empty(con: duckdb.DuckDBPyConnection) -> None:
    """A one-off run compares with nothing: the table exists, with no rows."""
    con.execute(
        "create or replace table reaudit_diff (patient_id varchar, finding varchar, "
        "unit_key varchar, status varchar, site varchar)"
    )


def shareable(con: duckdb.DuckDBPyConnection, up_to: int) -> pd.DataFrame:
    """Counts per finding and status, all sites, with small counts suppressed."""
    frame = con.execute(
        """
        pivot (select finding, status from reaudit_diff)
        on status in ('newly_flagged', 'resolved', 'still_flagged')
        using count(*) group by finding order by finding
        """
    ).df()
    return suppress_statuses(frame, up_to)


def suppress_statuses(frame: pd.DataFrame, up_to: int) -> pd.DataFrame:
    out = frame.copy()
    for status in STATUSES:
        out[f"{status}_suppressed"] = out[status].map(lambda n: is_small(n, up_to))
    for _ in range(2):  # a pair hidden by the first pass may expose the other pair
        for a, b in PAIRS:
            one_hidden = out[f"{a}_suppressed"] ^ out[f"{b}_suppressed"]
            out.loc[one_hidden & out[a].gt(0), f"{a}_suppressed"] = True
            out.loc[one_hidden & out[b].gt(0), f"{b}_suppressed"] = True
    for status in STATUSES:
        out[status] = out[status].astype("Int64").mask(out[f"{status}_suppressed"])
    return out


def write_patient_level(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(
        f"copy (select * from reaudit_diff) to '{sql_quote(str(path))}' (header, delimiter ',')"
    )
