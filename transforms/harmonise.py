"""Harmonise: map codes and units, classify results and drugs, build episodes and courses.

Code lists are data (sql/reference/concepts/<concept set>.csv, one file per concept set:
code, system, description, category, source); they are loaded into `ref_concepts` so
analysts can see exactly which codes a run used. Unit factors, drug-name patterns and
route spellings are the other reference files.
"""

from __future__ import annotations

import duckdb

from transforms.config import AuditConfig
from transforms.sqlfiles import files_in, run_file, sql_dir

CONCEPT_COLUMNS = (
    "code varchar, system varchar, description varchar, category varchar, source varchar"
)
REFERENCE_TABLES = {
    "ref_unit_conversions": "unit_conversions.csv",
    "ref_drug_names": "drug_names.csv",
    "ref_routes": "routes.csv",
}


def _read_csv(path: str) -> str:
    return f"read_csv('{path}', header = true, delim = ',', quote = '\"', all_varchar = true)"


def load_reference(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    folder = sql_dir() / "reference"
    con.execute(
        f"""
        create or replace table ref_concepts as
        select parse_filename(filename, true) as concept_set,
               trim(code) as code, system, description, category, source
        from read_csv('{folder / "concepts"}/*.csv', header = true, delim = ',', quote = '"',
                      columns = {{{_columns(CONCEPT_COLUMNS)}}}, filename = true)
        order by concept_set, code
        """
    )
    for table, file in REFERENCE_TABLES.items():
        con.execute(f"create or replace table {table} as select * from {_read_csv(folder / file)}")
    con.execute("alter table ref_unit_conversions alter factor type double")
    con.execute("alter table ref_drug_names alter priority type integer")
    con.execute("alter table ref_routes alter priority type integer")
    con.execute("create or replace table local_test_codes (local_code varchar, loinc varchar)")
    if config.local_test_codes:
        con.executemany(
            "insert into local_test_codes values (?, ?)", list(config.local_test_codes.items())
        )


def _columns(spec: str) -> str:
    pairs = [part.strip().split(" ") for part in spec.split(",")]
    return ", ".join(f"'{name}': '{kind}'" for name, kind in pairs)


def write_scope(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> dict:
    """The extract's first and last dates and whether it had diagnoses, as table
    `audit_scope`, so every later step (and an analyst) reads the same facts.

    data_end is as_of_date, else the latest date anywhere in the extract; data_start is
    the earliest lab or medication date (the look-back for "new course" needs drug history). A diagnoses file counts as present even when empty: without one, the
    findings that need diagnoses are 'not evaluable', never silently zero.
    """
    con.execute(
        """
        create or replace table audit_scope as
        with dates as (
            select min(collected_at) as first, max(greatest(collected_at,
                coalesce(resulted_at, collected_at))) as last from lab_results
            union all select min(event_at), max(event_at) from medications
            union all select null, max(recorded_at) from diagnoses
        )
        select
            -- Not from diagnoses: problem lists carry codes recorded years before the
            -- extract's labs and drugs begin, which would make every course look "new".
            min(first)::date as data_start,
            coalesce($as_of::date, max(last)::date) as data_end,
            (select count(*) > 0 from duckdb_views()
             where schema_name = 'staging' and view_name like 'raw_diagnoses_%')
                as diagnoses_present
        from dates
        """,
        {"as_of": config.as_of_date},
    )
    return scope(con)


def scope(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute("select data_start, data_end, diagnoses_present from audit_scope")
    names = [d[0] for d in row.description]
    return dict(zip(names, row.fetchall()[0], strict=True))


def derive(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    for file in files_in("derive"):
        run_file(con, file, params)
