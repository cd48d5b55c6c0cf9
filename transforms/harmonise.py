"""Harmonise: map codes and units, classify results and drugs, build folate episodes.

Reference lists (sql/reference/*.csv) are loaded as ref_* tables so analysts can see
which codes, units and name patterns a run used.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from transforms.config import AuditConfig
from transforms.sqlfiles import files_in, run_file, sql_dir

REFERENCE_TABLES = {
    "ref_lab_tests": "lab_tests.csv",
    "ref_unit_conversions": "unit_conversions.csv",
    "ref_drug_codes": "drug_codes.csv",
    "ref_drug_names": "drug_names.csv",
}


def load_reference(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    for table, file in REFERENCE_TABLES.items():
        con.execute(
            f"create or replace table {table} as select * from read_csv($p, header = true, "
            "delim = ',', quote = '\"', auto_detect = true)",
            {"p": str(sql_dir() / "reference" / file)},
        )
    con.execute("alter table ref_unit_conversions alter factor type double")
    con.execute("alter table ref_drug_names alter priority type integer")
    con.execute("alter table ref_drug_codes alter code type varchar")
    con.execute("create or replace table local_test_codes (local_code varchar, loinc varchar)")
    if config.local_test_codes:
        con.executemany(
            "insert into local_test_codes values (?, ?)", list(config.local_test_codes.items())
        )


def data_end(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> dt.date | None:
    """as_of_date, else the latest date anywhere in the loaded extract."""
    if config.as_of_date is not None:
        return config.as_of_date
    return con.execute(
        """
        select greatest(
            (select max(greatest(collected_at, coalesce(resulted_at, collected_at)))
             from lab_results),
            (select max(event_at) from medications))::date
        """
    ).fetchall()[0][0]


def derive(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    for file in files_in("derive"):
        run_file(con, file, params)
