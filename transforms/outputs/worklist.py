"""The worklist: one row per open finding, for the clinicians who act on them.

A patient-level output (patient_level/worklist.csv and worklist.xlsx): it names patients
and stays within the care team. `build` makes table `worklist_items` on the build
database after tagging: the open findings and their phrases in plain words
(sql/report/worklist.sql), each finding's evidence worded by its registry entry
(sql/rules/<finding>.toml), most urgent first. `write` writes the two files from it.

What is open, how severe and what to do come from the registry: a reason with a severity
and action is worked (each entry says why its severity; docs/findings.md lists them). The
guideline's central concern is nerve damage that progresses while B12 deficiency goes
untreated or is masked by folic acid: severity follows how directly a gap risks that.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from transforms.config import AuditConfig
from transforms.database import sql_quote
from transforms.rules.harmonise import run_parameters
from transforms.rules.registry import registry
from transforms.sqlfiles import bind, sql_text

COLUMNS = (
    "priority",
    "severity",
    "patient_id",
    "site",
    "finding",
    "reason",
    "index_date",
    "days_open",
    "action",
    "evidence",
    "episode",
    "evidence_lab_row_ids",
    "evidence_medication_row_ids",
    "evidence_diagnosis_row_ids",
)
COLUMN_COMMENTS = {
    "priority": "1 = act first: severity, then oldest index date, then finding, patient.",
    "severity": "high, medium or low (the finding registry; transforms/outputs/worklist.py).",
    "days_open": "Data end the finding's windows are judged against - index_date.",
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
FETCH_ROWS = 10_000


# Priority 1 is the first row to act on: severity, then the oldest index date, then
# finding, patient and episode, so ties always break the same way and priority is unique.
# days_open: from the index date to the data end the finding's windows are judged against.
ITEMS = """
    create or replace table worklist_items as
    select
        row_number() over (
            order by severity_rank, index_date, finding, patient_id, episode
        )::integer as priority,
        severity, patient_id, site, finding, reason, index_date,
        date_diff('day', index_date, data_end)::integer as days_open,
        action,
        case {evidence} end as evidence,
        episode, evidence_lab_row_ids, evidence_medication_row_ids, evidence_diagnosis_row_ids
    from worklist_phrases
    order by priority
"""


def build(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    """Creates table worklist_items from findings and populations (after tagging)."""
    params = run_parameters(con, config)
    con.execute(sql_text("report/worklist.sql"), bind(sql_text("report/worklist.sql"), params))
    items = ITEMS.format(evidence=evidence_cases())
    con.execute(items, bind(items, params))
    _check_evidence_written(con)


def evidence_cases() -> str:
    """`when <finding and reason> then <its registry evidence>`, for every worked reason.
    The expressions are the registry's own SQL (repository files, never user input)."""
    cases = []
    for finding in registry().values():
        for reason in finding.worked:
            which = "reason is null" if reason.name is None else f"reason = '{reason.name}'"
            cases.append(f"when finding = '{finding.name}' and {which} then ({reason.evidence})")
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
    _write_workbook(con, xlsx_path)
    return {"worklist_csv": str(csv_path), "worklist_xlsx": str(xlsx_path)}


def _write_workbook(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    total = con.execute("select count(*) from worklist_items").fetchone()[0]
    data_end = con.execute("select data_end from audit_scope").fetchone()[0]
    workbook = Workbook(write_only=True)
    _write_about(workbook.create_sheet("About"), total, data_end)
    sheet = workbook.create_sheet("Worklist")
    _prepare_sheet(sheet, min(total, EXCEL_MAX_ROWS))
    sheet.append([_bold(sheet, name) for name in COLUMNS])
    result = con.execute(f"{SELECT_ROWS} limit {EXCEL_MAX_ROWS}")
    while rows := result.fetchmany(FETCH_ROWS):
        for row in rows:
            sheet.append([_cell(sheet, value) for value in row])
    workbook.save(path)


def _write_about(sheet: WriteOnlyWorksheet, total: int, data_end: dt.date | None) -> None:
    sheet.column_dimensions["A"].width = 110
    lines = [
        "b12audit worklist: open findings, most severe and oldest first.",
        "This file identifies patients. It must stay within the care team: do not e-mail it "
        "outside, share it or publish it.",
        f"Data end of this run: {data_end.isoformat() if data_end else 'unknown'}.",
        f"Open findings: {total}.",
    ]
    if total > EXCEL_MAX_ROWS:
        lines.append(
            f"This workbook holds the first {EXCEL_MAX_ROWS} rows (priority 1 to "
            f"{EXCEL_MAX_ROWS}: most severe, then oldest). worklist.csv, beside it, has all "
            f"{total}."
        )
    lines += [
        "Evidence ids are file:line of the extract rows that decided each finding.",
        *GLOSSARY,
    ]
    sheet.append([_bold(sheet, lines[0])])
    for line in lines[1:]:
        sheet.append([line])


def _prepare_sheet(sheet: WriteOnlyWorksheet, data_rows: int) -> None:
    # A write-only sheet takes its columns, panes and filter before the first row.
    for index, name in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(name, 12)
    sheet.freeze_panes = "A2"
    last = get_column_letter(len(COLUMNS))
    sheet.auto_filter.ref = f"A1:{last}{data_rows + 1}"


def _bold(sheet: WriteOnlyWorksheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=text)
    cell.font = Font(bold=True)
    return cell


def _cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    # Dates become Excel dates and numbers numbers. Extract text (a drug name) must stay
    # text: a leading '=' is not a formula, and control characters (invalid in the file
    # format) are dropped.
    if not isinstance(value, str) or not (
        value.startswith("=") or ILLEGAL_CHARACTERS_RE.search(value)
    ):
        return value
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"
    return cell
