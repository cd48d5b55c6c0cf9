"""The staging view of each audited OMOP table: canonical columns from OMOP columns.

Each view reads one file's numbered rows (source_row first) and joins only the small
maps of omop_vocabulary.py. Values that cannot be mapped pass through as the source wrote
them, so validation quarantines them with their original text. A patient's site is the
care site of person.care_site_id (staging.omop_person_site); an event's is its visit's
(visit_occurrence_id -> staging.omop_visit_site), as the CDM records where an event
happened, else its person's when the visit or its care site is absent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from transforms.inputs import ingest

if TYPE_CHECKING:
    from transforms.inputs.adapters.omop import OmopFile

OPTIONAL = {
    "person": (
        "birth_datetime",
        "month_of_birth",
        "day_of_birth",
        "gender_source_value",
        "care_site_id",
    ),
    "measurement": (
        "measurement_datetime",
        "operator_concept_id",
        "value_as_number",
        "unit_concept_id",
        "measurement_source_value",
        "unit_source_value",
        "value_source_value",
        # Not in CDM v5.4: the PEDSnet OMOP extension's result time, read when present
        # (standard OMOP has no time a result was known).
        "measurement_result_date",
        "measurement_result_datetime",
        "visit_occurrence_id",
    ),
    "drug_exposure": (
        "drug_exposure_start_datetime",
        "quantity",
        "route_concept_id",
        "drug_source_value",
        "drug_source_concept_id",
        "route_source_value",
        "dose_unit_source_value",
        "visit_occurrence_id",
    ),
    "condition_occurrence": (
        "condition_start_datetime",
        "condition_source_value",
        "condition_source_concept_id",
        "visit_occurrence_id",
    ),
    "care_site": ("care_site_name", "care_site_source_value"),
    "visit_occurrence": ("care_site_id",),
    "concept": ("domain_id",),
}
# A drug_source_value that is a code, not a name: an RxCUI or an ATC code.
DRUG_CODE = r"^([0-9]{1,8}|[A-Z][0-9]{2}[A-Z]{2}[0-9]{2})$"
# A datetime at exactly midnight is how OMOP ETLs fill a datetime they do not have
# (Synthea does, for every row): it reads as the date alone.
# With an offset too: Eunomia's and many R and Spark exports write `1998-10-03T00:00:00Z`.
MIDNIGHT = r"^\d{4}-\d{2}-\d{2}[T ]00:00(:00(\.0*)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
DATE_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
ISO_DAY = r"^\d{4}-\d{2}-\d{2}"
# The code system of a bare condition_source_value, when no concept names it (last resort).
SOURCE_CODE_SYSTEM = (
    # ICD-9-CM external causes E800-E999 first where ICD-10-CM cannot be meant: its chapter
    # E ends at E89, so an E9xx code is ICD-9 (undotted E8xx and Vxx codes are both shapes:
    # ICD-10 unless the file's other bare codes are all ICD-9, see ICD9_FILE).
    ("ICD9CM", r"^E9[0-9]{2}(\.?[0-9])?$"),
    ("ICD10CM", r"^[A-TV-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$"),
    ("ICD9CM", r"^([0-9]{3}|E[0-9]{3})(\.?[0-9]{1,2})?$"),
    ("SNOMED", r"^[0-9]{6,18}$"),
)
# In a file of ICD-9 era (bare numeric ICD-9 codes and no letter ICD-10 cannot share with
# ICD-9), an undotted E or V code is ICD-9's external cause (E8798 = E879.8) or
# supplementary code (V5869 = V58.69): SynPUF's claims are such a file.
ICD9_NUMERIC = r"^[0-9]{3}(\.?[0-9]{1,2})?$"
ICD10_ONLY = r"^[A-DF-TW-Z][0-9]"
ICD9_FILE = ("ICD9CM", r"^(E[0-9]{3}[0-9]?|V[0-9]{2}[0-9]{0,2})$")
LOCAL_CONCEPTS = 2_000_000_000  # OMOP's first id for a site's own (local) concepts
# OMOP gender concepts (CDM conventions; Synthea27Nj's PERSON pairs them with M and F).
MALE, FEMALE = 8507, 8532


def create_view(con: duckdb.DuckDBPyConnection, f: OmopFile) -> None:
    build = {
        "person": _patients,
        "measurement": _lab_results,
        "drug_exposure": _medications,
        "condition_occurrence": _diagnoses,
    }[f.omop_table]
    select, joins, where = build(con, f)
    joins += (
        f" left join {ingest.lookup('staging.omop_person_site')} as ps"
        f" on ps.person_key = trim({f.text('person_id')})"
    )
    site = "ps.site"
    if f.has("visit_occurrence_id"):
        joins += (
            f" left join {ingest.lookup('staging.omop_visit_site')} as vs"
            f" on vs.visit_key = {_blank(f.text('visit_occurrence_id'))}"
        )
        site = "coalesce(vs.site, ps.site)"
    columns = ingest.canonical_select(f.source.table, select | {"site": site})
    ingest.create_view(con, f.source, f"select {columns} from {f.rows()} {joins} {where}")


def _blank(sql: str) -> str:
    return f"nullif(trim({sql}), '')"


def _when(f: OmopFile, datetime_column: str, date_column: str) -> str:
    """The datetime when it carries a time of day, else the date, else whatever text the
    row has (for validation to show)."""
    moment, day = _blank(f.text(datetime_column)), _blank(f.text(date_column))
    return (
        f"case when regexp_matches({moment}, '{DATE_TIME}') "
        f"and not regexp_matches({moment}, '{MIDNIGHT}') then {moment} "
        f"else coalesce({day}, {moment}) end"
    )


def _patients(con, f: OmopFile) -> tuple[dict, str, str]:
    gender = f.concept_id("gender_concept_id")
    sex = (
        f"case {gender} when {MALE} then 'M' when {FEMALE} then 'F' "
        f"else {_blank(f.text('gender_source_value'))} end"
    )
    return (
        {"patient_id": f"trim({f.text('person_id')})", "sex": sex, "birth_date": _birth(f)},
        "",
        "",
    )


def _birth(f: OmopFile) -> str:
    """birth_datetime's date, else year/month/day. A missing day or month is imputed
    (the 15th; 1 July), so that age-based tags can use a year-only birth (OMOP makes
    only the year required); age is then off by at most half a year."""
    moment = _blank(f.text("birth_datetime"))
    year, month, day = (
        f"try_cast(trim({f.text(c)}) as integer)"
        for c in ("year_of_birth", "month_of_birth", "day_of_birth")
    )
    return (
        f"case when regexp_matches({moment}, '{ISO_DAY}') then left({moment}, 10) "
        f"when {year} is not null then printf('%04d-%02d-%02d', {year}, coalesce({month}, 7), "
        f"coalesce({day}, if({month} is null, 1, 15))) "
        f"else coalesce({moment}, {_blank(f.text('year_of_birth'))}) end"
    )


def _lab_results(con, f: OmopFile) -> tuple[dict, str, str]:
    """test_code: the LOINC code of measurement_concept_id (vocabulary, else the reference
    ids), else measurement_source_value, else 'OMOP:<concept id>' (a code
    local_test_codes can map). result: value_as_number, prefixed by its operator, else
    value_source_value. unit: unit_source_value, else the unit concept's UCUM code.
    resulted_at: the PEDSnet extension's measurement_result_datetime or _date, if any."""
    number = _blank(f.text("value_as_number"))
    source_code = _blank(f.text("measurement_source_value"))
    concept = f.concept_id("measurement_concept_id")
    select = {
        "patient_id": f"trim({f.text('person_id')})",
        "test_code": f"coalesce(lc.loinc, {source_code}, "
        f"if(coalesce({concept}, 0) <> 0, 'OMOP:' || {concept}, null))",
        "test_name": f"coalesce(lc.name, {source_code})",
        "result": f"if({number} is not null, "
        f"coalesce(nullif(op.operator, '='), '') || {number}, {f.text('value_source_value')})",
        "unit": f"coalesce({_blank(f.text('unit_source_value'))}, u.unit)",
        "collected_at": _when(f, "measurement_datetime", "measurement_date"),
        "resulted_at": _when(f, "measurement_result_datetime", "measurement_result_date"),
        "result_id": _blank(f.text("measurement_id")),
    }
    operator_join = (
        f" left join {ingest.lookup('staging.omop_operator')} as op"
        f" on op.concept_id = {f.concept_id('operator_concept_id')}"
    )
    joins = (
        f" left join {ingest.lookup('staging.omop_lab_concept')} as lc on lc.concept_id = {concept}"
        f" left join {ingest.lookup('staging.omop_unit')} as u"
        f" on u.concept_id = {f.concept_id('unit_concept_id')}"
        f"{operator_join}"
    )
    if not _any_unknown_operator(con, f):
        return select, joins, ""
    unknown = _unknown_operator(f, number)
    _reject_unknown_operators(con, f, operator_join, unknown)
    return select, joins, f"where not ({unknown})"


def _given_operator(f: OmopFile) -> str:
    """operator_concept_id when set: not blank, not 0 (OMOP's "no matching concept")."""
    given = f"{_blank(f.text('operator_concept_id'))} is not null"
    return f"{given} and coalesce({f.concept_id('operator_concept_id')}, -1) <> 0"


def _any_unknown_operator(con, f: OmopFile) -> bool:
    """Whether any row names an operator that is not known (text that is no concept id
    included): one pass over the column's distinct values, so that the rows are looked
    for (another pass, with the join) only in a file that has some."""
    if not f.has("operator_concept_id"):
        return False
    query = f"""
        select count(*) from (
            select distinct {f.concept_id("operator_concept_id")} as concept_id
            from {f.rows(numbered=False)} where {_given_operator(f)}) as d
        where not exists (
            select 1 from staging.omop_operator as op where op.concept_id = d.concept_id)
    """
    return con.execute(query).fetchall()[0][0] > 0


def _unknown_operator(f: OmopFile, number: str) -> str:
    """A number whose operator_concept_id is set (not 0) but is no known operator: its
    censoring cannot be known, so the row is rejected rather than read as exact."""
    return f"coalesce({_given_operator(f)} and op.operator is null and {number} is not null, false)"


def _reject_unknown_operators(con, f: OmopFile, operator_join: str, unknown: str) -> None:
    con.execute(
        f"""
        insert into staging.row_rejects
        select $file, $table, source_row, 'operator_concept_id', 'omop_operator_unknown',
               trim({f.text("operator_concept_id")})
        from {f.rows()} {operator_join}
        where {unknown}
        """,
        {"file": f.source.name, "table": f.source.table},
    )


def _medications(con, f: OmopFile) -> tuple[dict, str, str]:
    """drug_code: the RxNorm code of drug_concept_id, else of the concept
    drug_source_concept_id "Maps to" (concept_relationship), else drug_source_value when it
    is a code. drug_name: the concept's name, else the mapped one's, else
    drug_source_value. event_type from
    drug_type_concept_id (sql/reference/omop_drug_types.csv; unlisted -> other). route:
    route_concept_id's name, else route_source_value. dose: quantity, only with a
    dose_unit_source_value: a bare quantity counts units dispensed (30 tablets), no dose."""
    source_value = _blank(f.text("drug_source_value"))
    unit = _blank(f.text("dose_unit_source_value"))
    quantity = _blank(f.text("quantity"))
    dosed = f"{unit} is not null and try_cast({quantity} as double) > 0"
    select = {
        "patient_id": f"trim({f.text('person_id')})",
        "drug_code": f"coalesce(d.rxnorm_code, dm.rxnorm_code, "
        f"if(regexp_matches({source_value}, '{DRUG_CODE}'), {source_value}, null))",
        "drug_name": f"coalesce(d.name, dm.name, {source_value})",
        "event_type": "coalesce(t.event_type, 'other')",
        "event_at": _when(f, "drug_exposure_start_datetime", "drug_exposure_start_date"),
        "dose": f"if({dosed}, {quantity}, null)",
        "dose_unit": f"if({dosed}, {unit}, null)",
        "route": f"coalesce(rt.route, {_blank(f.text('route_source_value'))})",
    }
    # drug_concept_id 0 (unmapped by the ETL): the drug its source concept "Maps to".
    source_concept = (
        f.concept_id("drug_source_concept_id") if f.has("drug_source_concept_id") else "null"
    )
    joins = (
        f" left join {ingest.lookup('staging.omop_drug_concept')} as d"
        f" on d.concept_id = {f.concept_id('drug_concept_id')}"
        f" left join {ingest.lookup('staging.omop_drug_maps_to')} as mt"
        f" on mt.source_id = {source_concept}"
        f" left join {ingest.lookup('staging.omop_drug_concept')} as dm"
        " on dm.concept_id = mt.target_id"
        f" left join {ingest.lookup('staging.omop_drug_type')} as t"
        f" on t.concept_id = {f.concept_id('drug_type_concept_id')}"
        f" left join {ingest.lookup('staging.omop_route')} as rt"
        f" on rt.concept_id = {f.concept_id('route_concept_id')}"
    )
    return select, joins, ""


def _icd9_era(con, f: OmopFile) -> bool:
    """Whether the file's bare condition_source_values include ICD-9 numeric codes and no
    code only ICD-10-CM writes (a letter other than E or V then a digit)."""
    if not f.has("condition_source_value"):
        return False
    value = f"upper(trim({f.text('condition_source_value')}))"
    icd9, icd10 = con.execute(
        f"select count(*) filter (where regexp_matches({value}, '{ICD9_NUMERIC}')),"
        f" count(*) filter (where regexp_matches({value}, '{ICD10_ONLY}'))"
        f" from {f.rows(numbered=False)}"
    ).fetchone()
    return icd9 > 0 and icd10 == 0


def _diagnoses(con, f: OmopFile) -> tuple[dict, str, str]:
    """code and code_system: condition_source_concept_id's concept when it is ICD10CM,
    ICD9CM or SNOMED; else condition_concept_id's when it is; else a local source concept
    as LOCAL; else whichever concept there is, with its own vocabulary (validation then
    names it, e.g. Read); else condition_source_value, its system read from its shape."""
    known = "('ICD10CM', 'ICD9CM', 'SNOMED')"
    source_value = _blank(f.text("condition_source_value"))
    shapes = ((ICD9_FILE,) if _icd9_era(con, f) else ()) + SOURCE_CODE_SYSTEM
    shape = " ".join(
        f"when regexp_matches(upper({source_value}), '{pattern}') then '{system}'"
        for system, pattern in shapes
    )
    # A local concept (OMOP reserves ids from 2,000,000,000 for a site's own vocabularies,
    # mimiciv_... in the MIMIC-IV demo) is valid but on no list: code system LOCAL.
    pick = (
        f"case when sc.vocabulary_id in {known} then sc.{{0}} "
        f"when cc.vocabulary_id in {known} then cc.{{0}} "
        f"when sc.concept_id >= {LOCAL_CONCEPTS} then {{2}} "
        "when sc.concept_id is not null then sc.{0} "
        "when cc.concept_id is not null then cc.{0} "
        "else {1} end"
    )
    system_from_shape = f"case when {source_value} is null then null {shape} else 'unknown' end"
    select = {
        "patient_id": f"trim({f.text('person_id')})",
        "code": pick.format("code", source_value, "sc.code"),
        "code_system": pick.format("vocabulary_id", system_from_shape, "'LOCAL'"),
        "recorded_at": _when(f, "condition_start_datetime", "condition_start_date"),
    }
    joins = (
        f" left join {ingest.lookup('staging.omop_condition_concept')} as sc"
        f" on sc.concept_id = {f.concept_id('condition_source_concept_id')}"
        f" left join {ingest.lookup('staging.omop_condition_concept')} as cc"
        f" on cc.concept_id = {f.concept_id('condition_concept_id')}"
    )
    return select, joins, ""
