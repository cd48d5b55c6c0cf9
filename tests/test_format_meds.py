"""MEDS input: Parquet shards under data/ whose codes the patterns map onto the canonical
tables (transforms/inputs/adapters/meds.py, sql/reference/meds_codes.csv)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from markupsafe import escape

from tests import spark_check
from tests.conftest import query
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.inputs import adapters
from transforms.operations import manifest, stages

CORE = pa.schema(
    [
        ("subject_id", pa.int64()),
        ("time", pa.timestamp("us")),
        ("code", pa.string()),
        ("numeric_value", pa.float32()),
        ("text_value", pa.string()),
    ]
)
DAY = dt.datetime(2024, 5, 1, 8, 30)
KEEP_GOING = AuditConfig(max_quarantine_fraction=1.0)


def event(subject=1, time=DAY, code="", number=None, text=None, **extra) -> dict:
    return {
        "subject_id": subject,
        "time": time,
        "code": code,
        "numeric_value": number,
        "text_value": text,
    } | extra


def write_shard(folder: Path, rows: list[dict], name="data/train/0.parquet", schema=None):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = [(c, pa.string()) for c in rows[0] if c not in CORE.names] if rows else []
    schema = schema or pa.schema([*CORE, *extra])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return folder


def load(tmp_path: Path, folder: Path, config=KEEP_GOING) -> tuple[list[dict], Path]:
    """Ingest and validation, as the flow runs them, keeping every quarantined row in the
    run; returns the files and the database. With B12AUDIT_SPARK_CROSSCHECK=1 the Spark
    engine must read the same files and load the same rows, or stop with the same message
    (tests/spark_check.py)."""
    work = tmp_path / f"work{len(list(tmp_path.glob('work*')))}"
    db = work / "build.duckdb"
    database.create_build_database(db)
    return spark_check.loaded(folder, config, db, "meds")[0], db


def counts(files: list[dict]) -> dict[tuple[str, str], int]:
    return {(f["file"], f["table"]): f["rows_read"] for f in files}


# Detection ------------------------------------------------------------------------------


def test_a_folder_with_parquet_shards_under_data_is_meds(tmp_path):
    write_shard(tmp_path, [event(code="MEDS_BIRTH")], "data/held_out/3/0.parquet")
    assert adapters.detect(tmp_path) == "meds"


def test_a_data_folder_without_parquet_is_not_meds(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("x")
    assert not adapters.ADAPTERS["meds"].detect(tmp_path)
    with pytest.raises(InputError, match=r"no MEDS shards \(expected data/\*\*/\*\.parquet\)"):
        load(tmp_path, tmp_path)


def test_other_parquet_under_data_is_not_meds(tmp_path):
    # An OMOP or Spark export laid out as data/<table>.parquet, with no MEDS metadata.
    rows = [{"person_id": 1, "measurement_concept_id": 3006893, "value_as_number": 150.0}]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "measurement.parquet")
    assert not adapters.ADAPTERS["meds"].detect(tmp_path)
    with pytest.raises(InputError, match=r"data/measurement\.parquet: missing MEDS column"):
        load(tmp_path, tmp_path)  # --format meds forced on it


@pytest.mark.parametrize("evidence", ["metadata/dataset.json", "METADATA/Codes.parquet"])
def test_metadata_is_evidence_even_when_the_shards_cannot_be_read(tmp_path, evidence):
    for name in ("data/train/0.parquet", evidence):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert adapters.ADAPTERS["meds"].detect(tmp_path)
    (tmp_path / evidence).unlink()
    assert not adapters.ADAPTERS["meds"].detect(tmp_path)


def test_data_and_parquet_may_be_written_in_any_case(tmp_path):
    write_shard(tmp_path, [event(code="LAB//51010//pg/mL", number=1.0)], "Data/Train/0.PARQUET")
    assert adapters.detect(tmp_path) == "meds"
    files, db = load(tmp_path, tmp_path)
    assert ("Data/Train/0.PARQUET", "lab_results", 1) in [
        (f["file"], f["table"], f["rows_read"]) for f in files
    ]


# Labs -----------------------------------------------------------------------------------


def test_mimic_lab_codes_give_itemid_unit_and_result_and_map_to_loinc(tmp_path):
    write_shard(
        tmp_path,
        [
            event(code="LAB//51010//pg/mL", number=150.0),
            event(code="LAB//51010//pg/mL", number=200.0, text="<150"),
            event(code="LAB//51010//pg/mL", number=210.0, text=""),
            event(code="LAB//51222//g/dL", text="hemolyzed"),
            event(code="LAB//51010"),
        ],
    )
    _, db = load(tmp_path, tmp_path)
    assert query(db, "select test_code, result, unit from lab_results order by source_line") == [
        ("51010", "150.0", "pg/mL"),
        ("51010", "<150", "pg/mL"),
        ("51010", "210.0", "pg/mL"),
        ("51222", "hemolyzed", "g/dL"),
        ("51010", None, None),
    ]
    assert query(db, "select * from staging.source_test_codes order by 1") == [
        ("50925", "2284-8"),
        ("50945", "13965-9"),
        ("51010", "2132-9"),
        ("51222", "718-7"),
        ("51250", "787-2"),
        ("51288", "4537-7"),
    ]  # blood-gas haemoglobin 50811 is left unmapped by default


def test_the_number_is_the_result_unless_the_text_is_censored(tmp_path):
    write_shard(
        tmp_path,
        [
            event(code="LAB//51010//pg/mL", number=150.0, text="hemolyzed, repeat"),
            event(code="LAB//51010//pg/mL", number=150.0, text="<=150"),
            event(code="LAB//51010//pg/mL", number=2000.0, text=">2000"),
            event(code="LAB//51010//pg/mL", number=None, text="see comment"),
        ],
    )
    _, db = load(tmp_path, tmp_path)
    assert query(db, "select result from lab_results order by source_line") == [
        ("150.0",),
        ("<=150",),
        (">2000",),
        ("see comment",),
    ]


def test_codes_match_case_sensitively_unless_a_pattern_says_otherwise(tmp_path):
    write_shard(tmp_path, [event(code="lab//51010//pg/mL", number=1.0)])
    files, _ = load(tmp_path, tmp_path)
    assert [(f["table"], f["rows_read"]) for f in files] == [("not_audited", 1)]
    write_site_patterns(tmp_path, "(?i:lab//(?P<test_code>[^/]+)//(?P<unit>.*)),lab_results,,,")
    _, db = load(tmp_path, tmp_path)
    assert query(db, "select test_code, unit from lab_results") == [("51010", "pg/mL")]


def test_loinc_codes_take_the_unit_from_the_code_or_the_unit_column(tmp_path):
    write_shard(
        tmp_path,
        [
            event(code="LOINC/13964-2", number=300.0, unit="nmol/L"),
            event(code="LOINC//14685-2//pmol/L", number=120.0, unit=None),
        ],
    )
    _, db = load(tmp_path, tmp_path)
    assert query(db, "select test_code, unit from lab_results order by source_line") == [
        ("13964-2", "nmol/L"),
        ("14685-2", "pmol/L"),
    ]


def test_extra_lab_columns_and_midnight_as_a_date(tmp_path):
    rows = [
        event(time=dt.datetime(2024, 5, 1), code="LAB//51010//pg/mL", number=1.0),
        event(code="LAB//51010//pg/mL", number=2.0, result_id="L7", site="north"),
    ]
    rows[0] |= {"result_id": None, "site": None, "resulted_at": dt.datetime(2024, 5, 2)}
    rows[1] |= {"resulted_at": dt.datetime(2024, 5, 2, 15, 45)}
    schema = pa.schema(
        [*CORE, ("result_id", pa.string()), ("site", pa.string()), ("resulted_at", CORE[1].type)]
    )
    write_shard(tmp_path, rows, schema=schema)
    _, db = load(tmp_path, tmp_path)
    got = query(
        db,
        "select collected_at::varchar, collected_has_time, resulted_at::varchar, "
        "resulted_has_time, result_id, site from lab_results order by source_line",
    )
    assert got == [
        ("2024-05-01 00:00:00", False, "2024-05-02 00:00:00", False, None, None),
        ("2024-05-01 08:30:00", True, "2024-05-02 15:45:00", True, "L7", "north"),
    ]


def test_a_lab_event_without_a_time_is_quarantined_at_its_row(tmp_path):
    write_shard(
        tmp_path,
        [
            event(code="GENDER//F", time=None),
            event(code="LAB//51010//pg/mL", number=150.0),
            event(code="LAB//51010//pg/mL", number=150.0, time=None),
        ],
    )
    _, db = load(tmp_path, tmp_path)
    assert query(
        db, "select source_file, source_line, column_name, check_name from quarantine"
    ) == [("data/train/0.parquet", 3, "collected_at", "not_nullable")]


def test_a_deficient_mimic_b12_is_a_finding(tmp_path):
    write_shard(
        tmp_path,
        [
            event(code="LAB//51010//pg/mL", number=150.0),
            event(code="MEDICATION//Atorvastatin 20 mg tab//Administered"),
        ],
    )
    files, db = load(tmp_path, tmp_path)
    stages.harmonise(db, AuditConfig())
    stages.tag(db, AuditConfig())
    assert query(db, "select patient_id, finding, evidence_lab_row_ids from findings") == [
        ("1", "b12_deficient", ["data/train/0.parquet:1"])
    ]


# Medications ----------------------------------------------------------------------------


def test_medication_codes_give_drug_and_event_type(tmp_path):
    codes = [
        "MEDICATION//Cyanocobalamin//Administered",
        "MEDICATION//Cyanocobalamin//Not Given",
        "MEDICATION//Cyanocobalamin//Held",
        "MEDICATION//Cyanocobalamin//Flushed",
        "MEDICATION//Folic acid 5 mg/mL inj//dispensed",
        "MEDICATION//START//FoLIC Acid",
        "MEDICATION//STOP//FoLIC Acid",
        "MEDICATION////Administered",
    ]
    rows = [event(code=c, drug_code=None, dose=None, dose_unit=None, route=None) for c in codes]
    rows[0] |= {"drug_code": "313896", "dose": "1000", "dose_unit": "mcg", "route": "IM"}
    write_shard(tmp_path, rows)
    _, db = load(tmp_path, tmp_path)
    got = query(
        db,
        "select drug_name, event_type, drug_code, dose, dose_unit, route from medications "
        "order by source_line",
    )
    assert got == [
        ("Cyanocobalamin", "administered", "313896", "1000", "mcg", "IM"),
        ("Cyanocobalamin", "not_given", None, None, None, None),
        ("Cyanocobalamin", "held", None, None, None, None),
        ("Cyanocobalamin", "other", None, None, None, None),
        ("Folic acid 5 mg/mL inj", "dispensed", None, None, None, None),
        ("FoLIC Acid", "ordered", None, None, None, None),
        ("FoLIC Acid", "discontinued", None, None, None, None),
    ]
    assert query(db, "select source_line, check_name from quarantine") == [(8, "drug_code_or_name")]


# Diagnoses ------------------------------------------------------------------------------


def test_diagnosis_codes_give_code_and_code_system(tmp_path):
    codes = [
        "DIAGNOSIS//ICD//10//D510",
        "DIAGNOSIS//ICD//9//2662",
        "DIAGNOSIS//SNOMED//38341003",
        "DIAGNOSIS//READ//G62.9",
    ]
    write_shard(tmp_path, [event(code=c) for c in codes])
    _, db = load(tmp_path, tmp_path)
    assert query(db, "select code, code_system from diagnoses order by source_line") == [
        ("D510", "ICD10CM"),
        ("2662", "ICD9CM"),
        ("38341003", "SNOMED"),
    ]
    assert query(db, "select source_line, check_name, value from quarantine") == [
        (4, "code_system_known", "READ")
    ]


def test_codes_in_the_standard_vocabulary_slash_code_form_are_read(tmp_path):
    """As meds_etl writes an OMOP CDM out as MEDS."""
    rows = [
        event(1, None, "Gender/M"),
        event(1, DAY, "LOINC/718-7", 101.0, unit="g/L"),
        event(1, DAY, "RxNorm/2001499"),
        event(1, DAY, "ATC/B03BA03"),
        event(1, DAY, "ICD10CM/D51.0"),
        event(1, DAY, "ICD9CM/281.0"),
        event(1, DAY, "SNOMED/84027009"),
        event(1, DAY, "Visit/IP"),
    ]
    write_shard(tmp_path, rows)
    files, db = load(tmp_path, tmp_path)
    assert query(db, "select patient_id, sex from patients") == [("1", "M")]
    assert query(db, "select test_code, result from lab_results") == [("718-7", "101.0")]
    assert query(
        db, "select drug_code, drug_name, event_type from medications order by source_line"
    ) == [("2001499", None, "administered"), ("B03BA03", None, "administered")]
    assert query(db, "select code, code_system from diagnoses order by source_line") == [
        ("D51.0", "ICD10CM"),
        ("281.0", "ICD9CM"),
        ("84027009", "SNOMED"),
    ]
    assert query(db, "select count(*) from quarantine") == [(0,)]
    assert counts(files)[("data/train/0.parquet", "not_audited")] == 1  # the visit


# Patients -------------------------------------------------------------------------------


def test_birth_and_gender_rows_make_one_patients_row_and_balance(tmp_path):
    write_shard(
        tmp_path,
        [
            event(1, None, "GENDER//F", site="south"),
            event(1, dt.datetime(1950, 3, 11), "MEDS_BIRTH", site="south"),
            event(1, DAY, "LAB//51010//pg/mL", 150.0, site="south"),
            event(2, None, "GENDER//M", site=None),
            event(2, DAY, "MEDS_DEATH", site=None),
        ],
    )
    files, db = load(tmp_path, tmp_path)
    got = query(db, "select patient_id, sex, birth_date::varchar, site, row_id from patients")
    assert sorted(got) == [
        ("1", "F", "1950-03-11", "south", "data/train/0.parquet:2"),
        ("2", "M", None, None, "data/train/0.parquet:4"),
    ]
    shard = "data/train/0.parquet"
    assert counts(files) == {
        (shard, "lab_results"): 1,
        (shard, "patients"): 2,
        (shard, "patients_merged"): 1,
        (shard, "not_audited"): 1,
    }
    loaded = stages.rows_loaded_by_file(db)
    checked = manifest.inputs_with_counts(files, {}, loaded)  # raises when a file is off
    assert sum(f["rows_read"] for f in checked) == 5


def test_a_bad_birth_date_is_quarantined_at_the_row_that_gave_it(tmp_path):
    write_shard(
        tmp_path,
        [
            event(1, None, "GENDER//F"),
            event(1, DAY, "LAB//51010//pg/mL", 150.0),
            event(1, dt.datetime(2030, 1, 1), "MEDS_BIRTH"),
        ],
    )
    config = AuditConfig(max_quarantine_fraction=1.0, reject_future_dates=True)
    _, db = load(tmp_path, tmp_path, config)
    assert query(db, "select source_line, column_name, value from quarantine") == [
        (3, "birth_date", "2030-01-01")
    ]


# Shards and side files ------------------------------------------------------------------


def test_every_shard_at_any_depth_is_read_and_metadata_is_listed(tmp_path):
    write_shard(tmp_path, [event(1, code="LAB//51010//pg/mL", number=1.0)], "data/train/0.parquet")
    write_shard(tmp_path, [event(2, code="LAB//51010//pg/mL", number=2.0)], "data/a/b/1.parquet")
    write_shard(tmp_path, [event(3, code="GENDER//F", time=None)], "data/held_out/0.parquet")
    pq.write_table(pa.table({"code": ["LAB//51010//pg/mL"]}), tmp_path / "data" / "x.json.parquet")
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "dataset.json").write_text('{"meds_version": "0.3.3"}')
    pq.write_table(pa.table({"code": ["A", "B"]}), tmp_path / "metadata" / "codes.parquet")
    with pytest.raises(
        InputError, match=r"data/x\.json\.parquet: missing MEDS column 'subject_id'"
    ):
        load(tmp_path, tmp_path)
    (tmp_path / "data" / "x.json.parquet").unlink()
    files, db = load(tmp_path, tmp_path)
    assert [(f["file"], f["table"], f["rows_read"], f["index"]) for f in files] == [
        ("metadata/codes.parquet", "metadata", 2, 0),
        ("metadata/dataset.json", "metadata", 0, 1),
        ("data/a/b/1.parquet", "lab_results", 1, 2),
        ("data/a/b/1.parquet", "not_audited", 0, 3),
        ("data/held_out/0.parquet", "patients", 1, 4),
        ("data/held_out/0.parquet", "not_audited", 0, 5),
        ("data/train/0.parquet", "lab_results", 1, 6),
        ("data/train/0.parquet", "not_audited", 0, 7),
    ]
    assert all(len(f["sha256"]) == 64 for f in files)
    assert query(db, "select patient_id, row_id from lab_results order by 1") == [
        ("1", "data/train/0.parquet:1"),
        ("2", "data/a/b/1.parquet:1"),
    ]


def test_text_value_and_numeric_value_may_be_absent(tmp_path):
    schema = pa.schema(list(CORE)[:3])
    rows = [{"subject_id": 1, "time": DAY, "code": "LAB//51010//pg/mL"}]
    write_shard(tmp_path, rows, schema=schema)
    _, db = load(tmp_path, tmp_path)
    assert query(db, "select result from lab_results") == [(None,)]


@pytest.mark.parametrize(
    "column, wrong, found, expected",
    [
        ("subject_id", pa.string(), "VARCHAR", "int64"),
        ("time", pa.string(), "VARCHAR", r"timestamp\[us\]"),
        ("numeric_value", pa.string(), "VARCHAR", "float32"),
        ("code", pa.int64(), "BIGINT", "string"),
    ],
)
def test_a_core_column_of_the_wrong_type_stops_the_run(tmp_path, column, wrong, found, expected):
    schema = pa.schema([pa.field(f.name, wrong) if f.name == column else f for f in CORE])
    value = {"subject_id": "4711", "time": "2024-05-01", "numeric_value": "150", "code": 7}
    write_shard(
        tmp_path, [event(code="LAB//51010//pg/mL") | {column: value[column]}], schema=schema
    )
    with pytest.raises(InputError) as error:
        load(tmp_path, tmp_path)
    assert str(error.value) == (
        f"data/train/0.parquet: column {column!r} has type {found}; MEDS expects "
        + expected.replace("\\", "")
    )
    assert "4711" not in str(error.value)


def test_a_missing_core_column_stops_the_run(tmp_path):
    schema = pa.schema([f for f in CORE if f.name != "code"])
    write_shard(tmp_path, [{"subject_id": 1, "time": DAY}], schema=schema)
    with pytest.raises(InputError, match=r"^data/train/0\.parquet: missing MEDS column 'code' "):
        load(tmp_path, tmp_path)


# Site code patterns ---------------------------------------------------------------------


def write_site_patterns(folder: Path, *rows: str) -> None:
    header = "pattern,table,time_column,constants,note"
    (folder / "meds_codes.csv").write_text("\n".join([header, *rows]) + "\n")


def test_a_site_pattern_file_comes_before_the_defaults(tmp_path):
    write_shard(
        tmp_path,
        [
            event(code="LOCAL//B12", number=150.0),
            event(code="LAB//50811//g/dL", number=9.0),
            event(code="LAB//51010//pg/mL", number=150.0),
        ],
    )
    write_site_patterns(
        tmp_path,
        "^LOCAL//B12$,lab_results,,test_code=2132-9; unit=pg/mL,site B12",
        "^LAB//50811//.*$,not_audited,,,blood gas",
    )
    files, db = load(tmp_path, tmp_path)
    assert query(db, "select test_code, unit, source_line from lab_results order by 3") == [
        ("2132-9", "pg/mL", 1),
        ("51010", "pg/mL", 3),
    ]
    assert ("data/train/0.parquet", "not_audited", 1) in [
        (f["file"], f["table"], f["rows_read"]) for f in files
    ]
    assert ("meds_codes.csv", "code_patterns") in [(f["file"], f["table"]) for f in files]


@pytest.mark.parametrize(
    "row, message",
    [
        ("^X$,labs,,,", r"meds_codes\.csv line 2: table 'labs' is not one of"),
        ("^X(?P<loinc>.*)$,lab_results,,,", r"line 2: 'loinc' is not a column of lab_results"),
        ("^X(.*)$,lab_results,,,", r"line 2: pattern has 1 unnamed group\(s\)"),
        ("^X(?P<unit>$,lab_results,,,", r"line 2: pattern is not a valid regular expression"),
        ("^X$,lab_results,,test_code,", r"line 2: constants must read column=value"),
        ("^X$,,,,", r"line 2: table '' is not one of"),
        ("^X(?P<patient_id>.*)$,diagnoses,,,", r"line 2: 'patient_id' is not a column of"),
        ("^X$,diagnoses,birth_date,,", r"line 2: 'birth_date' is not a column of diagnoses"),
    ],
)
def test_a_bad_site_pattern_stops_the_run_naming_its_line(tmp_path, row, message):
    write_shard(tmp_path, [event(code="X")])
    write_site_patterns(tmp_path, row)
    with pytest.raises(InputError, match=message):
        load(tmp_path, tmp_path)


def test_a_site_pattern_file_without_a_pattern_column_stops_the_run(tmp_path):
    write_shard(tmp_path, [event(code="X")])
    (tmp_path / "meds_codes.csv").write_text("regex,table\n^X$,lab_results\n")
    with pytest.raises(InputError, match=r"^meds_codes\.csv: missing column 'pattern'"):
        load(tmp_path, tmp_path)


def test_a_run_that_reads_rows_but_audits_no_medications_says_so_loudly(tmp_path):
    from tests.conftest import publish_run

    write_shard(
        tmp_path / "in",
        [event(1, DAY, "LOINC/2132-9", 150.0, unit="pg/mL"), event(1, DAY, "DRUG/unknown")],
    )
    result = publish_run(tmp_path / "in", tmp_path / "out")
    manifest_ = json.loads(Path(result["manifest"]).read_text())
    [warning] = manifest_["warnings"]
    assert warning.startswith("No medications were audited (2 rows read)")
    html = result["report"].read_text()
    assert f'<p class="warn">{escape(warning)}</p>' in html
    assert "No medication events" in html and "None" not in html.split("<h3>Inputs")[0]
