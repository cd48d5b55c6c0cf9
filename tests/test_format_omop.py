"""The OMOP CDM v5.4 adapter: each mapping rule on small OMOP tables, the malformed cases,
and the real Synthea27Nj extract.

Tables are written as CSV (or Parquet) from rows given in the test; the stages run
without Prefect. Concept ids not in clinical reference 1.4 are made up for the tests.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import importlib.util
import shutil
import zipfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import spark_check
from tests.conftest import query
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.inputs import adapters
from transforms.inputs.adapters import omop_tables, omop_vocabulary
from transforms.operations import manifest, stages
from transforms.sqlfiles import sql_text

WRITER = Path(__file__).resolve().parents[1] / "data" / "sample" / "writers" / "omop.py"
SYNTHEA = Path(__file__).resolve().parents[2] / "shared" / "data" / "omop-synthea27nj"


def omop_rows(columns: str, *rows: tuple) -> list[dict[str, str]]:
    """Rows of an OMOP table: column names separated by spaces, then one tuple per row."""
    names = columns.split()
    return [dict(zip(names, map(str, row), strict=True)) for row in rows]


PERSON = omop_rows(
    "person_id gender_concept_id year_of_birth month_of_birth day_of_birth  "
    "birth_datetime care_site_id gender_source_value",
    (1, 8507, 1950, 3, 11, "", 10, "M"),
    (2, 8532, 1960, "", "", "", "", "F"),
    (3, 0, 1970, 5, "", "1970-05-20 00:00:00", 99, "female"),
)
CARE_SITE = omop_rows(
    "care_site_id care_site_name care_site_source_value",
    (10, "North Hospital", "N1"),
    (99, "", "S9"),
)
MEASUREMENT = omop_rows(
    "measurement_id person_id measurement_concept_id measurement_date  "
    "measurement_datetime operator_concept_id value_as_number unit_concept_id  "
    "unit_source_value measurement_source_value value_source_value",
    (1, 1, 3000593, "2024-05-01", "2024-05-01 08:30:00", 4171756, 150, 8845, "", "B12", "<150"),
    (2, 1, 3000593, "2024-05-02", "2024-05-02 00:00:00", 4171754, "180.0", "", "ng/L", "", ""),
    (3, 2, 3000593, "2024-05-03", "", 4172703, 200, "", "pg/mL", "", ""),
    (4, 2, 3000593, "2024-05-04", "", 4171755, 350, "", "pg/mL", "", ""),
    (5, 2, 3000593, "2024-05-05", "", 4172704, 2000, "", "pg/mL", "", ""),
    (6, 2, 3000593, "2024-05-06", "", 0, "", "", "pg/mL", "", "hemolyzed"),
    (7, 3, 0, "2024-05-07", "", "", 12, "", "g/dL", "HGB-LOCAL", ""),
    (8, 3, 123, "2024-05-08", "", "", 1, "", "", "", ""),
    (9, 3, 3000593, "31/12/2024", "", "", 300, "", "pg/mL", "", ""),
)
CONCEPT = omop_rows(
    "concept_id concept_name domain_id vocabulary_id concept_code",
    (3000593, "Cobalamin [Mass/volume] in Serum", "Measurement", "LOINC", "2132-9"),
    (8845, "picogram per milliliter", "Unit", "UCUM", "pg/mL"),
    (900001, "vitamin B12 1 MG/ML Injectable Solution", "Drug", "RxNorm", 309594),
    (900002, "Nascobal 500 MCG/ACTUAT Nasal Spray", "Drug", "RxNorm", 900002),
    (900003, "Intramuscular route", "Route", "SNOMED", 78421000),
    (900004, "Pernicious anemia", "Condition", "SNOMED", 84027009),
    (900005, "Pernicious anemia", "Condition", "ICD10CM", "D51.0"),
    (900006, "Polyneuropathy NOS", "Condition", "Read", "F37z."),
)


def write_table(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def header_only(path: Path, columns: str) -> None:
    path.write_text(columns + "\n", encoding="utf-8")


def extract(folder: Path, **tables: list[dict[str, str]]) -> Path:
    """An OMOP folder: the given tables (file name -> rows), with an empty
    drug_exposure and measurement unless given."""
    folder.mkdir(parents=True, exist_ok=True)
    header_only(
        folder / "DRUG_EXPOSURE.csv",
        "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,drug_type_concept_id",
    )
    header_only(
        folder / "MEASUREMENT.csv",
        "measurement_id,person_id,measurement_concept_id,measurement_date",
    )
    for name, text in tables.items():
        for same in [p for p in folder.iterdir() if p.name.lower() == name.lower()]:
            same.unlink()
        write_table(folder / name, text)
    return folder


def load(folder: Path, tmp_path: Path, harmonise: bool = False) -> Path:
    """Ingest and validate (and harmonise); with B12AUDIT_SPARK_CROSSCHECK=1 the Spark
    engine must load the same rows, or stop with the same message (tests/spark_check.py)."""
    work = tmp_path / f"work_{folder.name}"
    work.mkdir()
    db = work / "build.duckdb"
    database.create_build_database(db)
    spark_check.loaded(folder, AuditConfig(max_quarantine_fraction=1.0), db, "omop")
    if harmonise:
        stages.harmonise(db, AuditConfig())
    return db


def test_detects_an_omop_folder_by_its_person_measurement_or_drug_exposure_file(tmp_path):
    folder = extract(tmp_path / "x")
    assert adapters.detect(folder) == "omop"
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "concept.csv").write_text("concept_id\n")
    assert not adapters.ADAPTERS["omop"].detect(tmp_path / "y")


def test_labs_map_loinc_operators_units_and_dates(tmp_path):
    folder = extract(tmp_path / "x", **{"measurement.csv": MEASUREMENT, "CONCEPT.csv": CONCEPT})
    rows = query(
        load(folder, tmp_path),
        "select source_line, test_code, test_name, result, unit, collected_at::varchar, "
        "collected_has_time from lab_results order by source_line",
    )
    assert rows == [
        (
            2,
            "2132-9",
            "Cobalamin [Mass/volume] in Serum",
            "<150",
            "pg/mL",
            "2024-05-01 08:30:00",
            True,
        ),
        (
            3,
            "2132-9",
            "Cobalamin [Mass/volume] in Serum",
            "<=180.0",
            "ng/L",
            "2024-05-02 00:00:00",
            False,
        ),
        (
            4,
            "2132-9",
            "Cobalamin [Mass/volume] in Serum",
            "200",
            "pg/mL",
            "2024-05-03 00:00:00",
            False,
        ),
        (
            5,
            "2132-9",
            "Cobalamin [Mass/volume] in Serum",
            ">=350",
            "pg/mL",
            "2024-05-04 00:00:00",
            False,
        ),
        (
            6,
            "2132-9",
            "Cobalamin [Mass/volume] in Serum",
            ">2000",
            "pg/mL",
            "2024-05-05 00:00:00",
            False,
        ),
        (
            7,
            "2132-9",
            "Cobalamin [Mass/volume] in Serum",
            "hemolyzed",
            "pg/mL",
            "2024-05-06 00:00:00",
            False,
        ),
        (8, "HGB-LOCAL", "HGB-LOCAL", "12", "g/dL", "2024-05-07 00:00:00", False),
        (9, "OMOP:123", None, "1", None, "2024-05-08 00:00:00", False),
    ]


def test_a_malformed_date_is_quarantined_with_its_line_and_text(tmp_path):
    folder = extract(tmp_path / "x", **{"measurement.csv": MEASUREMENT})
    rows = query(load(folder, tmp_path), "select source_line, column_name, value from quarantine")
    assert rows == [(10, "collected_at", "31/12/2024")]


def test_datetimes_with_a_time_zone_as_eunomia_writes_them_load(tmp_path):
    measurement = omop_rows(
        "measurement_id person_id measurement_concept_id measurement_date "
        "measurement_datetime value_as_number unit_source_value",
        (1, 1, 3000593, "1998-10-03", "1998-10-03T00:00:00Z", 150, "pg/mL"),
        (2, 1, 3000593, "1998-10-04", "1998-10-04T08:30:00+01:00", 160, "pg/mL"),
        (3, 1, 3000593, "1998-10-05", "1998-10-05T23:30:00.000-05:00", 170, "pg/mL"),
    )
    drugs = omop_rows(
        "drug_exposure_id person_id drug_concept_id drug_exposure_start_date "
        "drug_exposure_start_datetime drug_type_concept_id drug_source_value",
        (1, 1, 0, "1998-10-06", "1998-10-06T00:00:00Z", 38000177, "folic acid 5 mg tablet"),
    )
    conditions = omop_rows(
        "condition_occurrence_id person_id condition_concept_id condition_start_date "
        "condition_start_datetime condition_source_value",
        (1, 1, 0, "1998-10-07", "1998-10-07T00:00:00Z", "D51.0"),
    )
    tables = {"MEASUREMENT.csv": measurement, "DRUG_EXPOSURE.csv": drugs}
    db = load(
        extract(tmp_path / "x", **tables, **{"CONDITION_OCCURRENCE.csv": conditions}), tmp_path
    )
    assert query(db, "select count(*) from quarantine") == [(0,)]
    # Midnight, with or without a zone, is how ETLs fill a datetime they lack: the date.
    assert query(
        db, "select collected_at::varchar, collected_has_time from lab_results order by 1"
    ) == [
        ("1998-10-03 00:00:00", False),
        ("1998-10-04 08:30:00", True),
        ("1998-10-05 23:30:00", True),  # the local time written: still 5 October
    ]
    assert query(db, "select event_at::varchar from medications") == [("1998-10-06 00:00:00",)]
    assert query(db, "select recorded_at::varchar from diagnoses") == [("1998-10-07 00:00:00",)]


def test_without_a_vocabulary_the_standard_concept_ids_map_to_loinc(tmp_path):
    folder = extract(tmp_path / "x", **{"measurement.csv": MEASUREMENT})
    rows = query(
        load(folder, tmp_path),
        "select source_line, test_code, unit from lab_results where source_line in (2, 3)",
    )
    # 3000593 is LOINC 2132-9 by clinical reference 1.4; no UCUM concept: no unit for row 1.
    assert sorted(rows) == [(2, "2132-9", None), (3, "2132-9", "ng/L")]


def test_an_unknown_operator_is_quarantined_not_read_as_exact(tmp_path):
    labs = omop_rows(
        "measurement_id person_id measurement_concept_id measurement_date  "
        "operator_concept_id value_as_number unit_source_value",
        (1, 1, 3000593, "2024-05-01", 4171756, 150, "pg/mL"),
        (2, 1, 3000593, "2024-05-02", 555, 200, "pg/mL"),
        (3, 1, 3000593, "2024-05-03", 555, "", "pg/mL"),
    )
    db = load(extract(tmp_path / "x", **{"MEASUREMENT.csv": labs}), tmp_path)
    assert query(db, "select source_line, result from lab_results order by 1") == [
        (2, "<150"),
        (4, None),
    ]
    assert query(db, "select source_line, column_name, check_name, value from quarantine") == [
        (3, "operator_concept_id", "omop_operator_unknown", "555")
    ]


def test_an_operator_that_is_not_a_concept_id_is_quarantined_too(tmp_path):
    labs = omop_rows(
        "measurement_id person_id measurement_concept_id measurement_date  "
        "operator_concept_id value_as_number",
        (1, 1, 3000593, "2024-05-01", "less", 150),
        (2, 1, 3000593, "2024-05-02", 0, 200),
    )
    db = load(extract(tmp_path / "x", **{"MEASUREMENT.csv": labs}), tmp_path)
    assert query(db, "select source_line, result from lab_results") == [(3, "200")]
    assert query(db, "select source_line, check_name, value from quarantine") == [
        (2, "omop_operator_unknown", "less")
    ]


def test_rows_with_known_operators_are_not_searched_for_unknown_ones(tmp_path, monkeypatch):
    # The search for rejected rows is a second pass over the file, with a join: it runs
    # only when the column's distinct values hold an unknown operator.
    def second_pass(*args):
        raise AssertionError("searched a file without unknown operators")

    monkeypatch.setattr(omop_tables, "_reject_unknown_operators", second_pass)
    db = load(extract(tmp_path / "x", **{"measurement.csv": MEASUREMENT}), tmp_path)
    assert query(db, "select count(*) from lab_results") == [(8,)]


DRUGS = omop_rows(
    "drug_exposure_id person_id drug_concept_id drug_exposure_start_date  "
    "drug_exposure_start_datetime drug_type_concept_id route_concept_id  "
    "route_source_value quantity dose_unit_source_value drug_source_value",
    (1, 1, 900001, "2024-05-01", "2024-05-01 09:15:00", 32818, 900003, "", 1, "mg", 309594),
    (2, 1, 900002, "2024-05-02", "", 38000177, 0, "nasal", 30, "", ""),
    (3, 2, 0, "2024-05-03", "", 32869, 4302612, "", "", "", 310410),
    (4, 2, 0, "2024-05-04", "", 999, 0, "oral", "", "", "Folic acid 5 mg tab"),
)
ANCESTOR = omop_rows(
    "ancestor_concept_id descendant_concept_id min_levels_of_separation  max_levels_of_separation",
    (1308738, 900001, 1, 1),
    (1308738, 900002, 1, 1),
)


def test_drugs_map_code_name_event_route_dose_and_ingredient_class(tmp_path):
    folder = extract(
        tmp_path / "x",
        **{"drug_exposure.csv": DRUGS, "concept.csv": CONCEPT, "concept_ancestor.csv": ANCESTOR},
    )
    rows = query(
        load(folder, tmp_path, harmonise=True),
        "select m.source_line, m.drug_code, m.drug_name, m.event_type, m.event_at::varchar, "
        "m.dose, m.dose_unit, m.route, c.drug_class, c.matched_by, c.route_kind "
        "from medications as m join medication_classes as c using (row_id) order by 1",
    )
    assert rows == [
        (
            2,
            "309594",
            "vitamin B12 1 MG/ML Injectable Solution",
            "administered",
            "2024-05-01 09:15:00",
            "1",
            "mg",
            "intramuscular",
            "b12_treatment",
            "code",
            "parenteral",
        ),
        # Nascobal: no name pattern matches; the ingredient (concept_ancestor) classes it.
        (
            3,
            "900002",
            "Nascobal 500 MCG/ACTUAT Nasal Spray",
            "ordered",
            "2024-05-02 00:00:00",
            None,
            None,
            "nasal",
            "b12_treatment",
            "source map",
            "nasal",
        ),
        (
            4,
            "310410",
            "310410",
            "dispensed",
            "2024-05-03 00:00:00",
            None,
            None,
            "intramuscular",
            "folate_therapeutic",
            "code",
            "parenteral",
        ),
        (
            5,
            None,
            "Folic acid 5 mg tab",
            "other",
            "2024-05-04 00:00:00",
            None,
            None,
            "oral",
            "folate_therapeutic",
            "name",
            "oral",
        ),
    ]


CONDITIONS = omop_rows(
    "condition_occurrence_id person_id condition_concept_id condition_start_date  "
    "condition_start_datetime condition_source_value condition_source_concept_id",
    (1, 1, 900004, "2024-05-01", "2024-05-01 10:00:00", "D51.0", 900005),
    (2, 1, 900004, "2024-05-02", "", 84027009, 0),
    (3, 2, 0, "2024-05-03", "", "G62.9", 900006),
    (4, 2, 0, "2024-05-04", "", "G629", 0),
    (5, 2, 0, "2024-05-05", "", "281.0", 0),
    (6, 2, 0, "2024-05-06", "", 44054006, 0),
    (7, 2, 0, "2024-05-07", "", "pernicious", 0),
    (8, 2, 0, "2024-05-08", "", "E9502", 0),
)


def test_an_unmapped_drug_takes_the_drug_its_source_concept_maps_to(tmp_path):
    concept = CONCEPT + omop_rows(
        "concept_id concept_name domain_id vocabulary_id concept_code",
        (45000001, "Cyanocobalamin 1000 MCG/ML (NDC)", "Drug", "NDC", "00000-1111-22"),
    )
    relationship = omop_rows(
        "concept_id_1 concept_id_2 relationship_id",
        (45000001, 900001, "Maps to"),
        (900001, 45000001, "Mapped from"),
    )
    drugs = omop_rows(
        "drug_exposure_id person_id drug_concept_id drug_exposure_start_date "
        "drug_type_concept_id drug_source_concept_id drug_source_value",
        (1, 1, 0, "2024-05-01", 32818, 45000001, "B12 1mg amp"),
        (2, 1, 0, "2024-05-02", 32818, 0, "paracetamol 500 mg"),
    )
    tables = {"drug_exposure.csv": drugs, "concept.csv": concept}
    folder = extract(tmp_path / "x", **tables, **{"concept_relationship.csv": relationship})
    rows = query(
        load(folder, tmp_path, harmonise=True),
        "select m.drug_code, m.drug_name, c.drug_class from medications as m "
        "join medication_classes as c using (row_id) order by m.source_line",
    )
    assert rows == [
        ("309594", "vitamin B12 1 MG/ML Injectable Solution", "b12_treatment"),
        (None, "paracetamol 500 mg", "other"),
    ]


def test_diagnoses_take_the_source_concept_then_the_standard_then_the_source_value(tmp_path):
    folder = extract(
        tmp_path / "x", **{"CONDITION_OCCURRENCE.csv": CONDITIONS, "CONCEPT.csv": CONCEPT}
    )
    db = load(folder, tmp_path)
    rows = query(db, "select source_line, code, code_system, recorded_at::varchar from diagnoses")
    assert sorted(rows) == [
        (2, "D51.0", "ICD10CM", "2024-05-01 10:00:00"),
        (3, "84027009", "SNOMED", "2024-05-02 00:00:00"),
        (5, "G629", "ICD10CM", "2024-05-04 00:00:00"),
        (6, "281.0", "ICD9CM", "2024-05-05 00:00:00"),
        (7, "44054006", "SNOMED", "2024-05-06 00:00:00"),
        (9, "E9502", "ICD9CM", "2024-05-08 00:00:00"),  # E9xx: ICD-9 (ICD-10's E ends at E89)
    ]
    # A Read concept is passed on as such, and an unrecognised bare code as 'unknown':
    # validation refuses both code systems.
    assert query(db, "select source_line, value from quarantine order by 1") == [
        (4, "Read"),
        (8, "unknown"),
    ]


def test_a_measurement_coded_only_by_a_snomed_concept_is_named_in_the_mapping_review(tmp_path):
    concept = CONCEPT + omop_rows(
        "concept_id concept_name domain_id vocabulary_id concept_code",
        (4000001, "Hemoglobin measurement", "Measurement", "SNOMED", 104142005),
    )
    labs = omop_rows(
        "measurement_id person_id measurement_concept_id measurement_date value_as_number "
        "measurement_source_value",
        (1, 1, 4000001, "2024-05-01", 9.1, "LAB42"),
        (2, 1, 4000001, "2024-05-02", 9.4, ""),
        (3, 1, 3000593, "2024-05-02", 150, "B12"),
    )
    folder = extract(tmp_path / "x", **{"MEASUREMENT.csv": labs, "CONCEPT.csv": concept})
    db = load(folder, tmp_path, harmonise=True)
    review = query(db, sql_text("report/mapping_review.sql"))
    assert review == [
        ("lab test", "LAB42", "Hemoglobin measurement", "test code on no list", 1),
        ("lab test", "OMOP:4000001", "Hemoglobin measurement", "test code on no list", 1),
    ]


def test_undotted_e_and_v_codes_are_icd9_in_a_file_of_icd9_codes(tmp_path):
    # SynPUF's claims: bare ICD-9 codes, no concepts. E8798 is E879.8 and V5869 is V58.69
    # there; beside codes only ICD-10-CM writes (D51.0), the same shapes read as ICD-10-CM.
    icd9_era = omop_rows(
        "condition_occurrence_id person_id condition_concept_id condition_start_date "
        "condition_source_value",
        (1, 1, 0, "2009-05-01", "2859"),
        (2, 1, 0, "2009-05-02", "E8798"),
        (3, 1, 0, "2009-05-03", "V5869"),
        (4, 1, 0, "2009-05-04", "E879.8"),
    )
    mixed = icd9_era + omop_rows(
        "condition_occurrence_id person_id condition_concept_id condition_start_date "
        "condition_source_value",
        (5, 1, 0, "2019-05-05", "D51.0"),
    )
    systems = {}
    for name, table in (("icd9", icd9_era), ("mixed", mixed)):
        folder = extract(tmp_path / name, **{"condition_occurrence.csv": table})
        db = load(folder, tmp_path)
        systems[name] = query(db, "select code, code_system from diagnoses order by source_line")
    assert systems["icd9"] == [
        ("2859", "ICD9CM"),
        ("E8798", "ICD9CM"),
        ("V5869", "ICD9CM"),
        ("E879.8", "ICD9CM"),  # dotted after three digits: ICD-9 in any file
    ]
    assert systems["mixed"] == [
        ("2859", "ICD9CM"),
        ("E8798", "ICD10CM"),
        ("V5869", "ICD10CM"),
        ("E879.8", "ICD9CM"),
        ("D51.0", "ICD10CM"),
    ]


def test_a_local_source_concept_loads_as_a_local_code_on_no_list(tmp_path):
    """The MIMIC-IV demo CDM: most conditions have a local source concept (id 2 billion or
    more, a mimiciv_ vocabulary) and no standard one."""
    concept = CONCEPT + omop_rows(
        "concept_id concept_name domain_id vocabulary_id concept_code",
        (2000001234, "Cholera due to vibrio", "Condition", "mimiciv_icd9_diag", "0010"),
    )
    conditions = omop_rows(
        "condition_occurrence_id person_id condition_concept_id condition_start_date "
        "condition_source_value condition_source_concept_id",
        (1, 1, 0, "2024-05-01", "0010", 2000001234),
        (2, 1, 900004, "2024-05-02", "0010", 2000001234),  # mapped: the SNOMED standard
    )
    folder = extract(
        tmp_path / "x", **{"CONDITION_OCCURRENCE.csv": conditions, "CONCEPT.csv": concept}
    )
    db = load(folder, tmp_path, harmonise=True)
    assert query(db, "select count(*) from quarantine") == [(0,)]
    assert query(db, "select code, code_system from diagnoses order by source_line") == [
        ("0010", "LOCAL"),
        ("84027009", "SNOMED"),
    ]


def test_persons_give_sex_birth_date_and_the_care_site_as_site_for_every_table(tmp_path):
    labs = omop_rows(
        "measurement_id person_id measurement_concept_id measurement_date",
        (1, 1, 3000593, "2024-05-01"),
        (2, 3, 3000593, "2024-05-01"),
    )
    folder = extract(
        tmp_path / "x",
        **{"person.csv": PERSON, "care_site.csv": CARE_SITE, "MEASUREMENT.csv": labs},
    )
    db = load(folder, tmp_path)
    assert query(
        db, "select patient_id, sex, birth_date::varchar, site from patients order by 1"
    ) == [
        ("1", "M", "1950-03-11", "North Hospital"),
        # Year only: 1 July (month and day missing); month only: the 15th.
        ("2", "F", "1960-07-01", None),
        ("3", "female", "1970-05-20", "S9"),
    ]
    assert query(db, "select patient_id, site from lab_results order by 1") == [
        ("1", "North Hospital"),
        ("3", "S9"),
    ]


VISITS = omop_rows(
    "visit_occurrence_id person_id visit_concept_id visit_start_date visit_type_concept_id "
    "care_site_id",
    (501, 1, 9201, "2024-05-01", 32817, 99),  # person 1 is at North Hospital (10)
    (502, 1, 9201, "2024-05-02", 32817, ""),  # no care site: the person's
    (503, 1, 9201, "2024-05-03", 32817, 77),  # a care site not in CARE_SITE: its id
)


def visit_extract(folder: Path, **tables: list[dict[str, str]]) -> Path:
    """Person 1's lab, drug and condition rows at visits 501, 502, 503, 504 (no such
    visit) and without a visit."""
    visits = [501, 502, 503, 504, ""]
    labs = omop_rows(
        "measurement_id person_id measurement_concept_id measurement_date visit_occurrence_id",
        *[(n, 1, 3000593, "2024-05-01", v) for n, v in enumerate(visits, 1)],
    )
    drugs = omop_rows(
        "person_id drug_concept_id drug_exposure_start_date drug_type_concept_id "
        "visit_occurrence_id",
        *[(1, 900001, "2024-05-01", 32818, v) for v in visits],
    )
    conditions = omop_rows(
        "person_id condition_concept_id condition_start_date visit_occurrence_id",
        *[(1, 900004, "2024-05-01", v) for v in visits],
    )
    return extract(
        folder,
        **{"person.csv": PERSON, "care_site.csv": CARE_SITE, "concept.csv": CONCEPT},
        **{"measurement.csv": labs, "drug_exposure.csv": drugs},
        **{"condition_occurrence.csv": conditions},
        **tables,
    )


def test_events_take_the_site_of_their_visit_else_their_persons(tmp_path):
    folder = visit_extract(tmp_path / "x", **{"Visit_Occurrence.csv": VISITS})
    db = load(folder, tmp_path)
    # Visits 501 (care site 99), 502 (none), 503 (77, unnamed), 504 (absent), no visit.
    expected = [(1, "S9"), (2, "North Hospital"), (3, "77"), (4, "North Hospital")]
    expected.append((5, "North Hospital"))
    for table in ("lab_results", "medications", "diagnoses"):
        assert query(db, f"select source_line - 1, site from {table} order by 1") == expected
    assert query(db, "select site from patients where patient_id = '1'") == [("North Hospital",)]


def test_a_parquet_visit_table_is_read_and_counted_not_audited(tmp_path):
    folder = visit_extract(tmp_path / "x")
    table = {"visit_occurrence_id": pa.array([501, 503], pa.int64()), "care_site_id": [99, 77]}
    pq.write_table(pa.table(table), folder / "VISIT_OCCURRENCE.parquet")
    db = tmp_path / "build.duckdb"
    database.create_build_database(db)
    files = {f["file"]: f for f in stages.ingest(db, folder, "omop")}
    visits = files["VISIT_OCCURRENCE.parquet"]
    assert (visits["table"], visits["rows_read"]) == ("vocabulary", 2)
    work = tmp_path / "work"
    work.mkdir()
    stages.validate(db, AuditConfig(max_quarantine_fraction=1.0), list(files.values()), work)
    assert query(db, "select site from lab_results order by source_line") == [
        ("S9",),
        ("North Hospital",),
        ("77",),
        ("North Hospital",),
        ("North Hospital",),
    ]


def test_without_a_visit_table_events_take_their_persons_site(tmp_path):
    db = load(visit_extract(tmp_path / "x"), tmp_path)
    for table in ("lab_results", "medications", "diagnoses"):
        assert query(db, f"select distinct site from {table}") == [("North Hospital",)]


def test_parquet_tables_with_typed_columns_read_like_csv(tmp_path):
    folder = extract(tmp_path / "x")
    (folder / "MEASUREMENT.csv").unlink()
    table = {
        "measurement_id": pa.array([1, 2], pa.int64()),
        "person_id": pa.array([7.0, 8.0], pa.float64()),
        "measurement_concept_id": pa.array([3000593, 3000593], pa.int32()),
        "measurement_date": pa.array([dt.date(2024, 5, 1), dt.date(2024, 5, 2)], pa.date32()),
        "measurement_datetime": pa.array(
            [dt.datetime(2024, 5, 1, 8, 30), None], pa.timestamp("us")
        ),
        "operator_concept_id": pa.array([4171756, None], pa.int64()),
        "value_as_number": pa.array([150.0, 0.25], pa.float64()),
        "unit_source_value": pa.array(["pg/mL", "ng/mL"]),
    }
    pq.write_table(pa.table(table), folder / "Measurement.parquet")
    rows = query(
        load(folder, tmp_path),
        "select source_line, patient_id, result, unit, collected_at::varchar "
        "from lab_results order by 1",
    )
    assert rows == [
        (1, "7", "<150", "pg/mL", "2024-05-01 08:30:00"),
        (2, "8", "0.25", "ng/mL", "2024-05-02 00:00:00"),
    ]


def test_file_names_in_any_case(tmp_path):
    folder = extract(tmp_path / "x", **{"Person.CSV": PERSON})
    db = load(folder, tmp_path)
    assert query(db, "select count(*) from patients") == [(3,)]


def test_a_tab_separated_vocabulary_file_is_read(tmp_path):
    folder = extract(tmp_path / "x", **{"measurement.csv": MEASUREMENT})
    lines = ["\t".join(CONCEPT[0])] + ["\t".join(r.values()) for r in CONCEPT]
    (folder / "CONCEPT.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = load(folder, tmp_path)
    assert query(db, "select unit from lab_results where source_line = 2") == [("pg/mL",)]


def test_a_missing_required_column_stops_the_run_naming_file_and_column(tmp_path):
    folder = extract(tmp_path / "x")
    header_only(folder / "MEASUREMENT.csv", "measurement_id,person_id,measurement_date")
    with pytest.raises(
        InputError,
        match=r"MEASUREMENT\.csv: missing required OMOP column "
        r"'measurement_concept_id'",
    ):
        load(folder, tmp_path)


def test_a_file_without_a_header_line_says_so(tmp_path):
    folder = extract(tmp_path / "x")
    (folder / "MEASUREMENT.csv").write_text(
        "1,1,3000593,2024-05-01,0,0\n2,1,3000593,2024-05-02,0,0\n"
    )
    with pytest.raises(InputError, match=r"MEASUREMENT\.csv: line 1 names none of table"):
        load(folder, tmp_path)


def test_other_table_files_are_listed_not_read_with_their_hash(tmp_path):
    folder = extract(tmp_path / "x")
    write_table(folder / "OBSERVATION.csv", omop_rows("observation_id person_id", (1, 1)))
    pq.write_table(pa.table({"cohort_definition_id": [1, 2]}), folder / "cohort.parquet")
    (folder / "README.txt").write_text("not a table\n")
    db = tmp_path / "build.duckdb"
    database.create_build_database(db)
    files = {f["file"]: f for f in stages.ingest(db, folder, "omop")}
    assert sorted(files) == [
        "DRUG_EXPOSURE.csv",
        "MEASUREMENT.csv",
        "OBSERVATION.csv",
        "cohort.parquet",
    ]
    for name in ("OBSERVATION.csv", "cohort.parquet"):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert (files[name]["table"], files[name]["rows_read"]) == ("not_read", 0)
        assert files[name]["sha256"] == digest
    assert len({f["index"] for f in files.values()}) == 4


def test_the_extract_rows_are_never_what_a_join_holds_in_memory(tmp_path):
    # DuckDB guesses 42 rows for a CSV file it does not sniff; with a larger map (here
    # 5,000 persons' sites) it would hash the extract's rows instead of the map.
    persons = [(i, 8507, 1950, "", "", "", 10, "M") for i in range(5000)]
    visits = [(i, i, 9201, "2024-05-01", 32817, 99) for i in range(5000)]
    with_visit = [r | {"visit_occurrence_id": "7"} for r in MEASUREMENT]
    folder = extract(
        tmp_path / "x",
        **{
            "person.csv": omop_rows(" ".join(PERSON[0]), *persons),
            "visit_occurrence.csv": omop_rows(" ".join(VISITS[0]), *visits),
            "care_site.csv": CARE_SITE,
            "measurement.csv": with_visit,
            "drug_exposure.csv": [r | {"visit_occurrence_id": "7"} for r in DRUGS],
            "condition_occurrence.csv": [r | {"visit_occurrence_id": ""} for r in CONDITIONS],
            "concept.csv": CONCEPT,
        },
    )
    db = tmp_path / "build.duckdb"
    database.create_build_database(db)
    files = stages.ingest(db, folder, "omop")
    with duckdb.connect(str(db), read_only=True) as con:
        for f in files:
            if f["table"] in ("lab_results", "medications", "diagnoses"):
                plan = con.execute(f"explain select * from staging.raw_{f['table']}_{f['index']}")
                joins = [line for line in plan.fetchall()[0][1].split("│") if "Join Type" in line]
                assert joins and all("LEFT" in j for j in joins), (f["file"], joins)


def test_the_reference_tables_are_read_from_a_path_with_a_quote(tmp_path, monkeypatch):
    odd = tmp_path / "o'brien"
    shutil.copytree(omop_vocabulary.sql_dir() / "reference", odd / "reference")
    monkeypatch.setattr(omop_vocabulary, "sql_dir", lambda: odd)
    db = load(extract(tmp_path / "x", **{"measurement.csv": MEASUREMENT}), tmp_path)
    assert query(db, "select result from lab_results where source_line = 2") == [("<150",)]


def test_a_missing_drug_exposure_table_stops_the_run(tmp_path):
    folder = extract(tmp_path / "x")
    (folder / "DRUG_EXPOSURE.csv").unlink()
    (folder / "person.csv").write_text("person_id,gender_concept_id,year_of_birth\n")
    with pytest.raises(InputError, match="no OMOP drug_exposure table"):
        load(folder, tmp_path)


def test_every_row_is_counted_and_vocabulary_files_are_not_audited(tmp_path):
    folder = extract(tmp_path / "x", **{"measurement.csv": MEASUREMENT, "CONCEPT.csv": CONCEPT})
    db = tmp_path / "build.duckdb"
    database.create_build_database(db)
    files = {f["file"]: f for f in stages.ingest(db, folder, "omop")}
    assert (files["measurement.csv"]["table"], files["measurement.csv"]["rows_read"]) == (
        "lab_results",
        9,
    )
    assert (files["CONCEPT.csv"]["table"], files["CONCEPT.csv"]["rows_read"]) == ("vocabulary", 8)


@pytest.fixture(scope="module")
def synthea(tmp_path_factory) -> tuple[Path, list[dict], dict]:
    if not SYNTHEA.exists():
        pytest.skip(f"the shared OMOP sample is not at {SYNTHEA} (../shared beside the repo)")
    folder = tmp_path_factory.mktemp("synthea27nj")
    with zipfile.ZipFile(SYNTHEA / "Synthea27Nj_5.4.zip") as archive:
        archive.extractall(folder)
    work = tmp_path_factory.mktemp("synthea_work")
    db = work / "build.duckdb"
    database.create_build_database(db)
    files, quarantined = spark_check.loaded(folder, AuditConfig(), db, "omop")
    stages.harmonise(db, AuditConfig())
    return db, files, quarantined


def test_synthea_b12_injection_is_dispensed_parenteral_b12_treatment(synthea):
    db, _, _ = synthea
    rows = query(
        db,
        "select m.drug_code, m.drug_name, m.event_type, c.drug_class, c.route_kind "
        "from medications as m join medication_classes as c using (row_id) "
        "where m.drug_code = '2001499'",
    )
    # drug_type_concept_id 32869 (Pharmacy claim): dispensed.
    assert rows == [
        (
            "2001499",
            "vitamin B12 5 MG/ML Injectable Solution",
            "dispensed",
            "b12_treatment",
            "parenteral",
        )
    ]


def test_synthea_every_row_read_is_loaded_or_quarantined(synthea):
    db, files, quarantined = synthea
    loaded = dict(
        query(
            db,
            "select source_file, count(*) from (select source_file from lab_results union all "
            "select source_file from medications union all select source_file from patients "
            "union all select source_file from diagnoses) group by 1",
        )
    )
    audited = {f["file"]: f for f in files if f["table"] not in ("vocabulary", "not_read")}
    assert set(audited) == {
        "PERSON.csv",
        "MEASUREMENT.csv",
        "DRUG_EXPOSURE.csv",
        "CONDITION_OCCURRENCE.csv",
        "CARE_SITE.csv",
    }
    for name in ("PERSON.csv", "MEASUREMENT.csv", "DRUG_EXPOSURE.csv", "CONDITION_OCCURRENCE.csv"):
        f = audited[name]
        assert f["rows_read"] > 0
        assert f["rows_read"] == loaded.get(name, 0) + quarantined[(name, f["table"])], name
    assert (audited["PERSON.csv"]["rows_read"], audited["MEASUREMENT.csv"]["rows_read"]) == (
        28,
        10040,
    )
    # Every other table file of the folder is listed, hashed, as not read.
    not_read = sorted(f["file"] for f in files if f["table"] == "not_read")
    assert len(not_read) == 30 and "OBSERVATION.csv" in not_read
    vocabulary = {f["file"] for f in files if f["table"] == "vocabulary"}
    assert "CONCEPT_RELATIONSHIP.csv" in vocabulary  # read for its "Maps to"
    visits = next(f for f in files if f["file"] == "VISIT_OCCURRENCE.csv")
    assert visits["table"] == "vocabulary" and visits["rows_read"] > 0


def test_duckdb_reads_the_reference_csvs(tmp_path):
    # The reference ids the adapter relies on without a vocabulary are present and unique.
    from transforms.sqlfiles import sql_dir

    con = duckdb.connect()
    for name in ("omop_lab_concepts", "omop_operators", "omop_drug_types", "omop_routes"):
        path = sql_dir() / "reference" / f"{name}.csv"
        dup = con.execute(
            f"select count(*) - count(distinct concept_id) from read_csv('{path}', header = true)"
        ).fetchall()[0][0]
        assert dup == 0, name


def test_the_sample_writer_keeps_an_events_own_site_through_its_visit(tmp_path):
    sample = tmp_path / "sample"
    sample.mkdir()
    tables = {
        "patients": "patient_id,sex,birth_date,site\nA,F,1950-01-01,north\n",
        "lab_results": "patient_id,test_code,test_name,result,unit,collected_at,resulted_at,"
        "result_id,site\nA,2132-9,B12,150,pg/mL,2024-05-01,,R1,away\n"
        "A,2132-9,B12,300,pg/mL,2024-05-02,,R2,north\n",
        "medications": "patient_id,drug_code,drug_name,event_type,event_at,dose,dose_unit,"
        "route,site\nA,,hydroxocobalamin,administered,2024-05-01,1,mg,IM,away\n",
        "diagnoses": "patient_id,code,code_system,recorded_at,site\nA,D51.0,ICD10CM,2024-05-03,"
        "north\n",
    }
    for name, text in tables.items():
        (sample / f"{name}.csv").write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("omop_writer", WRITER)
    writer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(writer)
    writer.write(sample, tmp_path / "x")
    db = load(tmp_path / "x", tmp_path)
    assert query(db, "select site from lab_results order by collected_at") == [
        ("away",),
        ("north",),
    ]
    events = "select 1, site from medications union all select 2, site from diagnoses order by 1"
    assert query(db, events) == [(1, "away"), (2, "north")]
    assert query(db, "select site from patients") == [("north",)]


def test_a_vocabulary_folder_classes_another_formats_drugs_by_ingredient(tmp_path, audit):
    """An Athena download (tab-separated, upper-case names) named by `vocabulary_dir`,
    for a canonical extract whose drugs carry RxNorm codes on no list and no name."""
    vocabulary = tmp_path / "athena"
    vocabulary.mkdir()
    (vocabulary / "CONCEPT.csv").write_text(
        "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_code\n"
        "1308738\tvitamin B12\tDrug\tRxNorm\t11248\n"
        "40000001\tvitamin B12 1 MG/ML Injectable Solution [Brand]\tDrug\tRxNorm\t7777001\n"
        "40000002\tparacetamol 500 MG Oral Tablet\tDrug\tRxNorm\t7777002\n"
    )
    (vocabulary / "CONCEPT_ANCESTOR.csv").write_text(
        "ancestor_concept_id\tdescendant_concept_id\n1308738\t40000001\n"
    )
    meds = """
        patient_id | drug_code | drug_name | event_type   | event_at
        -----------+-----------+-----------+--------------+-----------
        p1         | 7777001   |           | administered | 2024-05-01
        p1         | 7777002   |           | administered | 2024-05-02
    """
    classes = "select drug_code, drug_class from medication_classes order by 1"
    assert query(audit.run("", meds), classes) == [("7777001", "other"), ("7777002", "other")]
    with_vocabulary = audit.run("", meds, vocabulary_dir=str(vocabulary))
    assert query(with_vocabulary, classes) == [
        ("7777001", "b12_treatment"),
        ("7777002", "other"),
    ]
    # The manifest records each concept table's hash, so a changed vocabulary is visible.
    config = AuditConfig(vocabulary_dir=str(vocabulary))
    before = manifest.vocabulary_versions(config)
    assert sorted(before) == ["CONCEPT.csv", "CONCEPT_ANCESTOR.csv"]
    (vocabulary / "CONCEPT_ANCESTOR.csv").write_text(
        "ancestor_concept_id\tdescendant_concept_id\n1308738\t40000002\n"
    )
    after = manifest.vocabulary_versions(config)
    assert after["CONCEPT.csv"] == before["CONCEPT.csv"]
    assert after["CONCEPT_ANCESTOR.csv"] != before["CONCEPT_ANCESTOR.csv"]
