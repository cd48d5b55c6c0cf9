"""Harmonise: map codes and units, classify results and drugs, build episodes and courses.

Code lists are data (sql/reference/concepts/<concept set>.csv, one file per concept set:
code, system, description, category, source); they are loaded into `ref_concepts` so
analysts can see exactly which codes a run used. Unit factors, drug-name patterns and
route spellings are the other reference files.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms.config import AuditConfig
from transforms.inputs.adapters import omop
from transforms.rules import populations, registry
from transforms.rules.steps import ordered, steps_in
from transforms.sqlfiles import run_file, sql_dir

# Every concept file has these columns, all read as text.
CONCEPT_COLUMNS = (
    "{'code': 'varchar', 'system': 'varchar', 'description': 'varchar', "
    "'category': 'varchar', 'source': 'varchar'}"
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
                      columns = {CONCEPT_COLUMNS}, filename = true)
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
    if config.vocabulary_dir:
        omop.vocabulary_classes(con, Path(config.vocabulary_dir))
    _load_source_code_maps(con)
    registry.write_tables(con, config, populations.labels())


def _load_source_code_maps(con: duckdb.DuckDBPyConnection) -> None:
    """Code maps the source format supplied (a site mapping file, an OMOP vocabulary):
    its local test codes join the configuration's (which win on a clash), and its drug
    classes become table source_drug_classes for sql/derive/medication_classes.sql."""
    con.execute(
        "insert into local_test_codes select distinct local_code, loinc "
        "from staging.source_test_codes where local_code not in (select local_code from "
        "local_test_codes)"
    )
    con.execute(
        "create or replace table source_drug_classes as select distinct "
        "lower(trim(drug_key)) as drug_key, drug_class, precedence "
        "from staging.source_drug_classes"
    )


SCOPE = """
create or replace table audit_scope as
with labs as (
    select
        min(collected_at)::date as first,
        max(greatest(collected_at, coalesce(resulted_at, collected_at)))::date as last
    from lab_results as l
    left join local_test_codes as m on m.local_code = l.test_code
    where coalesce(m.loinc, l.test_code) not in (
        select code from ref_concepts where concept_set = 'lab_esr')
),
meds as (select min(event_at)::date as first, max(event_at)::date as last
         from medications)
select
    meds.first as medication_data_start,
    coalesce($as_of::date, meds.last) as medication_data_end,
    coalesce($as_of::date, labs.last) as lab_data_end,
    coalesce($as_of::date, greatest(labs.last, meds.last)) as data_end,
    greatest(labs.first, meds.first) as data_start,
    $diagnoses_present as diagnoses_present
from labs, meds
"""


def scope_parameters(config: AuditConfig, diagnoses_present: bool) -> dict[str, object]:
    return {"as_of": config.as_of_date, "diagnoses_present": diagnoses_present}


def diagnoses_file(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the extract had a diagnoses file (ingest made a staging view of it)."""
    return con.execute(
        "select count(*) > 0 from duckdb_views() "
        "where schema_name = 'staging' and view_name like 'raw_diagnoses_%'"
    ).fetchall()[0][0]


def write_scope(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> dict:
    """What the extract covers, as table `audit_scope`, so every later step (and an
    analyst) reads the same facts. Each question is asked of the source it is about:

    lab_data_end          latest lab collection or result date (ESR rows, by LOINC or a
                          local code mapped to one, excluded: a
                          descriptive test must not move any decision), for "pending";
    medication_data_start earliest medication event: a course is new only if the drug
                          history reaches back far enough;
    medication_data_end   latest medication event, for "stopped" and loading windows;
    data_end              the later of the two ends, for the report header;
    data_start            the later of the first lab and the first medication event: from
                          then on both histories exist, so a measure's look-back that
                          reaches before it is not evaluable (sql/report/measures.sql).
    as_of_date, when set, is every end. Diagnoses never set a date: problem lists carry
    codes recorded years before, or after, the extract's labs and drugs. A diagnoses file
    counts as present even when empty: without one, the findings that need diagnoses are
    'not evaluable', never silently zero.
    """
    con.execute(SCOPE, scope_parameters(config, diagnoses_file(con)))
    return scope(con)


def scope(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute("select * from audit_scope")
    names = [d[0] for d in row.description]
    return dict(zip(names, row.fetchall()[0], strict=True))


def parameters(config: AuditConfig, scope: dict) -> dict[str, object]:
    """What sql/ files bind as `$name`: the configuration's values and the extract's scope
    (data ends, diagnoses present). The one place they are put together."""
    return {**config.sql_params(), **scope}


def run_parameters(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> dict[str, object]:
    """`parameters` with the scope this build database recorded (table audit_scope)."""
    return parameters(config, scope(con))


def derive(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> None:
    """Every sql/derive step, each after the steps creating what it reads."""
    for step in ordered(steps_in("derive")):
        run_file(con, step.file, params)
