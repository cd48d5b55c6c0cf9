"""The worklist: one row per care gap, for the clinicians who act on them.

A patient-level output (patient_level/worklist.csv and worklist.xlsx): it names patients
and stays within the care team. `build` makes table `worklist_items` on the build
database after tagging: the care gaps and their phrases in plain words
(sql/report/worklist.sql), each finding's evidence worded by its registry entry
(sql/rules/<finding>.toml), what happened next (sql/report/worklist_follow_ups.sql) and
the team's own annotations (transforms/outputs/worklist_annotations.py), most urgent first. `write`
writes the two files from it.

Each item has a stable id (finding, patient, unit) and a state: 'open' (act on it),
'pending' (its window is not over yet: the action can still come in time) or 'acted' (a
later row shows the action its finding asks for: the date and row are given).

What is open, how severe and what to do come from the registry: a reason with a severity
and action is worked (each entry says why its severity; docs/findings.md lists them). The
guideline's central concern is nerve damage that progresses while B12 deficiency goes
untreated or is masked by folic acid: severity follows how directly a gap risks that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb

from transforms.config import AuditConfig
from transforms.database import sql_quote
from transforms.outputs import timeline, worklist_annotations, worklist_workbook
from transforms.rules.harmonise import run_parameters
from transforms.rules.registry import Reason, registry
from transforms.sqlfiles import bind, sql_text

COLUMNS = (
    "priority",
    "state",
    "severity",
    "patient_id",
    "site",
    "finding",
    "reason",
    "index_date",
    "days_open",
    "action",
    "evidence",
    "acted_on",
    "acted_evidence",
    "acted_row_id",
    "annotation_status",
    "annotation_owner",
    "annotation_note",
    "annotated_on",
    "window_from",
    "window_to",
    "timeline",
    "item_id",
    "episode",
    "evidence_lab_row_ids",
    "evidence_medication_row_ids",
    "evidence_diagnosis_row_ids",
)
COLUMN_COMMENTS = {
    "priority": "1 = act first: open, pending, then acted; severity; oldest index date.",
    "state": "open, pending (its window not over) or acted (a later row shows the action).",
    "acted_on": "The day of the first later row showing the action happened (acted items).",
    "acted_evidence": "That row: what it is, its day and its file:line.",
    "acted_row_id": "That row's id (file:line), to join back to the extract.",
    "annotation_status": "The team's latest annotation: reviewed, not_applicable or actioned.",
    "item_id": "Stable id of the item (finding, patient, unit): the annotations file's key.",
    "window_from": "The finding's window, as drawn on the patient's timeline: first day.",
    "window_to": "The finding's window: last day.",
    "timeline": "The patient's timeline page, relative to patient_level/ (patients in the "
    "workbook's rows; past them, the patient_timeline view).",
    "severity": "high, medium or low (the finding registry; transforms/outputs/worklist.py).",
    "days_open": "Days from index_date to acted_on, else to the data end it is judged on.",
    "action": "What to do, in a few words.",
    "evidence": "The evidence rows and thresholds in plain words.",
}
# A workbook is for working a list by hand, and openpyxl writes about 6,000 rows a second:
# past this many rows (most severe and oldest first) the CSV beside it holds the rest.
# (Excel itself stops at 1,048,575 data rows.)
EXCEL_MAX_ROWS = 50_000
# The evidence says only what each rule checked; these words carry the rules' limits.
GLOSSARY = (
    "Evidence words: a 'valid off-treatment' B12, MMA or homocysteine has a number and a "
    "known unit and was not collected on B12 treatment (by default within 90 days after an "
    "injection or 30 days after another B12 dose); the findings ignore the others.",
    "An Hb or MCV 'with a value' has a number; one reported as text (e.g. 'clotted') does "
    "not count as the blood count being done.",
    "An 'injection' is a B12 dose administered or dispensed by a parenteral route (as the "
    "route, name or code says); 'B12 treatment administered or dispensed' is any route. "
    "An order alone is never a dose.",
    "Open this workbook, not worklist.csv, in Excel: the CSV keeps extract text exactly as "
    "it came (for data tools), so a cell starting with = + - or @ could act as a formula.",
)
WIDTHS = {"evidence": 100, "action": 34, "finding": 30, "reason": 22, "patient_id": 14}


# Priority 1 is the first row to act on: open items, then pending, then acted; within
# each, severity, then the oldest index date, then finding, patient and episode, so ties
# always break the same way and priority is unique.
# days_open: from the index date to the day it was acted on, else to the data end the
# finding's windows are judged against.
ITEMS = """
    create or replace table worklist_items as
    with stated as (
        select
            w.*,
            case when w.window_open then 'pending' when u.acted_on is not null then 'acted'
                else 'open' end as state,
            u.acted_on,
            u.acted_row_id,
            r.acted_by_label || ' on ' || u.acted_on || ' (' || u.acted_row_id || ')'
                as acted_evidence
        from worklist_phrases as w
        left join worklist_follow_ups as u using (item_id)
        left join finding_reasons as r
            on r.finding = w.finding and r.reason is not distinct from w.reason
    ),
    annotated as (
        select * from worklist_annotations
        qualify row_number() over (
            partition by item_id order by annotated_on desc, source_line desc
        ) = 1
    )
    select
        row_number() over (
            order by list_position(['open', 'pending', 'acted'], state), severity_rank,
                index_date, finding, patient_id, episode
        )::integer as priority,
        state, severity, patient_id, site, finding, reason, index_date,
        date_diff('day', index_date, coalesce(acted_on, data_end))::integer as days_open,
        action,
        case {evidence} end as evidence,
        acted_on, acted_evidence, acted_row_id,
        (case {window_from} end)::date as window_from,
        (case {window_to} end)::date as window_to,
        -- The patient's timeline page, beside the worklist (transforms/outputs/timeline.py);
        -- emptied below for patients past the workbook's rows.
        'timelines/' || left(md5(patient_id), 12) || '.html' as timeline,
        a.status as annotation_status, a.owner as annotation_owner,
        a.note as annotation_note, a.annotated_on,
        item_id, episode, evidence_lab_row_ids, evidence_medication_row_ids,
        evidence_diagnosis_row_ids
    from stated
    left join annotated as a using (item_id)
    order by priority
"""


def build(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    """Creates table worklist_items from findings and populations (after tagging)."""
    params = run_parameters(con, config)
    for step in ("report/worklist.sql", "report/worklist_follow_ups.sql"):
        con.execute(sql_text(step), bind(sql_text(step), params))
    worklist_annotations.create_table(con)
    items = ITEMS.format(
        evidence=reason_cases(lambda r: r.evidence),
        window_from=reason_cases(lambda r: r.window[0]),
        window_to=reason_cases(lambda r: r.window[1]),
    )
    con.execute(items, bind(items, params))
    # Timeline pages for the patients in the workbook's rows (the first EXCEL_MAX_ROWS): a
    # list longer than a team can work by hand gets the patient_timeline view instead.
    con.execute(
        "update worklist_items set timeline = null where patient_id not in "
        f"(select patient_id from worklist_items where priority <= {EXCEL_MAX_ROWS})"
    )
    _check_evidence_written(con)


def reason_cases(expression: Callable[[Reason], str]) -> str:
    """`when <finding and reason> then <its registry expression>` for every worked reason
    (its evidence wording, its window's ends). The expressions are the registry's own SQL
    (repository files, never user input)."""
    cases = []
    for finding in registry().values():
        for reason in finding.worked:
            which = "reason is null" if reason.name is None else f"reason = '{reason.name}'"
            cases.append(f"when finding = '{finding.name}' and {which} then ({expression(reason)})")
    return "\n".join(cases)


def _check_evidence_written(con: duckdb.DuckDBPyConnection) -> None:
    # Names findings only, never patients.
    missing = con.execute(
        "select distinct finding || ':' || coalesce(reason, '') from worklist_items "
        "where evidence is null order by 1"
    ).fetchall()
    if missing:
        names = ", ".join(m[0] for m in missing)
        raise RuntimeError(f"worklist: evidence could not be worded for {names}")


SELECT_ROWS = f"""
    select {", ".join(COLUMNS[:-3])},
           {", ".join(f"evidence_text({c}) as {c}" for c in COLUMNS[-3:])}
    from worklist_items order by priority
"""
# The workbook is for working the list by hand: the columns a person reads (the CSV beside
# it has every column, the evidence ids and windows too). Fewer cells also keep it quick:
# openpyxl writes some 80,000 cells a second here.
WORKBOOK_COLUMNS = tuple(
    c
    for c in COLUMNS
    if c not in ("acted_row_id", "window_from", "window_to", "episode")
    and not c.startswith("evidence_")
)
SELECT_WORKBOOK_ROWS = f"select {', '.join(WORKBOOK_COLUMNS)} from worklist_items order by priority"


def write(con: duckdb.DuckDBPyConnection, patient_dir: Path) -> dict[str, str]:
    """patient_level/worklist.csv (every row) and worklist.xlsx (up to Excel's limit)."""
    patient_dir.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = patient_dir / "worklist.csv", patient_dir / "worklist.xlsx"
    # The CSV stays raw, unlike the workbook's cells: a patient id or drug name starting
    # with =, +, - or @ is written as it came. It is a data file, read by pandas, R or
    # DuckDB, where a guard quote would change the id and break joins back to the extract;
    # findings.csv (transforms/outputs/report.py) is raw for the same reason, and "-" also starts
    # ordinary text. The workbook is the file for Excel, and the About sheet says so.
    con.execute(f"copy ({SELECT_ROWS}) to '{sql_quote(str(csv_path))}' (header, delimiter ',')")
    orphans = worklist_annotations.write_orphans(con, patient_dir)
    spec_path = patient_dir / ".worklist_workbook.json"
    workbook = worklist_workbook.start(_workbook_spec(con, xlsx_path), spec_path)
    try:
        timelines = timeline.write(con, patient_dir)
    finally:
        worklist_workbook.finish(workbook, spec_path)
    return {
        "worklist_csv": str(csv_path),
        "worklist_xlsx": str(xlsx_path),
        "annotations_without_item": orphans,
        "timelines": timelines,
    }


def _workbook_spec(con: duckdb.DuckDBPyConnection, path: Path) -> dict:
    """What worklist.xlsx holds, for the process that writes it (worklist_workbook.py)."""
    total = con.execute("select count(*) from worklist_items").fetchone()[0]
    data_end = con.execute("select data_end from audit_scope").fetchone()[0]
    files = {"rows": path.with_name(".worklist_rows.parquet")}
    files["orphans"] = path.with_name(".worklist_orphans.parquet")
    for name, query in (
        ("rows", f"{SELECT_WORKBOOK_ROWS} limit {EXCEL_MAX_ROWS}"),
        ("orphans", worklist_annotations.ORPHANS),
    ):
        con.execute(f"copy ({query}) to '{sql_quote(str(files[name]))}' (format parquet)")
    return {
        "out": str(path),
        **{name: str(file) for name, file in files.items()},
        "about": _about(total, data_end),
        "columns": list(WORKBOOK_COLUMNS),
        "widths": WIDTHS,
        "data_rows": min(total, EXCEL_MAX_ROWS),
        "link": "timeline",
    }


def _about(total: int, data_end: dt.date | None) -> list[str]:
    """The About sheet's lines."""
    lines = [
        "b12audit worklist: care gaps, open ones first (then pending, then acted), most "
        "severe and oldest first.",
        "This file identifies patients. It must stay within the care team: do not e-mail it "
        "outside, share it or publish it.",
        f"Data end of this run: {data_end.isoformat() if data_end else 'unknown'}.",
        f"Items: {total}.",
        "state: open (act on it); pending (its window is not over: the action can still "
        "come in time); acted (a later row shows the action happened: acted_on and "
        "acted_evidence say which).",
        "Your team's notes: keep annotations.csv (item_id, status, owner, note, date) in the "
        "extract or drop folder; each run merges it here by item_id.",
    ]
    if total > EXCEL_MAX_ROWS:
        lines.append(
            f"This workbook holds the first {EXCEL_MAX_ROWS} rows (priority 1 to "
            f"{EXCEL_MAX_ROWS}: most severe, then oldest). worklist.csv, beside it, has all "
            f"{total}."
        )
    return [
        *lines,
        "Evidence ids are file:line of the extract rows that decided each finding.",
        *GLOSSARY,
    ]
