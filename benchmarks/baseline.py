"""Run the yardstick query (benchmarks/baseline.sql) on an extract and print its time and memory.

    python benchmarks/baseline.py /tmp/b12bench/extract-10000000 [--out DIR]

Writes the findings to OUT/baseline_findings.csv (so the work is really done, as the audit must
write its outputs too), prints the count per finding, then one JSON line with wall seconds and
peak RSS. Peak RSS is this process's own high-water mark (getrusage), which includes Python and
the DuckDB import: the same overheads the audit CLI pays. benchmarks/run.py measures it from
outside as well.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

SQL = Path(__file__).with_name("baseline.sql")

# The guideline defaults (the same values as transforms/config.py; copied, not imported, so the
# yardstick does not move when the pipeline's code does).
THRESHOLDS = {
    "b12_deficient_below_pg_ml": 180.0,
    "b12_adequate_above_pg_ml": 350.0,
    "mma_elevated_above_nmol_l": 271.0,
    "mma_window_before_days": 30,
    "mma_window_after_days": 90,
}


def run_baseline(extract: Path, out: Path, threads: int | None = None) -> dict[str, int]:
    lab_results = extract / "lab_results.csv"
    if not lab_results.is_file():
        raise FileNotFoundError(f"{lab_results}: not found (make one with benchmarks/generate.py)")
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()  # in memory: DuckDB's defaults (all cores, 80% of RAM) as a user gets
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    params = {"lab_results": str(lab_results), **THRESHOLDS}
    con.execute(f"CREATE TABLE findings AS {SQL.read_text(encoding='utf-8')}", params)
    con.execute("COPY findings TO $path (HEADER)", {"path": str(out / "baseline_findings.csv")})
    counts = dict(con.sql("SELECT finding, count(*) FROM findings GROUP BY finding").fetchall())
    con.close()
    return counts


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extract", type=Path, help="folder with lab_results.csv")
    parser.add_argument("--out", type=Path, help="folder for the findings (default: a temp dir)")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="b12-baseline-") as scratch:
        try:
            counts = run_baseline(args.extract, args.out or Path(scratch), args.threads)
        except (FileNotFoundError, duckdb.Error) as exc:
            print(f"baseline: {exc}", file=sys.stderr)
            return 1
    wall = time.perf_counter() - started
    for finding, count in sorted(counts.items()):
        print(f"{finding:28} {count:>10,} patients")
    print(json.dumps({"wall_s": round(wall, 3), "peak_rss_mb": round(peak_rss_mb(), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
