"""A corpus of broken and awkward extracts, each with the outcome a user should get.

Every case starts from a small valid canonical extract (the first rows of data/sample) and
changes one thing. The outcome is one of: a clear error (InputError naming the file and
problem, and no patient identifier), rows quarantined with their check (nothing lost:
rows read = loaded + quarantined), or a clean load (blank lines, encodings, date forms,
identifiers that differ only invisibly). Ingest and validation run as the flow runs them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE, query
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.inputs import adapters
from transforms.operations import stages

BASE_ROWS = 40  # data rows taken from each sample file
TABLES = ("lab_results", "medications", "patients", "diagnoses")


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[Path], None]
    error: str | None = None  # an InputError containing this
    quarantined: dict[str, int] = field(default_factory=dict)  # check -> rows
    check: Callable[[Path], None] | None = None  # more about the loaded database
    config: dict = field(default_factory=dict)


def base_extract(folder: Path) -> None:
    folder.mkdir(parents=True)
    for table in TABLES:
        lines = (SAMPLE / f"{table}.csv").read_text().splitlines()[: BASE_ROWS + 1]
        (folder / f"{table}.csv").write_text("\n".join(lines) + "\n")


def rows(folder: Path, table: str) -> list[list[str]]:
    with (folder / f"{table}.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def write_rows(folder: Path, table: str, table_rows: list[list[str]]) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(table_rows)
    (folder / f"{table}.csv").write_text(text.getvalue(), encoding="utf-8")


def with_row(table: str, **values: str) -> Callable[[Path], None]:
    """Appends a copy of the table's first row with some values changed."""

    def change(folder: Path) -> None:
        table_rows = rows(folder, table)
        header, first = table_rows[0], list(table_rows[1])
        if "result_id" in header:  # a new result: not a copy of the first one's id
            first[header.index("result_id")] = ""
        for column, value in values.items():
            first[header.index(column)] = value
        write_rows(folder, table, [*table_rows, first])

    return change


def with_text(table: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / f"{table}.csv"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")

    return change


def with_bytes(table: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / f"{table}.csv"
        path.write_bytes(edit(path.read_bytes()))

    return change


def append_line(table: str, line: str) -> Callable[[Path], None]:
    return with_text(table, lambda text: text + line + "\n")


def insert_line(table: str, at: int, line: str) -> Callable[[Path], None]:
    def edit(text: str) -> str:
        lines = text.splitlines()
        return "\n".join([*lines[:at], line, *lines[at:]]) + "\n"

    return with_text(table, edit)


def header_edit(table: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    def change(text: str) -> str:
        first, rest = text.split("\n", 1)
        return edit(first) + "\n" + rest

    return with_text(table, change)


def remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def duplicate_result(conflicting: bool) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        table_rows = rows(folder, "lab_results")
        header, first = table_rows[0], list(table_rows[1])
        copy = list(first)
        if conflicting:
            copy[header.index("result")] = "90"
        write_rows(folder, "lab_results", [*table_rows, copy])

    return change


def several(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        for one in changes:
            one(folder)

    return change


def loaded(table: str, expected: int) -> Callable[[Path], None]:
    def check(db: Path) -> None:
        assert query(db, f"select count(*) from {table}") == [(expected,)]

    return check


def patients_in_labs(expected: int) -> Callable[[Path], None]:
    def check(db: Path) -> None:
        assert query(db, "select count(distinct patient_id) from lab_results") == [(expected,)]

    return check


def blank_lines(expected: int) -> Callable[[Path], None]:
    def check(db: Path) -> None:
        assert query(db, "select count(*) from staging.empty_lines") == [(expected,)]

    return check


def last_line_numbered(line: int) -> Callable[[Path], None]:
    """The last row loaded has the line it is on: nothing before it shifted the count."""

    def check(db: Path) -> None:
        assert query(db, "select max(source_line) from lab_results") == [(line,)]

    return check


def data_end_unchanged(db: Path) -> None:
    base = rows_of_sample("lab_results")
    latest = max(r[base[0].index("collected_at")][:10] for r in base[1:])
    assert query(db, "select max(collected_at)::date::varchar from lab_results") == [(latest,)]


def rows_of_sample(table: str) -> list[list[str]]:
    lines = (SAMPLE / f"{table}.csv").read_text().splitlines()[: BASE_ROWS + 1]
    return list(csv.reader(lines))


def base_patients() -> int:
    return len({r[0] for r in rows_of_sample("lab_results")[1:]})


NFD_ID, NFC_ID = "Jose\u0301", "Jos\u00e9"
A_ROW = "S001,2132-9,Vitamin B12,151,pg/mL,2024-03-01,,,north"  # a valid lab row
CASES = [
    # --- The folder and its files.
    Case("empty folder", lambda f: [p.unlink() for p in f.iterdir()], "no extract files found"),
    Case("no medications file", remove("medications.csv"), "no medications file"),
    Case("no lab results file", remove("lab_results.csv"), "no lab_results file"),
    Case("an empty lab file", with_text("lab_results", lambda t: ""), "file is empty"),
    Case(
        "a folder named like a file",
        several(remove("lab_results.csv"), lambda f: (f / "lab_results.csv").mkdir()),
        "no lab_results file",
    ),
    Case(
        "a corrupt Parquet file",
        several(
            remove("lab_results.csv"),
            lambda f: (f / "lab_results.parquet").write_bytes(b"PAR1 not parquet"),
        ),
        "lab_results.parquet",
    ),
    Case(
        "semicolon-separated",
        with_text("lab_results", lambda t: t.replace(",", ";")),
        "split by semicolons",
    ),
    Case(
        "tab-separated", with_text("lab_results", lambda t: t.replace(",", "\t")), "split by tabs"
    ),
    Case(
        "a required column missing",
        header_edit("lab_results", lambda h: h.replace("collected_at", "collected")),
        "missing required column 'collected_at'",
    ),
    Case(
        "a column named twice",
        header_edit("lab_results", lambda h: h.replace("unit", "result")),
        "column 'result' appears twice",
    ),
    Case(
        "a header line over the csv module's field limit",
        header_edit("lab_results", lambda h: h + "," + "x" * 140_000),
        "line 1 is not a CSV header",
    ),
    Case(
        "a header that is not UTF-8",
        with_bytes("lab_results", lambda b: b"\xff\xfe" + b),
        "header line is not UTF-8",
    ),
    Case(
        "upper-case column names",
        header_edit("lab_results", str.upper),
        "missing required column 'patient_id'",
    ),
    Case(
        "most dates broken",
        with_text("lab_results", lambda t: t.replace("2024-", "2024/")),
        "more than max_quarantine_fraction",
    ),
    Case(
        "a patients file without patient_id",
        header_edit("patients", lambda h: h.replace("patient_id", "pid")),
        "missing required column 'patient_id'",
    ),
    # --- Rows quarantined with their reason.
    Case(
        "a date that is not a date",
        with_row("lab_results", collected_at="notadate"),
        None,
        {"iso_date": 1},
    ),
    Case("30 February", with_row("lab_results", collected_at="2024-02-30"), None, {"iso_date": 1}),
    Case("year 0000", with_row("lab_results", collected_at="0000-01-01"), None, {"iso_date": 1}),
    Case(
        "hour 25", with_row("lab_results", collected_at="2024-03-01T25:00"), None, {"iso_date": 1}
    ),
    Case(
        "a 9999-12-31 outlier",
        with_row("lab_results", collected_at="9999-12-31"),
        None,
        {"date_implausible": 1},
        data_end_unchanged,
    ),
    Case(
        "a 1900-01-01 placeholder",
        with_row("medications", event_at="1900-01-01"),
        None,
        {"date_implausible": 1},
    ),
    Case(
        "a diagnosis in 9999",
        with_row("diagnoses", recorded_at="9999-01-01"),
        None,
        {"date_implausible": 1},
    ),
    Case(
        "a result date that is not a date",
        with_row("lab_results", resulted_at="soon"),
        None,
        {"iso_date": 1},
    ),
    Case("a blank patient_id", with_row("lab_results", patient_id=""), None, {"not_nullable": 1}),
    Case(
        "a patient_id of spaces", with_row("lab_results", patient_id="   "), None, {"not_blank": 1}
    ),
    Case(
        "a patient_id of a zero-width space",
        with_row("lab_results", patient_id="\u200b"),
        None,
        {"not_blank": 1},
    ),
    Case(
        "a NUL in a patient_id",
        with_row("lab_results", patient_id="S00\x001"),
        None,
        {"no_control_characters": 1},
    ),
    Case("a blank test_code", with_row("lab_results", test_code=""), None, {"not_nullable": 1}),
    Case(
        "a row with too many fields",
        append_line("lab_results", "S001,2132-9,x,150,pg/mL,2024-03-01,,,north,extra"),
        None,
        {"csv_too_many_columns": 1},
    ),
    Case(
        "a row with too few fields",
        append_line("lab_results", "S001,2132-9,x,150"),
        None,
        {"csv_missing_columns": 1},
    ),
    Case(
        "a row of empty fields", append_line("lab_results", ",,,,,,,,"), None, {"not_nullable": 1}
    ),
    Case(
        "a row that is not UTF-8",
        with_bytes(
            "lab_results",
            lambda b: b + b"S001,2132-9,Vitamin B12 \xe9,150,pg/mL,2024-03-01,,,north\n",
        ),
        None,
        {"csv_invalid_encoding": 1},
    ),
    Case(
        "a stray quote",
        append_line("lab_results", 'S001,2132-9,"Vitamin,150,pg/mL,2024-03-01,,,north'),
        None,
        {"csv_unquoted_value": 1},
    ),
    Case(
        "a 3 MB line",
        several(
            with_row("lab_results", test_name="x" * 3_000_000),
            append_line("lab_results", A_ROW),
        ),
        None,
        {"csv_line_size_over_maximum": 1},
        last_line_numbered(BASE_ROWS + 3),
    ),
    Case(
        "a 34 MB line, past the reader's buffer",
        several(
            with_row("lab_results", test_name="x" * 34_000_000),
            append_line("lab_results", A_ROW),
        ),
        None,
        {"csv_line_too_long": 1},
        last_line_numbered(BASE_ROWS + 3),
    ),
    Case(
        "one result_id with different values",
        duplicate_result(conflicting=True),
        None,
        {"duplicate_result_id": 2},
    ),
    Case(
        "one result_id sent twice, identical",
        duplicate_result(conflicting=False),
        None,
        {"duplicate_identical": 1},
        loaded("lab_results", BASE_ROWS),
    ),
    Case(
        "a medication with neither code nor name",
        with_row("medications", drug_code="", drug_name=""),
        None,
        {"drug_code_or_name": 1},
    ),
    Case(
        "a medication date that is not a date",
        with_row("medications", event_at="yesterday"),
        None,
        {"iso_date": 1},
    ),
    Case(
        "a diagnosis in an unknown code system",
        with_row("diagnoses", code_system="READ2"),
        None,
        {"code_system_known": 1},
    ),
    Case(
        "a birth date that is not a date",
        with_row("patients", birth_date="1950-13-01"),
        None,
        {"iso_date": 1},
    ),
    Case(
        "a future date when future dates are refused",
        with_row("lab_results", collected_at="2999-01-01"),
        None,
        {"not_in_future": 1},
        config={"reject_future_dates": True, "plausible_years_around_bulk": 5000},
    ),
    # --- Awkward but valid: loads, nothing lost.
    Case(
        "a header only",
        with_text("lab_results", lambda t: t.split("\n", 1)[0] + "\n"),
        None,
        {},
        loaded("lab_results", 0),
    ),
    Case(
        "a byte order mark",
        with_bytes("lab_results", lambda b: b"\xef\xbb\xbf" + b),
        None,
        {},
        loaded("lab_results", BASE_ROWS),
    ),
    Case(
        "CRLF line ends",
        with_text("lab_results", lambda t: t.replace("\n", "\r\n")),
        None,
        {},
        loaded("lab_results", BASE_ROWS),
    ),
    Case(
        "no final line break",
        with_text("lab_results", str.rstrip),
        None,
        {},
        loaded("lab_results", BASE_ROWS),
    ),
    Case("empty lines", insert_line("lab_results", 3, ""), None, {}, blank_lines(1)),
    Case("a line of spaces", insert_line("lab_results", 3, "   \t "), None, {}, blank_lines(1)),
    Case(
        "a quoted line break",
        append_line("lab_results", 'S001,2132-9,"Vitamin\nB12",150,pg/mL,2024-03-01,,,north'),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "a quoted comma",
        append_line("lab_results", 'S001,2132-9,"B12, serum",150,pg/mL,2024-03-01,,,north'),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "an offset time",
        with_row("lab_results", collected_at="2024-03-01T10:00:00+01:00"),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "a Z time",
        with_row("lab_results", collected_at="2024-03-01T10:00:00Z"),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "fractional seconds",
        with_row("lab_results", collected_at="2024-03-01 10:00:00.123456"),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "a diagnosis decades back",
        with_row("diagnoses", recorded_at="1961-05-01"),
        None,
        {},
        loaded("diagnoses", BASE_ROWS + 1),
    ),
    Case(
        "a censored result",
        with_row("lab_results", result="<150"),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "a text result",
        with_row("lab_results", result="haemolysed"),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "an empty unit",
        with_row("lab_results", unit=""),
        None,
        {},
        loaded("lab_results", BASE_ROWS + 1),
    ),
    Case(
        "an unknown extra column",
        header_edit("lab_results", lambda h: h.replace("site", "ward")),
        None,
        {},
        loaded("lab_results", BASE_ROWS),
    ),
    Case(
        "spaces around column names",
        header_edit("lab_results", lambda h: h.replace(",", " , ")),
        None,
        {},
        loaded("lab_results", BASE_ROWS),
    ),
    Case(
        "a file name with a period",
        several(lambda f: (f / "lab_results.csv").rename(f / "lab_results_2024-03.csv")),
        None,
        {},
        loaded("lab_results", BASE_ROWS),
    ),
    Case(
        "one patient written NFC and NFD",
        several(
            with_row("lab_results", patient_id=NFC_ID),
            with_row("lab_results", patient_id=NFD_ID),
        ),
        None,
        {},
        patients_in_labs(base_patients() + 1),
    ),
    Case(
        "one patient with and without a zero-width space",
        several(
            with_row("lab_results", patient_id="S001\u200b"),
            with_row("lab_results", patient_id="\ufeffS001"),
        ),
        None,
        {},
        patients_in_labs(base_patients()),
    ),
]


def ingest_and_validate(folder: Path, work: Path, config: AuditConfig) -> Path:
    """As the flow runs them: preflight, ingest, validation (with its quarantine)."""
    adapters.preflight(folder, None)
    work.mkdir()
    db = work / "build.duckdb"
    database.create_build_database(db)
    files = stages.ingest(db, folder, None)
    quarantined = stages.validate(db, config, files, work)
    with duckdb.connect(str(db), read_only=True) as con:
        for f in files:  # nothing lost: every row read is loaded or quarantined
            if f["table"] in TABLES:
                rows_loaded = con.execute(
                    f"select count(*) from {f['table']} where source_file = $f", {"f": f["file"]}
                ).fetchone()[0]
                assert rows_loaded + quarantined[(f["file"], f["table"])] == f["rows_read"]
    return db


def sample_ids() -> set[str]:
    return {
        line.split(",")[0]
        for table in TABLES
        for line in (SAMPLE / f"{table}.csv").read_text().splitlines()[1:]
    }


def test_the_corpus_has_at_least_55_kinds():
    assert len({c.name for c in CASES}) == len(CASES) >= 55


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_broken_extract_gets_its_outcome(case: Case, tmp_path):
    folder = tmp_path / "extract"
    base_extract(folder)
    case.change(folder)
    config = replace(AuditConfig(), **case.config)
    if case.error:
        with pytest.raises(InputError) as raised:
            ingest_and_validate(folder, tmp_path / "work", config)
        message = str(raised.value)
        assert case.error in message
        assert not set(message.replace(",", " ").replace(":", " ").split()) & sample_ids()
        return
    db = ingest_and_validate(folder, tmp_path / "work", config)
    found = dict(
        query(db, "select check_name, count(distinct source_line) from quarantine group by 1")
    )
    assert found == case.quarantined
    if case.check:
        case.check(db)


def test_an_unreadable_file_stops_with_its_name_not_a_traceback(tmp_path, monkeypatch):
    # Tests run as root here, which reads any file: the refusal is simulated where it lands.
    folder = tmp_path / "extract"
    base_extract(folder)
    real_open = Path.open

    def refuse(path, *args, **kwargs):
        if path.name == "medications.csv":
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(
        InputError, match=r"^medications.csv: cannot be read \(Permission denied\)$"
    ):
        ingest_and_validate(folder, tmp_path / "work", AuditConfig())


def test_a_file_with_no_line_break_at_all_is_no_header(tmp_path):
    folder = tmp_path / "extract"
    base_extract(folder)
    (folder / "lab_results.csv").write_bytes(b"patient_id," + b"x" * (2 << 20))
    with pytest.raises(InputError, match="lab_results.csv: line 1 is not a CSV header"):
        ingest_and_validate(folder, tmp_path / "work", AuditConfig())
