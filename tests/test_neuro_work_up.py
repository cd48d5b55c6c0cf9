"""Neurological symptoms with a B12 that is not low: MMA and homocysteine should follow."""

from __future__ import annotations

from tests.conftest import query

FINDING = "neuro_normal_b12_no_metabolites"
LAB_HEADER = """
    patient_id | test_code | result | unit   | collected_at
    -----------+-----------+--------+--------+-------------
"""
DX_HEADER = """
    patient_id | code | code_system | recorded_at
    -----------+------+-------------+------------
"""
# The data end: every B12 on 2024-06-01 is long past its 90-day metabolite window.
DATA_END = "    filler | 718-7 | 130 | g/L | 2025-12-31"


def b12(*patients: str, result: str = "400", on: str = "2024-06-01") -> str:
    return "\n".join(f"{p} | 2132-9 | {result} | pg/mL | {on}" for p in patients)


def polyneuropathy(*patients: str, on: str = "2024-05-01") -> str:
    return "\n".join(f"{p} | G62.9 | ICD10CM | {on}" for p in patients)


def reasons(audit, labs: str, diagnoses: str | None, meds: str = "", **config) -> dict:
    return audit.reasons(
        FINDING,
        LAB_HEADER + labs + "\n" + DATA_END,
        meds,
        diagnoses=None if diagnoses is None else DX_HEADER + diagnoses,
        **config,
    )


def test_reasons_none_partial_and_pending(audit):
    labs = f"""
        {b12("none", "mma_only", "hcy_only", "both")}
        mma_only     | 13964-2 | 200 | nmol/L | 2024-06-10
        hcy_only     | 13965-9 | 10  | umol/L | 2024-06-10
        both         | 13964-2 | 200 | nmol/L | 2024-06-10
        both         | 13965-9 | 10  | umol/L | 2024-06-10
        {b12("pending", "pending_mma", "pending_both", on="2025-12-01")}
        pending_mma  | 13964-2 | 200 | nmol/L | 2025-12-05
        pending_both | 13964-2 | 200 | nmol/L | 2025-12-05
        pending_both | 13965-9 | 10  | umol/L | 2025-12-05
    """
    dx = (
        polyneuropathy("none", "mma_only", "hcy_only", "both")
        + "\n"
        + polyneuropathy("pending", "pending_mma", "pending_both", on="2025-11-01")
    )
    assert reasons(audit, labs, dx) == {
        "none": [("none", "2024-06-01")],
        "mma_only": [("partial", "2024-06-01")],
        "hcy_only": [("partial", "2024-06-01")],
        "pending": [("pending", "2025-12-01")],
        "pending_mma": [("pending", "2025-12-01")],
    }


def test_the_neuro_code_counts_from_180_days_before_to_30_days_after_the_b12(audit):
    labs = b12("dx_m180", "dx_m181", "dx_p30", "dx_p31")
    dx = """
        dx_m180 | G62.9 | ICD10CM | 2023-12-04
        dx_m181 | G62.9 | ICD10CM | 2023-12-03
        dx_p30  | G62.9 | ICD10CM | 2024-07-01
        dx_p31  | G62.9 | ICD10CM | 2024-07-02
    """
    assert reasons(audit, labs, dx) == {
        "dx_m180": [("none", "2024-06-01")],
        "dx_p30": [("none", "2024-06-01")],
    }


def test_metabolites_count_from_30_days_before_to_90_days_after_the_b12(audit):
    labs = f"""
        {b12("m30", "m31", "p90", "p91")}
        m30 | 13964-2 | 200 | nmol/L | 2024-05-02
        m30 | 13965-9 | 10  | umol/L | 2024-05-02
        m31 | 13964-2 | 200 | nmol/L | 2024-05-01
        m31 | 13965-9 | 10  | umol/L | 2024-05-01
        p90 | 13964-2 | 200 | nmol/L | 2024-08-30
        p90 | 13965-9 | 10  | umol/L | 2024-08-30
        p91 | 13964-2 | 200 | nmol/L | 2024-08-31
        p91 | 13965-9 | 10  | umol/L | 2024-08-31
    """
    dx = polyneuropathy("m30", "m31", "p90", "p91")
    assert reasons(audit, labs, dx) == {
        "m31": [("none", "2024-06-01")],
        "p91": [("none", "2024-06-01")],
    }


def test_a_b12_of_180_or_more_is_not_low_and_179_is(audit):
    labs = f"""
        {b12("b180", result="180")}
        {b12("b179", result="179")}
        {b12("ge180", result=">=180")}
        {b12("gt179", result=">179")}
        {b12("lt400", result="<400")}
    """
    dx = polyneuropathy("b180", "b179", "ge180", "gt179", "lt400")
    assert set(reasons(audit, labs, dx)) == {"b180", "ge180"}


DEMENTIA_LABS = b12("dementia", "neuropathy")
DEMENTIA_DX = """
    dementia   | F03.90 | ICD10CM | 2024-05-01
    neuropathy | G63    | ICD10CM | 2024-05-01
"""


def test_dementia_is_not_a_neuro_code_by_default(audit):
    assert set(reasons(audit, DEMENTIA_LABS, DEMENTIA_DX)) == {"neuropathy"}


def test_dementia_counts_when_neuro_include_dementia_is_set(audit):
    found = reasons(audit, DEMENTIA_LABS, DEMENTIA_DX, neuro_include_dementia=True)
    assert set(found) == {"dementia", "neuropathy"}


def test_codes_match_with_or_without_the_dot_and_the_system_in_any_case(audit):
    labs = b12("dotted", "undotted", "lower", "mixed_system", "icd9", "snomed")
    dx = """
        dotted       | G62.9 | ICD10CM | 2024-05-01
        undotted     | G629  | ICD10CM | 2024-05-01
        lower        | g62.9 | icd10cm | 2024-05-01
        mixed_system | G62.9 | Icd10Cm | 2024-05-01
        icd9         | G62.9 | ICD9CM  | 2024-05-01
        snomed       | G62.9 | SNOMED  | 2024-05-01
    """
    assert set(reasons(audit, labs, dx)) == {"dotted", "undotted", "lower", "mixed_system"}


def test_on_treatment_results_neither_qualify_nor_count_as_metabolites(audit):
    labs = f"""
        {b12("b12_on_treatment", "mma_on_treatment")}
        mma_on_treatment | 13964-2 | 200 | nmol/L | 2024-06-10
        mma_on_treatment | 13965-9 | 10  | umol/L | 2024-06-10
    """
    meds = """
        patient_id       | drug_name        | event_type   | event_at   | dose | dose_unit | route
        -----------------+------------------+--------------+------------+------+-----------+------
        b12_on_treatment | Hydroxocobalamin | administered | 2024-05-20 | 1    | mg        | IM
        mma_on_treatment | Hydroxocobalamin | administered | 2024-06-05 | 1    | mg        | IM
    """
    dx = polyneuropathy("b12_on_treatment", "mma_on_treatment")
    assert reasons(audit, labs, dx, meds) == {"mma_on_treatment": [("none", "2024-06-01")]}


def test_a_metabolite_with_no_usable_value_was_not_measured(audit):
    labs = f"""
        {b12("hemolyzed_mma", "only_hemolyzed", "hcy_bad_unit")}
        hemolyzed_mma  | 13964-2 | hemolyzed | nmol/L | 2024-06-10
        hemolyzed_mma  | 13965-9 | 10        | umol/L | 2024-06-10
        only_hemolyzed | 13964-2 | hemolyzed | nmol/L | 2024-06-10
        hcy_bad_unit   | 13964-2 | 200       | nmol/L | 2024-06-10
        hcy_bad_unit   | 13965-9 | 10        | mg/dL  | 2024-06-10
    """
    dx = polyneuropathy("hemolyzed_mma", "only_hemolyzed", "hcy_bad_unit")
    assert reasons(audit, labs, dx) == {
        "hemolyzed_mma": [("partial", "2024-06-01")],
        "only_hemolyzed": [("none", "2024-06-01")],
        "hcy_bad_unit": [("partial", "2024-06-01")],
    }


def test_without_a_diagnoses_file_nothing_is_flagged_and_the_scope_says_so(audit):
    labs = LAB_HEADER + b12("p1") + "\n" + DATA_END
    without = audit.run(labs)
    assert (
        query(without, "select patient_id from findings where finding = $f", {"f": FINDING}) == []
    )
    assert query(without, "select diagnoses_present from audit_scope") == [(False,)]
    empty = audit.run(labs, diagnoses="")
    assert query(empty, "select diagnoses_present from audit_scope") == [(True,)]
