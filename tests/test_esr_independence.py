"""ESR is descriptive only: removing every ESR result changes no finding but elevated_esr.

The guideline: "Elevated ESR does not influence B12 treatment decisions or dosing."
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE, query, run_stages
from transforms.config import AuditConfig

ESR_CODES = {
    row["code"]
    for row in csv.DictReader(
        (REPO / "sql/reference/concepts/lab_esr.csv").read_text(encoding="utf-8").splitlines()
    )
}
FINDINGS = """
    select patient_id, finding, reason, index_date, episode, evidence_lab_row_ids,
        evidence_medication_row_ids, evidence_diagnosis_row_ids, site
    from findings
"""


def copy_sample(folder: Path, with_diagnoses: bool) -> Path:
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("*.py", "*.md", "scenarios.csv"))
    if with_diagnoses:
        # A denser diagnoses file than the sample's: every patient a polyneuropathy code (on
        # one of two dates) and every third one pernicious anaemia, so the rules that need
        # diagnoses (neuro work-up, loading, lapse) have many more cases to decide.
        with (SAMPLE / "patients.csv").open(encoding="utf-8") as handle:
            patients = [row["patient_id"] for row in csv.DictReader(handle)]
        with (folder / "diagnoses.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["patient_id", "code", "code_system", "recorded_at"])
            for i, patient in enumerate(patients):
                writer.writerow([patient, "G62.9", "ICD10CM", ("2025-03-01", "2024-06-01")[i % 2]])
                if i % 3 == 0:
                    writer.writerow([patient, "D51.0", "ICD10CM", "2024-02-01"])
    return folder


def drop_esr_rows(labs: Path) -> dict[str, str]:
    """Rewrites lab_results.csv without its ESR rows, line by line (the ragged quarantine
    row stays as it is); returns each kept row's new evidence id -> its original one."""
    lines = labs.read_text(encoding="utf-8").splitlines(keepends=True)
    code_at = next(csv.reader([lines[0]])).index("test_code")
    kept = [1] + [
        number
        for number, line in enumerate(lines[1:], start=2)
        if next(csv.reader([line]))[code_at].strip() not in ESR_CODES
    ]
    assert len(kept) < len(lines), "the sample has no ESR rows to drop"
    labs.write_text("".join(lines[n - 1] for n in kept), encoding="utf-8")
    return {
        f"lab_results.csv:{new}": f"lab_results.csv:{old}" for new, old in enumerate(kept, start=1)
    }


def findings(db: Path, original_lab_ids: dict[str, str] | None = None) -> list[tuple]:
    ids = original_lab_ids or {}
    rows = [
        (*row[:5], sorted(ids.get(i, i) for i in row[5]), *row[6:]) for row in query(db, FINDINGS)
    ]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("with_diagnoses", [False, True], ids=["sample", "dense_diagnoses"])
def test_every_finding_but_elevated_esr_is_the_same_without_the_esr_results(
    tmp_path, with_diagnoses
):
    original = copy_sample(tmp_path / "original", with_diagnoses)
    no_esr = copy_sample(tmp_path / "no_esr", with_diagnoses)
    lab_ids = drop_esr_rows(no_esr / "lab_results.csv")

    db_with = run_stages(original, AuditConfig(), tmp_path / "work_with")
    db_without = run_stages(no_esr, AuditConfig(), tmp_path / "work_without")

    # ESR never sets a date either: the lab data end ignores ESR rows.
    assert query(db_with, "select * from audit_scope") == query(
        db_without, "select * from audit_scope"
    )
    with_esr = findings(db_with)
    without_esr = findings(db_without, lab_ids)
    assert [f for f in with_esr if f[1] == "elevated_esr"], "the sample must have ESR findings"
    assert [f for f in without_esr if f[1] == "elevated_esr"] == []
    assert [f for f in with_esr if f[1] != "elevated_esr"] == without_esr


def test_an_esr_as_the_last_lab_row_does_not_move_the_data_end(audit):
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        border     | 2132-9    | 250    | pg/mL | 2025-09-25
        other      | 718-7     | 130    | g/L   | 2025-12-01
    """
    esr = "\n        other      | 4537-7    | 50     | mm/h  | 2025-12-31"
    without = audit.reasons("b12_borderline_no_mma", labs)
    with_esr = audit.reasons("b12_borderline_no_mma", labs + esr)
    # 2025-09-25 + 90 days is after the last non-ESR lab date: still pending, ESR or not.
    assert without == with_esr == {"border": [("pending", "2025-09-25")]}


def test_an_esr_under_a_local_code_does_not_move_the_data_end_either(audit):
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        border     | 2132-9    | 250    | pg/mL | 2025-09-25
        other      | 718-7     | 130    | g/L   | 2025-12-01
        other      | ESRW      | 50     | mm/h  | 2025-12-31
    """
    found = audit.reasons("b12_borderline_no_mma", labs, local_test_codes={"ESRW": "4537-7"})
    assert found == {"border": [("pending", "2025-09-25")]}
