#!/usr/bin/env python3
"""Deterministic sample extract for b12audit (the canonical files: standard library only).

Writes, next to this file: lab_results.csv, medications.csv, patients.csv, diagnoses.csv and
scenarios.csv; then the same population in every source format, into site/, omop/, meds/ and
fhir/, by writers/<format>.py (these need the project's dependencies: pyarrow for Parquet).
Scenario patients (S001...) each exercise one rule or boundary of the B12 /
folate-before-B12 guideline; scenarios.csv lists the findings each must get. Background patients
(P0001...) are drawn with random.Random(SEED); their diagnoses, B12 courses and neurological
work-up come from three further generators (SEED + 1, + 2, + 3), so adding them left the older
background rows as they were.
The earliest date in the extract is 2024-01-01 (the data start) and the latest 2025-12-31 (the
data end).

    python data/sample/make_sample.py      # regenerates byte-identical files
"""

import csv
import importlib.util
import random
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20251231
DATA_START, DATA_END = "2024-01-01", "2025-12-31"
SITES = ("north", "south")
LAB_COLS = "patient_id,test_code,test_name,result,unit,collected_at,resulted_at,result_id,site"
MED_COLS = "patient_id,drug_code,drug_name,event_type,event_at,dose,dose_unit,route,site"
PAT_COLS = "patient_id,sex,birth_date,site"
DX_COLS = "patient_id,code,code_system,recorded_at,site"
SCN_COLS = "patient_id,scenario,expected,note"

B12, B12M, MMA, HB, MCV, FOL, ESR = "2132-9", "14685-2", "13964-2", "718-7", "787-2", "2284-8", "4537-7"
HCY = "13965-9"
TEST_NAMES = {B12: "Vitamin B12", B12M: "Vitamin B12 (molar)", MMA: "Methylmalonic acid",
              HB: "Haemoglobin", MCV: "MCV", FOL: "Folate (serum)", ESR: "ESR",
              HCY: "Homocysteine"}
DRUGS = {  # key: (drug_code, drug_name, dose, dose_unit, route)
    "folic": ("310410", "Folic acid 1 mg tab", "1", "mg", "oral"),
    "folic5": ("", "Folic acid 5 mg tab", "5", "mg", "oral"),
    "folic_inj": ("", "folic acid 5 mg/mL inj", "5", "mg", "IM"),
    "folic_code_only": ("310410", "", "1", "mg", "oral"),
    "folic_case": ("", "FoLIC Acid 1 mg tab", "1", "mg", "oral"),
    "folic_local": ("LOCAL-FA1", "Folic acid 1 mg tablet", "1", "mg", "oral"),
    "folic_atc": ("B03BB01", "FA 1MG TAB (STOCK)", "1", "mg", "oral"),
    "nephrocaps": ("1087623", "Nephrocaps 1 mg cap", "1", "capsule", "oral"),
    "mvi_folic": ("", "Multivitamin with folic acid 0.4 mg tab", "1", "tablet", "oral"),
    "prenatal": ("", "Prenatal vitamin with folic acid 1 mg tab", "1", "tablet", "oral"),
    "leucovorin": ("6313", "Leucovorin calcium 15 mg tab", "15", "mg", "oral"),
    "cyano_im": ("313896", "Cyanocobalamin 1000 mcg/mL inj", "1000", "mcg", "IM"),
    "cyano_po": ("", "Cyanocobalamin 1000 mcg tab", "1000", "mcg", "oral"),
    "cyano_plain": ("", "Cyanocobalamin", "", "", ""),  # MIMIC-like: a name, no route or dose
    "cyano_po_500": ("", "Cyanocobalamin 500 mcg tab", "500", "mcg", "oral"),
    "cyano_po_100": ("", "Cyanocobalamin 100 mcg tab", "100", "mcg", "oral"),
    "cyano_po_tabs": ("", "Cyanocobalamin tab", "1", "tablet", "oral"),  # strength unknown
    "hydroxo_im": ("5514", "Hydroxocobalamin 1 mg/mL inj", "1", "mg", "IM"),
    "methyl": ("", "Methylcobalamin 1000 mcg tab", "1000", "mcg", "oral"),
    "cyanokit": ("700499", "Cyanokit 5 g inj", "5", "g", "IV"),
    "hydroxo_5g": ("", "Hydroxocobalamin 5 g/vial inj", "5", "g", "IV"),
    "mvi": ("1304564", "Multivitamin tab", "1", "tablet", "oral"),
    "metformin": ("6809", "Metformin 500 mg tab", "500", "mg", "oral"),
    "omeprazole": ("7646", "Omeprazole 20 mg cap", "20", "mg", "oral"),
    "atorvastatin": ("83367", "Atorvastatin 20 mg tab", "20", "mg", "oral"),
    "ferrous": ("", "Ferrous sulfate 325 mg tab", "325", "mg", "oral"),
}


def day(iso, n=0):
    """The date of `iso` shifted by n days, as YYYY-MM-DD."""
    return (date.fromisoformat(iso[:10]) + timedelta(days=n)).isoformat()


def lab(code, result, unit, at, res=None, **raw):
    """A lab row; a date-only `at` without `res` is collected 08:30 and resulted 15:45 that day."""
    if res is None and len(at) == 10:
        at, res = f"{at}T08:30:00", f"{at}T15:45:00"
    row = {"test_code": code, "result": result, "unit": unit, "collected_at": at,
           "resulted_at": res if res is not None else at}
    row.update(raw)  # patient_id / collected_at overrides and `extra` (ragged row)
    return row


BD = "2024-05-01"  # default B12 day for classification and MMA scenarios
F0 = "2025-03-10"  # default first folate exposure (date only)
F0T = "2025-03-10T10:00:00"  # the same exposure with a time of day


def B(result, at=BD, unit="pg/mL", res=None, code=B12, **raw):
    return lab(code, result, unit, at, res, **raw)


def M(result, at=BD, unit="nmol/L", res=None):
    return lab(MMA, result, unit, at, res)


def Rx(key, at=F0, event="dispensed", **raw):
    code, name, dose, unit, route = DRUGS[key]
    row = {"drug_code": code, "drug_name": name, "event_type": event, "event_at": at,
           "dose": dose, "dose_unit": unit, "route": route}
    row.update(raw)
    return row


def Hb(result, at, unit="g/dL"):
    return lab(HB, result, unit, at)


def Mcv(result, at):
    return lab(MCV, result, "fL", at)


def Esr(result, at):
    return lab(ESR, result, "mm/h", at)


def Hcy(result, at):
    return lab(HCY, result, "umol/L", at)


def Dx(code, at, system="ICD10CM"):
    """A diagnosis row recorded on `at` (a date or a date-time), as written in the source."""
    return {"code": code, "code_system": system, "recorded_at": at}


def Pt(sex=None, birth=None, pid=None):
    """Patient details for a scenario: sex and birth date as written to patients.csv (the
    scenarios before S095 draw theirs at random), or a patient_id override (no patients row)."""
    return {k: v for k, v in (("sex", sex), ("birth", birth), ("pid", pid)) if v is not None}


def doses(start, offsets, key="hydroxo_im"):
    """B12 doses on start + each offset in days, date only: administered injections,
    dispensed tablets. A repeated offset is a second event on the same day."""
    event = "administered" if DRUGS[key][4] == "IM" else "dispensed"
    return [Rx(key, day(start, n), event) for n in offsets]


def course(start, loading, every, key="hydroxo_im", last=DATA_END):
    """A B12 course: doses on the `loading` day offsets, then one every `every` days after the
    last loading dose while on or before `last`."""
    offsets = list(loading)
    while day(start, offsets[-1] + every) <= last:
        offsets.append(offsets[-1] + every)
    return doses(start, offsets, key)


BL, DF, FN = "b12_borderline", "b12_deficient", "b12_functional_deficiency"
NM, PD = "b12_borderline_no_mma:no_mma", "b12_borderline_no_mma:pending"
KL, PE, TA, ST, NT = (f"folate_before_b12:{r}" for r in
                      ("known_low_untreated", "pending", "tested_after", "stale", "never_tested"))
OK_MMA = M("150")  # a normal MMA on the B12 day: a borderline B12 then gets only b12_borderline
ADQ = "420"  # an adequate B12 value
NNO, NPA, NPE = (f"neuro_normal_b12_no_metabolites:{r}" for r in ("none", "partial", "pending"))
LU, LA, LO = (f"b12_loading_incomplete:{r}" for r in
              ("under_six_doses", "neuro_not_alternate_day", "neuro_on_oral_only"))
TG, TS = "b12_treatment_lapse:gap", "b12_treatment_lapse:stopped"
MM = "monitoring_missed:no_fbc_at_8_weeks"
UT, UP = (f"b12_deficiency_untreated:{r}" for r in ("no_treatment", "pending"))
OR, OD = (f"b12_oral_regimen:{r}" for r in ("severe_deficiency_on_oral", "dose_below_1000_mcg"))
AN, MC, ES = "anaemia", "macrocytosis", "elevated_esr"
WOMAN, MAN = Pt("F", "1956-09-12"), Pt("M", "1951-02-20")  # aged 68-69 and 72-74 in 2024-25
ON = "2024-03-01"  # on-treatment scenarios: the B12 dose (a course too early to be evaluable)
NB = "2025-03-03"  # neuro scenarios: the B12 day
C = "2025-02-03"  # loading scenarios: the course start (a Monday)
LS = "2024-08-05"  # lapse scenarios: the course start (a Monday; the extract reaches 180 days back)
MS = "2025-03-03"  # monitoring scenarios: the course start (a Monday)
OS = "2025-05-05"  # oral regimen scenarios: the oral course start (a Monday)
UD = "2025-06-02"  # untreated scenarios: the confirming result (a Monday)
T = "2025-04-07"  # descriptive-tag scenarios: the day of the Hb / MCV / ESR
W3 = (0, 2, 4, 7, 9, 11)  # three times weekly for two weeks (Mon, Wed, Fri)
ALT = (0, 2, 4, 6, 8, 10, 12)  # alternate days for two weeks: 7 dose days in days 0..13
D513 = [Dx("D51.3", ON)]  # a dietary (reversible) cause: no lifelong B12, so no lapse finding

# (slug, expected findings, note, lab rows, medication rows[, diagnosis rows[, Pt(...)]])
SCENARIOS = [
    # --- B12 classes (comparators, units, invalid text) ---
    ("b12_179_deficient", [DF, UT], "179 pg/mL is below 180, so deficient.", [B("179")], []),
    ("b12_180_borderline", [BL], "180 pg/mL is the lower borderline edge; a normal MMA rules out other findings.", [B("180"), OK_MMA], []),
    ("b12_350_borderline", [BL], "350 pg/mL is the upper borderline edge (normal MMA present).", [B("350"), OK_MMA], []),
    ("b12_351_adequate", [], "351 pg/mL is above 350, so adequate.", [B("351")], []),
    ("b12_lt180_deficient", [DF, UT], "`<180` has x <= 180, so deficient.", [B("<180")], []),
    ("b12_le180_indeterminate", [], "`<=180` could be 180 (borderline), so indeterminate.", [B("<=180")], []),
    ("b12_le179_deficient", [DF, UT], "`<=179` has x < 180, so deficient.", [B("<=179")], []),
    ("b12_lt200_indeterminate", [], "`<200` spans deficient and borderline, so indeterminate (no finding).", [B("<200")], []),
    ("b12_gt350_adequate", [], "`>350` has x >= 350, so adequate.", [B(">350")], []),
    ("b12_ge350_indeterminate", [], "`>=350` could be 350 (borderline), so indeterminate.", [B(">=350")], []),
    ("b12_ge351_adequate", [], "`>=351` has x > 350, so adequate.", [B(">=351")], []),
    ("b12_gt2000_adequate", [], "`>2000` (above the assay range) is adequate.", [B(">2000")], []),
    ("b12_padded_spaces_borderline", [BL], "Result ' 212 ' is trimmed to 212 pg/mL, borderline (normal MMA present).", [B(" 212 "), OK_MMA], []),
    ("b12_unit_ng_l_upper", [BL], "250 NG/L equals 250 pg/mL (unit case-insensitive), borderline (normal MMA present).", [B("250", unit="NG/L"), OK_MMA], []),
    ("b12_pmol_130_deficient", [DF, UT], "130 pmol/L x 1.35537 = 176.2 pg/mL, deficient.", [B("130", unit="pmol/L")], []),
    ("b12_pmol_140_borderline", [BL], "140 pmol/L x 1.35537 = 189.8 pg/mL, borderline (normal MMA present).", [B("140", unit="pmol/L"), OK_MMA], []),
    ("b12_lt150_pmol_indeterminate", [], "`<150` pmol/L is < 203.3 pg/mL, which is indeterminate.", [B("<150", unit="pmol/L")], []),
    ("b12_ng_ml_borderline", [BL], "0.25 ng/mL x 1000 = 250 pg/mL, borderline (normal MMA present).", [B("0.25", unit="ng/mL"), OK_MMA], []),
    ("b12_decimal_comma_invalid", [], "A decimal comma ('0,25') is not a number, so the result is invalid.", [B("0,25", unit="ng/mL")], []),
    ("b12_unknown_unit_mgdl", [], "150 mg/dL has an unknown B12 unit, so it stays unclassified.", [B("150", unit="mg/dL")], []),
    ("b12_empty_unit", [], "150 with an empty unit stays unclassified.", [B("150", unit="")], []),
    ("b12_result_hemolyzed", [], "Result text 'hemolyzed' is invalid and never classified.", [B("hemolyzed")], []),
    ("b12_result_see_comment", [], "Result text 'see comment' is invalid and never classified.", [B("see comment")], []),
    ("b12_result_empty", [], "An empty result is invalid and never classified.", [B("")], []),
    ("b12_loinc_14685_2_deficient", [DF, UT], "LOINC 14685-2 is also B12: 120 pmol/L = 162.6 pg/mL, deficient.", [B("120", unit="pmol/L", code=B12M)], []),
    # --- functional deficiency: MMA value, units and window (B12 250 pg/mL on 2024-05-01) ---
    ("mma_272_functional", [BL, FN, UT], "MMA 272 nmol/L is above 271 on the borderline B12's day.", [B("250"), M("272")], []),
    ("mma_271_not_elevated", [BL], "MMA exactly 271 is not elevated, but it is a valid MMA, so no no_mma.", [B("250"), M("271")], []),
    ("mma_gt271_functional", [BL, FN, UT], "MMA `>271` (x >= 271) counts as elevated.", [B("250"), M(">271")], []),
    ("mma_lt300_valid_not_elevated", [BL], "MMA `<300` is a valid MMA that is neither elevated nor normal.", [B("250"), M("<300")], []),
    ("mma_umol_l_functional", [BL, FN, UT], "MMA 0.30 umol/L = 300 nmol/L, elevated.", [B("250"), M("0.30", unit="umol/L")], []),
    ("mma_nmol_ml_functional", [BL, FN, UT], "MMA 0.30 nmol/mL = 300 nmol/L, elevated.", [B("250"), M("0.30", unit="nmol/mL")], []),
    ("mma_30d_before_in_window", [BL, FN, UT], "Elevated MMA exactly 30 days before the B12 is inside the window.", [B("250"), M("300", day(BD, -30))], []),
    ("mma_90d_after_in_window", [BL, FN, UT], "Elevated MMA exactly 90 days after the B12 is inside the window.", [B("250"), M("300", day(BD, 90))], []),
    ("mma_31d_before_out_of_window", [BL, NM], "MMA 31 days before the B12 is outside the window, so no_mma.", [B("250"), M("300", day(BD, -31))], []),
    ("mma_91d_after_out_of_window", [BL, NM], "MMA 91 days after the B12 is outside the window, so no_mma.", [B("250"), M("300", day(BD, 91))], []),
    ("mma_hemolyzed_not_mma", [BL, NM], "An MMA with result 'hemolyzed' has no value and is not an MMA.", [B("250"), M("hemolyzed")], []),
    ("mma_unknown_unit_not_mma", [BL, NM], "An MMA of 300 mg/dL has an unknown unit and is not a valid MMA.", [B("250"), M("300", unit="mg/dL")], []),
    # --- borderline without MMA: no_mma vs pending (data end 2025-12-31) ---
    ("no_mma_old", [BL, NM], "Borderline B12 on 2024-06-10 with no MMA; the data reach 90 days past it.", [B("250", "2024-06-10")], []),
    ("no_mma_pending_recent", [BL, PD], "Borderline B12 on 2025-11-15 with no MMA; under 90 days before the data end.", [B("250", "2025-11-15")], []),
    ("no_mma_old_and_recent", [BL, NM], "An old no-MMA borderline (index) and a recent one: only no_mma is reported.", [B("250", "2024-06-10"), B("260", "2025-11-15")], []),
    ("no_mma_edge_90d", [BL, NM], "Borderline on 2025-10-02: data end is exactly 90 days later, so no_mma.", [B("250", "2025-10-02")], []),
    ("no_mma_edge_89d_pending", [BL, PD], "Borderline on 2025-10-03: data end is 89 days later, so pending.", [B("250", "2025-10-03")], []),
    ("functional_and_no_mma", [BL, FN, NM, UT], "Two borderline B12s: the first has an elevated MMA, the second none.", [B("250", "2024-03-01"), M("300", "2024-03-01"), B("240", "2025-01-15")], []),
    # --- folate_before_b12: B12 treatment route (folic acid dispensed 2025-03-10, no B12 test) ---
    ("folate_tx_365d_before", [], "Cyanocobalamin exactly 365 days before F0 makes the episode compliant. (Its single IM dose, in 2024-03, predates the look-back for a new course; a one-off injection is never a lapse.)", [], [Rx("cyano_im", day(F0, -365), "administered"), Rx("folic")]),
    ("folate_tx_366d_before", [NT], "Cyanocobalamin 366 days before F0 is too early; never tested. (A one-off injection is never a lapse.)", [], [Rx("cyano_im", day(F0, -366), "administered"), Rx("folic")]),
    ("folate_tx_same_day_date_only", [LU], "B12 given on F0's date (no time) counts as concurrent. (The single IM dose is also a new course: under_six_doses.)", [], [Rx("folic", F0T, "administered"), Rx("cyano_im", F0, "administered")]),
    ("folate_tx_later_same_day", [LU], "B12 given at 17:30 after folate at 08:00 on the same day is concurrent. (The single IM dose is also a new course: under_six_doses.)", [], [Rx("folic", f"{F0}T08:00:00", "administered"), Rx("cyano_im", f"{F0}T17:30:00", "administered")]),
    ("folate_tx_next_day", [NT, LU], "B12 given the day after F0 is not before or with it; never tested. (The single IM dose is also a new course: under_six_doses.)", [], [Rx("folic"), Rx("cyano_im", day(F0, 1), "administered")]),
    ("folate_tx_hydroxocobalamin", [LU], "Hydroxocobalamin 1 mg IM 30 days before F0 is B12 treatment. (The single IM dose is also a new course: under_six_doses.)", [], [Rx("hydroxo_im", day(F0, -30), "administered"), Rx("folic")]),
    ("folate_tx_methylcobalamin", [], "Methylcobalamin dispensed 60 days before F0 is B12 treatment.", [], [Rx("methyl", day(F0, -60)), Rx("folic")]),
    ("folate_tx_ordered_only", [NT], "A B12 treatment that was only ordered does not count.", [], [Rx("cyano_im", day(F0, -10), "ordered"), Rx("folic")]),
    ("folate_cyanokit_not_tx", [NT], "Cyanokit (cyanide antidote) is not B12 treatment.", [], [Rx("cyanokit", day(F0, -10), "administered"), Rx("folic")]),
    ("folate_hydroxo_5g_not_tx", [NT], "Hydroxocobalamin 5 g (antidote dose, no code) is not B12 treatment.", [], [Rx("hydroxo_5g", day(F0, -10), "administered"), Rx("folic")]),
    ("folate_nephrocaps_not_tx", [NT], "Nephrocaps is a folate exposure but not B12 treatment.", [], [Rx("nephrocaps")]),
    # --- folate_before_b12: B12 results known at F0 ---
    ("folate_adequate_b12_known", [], "Adequate B12 (420) resulted before F0: compliant, no finding at all.", [B(ADQ, "2025-02-01")], [Rx("folic")]),
    ("folate_borderline_mma_normal", [BL], "Borderline B12 with MMA 250 before F0 is compliant (only b12_borderline).", [B("250", "2025-02-01"), M("250", "2025-02-01")], [Rx("folic")]),
    ("folate_borderline_mma_high", [BL, FN, KL, UT], "Borderline B12 with an elevated MMA before F0 is known low.", [B("250", "2025-02-01"), M("300", "2025-02-01")], [Rx("folic")]),
    ("folate_borderline_mma_after_f0", [BL, KL], "The normal MMA was collected after F0, so at F0 the borderline B12 is known low.", [B("250", "2025-02-01"), M("250", "2025-03-20")], [Rx("folic")]),
    ("folate_known_low_deficient", [DF, KL, UT], "Deficient B12 (150) known before folate, no B12 treatment.", [B("150", "2025-02-01")], [Rx("folic")]),
    ("folate_known_low_borderline_no_mma", [BL, NM, KL], "Borderline B12 with no MMA known before folate is known low.", [B("250", "2025-02-01")], [Rx("folic")]),
    ("folate_known_low_indeterminate", [KL], "An indeterminate B12 (`<200`) known at F0 is known low.", [B("<200", "2025-02-01")], [Rx("folic")]),
    ("folate_latest_known_adequate", [DF, UT], "Deficient then adequate B12 before F0: the latest (adequate) decides.", [B("150", "2024-12-01"), B(ADQ, "2025-02-01")], [Rx("folic")]),
    ("folate_latest_known_deficient", [DF, KL, UT], "Adequate then deficient B12 before F0: the latest (deficient) decides.", [B(ADQ, "2024-12-01"), B("150", "2025-02-01")], [Rx("folic")]),
    ("folate_b12_365d_known", [], "Adequate B12 collected exactly 365 days before F0 still counts.", [B(ADQ, day(F0, -365))], [Rx("folic")]),
    ("folate_b12_366d_stale", [ST], "Adequate B12 collected 366 days before F0 is stale.", [B(ADQ, day(F0, -366))], [Rx("folic")]),
    ("folate_stale_400d", [ST], "The only B12 was 400 days before F0: stale.", [B(ADQ, day(F0, -400))], [Rx("folic")]),
    ("folate_never_tested", [NT], "Folic acid with no B12 test or treatment at all.", [], [Rx("folic")]),
    # --- folate_before_b12: pending / tested_after and reason order ---
    ("folate_pending", [PE], "B12 collected 2 days before F0 was resulted 2 days after it.", [B(ADQ, f"{day(F0, -2)}T08:30:00", res=f"{day(F0, 2)}T10:00:00")], [Rx("folic")]),
    ("folate_tested_after_30d", [TA], "First B12 collected 30 days after F0.", [B(ADQ, day(F0, 30))], [Rx("folic")]),
    ("folate_tested_after_90d", [TA], "B12 collected exactly 90 days after F0 is tested_after.", [B(ADQ, day(F0, 90))], [Rx("folic")]),
    ("folate_tested_91d_never_tested", [NT], "B12 collected 91 days after F0 is too late: never tested.", [B(ADQ, day(F0, 91))], [Rx("folic")]),
    ("folate_order_known_low_over_pending", [DF, KL, UT], "A known deficient B12 beats a pending one (reason order).", [B("150", "2025-01-10"), B(ADQ, f"{day(F0, -2)}T08:30:00", res=f"{day(F0, 2)}T10:00:00")], [Rx("folic")]),
    ("folate_order_pending_over_tested_after", [PE], "A pending B12 beats one collected after F0 (reason order).", [B(ADQ, f"{day(F0, -2)}T08:30:00", res=f"{day(F0, 2)}T10:00:00"), B(ADQ, day(F0, 20))], [Rx("folic")]),
    ("folate_order_tested_after_over_stale", [TA], "A B12 20 days after F0 beats an old one 400 days before (reason order).", [B(ADQ, day(F0, -400)), B(ADQ, day(F0, 20))], [Rx("folic")]),
    # --- folate_before_b12: same-day times ---
    ("folate_same_day_known_0900", [], "B12 resulted 09:00, folate at 10:00 the same day: known adequate, compliant.", [B(ADQ, f"{F0}T07:00:00", res=f"{F0}T09:00:00")], [Rx("folic", F0T, "administered")]),
    ("folate_same_day_resulted_1100", [PE], "B12 collected 07:00 but resulted 11:00, after folate at 10:00: pending.", [B(ADQ, f"{F0}T07:00:00", res=f"{F0}T11:00:00")], [Rx("folic", F0T, "administered")]),
    ("folate_same_day_date_only_known", [], "B12 with date-only times on F0's day counts as known at 10:00.", [B(ADQ, F0, res=F0)], [Rx("folic", F0T, "administered")]),
    # --- folate_before_b12: episodes (washout) ---
    ("folate_washout_366d_two_episodes", [NT, NT], "Folic acid on 2024-02-01 and 366 days later: two episodes.", [], [Rx("folic", "2024-02-01"), Rx("folic", day("2024-02-01", 366))]),
    ("folate_washout_365d_one_episode", [NT], "Folic acid on 2024-02-01 and 365 days later: one episode.", [], [Rx("folic", "2024-02-01"), Rx("folic", day("2024-02-01", 365))]),
    ("folate_washout_chain_one_episode", [NT], "Exposures 200 days apart (400 days overall) stay one episode.", [], [Rx("folic", "2024-01-15"), Rx("folic", day("2024-01-15", 200)), Rx("folic", day("2024-01-15", 400))]),
    # --- folate_before_b12: what is (not) a folate exposure ---
    ("folate_multivitamin_not_folate", [], "Multivitamin with folic acid is not a folate exposure.", [], [Rx("mvi_folic")]),
    ("folate_prenatal_not_folate", [], "Prenatal vitamin with folic acid is not a folate exposure.", [], [Rx("prenatal")]),
    ("folate_leucovorin_not_folate", [], "Leucovorin (folinic acid) is not a folate exposure.", [], [Rx("leucovorin")]),
    ("folate_ordered_only", [], "Folic acid that was only ordered is no exposure by default.", [], [Rx("folic", event="ordered")]),
    ("folate_not_given", [], "Folic acid marked not_given is no exposure.", [], [Rx("folic", event="not_given")]),
    ("folate_rxnorm_310410_blank_name", [NT], "Matched by RxNorm code 310410 although the drug name is blank.", [], [Rx("folic_code_only")]),
    ("folate_atc_code_odd_name", [NT], "Matched by ATC code B03BB01 although the name is a local stock label.", [], [Rx("folic_atc")]),
    ("folate_unlisted_code_name_match", [NT], "Code LOCAL-FA1 is on no list, so the name 'Folic acid 1 mg tablet' matches.", [], [Rx("folic_local")]),
    ("folate_name_mixed_case", [NT], "Name 'FoLIC Acid 1 mg tab' (no code) matches case-insensitively.", [], [Rx("folic_case")]),
    ("folate_injection", [NT], "Administered 'folic acid 5 mg/mL inj' is a folate exposure.", [], [Rx("folic_inj", F0T, "administered")]),
    # --- rows to be quarantined (each patient otherwise has one adequate B12) ---
    ("quarantine_lab_blank_patient_id", [], "Quarantined: a deficient B12 row with an empty patient_id.", [B("150", patient_id="")], [], [], Pt(pid="")),
    ("quarantine_lab_date_dmy", [], "Quarantined: a deficient B12 row collected '31/12/2024' (not ISO); the adequate row stays.", [B(ADQ), B("150", collected_at="31/12/2024", resulted_at="")], []),
    ("quarantine_lab_date_feb30", [], "Quarantined: a deficient B12 row collected '2024-02-30' (no such date); the adequate row stays.", [B(ADQ), B("150", collected_at="2024-02-30", resulted_at="2024-03-01")], []),
    ("quarantine_med_blank_event_at", [], "Quarantined: a folic acid row with an empty event_at; the adequate B12 stays.", [B(ADQ)], [Rx("folic", "")]),
    ("quarantine_lab_extra_field", [], "Quarantined: a deficient B12 CSV line with 10 fields instead of 9.", [B(ADQ), B("150", "2024-06-01", extra="EXTRA")], []),
    # --- on-treatment results: B12 / MMA within 90 days after a parenteral dose or 30 days after
    #     an oral one never classify (IM dose on 2024-03-01: too early for a loading finding;
    #     a dietary cause D51.3 keeps b12_treatment_lapse out) ---
    ("on_treatment_b12_30d_after_im", [], "Deficient B12 (150) collected 30 days after hydroxocobalamin 1 mg IM is on treatment: no b12_deficient.", [B("150", day(ON, 30))], [Rx("hydroxo_im", ON, "administered")], D513, WOMAN),
    ("on_treatment_b12_90d_after_im", [], "Deficient B12 collected exactly 90 days after an IM dose is still on treatment.", [B("150", day(ON, 90))], [Rx("hydroxo_im", ON, "administered")], D513, WOMAN),
    ("on_treatment_b12_91d_after_im", [DF, UT], "Deficient B12 collected 91 days after an IM dose is classified again: b12_deficient.", [B("150", day(ON, 91))], [Rx("hydroxo_im", ON, "administered")], D513, WOMAN),
    ("on_treatment_same_day_dose_date_only", [DF], "A same-day IM dose without a time is taken as given after the 08:30 blood draw: deficient.", [B("150", ON)], [Rx("hydroxo_im", ON, "administered")], D513, WOMAN),
    ("on_treatment_same_day_dose_before_draw", [], "IM dose at 08:00, B12 drawn at 10:00 the same day: on treatment.", [B("150", f"{ON}T10:00:00", res=f"{ON}T16:00:00")], [Rx("hydroxo_im", f"{ON}T08:00:00", "administered")], D513, WOMAN),
    ("on_treatment_b12_30d_after_oral", [], "Deficient B12 collected 30 days after oral cyanocobalamin was dispensed is on treatment.", [B("150", day(ON, 30))], [Rx("cyano_po", ON)], [], WOMAN),
    ("on_treatment_b12_31d_after_oral", [DF, UT], "Deficient B12 collected 31 days after an oral dispense is classified: b12_deficient.", [B("150", day(ON, 31))], [Rx("cyano_po", ON)], [], WOMAN),
    ("on_treatment_mma_not_an_mma", [BL, NM], "Borderline B12 drawn before the first IM dose; the MMA 14 days later is on treatment, so no MMA: no_mma.", [B("250", ON), M("300", day(ON, 14))], [Rx("hydroxo_im", ON, "administered")], D513, WOMAN),
    # --- neuro_normal_b12_no_metabolites: B12 420 on NB = 2025-03-03 with a core neurological
    #     code 30 days before unless the note says otherwise ---
    ("neuro_none", [NNO], "Polyneuropathy G62.9 and a normal B12, with no MMA or homocysteine: none.", [B(ADQ, NB)], [], [Dx("G62.9", day(NB, -30))], WOMAN),
    ("neuro_partial_mma_only", [NPA], "Only an MMA (150, normal) was measured: partial.", [B(ADQ, NB), M("150", NB)], [], [Dx("G62.9", day(NB, -30))], WOMAN),
    ("neuro_partial_homocysteine_only", [NPA], "Only a homocysteine (12 umol/L, 10 days later) was measured: partial.", [B(ADQ, NB), Hcy("12", day(NB, 10))], [], [Dx("R26.0", day(NB, -30))], MAN),
    ("neuro_both_metabolites", [], "MMA and homocysteine both measured: no finding.", [B(ADQ, NB), M("150", NB), Hcy("12", NB)], [], [Dx("G62.9", day(NB, -30))], WOMAN),
    ("neuro_metabolite_window_edges", [], "MMA 30 days before and homocysteine 90 days after the B12 are both inside the window.", [B(ADQ, NB), M("150", day(NB, -30)), Hcy("12", day(NB, 90))], [], [Dx("G62.9", day(NB, -30))], WOMAN),
    ("neuro_mma_91d_after_partial", [NPA], "Homocysteine on the day, MMA 91 days after (outside the window): partial.", [B(ADQ, NB), Hcy("12", NB), M("150", day(NB, 91))], [], [Dx("G62.9", day(NB, -30))], WOMAN),
    ("neuro_pending_recent", [NPE], "B12 on 2025-11-03 with a neuro code and no metabolites: under 90 days before the data end, pending.", [B(ADQ, "2025-11-03")], [], [Dx("R20.2", "2025-10-20")], WOMAN),
    ("neuro_pending_with_mma_only", [NPE], "Recent B12 with only an MMA: homocysteine may still come, pending (not partial).", [B(ADQ, "2025-11-03"), M("150", "2025-11-03")], [], [Dx("R20.2", "2025-10-20")], WOMAN),
    ("neuro_edge_90d_none", [NNO], "B12 on 2025-10-02: the data end is exactly 90 days later, so none.", [B(ADQ, "2025-10-02")], [], [Dx("G62.9", "2025-09-15")], WOMAN),
    ("neuro_edge_89d_pending", [NPE], "B12 on 2025-10-03: the data end is 89 days later, so pending.", [B(ADQ, "2025-10-03")], [], [Dx("G62.9", "2025-09-15")], WOMAN),
    ("neuro_dx_180d_before", [NNO], "Neuro code recorded exactly 180 days before the B12 is inside the window.", [B(ADQ, NB)], [], [Dx("G62.9", day(NB, -180))], WOMAN),
    ("neuro_dx_181d_before", [], "Neuro code recorded 181 days before the B12 is outside the window.", [B(ADQ, NB)], [], [Dx("G62.9", day(NB, -181))], WOMAN),
    ("neuro_dx_30d_after", [NNO], "Neuro code recorded exactly 30 days after the B12 is inside the window.", [B(ADQ, NB)], [], [Dx("G62.9", day(NB, 30))], WOMAN),
    ("neuro_dx_31d_after", [], "Neuro code recorded 31 days after the B12 is outside the window.", [B(ADQ, NB)], [], [Dx("G62.9", day(NB, 31))], WOMAN),
    ("neuro_code_undotted_datetime", [NNO], "Code 'R202' (no dot) recorded '2025-02-01 14:20' matches R20.2.", [B(ADQ, NB)], [], [Dx("R202", "2025-02-01 14:20")], WOMAN),
    ("neuro_dementia_not_counted", [], "Unspecified dementia F03.90 is not neurological by default (neuro_include_dementia = false).", [B(ADQ, NB)], [], [Dx("F03.90", day(NB, -30))], WOMAN),
    ("neuro_icd9_not_on_list", [], "ICD9CM 356.9 (polyneuropathy) is on no concept list: no finding.", [B(ADQ, NB)], [], [Dx("356.9", day(NB, -30), "ICD9CM")], WOMAN),
    ("neuro_deficient_b12", [DF, UT], "A deficient B12 is not a normal one: only b12_deficient.", [B("150", NB)], [], [Dx("G62.9", day(NB, -30))], WOMAN),
    ("neuro_borderline_b12", [BL, NM, NNO], "A borderline B12 (250) is not low: with no MMA it is also no_mma.", [B("250", NB)], [], [Dx("G62.9", day(NB, -30))], WOMAN),
    ("neuro_b12_gt2000", [NNO], "A censored '>2000' B12 is not low.", [B(">2000", NB)], [], [Dx("G63", day(NB, -30))], WOMAN),
    ("neuro_b12_lt200_not_checked", [], "'<200' may be low, so it is not a normal B12 (and indeterminate: no finding).", [B("<200", NB)], [], [Dx("G63", day(NB, -30))], WOMAN),
    ("neuro_b12_on_treatment", [], "The only B12 (420) was drawn 30 days after an IM dose: on treatment, not checked.", [B(ADQ, day(ON, 30))], [Rx("hydroxo_im", ON, "administered")], D513 + [Dx("R26.0", day(ON, 20))], WOMAN),
    # --- b12_loading_incomplete: hydroxocobalamin 1 mg IM from C = 2025-02-03, maintenance every
    #     90 days (60 with neurological codes) to the data end, no Hb (no monitoring) ---
    ("loading_three_times_weekly", [], "Six doses (Mon/Wed/Fri for 2 weeks) in days 0..14: adherent.", [], course(C, W3, 90), [], WOMAN),
    ("loading_five_doses", [LU], "Only five dose days in days 0..14: under_six_doses.", [], course(C, (0, 2, 4, 7, 9), 90), [], WOMAN),
    ("loading_sixth_dose_day_14", [], "The sixth dose on day 14 is inside the 15-day window.", [], course(C, (0, 2, 4, 7, 9, 14), 90), [], WOMAN),
    ("loading_sixth_dose_day_15", [LU], "The sixth dose on day 15 is outside the window: under_six_doses.", [], course(C, (0, 2, 4, 7, 9, 15), 90), [], WOMAN),
    ("loading_same_day_counts_once", [LU], "Two injections recorded on day 9 are one dose day: five in all, under_six_doses.", [], course(C, (0, 2, 4, 7, 9, 9), 90), [], WOMAN),
    ("loading_neuro_alternate_days", [], "Paraesthesia R20.2 20 days before; 7 alternate-day doses in days 0..13: adherent.", [], course(C, ALT, 60), [Dx("R20.2", day(C, -20))], WOMAN),
    ("loading_neuro_three_times_weekly", [LA], "Neuro code G63, but only 3 doses a week (6 in days 0..13): neuro_not_alternate_day.", [], course(C, W3, 60), [Dx("G63", day(C, -20))], MAN),
    ("loading_neuro_gap_4_days", [LA], "7 doses in days 0..13 with a 4-day gap (days 6 to 10): neuro_not_alternate_day.", [], course(C, (0, 2, 4, 6, 10, 11, 13), 60), [Dx("G62.9", day(C, -20))], WOMAN),
    ("loading_neuro_gap_3_days", [], "7 doses in days 0..13 whose longest gap is 3 days: adherent.", [], course(C, (0, 3, 6, 8, 10, 12, 13), 60), [Dx("G62.9", day(C, -20))], WOMAN),
    ("loading_neuro_dx_14d_after_start", [LA], "SCD G32.0 recorded 14 days after the start counts as neuro at the start: 3 a week is too few.", [], course(C, W3, 60), [Dx("G32.0", day(C, 14))], WOMAN),
    ("loading_neuro_dx_15d_after_start", [], "A neuro code recorded 15 days after the start does not: 3 a week is adherent.", [], course(C, W3, 90), [Dx("G32.0", day(C, 15))], WOMAN),
    ("loading_neuro_on_oral_only", [DF, LO], "Deficient B12, polyneuropathy, then oral cyanocobalamin only (monthly): neuro_on_oral_only.", [B("150", day(C, -7))], course(C, (0,), 30, "cyano_po"), [Dx("G62.9", day(C, -10))], WOMAN),
    ("loading_neuro_oral_then_im_day_13", [DF], "Oral start, switched to alternate-day IM on day 13 (inside days 0..13): no finding.", [B("150", day(C, -7))], doses(C, (0,), "cyano_po") + course(day(C, 13), ALT, 60), [Dx("G62.9", day(C, -10))], WOMAN),
    ("loading_neuro_oral_then_im_day_14", [DF, LO], "Oral start, switched to alternate-day IM on day 14: too late for the oral course.", [B("150", day(C, -7))], doses(C, (0,), "cyano_po") + course(day(C, 14), ALT, 60), [Dx("G62.9", day(C, -10))], WOMAN),
    ("loading_start_2024_06_28_not_evaluable", [], "Course from 2024-06-28 (two loading doses): the extract does not reach 180 days back.", [], course("2024-06-28", (0, 7), 90), [], WOMAN),
    ("loading_start_2024_06_29_evaluable", [LU], "Course from 2024-06-29 (two loading doses): 180 days back is the data start, evaluable.", [], course("2024-06-29", (0, 7), 90), [], WOMAN),
    ("loading_start_2025_12_17_evaluable", [LU], "Three doses from 2025-12-17: the data end is day 14, so evaluable.", [], doses("2025-12-17", (0, 2, 4)), [], WOMAN),
    ("loading_start_2025_12_18_not_evaluable", [], "Three doses from 2025-12-18: the data end is day 13, not evaluable yet.", [], doses("2025-12-18", (0, 2, 4)), [], WOMAN),
    # --- b12_treatment_lapse: hydroxocobalamin from LS = 2024-08-05, adherent loading (3 a week),
    #     then maintenance on the listed days; allowed gap 91 + 30 = 121 days (61 + 30 with neuro) ---
    ("lapse_gap_pernicious_anaemia", [TG], "Pernicious anaemia D51.0; maintenance on days 101, 191, then 341 (a 150-day gap): gap.", [], doses(LS, W3 + (101, 191, 341, 431)), [Dx("D51.0", day(LS, -5))], WOMAN),
    ("lapse_gap_121d", [], "Atrophic gastritis K29.40; a 121-day gap (days 101 to 222) is allowed.", [], doses(LS, W3 + (101, 222, 312, 402, 492)), [Dx("K29.40", day(LS, -5))], WOMAN),
    ("lapse_gap_122d", [TG], "Bariatric surgery 'Z9884' (no dot); a 122-day gap (days 101 to 223): gap.", [], doses(LS, W3 + (101, 223, 313, 403, 493)), [Dx("Z9884", day(LS, -5))], MAN),
    ("lapse_stopped_after_loading", [TS], "Pernicious anaemia; loading only, nothing after day 11: stopped.", [], doses(LS, W3), [Dx("D51.0", day(LS, -5))], WOMAN),
    ("lapse_last_dose_2025_09_01", [], "Last dose 2025-09-01: + 121 days is the data end itself, not past it.", [], doses(LS, W3 + (101, 191, 281, 392)), [Dx("D51.0", day(LS, -5))], WOMAN),
    ("lapse_last_dose_2025_08_31", [TS], "Last dose 2025-08-31: + 121 days is before the data end: stopped.", [], doses(LS, W3 + (101, 191, 281, 391)), [Dx("D51.0", day(LS, -5))], WOMAN),
    ("lapse_dietary_cause", [], "Dietary B12 deficiency D51.3 (reversible): stopping after loading is not flagged.", [], doses(LS, W3), [Dx("D51.3", day(LS, -5))], WOMAN),
    ("lapse_cause_unknown", [TS], "No diagnosis at all: the cause is unknown, so lifelong by default; stopped.", [], doses(LS, W3), [], WOMAN),
    ("lapse_lifelong_and_dietary", [TS], "Both D51.0 and D51.3: a lifelong code makes B12 lifelong; stopped.", [], doses(LS, W3), [Dx("D51.0", day(LS, -5)), Dx("D51.3", day(LS, -5))], WOMAN),
    ("lapse_neuro_gap_100d", [TG], "SCD G32.0 with pernicious anaemia: alternate-day loading, every 60 days, then a 100-day gap (> 61 + 30).", [], doses(LS, ALT + (72, 132, 232, 292, 352, 412, 472)), [Dx("G32.0", day(LS, -10)), Dx("D51.0", day(LS, -10))], WOMAN),
    # --- monitoring_missed: anaemic at the start of a new course from MS = 2025-03-03 (Hb 10.4 g/dL
    #     and B12 150 seven days before; 3 a week then every 90 days) ---
    ("monitoring_no_fbc_at_8_weeks", [AN, DF, MC, MM], "Hb 104 g/L, MCV 109 and B12 150 before a new course, no FBC in weeks 6-10: no_fbc_at_8_weeks.", [Hb("10.4", day(MS, -7)), Mcv("109", day(MS, -7)), B("150", day(MS, -7))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_fbc_day_56", [AN, DF], "An FBC (Hb 126 g/L, MCV 97) on day 56: monitored.", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7)), Hb("12.6", day(MS, 56)), Mcv("97", day(MS, 56))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_mcv_only_day_42", [AN, DF], "An MCV alone on day 42 (the window's first day) counts.", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7)), Mcv("98", day(MS, 42))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_fbc_day_70", [AN, DF], "An Hb on day 70 (the window's last day) counts.", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7)), Hb("12.2", day(MS, 70))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_fbc_day_41", [AN, DF, MM], "An Hb on day 41 is too early: no_fbc_at_8_weeks.", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7)), Hb("11.5", day(MS, 41))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_fbc_day_71", [AN, DF, MM], "An Hb on day 71 is too late: no_fbc_at_8_weeks.", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7)), Hb("12.2", day(MS, 71))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_hb_30d_before_start", [AN, DF, MM], "The low Hb 30 days before the start counts as anaemic at the start. The B12 150 that day was known 30 days before the first dose: treated in time.", [Hb("10.4", day(MS, -30)), B("150", day(MS, -30))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_hb_31d_before_start", [AN, DF, UT], "A low Hb 31 days before the start does not: not monitored. The B12 150 that day was known 31 days before the first dose: untreated.", [Hb("10.4", day(MS, -31)), B("150", day(MS, -31))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_man_hb_125", [AN, DF, MM], "A man with Hb 125 g/L (< 130) is anaemic: no_fbc_at_8_weeks.", [Hb("12.5", day(MS, -7)), B("150", day(MS, -7))], course(MS, W3, 90), [], MAN),
    ("monitoring_woman_hb_125", [DF], "A woman with Hb 125 g/L (>= 120) is not anaemic: not monitored.", [Hb("12.5", day(MS, -7)), B("150", day(MS, -7))], course(MS, W3, 90), [], WOMAN),
    ("monitoring_oral_course", [AN, DF, MM], "A new oral course (monthly dispenses) in an anaemic patient is monitored too.", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7))], course(MS, (0,), 30, "cyano_po"), [], WOMAN),
    ("monitoring_not_new_to_b12", [AN, DF], "Oral B12 dispensed 60 days before the IM course: not new to B12, not monitored.", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7))], doses(MS, (-60,), "cyano_po") + course(MS, W3, 90), [], WOMAN),
    # --- descriptive tags: Hb / MCV / ESR on T = 2025-04-07, with an adequate B12 that day unless
    #     the note says otherwise ---
    ("anaemia_woman_hb_119", [AN], "A woman with Hb 11.9 g/dL (119 g/L < 120): anaemia.", [Hb("11.9", T), B(ADQ, T)], [], [], WOMAN),
    ("anaemia_woman_hb_120", [], "A woman with Hb 12.0 g/dL is at the limit: no tag.", [Hb("12.0", T), B(ADQ, T)], [], [], WOMAN),
    ("anaemia_man_hb_129", [AN], "A man with Hb 12.9 g/dL (129 g/L < 130): anaemia.", [Hb("12.9", T), B(ADQ, T)], [], [], MAN),
    ("anaemia_man_hb_130", [], "A man with Hb 13.0 g/dL is at the limit: no tag.", [Hb("13.0", T), B(ADQ, T)], [], [], MAN),
    ("anaemia_sex_unknown_hb_125", [], "Sex 'U' uses the women's limit: Hb 125 g/L is no anaemia.", [Hb("12.5", T), B(ADQ, T)], [], [], Pt("U", "1956-09-12")),
    ("anaemia_hb_in_g_l", [AN], "Hb reported as 115 g/L: anaemia.", [Hb("115", T, "g/L"), B(ADQ, T)], [], [], WOMAN),
    ("anaemia_b12_30d_after", [AN], "The only B12 was 30 days after the low Hb: inside the window.", [Hb("10.0", T), B(ADQ, day(T, 30))], [], [], WOMAN),
    ("anaemia_b12_31d_after", [], "The only B12 was 31 days after the low Hb: no tag.", [Hb("10.0", T), B(ADQ, day(T, 31))], [], [], WOMAN),
    ("macrocytosis_mcv_101", [MC], "MCV 101 fL with a B12 the same day: macrocytosis.", [Mcv("101", T), B(ADQ, T)], [], [], WOMAN),
    ("macrocytosis_mcv_100", [], "MCV 100 fL is at the limit: no tag.", [Mcv("100", T), B(ADQ, T)], [], [], WOMAN),
    ("macrocytosis_b12_30d_before", [MC], "MCV 105 with the only B12 30 days before: inside the window.", [Mcv("105", T), B(ADQ, day(T, -30))], [], [], WOMAN),
    ("macrocytosis_b12_31d_before", [], "MCV 105 with the only B12 31 days before: no tag.", [Mcv("105", T), B(ADQ, day(T, -31))], [], [], WOMAN),
    ("macrocytosis_b12_on_treatment", [], "MCV 108 next to a B12 drawn 10 days after an oral dispense (on treatment): no tag.", [Mcv("108", T), B(ADQ, T)], [Rx("cyano_po", day(T, -10))], [], WOMAN),
    ("macrocytosis_no_b12", [], "MCV 110 with no B12 result at all: no tag.", [Mcv("110", T)], [], [], WOMAN),
    ("esr_woman_70_esr_41", [ES], "Woman aged 70: Miller limit (70 + 10) / 2 = 40; ESR 41 is above it.", [Esr("41", T)], [], [], Pt("F", "1955-01-15")),
    ("esr_woman_70_esr_40", [], "Woman aged 70: ESR 40 is at the limit: no tag.", [Esr("40", T)], [], [], Pt("F", "1955-01-15")),
    ("esr_man_60_esr_31", [ES], "Man aged 60: limit 60 / 2 = 30; ESR 31 is above it.", [Esr("31", T)], [], [], Pt("M", "1965-01-15")),
    ("esr_man_60_esr_30", [], "Man aged 60: ESR 30 is at the limit: no tag.", [Esr("30", T)], [], [], Pt("M", "1965-01-15")),
    ("esr_sex_unknown_60_esr_33", [], "Sex 'U' aged 60 uses the women's limit 35: ESR 33 is no tag.", [Esr("33", T)], [], [], Pt("U", "1965-01-15")),
    ("esr_day_before_70th_birthday", [ES], "Born 1955-04-08, so 69 on 2025-04-07: limit 39.5, ESR 40 is above it.", [Esr("40", T)], [], [], Pt("F", "1955-04-08")),
    ("esr_age_17", [], "Aged 17: the Miller rule applies from 18, no tag for ESR 50.", [Esr("50", T)], [], [], Pt("F", "2007-06-01")),
    ("esr_no_birth_date", [], "No birth date: age unknown, no tag for ESR 80.", [Esr("80", T)], [], [], Pt("F", "")),
    # --- a diagnosis row to be quarantined ---
    ("quarantine_dx_unknown_code_system", [], "Quarantined: a G62.9 diagnosis with code_system 'READ'; the normal B12 then has no neuro code.", [B(ADQ, NB)], [], [Dx("G62.9", day(NB, -30), "READ")], WOMAN),
    # --- lapses after resuming, and courses of unknown route (a name alone, as in MIMIC) ---
    ("lapse_gap_then_stopped", [TG, TS], "Pernicious anaemia; a 150-day gap (days 101 to 251), injections resumed on day 341, then none: two lapses, gap then stopped (the worklist shows stopped).", [], doses(LS, W3 + (101, 251, 341)), [Dx("D51.0", day(LS, -5))], WOMAN),
    ("lapse_two_gaps", [TG, TG], "Pernicious anaemia; 150-day gaps from day 101 and from day 341, resumed each time: two gap lapses in one course.", [], doses(LS, W3 + (101, 251, 341, 491)), [Dx("D51.0", day(LS, -5))], WOMAN),
    ("monitoring_unknown_route_course", [AN, DF, MM], "'Cyanocobalamin' with no route (monthly) in an anaemic patient, no FBC in weeks 6-10: monitored all the same, no_fbc_at_8_weeks. Its loading and lapse are counted as not evaluable (route_unknown).", [Hb("10.4", day(MS, -7)), B("150", day(MS, -7))], course(MS, (0,), 30, "cyano_plain"), [], WOMAN),
    # --- b12_oral_regimen: an oral course from OS = 2025-05-05, monthly dispenses ---
    ("oral_after_b12_85", [DF, OR], "B12 85 pg/mL 10 days before oral cyanocobalamin 1000 mcg with no injection: below 100, taken as severe.", [B("85", day(OS, -10))], course(OS, (0,), 30, "cyano_po"), [], WOMAN),
    ("oral_after_b12_100", [DF], "B12 100 pg/mL before an oral course: not below 100, so the oral alternative fits.", [B("100", day(OS, -10))], course(OS, (0,), 30, "cyano_po"), [], WOMAN),
    ("oral_after_hb_75", [AN, OR], "Hb 75 g/L 5 days before an oral-only course (an 8-week blood count done): below 80, taken as severe.", [Hb("7.5", day(OS, -5)), B(ADQ, day(OS, -5)), Hb("11.0", day(OS, 56))], course(OS, (0,), 30, "cyano_po"), [], WOMAN),
    ("oral_dose_500_mcg", [OD], "Oral cyanocobalamin 500 mcg daily: below the 1000-2000 mcg the guideline gives.", [], course(OS, (0,), 30, "cyano_po_500"), [], WOMAN),
    ("oral_dose_dietary_100_mcg", [OD], "Dietary deficiency D51.3 on 100 mcg daily: flagged while the dietary exemption is off (the default).", [], course(OS, (0,), 30, "cyano_po_100"), [Dx("D51.3", day(OS, -20))], WOMAN),
    ("oral_dose_in_tablets", [], "Oral B12 recorded as '1 tablet' with no strength: no dose to judge, counted as not evaluable.", [], course(OS, (0,), 30, "cyano_po_tabs"), [], WOMAN),
    # --- b12_deficiency_untreated: a confirming result on UD = 2025-06-02 (day 0), resulted the
    #     same day unless the note says otherwise; treatment counts to 30 days after it was known ---
    ("untreated_known_day0_treated_day30", [DF], "Deficient B12 (150) known on day 0; oral B12 dispensed on day 30: treated in time.", [B("150", UD)], [Rx("cyano_po", day(UD, 30))], [], WOMAN),
    ("untreated_known_day0_treated_day31", [DF, UT], "Deficient B12 known on day 0; oral B12 first dispensed on day 31: too late, untreated.", [B("150", UD)], [Rx("cyano_po", day(UD, 31))], [], WOMAN),
    ("untreated_resulted_day5_treated_day35", [DF], "Deficient B12 taken on day 0 but resulted on day 5: the 30 days run from day 5, so oral B12 on day 35 is in time.", [B("150", UD, res=f"{day(UD, 5)}T11:00:00")], [Rx("cyano_po", day(UD, 35))], [], WOMAN),
    ("untreated_resulted_day5_treated_day36", [DF, UT], "Deficient B12 resulted on day 5; oral B12 on day 36 is 31 days after it was known: untreated.", [B("150", UD, res=f"{day(UD, 5)}T11:00:00")], [Rx("cyano_po", day(UD, 36))], [], WOMAN),
    ("untreated_unknown_route_counts", [DF], "'Cyanocobalamin' with no route or dose (a name alone, as in MIMIC) dispensed on day 3: treatment, whatever its route.", [B("150", UD)], [Rx("cyano_plain", day(UD, 3))], [], WOMAN),
    ("untreated_ordered_only", [DF, UT], "A B12 injection ordered on day 3 but never given or dispensed: untreated.", [B("150", UD)], [Rx("cyano_im", day(UD, 3), "ordered")], [], WOMAN),
    ("untreated_functional_treated_day50", [BL, FN], "Borderline B12 (250) on day 0, raised MMA (300) on day 20: confirmed when both were known (day 20), so oral B12 on day 50 is in time.", [B("250", UD), M("300", day(UD, 20))], [Rx("cyano_po", day(UD, 50))], [], WOMAN),
    ("untreated_functional_treated_day51", [BL, FN, UT], "Borderline B12 on day 0, raised MMA on day 20; oral B12 on day 51 is 31 days after: untreated.", [B("250", UD), M("300", day(UD, 20))], [Rx("cyano_po", day(UD, 51))], [], WOMAN),
    ("untreated_two_results_second_treated", [DF, UT], "Deficient B12s on day 0 and day 60, oral B12 on day 65: the first result went untreated, the second was treated.", [B("150", UD), B("160", day(UD, 60))], [Rx("cyano_po", day(UD, 65))], [], WOMAN),
    ("untreated_window_over_at_data_end", [DF, UT], "Deficient B12 on 2025-12-01: day 30 is the data end, so its window is over: untreated.", [B("150", "2025-12-01")], [], [], WOMAN),
    ("untreated_pending_at_data_end", [DF, UP], "Deficient B12 on 2025-12-02: the data end is day 29, treatment may still come: pending.", [B("150", "2025-12-02")], [], [], WOMAN),
    ("untreated_before_medication_history", [DF], "Deficient B12 on 2024-01-30: the medication history (from 2024-01-01) misses 30 days before it: not evaluable, never flagged.", [B("150", "2024-01-30")], [], [], WOMAN),
    ("untreated_medication_history_reaches", [DF, UT], "Deficient B12 on 2024-01-31: the medication history reaches 30 days before it: untreated.", [B("150", "2024-01-31")], [], [], WOMAN),
]


def stamp(moment, style):
    if style == "date":
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if style == "T" else "%Y-%m-%d %H:%M")


def rand_day(rng, lo="2024-01-01", hi="2025-11-30"):
    first = date.fromisoformat(lo)
    return first + timedelta(days=rng.randint(0, (date.fromisoformat(hi) - first).days))


def background(rng, pid, site, labs, meds):
    """Random labs and medications for one background patient (all dates <= 2025-12-20)."""
    molar = site == "south" and rng.random() < 0.7  # most south B12s are reported in pmol/L

    def add(code, result, unit, when, days_to_result):
        style = rng.choices(["T", " ", "date"], [6, 3, 1])[0]
        taken = datetime(when.year, when.month, when.day, rng.randint(7, 12), rng.randint(0, 59))
        ready = taken + timedelta(days=days_to_result, hours=rng.randint(2, 8))
        labs.append([pid, code, result, unit, stamp(taken, style), stamp(ready, style), site])

    for when in sorted(rand_day(rng) for _ in range(rng.choice([1, 1, 2, 2, 3, 4]))):
        add(HB, f"{rng.uniform(9.0, 16.5):.1f}", "g/dL", when, 0)
        add(MCV, f"{rng.uniform(76, 112):.0f}", "fL", when, 0)
        if rng.random() < 0.25:
            add(ESR, str(rng.randint(2, 60)), "mm/h", when, 0)
        if rng.random() < 0.3:
            add(FOL, f"{rng.uniform(2.5, 20.0):.1f}", "ng/mL", when, 1)
        if rng.random() < 0.6:
            r = rng.random()
            value = (rng.randint(351, 1100) if r < 0.72 else rng.randint(180, 350) if r < 0.87
                     else rng.randint(90, 179) if r < 0.95 else None)
            if value is None:
                add(B12, rng.choice([">2000", "<150", "hemolyzed", "see comment"]), "pg/mL", when, 1)
            elif molar:
                add(B12M, f"{value / 1.35537:.0f}", "pmol/L", when, rng.randint(1, 3))
            else:
                add(B12, str(value), "pg/mL", when, rng.randint(1, 3))
            if value is not None and 180 <= value <= 350 and rng.random() < 0.55:
                add(MMA, str(rng.randint(90, 520)), "nmol/L", when + timedelta(rng.randint(0, 20)),
                    rng.randint(5, 12))
    for key, chance, n_max, gap in BG_MEDS:
        if rng.random() >= chance:
            continue
        when = rand_day(rng, hi="2025-06-30")
        for _ in range(rng.randint(1, n_max)):
            event = rng.choices(["given", "ordered", "not_given", "held", "discontinued"],
                                [90, 5, 2, 2, 1])[0]
            code, name, dose, unit, route = DRUGS[key]
            if event == "given":
                event = "administered" if route in ("IM", "IV") else "dispensed"
            at = when.isoformat()
            if event != "dispensed":
                at += f"T{rng.randint(8, 20):02d}:{rng.choice([0, 15, 30, 45]):02d}:00"
            meds.append([pid, code, name, event, at, dose, unit, route, site])
            when += timedelta(days=rng.randint(gap // 2, gap))
            if when > date(2025, 12, 20):
                break


BG_MEDS = [  # key, chance a patient has it, max events, max days between events
    ("folic", 0.12, 4, 90), ("folic5", 0.04, 3, 90), ("cyano_im", 0.06, 5, 30),
    ("cyano_po", 0.05, 3, 90), ("hydroxo_im", 0.03, 4, 60), ("mvi", 0.12, 3, 90),
    ("mvi_folic", 0.04, 3, 90), ("metformin", 0.18, 6, 35), ("omeprazole", 0.12, 4, 60),
    ("atorvastatin", 0.15, 4, 90), ("ferrous", 0.08, 3, 45), ("nephrocaps", 0.02, 3, 35),
]


NEURO_DX = ("G62.9", "G63", "G62.89", "R20.0", "R20.1", "R20.2", "R26.0", "R27.0", "G31.84",
            "R41.81", "F06.70", "G32.0", "H46.2")
LIFELONG_DX = ("D51.0", "D51.0", "K29.40", "Z98.84")
OTHER_DX = [  # code, code system, chance a background patient has it (none is on a B12 list)
    ("I10", "ICD10CM", 0.30), ("E78.5", "ICD10CM", 0.18), ("E11.9", "ICD10CM", 0.14),
    ("K21.9", "ICD10CM", 0.10), ("J45.909", "ICD10CM", 0.05), ("401.9", "ICD9CM", 0.05),
    ("250.00", "ICD9CM", 0.03), ("38341003", "SNOMED", 0.04), ("44054006", "SNOMED", 0.03),
    ("F03.90", "ICD10CM", 0.03), ("K90.0", "ICD10CM", 0.01),
]
IM_B12_NAMES = {DRUGS["cyano_im"][1], DRUGS["hydroxo_im"][1]}
LAST_BACKGROUND_DAY = date(2025, 12, 20)


def background_diagnoses(rng, pid, site, dxs):
    """A background patient's diagnoses: common unrelated codes, sometimes a neurological code,
    a lifelong indication (D51.0, K29.40, Z98.84) or a dietary cause (D51.3). ICD-10 codes are
    written with or without the dot. Returns the dates of the codes the B12 rules use."""
    facts = {"neuro": [], "lifelong": [], "dietary": []}

    def add(code, system, kind=None):
        when = rand_day(rng)
        if system == "ICD10CM" and rng.random() < 0.4:
            code = code.replace(".", "")
        at = when.isoformat()
        if rng.random() < 0.4:
            moment = datetime(when.year, when.month, when.day, rng.randint(8, 17), rng.randint(0, 59))
            at = stamp(moment, rng.choice(["T", " "]))
        dxs.append([pid, code, system, at, site])
        if kind:
            facts[kind].append(when)

    for code, system, chance in OTHER_DX:
        if rng.random() < chance:
            add(code, system)
    if rng.random() < 0.10:
        add(rng.choice(NEURO_DX), "ICD10CM", "neuro")
    r = rng.random()
    if r < 0.07:
        add(rng.choice(LIFELONG_DX), "ICD10CM", "lifelong")
    elif r < 0.09:
        add("D51.3", "ICD10CM", "dietary")
    return facts


def background_course(rng, pid, site, facts, labs, meds):
    """Sometimes a B12 course as clinics run one: a deficient B12 (often with a low Hb) shortly
    before the start; hydroxocobalamin or cyanocobalamin 1 mg IM three times weekly for two weeks
    (alternate days for most patients with a neurological code, sometimes cut short), then every
    ~3 months (~2 with neurological codes), sometimes late or stopped; or oral cyanocobalamin
    dispensed monthly. Often an FBC 5-11 weeks after the start and a B12 on treatment later."""
    chance = 0.8 if facts["lifelong"] or facts["dietary"] else 0.35 if facts["neuro"] else 0.03
    if rng.random() >= chance:
        return
    anchors = facts["lifelong"] or facts["dietary"] or facts["neuro"]
    anchor = anchors[0] if anchors else rand_day(rng, hi="2025-09-30")
    start = anchor + timedelta(days=rng.randint(0, 21))
    if start > date(2025, 11, 15):
        return
    neuro = any(-180 <= (d - start).days <= 14 for d in facts["neuro"])
    molar = site == "south" and rng.random() < 0.7

    def add(code, result, unit, when, days_to_result=0):
        taken = datetime(when.year, when.month, when.day, rng.randint(7, 11), rng.randint(0, 59))
        ready = taken + timedelta(days=days_to_result, hours=rng.randint(2, 6))
        style = rng.choice(["T", " "])
        labs.append([pid, code, result, unit, stamp(taken, style), stamp(ready, style), site])

    def add_b12(value, when):
        if molar:
            add(B12M, f"{value / 1.35537:.0f}", "pmol/L", when, rng.randint(1, 3))
        else:
            add(B12, str(value), "pg/mL", when, rng.randint(1, 3))

    drawn = max(start - timedelta(days=rng.randint(2, 14)), date.fromisoformat(DATA_START))
    anaemic = rng.random() < 0.55
    hb = rng.uniform(8.0, 11.6) if anaemic else rng.uniform(12.4, 15.5)
    add(HB, f"{hb:.1f}", "g/dL", drawn)
    add(MCV, f"{rng.uniform(101, 118) if anaemic and rng.random() < 0.7 else rng.uniform(84, 99):.0f}",
        "fL", drawn)
    add_b12(rng.randint(70, 179), drawn)
    if rng.random() < (0.1 if neuro else 0.12):
        key, offsets, step = "cyano_po", [0], (30, 0, 5)
    else:
        key = rng.choices(["hydroxo_im", "cyano_im"], [65, 35])[0]
        if neuro:
            offsets = list(ALT if rng.random() < 0.5 else W3)
        else:
            offsets = list(W3 if rng.random() < 0.75 else W3[: rng.randint(3, 5)])
        step = (60, -5, 8) if neuro else (90, -7, 10)
    stop_after = rng.randint(0, 4) if rng.random() < 0.2 else None
    late_at = rng.randint(1, 4) if rng.random() < 0.3 else None
    for k in range(40):
        gap = step[0] + rng.randint(step[1], step[2]) + (rng.randint(50, 100) if k == late_at else 0)
        if k == stop_after or start + timedelta(days=offsets[-1] + gap) > LAST_BACKGROUND_DAY:
            break
        offsets.append(offsets[-1] + gap)
    code, name, dose, unit, route = DRUGS[key]
    for n in offsets:
        when = start + timedelta(days=n)
        if route == "IM":
            at = f"{when.isoformat()}T{rng.randint(8, 17):02d}:{rng.choice([0, 15, 30, 45]):02d}:00"
            meds.append([pid, code, name, "administered", at, dose, unit, route, site])
        else:
            meds.append([pid, code, name, "dispensed", when.isoformat(), dose, unit, route, site])
    follow_up = start + timedelta(days=rng.randint(35, 80))
    if rng.random() < 0.6 and follow_up <= LAST_BACKGROUND_DAY:
        add(HB, f"{min(hb + rng.uniform(0.5, 3.0), 15.8):.1f}", "g/dL", follow_up)
        add(MCV, f"{rng.uniform(86, 99):.0f}", "fL", follow_up)
    recheck = start + timedelta(days=rng.randint(60, 200))
    if rng.random() < 0.4 and recheck <= LAST_BACKGROUND_DAY:
        add_b12(rng.randint(400, 1500), recheck)


def background_workup(rng, pid, site, facts, labs):
    """Most patients with a neurological code get a B12 around it (mostly not low), and some an
    MMA and / or a homocysteine, up to two weeks later."""
    for when in facts["neuro"]:
        if rng.random() >= 0.7:
            continue
        drawn = when + timedelta(days=rng.randint(-20, 25))
        drawn = min(max(drawn, date.fromisoformat(DATA_START)), LAST_BACKGROUND_DAY)
        for code, result, unit, chance in ((B12, rng.randint(150, 900), "pg/mL", 1.0),
                                           (MMA, rng.randint(90, 420), "nmol/L", 0.45),
                                           (HCY, rng.randint(6, 24), "umol/L", 0.35)):
            if rng.random() >= chance:
                continue
            taken = min(drawn + timedelta(days=0 if code == B12 else rng.randint(0, 14)),
                        LAST_BACKGROUND_DAY)
            at = datetime(taken.year, taken.month, taken.day, rng.randint(7, 11), rng.randint(0, 59))
            ready = at + timedelta(days=rng.randint(1, 6), hours=rng.randint(1, 5))
            labs.append([pid, code, str(result), unit, stamp(at, "T"), stamp(ready, "T"), site])


def build():
    rng = random.Random(SEED)
    dx_rng, course_rng, workup_rng = (random.Random(SEED + n) for n in (1, 2, 3))
    labs, meds, dxs, pats, scns = [], [], [], [], []
    number = 0
    for index, (slug, expected, note, lab_rows, med_rows, *more) in enumerate(SCENARIOS):
        dx_rows = more[0] if more else []
        who = more[1] if len(more) > 1 else {}
        site = SITES[index % 2]
        if "pid" in who:
            pid = who["pid"]
        else:
            number += 1
            pid = f"S{number:03d}"
            if "sex" in who:
                pats.append([pid, who["sex"], who["birth"], site])
            else:
                birth = rand_day(rng, "1940-01-01", "2003-12-31").isoformat()
                pats.append([pid, rng.choice("FM"), birth, site])
        scns.append([pid or "(blank)", slug, ";".join(sorted(expected)), note])
        for row in lab_rows:
            labs.append([row.get("patient_id", pid), row["test_code"], row["result"], row["unit"],
                         row["collected_at"], row["resulted_at"], site]
                        + ([row["extra"]] if "extra" in row else []))
        meds.extend([pid, *(m[c] for c in MED_COLS.split(",")[1:-1]), site] for m in med_rows)
        dxs.extend([pid, d["code"], d["code_system"], d["recorded_at"], site] for d in dx_rows)
    for i in range(1, 201):
        pid, site = f"P{i:04d}", rng.choice(SITES)
        if i == 1:
            first_site = site  # P0001 also gets the data-end row
        elif i == 2:
            second_site = site  # P0002 also gets the data-start row
        birth = "" if rng.random() < 0.02 else rand_day(rng, "1935-01-01", "2005-12-31").isoformat()
        pats.append([pid, rng.choice("FM"), birth, site])
        first_med = len(meds)
        background(rng, pid, site, labs, meds)
        facts = background_diagnoses(dx_rng, pid, site, dxs)
        background_workup(workup_rng, pid, site, facts, labs)
        if not any(m[2] in IM_B12_NAMES for m in meds[first_med:]):
            background_course(course_rng, pid, site, facts, labs, meds)
    # The data start and end: routine haemoglobins on 2024-01-01 and 2025-12-31.
    labs.append(["P0002", HB, "14.1", "g/dL", f"{DATA_START}T08:05:00", f"{DATA_START}T10:20:00",
                 second_site])
    labs.append(["P0001", HB, "13.2", "g/dL", f"{DATA_END}T09:15:00", f"{DATA_END}T11:40:00",
                 first_site])
    # The medication history spans the same days: routine statin dispenses on both ends.
    for pid, when, site in (("P0002", DATA_START, second_site), ("P0001", DATA_END, first_site)):
        code, name, dose, unit, route = DRUGS["atorvastatin"]
        meds.append([pid, code, name, "dispensed", when, dose, unit, route, site])
    lab_out = [[r[0], r[1], TEST_NAMES[r[1]], r[2], r[3], r[4], r[5], f"L{n:06d}", r[6], *r[7:]]
               for n, r in enumerate(labs, 1)]
    return {"lab_results": lab_out, "medications": meds, "diagnoses": dxs, "patients": pats,
            "scenarios": scns}


HEADERS = {"lab_results": LAB_COLS, "medications": MED_COLS, "diagnoses": DX_COLS,
           "patients": PAT_COLS, "scenarios": SCN_COLS}


def write(tables):
    for name, rows in tables.items():
        with open(HERE / f"{name}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADERS[name].split(","))
            writer.writerows(rows)


def self_check():
    """Re-read the files and check counts, shape, the data start and end, the expected findings
    and the quarantine share of each file."""
    read = {n: list(csv.reader((HERE / f"{n}.csv").read_text(encoding="utf-8").splitlines()))
            for n in HEADERS}
    for name, rows in read.items():
        assert rows[0] == HEADERS[name].split(","), (name, rows[0])
    counts = {n: len(rows) - 1 for n, rows in read.items()}
    ragged = [r for r in read["lab_results"][1:] if len(r) != 9]
    assert len(ragged) == 1 and len(ragged[0]) == 10, ragged
    assert all(len(r) == 9 for r in read["medications"])
    assert all(len(r) == 5 for r in read["diagnoses"])

    def iso(text):
        try:
            return date.fromisoformat(text[:10]).isoformat() if text[:10] else None
        except ValueError:
            return None

    dates = [iso(r[i]) for r in read["lab_results"][1:] if len(r) == 9 for i in (5, 6)]
    dates += [iso(r[4]) for r in read["medications"][1:]]
    dates += [iso(r[3]) for r in read["diagnoses"][1:]]
    dates = [d for d in dates if d]
    assert min(dates) == DATA_START and max(dates) == DATA_END, (min(dates), max(dates))
    systems = {r[2] for r in read["diagnoses"][1:]}
    assert systems == {"ICD10CM", "ICD9CM", "SNOMED", "READ"}, systems
    codes = {r[1] for r in read["diagnoses"][1:] if r[2] == "ICD10CM"}
    both = {c for c in codes if "." in c and c.replace(".", "") in codes}
    assert {"D51.0", "D51.3"} <= both, f"dotted and undotted forms: {sorted(both)}"
    scn = read["scenarios"][1:]
    ids = [r[0] for r in scn]
    assert len(set(ids)) == len(ids) and len({r[1] for r in scn}) == len(scn)
    known = {r[0] for r in read["patients"][1:]}
    assert all(i in known for i in ids if i != "(blank)")
    # Every expected finding is a rule in sql/rules; each finding and reason appears.
    rules = {f.stem for f in (HERE.parent.parent / "sql" / "rules").glob("*.sql")}
    expected = {e for r in scn for e in r[2].split(";") if e}
    assert {e.split(":")[0] for e in expected} == rules, sorted(rules ^ {e.split(":")[0] for e in expected})
    # The rows meant for quarantine, by file: under 5% of each file's rows.
    quarantined = {"lab_results": 0, "medications": 0, "diagnoses": 0}
    for r in scn:
        if r[1].startswith("quarantine_"):
            quarantined[{"lab": "lab_results", "med": "medications", "dx": "diagnoses"}[
                r[1].split("_")[1]]] += 1
    assert quarantined == {"lab_results": 4, "medications": 1, "diagnoses": 1}, quarantined
    assert all(q / counts[n] < 0.05 for n, q in quarantined.items()), quarantined
    print(", ".join(f"{n}: {c} rows" for n, c in counts.items()),
          f"| scenario patients: {len(scn)}, quarantine rows: {sum(quarantined.values())}")
    return counts


def write_formats():
    """The same population in every source format, by data/sample/writers/<format>.py, into
    data/sample/<format>/ (tests/test_formats_agree.py checks each gives the same findings)."""
    for path in sorted((HERE / "writers").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"writer_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        shutil.rmtree(HERE / path.stem, ignore_errors=True)
        module.write(HERE, HERE / path.stem)


if __name__ == "__main__":
    write(build())
    self_check()
    write_formats()
