"""Writes the canonical sample as a FHIR R4 bulk export: one NDJSON file per resource type.

Patient (managingOrganization = the site), Observation (LOINC coding, valueQuantity with
comparator for censored results such as `<150`, valueString for text results such as
`hemolyzed`; performer = the site), MedicationAdministration / MedicationDispense /
MedicationRequest (by event_type, with a FHIR status; RxNorm or ATC coding), Condition
(ICD-10-CM, ICD-9-CM or SNOMED coding). Observations are split over files named as a
bulk export server pages them (Observation.000.ndjson, Observation.001.ndjson, ...): at
least two, so the sample shows the paging, and at most MAX_LINES_PER_FILE lines each.

Malformed canonical values stay malformed, as text where FHIR wants a date
(`effectiveDateTime: "31/12/2024"`), so the audit quarantines them as it does the
canonical rows; the lab line with an extra CSV field becomes a truncated NDJSON line.
Patient ids keep the sample ids (valid FHIR ids). Standard library only.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

SYSTEMS = {
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD9CM": "http://hl7.org/fhir/sid/icd-9-cm",
    "SNOMED": "http://snomed.info/sct",
}
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
LOCAL = "urn:sample:local-code"
# event_type -> (resource type, status) that the adapter maps back to that event_type.
EVENTS = {
    "administered": ("MedicationAdministration", "completed"),
    "not_given": ("MedicationAdministration", "not-done"),
    "held": ("MedicationAdministration", "on-hold"),
    "dispensed": ("MedicationDispense", "completed"),
    "ordered": ("MedicationRequest", "active"),
    "discontinued": ("MedicationRequest", "stopped"),
}
OTHER_EVENT = ("MedicationRequest", "draft")
NUMBER = re.compile(r"^\s*(<=|>=|<|>)?\s*(-?\d+(?:\.\d+)?)\s*$")
DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")
# Few large files: a file costs the audit a fixed overhead (about 90 ms), which at 1000
# lines a file dominated the time of a large extract.
MAX_LINES_PER_FILE = 250_000


def write(sample_dir: Path, out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    patients = _rows(sample_dir / "patients.csv")
    labs = _rows(sample_dir / "lab_results.csv")
    _write(out_dir / "Patient.ndjson", [_patient(row) for row in patients])
    per_file = _lines_per_file(len(labs))
    for page in range(0, len(labs), per_file):
        lines = [_observation(row) for row in labs[page : page + per_file]]
        _write(out_dir / f"Observation.{page // per_file:03d}.ndjson", lines)
    medications = _rows(sample_dir / "medications.csv")
    by_type: dict[str, list[str]] = {}
    for n, row in enumerate(medications, start=1):
        resource_type, line = _medication(n, row)
        by_type.setdefault(resource_type, []).append(line)
    for resource_type, lines in sorted(by_type.items()):
        _write(out_dir / f"{resource_type}.ndjson", lines)
    diagnoses = _rows(sample_dir / "diagnoses.csv")
    _write(out_dir / "Condition.ndjson", [_condition(n, r) for n, r in enumerate(diagnoses, 1)])
    ids = {r["patient_id"] for table in (patients, labs, medications, diagnoses) for r in table}
    return {pid: pid for pid in sorted(ids) if pid}


def _lines_per_file(lines: int) -> int:
    """Lines a file for `lines` lines in at least two files of at most MAX_LINES_PER_FILE."""
    files = max(2, -(-lines // MAX_LINES_PER_FILE))
    return max(1, -(-lines // files))


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _json(resource: dict) -> str:
    return json.dumps(
        {k: v for k, v in resource.items() if v not in (None, "", [], {})}, separators=(",", ":")
    )


def _when(text: str) -> str | None:
    """A canonical date or date-time as FHIR writes it (seconds and a zone when there is a
    time); anything malformed stays as it is."""
    match = DATE_TIME.match(text or "")
    if match:
        return f"{match[1]}T{match[2]}{match[3] or ':00'}Z"
    return text or None


def _subject(patient_id: str) -> dict | None:
    return {"reference": f"Patient/{patient_id}"} if patient_id else None


def _organization(site: str) -> dict | None:
    return {"reference": f"Organization/{site}"} if site else None


def _patient(row: dict) -> str:
    gender = {"M": "male", "F": "female"}.get(row["sex"].upper(), "unknown")
    return _json(
        {
            "resourceType": "Patient",
            "id": row["patient_id"],
            "gender": gender if row["sex"] else None,
            "birthDate": row["birth_date"],
            "managingOrganization": _organization(row["site"]),
        }
    )


def _observation(row: dict) -> str:
    if None in row:  # the CSV line with an extra field: a line cut short, as on a bad copy
        return '{"resourceType":"Observation","id":"' + row["result_id"]
    number = NUMBER.match(row["result"] or "")
    quantity = None
    if number:
        value = float(number[2]) if "." in number[2] else int(number[2])
        quantity = {"value": value, "comparator": number[1], "unit": row["unit"]}
    return _json(
        {
            "resourceType": "Observation",
            "id": row["result_id"],
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": row["test_code"]}]}
            | ({"text": row["test_name"]} if row["test_name"] else {}),
            "subject": _subject(row["patient_id"]),
            "effectiveDateTime": _when(row["collected_at"]),
            "issued": _when(row["resulted_at"]),
            "valueQuantity": {k: v for k, v in (quantity or {}).items() if v not in (None, "")},
            "valueString": None if number else row["result"],
            "performer": [_organization(row["site"])] if row["site"] else None,
        }
    )


def _drug_coding(code: str) -> list[dict]:
    if not code:
        return []
    system = (
        RXNORM if code.isdigit() else ATC if re.match(r"^[A-Z]\d\d[A-Z]{2}\d\d$", code) else LOCAL
    )
    return [{"system": system, "code": code}]


def _medication(n: int, row: dict) -> tuple[str, str]:
    resource_type, status = EVENTS.get(row["event_type"], OTHER_EVENT)
    dose = {"value": _number(row["dose"]), "unit": row["dose_unit"] or None}
    dose = {k: v for k, v in dose.items() if v is not None}
    route = {"text": row["route"]} if row["route"] else None
    resource = {
        "resourceType": resource_type,
        "id": f"med-{n}",
        "status": status,
        "medicationCodeableConcept": {"coding": _drug_coding(row["drug_code"])}
        | ({"text": row["drug_name"]} if row["drug_name"] else {}),
        "subject": _subject(row["patient_id"]),
    }
    site = _organization(row["site"])
    instruction = [{"route": route, "doseAndRate": [{"doseQuantity": dose}] if dose else None}]
    instruction = [{k: v for k, v in instruction[0].items() if v}]
    if resource_type == "MedicationAdministration":
        # R4 lets no Organization perform an administration: its site is the patient's
        # managingOrganization (in the sample every medication's site is its patient's).
        resource |= {"effectiveDateTime": _when(row["event_at"])}
        resource |= {"dosage": {k: v for k, v in {"route": route, "dose": dose}.items() if v}}
    elif resource_type == "MedicationDispense":
        resource |= {"whenHandedOver": _when(row["event_at"]), "dosageInstruction": instruction}
        resource |= {"performer": [{"actor": site}] if site else None}
    else:
        resource |= {"authoredOn": _when(row["event_at"]), "dosageInstruction": instruction}
        resource |= {"performer": site}
    return resource_type, _json(resource)


def _number(text: str) -> int | float | None:
    if not text:
        return None
    return float(text) if "." in text else int(text)


def _condition(n: int, row: dict) -> str:
    system = SYSTEMS.get(row["code_system"], f"urn:sample:code-system:{row['code_system']}")
    return _json(
        {
            "resourceType": "Condition",
            "id": f"dx-{n}",
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {"coding": [{"system": system, "code": row["code"]}]},
            "subject": _subject(row["patient_id"]),
            "recordedDate": _when(row["recorded_at"]),
        }
    )
