"""The worklist: one row per open finding, most severe and oldest first, with the evidence
in plain words; written as patient_level/worklist.csv and worklist.xlsx."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.utils import get_column_letter

from tests.conftest import SAMPLE, Audit, run_stages
from transforms import database
from transforms.config import AuditConfig
from transforms.outputs import worklist
from transforms.rules.registry import SEVERITY_RANK
from transforms.sqlfiles import sql_text

LAB_HEADER = """
    patient_id | test_code | result | unit   | collected_at | resulted_at
    -----------+-----------+--------+--------+--------------+------------
"""
MED_HEADER = """
    patient_id | drug_name | event_type | event_at | dose | dose_unit | route
    -----------+-----------+------------+----------+------+-----------+------
"""
DX_HEADER = """
    patient_id | code | code_system | recorded_at
    -----------+------+-------------+------------
"""
PATIENT_HEADER = """
    patient_id | sex | birth_date
    -----------+-----+-----------
"""
# The labs and the medication history both run from 2023-01-01 to 2025-12-31 (a filler
# patient's haemoglobin and paracetamol), so nothing is pending by accident and courses
# from 2024-03-01 have their 180 days of look-back.
LAB_FILLERS = """
    filler | 718-7 | 130 | g/L | 2023-01-01 |
    filler | 718-7 | 130 | g/L | 2025-12-31 |
"""
FOLIC_ACID = "Folic acid 1 mg tab"
UNTREATED_FINDING = "b12_deficiency_untreated"
INJECTION = "Hydroxocobalamin 1 mg/mL"


def med_fillers(last: str = "2025-12-31") -> str:
    return "\n".join(
        f"filler | Paracetamol 500 mg tab | administered | {day} | 500 | mg | oral"
        for day in ("2023-01-01", last)
    )


def injections(patient: str, *days: int, start: str = "2024-03-01") -> str:
    first = dt.date.fromisoformat(start)
    return "\n".join(
        f"{patient} | {INJECTION} | administered | {first + dt.timedelta(days=d)} | 1 | mg | IM"
        for d in days
    )


def folic_acid(*patients: str, on: str = "2025-03-10") -> str:
    return "\n".join(f"{p} | {FOLIC_ACID} | dispensed | {on} | 1 | mg | oral" for p in patients)


class Worklist(Audit):
    """Runs the audit and the worklist on tables given as text (each under its header)."""

    def build(
        self,
        labs: str = "",
        meds: str = "",
        patients: str = "",
        diagnoses: str | None = "",
        med_end: str = "2025-12-31",
        **config,
    ) -> Path:
        db = self.run(
            LAB_HEADER + labs + LAB_FILLERS,
            MED_HEADER + meds + "\n" + med_fillers(med_end),
            PATIENT_HEADER + patients if patients else "",
            DX_HEADER + diagnoses if diagnoses is not None else None,
            **config,
        )
        with database.connect(db) as con:
            worklist.build(con, AuditConfig(**config))
        return db

    def rows(self, *args, **kwargs) -> list[dict]:
        db = self.build(*args, **kwargs)
        with duckdb.connect(str(db), read_only=True) as con:
            result = con.execute("select * from worklist_items order by priority")
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def evidence(self, *args, **kwargs) -> dict[tuple[str, str], str]:
        """(patient, finding) -> evidence."""
        return {(r["patient_id"], r["finding"]): r["evidence"] for r in self.rows(*args, **kwargs)}


@pytest.fixture
def wl(tmp_path: Path) -> Worklist:
    return Worklist(tmp_path)


# The evidence tests below each show their own patients; one audit runs them all at once
# (patient ids differ across tables), which keeps the file fast.
SHARED: dict[str, list[str]] = {"labs": [], "meds": [], "patients": [], "diagnoses": []}


def shared(**tables: str) -> None:
    """Adds patients (labs=, meds=, patients=, diagnoses= rows) to the shared audit."""
    for table, rows in tables.items():
        SHARED[table].append(rows)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory) -> Path:
    joined = {key: "\n".join(texts) for key, texts in SHARED.items()}
    return Worklist(tmp_path_factory.mktemp("shared")).build(
        joined["labs"], joined["meds"], joined["patients"], joined["diagnoses"]
    )


@pytest.fixture(scope="module")
def evidence(shared_db: Path) -> dict[tuple[str, str], str]:
    """(patient, finding) -> evidence, for every patient given to shared()."""
    with duckdb.connect(str(shared_db), read_only=True) as con:
        rows = con.execute("select patient_id, finding, evidence from worklist_items")
        return {(patient, finding): words for patient, finding, words in rows.fetchall()}


# --- The evidence of each finding, in plain words -------------------------------------


shared(
    labs="""
        value_152  | 2132-9  | 152  | pg/mL  | 2024-03-01 |
        below_150  | 2132-9  | <150 | pg/mL  | 2024-03-01 |
        pmol_130   | 14685-2 | 130  | pmol/L | 2024-03-01 |
    """
)


def test_an_untreated_deficient_b12_shows_its_value_comparator_unit_limit_and_window(evidence):
    found = evidence
    limit = "(deficient: below 180 pg/mL)"
    untreated = (
        "; known 2024-03-01; no B12 treatment administered or dispensed "
        "from 2024-01-31 to 2024-03-31"
    )
    assert (
        found[("value_152", UNTREATED_FINDING)] == f"B12 152 pg/mL on 2024-03-01 {limit}{untreated}"
    )
    assert (
        found[("below_150", UNTREATED_FINDING)]
        == f"B12 <150 pg/mL on 2024-03-01 {limit}{untreated}"
    )
    assert found[("pmol_130", UNTREATED_FINDING)] == (
        f"B12 176.2 pg/mL (130 pmol/L as reported) on 2024-03-01 {limit}{untreated}"
    )
    # The deficiency itself is a status: in findings.csv, never a worklist item.
    assert ("value_152", "b12_deficient") not in found


# Both switches flipped in one audit: each test reads its own patients.
OTHER_SETTINGS = {"b12_unit_policy": "unit_native", "same_day_b12_treatment_concurrent": False}


@pytest.fixture(scope="module")
def other_settings_evidence(tmp_path_factory) -> dict[tuple[str, str], str]:
    labs = """
        pmol_140 | 14685-2 | 140 | pmol/L | 2024-03-01 |
        pmol_160 | 14685-2 | 160 | pmol/L | 2024-03-01 |
    """
    folder = tmp_path_factory.mktemp("other_settings")
    # same_day: a B12 injection on the folic acid's day, neither with a time of day.
    meds = folic_acid("never", "same_day") + "\n" + injections("same_day", 0, start="2025-03-10")
    return Worklist(folder).evidence(labs, meds, **OTHER_SETTINGS)


def test_under_the_unit_native_policy_a_molar_b12_is_judged_in_pmol_per_litre(
    other_settings_evidence,
):
    found = other_settings_evidence
    assert found[("pmol_140", UNTREATED_FINDING)] == (
        "B12 189.75 pg/mL (140 pmol/L as reported) on 2024-03-01 (deficient: below 150 pmol/L)"
        "; known 2024-03-01; no B12 treatment administered or dispensed from 2024-01-31 to "
        "2024-03-31"
    )
    assert found[("pmol_160", "b12_borderline_no_mma")] == (
        "B12 216.86 pg/mL (160 pmol/L as reported) on 2024-03-01 "
        "(borderline: 150 pmol/L to 350 pg/mL); no valid off-treatment MMA from 2024-01-31 to "
        "2024-05-30"
    )


shared(
    labs="""
        two_raised | 2132-9  | 250 | pg/mL  | 2024-03-01 |
        two_raised | 13964-2 | 300 | nmol/L | 2024-03-10 |
        two_raised | 13964-2 | 320 | nmol/L | 2024-04-01 |
        umol       | 2132-9  | 250 | pg/mL  | 2024-03-01 |
        umol       | 13964-2 | 0.3 | umol/L | 2024-03-10 |
    """
)


def test_an_untreated_functional_deficiency_shows_the_b12_its_first_raised_mma_and_window(
    evidence,
):
    found = evidence
    b12 = "B12 250 pg/mL on 2024-03-01 (borderline: 180-350 pg/mL)"
    # Known when both results were: the first raised MMA, on 2024-03-10.
    untreated = (
        "; known 2024-03-10; no B12 treatment administered or dispensed "
        "from 2024-01-31 to 2024-04-09"
    )
    assert found[("two_raised", UNTREATED_FINDING)] == (
        f"{b12}; MMA 300 nmol/L on 2024-03-10 (above 271 nmol/L and 1 more raised){untreated}"
    )
    assert found[("umol", UNTREATED_FINDING)] == (
        f"{b12}; MMA 300 nmol/L (0.3 umol/L as reported) on 2024-03-10 (above 271 nmol/L)"
        f"{untreated}"
    )


shared(labs="no_mma | 2132-9 | 187 | pg/mL | 2024-03-01 |")


def test_a_borderline_b12_without_mma_shows_the_window_searched(evidence):
    assert evidence[("no_mma", "b12_borderline_no_mma")] == (
        "B12 187 pg/mL on 2024-03-01 (borderline: 180-350 pg/mL); "
        "no valid off-treatment MMA from 2024-01-31 to 2024-05-30"
    )


FOLATE_LABS = """
    low          | 2132-9  | 150 | pg/mL  | 2025-02-01 |
    border       | 2132-9  | 250 | pg/mL  | 2025-02-01 |
    border_mma   | 2132-9  | 250 | pg/mL  | 2025-02-01 |
    border_mma   | 13964-2 | 300 | nmol/L | 2025-02-01 |
    pending      | 2132-9  | 150 | pg/mL  | 2025-03-08 | 2025-03-12
    after        | 2132-9  | 150 | pg/mL  | 2025-04-01 |
    stale        | 2132-9  | 420 | pg/mL  | 2024-03-09 |
"""
FOLATE_PATIENTS = ("low", "border", "border_mma", "pending", "after", "stale", "never")
shared(labs=FOLATE_LABS, meds=folic_acid(*FOLATE_PATIENTS))


VALID = "valid off-treatment"
LATEST = f"latest {VALID} B12 known by then"
NO_MMA_AROUND_FEB_1 = f"no {VALID} MMA from 2025-01-02 to 2025-05-02 known by then"
AFTER = (
    f"no {VALID} B12 collected from 2024-03-10 until it; first {VALID} B12 after it "
    "150 pg/mL on 2025-04-01 (deficient: below 180 pg/mL)"
)
STALE = f"{LATEST} 420 pg/mL on 2024-03-09, over 365 days before"
NEVER = f"no {VALID} B12 collected from 2024-03-10 to 2025-06-08, nor any earlier one known by then"
UNTREATED = "; no B12 treatment administered or dispensed from 2024-03-10 to 2025-03-10"


def test_folic_acid_before_b12_shows_the_folate_start_what_was_known_and_no_treatment(evidence):
    found = evidence
    start = f"folic acid ({FOLIC_ACID}) first dispensed 2025-03-10; "
    untreated = UNTREATED
    expected = {
        "low": f"{LATEST} 150 pg/mL on 2025-02-01 (deficient: below 180 pg/mL)",
        "border": f"{LATEST} 250 pg/mL on 2025-02-01 "
        f"(borderline: 180-350 pg/mL; {NO_MMA_AROUND_FEB_1})",
        "border_mma": f"{LATEST} 250 pg/mL on 2025-02-01 "
        "(borderline: 180-350 pg/mL; MMA 300 nmol/L on 2025-02-01)",
        "pending": "B12 collected 2025-03-08 but resulted 2025-03-12, after it: "
        "150 pg/mL (deficient: below 180 pg/mL)",
        "after": AFTER,
        "stale": STALE,
        "never": NEVER,
    }
    assert {p: found[(p, "folate_before_b12")] for p in FOLATE_PATIENTS} == {
        p: start + words + untreated for p, words in expected.items()
    }


def test_when_same_day_b12_is_not_concurrent_the_treatment_window_ends_before_folate(
    other_settings_evidence,
):
    assert other_settings_evidence[("never", "folate_before_b12")].endswith(
        "; no B12 treatment administered or dispensed from 2024-03-10 to 2025-03-09 "
        "or timed at or before it on 2025-03-10"
    )


def test_a_same_day_injection_without_times_is_not_denied_when_it_does_not_count(
    other_settings_evidence,
):
    # The old "no B12 treatment ... until it" was false here: the injection was given on
    # the folic acid's day, which the rule cannot place before it without times.
    assert other_settings_evidence[("same_day", "folate_before_b12")].endswith(
        "; no B12 treatment administered or dispensed from 2024-03-10 to 2025-03-09 "
        "or timed at or before it on 2025-03-10"
    )


# Results the folate rule does not look at exist here, so a sentence about "any B12" or
# "any MMA" would be false: an MMA outside the window around the B12, hemolyzed B12s, a B12
# taken on treatment, one collected long before and resulted after the folic acid, and a
# B12 injection only ordered.
shared(
    labs="""
        border_old_mma     | 2132-9  | 250       | pg/mL  | 2025-02-01 |
        border_old_mma     | 13964-2 | 200       | nmol/L | 2024-12-03 |
        after_hemolyzed    | 2132-9  | hemolyzed | pg/mL  | 2025-01-01 |
        after_hemolyzed    | 2132-9  | 150       | pg/mL  | 2025-04-01 |
        stale_hemolyzed    | 2132-9  | 420       | pg/mL  | 2024-03-09 |
        stale_hemolyzed    | 2132-9  | hemolyzed | pg/mL  | 2025-01-01 |
        never_hemolyzed    | 2132-9  | hemolyzed | pg/mL  | 2025-01-01 |
        never_on_treatment | 2132-9  | 150       | pg/mL  | 2024-04-01 |
        never_late_result  | 2132-9  | 420       | pg/mL  | 2024-01-02 | 2025-04-01
    """,
    meds="\n".join(
        [
            folic_acid("border_old_mma", "after_hemolyzed", "stale_hemolyzed"),
            folic_acid("never_hemolyzed", "never_on_treatment", "never_late_result"),
            folic_acid("ordered_b12"),
            injections("never_on_treatment", 0),  # 2024-03-01: over 365 days before F0
            f"ordered_b12 | {INJECTION} | ordered | 2025-01-01 | 1 | mg | IM",
        ]
    ),
)


def test_folate_evidence_denies_only_the_results_and_doses_the_rule_looks_at(evidence):
    expected = {
        "border_old_mma": f"{LATEST} 250 pg/mL on 2025-02-01 "
        f"(borderline: 180-350 pg/mL; {NO_MMA_AROUND_FEB_1})",
        "after_hemolyzed": AFTER,
        "stale_hemolyzed": STALE,
        "never_hemolyzed": NEVER,
        "never_on_treatment": NEVER,
        "never_late_result": NEVER,
        "ordered_b12": NEVER,
    }
    start = f"folic acid ({FOLIC_ACID}) first dispensed 2025-03-10; "
    assert {p: evidence[(p, "folate_before_b12")] for p in expected} == {
        p: start + words + UNTREATED for p, words in expected.items()
    }


shared(meds=folic_acid("second_episode", on="2023-06-01") + "\n" + folic_acid("second_episode"))


def test_a_later_folate_episode_is_not_called_the_first_folic_acid(shared_db):
    with duckdb.connect(str(shared_db), read_only=True) as con:
        rows = con.execute(
            "select episode, evidence from worklist_items where patient_id = 'second_episode' "
            "order by episode"
        ).fetchall()
    assert [(episode, words.split(";")[0]) for episode, words in rows] == [
        (1, f"folic acid ({FOLIC_ACID}) first dispensed 2023-06-01"),
        (2, f"folic acid ({FOLIC_ACID}) dispensed 2025-03-10, the first in over 365 days"),
    ]


NEURO_LABS = """
    none      | 2132-9  | 420 | pg/mL  | 2025-03-03 |
    partial   | 2132-9  | 420 | pg/mL  | 2025-03-03 |
    partial   | 13965-9 | 12  | umol/L | 2025-03-13 |
    two_codes | 2132-9  | 250 | pg/mL  | 2025-03-03 |
    two_codes | 13964-2 | 150 | nmol/L | 2025-03-03 |
"""
NEURO_CODES = """
    none      | G62.9 | ICD10CM | 2025-02-01
    partial   | G62.9 | ICD10CM | 2025-02-01
    two_codes | G62.9 | ICD10CM | 2025-02-01
    two_codes | G63   | ICD10CM | 2025-02-10
"""
shared(labs=NEURO_LABS, diagnoses=NEURO_CODES)


def test_neuro_symptoms_with_a_b12_not_low_show_the_code_and_what_was_not_measured(evidence):
    found = evidence
    code = "neurological code G62.9 recorded 2025-02-01"
    window = "from 2025-02-01 to 2025-06-01"
    adequate = "B12 420 pg/mL on 2025-03-03 (adequate: above 350 pg/mL)"
    assert found[("none", "neuro_normal_b12_no_metabolites")] == (
        f"{adequate} with {code}; no valid off-treatment MMA or homocysteine {window}"
    )
    assert found[("partial", "neuro_normal_b12_no_metabolites")] == (
        f"{adequate} with {code}; homocysteine 12 umol/L on 2025-03-13 "
        f"but no valid off-treatment MMA {window}"
    )
    assert found[("two_codes", "neuro_normal_b12_no_metabolites")] == (
        "B12 250 pg/mL on 2025-03-03 (borderline: 180-350 pg/mL) with "
        f"{code} and 1 more; MMA 150 nmol/L on 2025-03-03 "
        f"but no valid off-treatment homocysteine {window}"
    )


shared(
    meds="\n".join(
        [
            injections("three_days", 0, 2, 4),
            injections("one_day", 0),
            injections("neuro_gap", 0, 2, 4, 6, 8, 12),
            "neuro_oral | Cyanocobalamin 1000 mcg tab | dispensed | 2024-03-01 | 1 | mg | oral",
        ]
    ),
    diagnoses="""
        neuro_gap  | G62.9 | ICD10CM | 2024-03-01
        neuro_oral | G62.9 | ICD10CM | 2024-03-01
    """,
)


def test_a_short_loading_shows_the_injection_days_counted_and_needed(evidence):
    found = evidence
    course = f"B12 course ({INJECTION}) from 2024-03-01"
    code = "neurological code G62.9 recorded 2024-03-01"
    assert {p: found[(p, "b12_loading_incomplete")] for p in ("three_days", "one_day")} == {
        "three_days": f"{course}: 3 injection days in days 0-14 (6 needed)",
        "one_day": f"{course}: 1 injection day in days 0-14 (6 needed)",
    }
    assert found[("neuro_gap", "b12_loading_incomplete")] == (
        f"{course} with {code}: 6 injection days in days 0-13 (7 needed), "
        "longest gap 4 days (at most 3)"
    )
    assert found[("neuro_oral", "b12_loading_incomplete")] == (
        "oral B12 course (Cyanocobalamin 1000 mcg tab) from 2024-03-01 with "
        f"{code}; no injection in days 0-13"
    )


LOADED = (0, 2, 4, 7, 9, 11)  # six injection days in days 0-14: a complete loading
shared(
    meds="\n".join(
        [
            injections("gap", *LOADED),
            # Resumed, then every 90 days to the data end: the gap is the course's latest.
            injections("gap", 0, 90, 180, 270, 360, 450, start="2024-08-01"),
            injections("stopped", *LOADED),
        ]
    ),
    diagnoses="gap | D51.0 | ICD10CM | 2024-01-15",
)


def test_a_lapse_shows_the_last_injection_what_followed_and_the_indication(evidence):
    found = evidence
    due = "(due within 91 days + 30 days' grace)"
    assert found[("gap", "b12_treatment_lapse")] == (
        f"B12 injection ({INJECTION}) 2024-03-12; next 2024-08-01, 142 days later {due}; "
        "lifelong indication D51.0 recorded 2024-01-15"
    )
    assert found[("stopped", "b12_treatment_lapse")] == (
        f"last B12 injection ({INJECTION}) 2024-03-12; none by 2025-12-31 {due}; "
        "no cause coded, so taken as lifelong"
    )


shared(
    labs="""
        man     | 718-7 | 12.5    | g/dL | 2024-02-15 |
        unknown | 718-7 | 119     | g/L  | 2024-02-15 |
        clotted | 718-7 | 119     | g/L  | 2024-02-15 |
        clotted | 718-7 | clotted | g/L  | 2024-04-20 |
    """,
    patients="man | M |",
    meds="\n".join(injections(p, *LOADED) for p in ("man", "unknown", "clotted")),
)


def test_a_missed_8_week_blood_count_shows_the_low_hb_and_the_window(evidence):
    found = evidence
    course = f"B12 course ({INJECTION}) from 2024-03-01"
    window = "no Hb or MCV with a value from 2024-04-12 to 2024-05-10"
    assert found[("man", "monitoring_missed")] == (
        f"{course} with Hb 125 g/L (12.5 g/dL as reported) on 2024-02-15 (below 130 g/L); {window}"
    )
    assert found[("unknown", "monitoring_missed")] == (
        f"{course} with Hb 119 g/L on 2024-02-15 (below 120 g/L); {window}"
    )
    # A 'clotted' Hb in the window was taken but has no value: the rule does not count it.
    assert found[("clotted", "monitoring_missed")] == found[("unknown", "monitoring_missed")]


# --- Which findings are open ------------------------------------------------------------


shared(
    labs="""
        tags           | 2132-9  | 400 | pg/mL  | 2024-03-01 |
        tags           | 718-7   | 100 | g/L    | 2024-03-01 |
        tags           | 787-2   | 105 | fL     | 2024-03-01 |
        tags           | 4537-7  | 100 | mm/h   | 2024-03-01 |
        worked_up      | 2132-9  | 250 | pg/mL  | 2024-03-01 |
        worked_up      | 13964-2 | 200 | nmol/L | 2024-03-01 |
        functional     | 2132-9  | 250 | pg/mL  | 2024-03-01 |
        functional     | 13964-2 | 300 | nmol/L | 2024-03-01 |
        mma_awaited    | 2132-9  | 250 | pg/mL  | 2025-12-01 |
        neuro_awaited  | 2132-9  | 420 | pg/mL  | 2025-12-01 |
        folate_pending | 2132-9  | 150 | pg/mL  | 2025-03-08 | 2025-03-12
    """,
    meds=folic_acid("folate_pending"),
    patients="tags | F | 1950-01-01",
    diagnoses="neuro_awaited | G62.9 | ICD10CM | 2025-11-20",
)
EXCLUSION_PATIENTS = ["tags", "worked_up", "functional", "mma_awaited", "neuro_awaited"]
EXCLUSION_PATIENTS += ["folate_pending"]


def test_statuses_and_tags_are_not_listed_and_rows_waiting_on_their_window_are_pending(
    shared_db,
):
    sql = "select patient_id, finding, reason from {} where patient_id in $p"
    with duckdb.connect(str(shared_db), read_only=True) as con:
        findings = set(con.execute(sql.format("findings"), {"p": EXCLUSION_PATIENTS}).fetchall())
        listed = set(
            con.execute(sql.format("worklist_items"), {"p": EXCLUSION_PATIENTS}).fetchall()
        )
    not_open = {("tags", tag, None) for tag in ("anaemia", "macrocytosis", "elevated_esr")} | {
        ("worked_up", "b12_borderline", None),
        ("functional", "b12_borderline", None),
        ("functional", "b12_functional_deficiency", None),
        ("folate_pending", "b12_deficient", None),
        ("mma_awaited", "b12_borderline", None),
    }
    pending = {
        ("mma_awaited", "b12_borderline_no_mma", "pending"),
        ("neuro_awaited", "neuro_normal_b12_no_metabolites", "pending"),
    }
    open_ = {
        ("functional", UNTREATED_FINDING, "no_treatment"),
        ("folate_pending", UNTREATED_FINDING, "no_treatment"),
        ("folate_pending", "folate_before_b12", "pending"),
    }
    assert findings == not_open | pending | open_
    assert listed == pending | open_
    with duckdb.connect(str(shared_db), read_only=True) as con:
        states = con.execute(
            "select patient_id, finding, state from worklist_items where patient_id in $p",
            {"p": EXCLUSION_PATIENTS},
        ).fetchall()
    # folate_before_b12's 'pending' is a B12 resulted after the folic acid: a failure.
    assert sorted(states) == sorted(
        [(p, f, "pending") for p, f, _ in pending] + [(p, f, "open") for p, f, _ in open_]
    )


def test_most_severe_first_then_oldest_then_finding_then_patient(wl):
    # Three untreated deficiencies on 2024-02-01 (a_functional's confirmed by its MMA): the
    # patient breaks the tie.
    labs = """
        z_high_late   | 2132-9  | 150 | pg/mL  | 2024-06-01 |
        a_functional  | 2132-9  | 250 | pg/mL  | 2024-02-01 |
        a_functional  | 13964-2 | 300 | nmol/L | 2024-02-01 |
        d_high_tie    | 2132-9  | 150 | pg/mL  | 2024-02-01 |
        c_low_oldest  | 2132-9  | 250 | pg/mL  | 2024-01-15 |
        b_high_early  | 2132-9  | 150 | pg/mL  | 2024-02-01 |
    """
    rows = wl.rows(labs, folic_acid("f_medium", on="2024-01-10"))
    assert [(r["priority"], r["severity"], r["patient_id"], r["finding"]) for r in rows] == [
        (1, "high", "a_functional", UNTREATED_FINDING),
        (2, "high", "b_high_early", UNTREATED_FINDING),
        (3, "high", "d_high_tie", UNTREATED_FINDING),
        (4, "high", "z_high_late", UNTREATED_FINDING),
        (5, "medium", "f_medium", "folate_before_b12"),
        (6, "low", "c_low_oldest", "b12_borderline_no_mma"),
    ]


def test_days_open_count_to_the_data_end_of_the_source_that_decides(wl):
    # A borderline B12 without MMA is judged against the lab data end (2025-12-31).
    labs = "lab_finding | 2132-9 | 250 | pg/mL | 2025-06-01 |"
    rows = wl.rows(labs, folic_acid("drug_finding", on="2025-06-01"), med_end="2025-06-30")
    assert {(r["patient_id"], r["days_open"], r["action"]) for r in rows} == {
        ("lab_finding", 213, "check MMA"),
        ("drug_finding", 29, "check B12; review folic acid"),
    }


# --- The files ---------------------------------------------------------------------------

FILE_LABS = """
    p_deficient | 2132-9 | 150 | pg/mL | 2024-03-01 |
    =1+2        | 2132-9 | 160 | pg/mL | 2024-04-01 |
    p_border    | 2132-9 | 250 | pg/mL | 2024-05-01 |
"""


@pytest.fixture(scope="module")
def files_db(tmp_path_factory) -> Path:
    return Worklist(tmp_path_factory.mktemp("files")).build(FILE_LABS, folic_acid("p_folate"))


def written(db: Path, folder: Path) -> tuple[list[dict], openpyxl.Workbook]:
    with database.connect(db) as con:
        paths = worklist.write(con, folder / "patient_level")
    assert paths == {
        "worklist_csv": str(folder / "patient_level" / "worklist.csv"),
        "worklist_xlsx": str(folder / "patient_level" / "worklist.xlsx"),
        "annotations_without_item": str(folder / "patient_level" / "annotations_without_item.csv"),
        "timelines": str(folder / "patient_level" / "timelines"),
    }
    with open(paths["worklist_csv"], newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    return csv_rows, openpyxl.load_workbook(paths["worklist_xlsx"])


@pytest.fixture(scope="module")
def files(files_db: Path, tmp_path_factory) -> tuple[list[dict], openpyxl.Workbook]:
    return written(files_db, tmp_path_factory.mktemp("written"))


def as_text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return "" if value is None else str(value)


def test_the_workbook_holds_the_csv_rows_with_a_frozen_bold_filtered_header(files):
    csv_rows, book = files
    assert book.sheetnames == ["About", "Worklist", "Annotations without item"]
    sheet = book["Worklist"]
    header, *rows = list(sheet.iter_rows())
    assert list(csv_rows[0]) == list(worklist.COLUMNS)
    # The workbook: the columns a person reads; the CSV also has the ids and windows.
    assert [c.value for c in header] == list(worklist.WORKBOOK_COLUMNS)
    assert set(worklist.WORKBOOK_COLUMNS) >= {"item_id", "state", "evidence", "timeline"}
    assert all(c.font.bold for c in header)
    assert sheet.freeze_panes == "A2"
    last = get_column_letter(len(worklist.WORKBOOK_COLUMNS))
    assert sheet.auto_filter.ref == f"A1:{last}{len(csv_rows) + 1}"
    assert [{h.value: as_text(c.value) for h, c in zip(header, r, strict=True)} for r in rows] == [
        {c: row[c] for c in worklist.WORKBOOK_COLUMNS} for row in csv_rows
    ]
    assert len(csv_rows) == 4


def test_workbook_dates_are_dates_and_extract_text_is_never_a_formula(files):
    sheet = files[1]["Worklist"]
    at = {name: i for i, name in enumerate(worklist.WORKBOOK_COLUMNS)}
    dates = [row[at["index_date"]] for row in sheet.iter_rows(min_row=2)]
    assert all(c.is_date for c in dates)
    assert dates[0].value == dt.datetime(2024, 3, 1)
    patient = at["patient_id"]
    formula_like = [
        row[patient] for row in sheet.iter_rows(min_row=2) if row[patient].value == "=1+2"
    ]
    assert [c.data_type for c in formula_like] == ["s"]


def test_the_csv_keeps_extract_text_as_it_came_and_the_about_sheet_says_open_the_workbook(
    files,
):
    csv_rows, book = files
    assert "=1+2" in [row["patient_id"] for row in csv_rows]
    about = "\n".join(str(row[0].value) for row in book["About"].iter_rows())
    assert "Open this workbook, not worklist.csv, in Excel" in about
    assert "'valid off-treatment' B12, MMA or homocysteine has a number and a known unit" in about


def test_the_about_sheet_says_the_file_identifies_patients_and_gives_the_data_end(files):
    about = "\n".join(str(row[0].value) for row in files[1]["About"].iter_rows())
    assert "This file identifies patients. It must stay within the care team" in about
    assert "Data end of this run: 2025-12-31." in about
    assert "Items: 4." in about
    assert "This workbook holds the first" not in about


def test_past_the_workbook_s_row_limit_it_stops_and_says_so_the_csv_stays_whole(
    files_db, tmp_path, monkeypatch
):
    monkeypatch.setattr(worklist, "EXCEL_MAX_ROWS", 2)
    csv_rows, book = written(files_db, tmp_path)
    priorities = [row[0].value for row in book["Worklist"].iter_rows(min_row=2)]
    assert priorities == [1, 2]
    assert [r["priority"] for r in csv_rows] == ["1", "2", "3", "4"]
    about = "\n".join(str(row[0].value) for row in book["About"].iter_rows())
    assert "holds the first 2 rows (priority 1 to 2: most severe, then oldest)" in about
    assert "worklist.csv, beside it, has all 4." in about


# --- The sample extract ------------------------------------------------------------------

OPEN_FINDINGS = """
    select count(distinct (finding, patient_id, episode)) from findings
    where finding not in ('anaemia', 'macrocytosis', 'elevated_esr', 'b12_borderline',
            'b12_deficient', 'b12_functional_deficiency')
"""  # written out, not read from the registry: the registry is what is under test
# (one item per unit: a course that lapsed twice is one item)


def test_the_sample_gives_one_worded_row_per_open_finding_in_priority_order(tmp_path):
    db = run_stages(SAMPLE, AuditConfig(), tmp_path / "work")
    with database.connect(db) as con:
        worklist.build(con, AuditConfig())
        expected = con.execute(OPEN_FINDINGS).fetchone()[0]
        rows = con.execute(
            "select priority, severity, index_date, finding, patient_id, episode, evidence, "
            "state from worklist_items order by priority"
        ).fetchall()
        matched = con.execute(
            "select count(*) from worklist_items as w inner join findings as f using "
            "(patient_id, finding, index_date) where w.episode is not distinct from f.episode"
        ).fetchone()[0]
    assert expected > 100
    assert len(rows) == matched == expected
    assert [r[0] for r in rows] == list(range(1, expected + 1))
    rank = SEVERITY_RANK
    states = ["open", "pending", "acted"]
    key = [(states.index(r[7]), rank[r[1]], r[2], r[3], r[4], r[5] or 0) for r in rows]
    assert key == sorted(key)
    assert all(r[6] and "None" not in r[6] for r in rows)


# --- Number formatting -------------------------------------------------------------------


MACROS = duckdb.connect()
MACROS.execute(sql_text("macros.sql"))


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_numbers_show_at_most_two_decimals_without_trailing_zeros(hundredths):
    reference = f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
    shown = MACROS.execute("select plain_number($x)", {"x": hundredths / 100}).fetchone()[0]
    assert shown == reference
