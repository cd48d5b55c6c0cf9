"""The findings table: one schema every rule's output must satisfy."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa


def _reason_fits_finding(reasons: dict[str, list[str | None]]):
    def check(frame: pd.DataFrame) -> pd.Series:
        allowed = frame["finding"].map(lambda f: reasons.get(f, []))
        reason = frame["reason"].astype(object).where(frame["reason"].notna(), None)
        return pd.Series([r in a for r, a in zip(reason, allowed, strict=True)], index=frame.index)

    return check


def _has_evidence(frame: pd.DataFrame) -> pd.Series:
    evidence = ("evidence_lab_row_ids", "evidence_medication_row_ids", "evidence_diagnosis_row_ids")
    return sum(frame[column].map(len) for column in evidence) > 0


def findings_schema(reasons: dict[str, list[str | None]]) -> pa.DataFrameSchema:
    """The findings table's schema; `reasons` maps each finding to the reasons it may carry
    ([None] for a finding without reasons), from the finding registry (sql/rules/*.toml)."""
    return pa.DataFrameSchema(
        {
            "patient_id": pa.Column(str, nullable=False, description="Patient identifier."),
            "finding": pa.Column(
                str, pa.Check.isin(list(reasons)), description="Rule name (sql/rules)."
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
            pa.Check(_reason_fits_finding(reasons), name="reason_fits_finding"),
            pa.Check(_has_evidence, name="has_evidence"),
        ],
        strict=True,
        name="findings",
    )


COLUMN_COMMENTS = {name: col.description for name, col in findings_schema({}).columns.items()}
