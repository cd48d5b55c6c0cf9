"""b12_deficiency_untreated: each result confirming a B12 deficiency (a deficient B12, or a
borderline one with a raised MMA) needs B12 treatment from 30 days before its collection to
30 days after the day it was known."""

from __future__ import annotations

from tests.conftest import query
from transforms import database
from transforms.config import AuditConfig
from transforms.outputs import worklist

UNTREATED = "b12_deficiency_untreated"
LAB_HEADER = """
    patient_id | test_code | result | unit  | collected_at     | resulted_at
    -----------+-----------+--------+-------+------------------+-----------------
"""
MED_HEADER = """
    patient_id | drug_name | event_type | event_at | dose | dose_unit | route
    -----------+-----------+------------+----------+------+-----------+------
"""
# Labs and medications both run from 2023-01-01 to 2025-12-31 (a filler patient's).
LAB_FILLERS = """
    filler | 718-7 | 130 | g/L | 2023-01-01T08:00 | 2023-01-01T09:00
    filler | 718-7 | 130 | g/L | 2025-12-31T08:00 | 2025-12-31T09:00
"""
MED_FILLERS = """
    filler | Paracetamol 500 mg tab | administered | 2023-01-01 | 500 | mg | oral
    filler | Paracetamol 500 mg tab | administered | 2025-12-31 | 500 | mg | oral
"""


def oral(patient: str, on: str, event: str = "dispensed") -> str:
    return f"{patient} | Cyanocobalamin 1000 mcg tab | {event} | {on} | 1000 | mcg | oral"


def injection(patient: str, on: str, event: str = "administered") -> str:
    return f"{patient} | Hydroxocobalamin 1 mg/mL | {event} | {on} | 1 | mg | IM"


def untreated(audit, labs: str, meds: str, **config) -> dict:
    return audit.reasons(
        UNTREATED, LAB_HEADER + labs + LAB_FILLERS, MED_HEADER + meds + MED_FILLERS, **config
    )


# Day 0 is 2024-03-01, the B12's collection; resulted the same day unless said otherwise.
DEFICIENT_LABS = """
    known_day0_treated_day30    | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
    known_day0_treated_day31    | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
    resulted_day5_treated_day35 | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-06T10:00
    resulted_day5_treated_day36 | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-06T10:00
    injected_day1               | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
    ordered_only                | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
    never_treated               | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
    at_180_borderline           | 2132-9 | 180 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
"""
DEFICIENT_MEDS = "\n".join(
    [
        oral("known_day0_treated_day30", "2024-03-31"),
        oral("known_day0_treated_day31", "2024-04-01"),
        oral("resulted_day5_treated_day35", "2024-04-05"),
        oral("resulted_day5_treated_day36", "2024-04-06"),
        injection("injected_day1", "2024-03-02"),
        injection("ordered_only", "2024-03-02", event="ordered"),
    ]
)


def test_treatment_counts_up_to_30_days_after_the_result_was_known(audit):
    assert untreated(audit, DEFICIENT_LABS, DEFICIENT_MEDS) == {
        "known_day0_treated_day31": [("no_treatment", "2024-03-01")],
        "resulted_day5_treated_day36": [("no_treatment", "2024-03-01")],
        "ordered_only": [("no_treatment", "2024-03-01")],
        "never_treated": [("no_treatment", "2024-03-01")],
    }


def test_treatment_counts_from_30_days_before_the_collection(audit):
    # Off the on-treatment rule, an earlier dose leaves the result valid; the window
    # reaches 30 days back.
    labs = """
        dose_30_days_before | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
        dose_31_days_before | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
    """
    meds = "\n".join(
        [injection("dose_30_days_before", "2024-01-31"), oral("dose_31_days_before", "2024-01-30")]
    )
    found = untreated(
        audit, labs, meds, on_treatment_after_parenteral_days=0, on_treatment_after_oral_days=0
    )
    assert found == {"dose_31_days_before": [("no_treatment", "2024-03-01")]}


def test_any_route_counts_unknown_included(audit):
    labs = """
        name_only | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
        no_dose   | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
    """
    meds = "name_only | Cyanocobalamin | administered | 2024-03-05 |  |  | "
    assert untreated(audit, labs, meds) == {"no_dose": [("no_treatment", "2024-03-01")]}


def test_a_borderline_b12_confirmed_by_mma_is_known_when_both_results_are(audit):
    # Borderline B12 on day 0; its raised MMA collected on day 20, resulted on day 22.
    labs = """
        mma_day20_treated_day52 | 2132-9  | 250 | pg/mL  | 2024-03-01T08:00 | 2024-03-01T15:00
        mma_day20_treated_day52 | 13964-2 | 300 | nmol/L | 2024-03-21T08:00 | 2024-03-23T10:00
        mma_day20_treated_day53 | 2132-9  | 250 | pg/mL  | 2024-03-01T08:00 | 2024-03-01T15:00
        mma_day20_treated_day53 | 13964-2 | 300 | nmol/L | 2024-03-21T08:00 | 2024-03-23T10:00
        mma_271_not_confirmed   | 2132-9  | 250 | pg/mL  | 2024-03-01T08:00 | 2024-03-01T15:00
        mma_271_not_confirmed   | 13964-2 | 271 | nmol/L | 2024-03-01T08:00 | 2024-03-01T15:00
        mma_day91_not_confirmed | 2132-9  | 250 | pg/mL  | 2024-03-01T08:00 | 2024-03-01T15:00
        mma_day91_not_confirmed | 13964-2 | 300 | nmol/L | 2024-05-31T08:00 | 2024-05-31T15:00
    """
    meds = "\n".join(
        [
            oral("mma_day20_treated_day52", "2024-04-22"),
            oral("mma_day20_treated_day53", "2024-04-23"),
        ]
    )
    assert untreated(audit, labs, meds) == {
        "mma_day20_treated_day53": [("no_treatment", "2024-03-01")]
    }


def test_every_confirming_result_is_a_unit_of_its_own(audit):
    labs = """
        second_treated | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
        second_treated | 2132-9 | 160 | pg/mL | 2024-06-01T08:00 | 2024-06-01T15:00
        both_treated   | 2132-9 | 150 | pg/mL | 2024-03-01T08:00 | 2024-03-01T15:00
        both_treated   | 2132-9 | 160 | pg/mL | 2024-03-20T08:00 | 2024-03-20T15:00
    """
    meds = "\n".join([oral("second_treated", "2024-06-05"), oral("both_treated", "2024-03-25")])
    assert untreated(audit, labs, meds) == {"second_treated": [("no_treatment", "2024-03-01")]}


EDGE_LABS = """
    window_over      | 2132-9 | 150 | pg/mL | 2025-12-01T08:00 | 2025-12-01T15:00
    window_open      | 2132-9 | 150 | pg/mL | 2025-12-02T08:00 | 2025-12-02T15:00
    history_reaches  | 2132-9 | 150 | pg/mL | 2023-01-31T08:00 | 2023-01-31T15:00
    history_too_short | 2132-9 | 150 | pg/mL | 2023-01-30T08:00 | 2023-01-30T15:00
"""


def test_pending_while_the_window_is_open_and_not_evaluable_before_the_history(audit):
    # The medication data run from 2023-01-01 to 2025-12-31.
    assert untreated(audit, EDGE_LABS, "") == {
        "window_over": [("no_treatment", "2025-12-01")],
        "window_open": [("pending", "2025-12-02")],
        "history_reaches": [("no_treatment", "2023-01-31")],
    }


def test_each_result_s_outcome_is_counted_in_the_population(audit):
    db = audit.run(LAB_HEADER + EDGE_LABS + LAB_FILLERS, MED_HEADER + MED_FILLERS)
    rows = query(
        db,
        "select patient_id, outcome, status_reason from populations where finding = $f",
        {"f": UNTREATED},
    )
    assert sorted(rows) == [
        ("history_reaches", "flagged", None),
        ("history_too_short", "not evaluable", "may predate the extract"),
        ("window_open", "pending", None),
        ("window_over", "flagged", None),
    ]


def test_treated_patients_with_a_deficient_b12_are_not_on_the_worklist(audit):
    db = audit.run(
        LAB_HEADER + DEFICIENT_LABS + LAB_FILLERS, MED_HEADER + DEFICIENT_MEDS + MED_FILLERS
    )
    with database.connect(db) as con:
        worklist.build(con, AuditConfig())
    # b12_deficient is a status (every patient here has one), never a worklist item.
    rows = query(db, "select distinct patient_id, finding from worklist_items order by all")
    assert rows == [
        ("at_180_borderline", "b12_borderline_no_mma"),
        ("known_day0_treated_day31", UNTREATED),
        ("never_treated", UNTREATED),
        ("ordered_only", UNTREATED),
        ("resulted_day5_treated_day36", UNTREATED),
    ]
