"""B12 courses: loading (b12_loading_incomplete) and lifelong maintenance (b12_treatment_lapse)."""

from __future__ import annotations

import datetime as dt

from tests.conftest import query

LAB_HEADER = """
    patient_id | test_code | result | unit | collected_at
    -----------+-----------+--------+------+-------------
"""
MED_HEADER = """
    patient_id | drug_name | event_type | event_at | dose | dose_unit | route
    -----------+-----------+------------+----------+------+-----------+------
"""
DX_HEADER = """
    patient_id | code | code_system | recorded_at
    -----------+------+-------------+------------
"""
# Courses start from 2024-03-01: the extract reaches 180 days before each one.
# The medication history sets the look-back and the end for courses: a filler patient's
# paracetamol on the first and last day (and a haemoglobin, so the labs span the same days).
DATA_START = "filler | 718-7 | 130 | g/L | 2023-01-01"
DATA_END = "filler | 718-7 | 130 | g/L | 2025-12-31"


def fillers(lab_row: str) -> str:
    """Paracetamol for the filler on the first day and on the day of `lab_row`."""
    last = lab_row.split("|")[-1].strip()
    return "\n".join(
        f"filler | Paracetamol 500 mg tab | administered | {day} | 500 | mg | oral"
        for day in ("2023-01-01", last)
    )


LOADING = "b12_loading_incomplete"
LAPSE = "b12_treatment_lapse"


def injections(patient: str, *days: int, start: str = "2024-03-01") -> str:
    """One hydroxocobalamin 1 mg IM row per day number, day 0 being `start`."""
    first = dt.date.fromisoformat(start)
    return "\n".join(
        f"{patient} | Hydroxocobalamin 1 mg/mL | administered | "
        f"{first + dt.timedelta(days=day)} | 1 | mg | IM"
        for day in days
    )


def neuro(*patients: str, on: str = "2024-03-01") -> str:
    return "\n".join(f"{p} | G62.9 | ICD10CM | {on}" for p in patients)


def reasons(audit, finding: str, meds: str, dx: str = "", end: str = DATA_END, **config):
    labs = LAB_HEADER + DATA_START + "\n" + end
    meds = MED_HEADER + meds + "\n" + fillers(end)
    return audit.reasons(finding, labs, meds, diagnoses=DX_HEADER + dx, **config)


def test_without_neuro_codes_six_injection_days_are_due_in_days_0_to_14(audit):
    meds = "\n".join(
        [
            injections("five", 0, 2, 4, 7, 9),
            injections("six", 0, 2, 4, 7, 9, 11),
            injections("sixth_on_day_14", 0, 2, 4, 7, 9, 14),
            injections("sixth_on_day_15", 0, 2, 4, 7, 9, 15),
            injections("two_on_day_0", 0, 0, 2, 4, 7, 9),
        ]
    )
    assert reasons(audit, LOADING, meds) == {
        "five": [("under_six_doses", "2024-03-01")],
        "sixth_on_day_15": [("under_six_doses", "2024-03-01")],
        "two_on_day_0": [("under_six_doses", "2024-03-01")],
    }


def test_with_neuro_codes_seven_injection_days_no_more_than_3_apart_in_days_0_to_13(audit):
    meds = "\n".join(
        [
            injections("alternate_6", 0, 2, 4, 6, 8, 10),
            injections("alternate_7", 0, 2, 4, 6, 8, 10, 12),
            injections("seventh_on_day_14", 0, 2, 4, 6, 8, 10, 14),
            injections("gap_4", 0, 1, 2, 3, 4, 5, 9),
            injections("gap_3", 0, 1, 2, 3, 4, 5, 8),
        ]
    )
    patients = ["alternate_6", "alternate_7", "seventh_on_day_14", "gap_4", "gap_3"]
    assert reasons(audit, LOADING, meds, neuro(*patients)) == {
        "alternate_6": [("neuro_not_alternate_day", "2024-03-01")],
        "seventh_on_day_14": [("neuro_not_alternate_day", "2024-03-01")],
        "gap_4": [("neuro_not_alternate_day", "2024-03-01")],
    }


def test_a_new_oral_course_with_neuro_codes_needs_an_injection_in_days_0_to_13(audit):
    oral = "Cyanocobalamin 1 mg tablet | dispensed | 2024-03-01 | 1 | mg | PO"
    meds = "\n".join(
        [
            f"oral_neuro | {oral}",
            f"oral_plain | {oral}",
            f"inj_day_13 | {oral}",
            injections("inj_day_13", 13, 15, 17, 19, 21, 23, 25),
            f"inj_day_14 | {oral}",
            injections("inj_day_14", 14, 16, 18, 20, 22, 24, 26),
        ]
    )
    dx = neuro("oral_neuro", "inj_day_13", "inj_day_14")
    assert reasons(audit, LOADING, meds, dx) == {
        "oral_neuro": [("neuro_on_oral_only", "2024-03-01")],
        "inj_day_14": [("neuro_on_oral_only", "2024-03-01")],
    }


def test_neuro_codes_count_from_180_days_before_to_14_days_after_the_start(audit):
    patients = ["dx_m180", "dx_m181", "dx_p14", "dx_p15"]
    meds = "\n".join(injections(p, 0, 2, 4, 7, 9, 11) for p in patients)
    dx = f"""
        {neuro("dx_m180", on="2023-09-03")}
        {neuro("dx_m181", on="2023-09-02")}
        {neuro("dx_p14", on="2024-03-15")}
        {neuro("dx_p15", on="2024-03-16")}
    """
    # Six three-times-weekly doses complete a plain course, not a neurological one.
    assert reasons(audit, LOADING, meds, dx) == {
        "dx_m180": [("neuro_not_alternate_day", "2024-03-01")],
        "dx_p14": [("neuro_not_alternate_day", "2024-03-01")],
    }


def test_a_course_is_evaluated_only_with_180_days_before_it_and_its_window_over(audit):
    meds = "\n".join(
        [
            injections("start_data_start_plus_180", 0, 2, 4, 7, 9, start="2023-06-30"),
            injections("start_data_start_plus_179", 0, 2, 4, 7, 9, start="2023-06-29"),
            injections("window_ends_on_data_end", 0, 2, 4, 7, 9, start="2025-12-01"),
            injections("window_ends_after_data_end", 0, 2, 4, 7, 9, start="2025-12-02"),
        ]
    )
    end = "filler | 718-7 | 130 | g/L | 2025-12-15"
    assert reasons(audit, LOADING, meds, end=end) == {
        "start_data_start_plus_180": [("under_six_doses", "2023-06-30")],
        "window_ends_on_data_end": [("under_six_doses", "2025-12-01")],
    }


def test_a_dose_180_days_after_the_previous_continues_the_course_and_181_starts_one(audit):
    meds = "\n".join(
        [
            injections("gap_180", 0, 2, 4, 7, 9, 11, 191),
            injections("gap_181", 0, 2, 4, 7, 9, 11, 192),
        ]
    )
    assert reasons(audit, LOADING, meds) == {"gap_181": [("under_six_doses", "2024-09-09")]}


# Maintenance: data end 2025-08-31; each patient's last dose is recent enough not to have
# stopped, unless the test is about stopping.
LAPSE_END = "filler | 718-7 | 130 | g/L | 2025-08-31"


def lapses(audit, meds: str, dx: str = "", diagnoses: bool = True, **config) -> dict:
    labs = LAB_HEADER + DATA_START + "\n" + LAPSE_END
    return audit.reasons(
        LAPSE,
        labs,
        MED_HEADER + meds + "\n" + fillers(LAPSE_END),
        diagnoses=DX_HEADER + dx if diagnoses else None,
        **config,
    )


# A full loading, then maintenance: three times weekly for two weeks (last dose on day 11),
# or with neurological codes alternate days for 14 days (last dose on day 12).
LOADING_DAYS, NEURO_LOADING_DAYS = (0, 2, 4, 7, 9, 11), (0, 2, 4, 6, 8, 10, 12)


def loaded(patient: str, *later: int, start: str = "2025-01-01", neuro: bool = False) -> str:
    return injections(
        patient, *(NEURO_LOADING_DAYS if neuro else LOADING_DAYS), *later, start=start
    )


GAPS = "\n".join(
    [
        loaded("gap_121", 11 + 121),
        loaded("gap_122", 11 + 122),
        loaded("neuro_gap_91", 12 + 91, 181, neuro=True),
        loaded("neuro_gap_92", 12 + 92, 181, neuro=True),
    ]
)
GAPS_DX = neuro("neuro_gap_91", "neuro_gap_92", on="2025-01-01")


def test_a_gap_over_91_plus_30_days_is_a_lapse_or_61_plus_30_with_neuro_codes(audit):
    # The lapse begins 121 (or 91) days after the last loading dose: day 132 (or day 103).
    assert lapses(audit, GAPS, GAPS_DX) == {
        "gap_122": [("gap", "2025-05-13")],
        "neuro_gap_92": [("gap", "2025-04-14")],
    }


def test_stopped_when_the_data_end_is_more_than_121_days_after_the_last_dose(audit):
    # The data end is 2025-08-31; the last loading doses are 2025-05-02 and 2025-05-01.
    meds = "\n".join(
        [
            loaded("last_121_days_before_end", start="2025-04-21"),
            loaded("last_122_days_before_end", start="2025-04-20"),
        ]
    )
    assert lapses(audit, meds) == {"last_122_days_before_end": [("stopped", "2025-08-30")]}


def test_a_one_off_injection_or_an_unfinished_loading_is_not_a_lapse(audit):
    meds = "\n".join([injections("one_off", 0, start="2025-01-01"), injections("three", 0, 2, 4)])
    assert lapses(audit, meds) == {}


def test_an_oral_dose_before_the_lapse_begins_means_a_move_to_oral_not_a_lapse(audit):
    oral = "Cyanocobalamin 1000 mcg tab | dispensed | {day} | 1000 | mcg | oral"
    meds = "\n".join(
        [
            loaded("oral_day_132"),
            "oral_day_132 | " + oral.format(day="2025-05-13"),
            loaded("oral_day_133"),
            "oral_day_133 | " + oral.format(day="2025-05-14"),
        ]
    )
    assert lapses(audit, meds) == {"oral_day_133": [("stopped", "2025-05-13")]}


STOPPED = "\n".join(
    loaded(p)
    for p in ["pernicious", "atrophic", "atrophic_no_dot", "dietary", "dietary_and_pa", "unknown"]
)
INDICATIONS = """
    pernicious      | D51.0  | ICD10CM | 2024-06-01
    atrophic        | K29.40 | ICD10CM | 2024-06-01
    atrophic_no_dot | K2940  | ICD10CM | 2024-06-01
    dietary         | D51.3  | ICD10CM | 2024-06-01
    dietary_and_pa  | D51.3  | ICD10CM | 2024-06-01
    dietary_and_pa  | D51.0  | ICD10CM | 2024-06-01
"""
LIFELONG = ["pernicious", "atrophic", "atrophic_no_dot", "dietary_and_pa"]


def test_a_reversible_cause_without_a_lifelong_code_excludes_the_patient(audit):
    found = lapses(audit, STOPPED, INDICATIONS)
    assert found == {p: [("stopped", "2025-05-13")] for p in [*LIFELONG, "unknown"]}


def test_with_lifelong_when_cause_unknown_off_only_lifelong_codes_count(audit):
    found = lapses(audit, STOPPED, INDICATIONS, lifelong_when_cause_unknown=False)
    assert found == {p: [("stopped", "2025-05-13")] for p in LIFELONG}


def test_without_a_diagnoses_file_no_course_or_lapse_is_flagged(audit):
    meds = STOPPED + "\n" + injections("five", 0, 2, 4, 7, 9)
    labs = LAB_HEADER + DATA_START + "\n" + LAPSE_END
    meds_table = MED_HEADER + meds + "\n" + fillers(LAPSE_END)
    loaded_fully = {"pernicious", "atrophic", "atrophic_no_dot", "dietary", "dietary_and_pa"}
    loaded_fully |= {"unknown"}
    # An empty diagnoses file: no neuro and no indication codes, so every cause is unknown.
    assert audit.flagged(LOADING, labs, meds_table, diagnoses="") == {"five"}
    assert set(lapses(audit, meds, diagnoses=True)) == loaded_fully
    assert audit.flagged(LOADING, labs, meds_table, diagnoses=None) == set()
    assert lapses(audit, meds, diagnoses=False) == {}


def test_every_lapse_of_a_course_is_a_row_a_resumed_course_can_lapse_again(audit):
    # Loading ends on day 11 (2025-01-12); each gap over 121 days is a lapse of its own.
    meds = "\n".join(
        [
            loaded("gap_then_gap", 11 + 122, 11 + 122 + 122, 11 + 122 + 122 + 90),
            loaded("gap_then_stopped", 11 + 122),
            loaded("gap_then_on_time", 11 + 122, 11 + 122 + 121),
        ]
    )
    assert lapses(audit, meds) == {
        "gap_then_gap": [("gap", "2025-05-13"), ("gap", "2025-09-12")],
        "gap_then_stopped": [("gap", "2025-05-13"), ("stopped", "2025-09-12")],
        "gap_then_on_time": [("gap", "2025-05-13")],
    }


def test_a_course_of_unknown_route_is_monitored_and_counted_apart_for_loading_and_lapse(audit):
    # Shaped like MIMIC-IV in MEDS form: drug names only, no route or dose columns.
    labs = LAB_HEADER + "\n".join(
        [
            DATA_START,
            DATA_END,
            "unmonitored | 718-7 | 74  | g/L   | 2024-03-01",
            "unmonitored | 2132-9 | 150 | pg/mL | 2024-03-01",
            "monitored   | 718-7 | 74  | g/L   | 2024-03-01",
            "monitored   | 718-7 | 110 | g/L   | 2024-05-01",
        ]
    )
    meds = """
        patient_id | drug_name | event_type | event_at
        -----------+-----------+------------+---------
        filler      | Paracetamol    | administered | 2023-01-01
        filler      | Paracetamol    | administered | 2025-12-31
        unmonitored | Cyanocobalamin | administered | 2024-03-06
        unmonitored | Cyanocobalamin | administered | 2024-03-07
        monitored   | Cyanocobalamin | administered | 2024-03-06
    """
    db = audit.run(labs, meds, diagnoses=DX_HEADER)
    findings = query(db, "select patient_id, finding, reason from findings order by all")
    assert findings == [
        ("unmonitored", "anaemia", None),
        ("unmonitored", "b12_deficient", None),
        ("unmonitored", "monitoring_missed", "no_fbc_at_8_weeks"),
    ]
    counted = query(
        db,
        "select finding, patient_id, status, status_reason from populations "
        "where finding in ($loading, $lapse) order by all",
        {"loading": LOADING, "lapse": LAPSE},
    )
    assert counted == [
        (finding, patient, "not evaluable", "route_unknown")
        for finding in (LOADING, LAPSE)
        for patient in ("monitored", "unmonitored")
    ]


def test_the_worklist_shows_a_course_s_latest_lapse(audit):
    from transforms import database
    from transforms.config import AuditConfig
    from transforms.outputs import worklist

    # A gap (resumed on day 133), then nothing to the data end (2025-12-31): stopped.
    labs = LAB_HEADER + DATA_START + "\n" + DATA_END
    meds = MED_HEADER + loaded("gap_then_stopped", 11 + 122) + "\n" + fillers(DATA_END)
    db = audit.run(labs, meds, diagnoses=DX_HEADER)
    with database.connect(db) as con:
        worklist.build(con, AuditConfig())
    rows = query(db, "select patient_id, reason, index_date::varchar, state from worklist_items")
    assert rows == [("gap_then_stopped", "stopped", "2025-09-12", "open")]


def test_an_oral_course_with_neuro_codes_and_a_dose_of_unknown_route_is_counted_apart(audit):
    oral = "Cyanocobalamin 1 mg tablet | dispensed | 2024-03-01 | 1 | mg | PO"
    meds = "\n".join(
        [
            f"unknown_day_2 | {oral}",
            "unknown_day_2 | Cyanocobalamin | administered | 2024-03-03 |  |  | ",
        ]
    )
    dx = neuro("unknown_day_2")
    assert reasons(audit, LOADING, meds, dx) == {}
    labs = LAB_HEADER + DATA_START + "\n" + DATA_END
    db = audit.run(labs, MED_HEADER + meds + "\n" + fillers(DATA_END), diagnoses=DX_HEADER + dx)
    counted = query(
        db,
        "select status, status_reason from populations where finding = $f "
        "and patient_id = 'unknown_day_2'",
        {"f": LOADING},
    )
    assert counted == [("not evaluable", "route_unknown")]
