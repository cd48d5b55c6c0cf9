"""The script an analyst would write in pandas for the yardstick's findings (baseline.sql):
read the lab CSV whole, parse and convert the B12 and MMA results, keep each patient's
earliest deficient, borderline and functionally deficient B12.

    python benchmarks/pandas_script.py /tmp/b12bench/extract-10000000-seed42 [--out DIR]

benchmarks/run.py --pandas times it beside the yardstick and the audit; on the 1M extract
its patient sets equal the yardstick's (run.py checks this whenever both run). Prints the
count per finding, then one JSON line with wall seconds and peak RSS, as baseline.py does.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from baseline import THRESHOLDS  # the same limits as the yardstick (run as a script)

B12_CODES = ("2132-9", "14685-2")
MMA_CODE = "13964-2"
B12_TO_PG_ML = {"pg/ml": 1.0, "ng/l": 1.0, "pmol/l": 1.35537, "ng/ml": 1000.0}
MMA_TO_NMOL_L = {"nmol/l": 1.0, "umol/l": 1000.0, "µmol/l": 1000.0, "nmol/ml": 1000.0}
NUMBER = r"^(?P<op><=|>=|<|>)?\s*(?P<num>[0-9]+(?:\.[0-9]+)?)$"


def labs(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame["test_code"].isin([*B12_CODES, MMA_CODE])].copy()
    frame["patient_id"] = frame["patient_id"].str.strip()
    frame["collected_at"] = pd.to_datetime(
        frame["collected_at"].str.strip(), errors="coerce", format="ISO8601"
    )
    frame = frame[(frame["patient_id"] != "") & frame["collected_at"].notna()]
    parsed = frame["result"].str.strip().str.extract(NUMBER)
    frame["op"] = parsed["op"]
    unit = frame["unit"].str.strip().str.lower()
    is_mma = frame["test_code"] == MMA_CODE
    factor = unit.map(B12_TO_PG_ML).where(~is_mma, unit.map(MMA_TO_NMOL_L))
    frame["value"] = parsed["num"].astype(float) * factor
    frame["is_mma"] = is_mma
    frame["collected_on"] = frame["collected_at"].dt.normalize()
    return frame[frame["value"].notna()]


def b12_class(b12: pd.DataFrame) -> pd.Series:
    low, high = THRESHOLDS["b12_deficient_below_pg_ml"], THRESHOLDS["b12_adequate_above_pg_ml"]
    op, value = b12["op"], b12["value"]
    exact = op.isna()
    classes = pd.Series(None, index=b12.index, dtype=object)
    classes[exact & (value < low)] = "deficient"
    classes[exact & (value >= low) & (value <= high)] = "borderline"
    classes[((op == "<") & (value <= low)) | ((op == "<=") & (value < low))] = "deficient"
    return classes


def findings(frame: pd.DataFrame) -> pd.DataFrame:
    b12 = frame[~frame["is_mma"]].copy()
    b12["b12_class"] = b12_class(b12)
    mma = frame[frame["is_mma"]]
    limit = THRESHOLDS["mma_elevated_above_nmol_l"]
    elevated = mma[
        (mma["op"].isna() & (mma["value"] > limit))
        | ((mma["op"] == ">") & (mma["value"] >= limit))
        | ((mma["op"] == ">=") & (mma["value"] > limit))
    ]
    borderline = b12[b12["b12_class"] == "borderline"]
    pairs = borderline.merge(elevated, on="patient_id", suffixes=("", "_mma"))
    days = (pairs["collected_on_mma"] - pairs["collected_on"]).dt.days
    window = (days >= -THRESHOLDS["mma_window_before_days"]) & (
        days <= THRESHOLDS["mma_window_after_days"]
    )
    functional = pairs[window].assign(b12_class="functional_deficiency")
    found = pd.concat([b12[b12["b12_class"].notna()], functional])
    earliest = found.sort_values(["collected_at", "result_id"]).groupby(
        ["patient_id", "b12_class"], as_index=False
    )
    first = earliest.first()[["patient_id", "b12_class", "collected_at", "result_id"]]
    first["finding"] = "b12_" + first["b12_class"]
    return first.rename(columns={"collected_at": "index_at", "result_id": "b12_result_id"})[
        ["patient_id", "finding", "index_at", "b12_result_id"]
    ].sort_values(["finding", "patient_id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("extract", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        result = findings(labs(args.extract / "lab_results.csv"))
        result.to_csv(out / "pandas_findings.csv", index=False)
    for finding, count in result["finding"].value_counts().sort_index().items():
        print(f"{finding}: {count}")
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mb": round(peak_mb, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
