"""The worklist: one row per open finding, for the clinicians who act on them.

A patient-level output (patient_level/worklist.csv and worklist.xlsx): it names patients
and stays within the care team. `build` makes table `worklist_items` on the build
database after tagging (sql/report/worklist.sql: order, evidence in plain words);
`write` writes the two files from it.
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

from schemas.findings import DESCRIPTIVE_TAGS
from transforms.config import AuditConfig
from transforms.sqlfiles import bind, sql_text

# Severity and action per (finding, reason); a finding here is "open". The guideline's
# central concern is nerve damage that progresses while B12 deficiency goes untreated or
# is masked by folic acid, so:
#   high    deficiency known (serum B12 low, or borderline with a raised MMA, which the
#           guideline says "confirms" deficiency) and possibly untreated; folic acid given
#           on top of a known low B12; neurological symptoms with deficiency not excluded;
#           neurological patients whose loading fell short of alternate-day injections or
#           who got oral B12 only (the guideline keeps oral B12 for patients without).
#   medium  treatment that lapsed in a lifelong indication (relapse over months); loading
#           short without neurological codes; folic acid started before B12 status was
#           known (the B12 may still turn out low).
#   low     a borderline B12 never worked up; a missed 8-week blood count.
HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITY_RANK = {HIGH: 1, MEDIUM: 2, LOW: 3}
START_IF_LOW = "review folic acid; start B12 if deficient"
ACTIONS: dict[tuple[str, str | None], tuple[str, str]] = {
    ("b12_deficient", None): (HIGH, "treat B12 deficiency; find the cause"),
    ("b12_functional_deficiency", None): (HIGH, "treat B12 deficiency; find the cause"),
    ("folate_before_b12", "known_low_untreated"): (HIGH, START_IF_LOW),
    ("neuro_normal_b12_no_metabolites", "none"): (HIGH, "check MMA and homocysteine"),
    ("neuro_normal_b12_no_metabolites", "partial"): (HIGH, "complete MMA and homocysteine"),
    ("b12_loading_incomplete", "neuro_not_alternate_day"): (
        HIGH,
        "review loading: alternate-day injections (neurological)",
    ),
    ("b12_loading_incomplete", "neuro_on_oral_only"): (
        HIGH,
        "start B12 injections (neurological)",
    ),
    ("b12_treatment_lapse", "gap"): (MEDIUM, "review B12 maintenance"),
    ("b12_treatment_lapse", "stopped"): (MEDIUM, "restart B12 injections"),
    ("b12_loading_incomplete", "under_six_doses"): (MEDIUM, "review loading doses"),
    ("folate_before_b12", "pending"): (MEDIUM, START_IF_LOW),
    ("folate_before_b12", "tested_after"): (MEDIUM, START_IF_LOW),
    ("folate_before_b12", "stale"): (MEDIUM, "check B12; review folic acid"),
    ("folate_before_b12", "never_tested"): (MEDIUM, "check B12; review folic acid"),
    ("b12_borderline_no_mma", "no_mma"): (LOW, "check MMA"),
    ("monitoring_missed", "no_fbc_at_8_weeks"): (LOW, "check FBC"),
}
# Never on the worklist: context only, superseded, or still waiting on their window.
NOT_OPEN: frozenset[tuple[str, str | None]] = frozenset(
    {(tag, None) for tag in DESCRIPTIVE_TAGS}
    | {
        # Every borderline patient; the ones to act on are b12_functional_deficiency and
        # b12_borderline_no_mma (a normal MMA settles the rest), so listing it too would put
        # the same result on the list twice and add patients with nothing to do.
        ("b12_borderline", None),
        ("b12_borderline_no_mma", "pending"),
        ("neuro_normal_b12_no_metabolites", "pending"),
    }
)

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
    "severity": "high, medium or low (transforms/worklist.py says why).",
    "days_open": "Relevant data end (labs, or medications for drug findings) - index_date.",
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


def build(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    """Creates table worklist_items from findings (after tagging), most urgent first."""
    _check_every_finding_is_placed(con)
    _load_actions(con)
    con.execute(sql_text("report/worklist_macros.sql"))
    sql = "create or replace table worklist_items as " + sql_text("report/worklist.sql")
    con.execute(sql, bind(sql, config.sql_params()))
    _check_evidence_written(con)


def _load_actions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "create or replace temp table worklist_actions (finding varchar, reason varchar, "
        "severity varchar, severity_rank integer, action varchar)"
    )
    con.executemany(
        "insert into worklist_actions values (?, ?, ?, ?, ?)",
        [
            (finding, reason, severity, SEVERITY_RANK[severity], action)
            for (finding, reason), (severity, action) in ACTIONS.items()
        ],
    )


def _check_every_finding_is_placed(con: duckdb.DuckDBPyConnection) -> None:
    # A new rule or reason must be given a severity and action (or be declared not open),
    # or its findings would silently miss the worklist.
    present = con.execute("select distinct finding, reason from findings").fetchall()
    unplaced = sorted(
        f"{finding}:{reason}"
        for finding, reason in present
        if (finding, reason) not in ACTIONS and (finding, reason) not in NOT_OPEN
    )
    if unplaced:
        raise RuntimeError(f"worklist: no severity or action for {', '.join(unplaced)}")


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
           {", ".join(f"nullif(array_to_string({c}, ';'), '') as {c}" for c in COLUMNS[-3:])}
    from worklist_items order by priority
"""


def write(con: duckdb.DuckDBPyConnection, patient_dir: Path) -> dict[str, str]:
    """patient_level/worklist.csv (every row) and worklist.xlsx (up to Excel's limit)."""
    patient_dir.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = patient_dir / "worklist.csv", patient_dir / "worklist.xlsx"
    quoted = str(csv_path).replace("'", "''")
    # The CSV stays raw, unlike the workbook's cells: a patient id or drug name starting
    # with =, +, - or @ is written as it came. It is a data file, read by pandas, R or
    # DuckDB, where a guard quote would change the id and break joins back to the extract;
    # findings.csv (transforms/report.py) is raw for the same reason, and "-" also starts
    # ordinary text. The workbook is the file for Excel, and the About sheet says so.
    con.execute(f"copy ({SELECT_ROWS}) to '{quoted}' (header, delimiter ',')")
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
