"""The canonical extract: one Pandera schema per input table, the one place each column is defined.

Every column arrives as text exactly as the source wrote it (DuckDB reads all columns as
VARCHAR), so the schemas check text: presence, non-blank identifiers and ISO dates. Typing
happens afterwards in DuckDB (sql/load_*.sql), on rows these schemas have passed.
A row failing any check is quarantined with file, line, column, check and value.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

# Date `YYYY-MM-DD`, optionally followed by a time of day `HH:MM[:SS[.fraction]]` (up to 9
# digits: Spark writes nanoseconds) and, after a time, an offset as exports write one: `Z`,
# `+01:00`, `+0100` or `+01`. The offset is dropped when the row is typed (sql/macros.sql
# `local_time`): the time is read as the local time written, so the day stays the
# patient's day (docs/input-formats.md says how each format's offsets are read).
# [0-9], not \d: polars' regular expressions take \d to mean any Unicode digit.
ISO_DATE_OR_DATETIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)?$"
)
# What is trimmed from both ends of a value: spaces only, exactly as DuckDB's trim() in
# sql/load/ does, so a value these checks pass is a value the typing there can cast.
# (A tab or carriage return inside a date makes it fail iso_date and go to quarantine.)
WHITESPACE = " "

# The checks are polars expressions on the column a check is attached to, so Pandera's
# polars backend runs them on Arrow batches without a copy (transforms/inputs/validate.py).
# A check's null result counts as a pass: nulls are the `nullable` setting's business.


def _column_check(expression, name: str) -> pa.Check:
    """A Pandera check from a function of the column's polars expression."""
    return pa.Check(lambda data: data.lazyframe.select(expression(pl.col(data.key))), name=name)


def _trimmed(column: pl.Expr) -> pl.Expr:
    return column.str.strip_chars(WHITESPACE)


def _is_iso_timestamp(column: pl.Expr) -> pl.Expr:
    """ISO shape, and a real calendar day (2024-02-30 is not); blank counts as no date.
    Year 0000 is no calendar year (ISO 8601 allows it only by agreement; Python has none)."""
    text = _trimmed(column)
    day = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    real_day = text.str.contains(ISO_DATE_OR_DATETIME) & (day.dt.year() >= 1)
    return real_day.fill_null(False) | (text == "")


def iso_timestamp() -> pa.Check:
    return _column_check(_is_iso_timestamp, "iso_date")


def not_after(day: dt.date) -> pa.Check:
    return _column_check(
        lambda column: _trimmed(column).str.slice(0, 10) <= day.isoformat(), "not_in_future"
    )


# Characters no reader sees: zero-width space, non-joiner and joiner, word joiner, byte
# order mark, soft hyphen. Identifiers lose them on loading (sql/macros.sql clean_id), so
# "P1" and "P1" with a zero-width space are one patient; control characters (a NUL) are no
# part of any identifier: the row is quarantined. Both patterns are read by polars' and by
# Arrow's regular expressions.
INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def visible(column: pl.Expr) -> pl.Expr:
    """The text as a reader sees it: invisible characters out, spaces trimmed."""
    return _trimmed(column.str.replace_all(INVISIBLE, ""))


NOT_BLANK = _column_check(lambda column: visible(column).str.len_chars() > 0, "not_blank")
NO_CONTROL_CHARACTERS = _column_check(
    lambda column: ~column.str.contains(CONTROL), "no_control_characters"
)


def _text(description: str, *checks: pa.Check, required: bool = True, nullable: bool = True):
    return pa.Column(
        str, checks=list(checks), required=required, nullable=nullable, description=description
    )


def _timestamp(description: str, required: bool, nullable: bool, future_limit: dt.date | None):
    checks = [iso_timestamp()] + ([not_after(future_limit)] if future_limit else [])
    checks += [] if nullable else [NOT_BLANK]
    return _text(description, *checks, required=required, nullable=nullable)


def _identifier(description: str) -> pa.Column:
    return _text(description, NOT_BLANK, NO_CONTROL_CHARACTERS, nullable=False)


def _optional(description: str) -> pa.Column:
    return _text(description, required=False)


def lab_results(future_limit: dt.date | None = None) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "patient_id": _identifier("Patient identifier (pseudonymised at source)."),
            "test_code": _identifier("LOINC code, or a local code mapped in local_test_codes."),
            "test_name": _optional("Test name as reported; informational only."),
            "result": _text("Result text exactly as reported, e.g. 187, <150, hemolyzed."),
            "unit": _text("Unit as reported, any case, e.g. pg/mL, pmol/L; may be empty."),
            "collected_at": _timestamp(
                "Specimen collection date or date-time (ISO).", True, False, future_limit
            ),
            "resulted_at": _timestamp(
                "Date or date-time the result was reported (ISO).", False, True, future_limit
            ),
            "result_id": _optional("Source system result identifier."),
            "site": _optional("Site (hospital) that produced the result."),
        },
        name="lab_results",
        strict=False,
        coerce=False,
    )


def _has_drug_code_or_name(data) -> pl.LazyFrame:
    names = data.lazyframe.collect_schema().names()
    filled = [
        _trimmed(pl.col(name)).str.len_chars().fill_null(0) > 0
        for name in ("drug_code", "drug_name")
        if name in names
    ]
    return data.lazyframe.select(pl.any_horizontal(filled))


def medications(future_limit: dt.date | None = None) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "patient_id": _identifier("Patient identifier (pseudonymised at source)."),
            "drug_code": _optional("RxNorm or ATC code, if the source has one."),
            "drug_name": _text("Drug name as recorded; matched when no code is on a list."),
            "event_type": _identifier(
                "administered, dispensed, ordered, not_given, held, discontinued, or other."
            ),
            "event_at": _timestamp(
                "Date or date-time of the event (ISO).", True, False, future_limit
            ),
            "dose": _optional("Dose amount as recorded."),
            "dose_unit": _optional("Dose unit as recorded."),
            "route": _optional("Route as recorded."),
            "site": _optional("Site that recorded the event."),
        },
        checks=[pa.Check(_has_drug_code_or_name, name="drug_code_or_name")],
        name="medications",
        strict=False,
        coerce=False,
    )


def patients(future_limit: dt.date | None = None) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "patient_id": _identifier("Patient identifier (pseudonymised at source)."),
            "sex": _optional("Sex as recorded."),
            "birth_date": _timestamp("Date of birth (ISO).", False, True, future_limit),
            "site": _optional("Registered site."),
        },
        name="patients",
        strict=False,
        coerce=False,
    )


# LOCAL: a site's own codes (an OMOP local concept, id 2,000,000,000 or more, in a site
# vocabulary): loaded, on no list, counted in evaluability.csv.
CODE_SYSTEMS = ("ICD10CM", "ICD9CM", "SNOMED", "LOCAL")


def _known_code_system(column: pl.Expr) -> pl.Expr:
    return _trimmed(column).str.to_uppercase().is_in(CODE_SYSTEMS)


def diagnoses(future_limit: dt.date | None = None) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "patient_id": _identifier("Patient identifier (pseudonymised at source)."),
            "code": _identifier(
                "Diagnosis code as recorded, with or without the dot (D51.0, D510)."
            ),
            "code_system": _text(
                "ICD10CM, ICD9CM, SNOMED or LOCAL (a site's own codes; any case).",
                _column_check(_known_code_system, "code_system_known"),
                nullable=False,
            ),
            "recorded_at": _timestamp(
                "Date or date-time the diagnosis was recorded (ISO).", True, False, future_limit
            ),
            "site": _optional("Site that recorded the diagnosis."),
        },
        name="diagnoses",
        strict=False,
        coerce=False,
    )


# What each quarantine check means, for the quarantine summary.
CHECK_MEANING = {
    "not_nullable": "required value is missing",
    "not_blank": "value is only spaces (or invisible characters)",
    "no_control_characters": "identifier holds a control character (a NUL, say)",
    "duplicate_result_id": "result_id repeated with different values: every copy is held",
    "duplicate_identical": "an identical copy of a result loaded once (not a failure)",
    "iso_date": "not an ISO date YYYY-MM-DD or date-time YYYY-MM-DD[T ]HH:MM[:SS][offset]",
    "not_in_future": "date after the run date (reject_future_dates = true)",
    "date_implausible": "date far from the bulk of the extract's dates "
    "(plausible_years_around_bulk)",
    "drug_code_or_name": "neither drug_code nor drug_name is given",
    "code_system_known": "code_system is not ICD10CM, ICD9CM, SNOMED or LOCAL",
    "csv_too_many_columns": "CSV row has more fields than the header",
    "csv_missing_columns": "CSV row has fewer fields than the header",
    "csv_invalid_encoding": "CSV row is not valid UTF-8",
    "csv_line_too_long": "CSV line longer than the reader reads (over 2 MB)",
    "csv_unquoted_value": "CSV row has a stray quote",
    # Checks a source format's adapter makes before the canonical schema sees a row.
    "json_invalid": "line is not one complete JSON object (NDJSON)",
    "resource_type_mismatch": "FHIR resource of another type than the file holds (NDJSON)",
    "omop_operator_unknown": "operator_concept_id is no known operator (<, <=, =, >=, >)",
    "event_type_unknown": "event_type is no canonical event type; the mapping file does not map it",
}

SCHEMAS = {
    "lab_results": lab_results,
    "medications": medications,
    "patients": patients,
    "diagnoses": diagnoses,
}
REQUIRED_TABLES = ("lab_results", "medications")


def required_columns(table: str) -> list[str]:
    return [name for name, col in SCHEMAS[table]().columns.items() if col.required]


def known_columns(table: str) -> list[str]:
    return list(SCHEMAS[table]().columns)
