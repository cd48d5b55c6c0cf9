"""Site CSV format: a site's own exports plus mapping.toml (transforms/inputs/adapters/site.py).

Each test writes a tiny site folder: files in the site's own dialect and a mapping, then
reads what the staging views make of them, or what validation quarantines, or the error
that stops the run.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import query
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.inputs import ingest
from transforms.inputs.adapters import detect, site
from transforms.operations import stages

LABS = """\
PAT;CODE;RES;UNITS;TAKEN
P1;B12S;187;pg/mL;01/05/2024 08:30:15
P2;2132-9;12,5;ng/mL;02/05/2024
"""
MEDS = """\
PAT;DRUG;WHAT;WHEN;DOSE
P1;HYDROXOCOB 1MG/ML INJ;Given;03/05/2024 09:00:00;1,5
"""
MAPPING = """\
[lab_results]
file = "labs.csv"
delimiter = ";"
decimal = ","
date_format = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y"]
[lab_results.columns]
patient_id = "PAT"
test_code = "CODE"
result = "RES"
unit = "UNITS"
collected_at = "TAKEN"

[medications]
file = "meds.csv"
delimiter = ";"
decimal = ","
date_format = "%d/%m/%Y %H:%M:%S"
[medications.columns]
patient_id = "PAT"
drug_name = "DRUG"
event_type = "WHAT"
event_at = "WHEN"
dose = "DOSE"
[medications.values.event_type]
"GIVEN" = "administered"
"""


def site_folder(
    tmp_path: Path,
    mapping: str = MAPPING,
    labs: str = LABS,
    meds: str = MEDS,
    labs_encoding: str = "utf-8",
) -> Path:
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    (folder / "mapping.toml").write_text(mapping, encoding="utf-8")
    (folder / "labs.csv").write_bytes(labs.encode(labs_encoding))
    (folder / "meds.csv").write_text(meds, encoding="utf-8")
    return folder


def staged(folder: Path, table: str = "lab_results", columns: str = "*") -> list[tuple]:
    """The rows of the table's staging view, in file order."""
    con = duckdb.connect()
    ingest.create_staging(con)
    sources = site.stage(con, folder)
    index = next(s.index for s in sources if s.table == table)
    view = ingest.file_view(table, index)
    return con.execute(f"select {columns} from {view} order by source_row").fetchall()


def quarantined(folder: Path, tmp_path: Path) -> tuple[list[tuple], list[dict]]:
    """(quarantine rows (file, line, column, check, value), per-file facts) after validation."""
    db = tmp_path / "work" / "build.duckdb"
    database.create_build_database(db)
    files = stages.ingest(db, folder)
    stages.validate(db, AuditConfig(max_quarantine_fraction=1), files, tmp_path / "work")
    rows = query(
        db,
        "select source_file, source_line, column_name, check_name, value from quarantine "
        "order by source_file, source_line",
    )
    return rows, files


def stops(folder: Path, *fragments: str) -> None:
    with pytest.raises(InputError) as error:
        staged(folder)
    for fragment in fragments:
        assert fragment in str(error.value)


def with_mapping(tmp_path: Path, old: str, new: str) -> Path:
    assert old in MAPPING
    return site_folder(tmp_path, MAPPING.replace(old, new, 1))


# --- Detecting the format ------------------------------------------------------------------


def test_a_folder_with_mapping_toml_is_the_site_format(tmp_path):
    assert detect(site_folder(tmp_path)) == "site"
    (tmp_path / "site" / "mapping.toml").unlink()
    assert not site.detect(tmp_path / "site")


# --- Mapping the site's text onto canonical text ---------------------------------------------


def test_columns_are_renamed_and_dates_become_iso_keeping_date_only_values_date_only(tmp_path):
    rows = staged(
        site_folder(tmp_path), columns="patient_id, test_code, unit, collected_at, source_row"
    )
    assert rows == [
        ("P1", "B12S", "pg/mL", "2024-05-01T08:30:15", 1),
        ("P2", "2132-9", "ng/mL", "2024-05-02", 2),
    ]


def test_unmapped_canonical_columns_are_null(tmp_path):
    assert staged(site_folder(tmp_path), columns="test_name, resulted_at, site") == [
        (None, None, None),
        (None, None, None),
    ]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("12,5", "12.5"),
        ("<150,5", "<150.5"),
        (">= 2000", ">= 2000"),
        (" 212 ", " 212 "),
        ("0.25", "0,25"),  # a point in a decimal-comma file is not a decimal: invalid result
        ("1.000", "1,000"),  # a thousands point must never read as the number 1
        ("hemolyzed", "hemolyzed"),
        ("1,2,3", "1,2,3"),
        ("", None),
    ],
)
def test_a_decimal_comma_changes_only_values_shaped_like_numbers(tmp_path, written, read):
    labs = f"PAT;CODE;RES;UNITS;TAKEN\nP1;B12S;{written};pg/mL;01/05/2024\n"
    assert staged(site_folder(tmp_path, labs=labs), columns="result") == [(read,)]


def test_a_decimal_point_mapping_leaves_results_as_written(tmp_path):
    folder = with_mapping(tmp_path, 'decimal = ","', 'decimal = "."')
    assert staged(folder, columns="result") == [("187",), ("12,5",)]


def test_medication_values_are_mapped_in_any_case_and_doses_get_a_decimal_point(tmp_path):
    rows = staged(site_folder(tmp_path), "medications", "event_type, event_at, dose, drug_name")
    assert rows == [("administered", "2024-05-03T09:00:00", "1.5", "HYDROXOCOB 1MG/ML INJ")]


def test_a_value_the_values_map_does_not_list_passes_as_written(tmp_path):
    mapping = MAPPING.replace(
        "[medications]", '[lab_results.values.unit]\n"PG/ML" = "pg/mL"\n\n[medications]'
    )
    labs = LABS.replace("pg/mL", "PG/ML").replace("ng/mL", "ng/ml ")
    assert staged(site_folder(tmp_path, mapping, labs), columns="unit") == [
        ("pg/mL",),
        ("ng/ml ",),
    ]


def test_an_event_type_neither_canonical_nor_mapped_is_quarantined_with_its_value(tmp_path):
    """ "Given" is mapped; " ADMINISTERED " is canonical in any case; the site's own
    "Refused" is neither, and loaded as is it would never count as a dose."""
    meds = (
        "PAT;DRUG;WHAT;WHEN;DOSE\n"
        "P1;HYDROXOCOB;Given;03/05/2024 09:00:00;1\n"
        "P2;HYDROXOCOB;Refused;03/05/2024 09:00:00;1\n"
        "P3;HYDROXOCOB; ADMINISTERED ;03/05/2024 09:00:00;1\n"
        "P4;HYDROXOCOB;;03/05/2024 09:00:00;1\n"
    )
    folder = site_folder(tmp_path, meds=meds)
    assert staged(folder, "medications", "patient_id, event_type, source_row") == [
        ("P1", "administered", 1),
        ("P3", " ADMINISTERED ", 3),
        ("P4", None, 4),  # blank: the schema's own check quarantines it
    ]
    rows, files = quarantined(folder, tmp_path)
    assert [r for r in rows if r[0] == "meds.csv"] == [
        ("meds.csv", 3, "event_type", "event_type_unknown", "Refused"),
        ("meds.csv", 5, "event_type", "not_nullable", None),
    ]
    assert next(f["rows_read"] for f in files if f["table"] == "medications") == 4


def test_date_formats_are_tried_in_order_and_fractions_of_a_second_are_kept(tmp_path):
    mapping = MAPPING.replace(
        '["%d/%m/%Y %H:%M:%S", "%d/%m/%Y"]', '["%d/%m/%Y %H:%M:%S.%f", "%d/%m/%Y %H:%M"]'
    )
    labs = (
        "PAT;CODE;RES;UNITS;TAKEN\n"
        "P1;B12S;1;pg/mL;01/05/2024 08:30:15.25\n"
        "P2;B12S;1;pg/mL;01/05/2024 08:30\n"
    )
    rows = staged(site_folder(tmp_path, mapping, labs=labs), columns="collected_at")
    assert rows == [("2024-05-01T08:30:15.250000",), ("2024-05-01T08:30:00",)]


def test_a_date_matching_no_format_is_quarantined_with_its_own_text(tmp_path):
    labs = LABS + "P3;B12S;150;pg/mL;2024/05/31\nP4;B12S;150;pg/mL;30/02/2024\n"
    rows, _ = quarantined(site_folder(tmp_path, labs=labs), tmp_path)
    assert rows == [
        ("labs.csv", 4, "collected_at", "iso_date", "2024/05/31"),
        ("labs.csv", 5, "collected_at", "iso_date", "30/02/2024"),
    ]


def test_a_date_already_in_iso_form_is_accepted_since_it_cannot_be_misread(tmp_path):
    labs = LABS.replace("02/05/2024", "2024-05-02T07:00")
    assert staged(site_folder(tmp_path, labs=labs), columns="collected_at")[1] == (
        "2024-05-02T07:00",
    )


def test_a_blank_date_stays_blank_for_the_schema_to_judge(tmp_path):
    labs = LABS.replace("02/05/2024", "  ")
    assert staged(site_folder(tmp_path, labs=labs), columns="collected_at")[1] == ("  ",)


def test_constants_fill_a_canonical_column_the_file_does_not_hold(tmp_path):
    mapping = MAPPING.replace(
        "[medications]", '[lab_results.constants]\nsite = "north"\n\n[medications]'
    )
    assert staged(site_folder(tmp_path, mapping), columns="site") == [("north",), ("north",)]


def test_test_codes_and_drug_classes_are_handed_to_harmonise(tmp_path):
    mapping = MAPPING + '[test_codes]\n"B12S" = "2132-9"\n[drug_classes]\n'
    mapping += '"HYDROXOCOB 1MG/ML INJ" = "b12_treatment"\n'
    con = duckdb.connect()
    ingest.create_staging(con)
    site.stage(con, site_folder(tmp_path, mapping))
    assert con.execute("select * from staging.source_test_codes").fetchall() == [("B12S", "2132-9")]
    assert con.execute("select * from staging.source_drug_classes").fetchall() == [
        ("HYDROXOCOB 1MG/ML INJ", "b12_treatment", "before_names")
    ]


def test_a_mapped_local_code_and_drug_class_reach_the_findings(tmp_path):
    """B12S is the site's code for serum B12; the drug has no name the patterns know."""
    mapping = (
        MAPPING + '[test_codes]\n"B12S" = "2132-9"\n[drug_classes]\n"ZZ-42" = "b12_treatment"\n'
    )
    labs = "PAT;CODE;RES;UNITS;TAKEN\nP1;B12S;120;pg/mL;01/05/2024 08:30:00\n"
    meds = "PAT;DRUG;WHAT;WHEN;DOSE\nP1;ZZ-42;GIVEN;03/05/2024 09:00:00;1\n"
    folder = site_folder(tmp_path, mapping, labs=labs, meds=meds)
    db = tmp_path / "work" / "build.duckdb"
    database.create_build_database(db)
    config = AuditConfig()
    stages.validate(db, config, stages.ingest(db, folder), tmp_path / "work")
    stages.harmonise(db, config)
    stages.tag(db, config)
    assert query(db, "select patient_id, finding from findings") == [("P1", "b12_deficient")]
    assert query(db, "select drug_class, matched_by from medication_classes") == [
        ("b12_treatment", "source map")
    ]


# --- Encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le"])
def test_a_byte_order_mark_does_not_hide_the_first_column_name(tmp_path, encoding):
    mapping = MAPPING.replace('file = "labs.csv"', 'file = "labs.csv"\nencoding = "utf-16"')
    if encoding == "utf-8-sig":
        mapping = MAPPING.replace('file = "labs.csv"', 'file = "labs.csv"\nencoding = "utf-8-sig"')
    folder = site_folder(tmp_path, mapping, labs_encoding=encoding)
    assert staged(folder, columns="patient_id, result") == [("P1", "187"), ("P2", "12.5")]


def test_latin_1_text_is_read_as_latin_1(tmp_path):
    mapping = MAPPING.replace('file = "labs.csv"', 'file = "labs.csv"\nencoding = "latin-1"')
    mapping = mapping.replace('unit = "UNITS"', 'unit = "UNITÉ"')
    labs = LABS.replace("UNITS", "UNITÉ").replace("ng/mL", "µg/L")
    folder = site_folder(tmp_path, mapping, labs=labs, labs_encoding="latin-1")
    assert staged(folder, columns="unit") == [("pg/mL",), ("µg/L",)]


def test_windows_1252_is_refused_with_a_pointer_to_latin_1(tmp_path):
    folder = with_mapping(tmp_path, 'file = "labs.csv"', 'file = "labs.csv"\nencoding = "cp1252"')
    stops(folder, "[lab_results] encoding 'cp1252' is not available", "'latin-1'")


def test_a_byte_order_mark_contradicting_the_mapping_stops_the_run(tmp_path):
    stops(
        site_folder(tmp_path, labs_encoding="utf-16"),
        "labs.csv: starts with a utf-16 byte order mark",
        "set encoding = 'utf-16'",
    )


def test_utf_16_big_endian_is_refused_rather_than_read_as_no_rows(tmp_path):
    mapping = MAPPING.replace('file = "labs.csv"', 'file = "labs.csv"\nencoding = "utf-16"')
    folder = site_folder(tmp_path, mapping, labs="\ufeff" + LABS, labs_encoding="utf-16-be")
    stops(folder, "utf-16 big-endian byte order mark", "re-save it")


def test_a_header_that_is_not_the_mapped_encoding_stops_the_run(tmp_path):
    folder = site_folder(tmp_path, labs=LABS.replace("UNITS", "UNITÉ"), labs_encoding="latin-1")
    stops(folder, "labs.csv: line 1 is not utf-8 text", "encoding")


# --- Lines: every row is counted, and quarantined at its real line ---------------------------

# Windows line ends; empty lines 3 and 6; line 4 has too many fields; line 5 a bad date.
RAGGED = (
    "PAT;CODE;RES;UNITS;TAKEN\r\n"
    "P1;B12S;187;pg/mL;01/05/2024\r\n"
    "\r\n"
    "P2;B12S;1;2;3;4\r\n"
    "P3;B12S;150;pg/mL;31-12-2024\r\n"
    "\r\n"
    "P4;B12S;150;pg/mL;01/05/2024\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-16"])
def test_quarantine_lines_are_the_site_files_own_lines(tmp_path, encoding):
    mapping = MAPPING.replace('file = "labs.csv"', f'file = "labs.csv"\nencoding = "{encoding}"')
    folder = site_folder(tmp_path, mapping, labs=RAGGED, labs_encoding=encoding)
    rows, files = quarantined(folder, tmp_path)
    assert [r[:4] for r in rows] == [
        ("labs.csv", 4, "(whole row)", "csv_too_many_columns"),
        ("labs.csv", 5, "collected_at", "iso_date"),
    ]
    assert rows[1][4] == "31-12-2024"
    labs = next(f for f in files if f["table"] == "lab_results")
    assert labs["rows_read"] == 4  # 2 loaded + 2 quarantined; empty lines are not rows
    assert [(f["file"], f["table"], f["rows_read"]) for f in files if f["table"] == "mapping"] == [
        ("mapping.toml", "mapping", 0)
    ]


# --- Mistakes in the mapping stop the run, naming the key --------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('delimiter = ";"', 'delimeter = ";"', "[lab_results] unknown key 'delimeter'"),
        ("[lab_results.columns]", "[lab_results.colums]", "[lab_results] unknown key 'colums'"),
        ("[medications]", "[medication]", "unknown key 'medication'"),
        ('test_code = "CODE"', 'test_kode = "CODE"', "[lab_results.columns] 'test_kode' is not"),
        ('test_code = "CODE"', "", "maps no file column to required column 'test_code'"),
        ('delimiter = ";"', 'delimiter = ";;"', "[lab_results] delimiter ';;' must be one"),
        ('decimal = ","', 'decimal = ";"', "[lab_results] decimal = ';': must be one of"),
        ('file = "labs.csv"', 'file = "LABS.csv"', "[lab_results] file = 'LABS.csv': no such"),
        ('file = "labs.csv"', 'file = "*.csv"', "file = '*.csv': matches 2 files"),
        ('file = "labs.csv"', 'file = "../labs.csv"', "must name a file inside the input"),
        ('file = "labs.csv"', 'encoding = "ebcdic"', "has no 'file' key"),
        ('delimiter = ";"', 'encoding = "ebcdic"', "encoding 'ebcdic' is not supported"),
        ('unit = "UNITS"', 'unit = "UNIT"', "unit = 'UNIT': labs.csv has no column 'UNIT'"),
        ('unit = "UNITS"', 'unit = "Units"', "has no column 'Units' in line 1; it has 'UNITS'"),
        ('"GIVEN" = "administered"', '"GIVEN" = "admin"', "'GIVEN' = 'admin': not one of"),
        ("date_format = [", "date_format = [1, ", "date_format must be text or a list"),
        ('"%d/%m/%Y"]', '"%m/%Y"]', "date_format '%m/%Y' has no day"),
        ('"%d/%m/%Y"]', '"%d/%m/%Y %Q"]', "date_format '%d/%m/%Y %Q': "),
        ('"%d/%m/%Y"]', '"%d/%m/%Y %z"]', "time zones (%z, %Z) are not supported"),
        ('patient_id = "PAT"', "patient_id = 7", "[lab_results.columns] 'patient_id' must be"),
        ("[medications.values.event_type]", "[medications.values.route]", "[medications.values"),
        ("[lab_results]\n", "[lab_results]\nfile = 'x'\n", "not valid TOML"),
    ],
)
def test_a_mistake_in_the_mapping_stops_the_run_naming_the_key(tmp_path, old, new, message):
    stops(with_mapping(tmp_path, old, new), message)


def test_a_missing_required_section_stops_the_run(tmp_path):
    stops(site_folder(tmp_path, MAPPING.split("[medications]")[0]), "no [medications] section")


def test_an_unknown_drug_class_or_a_test_code_that_is_no_loinc_stops_the_run(tmp_path):
    folder = site_folder(tmp_path, MAPPING + '[drug_classes]\n"X" = "b12"\n')
    stops(folder, "[drug_classes] 'X' = 'b12' is not a drug class")
    folder = site_folder(tmp_path, MAPPING + '[test_codes]\n"B12S" = "B12"\n')
    stops(folder, "[test_codes] 'B12S' = 'B12' is not a LOINC")


def test_a_file_split_by_another_delimiter_gets_a_hint_and_no_data_in_the_message(tmp_path):
    folder = site_folder(tmp_path, labs=LABS.replace(";", ","))
    with pytest.raises(InputError) as error:
        staged(folder)
    assert "line 1 has one column: is delimiter ';' right?" in str(error.value)
    assert not re.search(r"P1|187", str(error.value))


def test_an_empty_file_stops_the_run(tmp_path):
    stops(site_folder(tmp_path, labs=""), "labs.csv: line 1 is empty")


def test_a_column_named_twice_may_be_present_but_not_mapped(tmp_path):
    labs = "PAT;CODE;RES;UNITS;TAKEN;NOTE;NOTE;\nP1;B12S;187;pg/mL;01/05/2024;a;b;\n"
    assert staged(site_folder(tmp_path, labs=labs), columns="result") == [("187",)]
    mapping = MAPPING.replace('unit = "UNITS"', 'unit = "UNITS"\ntest_name = "NOTE"')
    stops(site_folder(tmp_path, mapping, labs=labs), "test_name = 'NOTE': labs.csv has 2 columns")


def test_column_names_equal_in_any_case_are_read_apart_unless_mapped(tmp_path):
    """DuckDB reads column names in any case: Note and NOTE would be one name to it."""
    labs = "PAT;CODE;RES;UNITS;TAKEN;Note;NOTE;note#7\nP1;B12S;187;pg/mL;01/05/2024;a;b;c\n"
    assert staged(site_folder(tmp_path, labs=labs), columns="result") == [("187",)]
    mapping = MAPPING.replace('unit = "UNITS"', 'unit = "UNITS"\ntest_name = "Note"')
    stops(
        site_folder(tmp_path, mapping, labs=labs),
        "test_name = 'Note': labs.csv has 2 columns named so in line 1 ('Note', 'NOTE';",
    )


# --- Keys that match the same values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            '[test_codes]\n" B12S " = "2132-9"\n"B12S" = "14685-3"\n',
            "[test_codes] ' B12S ' and 'B12S' are the same key (keys are matched trimmed)",
        ),
        (
            '[drug_classes]\n"Hydroxocobalamin" = "b12_treatment"\n"HYDROXOCOBALAMIN " = "other"\n',
            "[drug_classes] 'Hydroxocobalamin' and 'HYDROXOCOBALAMIN ' are the same key",
        ),
        (
            '"given" = "administered"\n',
            "[medications.values.event_type] 'GIVEN' and 'given' are the same key",
        ),
    ],
)
def test_two_keys_equal_as_they_are_matched_stop_the_run(tmp_path, section, message):
    stops(site_folder(tmp_path, MAPPING + section), message)


def test_test_codes_are_matched_in_their_case_so_codes_differing_in_case_are_two_keys(tmp_path):
    mapping = MAPPING + '[test_codes]\n"B12S" = "2132-9"\n"b12s" = "14685-3"\n'
    con = duckdb.connect()
    ingest.create_staging(con)
    site.stage(con, site_folder(tmp_path, mapping))
    assert con.execute("select * from staging.source_test_codes").fetchall() == [
        ("B12S", "2132-9"),
        ("b12s", "14685-3"),
    ]


def test_a_constant_event_type_must_be_canonical(tmp_path):
    mapping = MAPPING.replace('event_type = "WHAT"\n', "").replace(
        '[medications.values.event_type]\n"GIVEN" = "administered"\n',
        '[medications.constants]\nevent_type = "GIVEN"\n',
    )
    stops(site_folder(tmp_path, mapping), "[medications.constants] 'event_type' = 'GIVEN': not one")


def test_checking_a_date_format_leaves_the_default_duckdb_connection_free():
    # A result left open on DuckDB's default connection fails the process's next use of it.
    from transforms.inputs.adapters.site_mapping import _date_format

    _date_format("%d/%m/%Y %H:%M", "lab_results.collected_at")
    assert duckdb.sql("select 42").fetchall() == [(42,)]
