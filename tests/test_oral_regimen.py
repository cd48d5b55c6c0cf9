"""b12_oral_regimen: "Alternative oral therapy: 1000-2000 mcg daily is noninferior to IM for
patients without severe deficiency or neurologic manifestations." Severe is not defined by
the guideline: B12 below 100 pg/mL or Hb below 80 g/L are assumptions, configurable."""

from __future__ import annotations

from tests.conftest import query

ORAL = "b12_oral_regimen"
LAB_HEADER = """
    patient_id | test_code | result | unit  | collected_at
    -----------+-----------+--------+-------+-------------
    filler     | 718-7     | 130    | g/L   | 2023-01-01
    filler     | 718-7     | 130    | g/L   | 2025-12-31
"""
MED_HEADER = """
    patient_id | drug_name | event_type | event_at | dose | dose_unit | route
    -----------+-----------+------------+----------+------+-----------+------
    filler | Paracetamol 500 mg tab | administered | 2023-01-01 | 500 | mg | oral
    filler | Paracetamol 500 mg tab | administered | 2025-12-31 | 500 | mg | oral
"""
DX_HEADER = """
    patient_id | code | code_system | recorded_at
    -----------+------+-------------+------------
"""


def oral(patient: str, on: str = "2024-03-01", dose: str = "1000", unit: str = "mcg") -> str:
    return f"{patient} | Cyanocobalamin tab | dispensed | {on} | {dose} | {unit} | oral"


def injection(patient: str, on: str) -> str:
    return f"{patient} | Hydroxocobalamin 1 mg/mL | administered | {on} | 1 | mg | IM"


def regimen(audit, labs: str, meds: list[str], dx: str = "", **config) -> dict:
    return audit.reasons(
        ORAL,
        LAB_HEADER + labs,
        MED_HEADER + "\n".join(meds),
        diagnoses=DX_HEADER + dx,
        **config,
    )


# Courses start on 2024-03-01 (day 0); results are taken before it.
SEVERE_LABS = """
    b12_99        | 2132-9 | 99   | pg/mL | 2024-02-20
    b12_100       | 2132-9 | 100  | pg/mL | 2024-02-20
    b12_lt100     | 2132-9 | <100 | pg/mL | 2024-02-20
    hb_79         | 718-7  | 79   | g/L   | 2024-02-20
    hb_80         | 718-7  | 80   | g/L   | 2024-02-20
    b12_30d_before | 2132-9 | 90  | pg/mL | 2024-01-31
    b12_31d_before | 2132-9 | 90  | pg/mL | 2024-01-30
    injected_day13 | 2132-9 | 90  | pg/mL | 2024-02-20
    injected_day14 | 2132-9 | 90  | pg/mL | 2024-02-20
"""


def test_an_oral_only_course_within_30_days_after_a_severe_result_is_flagged(audit):
    patients = ["b12_99", "b12_100", "b12_lt100", "hb_79", "hb_80"]
    patients += ["b12_30d_before", "b12_31d_before", "injected_day13", "injected_day14"]
    meds = [oral(p) for p in patients]
    meds += [injection("injected_day13", "2024-03-14"), injection("injected_day14", "2024-03-15")]
    severe = [("severe_deficiency_on_oral", "2024-03-01")]
    assert regimen(audit, SEVERE_LABS, meds) == {
        p: severe for p in ["b12_99", "b12_lt100", "hb_79", "b12_30d_before", "injected_day14"]
    }


def test_the_severe_limits_are_settings(audit):
    meds = [oral(p) for p in ("b12_100", "hb_80")]
    found = regimen(audit, SEVERE_LABS, meds, severe_b12_below_pg_ml=101, severe_hb_below_g_l=81)
    assert set(found) == {"b12_100", "hb_80"}


def test_a_recorded_dose_below_1000_mcg_is_flagged_and_a_course_without_one_counted_apart(
    audit,
):
    meds = [
        oral("dose_999", dose="999"),
        oral("dose_1000", dose="1000"),
        oral("dose_1_mg", dose="1", unit="mg"),
        oral("dose_0_5_mg", dose="0.5", unit="mg"),
        oral("dose_in_tablets", dose="1", unit="tablet"),
        oral("no_dose", dose="", unit=""),
    ]
    assert regimen(audit, "", meds) == {
        "dose_999": [("dose_below_1000_mcg", "2024-03-01")],
        "dose_0_5_mg": [("dose_below_1000_mcg", "2024-03-01")],
    }
    db = audit.run(LAB_HEADER, MED_HEADER + "\n".join(meds), diagnoses=DX_HEADER)
    counted = query(
        db,
        "select patient_id, status, status_reason from populations where finding = $f "
        "and status <> 'evaluable' order by all",
        {"f": ORAL},
    )
    assert counted == [
        ("dose_in_tablets", "not evaluable", "no dose recorded"),
        ("no_dose", "not evaluable", "no dose recorded"),
    ]


def test_a_coded_dietary_cause_exempts_a_low_dose_only_with_the_switch_on(audit):
    meds = [oral("vegan", dose="100"), oral("no_cause", dose="100")]
    dx = "vegan | D51.3 | ICD10CM | 2024-01-15"
    low = [("dose_below_1000_mcg", "2024-03-01")]
    assert regimen(audit, "", meds, dx) == {"vegan": low, "no_cause": low}
    assert regimen(audit, "", meds, dx, oral_dose_dietary_exempt=True) == {"no_cause": low}


def test_severe_deficiency_is_the_reason_when_both_hold_and_recent_courses_wait(audit):
    labs = """
        severe_and_low_dose | 2132-9 | 80 | pg/mL | 2024-02-20
        recent              | 2132-9 | 80 | pg/mL | 2025-12-20
    """
    meds = [oral("severe_and_low_dose", dose="500"), oral("recent", on="2025-12-20", dose="500")]
    assert regimen(audit, labs, meds) == {
        "severe_and_low_dose": [("severe_deficiency_on_oral", "2024-03-01")]
    }


def test_a_dose_of_unknown_route_in_days_0_to_13_leaves_oral_only_unknown(audit):
    # 'Cyanocobalamin' with no route may have been an injection.
    labs = """
        unknown_day1 | 2132-9 | 90 | pg/mL | 2024-02-20
        unknown_day14 | 2132-9 | 90 | pg/mL | 2024-02-20
    """
    meds = [
        oral("unknown_day1"),
        "unknown_day1 | Cyanocobalamin | administered | 2024-03-02 |  |  | ",
        oral("unknown_day14"),
        "unknown_day14 | Cyanocobalamin | administered | 2024-03-15 |  |  | ",
    ]
    severe = [("severe_deficiency_on_oral", "2024-03-01")]
    assert regimen(audit, labs, meds) == {"unknown_day14": severe}
    db = audit.run(LAB_HEADER + labs, MED_HEADER + "\n".join(meds), diagnoses=DX_HEADER)
    counted = query(
        db,
        "select patient_id, status_reason from populations where finding = $f "
        "and status = 'not evaluable'",
        {"f": ORAL},
    )
    assert counted == [("unknown_day1", "route_unknown")]
