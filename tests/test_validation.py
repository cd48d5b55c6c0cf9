"""Validation: structural problems stop the run; bad rows are quarantined, never lost."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import query, run_stages, write_extract
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.operations import stages

LABS = """
    patient_id | test_code | result | unit  | collected_at
    -----------+-----------+--------+-------+-------------
    p1         | 2132-9    | 150    | pg/mL | 2024-03-01
"""
MEDS = """
    patient_id | drug_name  | event_type   | event_at
    -----------+------------+--------------+-----------
    p1         | Folic acid | administered | 2024-03-01
"""
LENIENT = AuditConfig(max_quarantine_fraction=1.0)


def stop_message(folder: Path, tmp_path: Path, config: AuditConfig = LENIENT) -> str:
    with pytest.raises(InputError) as stopped:
        run_stages(folder, config, tmp_path / "work")
    return str(stopped.value)


def quarantine_summary(tmp_path: Path) -> Path:
    """The stopped run's shareable quarantine summary, in its run folder."""
    (found,) = (tmp_path / "work").glob("runs/*/shareable/quarantine_summary.csv")
    return found


def extract(tmp_path: Path) -> Path:
    return write_extract(tmp_path / "in", LABS, MEDS)


def test_an_empty_folder_stops_the_run(tmp_path):
    (tmp_path / "in").mkdir()
    assert "no extract files found" in stop_message(tmp_path / "in", tmp_path)


def test_a_missing_medications_file_stops_the_run(tmp_path):
    folder = extract(tmp_path)
    (folder / "medications.csv").unlink()
    assert "no medications file" in stop_message(folder, tmp_path)


def test_a_missing_required_column_names_the_file_and_column(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text("patient_id,test_code,result,unit\np1,2132-9,1,pg/mL\n")
    message = stop_message(folder, tmp_path)
    assert message.startswith("lab_results.csv: missing required column 'collected_at'")


def test_a_file_without_a_header_is_reported_without_echoing_its_first_row(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text("MRN0012345,2132-9,187,pg/mL,2024-01-01,2024-01-02\n")
    message = stop_message(folder, tmp_path)
    assert message == (
        "lab_results.csv: missing required column 'patient_id'; line 1 has 6 columns, "
        "of which the known ones are: none"
    )
    assert "MRN0012345" not in message and "187" not in message


def test_a_semicolon_file_is_named_as_the_wrong_delimiter(tmp_path):
    folder = extract(tmp_path)
    (folder / "medications.csv").write_text("patient_id;drug_name;event_type;event_at\n")
    assert stop_message(folder, tmp_path) == (
        "medications.csv: line 1 has one column split by semicolons; "
        "extract files must be comma-separated"
    )


def test_an_empty_file_stops_the_run(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text("")
    assert stop_message(folder, tmp_path) == "lab_results.csv: file is empty (no header line)"


def test_an_unreadable_parquet_file_stops_the_run(tmp_path):
    folder = extract(tmp_path)
    (folder / "patients.parquet").write_bytes(b"not parquet")
    assert stop_message(folder, tmp_path).startswith("patients.parquet: unreadable Parquet file")


def test_too_many_quarantined_rows_stop_the_run_and_leave_a_summary(tmp_path):
    folder = write_extract(
        tmp_path / "in",
        LABS + "\n    | 2132-9 | 150 | pg/mL | 2024-03-01",
        MEDS,
    )
    message = stop_message(folder, tmp_path, AuditConfig(max_quarantine_fraction=0.4))
    assert re.match(r"lab_results.csv: 1 of 2 rows failed validation, more than", message)
    assert quarantine_summary(tmp_path).exists()


BAD_ROWS = """patient_id,test_code,result,unit,collected_at,resulted_at
p1,2132-9,150,pg/mL,2024-03-01,
,2132-9,150,pg/mL,2024-03-01,
p3,2132-9,150,pg/mL,31/12/2024,
p4,2132-9,150,pg/mL,2024-02-30,
p5,2132-9,150,pg/mL,2024-03-01,2024-03-01,extra
p6,2132-9,150,pg/mL,2024-03-01,soon
p7,2132-9,150,pg/mL,2124-03-01T10:00:00,
p8,2132-9,150,pg/mL,   ,
"""


def run_bad_rows(tmp_path: Path, config: AuditConfig = LENIENT) -> Path:
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text(BAD_ROWS)
    return run_stages(folder, config, tmp_path / "work")


def test_each_bad_row_is_quarantined_with_file_line_column_check_and_value(tmp_path):
    db = run_bad_rows(tmp_path)
    assert query(
        db,
        "select source_line, column_name, check_name, value from quarantine order by source_line",
    ) == [
        (3, "patient_id", "not_nullable", None),
        (4, "collected_at", "iso_date", "31/12/2024"),
        (5, "collected_at", "iso_date", "2024-02-30"),
        (
            6,
            "(whole row)",
            "csv_too_many_columns",
            "p5,2132-9,150,pg/mL,2024-03-01,2024-03-01,extra",
        ),
        (7, "resulted_at", "iso_date", "soon"),
        (9, "collected_at", "not_blank", "   "),
    ]


def test_rows_after_a_rejected_line_keep_their_own_line_numbers(tmp_path):
    db = run_bad_rows(tmp_path)
    assert query(db, "select patient_id, source_line from lab_results order by 2") == [
        ("p1", 2),
        ("p7", 8),
    ]


def test_empty_lines_do_not_shift_the_line_numbers_of_later_rows(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text(
        "patient_id,test_code,result,unit,collected_at\n"  # line 1
        "p1,2132-9,150,pg/mL,2024-03-01\n"  # 2
        "\n"  # 3: empty, skipped by the reader
        "p2,2132-9,150,pg/mL,bad\n"  # 4
        "\n\n"  # 5, 6
        "p3,2132-9,150\n"  # 7: too few fields
        "p4,2132-9,150,pg/mL,2024-03-01\n"  # 8
    )
    db = run_stages(folder, LENIENT, tmp_path / "work")
    assert query(db, "select source_line, check_name from quarantine order by 1") == [
        (4, "iso_date"),
        (7, "csv_missing_columns"),
    ]
    assert query(db, "select patient_id, source_line from lab_results order by 2") == [
        ("p1", 2),
        ("p4", 8),
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_empty_lines_are_found_across_read_chunks(size):
    from transforms.inputs.ingest import LineScan

    text = b"\nh\nrow\n\nrow\r\n\r\nrow\n\n"
    scan = LineScan()
    for cut in range(0, len(text), size):  # small chunks split every pair somewhere
        scan.feed(text[cut : cut + size])
    assert scan.empty == [1, 4, 6, 8]


def test_rows_read_equal_rows_loaded_plus_rows_quarantined(tmp_path):
    db = tmp_path / "work" / "build.duckdb"
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text(BAD_ROWS)
    database.create_build_database(db)
    files = stages.ingest(db, folder)
    quarantined = stages.validate(db, LENIENT, files, tmp_path / "work")
    stages.harmonise(db, LENIENT)
    loaded = stages.rows_loaded_by_file(db)
    for f in files:
        key = (f["file"], f["table"])
        assert f["rows_read"] == loaded.get(key, 0) + quarantined[key]
    assert {f["file"]: f["rows_read"] for f in files} == {
        "lab_results.csv": 8,
        "medications.csv": 1,
    }


def test_far_future_dates_are_kept_unless_the_configuration_rejects_them(tmp_path):
    db = run_bad_rows(tmp_path)
    assert ("p7",) in query(db, "select patient_id from lab_results")
    strict = AuditConfig(max_quarantine_fraction=1.0, reject_future_dates=True)
    db = run_bad_rows(tmp_path / "strict", strict)
    assert query(db, "select check_name from quarantine where source_line = 8") == [
        ("not_in_future",)
    ]


def test_dates_padded_with_spaces_load_and_with_tabs_are_quarantined_not_crashed(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text(
        "patient_id,test_code,result,unit,collected_at,resulted_at\n"
        'p1,2132-9,150,pg/mL,\t2024-03-01,"2024-03-02\r"\n'
        "p2,2132-9,150,pg/mL, 2024-03-01T10:00 ,2024-03-02 \n"
    )
    db = run_stages(folder, LENIENT, tmp_path / "work")
    assert query(
        db,
        "select patient_id, collected_at::varchar, resulted_at::date::varchar, "
        "collected_has_time from lab_results order by 1",
    ) == [("p2", "2024-03-01 10:00:00", "2024-03-02", True)]
    assert query(db, "select source_line, column_name, check_name from quarantine") == [
        (2, "collected_at", "iso_date"),
        (2, "resulted_at", "iso_date"),
    ]


def test_date_times_as_exports_write_them_load_at_the_local_time_written(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").write_text(
        "patient_id,test_code,result,unit,collected_at\n"
        "zulu,2132-9,150,pg/mL,1998-10-03T00:00:00Z\n"
        "plus,2132-9,150,pg/mL,2024-03-01T08:15:00+01:00\n"
        "minus,2132-9,150,pg/mL,2024-03-01T23:30:00-0500\n"
        "hours,2132-9,150,pg/mL,2024-03-01T08:15+01\n"
        "nanos,2132-9,150,pg/mL,2024-03-01 08:15:00.123456789\n"
        "space,2132-9,150,pg/mL,2024-03-01 08:15\n"
        "dayzone,2132-9,150,pg/mL,2024-03-01Z\n"
        "badzone,2132-9,150,pg/mL,2024-03-01T08:15:00+25:00\n"
    )
    db = run_stages(folder, LENIENT, tmp_path / "work")
    # The offset is dropped, not applied: 23:30 at -05:00 stays on 1 March.
    assert query(
        db, "select patient_id, collected_at::varchar from lab_results order by source_line"
    ) == [
        ("zulu", "1998-10-03 00:00:00"),
        ("plus", "2024-03-01 08:15:00"),
        ("minus", "2024-03-01 23:30:00"),
        ("hours", "2024-03-01 08:15:00"),
        ("nanos", "2024-03-01 08:15:00.123456"),
        ("space", "2024-03-01 08:15:00"),
    ]
    # An offset only ever follows a time of day, and an hour is at most 23.
    assert query(db, "select source_line, check_name from quarantine order by 1") == [
        (8, "iso_date"),
        (9, "iso_date"),
    ]


def test_a_medication_needs_a_code_or_a_name(tmp_path):
    meds = """
        patient_id | drug_code | drug_name | event_type   | event_at
        -----------+-----------+-----------+--------------+-----------
        p1         | 310410    |           | administered | 2024-03-01
        p2         |           |           | administered | 2024-03-01
    """
    folder = write_extract(tmp_path / "in", LABS, meds)
    db = run_stages(folder, LENIENT, tmp_path / "work")
    assert query(db, "select source_line, column_name, check_name from quarantine") == [
        (3, "drug_name", "drug_code_or_name")
    ]


def test_parquet_files_are_read_in_place_with_their_row_numbers(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").unlink()
    table = pa.table(
        {
            "patient_id": ["p1", "p2", None],
            "test_code": ["2132-9"] * 3,
            "result": ["150", "400", "150"],
            "unit": ["pg/mL"] * 3,
            "collected_at": [dt.date(2024, 3, 1)] * 3,  # typed dates are read as ISO text
        }
    )
    pq.write_table(table, folder / "lab_results.parquet")
    db = run_stages(folder, LENIENT, tmp_path / "work")
    assert query(db, "select patient_id from findings where finding = 'b12_deficient'") == [("p1",)]
    assert query(db, "select source_file, source_line, check_name from quarantine") == [
        ("lab_results.parquet", 3, "not_nullable")
    ]


def test_typed_parquet_timestamps_are_read_as_iso_times_in_utc(tmp_path):
    folder = extract(tmp_path)
    (folder / "lab_results.csv").unlink()
    # 08:00 UTC, stored with a +02:00 zone (10:00 local).
    utc = pa.array([dt.datetime(2024, 3, 1, 8, 0)] * 2, pa.timestamp("us", tz="UTC"))
    zoned = utc.cast(pa.timestamp("us", tz="+02:00"))
    table = pa.table(
        {
            "patient_id": ["p1", "p2"],
            "test_code": ["2132-9"] * 2,
            "result": ["150", "150"],
            "unit": ["pg/mL"] * 2,
            "collected_at": zoned,
            "resulted_at": pa.array(
                [dt.datetime(2024, 3, 2, 9, 30, 0, 123456), None], pa.timestamp("ns")
            ),
        }
    )
    pq.write_table(table, folder / "lab_results.parquet")
    db = run_stages(folder, LENIENT, tmp_path / "work")
    assert query(
        db,
        "select collected_at::varchar, resulted_at::varchar, collected_has_time "
        "from lab_results order by patient_id",
    ) == [
        ("2024-03-01 08:00:00", "2024-03-02 09:30:00.123456", True),
        ("2024-03-01 08:00:00", None, True),
    ]


def test_extra_columns_are_accepted_and_ignored(tmp_path):
    folder = extract(tmp_path)
    text = (folder / "lab_results.csv").read_text().splitlines()
    rows = [text[0] + ",ward"] + [line + ",4B" for line in text[1:]]
    (folder / "lab_results.csv").write_text("\n".join(rows) + "\n")
    db = run_stages(folder, LENIENT, tmp_path / "work")
    assert query(db, "select count(*) from lab_results") == [(1,)]


def test_a_file_mostly_bad_stops_early_and_still_reports_its_quarantine(tmp_path):
    folder = extract(tmp_path)
    rows = "".join(f"p{i},2132-9,150,pg/mL,01/03/2024\n" for i in range(5000))
    header = "patient_id,test_code,result,unit,collected_at\n"
    (folder / "lab_results.csv").write_text(header + rows)
    config = AuditConfig(max_quarantine_fraction=0.05, batch_rows=1000)
    message = stop_message(folder, tmp_path, config)
    assert message.startswith("lab_results.csv: ")
    assert "more than max_quarantine_fraction" in message
    summary = quarantine_summary(tmp_path).read_text()
    assert "iso_date" in summary


def test_duckdb_messages_shown_to_users_carry_no_values():
    import duckdb

    from transforms.inputs.ingest import first_line

    error = duckdb.ConversionException(
        "Conversion Error: Could not convert string 'S001' to INT64\nLINE 1: select 'S001'"
    )
    assert first_line(error) == "Conversion Error: Could not convert string '...' to INT64"
    csv_error = duckdb.InvalidInputException("Invalid Input Error: bad value Input: S001,2024")
    assert first_line(csv_error) == "Invalid Input Error: bad value"
