"""Folic acid before B12: exposures, episodes, compliance routes and reasons."""

from __future__ import annotations

from tests.conftest import query

FOLATE = "Folic acid 5 mg tablet"
LAB_HEADER = """
    patient_id | test_code | result | unit   | collected_at     | resulted_at
    -----------+-----------+--------+--------+------------------+------------
"""
MED_HEADER = """
    patient_id | drug_code | drug_name | event_type | event_at | dose | dose_unit
    -----------+-----------+-----------+------------+----------+------+----------
"""
# The data end, far enough after every F0 for nothing to be pending by accident.
DATA_END = "    filler | 718-7 | 130 | g/L | 2025-12-31 |"


def reasons(audit, labs: str, meds: str, **config) -> dict[str, list[str]]:
    found = audit.reasons(
        "folate_before_b12", LAB_HEADER + labs + "\n" + DATA_END, MED_HEADER + meds, **config
    )
    return {patient: [reason for reason, _ in rows] for patient, rows in found.items()}


def test_each_reason_in_order_of_precedence(audit):
    labs = """
        low      | 2132-9 | 150 | pg/mL | 2024-02-01 | 2024-02-02
        border   | 2132-9 | 250 | pg/mL | 2024-02-01 | 2024-02-02
        indet    | 2132-9 | <200| pg/mL | 2024-02-01 | 2024-02-02
        pending  | 2132-9 | 150 | pg/mL | 2024-02-28 | 2024-03-05
        after    | 2132-9 | 150 | pg/mL | 2024-03-31 |
        stale    | 2132-9 | 150 | pg/mL | 2023-02-28 |
        low_and_pending | 2132-9 | 150 | pg/mL | 2024-01-01 |
        low_and_pending | 2132-9 | 400 | pg/mL | 2024-02-28 | 2024-03-05
    """
    patients = ["low", "border", "indet", "pending", "after", "stale", "never", "low_and_pending"]
    meds = "\n".join(f"{p} | | {FOLATE} | administered | 2024-03-01 | 5 | mg" for p in patients)
    assert reasons(audit, labs, meds) == {
        "low": ["known_low_untreated"],
        "border": ["known_low_untreated"],
        "indet": ["known_low_untreated"],
        "pending": ["pending"],
        "after": ["tested_after"],
        "stale": ["stale"],
        "never": ["never_tested"],
        "low_and_pending": ["known_low_untreated"],
    }


def test_compliant_routes_give_no_finding(audit):
    labs = """
        adequate   | 2132-9  | 400 | pg/mL  | 2024-02-01 |
        border_mma | 2132-9  | 250 | pg/mL  | 2024-02-01 |
        border_mma | 13964-2 | 250 | nmol/L | 2024-02-10 |
        border_hi  | 2132-9  | 250 | pg/mL  | 2024-02-01 |
        border_hi  | 13964-2 | 250 | nmol/L | 2024-02-10 |
        border_hi  | 13964-2 | 300 | nmol/L | 2024-02-12 |
        border_late| 2132-9  | 250 | pg/mL  | 2024-02-01 |
        border_late| 13964-2 | 250 | nmol/L | 2024-03-10 |
    """
    meds = (
        "\n".join(
            f"{p} | | {FOLATE} | administered | 2024-03-01 | 5 | mg"
            for p in ["adequate", "border_mma", "border_hi", "border_late", "treated"]
        )
        + "\n    treated | | Hydroxocobalamin 1 mg/mL inj | administered | 2024-03-01 | 1 | mg"
    )
    assert reasons(audit, labs, meds) == {
        "border_hi": ["known_low_untreated"],
        # The normal MMA came after F0: not known when folate started.
        "border_late": ["known_low_untreated"],
    }


def test_b12_treatment_counts_from_365_days_before_to_the_end_of_f0s_day(audit):
    meds = """
        d365  | | Cyanocobalamin 1000 mcg/mL inj | administered | 2023-03-02       | 1 | mg
        d365  | | FOLIC ACID                     | administered | 2024-03-01       | 5 | mg
        d366  | | Cyanocobalamin 1000 mcg/mL inj | administered | 2023-03-01       | 1 | mg
        d366  | | FOLIC ACID                     | administered | 2024-03-01       | 5 | mg
        same  | | FOLIC ACID                     | administered | 2024-03-01T09:00 | 5 | mg
        same  | | Hydroxocobalamin               | administered | 2024-03-01T17:00 | 1 | mg
        next  | | FOLIC ACID                     | administered | 2024-03-01       | 5 | mg
        next  | | Hydroxocobalamin               | administered | 2024-03-02       | 1 | mg
    """
    assert reasons(audit, "", meds) == {"d366": ["never_tested"], "next": ["never_tested"]}


def test_b12_known_means_resulted_by_f0_and_same_day_counts_without_times(audit):
    labs = """
        known0900  | 2132-9 | 400 | pg/mL | 2024-03-01T08:00 | 2024-03-01T09:00
        known1100  | 2132-9 | 400 | pg/mL | 2024-03-01T08:00 | 2024-03-01T11:00
        date_only  | 2132-9 | 400 | pg/mL | 2024-03-01       |
        look365    | 2132-9 | 400 | pg/mL | 2023-03-02       |
        look366    | 2132-9 | 400 | pg/mL | 2023-03-01       |
    """
    meds = """
        known0900 | | FOLIC ACID | administered | 2024-03-01T10:00 | 5 | mg
        known1100 | | FOLIC ACID | administered | 2024-03-01T10:00 | 5 | mg
        date_only | | FOLIC ACID | administered | 2024-03-01T10:00 | 5 | mg
        look365   | | FOLIC ACID | administered | 2024-03-01       | 5 | mg
        look366   | | FOLIC ACID | administered | 2024-03-01       | 5 | mg
    """
    assert reasons(audit, labs, meds) == {"known1100": ["pending"], "look366": ["stale"]}


def test_tested_after_reaches_90_days_after_f0(audit):
    labs = """
        d90 | 2132-9 | 400 | pg/mL | 2024-05-30 |
        d91 | 2132-9 | 400 | pg/mL | 2024-05-31 |
    """
    meds = """
        d90 | | FOLIC ACID | administered | 2024-03-01 | 5 | mg
        d91 | | FOLIC ACID | administered | 2024-03-01 | 5 | mg
    """
    assert reasons(audit, labs, meds) == {"d90": ["tested_after"], "d91": ["never_tested"]}


def test_a_new_episode_starts_more_than_365_days_after_the_previous_exposure(audit):
    meds = """
        gap366 | | FOLIC ACID | administered | 2024-01-01 | 5 | mg
        gap366 | | FOLIC ACID | administered | 2025-01-01 | 5 | mg
        gap365 | | FOLIC ACID | administered | 2024-01-02 | 5 | mg
        gap365 | | FOLIC ACID | administered | 2025-01-01 | 5 | mg
        chain  | | FOLIC ACID | administered | 2023-01-01 | 5 | mg
        chain  | | FOLIC ACID | administered | 2023-12-01 | 5 | mg
        chain  | | FOLIC ACID | administered | 2024-11-01 | 5 | mg
    """
    found = audit.reasons("folate_before_b12", LAB_HEADER + DATA_END, MED_HEADER + meds)
    assert {p: [d for _, d in rows] for p, rows in found.items()} == {
        "gap366": ["2024-01-01", "2025-01-01"],
        "gap365": ["2024-01-02"],
        "chain": ["2023-01-01"],
    }


def test_only_therapeutic_folic_acid_given_or_dispensed_is_an_exposure(audit):
    meds = """
        folic     | 310410  | (see code)                | dispensed    | 2024-03-01 | 1 | mg
        atc       | B03BB01 | FA                        | administered | 2024-03-01 | 5 | mg
        mixed     |         | FoLIC Acid 1 mg tab       | administered | 2024-03-01 | 1 | mg
        nephro    |         | Nephrocaps                | administered | 2024-03-01 | 1 | cap
        mvi       |         | Multivitamin with folic acid | administered | 2024-03-01 | 1 | tab
        prenatal  |         | Prenatal vitamins         | administered | 2024-03-01 | 1 | tab
        bcomplex  |         | Vitamin B-Complex         | administered | 2024-03-01 | 1 | tab
        leucov    |         | Leucovorin calcium        | administered | 2024-03-01 | 15 | mg
        mvi_code  | 1304564 | folic acid in TPN         | administered | 2024-03-01 | 1 | mL
        ordered   |         | Folic acid                | ordered      | 2024-03-01 | 5 | mg
        not_given |         | Folic acid                | not_given    | 2024-03-01 | 5 | mg
        held      |         | Folic acid                | held         | 2024-03-01 | 5 | mg
    """
    assert set(reasons(audit, "", meds)) == {"folic", "atc", "mixed", "nephro"}


def test_ordered_events_count_when_configured(audit):
    meds = "ordered | | Folic acid | ordered | 2024-03-01 | 5 | mg"
    assert reasons(audit, "", meds, count_ordered_events=True) == {"ordered": ["never_tested"]}


def test_antidote_and_multivitamin_b12_are_not_b12_treatment(audit):
    b12_products = """
        cyanokit |        | Cyanokit              | administered | 2024-03-01 | 5    | g
        big_dose |        | Hydroxocobalamin      | administered | 2024-03-01 | 5000 | mg
        code_kit | 700499 | Hydroxocobalamin      | administered | 2024-03-01 | 5    | g
        mvi      |        | Multivitamin with B12 | administered | 2024-03-01 | 1    | tab
        nephro   |        | Nephrocaps            | administered | 2024-02-01 | 1    | cap
        treated  |        | Cyanocobalamin        | dispensed    | 2024-03-01 | 1    | mg
        methyl   |        | Methylcobalamin 1 mg  | dispensed    | 2024-03-01 | 1000 | mcg
    """
    patients = ["cyanokit", "big_dose", "code_kit", "mvi", "nephro", "treated", "methyl"]
    folate = "\n".join(f"{p} | | FOLIC ACID | administered | 2024-03-01 | 5 | mg" for p in patients)
    found = reasons(audit, "", b12_products + folate)
    assert set(found) == {"cyanokit", "big_dose", "code_kit", "mvi", "nephro"}


def test_each_episode_carries_its_folate_row_and_deciding_b12_row(audit):
    labs = "    p1 | 2132-9 | 150 | pg/mL | 2024-02-01 |"
    meds = "    p1 | | FOLIC ACID | administered | 2024-03-01 | 5 | mg"
    db = audit.run(LAB_HEADER + labs + "\n" + DATA_END, MED_HEADER + meds)
    assert query(
        db,
        "select evidence_lab_row_ids, evidence_medication_row_ids from findings "
        "where finding = 'folate_before_b12'",
    ) == [(["lab_results.csv:2"], ["medications.csv:2"])]
    assert query(db, "select count(*), count(compliance_basis) from folate_episodes") == [(1, 0)]


def test_drug_names_seen_in_real_extracts_are_classed_by_what_they_give(audit):
    meds = """
        multiple | | Multiple vitamins with folic acid 0.4 mg | administered | 2024-03-01 | 1 | tab
        mvm      | | Multiple Vitamins-Minerals (folic acid)  | administered | 2024-03-01 | 1 | tab
        renal    | | B complex-C-folic acid (NEPHRO-VITE RX)  | administered | 2024-03-01 | 1 | tab
        b_12     | | B-12 1000 mcg injection                  | administered | 2024-03-01 | 1 | mg
        b_12     | | FOLIC ACID                               | administered | 2024-03-01 | 5 | mg
    """
    assert reasons(audit, "", meds) == {"renal": ["never_tested"]}


def test_the_antidote_is_recognised_by_name_over_code_and_by_dose_in_grams(audit):
    meds = """
        kit_code | 5514 | Cyanokit 5 g kit          | administered | 2024-03-01 |   |
        kit_code |      | FOLIC ACID                | administered | 2024-03-01 | 5 | mg
        gm       |      | Hydroxocobalamin injection| administered | 2024-03-01 | 5 | gm
        gm       |      | FOLIC ACID                | administered | 2024-03-01 | 5 | mg
    """
    assert set(reasons(audit, "", meds)) == {"kit_code", "gm"}


def test_an_ordered_b12_is_never_treatment_even_when_ordered_folate_counts(audit):
    meds = """
        p1 | | Cyanocobalamin | ordered | 2024-03-01 | 1 | mg
        p1 | | FOLIC ACID     | ordered | 2024-03-01 | 5 | mg
    """
    assert reasons(audit, "", meds, count_ordered_events=True) == {"p1": ["never_tested"]}
