"""What each FHIR R4 resource type becomes: its canonical table, the fields read from each
NDJSON line, and the SQL expression for every canonical column.

Each line is parsed once into a struct `r` by DuckDB's json_transform with the shape
below (every leaf VARCHAR: a number reads as its shortest text, 12.0000 as 12.0, 1e2
as 100.0 and 0.0000001 as 1e-07; a field of the wrong JSON shape reads as null instead of
failing the file).

Site: the resource's own Organization (Observation.performer, the Medication* performer
or performer.actor), written as the id in the Organization reference
(`Organization/north` -> `north`), since a display text may vary between resources naming
the same organisation. Where a resource names none, the adapter takes the subject's
Patient.managingOrganization.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from transforms.database import sql_quote

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"

CODING = [{"system": "VARCHAR", "code": "VARCHAR", "display": "VARCHAR"}]
CONCEPT = {"coding": CODING, "text": "VARCHAR"}
REFERENCE = {"reference": "VARCHAR", "display": "VARCHAR"}
QUANTITY = {"value": "VARCHAR", "comparator": "VARCHAR", "unit": "VARCHAR", "code": "VARCHAR"}
DOSAGE = {"route": CONCEPT, "dose": QUANTITY}
INSTRUCTION = [{"route": CONCEPT, "doseAndRate": [{"doseQuantity": QUANTITY}]}]
COMMON = {"resourceType": "VARCHAR", "id": "VARCHAR", "status": "VARCHAR", "subject": REFERENCE}
CONTAINED = [{"resourceType": "VARCHAR", "id": "VARCHAR", "code": CONCEPT}]
MEDICATION = {
    "medicationCodeableConcept": CONCEPT,
    "medicationReference": REFERENCE,
    "contained": CONTAINED,
}
# A Medication resource of the export (Medication.ndjson): what a reference to it names.
MEDICATION_RESOURCE_SHAPE = {"resourceType": "VARCHAR", "id": "VARCHAR", "code": CONCEPT}


@dataclass(frozen=True)
class Resource:
    table: str
    shape: dict
    columns: dict[str, str]  # canonical column -> SQL over r
    retracted: str  # SQL: the resource was recorded in error (counted, not audited)
    retracted_shape: dict = field(default_factory=dict)  # fields `retracted` reads, but status
    joins: str = ""  # SQL joined to the lines before the columns are made (aliases they use)

    @property
    def structure(self) -> str:
        return json.dumps(COMMON | self.shape)

    @property
    def kind_structure(self) -> str:
        """Just the fields that say whether a line is a resource to audit."""
        return json.dumps({"resourceType": "VARCHAR", "status": "VARCHAR"} | self.retracted_shape)


def coded(concept: str, system: str) -> str:
    """The concept's first coding in the system (a struct with .code and .display)."""
    return f"list_filter({concept}.coding, lambda c: c.system = '{system}')[1]"


def ref_id(reference: str, resource_type: str) -> str:
    """`Patient/123`, `https://server/fhir/Patient/123/_history/2` -> `123`; else null."""
    return f"nullif(regexp_extract({reference}, '(?:^|/){resource_type}/([^/]+)', 1), '')"


def fhir_time(value: str) -> str:
    """A FHIR dateTime or instant as canonical ISO text: the local time as written, its
    offset (Z, +01:00) dropped so the day stays the patient's day; fractions past 6 digits
    cut. Anything else (2024-05, 2024-13-45, free text) passes unchanged and fails the
    iso_date check with its own text."""
    pattern = r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\d*(?:Z|[+-]\d{2}:\d{2})$"
    return f"regexp_replace({value}, '{pattern}', '\\1')"


def site(organization_ref: str) -> str:
    return ref_id(organization_ref, "Organization")


def first_org(references: str) -> str:
    """The first Organization among a list of references."""
    return f"list_filter({references}, lambda x: regexp_matches(x, '(?:^|/)Organization/'))[1]"


def concept_text(concept: str) -> str:
    return f"coalesce({concept}.text, {concept}.coding[1].display, {concept}.coding[1].code)"


def number_text(number: str) -> str:
    """A JSON number as plain decimal text: 1e-07 as 0.0000001, since the result parser
    reads no exponent (it would read 1e-07 as 7); others as they read."""
    plain = f"rtrim(rtrim(try_cast({number} as decimal(38, 18))::varchar, '0'), '.')"
    return f"if(regexp_matches({number}, '[eE]'), coalesce({plain}, {number}), {number})"


def quantity_text(quantity: str) -> str:
    return f"coalesce({quantity}.comparator, '') || {number_text(quantity + '.value')}"


ENTERED_IN_ERROR = "r.status = 'entered-in-error'"
PATIENT = ref_id("r.subject.reference", "Patient")

PATIENT_RESOURCE = Resource(
    "patients",
    {"gender": "VARCHAR", "birthDate": "VARCHAR", "managingOrganization": REFERENCE},
    {
        "patient_id": "r.id",
        "sex": "r.gender",
        "birth_date": fhir_time("r.birthDate"),
        "site": ref_id("r.managingOrganization.reference", "Organization"),
    },
    "false",  # a Patient has no entered-in-error status
)

OBSERVATION = Resource(
    "lab_results",
    {
        "code": CONCEPT,
        "valueQuantity": QUANTITY,
        "valueString": "VARCHAR",
        "valueInteger": "VARCHAR",
        "valueCodeableConcept": CONCEPT,
        "effectiveDateTime": "VARCHAR",
        "effectivePeriod": {"start": "VARCHAR"},
        "effectiveInstant": "VARCHAR",
        "issued": "VARCHAR",
        "performer": [REFERENCE],
    },
    {
        "patient_id": PATIENT,
        # LOINC wherever it sits among the codings; else the first coding's code, which a
        # local_test_codes entry in the configuration may map to LOINC.
        "test_code": f"coalesce({coded('r.code', LOINC)}.code, r.code.coding[1].code)",
        "test_name": f"coalesce(r.code.text, {coded('r.code', LOINC)}.display, "
        "r.code.coding[1].display)",
        "result": f"coalesce({quantity_text('r.valueQuantity')}, r.valueString, "
        "r.valueInteger, r.valueCodeableConcept.text)",
        "unit": "coalesce(r.valueQuantity.unit, r.valueQuantity.code)",
        "collected_at": fhir_time(
            "coalesce(r.effectiveDateTime, r.effectivePeriod.start, r.effectiveInstant)"
        ),
        "resulted_at": fhir_time("r.issued"),
        "result_id": "r.id",
        "site": site(first_org("list_transform(r.performer, lambda x: x.reference)")),
    },
    ENTERED_IN_ERROR,
)


def drug_code(concept: str) -> str:
    """A medication concept's code: RxNorm, else ATC, else the first coding's."""
    return (
        f"coalesce({coded(concept, RXNORM)}.code, {coded(concept, ATC)}.code, "
        f"{concept}.coding[1].code)"
    )


def drug_name(concept: str) -> str:
    """A medication concept's name: RxNorm's display, else its text, else the first display."""
    return (
        f"coalesce({coded(concept, RXNORM)}.display, {concept}.text, {concept}.coding[1].display)"
    )


# The Medication a medicationReference names: `#id` among the resource's contained ones, or
# `Medication/id` in the export's Medication files (staging.fhir_medications, made by
# fhir.py from them, joined as `m`).
CONTAINED_MEDICATION = (
    "list_filter(r.contained, lambda c: c.resourceType = 'Medication' "
    "and '#' || c.id = r.medicationReference.reference)[1].code"
)
MEDICATION_JOIN = " left join {medications} as m on m.medication_id = " + ref_id(
    "r.medicationReference.reference", "Medication"
)


def medication(shape: dict, event_at: str, dose: str, route: str, org: str) -> Resource:
    """A Medication* resource: the drug from medicationCodeableConcept (RxNorm, else ATC,
    else the first coding), else from the Medication its medicationReference names (a
    contained one, or one in the export's Medication files), else the reference's display.
    event_type is filled in from sql/reference/fhir_medication_status.csv (with_reference)."""
    concept = "r.medicationCodeableConcept"
    return Resource(
        "medications",
        MEDICATION | shape,
        {
            "patient_id": PATIENT,
            "drug_code": f"coalesce({drug_code(concept)}, "
            f"{drug_code(CONTAINED_MEDICATION)}, m.code)",
            "drug_name": f"coalesce({drug_name(concept)}, {drug_name(CONTAINED_MEDICATION)}, "
            "m.name, r.medicationReference.display)",
            "event_type": "null",
            "event_at": fhir_time(event_at),
            "dose": number_text(f"{dose}.value"),
            "dose_unit": f"coalesce({dose}.unit, {dose}.code)",
            "route": concept_text(route),
            "site": site(org),
        },
        ENTERED_IN_ERROR,
        joins=MEDICATION_JOIN,
    )


ACTORS = [{"actor": REFERENCE}]
MEDICATION_ADMINISTRATION = medication(
    {
        "effectiveDateTime": "VARCHAR",
        "effectivePeriod": {"start": "VARCHAR"},
        "dosage": DOSAGE,
        "performer": ACTORS,
    },
    "coalesce(r.effectiveDateTime, r.effectivePeriod.start)",
    "r.dosage.dose",
    "r.dosage.route",
    first_org("list_transform(r.performer, lambda x: x.actor.reference)"),
)
FIRST_INSTRUCTION = "r.dosageInstruction[1]"
MEDICATION_DISPENSE = medication(
    {
        "whenHandedOver": "VARCHAR",
        "whenPrepared": "VARCHAR",
        "dosageInstruction": INSTRUCTION,
        "performer": ACTORS,
    },
    "coalesce(r.whenHandedOver, r.whenPrepared)",
    f"{FIRST_INSTRUCTION}.doseAndRate[1].doseQuantity",
    f"{FIRST_INSTRUCTION}.route",
    first_org("list_transform(r.performer, lambda x: x.actor.reference)"),
)
MEDICATION_REQUEST = medication(
    {"authoredOn": "VARCHAR", "dosageInstruction": INSTRUCTION, "performer": REFERENCE},
    "r.authoredOn",
    f"{FIRST_INSTRUCTION}.doseAndRate[1].doseQuantity",
    f"{FIRST_INSTRUCTION}.route",
    "r.performer.reference",
)

CONDITION = Resource(
    "diagnoses",
    {
        "code": CONCEPT,
        "verificationStatus": CONCEPT,
        "recordedDate": "VARCHAR",
        "onsetDateTime": "VARCHAR",
    },
    {
        "patient_id": PATIENT,
        "code": "null",  # filled in from sql/reference/fhir_code_systems.csv (with_reference)
        "code_system": "null",
        "recorded_at": fhir_time("coalesce(r.recordedDate, r.onsetDateTime)"),
        "site": "null",  # a Condition names no organisation: the patient's
    },
    # A diagnosis recorded in error, or ruled out (refuted), is no diagnosis.
    "list_has_any(list_transform(r.verificationStatus.coding, lambda c: c.code), "
    "['entered-in-error', 'refuted'])",
    {"verificationStatus": CONCEPT},
)


def event_type(statuses: dict[str, str]) -> str:
    """status -> event_type; a status the table does not name is `other`, a missing one
    stays null (and fails not_nullable)."""
    cases = " ".join(
        f"when '{sql_quote(status)}' then '{sql_quote(event)}'"
        for status, event in statuses.items()
    )
    return f"case when r.status is null then null else case r.status {cases} else 'other' end end"


def diagnosis_code(systems: dict[str, str]) -> dict[str, str]:
    """code and code_system from the first coding of the first system listed (URL ->
    canonical name, in preference order); else the first coding with its system URL as
    code_system, which fails code_system_known and shows the user the system."""
    codings = [(coded("r.code", sql_quote(url)), sql_quote(name)) for url, name in systems.items()]
    names = " ".join(f"when {c} is not null then '{name}'" for c, name in codings)
    return {
        "code": f"coalesce({', '.join(f'{c}.code' for c, _ in codings)}, r.code.coding[1].code)",
        "code_system": f"case {names} else r.code.coding[1].system end",
    }


def with_reference(
    statuses: dict[str, dict[str, str]], systems: dict[str, str]
) -> dict[str, Resource]:
    """Every resource type's mapping, completed with the reference tables' values."""
    done = {}
    for name, resource in RESOURCES.items():
        columns = dict(resource.columns)
        if resource.table == "medications":
            columns["event_type"] = event_type(statuses.get(name, {}))
        if resource.table == "diagnoses":
            columns |= diagnosis_code(systems)
        done[name] = replace(resource, columns=columns)
    return done


RESOURCES = {
    "Patient": PATIENT_RESOURCE,
    "Observation": OBSERVATION,
    "MedicationAdministration": MEDICATION_ADMINISTRATION,
    "MedicationDispense": MEDICATION_DISPENSE,
    "MedicationRequest": MEDICATION_REQUEST,
    "Condition": CONDITION,
}
