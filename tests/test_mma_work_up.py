"""Borderline B12 work-up: functional deficiency (MMA > 271 nmol/L) and borderline with no MMA."""

from __future__ import annotations

# Every table ends with a routine result on 2025-12-31: that is the data end.
DATA_END_ROW = "    filler | 718-7 | 130 | g/L | 2025-12-31"
HEADER = """
    patient_id | test_code | result | unit   | collected_at
    -----------+-----------+--------+--------+-------------
"""


def labs(rows: str) -> str:
    return HEADER + rows + "\n" + DATA_END_ROW


MMA_LEVELS = labs("""
    mma272  | 2132-9  | 250    | pg/mL  | 2024-03-01
    mma272  | 13964-2 | 272    | nmol/L | 2024-03-10
    mma271  | 2132-9  | 250    | pg/mL  | 2024-03-01
    mma271  | 13964-2 | 271    | nmol/L | 2024-03-10
    gt271   | 2132-9  | 250    | pg/mL  | 2024-03-01
    gt271   | 13964-2 | >271   | nmol/L | 2024-03-10
    umol    | 2132-9  | 250    | pg/mL  | 2024-03-01
    umol    | 13964-2 | 0.30   | umol/L | 2024-03-10
    nmolml  | 2132-9  | 250    | pg/mL  | 2024-03-01
    nmolml  | 13964-2 | 0.272  | nmol/mL| 2024-03-10
    lt300   | 2132-9  | 250    | pg/mL  | 2024-03-01
    lt300   | 13964-2 | <300   | nmol/L | 2024-03-10
    adequate| 2132-9  | 400    | pg/mL  | 2024-03-01
    adequate| 13964-2 | 500    | nmol/L | 2024-03-10
""")


def test_mma_above_271_confirms_functional_deficiency_and_exactly_271_does_not(audit):
    assert audit.flagged("b12_functional_deficiency", MMA_LEVELS) == {
        "mma272",
        "gt271",
        "umol",
        "nmolml",
    }


def test_any_valid_mma_counts_as_a_work_up_even_when_not_elevated(audit):
    assert audit.flagged("b12_borderline_no_mma", MMA_LEVELS) == set()


WINDOW = labs("""
    before30 | 2132-9  | 250      | pg/mL  | 2024-03-31
    before30 | 13964-2 | 300      | nmol/L | 2024-03-01
    before31 | 2132-9  | 250      | pg/mL  | 2024-04-01
    before31 | 13964-2 | 300      | nmol/L | 2024-03-01
    after90  | 2132-9  | 250      | pg/mL  | 2024-03-01
    after90  | 13964-2 | 300      | nmol/L | 2024-05-30
    after91  | 2132-9  | 250      | pg/mL  | 2024-03-01
    after91  | 13964-2 | 300      | nmol/L | 2024-05-31
    hemo     | 2132-9  | 250      | pg/mL  | 2024-03-01
    hemo     | 13964-2 | hemolyzed| nmol/L | 2024-03-10
    badunit  | 2132-9  | 250      | pg/mL  | 2024-03-01
    badunit  | 13964-2 | 300      | mg/dL  | 2024-03-10
""")


def test_mma_window_is_30_days_before_to_90_days_after_inclusive(audit):
    assert audit.flagged("b12_functional_deficiency", WINDOW) == {"before30", "after90"}


def test_an_mma_with_no_usable_value_is_not_an_mma(audit):
    assert audit.flagged("b12_borderline_no_mma", WINDOW) == {
        "before31",
        "after91",
        "hemo",
        "badunit",
    }


PENDING = labs("""
    old      | 2132-9 | 250 | pg/mL | 2024-03-01
    edge90   | 2132-9 | 250 | pg/mL | 2025-10-02
    edge89   | 2132-9 | 250 | pg/mL | 2025-10-03
    both     | 2132-9 | 250 | pg/mL | 2025-12-01
    both     | 2132-9 | 260 | pg/mL | 2024-06-01
""")


def test_no_mma_once_the_data_reach_90_days_past_the_result_else_pending(audit):
    assert audit.reasons("b12_borderline_no_mma", PENDING) == {
        "old": [("no_mma", "2024-03-01")],
        "edge90": [("no_mma", "2025-10-02")],
        "edge89": [("pending", "2025-10-03")],
        "both": [("no_mma", "2024-06-01")],
    }


def test_an_as_of_date_sets_the_data_end(audit):
    import datetime as dt

    reasons = audit.reasons("b12_borderline_no_mma", PENDING, as_of_date=dt.date(2026, 3, 1))
    assert {p: r[0][0] for p, r in reasons.items()} == {
        "old": "no_mma",
        "edge90": "no_mma",
        "edge89": "no_mma",
        "both": "no_mma",
    }


def test_pending_is_reported_only_when_no_result_is_past_its_window(audit):
    rows = labs("""
        p1 | 2132-9 | 250 | pg/mL | 2025-11-01
        p1 | 2132-9 | 240 | pg/mL | 2025-12-01
    """)
    assert audit.reasons("b12_borderline_no_mma", rows) == {"p1": [("pending", "2025-11-01")]}


def test_functional_deficiency_carries_the_b12_and_mma_rows_as_evidence(audit):
    from tests.conftest import query

    db = audit.run(MMA_LEVELS)
    rows = query(
        db,
        "select list_sort(evidence_lab_row_ids) from findings "
        "where finding = 'b12_functional_deficiency' and patient_id = 'mma272'",
    )
    assert rows == [(["lab_results.csv:2", "lab_results.csv:3"],)]
