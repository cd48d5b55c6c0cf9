"""The sensitivity table: flipping one switch at a time, findings gained and lost."""

from __future__ import annotations

from tests.conftest import query
from transforms.config import AuditConfig
from transforms.operations import stages

LABS = """
    patient_id | test_code | result | unit   | collected_at | resulted_at
    -----------+-----------+--------+--------+--------------+------------
    start      | 718-7     | 135    | g/L    | 2023-01-01   |
    molar      | 14685-2   | 140    | pmol/L | 2024-05-01   |
    molar      | 13964-2   | 150    | nmol/L | 2024-05-01   |
    dementia   | 2132-9    | 420    | pg/mL  | 2024-05-01   |
    end        | 718-7     | 135    | g/L    | 2025-12-31   |
"""
MEDS = """
    patient_id | drug_name                    | event_type   | event_at   | route | dose | dose_unit
    -----------+------------------------------+--------------+------------+-------+------+----------
    start      | Paracetamol 500 mg tab       | administered | 2023-01-01 | oral  |      |
    end        | Paracetamol 500 mg tab       | administered | 2025-12-31 | oral  |      |
    mvi        | MVI with folic acid 0.4 mg   | dispensed    | 2024-05-01 | oral  |      |
    leuco      | Leucovorin calcium 15 mg     | dispensed    | 2024-05-01 | oral  |      |
    ordered    | Folic acid 5 mg tab          | ordered      | 2024-05-01 | oral  |      |
    sameday    | Folic acid 5 mg tab          | administered | 2024-05-01 | oral  |      |
    sameday    | Hydroxocobalamin 1 mg/mL inj | administered | 2024-05-01 | IM    |      |
    nocause    | Hydroxocobalamin 1 mg/mL inj | administered | 2024-05-01 | IM    |      |
    nocause    | Hydroxocobalamin 1 mg/mL inj | administered | 2024-05-03 | IM    |      |
    nocause    | Hydroxocobalamin 1 mg/mL inj | administered | 2024-05-05 | IM    |      |
    nocause    | Hydroxocobalamin 1 mg/mL inj | administered | 2024-05-08 | IM    |      |
    nocause    | Hydroxocobalamin 1 mg/mL inj | administered | 2024-05-10 | IM    |      |
    nocause    | Hydroxocobalamin 1 mg/mL inj | administered | 2024-05-12 | IM    |      |
    vegan      | Cyanocobalamin 100 mcg tab   | dispensed    | 2024-05-01 | oral  | 100  | mcg
"""
DIAGNOSES = """
    patient_id | code   | code_system | recorded_at
    -----------+--------+-------------+------------
    dementia   | F03.90 | ICD10CM     | 2024-04-01
    vegan      | D51.3  | ICD10CM     | 2024-04-01
"""


def test_each_switch_flipped_alone_counts_the_findings_it_moves(audit):
    db = audit.run(LABS, MEDS, diagnoses=DIAGNOSES)
    stages.sensitivity(db, AuditConfig())
    rows = query(
        db,
        "select switch, flipped_to, finding, findings_gained, findings_lost "
        "from sensitivity order by all",
    )
    assert rows == [
        ("b12_unit_policy", "unit_native", "b12_borderline", 0, 1),
        # 'molar' (140 pmol/L) turns deficient under unit_native, and was never treated.
        ("b12_unit_policy", "unit_native", "b12_deficiency_untreated", 1, 0),
        ("b12_unit_policy", "unit_native", "b12_deficient", 1, 0),
        ("count_ordered_events", "True", "folate_before_b12", 1, 0),
        ("folate_scope", "with_low_dose", "folate_before_b12", 1, 0),
        ("folate_scope", "with_low_dose_and_folinic", "folate_before_b12", 2, 0),
        # 'nocause' had a full loading, then nothing, and no cause coded: its 'stopped'
        # lapse rests on counting an unknown cause as lifelong.
        ("lifelong_when_cause_unknown", "False", "b12_treatment_lapse", 0, 1),
        ("neuro_include_dementia", "True", "neuro_normal_b12_no_metabolites", 1, 0),
        # 'vegan' takes 100 mcg a day for a coded dietary cause.
        ("oral_dose_dietary_exempt", "True", "b12_oral_regimen", 0, 1),
        ("same_day_b12_treatment_concurrent", "False", "folate_before_b12", 1, 0),
    ]


def test_the_flipped_runs_leave_the_run_s_own_tables_untouched(audit):
    db = audit.run(LABS, MEDS, diagnoses=DIAGNOSES)
    before = query(db, "select * from findings order by all")
    stages.sensitivity(db, AuditConfig())
    assert query(db, "select * from findings order by all") == before
    schemas = {r[0] for r in query(db, "select schema_name from duckdb_schemas()")}
    assert "sensitivity_scratch" not in schemas


def test_a_renumbered_folate_episode_is_not_a_change(audit):
    # Under with_low_dose the multivitamin becomes episode 1 (never_tested) and the folic
    # acid (known_low_untreated) episode 2: one episode gained, none lost.
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        p1         | 2132-9    | 150    | pg/mL | 2024-05-01
    """
    meds = """
        patient_id | drug_name                           | event_type | event_at   | route
        -----------+-------------------------------------+------------+------------+------
        p1         | MVI with folic acid 0.4 mg | dispensed  | 2023-01-10 | oral
        p1         | Folic acid 5 mg tab                 | dispensed  | 2024-06-01 | oral
    """
    db = audit.run(labs, meds)
    stages.sensitivity(db, AuditConfig())
    rows = query(
        db,
        "select flipped_to, findings_gained, findings_lost from sensitivity "
        "where switch = 'folate_scope' order by all",
    )
    assert rows == [("with_low_dose", 1, 0), ("with_low_dose_and_folinic", 1, 0)]
