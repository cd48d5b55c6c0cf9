"""What the audit could not check, and what a site still has to map."""

from __future__ import annotations

from datetime import date

from tests.conftest import query
from transforms.sqlfiles import sql_text

WHOLE_PERIOD = {"period_start": None, "period_end": None}

LABS = """
    patient_id | test_code | test_name        | result | unit  | collected_at
    -----------+-----------+------------------+--------+-------+-------------
    early      | 718-7     | Haemoglobin      | 135    | g/L   | 2023-01-01
    p1         | LOCB12    | Vit B12 (local)  | 420    | pg/mL | 2024-05-01
    p1         | LOCB12    | Vit B12 (local)  | 300    | pg/mL | 2024-06-01
    p2         | MAPPED    | Vit B12 (mapped) | 420    | pg/mL | 2024-05-01
    p2         | 1742-6    | ALT (gamma)      | 30     | U/L   | 2024-05-01
    p3         | 271026005 | Hemoglobin (SNOMED) | 131 | g/L   | 2024-05-01
    late       | 718-7     | Haemoglobin      | 135    | g/L   | 2025-12-31
"""
MEDS = """
    patient_id | drug_code | drug_name                    | event_type   | event_at   | route
    -----------+-----------+------------------------------+--------------+------------+------
    early      |           | Paracetamol 1 g              | administered | 2023-01-01 | oral
    late       |           | Paracetamol 1 g              | administered | 2025-12-31 | oral
    p1         |           | Cobalamin 1 mg inj           | administered | 2024-05-01 | IM
    p2         | LOC-FA    | Folic acid 5 mg tab          | dispensed    | 2024-05-01 | oral
    p2         |           | Hydroxocobalamin 1 mg/mL inj | administered | 2024-07-01 | IM
    p3         |           | Paracetamol 1 g              | administered | 2024-05-01 | oral
    p3         | 9999999   |                              | administered | 2024-05-02 | oral
"""


def test_the_review_list_names_relevant_codes_and_drugs_on_no_list(audit):
    db = audit.run(LABS, MEDS, local_test_codes={"MAPPED": "2132-9"})
    rows = query(db, sql_text("report/mapping_review.sql"))
    assert rows == [
        ("drug", "9999999", None, "unnamed code on no list", 1),  # cannot tell by name
        ("drug", "LOC-FA", "Folic acid 5 mg tab", "code on no list; matched by name only", 1),
        ("drug", None, "Cobalamin 1 mg inj", "on no list", 1),
        ("lab test", "LOCB12", "Vit B12 (local)", "test code on no list", 2),
        ("lab test", "271026005", "Hemoglobin (SNOMED)", "test code on no list", 1),
    ]


def evaluability(db) -> dict[tuple[str, str], int]:
    return {(f, status): n for f, status, _, n in query(db, sql_text("report/evaluability.sql"))}


def counted(db) -> dict[str, str]:
    """finding -> what its evaluability rows count: its own unit."""
    return {f: what for f, _, what, _ in query(db, sql_text("report/evaluability.sql"))}


def test_without_a_diagnoses_file_the_findings_needing_it_are_not_evaluable(audit):
    db = audit.run(LABS, MEDS, local_test_codes={"MAPPED": "2132-9"})
    assert query(db, "select diagnoses_present from audit_scope") == [(False,)]
    assert evaluability(db) == {
        # p2's B12 (the mapped code) is not low; p1's codes are unmapped.
        ("neuro_normal_b12_no_metabolites", "not evaluable: no diagnoses file"): 1,
        ("b12_loading_incomplete", "not evaluable: no diagnoses file"): 1,
        ("b12_treatment_lapse", "not evaluable: no diagnoses file"): 1,
    }
    # Each in the finding's own unit: the patient, p2's one course of injections.
    assert counted(db) == {
        "neuro_normal_b12_no_metabolites": "patients",
        "b12_loading_incomplete": "B12 courses",
        "b12_treatment_lapse": "B12 courses",
    }
    flagged = query(
        db,
        "select count(*) from findings where finding in "
        "('neuro_normal_b12_no_metabolites', 'b12_loading_incomplete', "
        "'b12_treatment_lapse')",
    )
    assert flagged == [(0,)]


def test_an_empty_diagnoses_file_means_no_diagnoses_recorded(audit):
    db = audit.run(LABS, MEDS, diagnoses="", local_test_codes={"MAPPED": "2132-9"})
    assert query(db, "select diagnoses_present from audit_scope") == [(True,)]
    assert evaluability(db) == {}
    # p2's single injection (2024-07-01), no neurological code: a loading of one dose.
    # A one-off injection is an unfinished loading, not a lapse of maintenance.
    assert query(
        db,
        "select patient_id, finding, reason from findings where finding in "
        "('b12_loading_incomplete', 'b12_treatment_lapse')",
    ) == [("p2", "b12_loading_incomplete", "under_six_doses")]


def test_courses_near_the_extract_start_or_end_are_counted_not_judged(audit):
    labs = """
        patient_id | test_code | result | unit | collected_at
        -----------+-----------+--------+------+-------------
        early      | 718-7     | 135    | g/L  | 2023-01-01
        new        | 718-7     | 100    | g/L  | 2023-02-20
        recent     | 718-7     | 100    | g/L  | 2025-12-20
        late       | 718-7     | 135    | g/L  | 2025-12-31
    """
    meds = """
        patient_id | drug_name                    | event_type   | event_at   | route
        -----------+------------------------------+--------------+------------+------
        early      | Paracetamol 1 g              | administered | 2023-01-01 | oral
        new        | Hydroxocobalamin 1 mg/mL inj | administered | 2023-03-01 | IM
        recent     | Hydroxocobalamin 1 mg/mL inj | administered | 2025-12-25 | IM
        notanaemic | Hydroxocobalamin 1 mg/mL inj | administered | 2025-12-25 | IM
        late       | Paracetamol 1 g              | administered | 2025-12-31 | oral
    """
    db = audit.run(labs, meds, diagnoses="")
    assert evaluability(db) == {
        ("b12_loading_incomplete", "not evaluable: may predate the extract"): 1,
        ("b12_loading_incomplete", "pending: window not over"): 2,
        # Monitoring's population is new courses in anaemic patients: 'notanaemic' is not in
        # it, judged or not.
        ("monitoring_missed", "not evaluable: may predate the extract"): 1,
        ("monitoring_missed", "pending: window not over"): 1,
    }
    assert query(db, "select count(*) from findings where finding = 'b12_loading_incomplete'") == [
        (0,)
    ]


def test_results_still_inside_a_finding_s_window_are_counted_as_pending(audit):
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        old        | 2132-9    | 250    | pg/mL | 2024-06-10
        recent     | 2132-9    | 250    | pg/mL | 2025-11-15
    """
    db = audit.run(labs, diagnoses="")
    assert evaluability(db) == {("b12_borderline_no_mma", "pending: window not over"): 1}


def test_diagnoses_in_a_code_system_without_lists_are_reported_not_silently_ignored(audit):
    diagnoses = """
        patient_id | code     | code_system | recorded_at
        -----------+----------+-------------+------------
        p1         | 356.9    | ICD9CM      | 2024-04-01
        p1         | 84027009 | SNOMED      | 2024-04-01
        p2         | G62.9    | ICD10CM     | 2024-04-01
    """
    db = audit.run(LABS, MEDS, diagnoses=diagnoses)
    key = ("findings that need diagnoses", "diagnoses not read: no list for their code system")
    assert evaluability(db)[key] == 2
    review = query(db, sql_text("report/mapping_review.sql"))
    assert [r for r in review if r[0] == "diagnosis code system"] == [
        ("diagnosis code system", "ICD9CM", None, "no concept list in this code system", 1),
        ("diagnosis code system", "SNOMED", None, "no concept list in this code system", 1),
    ]


def test_pending_results_are_counted_apart_from_the_finding_total(audit):
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        old        | 2132-9    | 250    | pg/mL | 2024-06-10
        recent     | 2132-9    | 250    | pg/mL | 2025-11-15
        adequate   | 2132-9    | 400    | pg/mL | 2025-12-31
    """
    db = audit.run(labs)
    rows = query(
        db,
        "select finding, reason, count, denominator, denominator_meaning from ("
        + sql_text("report/finding_counts.sql")
        + ") where site = 'all sites' and finding like 'b12_borderline_no_mma%'",
        WHOLE_PERIOD,
    )
    assert rows == [
        ("b12_borderline_no_mma", "(all)", 1, 3, "patients with a valid B12"),
        ("b12_borderline_no_mma", "no_mma", 1, 3, "patients with a valid B12"),
        ("b12_borderline_no_mma (pending)", "(all)", 1, 3, "patients with a valid B12"),
    ]


def test_the_measured_period_counts_only_units_dated_in_it(audit):
    # Each patient is dated by their borderline result (the finding's index date) or, not
    # flagged, by their first valid B12: the period's bounds are inclusive.
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        before     | 2132-9    | 250    | pg/mL | 2024-12-31
        first_day  | 2132-9    | 250    | pg/mL | 2025-01-01
        last_day   | 2132-9    | 400    | pg/mL | 2025-03-31
        after      | 2132-9    | 250    | pg/mL | 2025-04-01
        end        | 2132-9    | 400    | pg/mL | 2025-12-31
    """
    db = audit.run(labs)
    sql = (
        "select finding, count, denominator from ("
        + sql_text("report/finding_counts.sql")
        + ") where site = 'all sites' and reason = '(all)' and finding = 'b12_borderline'"
    )
    assert query(db, sql, WHOLE_PERIOD) == [("b12_borderline", 3, 5)]
    first_quarter = {"period_start": date(2025, 1, 1), "period_end": date(2025, 3, 31)}
    assert query(db, sql, first_quarter) == [("b12_borderline", 1, 2)]
    # A period with evaluable units and none flagged still gives the rate's denominator.
    no_borderline = {"period_start": date(2025, 3, 1), "period_end": date(2025, 3, 31)}
    assert query(db, sql, no_borderline) == [("b12_borderline", 0, 1)]
