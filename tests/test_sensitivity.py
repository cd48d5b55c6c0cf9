"""The sensitivity table: flipping one switch at a time, findings gained and lost."""

from __future__ import annotations

from tests.conftest import query
from transforms import stages
from transforms.config import AuditConfig

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
    patient_id | drug_name                           | event_type   | event_at   | route
    -----------+-------------------------------------+--------------+------------+------
    mvi        | Multivitamin with folic acid 0.4 mg | dispensed    | 2024-05-01 | oral
    leuco      | Leucovorin calcium 15 mg            | dispensed    | 2024-05-01 | oral
    ordered    | Folic acid 5 mg tab                 | ordered      | 2024-05-01 | oral
    sameday    | Folic acid 5 mg tab                 | administered | 2024-05-01 | oral
    sameday    | Hydroxocobalamin 1 mg/mL inj        | administered | 2024-05-01 | IM
    nocause    | Hydroxocobalamin 1 mg/mL inj        | administered | 2024-05-01 | IM
"""
DIAGNOSES = """
    patient_id | code   | code_system | recorded_at
    -----------+--------+-------------+------------
    dementia   | F03.90 | ICD10CM     | 2024-04-01
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
        ("b12_unit_policy", "unit_native", "b12_deficient", 1, 0),
        ("count_ordered_events", "True", "folate_before_b12", 1, 0),
        ("folate_scope", "with_low_dose", "folate_before_b12", 1, 0),
        ("folate_scope", "with_low_dose_and_folinic", "folate_before_b12", 2, 0),
        # 'nocause' and 'sameday' each had one injection and no cause coded: their
        # 'stopped' lapses rest on counting an unknown cause as lifelong.
        ("lifelong_when_cause_unknown", "False", "b12_treatment_lapse", 0, 2),
        ("neuro_include_dementia", "True", "neuro_normal_b12_no_metabolites", 1, 0),
        ("same_day_b12_treatment_concurrent", "False", "folate_before_b12", 1, 0),
    ]


def test_the_flipped_runs_leave_the_run_s_own_tables_untouched(audit):
    db = audit.run(LABS, MEDS, diagnoses=DIAGNOSES)
    before = query(db, "select * from findings order by all")
    stages.sensitivity(db, AuditConfig())
    assert query(db, "select * from findings order by all") == before
    schemas = {r[0] for r in query(db, "select schema_name from duckdb_schemas()")}
    assert "sensitivity_scratch" not in schemas
