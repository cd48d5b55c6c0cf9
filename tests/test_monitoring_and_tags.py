"""Monitoring after a new course in an anaemic patient, and the descriptive tags
elevated_esr, macrocytosis and anaemia."""

from __future__ import annotations

LAB_HEADER = """
    patient_id | test_code | result | unit  | collected_at
    -----------+-----------+--------+-------+-------------
"""
PATIENT_HEADER = """
    patient_id | sex | birth_date
    -----------+-----+-----------
"""
# The extract runs from 2023-01-01 to 2025-12-31: courses from 2024-03-01 have 180 days
# of look-back and their 8-week window is long over.
FILLERS = """
    filler | 718-7 | 130 | g/L | 2023-01-01
    filler | 718-7 | 130 | g/L | 2025-12-31
"""


def injection(patient: str, on: str = "2024-03-01") -> str:
    return f"{patient} | Hydroxocobalamin 1 mg/mL | administered | {on} | 1 | mg | IM"


# The medication history spans the same days (it decides which courses are new).
MED_FILLERS = (
    "filler | Paracetamol 500 mg tab | administered | 2023-01-01 | 500 | mg | oral",
    "filler | Paracetamol 500 mg tab | administered | 2025-12-31 | 500 | mg | oral",
)


def meds(*rows: str) -> str:
    header = """
        patient_id | drug_name | event_type | event_at | dose | dose_unit | route
        -----------+-----------+------------+----------+------+-----------+------
    """
    return header + "\n".join(rows + MED_FILLERS)


def run_reasons(audit, finding: str, labs: str, patients: str, *med_rows: str) -> dict:
    return audit.reasons(
        finding,
        LAB_HEADER + labs + FILLERS,
        meds(*med_rows),
        patients=PATIENT_HEADER + patients,
    )


MONITORING_LABS = """
    man_129       | 718-7 | 129  | g/L  | 2024-02-15
    man_12_9_g_dl | 718-7 | 12.9 | g/dL | 2024-02-15
    man_130       | 718-7 | 130  | g/L  | 2024-02-15
    woman_119     | 718-7 | 119  | g/L  | 2024-02-15
    woman_120     | 718-7 | 120  | g/L  | 2024-02-15
    unknown_119   | 718-7 | 119  | g/L  | 2024-02-15
    unknown_125   | 718-7 | 125  | g/L  | 2024-02-15
    hb_day_m30    | 718-7 | 100  | g/L  | 2024-01-31
    hb_day_m31    | 718-7 | 100  | g/L  | 2024-01-30
    hb_day_0      | 718-7 | 100  | g/L  | 2024-03-01
"""
MONITORING_PATIENTS = """
    man_129       | M |
    man_12_9_g_dl | male |
    man_130       | M |
    woman_119     | F |
    woman_120     | female |
    unknown_119   |   |
    hb_day_m30    | M |
    hb_day_m31    | M |
    hb_day_0      | M |
"""


def test_anaemic_means_hb_below_130_g_l_for_men_and_120_for_women_or_unknown_sex(audit):
    patients = ["man_129", "man_12_9_g_dl", "man_130", "woman_119", "woman_120"]
    patients += ["unknown_119", "unknown_125", "hb_day_m30", "hb_day_m31", "hb_day_0"]
    found = run_reasons(
        audit,
        "monitoring_missed",
        MONITORING_LABS,
        MONITORING_PATIENTS,
        *(injection(p) for p in patients),
    )
    flagged = ["man_129", "man_12_9_g_dl", "woman_119", "unknown_119", "hb_day_m30", "hb_day_0"]
    assert found == {p: [("no_fbc_at_8_weeks", "2024-03-01")] for p in flagged}


def test_an_hb_or_mcv_from_day_42_to_day_70_is_the_8_week_check(audit):
    labs = """
        hb_day_41  | 718-7 | 100 | g/L | 2024-02-15
        hb_day_41  | 718-7 | 110 | g/L | 2024-04-11
        hb_day_42  | 718-7 | 100 | g/L | 2024-02-15
        hb_day_42  | 718-7 | 110 | g/L | 2024-04-12
        mcv_day_70 | 718-7 | 100 | g/L | 2024-02-15
        mcv_day_70 | 787-2 | 95  | fL  | 2024-05-10
        hb_day_71  | 718-7 | 100 | g/L | 2024-02-15
        hb_day_71  | 718-7 | 110 | g/L | 2024-05-11
        end_on_day_70 | 718-7 | 100 | g/L | 2025-10-07
        end_on_day_69 | 718-7 | 100 | g/L | 2025-10-08
    """
    med_rows = [injection(p) for p in ("hb_day_41", "hb_day_42", "mcv_day_70", "hb_day_71")]
    med_rows += [injection("end_on_day_70", "2025-10-22"), injection("end_on_day_69", "2025-10-23")]
    found = run_reasons(audit, "monitoring_missed", labs, "", *med_rows)
    assert found == {
        "hb_day_41": [("no_fbc_at_8_weeks", "2024-03-01")],
        "hb_day_71": [("no_fbc_at_8_weeks", "2024-03-01")],
        "end_on_day_70": [("no_fbc_at_8_weeks", "2025-10-22")],
    }


# Everyone is 60 on 2024-03-01 unless the birth date says otherwise.
ESR_PATIENTS = """
    man_31        | M | 1964-03-01
    man_30        | M | 1964-03-01
    woman_36      | F | 1964-03-01
    woman_35      | F | 1964-03-01
    unknown_36    |   | 1964-03-01
    unknown_31    |   | 1964-03-01
    aged_18       | F | 2006-03-01
    aged_17       | F | 2006-03-02
    no_birth_date | M |
    two_hour      | M | 1964-03-01
"""
ESR_LABS = """
    man_31        | 4537-7  | 31  | mm/h | 2024-03-01
    man_30        | 4537-7  | 30  | mm/h | 2024-03-01
    woman_36      | 30341-2 | 36  | mm/h | 2024-03-01
    woman_35      | 30341-2 | 35  | mm/h | 2024-03-01
    unknown_36    | 82477-1 | 36  | mm/hr| 2024-03-01
    unknown_31    | 4537-7  | 31  | mm/h | 2024-03-01
    aged_18       | 4537-7  | 100 | mm/h | 2024-03-01
    aged_17       | 4537-7  | 100 | mm/h | 2024-03-01
    no_birth_date | 4537-7  | 100 | mm/h | 2024-03-01
    not_listed    | 4537-7  | 100 | mm/h | 2024-03-01
    two_hour      | 18184-2 | 100 | mm/h | 2024-03-01
"""


def test_elevated_esr_is_above_the_miller_limit_in_adults_with_a_known_age(audit):
    found = run_reasons(audit, "elevated_esr", ESR_LABS, ESR_PATIENTS)
    assert found == {
        p: [("", "2024-03-01")] for p in ["man_31", "woman_36", "unknown_36", "aged_18"]
    }


TAG_PATIENTS = """
    man_129     | M |
    man_130     | M |
    woman_119   | F |
    woman_120   | F |
    unknown_119 |   |
    hb_day_30   | M |
    hb_day_m30  | M |
    hb_day_31   | M |
    hb_day_m31  | M |
"""
B12_ON_2024_03_01 = [
    *["man_129", "man_130", "woman_119", "woman_120", "unknown_119", "unknown_125"],
    *["hb_day_30", "hb_day_m30", "hb_day_31", "hb_day_m31"],
    *["mcv_101", "mcv_100", "mcv_day_30", "mcv_day_m30", "mcv_day_31", "mcv_day_m31"],
    "on_treatment",
]


def with_b12(labs: str) -> str:
    b12 = "\n".join(f"{p} | 2132-9 | 400 | pg/mL | 2024-03-01" for p in B12_ON_2024_03_01)
    return labs + "\n" + b12 + "\n"


def test_macrocytosis_is_an_mcv_above_100_fl_within_30_days_of_a_b12(audit):
    labs = with_b12("""
        mcv_101      | 787-2 | 101 | fL | 2024-03-01
        mcv_100      | 787-2 | 100 | fL | 2024-03-01
        mcv_day_30   | 787-2 | 101 | fL | 2024-03-31
        mcv_day_m30  | 787-2 | 101 | fL | 2024-01-31
        mcv_day_31   | 787-2 | 101 | fL | 2024-04-01
        mcv_day_m31  | 787-2 | 101 | fL | 2024-01-30
        on_treatment | 787-2 | 101 | fL | 2024-03-01
    """)
    found = run_reasons(audit, "macrocytosis", labs, "", injection("on_treatment", "2024-02-20"))
    assert found == {
        "mcv_101": [("", "2024-03-01")],
        "mcv_day_30": [("", "2024-03-31")],
        "mcv_day_m30": [("", "2024-01-31")],
    }


def test_anaemia_uses_the_monitoring_hb_limits_within_30_days_of_a_b12(audit):
    labs = with_b12("""
        man_129     | 718-7 | 129  | g/L  | 2024-03-01
        man_130     | 718-7 | 13.0 | g/dL | 2024-03-01
        woman_119   | 718-7 | 119  | g/L  | 2024-03-01
        woman_120   | 718-7 | 120  | g/L  | 2024-03-01
        unknown_119 | 718-7 | 119  | g/L  | 2024-03-01
        unknown_125 | 718-7 | 125  | g/L  | 2024-03-01
        hb_day_30   | 718-7 | 129  | g/L  | 2024-03-31
        hb_day_m30  | 718-7 | 129  | g/L  | 2024-01-31
        hb_day_31   | 718-7 | 129  | g/L  | 2024-04-01
        hb_day_m31  | 718-7 | 129  | g/L  | 2024-01-30
    """)
    assert run_reasons(audit, "anaemia", labs, TAG_PATIENTS) == {
        "man_129": [("", "2024-03-01")],
        "woman_119": [("", "2024-03-01")],
        "unknown_119": [("", "2024-03-01")],
        "hb_day_30": [("", "2024-03-31")],
        "hb_day_m30": [("", "2024-01-31")],
    }
