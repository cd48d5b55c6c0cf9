"""FHIR R4 bulk export (NDJSON): what each resource becomes in the canonical tables, and
what happens to a line that is not one resource of the file's type."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import query
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.inputs import adapters
from transforms.inputs.adapters import fhir
from transforms.operations import manifest, stages

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LAX = AuditConfig(max_quarantine_fraction=1.0)  # tests keep their bad lines few but many


def line(resource: dict | str) -> str:
    return resource if isinstance(resource, str) else json.dumps(resource)


def subject(patient_id: str = "p1") -> dict:
    return {"reference": f"Patient/{patient_id}"}


def b12(**fields) -> dict:
    """A serum B12 Observation; fields replace or add to it."""
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "2132-9", "display": "Vitamin B12"}]},
        "subject": subject(),
        "effectiveDateTime": "2024-05-01T08:30:00",
        "valueQuantity": {"value": 150, "unit": "pg/mL"},
    } | fields


def administration(**fields) -> dict:
    return {
        "resourceType": "MedicationAdministration",
        "id": "m1",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "313896", "display": "Cyanocobalamin inj"}]
        },
        "subject": subject(),
        "effectiveDateTime": "2024-05-02T10:00:00",
    } | fields


def condition(**fields) -> dict:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": ICD10CM, "code": "G62.9"}]},
        "subject": subject(),
        "recordedDate": "2024-04-01",
    } | fields


def export(folder: Path, files: dict[str, list]) -> Path:
    """A bulk export folder; an Observation and a MedicationAdministration file are
    added when the test gives none (the audit needs labs and medications)."""
    folder.mkdir(parents=True, exist_ok=True)
    defaults = {
        "Observation.ndjson": [b12()],
        "MedicationAdministration.ndjson": [administration()],
    }
    for name, lines in (defaults | files).items():
        text = "".join(line(resource) + "\n" for resource in lines)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


class Run:
    def __init__(self, tmp_path: Path, files: dict[str, list], config: AuditConfig = LAX):
        self.db = tmp_path / "work" / "build.duckdb"
        database.create_build_database(self.db)
        self.files = stages.ingest(self.db, export(tmp_path / "in", files), "fhir")
        self.quarantined = stages.validate(self.db, config, self.files, tmp_path / "work")

    def rows(self, sql: str) -> list[tuple]:
        return query(self.db, sql)

    def quarantine(self) -> list[tuple]:
        return self.rows(
            "select source_file, source_line, column_name, check_name, value "
            "from quarantine order by all"
        )

    def counts(self) -> dict[tuple[str, str], tuple[int, int, int, int]]:
        """(file, table) -> (read, loaded, quarantined, not audited), balance checked."""
        loaded = stages.rows_loaded_by_file(self.db)
        rows = manifest.inputs_with_counts(self.files, self.quarantined, loaded)
        return {
            (r["file"], r["table"]): (
                r["rows_read"],
                r["rows_loaded"],
                r["rows_quarantined"],
                r["rows_not_audited"],
            )
            for r in rows
        }


LAB_COLUMNS = "patient_id, test_code, test_name, result, unit, collected_at::varchar, "
LAB_COLUMNS += "resulted_at::varchar, result_id, site"


def labs(tmp_path: Path, *observations: dict, patients: list | None = None) -> list[tuple]:
    """The lab rows of an export of these Observations, each its own resource: one id sent
    twice with other values is a conflict, quarantined (duplicate_result_id)."""
    files = {"Observation.ndjson": unique_ids(observations)}
    if patients is not None:
        files["Patient.ndjson"] = patients
    run = Run(tmp_path, files)
    return run.rows(f"select {LAB_COLUMNS} from lab_results order by source_line")


def unique_ids(resources) -> list:
    """The fixtures' default id ("o1") made unique by position: o1, o2, ..."""
    return [
        r | {"id": f"o{n}"} if isinstance(r, dict) and r.get("id") == "o1" else r
        for n, r in enumerate(resources, start=1)
    ]


# --- detecting the format and naming the files ----------------------------------------------


def test_gzipped_bulk_files_are_read_like_ndjson(tmp_path):
    folder = export(tmp_path / "in", {"Condition.ndjson": [condition()]})
    for name in ("Observation.ndjson", "Condition.ndjson"):
        text = (folder / name).read_bytes()
        (folder / f"{name}.gz").write_bytes(gzip.compress(text))
        (folder / name).unlink()
    db = tmp_path / "work" / "build.duckdb"
    database.create_build_database(db)
    files = stages.ingest(db, folder, "fhir")
    stages.validate(db, LAX, files, tmp_path / "work")
    assert sorted((f["file"], f["table"], f["rows_read"]) for f in files) == [
        ("Condition.ndjson.gz", "diagnoses", 1),
        ("MedicationAdministration.ndjson", "medications", 1),
        ("Observation.ndjson.gz", "lab_results", 1),
    ]
    assert query(db, "select test_code from lab_results") == [("2132-9",)]
    assert query(db, "select code from diagnoses") == [("G62.9",)]
    assert fhir.detect(folder) and adapters.detect(folder) == "fhir"


def test_a_folder_of_only_gzipped_files_is_a_fhir_export(tmp_path):
    folder = tmp_path / "gz"
    folder.mkdir()
    (folder / "Observation.ndjson.gz").write_bytes(gzip.compress(line(b12()).encode() + b"\n"))
    assert adapters.detect(folder) == "fhir"


def test_a_folder_with_ndjson_files_is_a_fhir_export(tmp_path):
    assert fhir.detect(export(tmp_path / "a", {}))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "lab_results.csv").write_text("patient_id\n")
    assert not fhir.detect(tmp_path / "b")


@pytest.mark.parametrize(
    "name",
    [
        "Observation.ndjson",
        "Observation.000.ndjson",
        "1.Observation.ndjson",
        "export_Observation_2.ndjson",
        "part-7.ndjson",  # no type in the name: the first resource's type
    ],
)
def test_the_resource_type_comes_from_the_file_name_or_else_its_first_resource(tmp_path, name):
    run = Run(tmp_path, {"Observation.ndjson": [], name: [b12()]})
    assert (name, "lab_results") in run.counts()
    assert run.rows("select source_file from lab_results") == [(name,)]


def test_a_file_not_named_for_its_type_is_typed_by_its_first_line_that_is_json(tmp_path):
    truncated = '{"resourceType":"Observation","id":"o0","subject":{"refer'
    run = Run(tmp_path, {"part-7.ndjson": ["", truncated, b12(id="o7")]})
    assert run.counts()[("part-7.ndjson", "lab_results")] == (2, 1, 1, 0)
    assert run.quarantine() == [("part-7.ndjson", 2, "(whole line)", "json_invalid", truncated)]


def test_a_file_not_named_for_its_type_with_no_json_line_stops_the_run(tmp_path):
    broken = '{"resourceType":"Observation","subject":{"reference":"Patient/SECRET-ID"'
    with pytest.raises(InputError) as error:
        Run(tmp_path, {"part-7.ndjson": [broken, broken]})
    assert str(error.value) == (
        "part-7.ndjson: none of its first 2 lines is a JSON resource, and the file name "
        "names no resource type; name the file for its type (e.g. Observation.ndjson)"
    )


def test_files_of_other_resource_types_are_counted_not_audited(tmp_path):
    encounter = {"resourceType": "Encounter", "id": "e1"}
    run = Run(tmp_path, {"Encounter.ndjson": [encounter, "", encounter, "{broken"]})
    assert run.counts()[("Encounter.ndjson", "not_audited")] == (3, 0, 0, 3)


def test_a_file_named_for_one_type_holding_another_stops_the_run(tmp_path):
    patient = {"resourceType": "Patient", "id": "SECRET-ID"}
    with pytest.raises(InputError) as error:
        Run(tmp_path, {"Observation.ndjson": [patient]})
    assert str(error.value) == (
        "Observation.ndjson: named for Observation but its first resource is a Patient"
    )


@pytest.mark.parametrize(
    ("files", "needed"),
    [
        ({"Observation.ndjson": None}, "no Observation NDJSON file (needed for lab_results)"),
        (
            {"MedicationAdministration.ndjson": None},
            "no MedicationAdministration, MedicationDispense or MedicationRequest NDJSON "
            "file (needed for medications)",
        ),
    ],
)
def test_labs_and_medications_are_required(tmp_path, files, needed):
    folder = export(tmp_path / "in", {})
    for name in files:
        (folder / name).unlink()
    with pytest.raises(InputError) as error:
        stages.ingest(tmp_path / "build.duckdb", folder, "fhir")
    assert str(error.value) == f"{folder}: {needed}"


# --- Observation -> lab_results --------------------------------------------------------------


def test_an_observation_becomes_a_lab_result(tmp_path):
    observation = b12(
        issued="2024-05-01T15:45:00.123Z",
        performer=[{"reference": "Practitioner/d1"}, {"reference": "Organization/north"}],
    )
    assert labs(tmp_path, observation) == [
        (
            "p1",
            "2132-9",
            "Vitamin B12",
            "150",
            "pg/mL",
            "2024-05-01 08:30:00",
            "2024-05-01 15:45:00.123",
            "o1",
            "north",
        )
    ]


def test_loinc_is_found_among_the_codings_else_the_first_coding_is_taken(tmp_path):
    local = {"system": "urn:lab", "code": "B12", "display": "B12 (local)"}
    loinc = {"system": LOINC, "code": "14685-2", "display": "Cobalamin [Moles/volume]"}
    rows = labs(
        tmp_path,
        b12(code={"coding": [local, loinc]}),
        b12(code={"coding": [local], "text": "Serum B12"}),
    )
    assert [r[1:3] for r in rows] == [
        ("14685-2", "Cobalamin [Moles/volume]"),
        ("B12", "Serum B12"),
    ]


def test_values_comparators_units_and_text_results(tmp_path):
    rows = labs(
        tmp_path,
        b12(valueQuantity={"value": 150, "comparator": "<", "unit": "pg/mL"}),
        b12(valueQuantity={"value": 2000, "comparator": ">=", "code": "pg/mL"}),
        b12(valueQuantity={"value": 11.9, "unit": "g/dL"}),
        b12(valueQuantity=None, valueString="hemolyzed"),
        b12(valueQuantity=None, valueCodeableConcept={"text": "see comment"}),
        b12(valueQuantity=None, dataAbsentReason={"text": "error"}),
    )
    assert [r[3:5] for r in rows] == [
        ("<150", "pg/mL"),
        (">=2000", "pg/mL"),
        ("11.9", "g/dL"),
        ("hemolyzed", None),
        ("see comment", None),
        (None, None),
    ]


def test_numbers_read_as_plain_decimals_never_with_an_exponent(tmp_path):
    # json.dumps writes 1e-07; the result parser reads no exponent (it read 1e-07 as 7).
    values = ["1e-07", "1.5E+3", "123456789", "12.0000", "0.00012", "-2.5e-3"]
    observations = [
        line(b12(id=f"o{n}")).replace('"value": 150', f'"value": {value}')
        for n, value in enumerate(values)
    ]
    rows = labs(tmp_path, *observations)
    assert [r[3] for r in rows] == [
        "0.0000001",
        "1500.0",
        "123456789",
        "12.0",
        "0.00012",
        "-0.0025",
    ]


def test_collection_time_from_effective_datetime_period_or_instant_in_local_time(tmp_path):
    rows = labs(
        tmp_path,
        b12(effectiveDateTime="2024-05-01T23:30:00+01:00"),
        b12(effectiveDateTime=None, effectivePeriod={"start": "2024-05-02T08:00:00Z"}),
        b12(effectiveDateTime=None, effectiveInstant="2024-05-03T09:15:00.5-05:00"),
        b12(effectiveDateTime="2024-05-04"),
    )
    assert [r[5] for r in rows] == [
        "2024-05-01 23:30:00",
        "2024-05-02 08:00:00",
        "2024-05-03 09:15:00.5",
        "2024-05-04 00:00:00",
    ]


def test_patient_and_site_from_references(tmp_path):
    patients = [
        {
            "resourceType": "Patient",
            "id": "p1",
            "managingOrganization": {"reference": "Organization/south"},
        },
    ]
    rows = labs(
        tmp_path,
        b12(subject={"reference": "https://fhir.example.org/r4/Patient/p1/_history/3"}),
        b12(performer=[{"reference": "Organization/north"}]),
        b12(subject={"reference": "Patient/p2"}),
        patients=patients,
    )
    # Own performer Organization first, else the patient's managingOrganization.
    assert [(r[0], r[8]) for r in rows] == [("p1", "south"), ("p1", "north"), ("p2", None)]


def test_a_patient_listed_in_two_files_does_not_double_the_labs(tmp_path):
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "managingOrganization": {"reference": "Organization/north"},
    }
    run = Run(tmp_path, {"Patient.000.ndjson": [patient], "Patient.001.ndjson": [patient]})
    assert run.rows("select patient_id, site from lab_results") == [("p1", "north")]


def test_entered_in_error_observations_are_counted_not_audited(tmp_path):
    run = Run(tmp_path, {"Observation.ndjson": [b12(), b12(id="o2", status="entered-in-error")]})
    assert run.rows("select result_id from lab_results") == [("o1",)]
    assert run.counts()[("Observation.ndjson", "lab_results")] == (1, 1, 0, 0)
    assert run.counts()[("Observation.ndjson", "retracted")] == (1, 0, 0, 1)


# --- Patient -> patients ---------------------------------------------------------------------


def test_a_patient_becomes_a_patients_row(tmp_path):
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "female",
        "birthDate": "1950-03-11",
        "managingOrganization": {"reference": "Organization/north", "display": "North General"},
    }
    run = Run(tmp_path, {"Patient.ndjson": [patient, {"resourceType": "Patient", "id": "p2"}]})
    assert run.rows(
        "select patient_id, sex, birth_date::varchar, site from patients order by 1"
    ) == [
        ("p1", "female", "1950-03-11", "north"),
        ("p2", None, None, None),
    ]


# --- MedicationAdministration / Dispense / Request -> medications ----------------------------


@pytest.mark.parametrize(
    ("resource_type", "status", "event_type"),
    [
        ("MedicationAdministration", "completed", "administered"),
        ("MedicationAdministration", "in-progress", "administered"),
        ("MedicationAdministration", "not-done", "not_given"),
        ("MedicationAdministration", "on-hold", "held"),
        ("MedicationAdministration", "stopped", "discontinued"),
        ("MedicationAdministration", "unknown", "other"),
        ("MedicationDispense", "completed", "dispensed"),
        ("MedicationDispense", "in-progress", "other"),
        ("MedicationDispense", "declined", "other"),
        ("MedicationDispense", "cancelled", "other"),
        ("MedicationDispense", "on-hold", "held"),
        ("MedicationDispense", "stopped", "discontinued"),
        ("MedicationRequest", "active", "ordered"),
        ("MedicationRequest", "completed", "ordered"),
        ("MedicationRequest", "on-hold", "held"),
        ("MedicationRequest", "cancelled", "discontinued"),
        ("MedicationRequest", "stopped", "ordered"),  # ordered then; stopped at a later date
        ("MedicationRequest", "draft", "other"),
        ("MedicationRequest", "a-status-not-in-r4", "other"),
    ],
)
def test_event_type_from_resource_type_and_status(tmp_path, resource_type, status, event_type):
    when = {"MedicationDispense": "whenHandedOver", "MedicationRequest": "authoredOn"}
    resource = administration(resourceType=resource_type, status=status)
    resource[when.get(resource_type, "effectiveDateTime")] = "2024-05-02"
    run = Run(
        tmp_path, {"MedicationAdministration.ndjson": [], f"{resource_type}.ndjson": [resource]}
    )
    assert run.rows("select event_type from medications") == [(event_type,)]


def test_entered_in_error_medications_are_counted_not_audited(tmp_path):
    run = Run(
        tmp_path, {"MedicationAdministration.ndjson": [administration(status="entered-in-error")]}
    )
    assert run.rows("select count(*) from medications") == [(0,)]
    assert run.counts()[("MedicationAdministration.ndjson", "medications")] == (0, 0, 0, 0)
    assert run.counts()[("MedicationAdministration.ndjson", "retracted")] == (1, 0, 0, 1)


MED_COLUMNS = "patient_id, drug_code, drug_name, event_type, event_at::varchar, dose, dose_unit, "
MED_COLUMNS += "route, site"


def test_an_administration_its_drug_dose_route_and_time(tmp_path):
    given = administration(
        medicationCodeableConcept={
            "coding": [
                {"system": "urn:pharmacy", "code": "B12-INJ", "display": "B12 inj (stock)"},
                {
                    "system": RXNORM,
                    "code": "313896",
                    "display": "cyanocobalamin 1 MG/ML Injectable",
                },
            ]
        },
        effectiveDateTime=None,
        effectivePeriod={"start": "2024-05-02T10:00:00Z"},
        dosage={"route": {"coding": [{"display": "IM"}]}, "dose": {"value": 1000, "unit": "mcg"}},
    )
    run = Run(tmp_path, {"MedicationAdministration.ndjson": [given]})
    assert run.rows(f"select {MED_COLUMNS} from medications") == [
        (
            "p1",
            "313896",
            "cyanocobalamin 1 MG/ML Injectable",
            "administered",
            "2024-05-02 10:00:00",
            "1000",
            "mcg",
            "IM",
            None,
        )
    ]


FOLIC = {"coding": [{"system": RXNORM, "code": "310410", "display": "folic acid 1 MG Oral Tablet"}]}


def test_a_medication_reference_names_its_drug_from_the_exports_medication_file(tmp_path):
    by_reference = administration(
        id="a1",
        medicationCodeableConcept=None,
        medicationReference={"reference": "Medication/med-folic"},
    )
    missing = administration(
        id="a2",
        medicationCodeableConcept=None,
        medicationReference={"reference": "Medication/nowhere", "display": "Folic acid 5mg"},
    )
    medication = {"resourceType": "Medication", "id": "med-folic", "code": FOLIC}
    run = Run(
        tmp_path,
        {
            "MedicationAdministration.ndjson": [by_reference, missing],
            "Medication.ndjson": [medication],
        },
    )
    assert run.rows("select drug_code, drug_name from medications order by source_line") == [
        ("310410", "folic acid 1 MG Oral Tablet"),
        (None, "Folic acid 5mg"),  # not in the export: the reference's own display
    ]
    assert run.quarantine() == []
    assert run.counts()[("Medication.ndjson", "not_audited")] == (1, 0, 0, 1)


def test_a_medication_reference_to_a_contained_medication_is_followed(tmp_path):
    given = administration(
        medicationCodeableConcept=None,
        medicationReference={"reference": "#m"},
        contained=[
            {"resourceType": "Organization", "id": "m", "name": "not a drug"},
            {"resourceType": "Medication", "id": "m", "code": FOLIC},
        ],
    )
    run = Run(tmp_path, {"MedicationAdministration.ndjson": [given]})
    assert run.rows("select drug_code, drug_name from medications") == [
        ("310410", "folic acid 1 MG Oral Tablet")
    ]


def test_a_dispense_and_a_request_read_their_dosage_instruction(tmp_path):
    instruction = [
        {
            "route": {"text": "oral"},
            "doseAndRate": [{"doseQuantity": {"value": 1, "code": "mg"}}],
        }
    ]
    drug = {
        "coding": [{"system": "http://www.whocc.no/atc", "code": "B03BB01"}],
        "text": "Folic acid 1 mg tab",
    }
    dispense = {
        "resourceType": "MedicationDispense",
        "status": "completed",
        "medicationCodeableConcept": drug,
        "subject": subject(),
        "whenHandedOver": "2024-06-01T11:00:00Z",
        "dosageInstruction": instruction,
        "performer": [{"actor": {"reference": "Organization/south"}}],
    }
    request = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "medicationReference": {"reference": "Medication/x", "display": "Folic acid 5 mg tab"},
        "subject": subject(),
        "authoredOn": "2024-05-30",
        "dosageInstruction": instruction,
        "performer": {"reference": "Organization/north"},
    }
    run = Run(
        tmp_path,
        {"MedicationDispense.ndjson": [dispense], "MedicationRequest.ndjson": [request]},
    )
    assert run.rows(
        f"select {MED_COLUMNS} from medications where event_type <> 'administered' order by 4"
    ) == [
        (
            "p1",
            "B03BB01",
            "Folic acid 1 mg tab",
            "dispensed",
            "2024-06-01 11:00:00",
            "1",
            "mg",
            "oral",
            "south",
        ),
        (
            "p1",
            None,
            "Folic acid 5 mg tab",
            "ordered",
            "2024-05-30 00:00:00",
            "1",
            "mg",
            "oral",
            "north",
        ),
    ]


# --- Condition -> diagnoses ------------------------------------------------------------------


def test_a_condition_becomes_a_diagnosis_preferring_icd10cm(tmp_path):
    both = {
        "coding": [{"system": SNOMED, "code": "42345000"}, {"system": ICD10CM, "code": "G62.9"}]
    }
    conditions = [
        condition(code=both),
        condition(
            code={"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "356.9"}]}
        ),
        condition(
            code={"coding": [{"system": SNOMED, "code": "42345000"}]},
            recordedDate=None,
            onsetDateTime="2024-03-01T09:00:00+02:00",
        ),
    ]
    run = Run(tmp_path, {"Condition.ndjson": conditions})
    assert run.rows(
        "select patient_id, code, code_system, recorded_at::varchar from diagnoses "
        "order by source_line"
    ) == [
        ("p1", "G62.9", "ICD10CM", "2024-04-01 00:00:00"),
        ("p1", "356.9", "ICD9CM", "2024-04-01 00:00:00"),
        ("p1", "42345000", "SNOMED", "2024-03-01 09:00:00"),
    ]


def test_a_condition_in_an_unknown_code_system_is_quarantined_showing_the_system(tmp_path):
    read = condition(code={"coding": [{"system": "http://read.info/readv2", "code": "F17z."}]})
    run = Run(tmp_path, {"Condition.ndjson": [read]})
    assert run.quarantine() == [
        ("Condition.ndjson", 1, "code_system", "code_system_known", "http://read.info/readv2")
    ]


def test_refuted_and_entered_in_error_conditions_are_counted_not_audited(tmp_path):
    def status(code):
        return {"verificationStatus": {"coding": [{"code": code}]}}

    conditions = [
        condition(**status("confirmed")),
        condition(**status("refuted")),
        condition(**status("entered-in-error")),
    ]
    run = Run(tmp_path, {"Condition.ndjson": conditions})
    assert run.counts()[("Condition.ndjson", "diagnoses")] == (1, 1, 0, 0)
    assert run.counts()[("Condition.ndjson", "retracted")] == (2, 0, 0, 2)


# --- malformed lines -------------------------------------------------------------------------


def test_bad_lines_are_quarantined_with_their_line_numbers(tmp_path):
    observations = [
        b12(id="o1"),
        "",  # empty lines are not resources but count for line numbers
        '{"resourceType":"Observation","id":"o2","subject":{"reference":"Patient/p1"',
        "[1, 2]",
        b12(id="o3", effectiveDateTime="2024-13-45"),
        {"resourceType": "Patient", "id": "p9"},
        "",
        b12(id="o4"),
    ]
    run = Run(tmp_path, {"Observation.ndjson": observations})
    truncated = observations[2]
    assert run.quarantine() == [
        ("Observation.ndjson", 3, "(whole line)", "json_invalid", truncated),
        ("Observation.ndjson", 4, "(whole line)", "json_invalid", "[1, 2]"),
        ("Observation.ndjson", 5, "collected_at", "iso_date", "2024-13-45"),
        ("Observation.ndjson", 6, "resourceType", "resource_type_mismatch", "Patient"),
    ]
    assert run.rows("select result_id, source_line from lab_results order by 2") == [
        ("o1", 1),
        ("o4", 8),
    ]
    assert run.counts()[("Observation.ndjson", "lab_results")] == (6, 2, 4, 0)


def test_crlf_lines_among_lf_lines_are_read_with_their_line_numbers(tmp_path):
    folder = export(tmp_path / "in", {})
    ok = [json.dumps(b12(id=f"o{n}")).encode() for n in range(4)]
    text = ok[0] + b"\n" + ok[1] + b"\r\n\r\n" + b'{"broken"\r\n' + ok[2] + b"\n" + ok[3]
    (folder / "Observation.ndjson").write_bytes(text)
    (folder / "Encounter.ndjson").write_bytes(b'{"resourceType":"Encounter"}\r\n{}\n\r\n{}')
    db = tmp_path / "work" / "build.duckdb"
    database.create_build_database(db)
    files = stages.ingest(db, folder, "fhir")
    stages.validate(db, LAX, files, tmp_path / "work")
    assert query(db, "select result_id, source_line from lab_results order by 2") == [
        ("o0", 1),
        ("o1", 2),
        ("o2", 5),
        ("o3", 6),
    ]
    assert query(db, "select source_line, check_name, value from quarantine") == [
        (4, "json_invalid", '{"broken"')
    ]
    read = {(f["file"], f["table"]): f["rows_read"] for f in files}
    assert read[("Observation.ndjson", "lab_results")] == 5
    assert read[("Encounter.ndjson", "not_audited")] == 3


def test_a_line_that_is_not_utf8_is_quarantined_and_later_lines_keep_their_numbers(tmp_path):
    folder = export(tmp_path / "in", {})
    good, other = (json.dumps(b12(id=i)).encode() for i in ("o1", "o2"))
    (folder / "Observation.ndjson").write_bytes(good + b"\n\xff\xfe broken\n" + other + b"\n")
    db = tmp_path / "work" / "build.duckdb"
    database.create_build_database(db)
    files = stages.ingest(db, folder, "fhir")
    stages.validate(db, LAX, files, tmp_path / "work")
    assert query(db, "select source_line, check_name from quarantine") == [
        (2, "csv_invalid_encoding")
    ]
    assert query(db, "select source_line from lab_results order by 1") == [(1,), (3,)]


def test_a_run_stops_when_most_lines_are_broken_without_echoing_them(tmp_path):
    broken = '{"resourceType":"Observation","subject":{"reference":"Patient/SECRET-ID"'
    with pytest.raises(InputError) as error:
        Run(tmp_path, {"Observation.ndjson": [broken, broken]}, AuditConfig())
    assert "SECRET" not in str(error.value)
    assert "json_invalid" in str(error.value)


def test_a_line_holding_a_raw_control_character_is_json_invalid(tmp_path):
    raw = '{"resourceType":"Observation","id":"o2\x01"}'
    run = Run(tmp_path, {"Observation.ndjson": [b12(), raw]})
    assert run.quarantine() == [("Observation.ndjson", 2, "(whole line)", "json_invalid", raw)]


def test_a_file_name_naming_two_audited_types_stops_the_run(tmp_path):
    with pytest.raises(InputError) as error:
        Run(tmp_path, {"Patient_Observation.ndjson": [b12()]})
    assert str(error.value) == (
        "Patient_Observation.ndjson: the file name names several resource types"
    )
