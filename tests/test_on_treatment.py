"""On-treatment results: B12, MMA and homocysteine drawn soon after a B12 dose never classify."""

from __future__ import annotations

from tests.conftest import query

LAB_HEADER = """
    patient_id | test_code | result | unit   | collected_at
    -----------+-----------+--------+--------+-------------
"""
MED_HEADER = """
    patient_id | drug_name | event_type | event_at | dose | dose_unit | route
    -----------+-----------+------------+----------+------+-----------+------
"""
# The data end, so every borderline B12 below is past its 90-day MMA window.
DATA_END = "    filler | 718-7 | 130 | g/L | 2025-12-31"
INJECTION = "Hydroxocobalamin 1 mg/mL | administered | {at} | 1 | mg | IM"


def run(audit, labs: str, meds: str = "", **config):
    return audit.run(LAB_HEADER + labs + "\n" + DATA_END, MED_HEADER + meds, **config)


def flagged(db, finding: str) -> set[str]:
    rows = query(db, "select patient_id from findings where finding = $f", {"f": finding})
    return {patient for (patient,) in rows}


def test_on_treatment_lasts_90_days_after_an_injection_and_30_after_an_oral_dose(audit):
    labs = """
        im90  | 2132-9 | 150 | pg/mL | 2024-05-30
        im91  | 2132-9 | 150 | pg/mL | 2024-05-31
        po30  | 2132-9 | 150 | pg/mL | 2024-03-31
        po31  | 2132-9 | 150 | pg/mL | 2024-04-01
        unk30 | 2132-9 | 150 | pg/mL | 2024-03-31
        unk31 | 2132-9 | 150 | pg/mL | 2024-04-01
    """
    meds = f"""
        im90  | {INJECTION.format(at="2024-03-01")}
        im91  | {INJECTION.format(at="2024-03-01")}
        po30  | Cyanocobalamin 1 mg tablet | dispensed | 2024-03-01 | 1 | mg | PO
        po31  | Cyanocobalamin 1 mg tablet | dispensed | 2024-03-01 | 1 | mg | PO
        unk30 | Cyanocobalamin             | dispensed | 2024-03-01 | 1 | mg |
        unk31 | Cyanocobalamin             | dispensed | 2024-03-01 | 1 | mg |
    """
    db = run(audit, labs, meds)
    # A dose of unknown route is taken as oral for on-treatment results.
    assert flagged(db, "b12_deficient") == {"im91", "po31", "unk31"}
    assert query(
        db,
        "select patient_id, status, status_reason from lab_harmonised "
        "where analyte = 'b12' order by patient_id",
    ) == [
        ("im90", "on_treatment", "after_parenteral_b12"),
        ("im91", "valid", None),
        ("po30", "on_treatment", "after_oral_b12"),
        ("po31", "valid", None),
        ("unk30", "on_treatment", "after_unknown_b12"),
        ("unk31", "valid", None),
    ]


def test_only_valid_b12_mma_and_homocysteine_results_are_put_on_treatment(audit):
    labs = """
        p1 | 2132-9  | 150       | pg/mL  | 2024-03-10
        p1 | 13964-2 | 400       | nmol/L | 2024-03-10
        p1 | 13965-9 | 25        | umol/L | 2024-03-10
        p1 | 718-7   | 100       | g/L    | 2024-03-10
        p1 | 787-2   | 110       | fL     | 2024-03-10
        p1 | 2132-9  | hemolyzed | pg/mL  | 2024-03-11
    """
    db = run(audit, labs, f"p1 | {INJECTION.format(at='2024-03-01')}")
    assert query(
        db,
        "select analyte, status, status_reason from lab_harmonised "
        "where patient_id = 'p1' order by source_line",
    ) == [
        ("b12", "on_treatment", "after_parenteral_b12"),
        ("mma", "on_treatment", "after_parenteral_b12"),
        ("homocysteine", "on_treatment", "after_parenteral_b12"),
        ("haemoglobin", "valid", None),
        ("mcv", "valid", None),
        ("b12", "invalid_result", "not_a_number"),
    ]
    assert query(
        db,
        "select distinct on_treatment_dose_row_id from lab_harmonised "
        "where status = 'on_treatment'",
    ) == [("medications.csv:2",)]
    assert query(db, "select count(*) from b12_results where patient_id = 'p1'") == [(0,)]


def test_an_on_treatment_mma_is_not_a_work_up_of_a_borderline_b12(audit):
    labs = """
        normal_mma   | 2132-9  | 250 | pg/mL  | 2024-01-10
        normal_mma   | 13964-2 | 200 | nmol/L | 2024-02-10
        high_mma     | 2132-9  | 250 | pg/mL  | 2024-01-10
        high_mma     | 13964-2 | 400 | nmol/L | 2024-02-10
        never_dosed  | 2132-9  | 250 | pg/mL  | 2024-01-10
        never_dosed  | 13964-2 | 400 | nmol/L | 2024-02-10
    """
    meds = f"""
        normal_mma | {INJECTION.format(at="2024-02-01")}
        high_mma   | {INJECTION.format(at="2024-02-01")}
    """
    db = run(audit, labs, meds)
    assert flagged(db, "b12_borderline_no_mma") == {"normal_mma", "high_mma"}
    assert flagged(db, "b12_functional_deficiency") == {"never_dosed"}


def test_a_same_day_dose_counts_only_when_both_times_show_it_came_before_the_blood(audit):
    labs = """
        date_only      | 2132-9 | 150 | pg/mL | 2024-03-01
        dose_first     | 2132-9 | 150 | pg/mL | 2024-03-01T09:00
        blood_first    | 2132-9 | 150 | pg/mL | 2024-03-01T09:00
        same_minute    | 2132-9 | 150 | pg/mL | 2024-03-01T09:00
        dose_time_only | 2132-9 | 150 | pg/mL | 2024-03-01
        lab_time_only  | 2132-9 | 150 | pg/mL | 2024-03-01T09:00
    """
    meds = f"""
        date_only      | {INJECTION.format(at="2024-03-01")}
        dose_first     | {INJECTION.format(at="2024-03-01T08:00")}
        blood_first    | {INJECTION.format(at="2024-03-01T10:00")}
        same_minute    | {INJECTION.format(at="2024-03-01T09:00")}
        dose_time_only | {INJECTION.format(at="2024-03-01T08:00")}
        lab_time_only  | {INJECTION.format(at="2024-03-01")}
    """
    assert flagged(run(audit, labs, meds), "b12_deficient") == {
        "date_only",
        "blood_first",
        "same_minute",
        "dose_time_only",
        "lab_time_only",
    }


ORDERED_LABS = """
    ordered   | 2132-9 | 150 | pg/mL | 2024-03-10
    not_given | 2132-9 | 150 | pg/mL | 2024-03-10
    held      | 2132-9 | 150 | pg/mL | 2024-03-10
    given     | 2132-9 | 150 | pg/mL | 2024-03-10
"""
ORDERED_MEDS = """
    ordered   | Hydroxocobalamin 1 mg/mL | ordered      | 2024-03-01 | 1 | mg | IM
    not_given | Hydroxocobalamin 1 mg/mL | not_given    | 2024-03-01 | 1 | mg | IM
    held      | Hydroxocobalamin 1 mg/mL | held         | 2024-03-01 | 1 | mg | IM
    given     | Hydroxocobalamin 1 mg/mL | dispensed    | 2024-03-01 | 1 | mg | IM
"""


def test_an_ordered_or_ungiven_dose_never_puts_a_result_on_treatment(audit):
    expected = {"ordered", "not_given", "held"}
    assert flagged(run(audit, ORDERED_LABS, ORDERED_MEDS), "b12_deficient") == expected
    db = run(audit, ORDERED_LABS, ORDERED_MEDS, count_ordered_events=True)
    assert flagged(db, "b12_deficient") == expected


UNITS = """
    pmol140 | 2132-9  | 140 | pmol/L | 2024-03-01
    pmol150 | 14685-2 | 150 | pmol/L | 2024-03-01
    pg185   | 2132-9  | 185 | pg/mL  | 2024-03-01
    pg179   | 2132-9  | 179 | pg/mL  | 2024-03-01
"""


def test_canonical_policy_converts_140_pmol_l_to_189_8_pg_ml_which_is_borderline(audit):
    db = run(audit, UNITS)
    assert flagged(db, "b12_deficient") == {"pg179"}
    assert flagged(db, "b12_borderline") == {"pmol140", "pmol150", "pg185"}


def test_unit_native_policy_holds_pmol_l_results_to_150_pmol_l_as_reported(audit):
    db = run(audit, UNITS, b12_unit_policy="unit_native")
    assert flagged(db, "b12_deficient") == {"pmol140", "pg179"}
    assert flagged(db, "b12_borderline") == {"pmol150", "pg185"}


def test_route_kind_comes_from_the_route_then_the_name_then_the_code(audit):
    meds = """
        patient_id | drug_code | drug_name                     | event_type | event_at   | route
        -----------+-----------+-------------------------------+------------+------------+------
        route_im   |           | Cyanocobalamin 1000 mcg tab   | dispensed  | 2024-03-01 | IM
        name_inj   |           | Hydroxocobalamin 1 mg/mL inj  | dispensed  | 2024-03-01 |
        liquid     |           | Cyanocobalamin /mL oral liquid | dispensed  | 2024-03-01 |
        code_form  | 309594    | VITB12 STOCK                  | dispensed  | 2024-03-01 |
        unknown    | 11248     | Vitamin B12                   | dispensed  | 2024-03-01 |
    """
    db = audit.run("", meds)
    kinds = dict(query(db, "select patient_id, route_kind from medication_classes"))
    assert kinds == {
        "route_im": "parenteral",  # the route column wins over 'tab'
        "name_inj": "parenteral",
        "liquid": "oral",  # oral words beat '/mL'
        "code_form": "parenteral",  # RxNorm 309594 is an injectable solution
        "unknown": "unknown",  # an ingredient code says nothing about the route
    }


def test_snomed_route_names_read_as_their_route(audit):
    meds = """
        patient_id | drug_name    | event_type | event_at   | route
        -----------+--------------+------------+------------+--------------------
        im         | Vitamin B12  | dispensed  | 2024-03-01 | Intramuscular route
        oral       | Vitamin B12  | dispensed  | 2024-03-01 | Oral route
        nasal      | Vitamin B12  | dispensed  | 2024-03-01 | Nasal route
        other      | Vitamin B12  | dispensed  | 2024-03-01 | Topical route
    """
    db = audit.run("", meds)
    kinds = dict(query(db, "select patient_id, route_kind from medication_classes"))
    assert kinds == {"im": "parenteral", "oral": "oral", "nasal": "nasal", "other": "unknown"}
