"""Writes the canonical sample as a plausible site export with a mapping.toml (format "site").

What a hospital's own exports look like, unlike the canonical extract: their own column
names, ";" between fields, a decimal comma, day-first dates (dd/mm/yyyy HH:MM[:SS], or
dd/mm/yyyy for a date without a time), local codes for some tests and for event types and
code systems, and a mix of encodings: labs in UTF-16, medications in UTF-8 with a byte
order mark, patients in latin-1, diagnoses in plain UTF-8. The mapping.toml written beside
them maps it all back, so the audit must give the canonical findings.

Every row is written, the malformed ones too (the ragged line, the impossible and the
misordered dates, the unknown code system), so they are quarantined here as there, at the
same line numbers.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

# Canonical column -> the site's column, per file; file settings beside them. File names
# must not look canonical (lab_results*.csv...), or the folder would hold two formats.
FILES = {
    "lab_results": {
        "file": "PATHOLOGY_RESULTS.csv",
        "encoding": "utf-16",
        "columns": {
            "patient_id": "PAT_ID",
            "test_code": "ANALYTE_CODE",
            "test_name": "ANALYTE",
            "result": "RESULT_VALUE",
            "unit": "UNITS",
            "collected_at": "COLLECTED",
            "resulted_at": "REPORTED",
            "result_id": "ACCESSION",
            "site": "HOSPITAL",
        },
    },
    "medications": {
        "file": "PHARMACY_EVENTS.csv",
        "encoding": "utf-8-sig",
        "columns": {
            "patient_id": "PAT_ID",
            "drug_code": "DRUG_CODE",
            "drug_name": "DRUG_DESCRIPTION",
            "event_type": "ACTION",
            "event_at": "ACTION_TIME",
            "dose": "DOSE_VALUE",
            "dose_unit": "DOSE_UNITS",
            "route": "ROUTE",
            "site": "HOSPITAL",
        },
    },
    "patients": {
        "file": "DEMOGRAPHICS.csv",
        "encoding": "latin-1",
        "columns": {
            "patient_id": "PAT_ID",
            "sex": "GENDER",
            "birth_date": "DOB",
            "site": "HOSPITAL",
        },
    },
    "diagnoses": {
        "file": "PROBLEM_LIST.csv",
        "encoding": "utf-8",
        "columns": {
            "patient_id": "PAT_ID",
            "code": "DIAG_CODE",
            "code_system": "CODING",
            "recorded_at": "NOTED_ON",
            "site": "HOSPITAL",
        },
    },
}
# Local lab codes for some analytes (the rest keep their LOINC), mapped back in [test_codes].
LOCAL_TEST_CODES = {"2132-9": "B12S", "13964-2": "MMAS", "718-7": "HB"}
# The site's own words for event types and code systems, mapped back in [*.values.*].
# The sample's unknown code system READ is written as is, and quarantined as there.
LOCAL_VALUES = {
    "event_type": {
        "administered": "GIVEN",
        "dispensed": "DISPENSED",
        "ordered": "ORDERED",
        "not_given": "NOT GIVEN",
        "held": "HELD",
        "discontinued": "STOPPED",
    },
    "code_system": {"ICD10CM": "ICD-10", "ICD9CM": "ICD-9", "SNOMED": "SCT"},
}
# A local pharmacy code, stated in [drug_classes]; the canonical audit classes the same
# row by its name "Folic acid 1 mg tablet" as folate_therapeutic too.
DRUG_CLASSES = {"LOCAL-FA1": "folate_therapeutic"}
DATE_COLUMNS = {"collected_at", "resulted_at", "event_at", "birth_date", "recorded_at"}
NUMBER_COLUMNS = {"result", "dose"}
# The sample has date-times with and without seconds, and dates alone: one format each,
# so every value reads back exactly.
DATE_FORMATS = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"]
ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?$")
NUMBER = re.compile(r"^\s*(<=|>=|<|>|=)?\s*(\d+([.,]\d*)?|[.,]\d+)\s*$")
DECIMAL_SWAP = str.maketrans(".,", ",.")


def write(sample_dir: Path, out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    patient_ids: dict[str, str] = {}
    for table, spec in FILES.items():
        with (sample_dir / f"{table}.csv").open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], rows[1:]
        site_rows = [[spec["columns"][c] for c in header]]
        site_rows += [[site_value(c, v) for c, v in zip_ragged(header, row)] for row in body]
        write_csv(out_dir / spec["file"], spec["encoding"], site_rows)
        patient_ids |= {row[0]: row[0] for row in body if row[0]}
    (out_dir / "mapping.toml").write_text(mapping_toml(), encoding="utf-8")
    return patient_ids


def zip_ragged(header: list[str], row: list[str]) -> list[tuple[str, str]]:
    """(column, value) pairs; a field past the header (the sample's ragged line) is kept,
    so the site file has the same ragged line."""
    return [(header[i] if i < len(header) else "", v) for i, v in enumerate(row)]


def site_value(column: str, value: str) -> str:
    if column == "test_code":
        return LOCAL_TEST_CODES.get(value, value)
    if column in LOCAL_VALUES:
        return LOCAL_VALUES[column].get(value, value)
    if column in NUMBER_COLUMNS and NUMBER.match(value):
        # Swapping the marks also writes the sample's invalid "0,25" as "0.25", which a
        # decimal-comma mapping reads back as the same invalid "0,25".
        return value.translate(DECIMAL_SWAP)
    if column in DATE_COLUMNS:
        return site_date(value)
    return value


def site_date(value: str) -> str:
    """ISO text rearranged as dd/mm/yyyy[ HH:MM[:SS]], textually, so an impossible date
    (2024-02-30) stays impossible. A date not in ISO form (the sample's day-first
    31/12/2024, quarantined there) is written year first (2024/12/31): not the site's
    format either, so it is quarantined here too."""
    match = ISO.match(value)
    if not match:
        return "/".join(reversed(value.split("/")))
    year, month, day, time = match.groups()
    return f"{day}/{month}/{year}" + (f" {time}" if time else "")


def write_csv(path: Path, encoding: str, rows: list[list[str]]) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=";", lineterminator="\r\n").writerows(rows)


def mapping_toml() -> str:
    lines = []
    for table, spec in FILES.items():
        lines += [
            f"[{table}]",
            f'file = "{spec["file"]}"',
            'delimiter = ";"',
            f'encoding = "{spec["encoding"]}"',
            'decimal = ","',
            "date_format = [" + ", ".join(f'"{f}"' for f in DATE_FORMATS) + "]",
            "",
            f"[{table}.columns]",
            *(f'{canonical} = "{column}"' for canonical, column in spec["columns"].items()),
            "",
        ]
        for column, local in LOCAL_VALUES.items():
            if column in spec["columns"]:
                lines += [f"[{table}.values.{column}]"]
                lines += [f'"{site}" = "{canonical}"' for canonical, site in local.items()]
                lines += [""]
    lines += ["[test_codes]"]
    lines += [f'"{local}" = "{loinc}"' for loinc, local in LOCAL_TEST_CODES.items()]
    lines += ["", "[drug_classes]", *(f'"{k}" = "{v}"' for k, v in DRUG_CLASSES.items())]
    return "\n".join(lines) + "\n"
