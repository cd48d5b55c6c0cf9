"""Write a synthetic canonical extract (lab_results, medications, patients CSVs) for benchmarks.

    python benchmarks/generate.py --lab-rows 10000000 --out /tmp/b12bench/extract-10000000

Everything is one DuckDB `COPY (SELECT ... FROM range(n)) TO ...` per file: no Python row loop,
so 100M lab rows stream to disk in bounded memory (DuckDB writes chunk by chunk, in range order).
range() is scanned by one thread (about 1.8 s per million lab rows here). Feeding it from a table
to use both cores gave no speed-up (the order-keeping CSV writer is the bottleneck) and buffered
2 GB of out-of-order chunks, so it stays simple. Randomness is `hash(hash(row, seed, salt))`:
the same N and seed give the same bytes on the same DuckDB version, with no random state to
carry between threads.

Shape (rates are targets, not guarantees): 1 patient per 40 lab rows, 1 medication row per 10
lab rows; labs come in "encounters" of 8 rows for one patient on one day, so MMA sits near B12 as
in real work-ups; ~8% B12 (lognormal, ~5% < 180 and ~25% 180-350 pg/mL), ~1% MMA; ~0.05% rows
with an empty patient_id or a day-first date that the audit must quarantine.
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import accumulate
from pathlib import Path

import duckdb

DAYS = 1096  # 2023-01-01 .. 2025-12-31
LAB_ROWS_PER_PATIENT = 40
LAB_ROWS_PER_MED_ROW = 10
ENCOUNTER_ROWS = 8

# Tables of constants, kept one entry per line: easier to read and edit than formatter layout.
# fmt: off
# Lab test mix: (cumulative upper bound of u, kind). B12 8%, MMA 1%, the rest routine tests.
TEST_MIX = [(0.08, "b12"), (0.09, "mma"), (0.34, "hb"), (0.59, "mcv"), (0.74, "creat"),
            (0.84, "k"), (0.92, "folate"), (1.0, "esr")]

# Medication catalogue: weight, RxNorm code (given on half the rows), name variants as
# recorded, dose, dose unit, routes, days between events of one course.
DRUGS = [
    (0.18, "310410", ["Folic acid 1 mg tablet", "FoLIC Acid", "folic acid", "FOLIC ACID 1MG TAB"],
     "1", "mg", ["oral", "PO"], 1),
    (0.08, None, ["Folic acid 5 mg tablet", "FoLIC Acid 5mg", "folic acid 5 mg"],
     "5", "mg", ["oral", "PO"], 1),
    (0.08, "309594", ["Cyanocobalamin 1000 mcg/mL injection", "Cyanocobalamin",
                      "VITAMIN B12 1000MCG INJ"], "1000", "mcg", ["IM", "intramuscular", "SC"], 7),
    (0.07, "317106", ["Hydroxocobalamin 1 mg/mL injection", "Hydroxocobalamin",
                      "hydroxocobalamin 1mg IM"], "1", "mg", ["IM", "intramuscular"], 2),
    (0.12, "1304564", ["Multivitamin tablet", "Multivitamins", "MVI"],
     "1", "tablet", ["oral", "PO"], 1),
    (0.20, None, ["Metformin 500 mg tablet", "metFORMIN", "Metformin hydrochloride 1 g"],
     "500", "mg", ["oral", "PO"], 1),
    (0.09, None, ["Atorvastatin 20 mg tablet", "atorvastatin"], "20", "mg", ["oral"], 1),
    (0.09, None, ["Omeprazole 20 mg capsule", "omeprazole"], "20", "mg", ["oral"], 1),
    (0.05, None, ["Ferrous sulfate 200 mg tablet", "FERROUS SULPHATE"], "200", "mg", ["oral"], 1),
    (0.04, None, ["Levothyroxine 100 mcg tablet", "levothyroxine"], "100", "mcg", ["oral"], 1),
]
# fmt: on


def _lit(value) -> str:
    """A SQL literal for a str, None, int or list of str (catalogue constants, not user input)."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _pick(u: str, bounds: list[float], values: list[str]) -> str:
    """CASE expression choosing values[k] for the first cumulative bound above u."""
    pairs = zip(bounds[:-1], values[:-1], strict=True)
    arms = " ".join(f"WHEN {u} < {bound} THEN {value}" for bound, value in pairs)
    return f"CASE {arms} ELSE {values[-1]} END"


def macros(seed: int) -> str:
    # h(): 64-bit hash per (row, salt). The outer hash() re-mixes: the low bits of a multi-argument
    # hash() alone are correlated across salts (a 2-way and a 4-way pick agreed on every row).
    # u(): uniform [0,1) per (row, salt); z(): standard normal by Box-Muller from two u().
    return f"""
    CREATE OR REPLACE TEMP MACRO h(i, salt) AS hash(hash(i, {seed}, salt));
    CREATE OR REPLACE TEMP MACRO u(i, salt) AS (h(i, salt) % 1000000007) / 1000000007.0;
    CREATE OR REPLACE TEMP MACRO z(i, salt) AS
        sqrt(-2 * ln(greatest(u(i, salt || 'a'), 1e-12))) * cos(2 * pi() * u(i, salt || 'b'));
    CREATE OR REPLACE TEMP MACRO pick(xs, h) AS xs[CAST(1 + h % len(xs) AS BIGINT)];
    CREATE OR REPLACE TEMP MACRO pid(p) AS 'P' || lpad(CAST(p AS VARCHAR), 8, '0');
    CREATE OR REPLACE TEMP MACRO home_site(p) AS pick(['north', 'south', 'east'], h(p, 'site'));
    CREATE OR REPLACE TEMP MACRO iso(ts, with_time) AS CASE WHEN with_time
        THEN strftime(ts, '%Y-%m-%dT%H:%M:%S') ELSE strftime(ts, '%Y-%m-%d') END;
    CREATE OR REPLACE TEMP MACRO clock(minutes) AS
        TIMESTAMP '2023-01-01' + to_seconds(CAST(minutes * 60 AS BIGINT));
    CREATE OR REPLACE TEMP MACRO num(x, digits) AS CASE WHEN digits = 0
        THEN CAST(CAST(round(x) AS BIGINT) AS VARCHAR) ELSE CAST(round(x, digits) AS VARCHAR) END;
    """


def lab_sql(n: int, patients: int) -> str:
    kind = _pick("u(i, 'test')", [b for b, _ in TEST_MIX], [_lit(k) for _, k in TEST_MIX])
    # B12: lognormal, median 477 pg/mL, sigma 0.593 -> P(<180) = 5%, P(180-350) = 25%.
    # MMA: lognormal, median 190 nmol/L, sigma 0.55 -> about a quarter above 271.
    return f"""
    WITH r AS (
        SELECT i, i // {ENCOUNTER_ROWS} AS e, h(i // {ENCOUNTER_ROWS}, 'pat') % {patients} AS p,
               {kind} AS kind, u(i, 'flavour') AS f, u(i, 'bad') AS bad
        FROM range({n}) t(i)
    ), v AS (
        SELECT *,
            exp(ln(477) + 0.593 * z(i, 'b12')) AS b12_pg,
            exp(ln(190) + 0.55 * z(i, 'mma')) AS mma_nmol,
            -- Half the MMA rows are drawn -60..+120 days from their encounter (a work-up around
            -- a B12), so some fall outside the audit's -30/+90 window; the rest share its day.
            least({DAYS - 1}, greatest(0, h(e, 'day') % {DAYS} + CASE WHEN kind = 'mma' AND f < 0.5
                THEN CAST(u(i, 'off') * 180 AS INT) - 60 ELSE 0 END)) AS day,
            h(e, 'fmt') % 10 < 6 AS with_time,
            clock(7 * 60 + h(e, 'tod') % 720) AS t0
        FROM r
    ), w AS (
        SELECT *, t0 + to_days(CAST(day AS INT)) AS collected,
            CASE WHEN u(i, 'res') < 0.10 THEN NULL
                 ELSE to_days(CAST(h(i, 'lag') % 4 AS INT)) + to_hours(CAST(h(i, 'h') % 10 AS INT))
            END AS lag
        FROM v
    )
    SELECT
        CASE WHEN bad < 0.00025 THEN NULL ELSE pid(p) END AS patient_id,
        CASE kind WHEN 'b12' THEN (CASE WHEN f < 0.85 THEN '2132-9' ELSE '14685-2' END)
            WHEN 'mma' THEN '13964-2' WHEN 'hb' THEN '718-7' WHEN 'mcv' THEN '787-2'
            WHEN 'creat' THEN '2160-0' WHEN 'k' THEN '2823-3' WHEN 'folate' THEN '2284-8'
            ELSE '4537-7' END AS test_code,
        CASE kind
            WHEN 'b12' THEN (CASE WHEN f < 0.5 THEN 'Vitamin B12'
                                  ELSE 'Cobalamin (Vitamin B12)' END)
            WHEN 'mma' THEN 'Methylmalonic acid' WHEN 'hb' THEN 'Hemoglobin' WHEN 'mcv' THEN 'MCV'
            WHEN 'creat' THEN 'Creatinine' WHEN 'k' THEN 'Potassium' WHEN 'folate' THEN 'Folate'
            ELSE 'ESR (Westergren)' END AS test_name,
        CASE kind
            WHEN 'b12' THEN CASE
                WHEN u(i, 'inv') < 0.005 THEN 'hemolyzed'
                WHEN f >= 0.85 THEN (CASE WHEN b12_pg * 0.737806 > 1476 THEN '>1476'
                                          ELSE num(b12_pg * 0.737806, 0) END)
                WHEN b12_pg > 2000 THEN '>2000'
                WHEN b12_pg < 150 AND u(i, 'cens') < 0.5 THEN '<150'
                ELSE num(b12_pg, 0) END
            WHEN 'mma' THEN (CASE WHEN f < 0.85 THEN num(mma_nmol, 0)
                                  ELSE num(mma_nmol / 1000, 3) END)
            WHEN 'hb' THEN num(13.5 + 1.8 * z(i, 'v'), 1)
            WHEN 'mcv' THEN num(90 + 7 * z(i, 'v'), 0)
            WHEN 'creat' THEN num(greatest(0.3, 0.9 + 0.25 * z(i, 'v')), 2)
            WHEN 'k' THEN num(4.2 + 0.4 * z(i, 'v'), 1)
            WHEN 'folate' THEN num(exp(ln(9) + 0.5 * z(i, 'v')), 1)
            ELSE num(exp(ln(12) + 0.8 * z(i, 'v')), 0) END AS result,
        CASE kind
            WHEN 'b12' THEN CASE WHEN f >= 0.85 THEN 'pmol/L' WHEN f < 0.80 THEN 'pg/mL'
                                 WHEN f < 0.83 THEN 'pg/ml' ELSE 'ng/L' END
            WHEN 'mma' THEN (CASE WHEN f < 0.85 THEN 'nmol/L' ELSE 'umol/L' END)
            WHEN 'hb' THEN 'g/dL' WHEN 'mcv' THEN 'fL' WHEN 'creat' THEN 'mg/dL'
            WHEN 'k' THEN 'mmol/L' WHEN 'folate' THEN 'ng/mL' ELSE 'mm/h' END AS unit,
        -- A day-first date is what a spreadsheet round-trip leaves behind: quarantined.
        CASE WHEN bad >= 0.00025 AND bad < 0.0005 THEN strftime(collected, '%d/%m/%Y')
             ELSE iso(collected, with_time) END AS collected_at,
        iso(collected + lag, with_time) AS resulted_at,
        'R' || lpad(CAST(i AS VARCHAR), 10, '0') AS result_id,
        CASE WHEN u(e, 'away') < 0.1 THEN pick(['north', 'south', 'east'], h(e, 'away_site'))
             ELSE home_site(p) END AS site
    FROM w
    """


def medication_sql(n: int, patients: int) -> str:
    bounds = [round(b, 6) for b in accumulate(weight for weight, *_ in DRUGS)]
    drug = _pick("u(c, 'drug')", bounds, [str(k + 1) for k in range(len(DRUGS))])
    structs = [
        f"{{'code': {_lit(code)}, 'names': {_lit(names)}, 'dose': {_lit(dose)}, "
        f"'unit': {_lit(unit)}, 'routes': {_lit(routes)}, 'every': {every}}}"
        for _, code, names, dose, unit, routes, every in DRUGS
    ]
    catalogue = "[" + ", ".join(structs) + "]"  # a constant list: indexing keeps row order
    # Events come in courses of 4 (same patient, drug, route), spaced by the drug's interval.
    return f"""
    WITH r AS (
        SELECT j, j // 4 AS c, h(j // 4, 'mpat') % {patients} AS p FROM range({n}) t(j)
    ), d AS (
        SELECT *, {catalogue}[CAST({drug} AS BIGINT)] AS g, u(j, 'ev') AS ev,
            clock(6 * 60 + h(j, 'tod') % 960) AS t0
        FROM r
    )
    SELECT
        pid(p) AS patient_id,
        CASE WHEN h(j, 'code') % 2 = 0 THEN g.code END AS drug_code,
        pick(g.names, h(j, 'nm')) AS drug_name,
        CASE WHEN ev < 0.50 THEN 'administered' WHEN ev < 0.80 THEN 'dispensed'
             WHEN ev < 0.95 THEN 'ordered' ELSE 'not_given' END AS event_type,
        iso(t0 + to_days(CAST(least({DAYS - 1}, h(c, 'mday') % {DAYS} + (j % 4) * g.every) AS INT)),
            h(c, 'mfmt') % 10 < 6) AS event_at,
        g.dose AS dose, g.unit AS dose_unit,
        pick(g.routes, h(c, 'route')) AS route,
        home_site(p) AS site
    FROM d
    """


def patient_sql(patients: int) -> str:
    return f"""
    SELECT pid(p) AS patient_id,
        CASE WHEN u(p, 'sex') < 0.50 THEN 'F' WHEN u(p, 'sex') < 0.98 THEN 'M' END AS sex,
        CASE WHEN u(p, 'dob') >= 0.01
             THEN strftime(DATE '1930-01-01' + CAST(h(p, 'dob') % 27000 AS INT), '%Y-%m-%d')
        END AS birth_date,
        home_site(p) AS site
    FROM range({patients}) t(p)
    """


DIAGNOSIS_CODES = [  # neuro, dementia, lifelong, reversible, unrelated; dotted and not
    "G62.9",
    "R20.2",
    "G63",
    "R26.0",
    "F03.90",
    "D51.0",
    "K29.40",
    "Z98.84",
    "D51.3",
    "I10",
    "E11.9",
    "E119",
    "J45.909",
    "M54.5",
    "N18.3",
    "D510",
]


def diagnosis_sql(n: int, patients: int) -> str:
    return f"""
    SELECT pid(h(j, 'dpat') % {patients}) AS patient_id,
        pick({_lit(DIAGNOSIS_CODES)}, h(j, 'dcode')) AS code,
        'ICD10CM' AS code_system,
        iso(clock(9 * 60) + to_days(CAST(h(j, 'dday') % {DAYS} AS INT)), false) AS recorded_at,
        home_site(h(j, 'dpat') % {patients}) AS site
    FROM range({n}) t(j)
    """


def generate(lab_rows: int, out: Path, seed: int = 42) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    patients = max(1, lab_rows // LAB_ROWS_PER_PATIENT)
    med_rows = max(1, lab_rows // LAB_ROWS_PER_MED_ROW)
    con = duckdb.connect()
    # Keep row order = range order (deterministic files); cap memory well under the machine's.
    con.execute("SET preserve_insertion_order = true; SET memory_limit = '4GB'")
    con.execute(macros(int(seed)))
    plan = {
        "lab_results": (lab_sql(lab_rows, patients), lab_rows),
        "medications": (medication_sql(med_rows, patients), med_rows),
        "patients": (patient_sql(patients), patients),
        "diagnoses": (diagnosis_sql(med_rows // 2, patients), med_rows // 2),
    }
    for name, (sql, _) in plan.items():
        target = out / f"{name}.csv"
        # COPY's path is a literal; the out dir comes from the caller, so quote it properly.
        con.execute(f"COPY ({sql}) TO {_lit(str(target))} (HEADER, DELIMITER ',')")
    con.close()
    return {name: rows for name, (_, rows) in plan.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.lab_rows < 1:
        parser.error("--lab-rows must be at least 1")
    started = time.perf_counter()
    counts = generate(args.lab_rows, args.out, args.seed)
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in args.out.glob("*.csv")) / 1e6
    print(
        f"wrote {args.out}: "
        + ", ".join(f"{k}={v:,}" for k, v in counts.items())
        + f" ({size:,.0f} MB) in {seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
