"""Writes the canonical sample as OMOP CDM v5.4 tables (for tests/test_formats_agree.py).

    PERSON.csv, MEASUREMENT.csv, CARE_SITE.csv, CONCEPT.csv   upper-case names
    VISIT_OCCURRENCE.csv
    drug_exposure.csv, concept_ancestor.csv                   lower-case names
    condition_occurrence.parquet                              typed Parquet

person_id: the sample's patients numbered 1, 2 ... in sorted order (person_source_value
keeps the sample id); each person's care_site is the sample site. Every lab, drug and
condition row is at a visit: one per (person, date, site) of the rows, at the row's own
site, so an event at another site than its person's keeps it (a row with a malformed date
or no site has no visit and takes its person's site). CONCEPT holds every
concept the rows use. Real OMOP ids where they are known: the LOINC ids of clinical
reference 1.4 (sql/reference/omop_lab_concepts.csv), the UCUM unit ids seen in the
Synthea27Nj vocabulary, the B12 and folic acid ingredients (in concept_ancestor only).
Every other concept gets a SYNTHETIC id from 2000000000 up (OMOP keeps ids above 2 billion
for local concepts): MMA 13964-2, the RxNorm drug codes, drugs the sample names without a
code, and all ICD-10-CM, ICD-9-CM, SNOMED and Read codes.

Mapped as the OMOP adapter reads it back: censored results as operator_concept_id plus
value_as_number; text results in value_source_value; event_type as drug_type_concept_id
(OMOP has no type for an event not given, held or discontinued: those rows carry type 0,
read as 'other', which no rule counts, as no rule counts those events; stop_reason keeps
the word); dose as quantity with dose_unit_source_value.

resulted_at goes in measurement_result_date / measurement_result_datetime, columns of the
PEDSnet OMOP extension (CDM v5.4 itself has no result time). Left out, because a CDM table
cannot hold it and the canonical audit quarantines it anyway: the lab CSV line with an
extra field. Malformed dates stay as text in the CSV tables, for validation to
quarantine. Standard library and pyarrow only; deterministic.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REFERENCE = Path(__file__).resolve().parents[3] / "sql" / "reference"
SYNTHETIC_FROM = 2_000_000_000
# UCUM unit concept ids as in the Synthea27Nj CONCEPT table (a real OHDSI vocabulary).
UCUM = {
    "pg/mL": 8845,
    "ng/L": 8725,
    "ng/mL": 8842,
    "pmol/L": 8729,
    "nmol/L": 8736,
    "umol/L": 8749,
    "nmol/mL": 8843,
    "g/dL": 8713,
    "g/L": 8636,
    "fL": 8583,
    "mm/h": 8752,
}
OPERATORS = {"<": 4171756, "<=": 4171754, "=": 4172703, ">=": 4171755, ">": 4172704}
EVENT_TYPES = {"administered": 32818, "dispensed": 32869, "ordered": 32838}
GENDERS = {"M": 8507, "F": 8532}
INGREDIENTS = (  # (name pattern, ingredient concept id): clinical reference 1.4
    (re.compile(r"cyanocob", re.I), 1308738),
    (re.compile(r"hydroxocob|cyanokit", re.I), 1377023),
    (re.compile(r"folic", re.I), 19111620),
)
RESULT = re.compile(r"^\s*(<=|>=|<|>|=)?\s*(\d+(?:\.\d*)?|\.\d+)\s*$")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?$")
CONCEPT_COLUMNS = [
    "concept_id",
    "concept_name",
    "domain_id",
    "vocabulary_id",
    "concept_class_id",
    "standard_concept",
    "concept_code",
    "valid_start_date",
    "valid_end_date",
    "invalid_reason",
]


class Concepts:
    """The CONCEPT table being built: one concept per (vocabulary, key); the key is the
    code, or for a local drug its name (its code is then made up: OMOP<id>)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict] = {}
        self.next_id = SYNTHETIC_FROM

    def id(
        self,
        vocabulary: str,
        key: str,
        name: str,
        domain: str,
        known: int | None = None,
        code: str | None = None,
    ) -> int:
        if (vocabulary, key) not in self.rows:
            concept_id = known or self.next_id
            self.next_id += 0 if known else 1
            self.rows[(vocabulary, key)] = {
                "concept_id": concept_id,
                "concept_name": name,
                "domain_id": domain,
                "vocabulary_id": vocabulary,
                "concept_class_id": domain,
                "standard_concept": "S",
                "concept_code": code or key,
                "valid_start_date": "1970-01-01",
                "valid_end_date": "2099-12-31",
                "invalid_reason": "",
            }
        return self.rows[(vocabulary, key)]["concept_id"]


def write(sample_dir: Path, out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    patients = _rows(sample_dir / "patients.csv")
    labs = [r for r in _rows(sample_dir / "lab_results.csv") if None not in r]  # ragged line
    medications = _rows(sample_dir / "medications.csv")
    diagnoses = _rows(sample_dir / "diagnoses.csv")
    ids = sorted({r["patient_id"] for t in (patients, labs, medications, diagnoses) for r in t})
    person_ids = {p: str(n) for n, p in enumerate((p for p in ids if p.strip()), start=1)}
    sites = _sites(patients, (labs, medications, diagnoses))
    concepts = Concepts()
    _csv(out_dir / "CARE_SITE.csv", [_care_site(s, n) for s, n in sites.items()])
    _csv(out_dir / "PERSON.csv", [_person(r, person_ids, sites) for r in patients])
    visits = Visits(person_ids, sites)
    loinc = _lab_concept_ids()
    rows = [_measurement(n, r, visits, concepts, loinc) for n, r in enumerate(labs, 1)]
    _csv(out_dir / "MEASUREMENT.csv", rows)
    names = {}
    for r in medications:
        if r["drug_name"].strip():
            names.setdefault(r["drug_code"].strip(), r["drug_name"].strip())
    drug_rows = [_drug(n, r, visits, names, concepts) for n, r in enumerate(medications, 1)]
    _csv(out_dir / "drug_exposure.csv", drug_rows)
    _conditions(out_dir / "condition_occurrence.parquet", diagnoses, visits, concepts)
    _csv(out_dir / "VISIT_OCCURRENCE.csv", visits.table())
    _csv(out_dir / "CONCEPT.csv", list(concepts.rows.values()))
    _csv(out_dir / "concept_ancestor.csv", _ancestors(concepts))
    return person_ids


def _rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _split(moment: str) -> tuple[str, str]:
    """(date, datetime) from an ISO value; a malformed value stays whole in the date."""
    match = DATE_TIME.match(moment.strip())
    if not match:
        return moment, ""
    time = match[2] and (match[2] if len(match[2]) == 8 else match[2] + ":00")
    return match[1], f"{match[1]} {time}" if time else ""


def _sites(patients: list[dict], events: tuple[list[dict], ...]) -> dict[str, str]:
    """Care site ids: the persons' sites in sorted order, then any other site of the events."""
    sites = {s: str(n) for n, s in enumerate(sorted({r["site"] for r in patients}), start=1)}
    others = sorted({r["site"] for t in events for r in t if r["site"].strip()} - set(sites))
    return sites | {s: str(n) for n, s in enumerate(others, start=len(sites) + 1)}


class Visits:
    """VISIT_OCCURRENCE being built: one visit per (person, date, site), numbered in the
    order first seen."""

    def __init__(self, person_ids: dict, sites: dict) -> None:
        self.person_ids, self.sites = person_ids, sites
        self.ids: dict[tuple[str, str, str], int] = {}

    def person(self, row: dict) -> str:
        return self.person_ids.get(row["patient_id"], "")

    def id(self, row: dict, day: str) -> int | None:
        person, site = self.person(row), self.sites.get(row["site"])
        if not (person and site and ISO_DAY.match(day)):
            return None
        return self.ids.setdefault((person, day, site), len(self.ids) + 1)

    def table(self) -> list[dict]:
        return [
            {
                "visit_occurrence_id": visit,
                "person_id": person,
                "visit_concept_id": 9202,  # Outpatient Visit [S]
                "visit_start_date": day,
                "visit_end_date": day,
                "visit_type_concept_id": 32817,  # EHR [S]
                "care_site_id": site,
            }
            for (person, day, site), visit in self.ids.items()
        ]


def _care_site(site: str, care_site_id: str) -> dict:
    return {
        "care_site_id": care_site_id,
        "care_site_name": site,
        "place_of_service_concept_id": 0,
        "location_id": "",
        "care_site_source_value": site,
        "place_of_service_source_value": "",
    }


def _person(row: dict, person_ids: dict, sites: dict) -> dict:
    year, month, day = (row["birth_date"].split("-") + ["", "", ""])[:3]
    return {
        "person_id": person_ids.get(row["patient_id"], ""),
        "gender_concept_id": GENDERS.get(row["sex"].strip().upper(), 0),
        "year_of_birth": year,
        "month_of_birth": month.lstrip("0"),
        "day_of_birth": day.lstrip("0"),
        "birth_datetime": "",
        "race_concept_id": 0,
        "ethnicity_concept_id": 0,
        "location_id": "",
        "provider_id": "",
        "care_site_id": sites.get(row["site"], ""),
        "person_source_value": row["patient_id"],
        "gender_source_value": row["sex"],
    }


def _lab_concept_ids() -> dict[str, int]:
    with (REFERENCE / "omop_lab_concepts.csv").open(newline="", encoding="utf-8") as handle:
        return {r["loinc"]: int(r["concept_id"]) for r in csv.DictReader(handle)}


def _measurement(n: int, row: dict, visits: Visits, concepts: Concepts, loinc: dict) -> dict:
    concept = concepts.id(
        "LOINC", row["test_code"], row["test_name"], "Measurement", loinc.get(row["test_code"])
    )
    day, moment = _split(row["collected_at"])
    result_day, result_moment = _split(row["resulted_at"])
    result = RESULT.match(row["result"])
    unit = row["unit"]
    return {
        "measurement_id": n,
        "person_id": visits.person(row),
        "measurement_concept_id": concept,
        "measurement_date": day,
        "measurement_datetime": moment,
        "measurement_type_concept_id": 32856,  # Lab [S]
        "operator_concept_id": OPERATORS[result[1]] if result and result[1] else "",
        "value_as_number": result[2] if result else "",
        "value_as_concept_id": "",
        "unit_concept_id": UCUM.get(unit, 0),
        "range_low": "",
        "range_high": "",
        "provider_id": "",
        "visit_occurrence_id": visits.id(row, day),
        "visit_detail_id": "",
        "measurement_source_value": row["test_code"],
        "measurement_source_concept_id": concept,
        "unit_source_value": unit,
        "unit_source_concept_id": "",
        "value_source_value": row["result"],
        "measurement_result_date": result_day,
        "measurement_result_datetime": result_moment,
    }


def _drug_concept(row: dict, names: dict, concepts: Concepts) -> tuple[int, str]:
    """(drug_concept_id, drug_source_value): an RxNorm concept for an RxCUI (named as the
    sample first names that code), else a local (RxNorm Extension) concept named as the
    sample names the drug, with the source's own code (ATC, local) as source value."""
    code, name = row["drug_code"].strip(), row["drug_name"].strip()
    if code.isdigit():
        return concepts.id("RxNorm", code, names.get(code, code), "Drug"), code
    if name:
        local = f"OMOP{concepts.next_id}"
        return concepts.id("RxNorm Extension", name, name, "Drug", code=local), code or name
    return 0, code


def _drug(n: int, row: dict, visits: Visits, names: dict, concepts: Concepts) -> dict:
    concept, source_value = _drug_concept(row, names, concepts)
    day, moment = _split(row["event_at"])
    dosed = bool(row["dose"].strip() and row["dose_unit"].strip())
    return {
        "drug_exposure_id": n,
        "person_id": visits.person(row),
        "drug_concept_id": concept,
        "drug_exposure_start_date": day,
        "drug_exposure_start_datetime": moment,
        "drug_exposure_end_date": day,
        "drug_exposure_end_datetime": "",
        "verbatim_end_date": "",
        "drug_type_concept_id": EVENT_TYPES.get(row["event_type"], 0),
        "stop_reason": "" if row["event_type"] in EVENT_TYPES else row["event_type"],
        "refills": "",
        "quantity": row["dose"] if dosed else "",
        "days_supply": "",
        "sig": "",
        "route_concept_id": 0,
        "lot_number": "",
        "provider_id": "",
        "visit_occurrence_id": visits.id(row, day),
        "visit_detail_id": "",
        "drug_source_value": source_value,
        "drug_source_concept_id": 0,
        "route_source_value": row["route"],
        "dose_unit_source_value": row["dose_unit"] if dosed else "",
    }


def _conditions(path: Path, rows: list[dict], visits: Visits, concepts: Concepts) -> None:
    """ICD codes as source concepts (condition_concept_id 0: their SNOMED mapping is not
    known here), SNOMED codes as the standard concept; the READ row as a Read source
    concept, which the adapter passes on as code_system 'Read' for validation to refuse."""
    table: dict[str, list] = {
        c: []
        for c in (
            "condition_occurrence_id",
            "person_id",
            "condition_concept_id",
            "condition_start_date",
            "condition_start_datetime",
            "condition_type_concept_id",
            "condition_source_value",
            "condition_source_concept_id",
            "visit_occurrence_id",
        )
    }
    for n, row in enumerate(rows, 1):
        system = {"READ": "Read"}.get(row["code_system"], row["code_system"])
        code = _dotted(row["code"]) if system == "ICD10CM" else row["code"]
        concept = concepts.id(system, code, f"{system} {code}", "Condition")
        day, moment = _split(row["recorded_at"])
        person = visits.person(row)
        values = (
            n,
            int(person) if person else None,
            concept if system == "SNOMED" else 0,
            dt.date.fromisoformat(day),
            dt.datetime.fromisoformat(moment) if moment else None,
            32817,
            row["code"],
            0 if system == "SNOMED" else concept,
            visits.id(row, day),
        )
        for column, value in zip(table, values, strict=True):
            table[column].append(value)
    types = [
        pa.int64(),
        pa.int64(),
        pa.int64(),
        pa.date32(),
        pa.timestamp("us"),
        pa.int64(),
        pa.string(),
        pa.int64(),
        pa.int64(),
    ]
    arrays = [pa.array(v, type=t) for v, t in zip(table.values(), types, strict=True)]
    pq.write_table(pa.table(dict(zip(table, arrays, strict=True))), path)


def _dotted(code: str) -> str:
    """ICD-10-CM concept codes carry the dot: G629 -> G62.9."""
    code = code.strip()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _ancestors(concepts: Concepts) -> list[dict]:
    """Each drug concept under the B12 or folic acid ingredient its name says."""
    rows = []
    for (vocabulary, _), concept in concepts.rows.items():
        for pattern, ingredient in INGREDIENTS:
            if vocabulary.startswith("RxNorm") and pattern.search(concept["concept_name"]):
                rows.append(
                    {
                        "ancestor_concept_id": ingredient,
                        "descendant_concept_id": concept["concept_id"],
                        "min_levels_of_separation": 1,
                        "max_levels_of_separation": 1,
                    }
                )
    return rows
