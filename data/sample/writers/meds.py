"""Writes the canonical sample as a MEDS v0.3 dataset (for tests/test_formats_agree.py).

    data/train/0.parquet, data/held_out/0.parquet   the events, subjects split between them
    metadata/codes.parquet                           each code with a description
    metadata/subject_splits.parquet, dataset.json    the split and the dataset's description

Codes as the MEDS adapter's default patterns read them: labs as LAB//<itemid>//<unit>
where the LOINC has a MIMIC-IV itemid (sql/reference/meds_mimic_lab_items.csv), else
LOINC/<code> with the unit in an extra `unit` column; medications as
MEDICATION//<drug name>//<status> (orders MEDICATION//START//, stops MEDICATION//STOP//);
diagnoses as DIAGNOSIS//ICD//10//<code>, DIAGNOSIS//ICD//9//<code> or
DIAGNOSIS//<system>//<code>; patients as MEDS_BIRTH and GENDER//<sex>. Extra columns:
site, drug_code, dose, dose_unit, route, result_id, resulted_at, unit.

Left out, because a MEDS shard cannot hold them and the canonical audit quarantines them
anyway: rows with a blank patient_id (subject_id is an integer), a collection date that is
not a date ('31/12/2024', '2024-02-30'; time is a typed timestamp) and the CSV line with
an extra field. A blank event date is kept as a null time: the adapter passes it on and
validation quarantines it, as the canonical audit does.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REFERENCE = Path(__file__).resolve().parents[3] / "sql" / "reference"
SHARDS = ("train/0", "held_out/0")
STATUS = {
    "administered": "Administered",
    "dispensed": "Dispensed",
    "not_given": "Not Given",
    "held": "Held",
    "other": "Other",
}
ICD = {"ICD10CM": "10", "ICD9CM": "9"}
EXTRA = ("site", "drug_code", "dose", "dose_unit", "route", "result_id", "unit")
SCHEMA = pa.schema(
    [
        ("subject_id", pa.int64()),
        ("time", pa.timestamp("us")),
        ("code", pa.string()),
        ("numeric_value", pa.float32()),
        ("text_value", pa.string()),
        *[(c, pa.string()) for c in EXTRA],
        ("resulted_at", pa.timestamp("us")),
    ]
)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?$")


def write(sample_dir: Path, out_dir: Path) -> dict[str, str]:
    tables = {t: _read(sample_dir / f"{t}.csv") for t in TABLES}
    patients = sorted({r["patient_id"] for rows in tables.values() for r in rows} - {""})
    ids = {p: n for n, p in enumerate(patients, start=1)}
    events = [e for table, make in TABLES.items() for e in _events(tables[table], make, ids)]
    events.sort(key=lambda e: (e["subject_id"], e["time"] is not None, e["time"] or 0))
    for number, shard in enumerate(SHARDS):
        rows = [e for e in events if e["subject_id"] % len(SHARDS) == number]
        path = out_dir / "data" / f"{shard}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    _write_metadata(out_dir, events, ids)
    return {p: str(n) for p, n in ids.items()}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        # The ragged line has an extra field (key None): the canonical audit quarantines it.
        return [r for r in csv.DictReader(handle) if None not in r]


def _events(rows: list[dict], make, ids: dict[str, int]):
    for row in rows:
        if row["patient_id"] in ids:
            yield from make(row, ids[row["patient_id"]])


def _lab(row: dict, subject: int):
    collected = _time(row["collected_at"])
    if collected is None:
        return  # not a date: quarantined by the canonical audit
    itemid = LAB_ITEMS.get(row["test_code"])
    code = f"LAB//{itemid}//{row['unit']}" if itemid else f"LOINC/{row['test_code']}"
    number = _number(row["result"])
    yield _event(
        subject,
        collected,
        code,
        row,
        numeric_value=number,
        text_value=None if number is not None or not row["result"] else row["result"],
        unit=None if itemid else row["unit"],
        resulted_at=_time(row["resulted_at"]),
    )


def _medication(row: dict, subject: int):
    event = row["event_type"]
    if event == "ordered":
        code = f"MEDICATION//START//{row['drug_name']}"
    elif event == "discontinued":
        code = f"MEDICATION//STOP//{row['drug_name']}"
    else:
        code = f"MEDICATION//{row['drug_name']}//{STATUS.get(event, event)}"
    yield _event(subject, _time(row["event_at"]), code, row)


def _diagnosis(row: dict, subject: int):
    system = row["code_system"]
    version = ICD.get(system)
    code = f"DIAGNOSIS//ICD//{version}//{row['code']}" if version else None
    yield _event(
        subject, _time(row["recorded_at"]), code or f"DIAGNOSIS//{system}//{row['code']}", row
    )


def _patient(row: dict, subject: int):
    if row["birth_date"]:
        yield _event(subject, _time(row["birth_date"]), "MEDS_BIRTH", row)
    yield _event(subject, None, f"GENDER//{row['sex']}", row)


TABLES = {
    "lab_results": _lab,
    "medications": _medication,
    "diagnoses": _diagnosis,
    "patients": _patient,
}


def _event(subject: int, time, code: str, row: dict, **values) -> dict:
    extra = {c: row.get(c) or None for c in EXTRA}
    return {"subject_id": subject, "time": time, "code": code} | extra | values


def _time(text: str) -> dt.datetime | None:
    """An ISO date (as midnight, which the adapter reads as a date) or date-time; None when
    blank or not a real date."""
    text = text.strip()
    if not DATE.match(text):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _number(text: str) -> float | None:
    """A plain number that float32 keeps exactly as written, else None (kept as text)."""
    if not re.fullmatch(r"\d+(\.\d+)?", text):
        return None
    value = np.float32(text)
    return float(value) if Decimal(str(value)) == Decimal(text) else None


def _lab_items() -> dict[str, str]:
    with (REFERENCE / "meds_mimic_lab_items.csv").open(encoding="utf-8", newline="") as handle:
        return {r["loinc"]: r["itemid"] for r in csv.DictReader(handle) if r["loinc"]}


LAB_ITEMS = _lab_items()


def _write_metadata(out_dir: Path, events: list[dict], ids: dict[str, int]) -> None:
    folder = out_dir / "metadata"
    folder.mkdir(parents=True, exist_ok=True)
    codes = sorted({e["code"] for e in events})
    loinc = {v: k for k, v in LAB_ITEMS.items()}
    parents = [[f"LOINC/{loinc[c.split('//')[1]]}"] if c.startswith("LAB//") else [] for c in codes]
    pq.write_table(
        pa.table(
            {"code": codes, "description": [None] * len(codes), "parent_codes": parents},
            schema=pa.schema(
                [
                    ("code", pa.string()),
                    ("description", pa.string()),
                    ("parent_codes", pa.list_(pa.string())),
                ]
            ),
        ),
        folder / "codes.parquet",
    )
    splits = [(n, SHARDS[n % len(SHARDS)].split("/")[0]) for n in sorted(ids.values())]
    pq.write_table(
        pa.table(
            {
                "subject_id": pa.array([s for s, _ in splits], pa.int64()),
                "split": [p for _, p in splits],
            }
        ),
        folder / "subject_splits.parquet",
    )
    dataset = {
        "dataset_name": "b12audit synthetic sample",
        "dataset_version": "1",
        "etl_name": "data/sample/writers/meds.py",
        "etl_version": "1",
        "meds_version": "0.3.3",
        "created_at": "2025-12-31T00:00:00",
    }
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n", encoding="utf-8")
