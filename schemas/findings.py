"""The findings table: one schema every rule's output must satisfy."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

FINDINGS_COLUMNS = [
    "patient_id",
    "finding",
    "reason",
    "index_date",
    "episode",
    "evidence_lab_row_ids",
    "evidence_medication_row_ids",
    "evidence_diagnosis_row_ids",
    "site",
]

# The reasons each finding may carry; a finding not listed here has no reasons.
REASONS = {
    "b12_borderline_no_mma": ["no_mma", "pending"],
    "folate_before_b12": [
        "known_low_untreated",
        "pending",
        "tested_after",
        "stale",
        "never_tested",
    ],
    "neuro_normal_b12_no_metabolites": ["none", "partial", "pending"],
    "b12_loading_incomplete": ["under_six_doses", "neuro_not_alternate_day", "neuro_on_oral_only"],
    "b12_treatment_lapse": ["gap", "stopped"],
    "monitoring_missed": ["no_fbc_at_8_weeks"],
}

# Descriptive tags: context for a reader, never inputs to any B12 or folate finding.
DESCRIPTIVE_TAGS = ("anaemia", "elevated_esr", "macrocytosis")


def _reason_fits_finding(frame: pd.DataFrame) -> pd.Series:
    allowed = frame["finding"].map(lambda f: REASONS.get(f, [None]))
    reason = frame["reason"].astype(object).where(frame["reason"].notna(), None)
    return pd.Series([r in a for r, a in zip(reason, allowed, strict=True)], index=frame.index)


def _has_evidence(frame: pd.DataFrame) -> pd.Series:
    evidence = ("evidence_lab_row_ids", "evidence_medication_row_ids", "evidence_diagnosis_row_ids")
    return sum(frame[column].map(len) for column in evidence) > 0


def findings_schema(findings: list[str]) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "patient_id": pa.Column(str, nullable=False, description="Patient identifier."),
            "finding": pa.Column(
                str, pa.Check.isin(findings), description="Rule name (sql/rules)."
            ),
            "reason": pa.Column(str, nullable=True, description="Why; empty if it has no reasons."),
            "index_date": pa.Column(nullable=False, description="Date the finding is dated by."),
            "episode": pa.Column(
                nullable=True,
                description="Folate episode or B12 course number, 1-based; empty for "
                "patient-level findings.",
            ),
            "evidence_lab_row_ids": pa.Column(description="Lab rows (file:line) that decided it."),
            "evidence_medication_row_ids": pa.Column(
                description="Medication rows that decided it."
            ),
            "evidence_diagnosis_row_ids": pa.Column(description="Diagnosis rows that decided it."),
            "site": pa.Column(str, nullable=True, description="Site of the index evidence row."),
        },
        checks=[
            pa.Check(_reason_fits_finding, name="reason_fits_finding"),
            pa.Check(_has_evidence, name="has_evidence"),
        ],
        strict=True,
        name="findings",
    )


COLUMN_COMMENTS = {name: col.description for name, col in findings_schema([]).columns.items()}
