"""A generated population whose practice is steady, or changes from one month: monthly
files for a drop folder, as a site's extract system would deliver them.

Months are counted from January 2023: months 0 to 11 are the history (the year of B12
results and treatment that the first audited month looks back on), months 12 to 35 the 24
audited months (2024-01 to 2025-12). Each month holds, with a seeded random count:

- about 200 patients starting folic acid 5 mg on a day from the 15th; of those
  `untested_rate(month)` have no B12 at all (flagged by folate_before_b12: never tested),
  the rest an adequate B12 (400-900 pg/mL) 1 to 14 days before, in the same month;
- about 60 patients with a B12 only: a quarter borderline (200-340 pg/mL), of whom 70 %
  have an MMA within 20 days after (the others are b12_borderline_no_mma once their 90
  days are over), the rest adequate;
- a routine Hb and a paracetamol dose on the month's first and last days, so each
  month's delivery covers the whole month (its last day is the data end).

Every row is filed in the month of its own date (an MMA taken early next month arrives
with next month's files), so a month's borderline results are judged only once later
deliveries close their windows.
"""

from __future__ import annotations

import calendar
import csv
import os
import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

FIRST_YEAR = 2023
HISTORY_MONTHS = 12
AUDITED_MONTHS = 24
LAB_COLUMNS = ["patient_id", "test_code", "result", "unit", "collected_at", "site"]
MED_COLUMNS = ["patient_id", "drug_name", "event_type", "event_at", "dose", "dose_unit", "site"]
SITES = ("north", "south")


def month_start(month: int) -> date:
    return date(FIRST_YEAR + month // 12, month % 12 + 1, 1)


def month_end(month: int) -> date:
    start = month_start(month)
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def population(untested_rate: Callable[[int], float], seed: int = 13) -> tuple[list, list]:
    """(lab rows, medication rows) of every month, as dicts with the canonical columns."""
    labs, meds = [], []
    for month in range(HISTORY_MONTHS + AUDITED_MONTHS):
        rng = random.Random(f"{seed}-{month}")
        start, end = month_start(month), month_end(month)
        for day in (start, end):
            labs.append(_lab(f"H{month:02d}{day.day}", "718-7", 140, "g/L", day, "north"))
            meds.append(_med(f"H{month:02d}{day.day}", "paracetamol 500 mg", day, 500, "mg"))
        for i in range(180 + rng.randint(0, 40)):
            patient, site = f"F{month:02d}{i:03d}", rng.choice(SITES)
            first_dose = start + timedelta(days=rng.randint(14, end.day - 1))
            meds.append(_med(patient, "folic acid 5 mg tablet", first_dose, 5, "mg", site))
            if rng.random() >= untested_rate(month):
                tested = first_dose - timedelta(days=rng.randint(1, 13))
                labs.append(_lab(patient, "2132-9", rng.randint(400, 900), "pg/mL", tested, site))
        for i in range(50 + rng.randint(0, 20)):
            patient, site = f"B{month:02d}{i:03d}", rng.choice(SITES)
            tested = start + timedelta(days=rng.randint(0, end.day - 1))
            borderline = rng.random() < 0.25
            value = rng.randint(200, 340) if borderline else rng.randint(400, 900)
            labs.append(_lab(patient, "2132-9", value, "pg/mL", tested, site))
            if borderline and rng.random() < 0.7:
                mma = tested + timedelta(days=rng.randint(0, 20))
                labs.append(_lab(patient, "13964-2", rng.randint(150, 250), "nmol/L", mma, site))
    return labs, meds


def deliver_month(drop: Path, month: int, labs: list, meds: list) -> None:
    """Month `month`'s rows as lab_results_YYYY-MM.csv and medications_YYYY-MM.csv."""
    start, end = month_start(month), month_end(month)
    label = f"{start:%Y-%m}"
    for name, columns, rows, key in (
        ("lab_results", LAB_COLUMNS, labs, "collected_at"),
        ("medications", MED_COLUMNS, meds, "event_at"),
    ):
        path = drop / f"{name}_{label}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(r for r in rows if start <= r[key] <= end)
        past = time.time() - 600  # long settled: the drop folder reads it at once
        os.utime(path, (past, past))


def _lab(patient: str, code: str, value: int, unit: str, on: date, site: str) -> dict:
    return dict(zip(LAB_COLUMNS, [patient, code, value, unit, on, site], strict=True))


def _med(patient: str, drug: str, on: date, dose: int, unit: str, site: str = "north") -> dict:
    values = [patient, drug, "administered", on, dose, unit, site]
    return dict(zip(MED_COLUMNS, values, strict=True))
