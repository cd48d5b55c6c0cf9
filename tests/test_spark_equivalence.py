"""The audit on Apache Spark (engine = "spark") gives DuckDB's audit, row for row.

One local Spark (local[2]; files read in 16 KB blocks, so line numbers are counted across
blocks) for the module. data/sample runs as `b12audit run` runs it on each engine: every
table of the analysts' database and every output file must be the same, run ids and times
aside. Extracts whose rows fail every kind of check, as CSV and as Parquet, must give the
same quarantine (file, line, table, column, check, value) and the same loaded rows. Then
the rules' spec tests run again with every extract on both engines.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import spark_check
from tests.conftest import REPO, SAMPLE, publish_run, run_stages
from transforms.config import AuditConfig
from transforms.errors import ConfigError, InputError
from transforms.inputs.ingest import lookup
from transforms.operations import sequence
from transforms.rules.steps import steps_in
from transforms.spark_connection import SparkConnection
from transforms.spark_sql import NotPortable, translate

# Tables that name the run (its id, when it ran): compared without those columns.
RUN_TABLES = {
    "run_log": None,
    "run_metadata": None,
    "measure_published": ["run_id", "first_run_id"],
}


@pytest.fixture(scope="module")
def spark():
    return spark_check.session()


@pytest.fixture(scope="module")
def on_spark(spark, tmp_path_factory) -> dict:
    config = spark_check.on_spark(AuditConfig())
    return publish_run(SAMPLE, tmp_path_factory.mktemp("published-on-spark"), config)


def tables(db: Path) -> dict[str, list[str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_name, list(column_name order by column_index) from duckdb_columns() "
            "join duckdb_tables() using (schema_name, table_name) "
            "where schema_name = 'main' group by all order by all"
        ).fetchall()
    return dict(rows)


def test_every_table_of_the_analysts_database_is_the_same(published_sample, on_spark):
    duck_db, spark_db = Path(published_sample["database"]), Path(on_spark["database"])
    listed = tables(duck_db)
    assert tables(spark_db) == listed  # the same tables, the same columns, in order
    assert len(listed) > 40
    differ = []
    for table, columns in listed.items():
        if table in RUN_TABLES and RUN_TABLES[table] is None:
            continue
        kept = [c for c in columns if c not in (RUN_TABLES.get(table) or [])]
        duck, spark = (
            spark_check.rows(duck_db, table, kept),
            spark_check.rows(spark_db, table, kept),
        )
        if duck != spark:
            differ.append(table)
    assert not differ


@pytest.mark.parametrize("table", ["findings", "population_units", "quarantine", "worklist_items"])
def test_the_tables_a_team_acts_on_are_not_empty(on_spark, table):
    # Equal tables prove something only where they hold rows.
    assert spark_check.rows(Path(on_spark["database"]), table)


def test_every_rule_finds_someone_on_the_sample(on_spark):
    found = spark_check.rows(Path(on_spark["database"]), "findings", ["finding"])
    assert {f for (f,) in found} == {s.name for s in steps_in("rules")}


def output_files(run_dir: Path) -> dict[str, str]:
    """Every output file's text, the run's id and times masked; the report page and the
    manifest aside (they name the engine, and the files' hashes DuckDB takes)."""
    run_id = run_dir.name
    texts = {}
    for path in sorted(run_dir.rglob("*")):
        relative = str(path.relative_to(run_dir))
        if path.is_dir() or "parquet" in path.parts or path.suffix in (".xlsx", ".png", ".pdf"):
            continue
        if path.name in ("report.html", "manifest.json"):
            continue
        text = path.read_text(encoding="utf-8").replace(run_id, "RUN")
        texts[relative] = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "TIME", text)
    return texts


def test_every_output_file_is_the_same(published_sample, on_spark):
    duck = output_files(Path(published_sample["run_dir"]))
    spark = output_files(Path(on_spark["run_dir"]))
    assert len(duck) > 20 and "patient_level/findings.csv" in duck
    assert sorted(spark) == sorted(duck)
    assert [name for name in duck if spark[name] != duck[name]] == []


def test_findings_units_measures_and_quarantine_are_written_as_parquet(on_spark):
    parquet = Path(on_spark["run_dir"]) / "patient_level" / "parquet"
    assert {p.name for p in (parquet / "findings").iterdir() if p.is_dir()} >= {
        "site=north",
        "site=south",
    }
    assert any((parquet / "population_units").glob("site=*/*.parquet"))
    assert any((parquet / "quarantine").glob("table_name=lab_results/*.parquet"))
    measures = fetch(f"select distinct site from read_parquet('{parquet}/measures/**/*.parquet')")
    assert {s for (s,) in measures} == {"all sites", "north", "south"}
    findings = fetch(f"select count(*) from read_parquet('{parquet}/findings/**/*.parquet')")
    assert findings[0][0] == len(spark_check.rows(Path(on_spark["database"]), "findings"))


def fetch(sql: str) -> list[tuple]:
    """A query's rows on a connection of its own (never the process's default one)."""
    with duckdb.connect() as con:
        return con.execute(sql).fetchall()


# --- Input: every kind of bad row, numbered across blocks, on both engines.


def lab_lines(n: int) -> list[str]:
    """n valid lab rows, B12 results across 2024 (a rule's evidence, and a bulk of dates)."""
    return [
        f"P{i:04d},2132-9,Vitamin B12,{150 + i % 300},pg/mL,"
        f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T08:30:00,,L{i:06d},{('north', 'south')[i % 2]}"
        for i in range(n)
    ]


HEADER = "patient_id,test_code,test_name,result,unit,collected_at,resulted_at,result_id,site"


def hostile_extract(folder: Path) -> Path:
    """Lab rows with a bad row of every kind spread over many blocks, BOM, blank lines,
    CRLF medications, a column the schema does not know, duplicate result ids."""
    folder.mkdir()
    lines = lab_lines(1200)
    bad = {
        5: ",2132-9,Vitamin B12,150,pg/mL,2024-01-01,,L900001,north",  # no patient
        300: "P9001,2132-9,Vitamin B12,150,pg/mL,2024-02-30,,L900002,north",  # no such day
        420: "P9002,2132-9,Vitamin B12,150,pg/mL,2024-01-01,,L900003,north,extra",
        421: "P9003,2132-9,Vitamin B12",  # too few fields
        600: "",
        601: "   \t ",
        700: 'P9004,2132-9,"Vitamin B12, serum",150,pg/mL,2024-03-01,,L900004,north',
        800: "P9005,2132-9,Vitamin B12,150,pg/mL,1900-01-01,,L900005,north",  # implausible
        900: "P0001,2132-9,Vitamin B12,151,pg/mL,2024-02-02T08:30:00,,L000001,north",  # dup id
        950: "P9006,2132-9,Vitamin B12,150,pg/mL,2024-05-01,,L000002,south",  # dup id, differs
        1000: "Pe\u0301\u200b9,2132-9,Vitamin B12,150,pg/mL,2024-05-01,,L900006,south",
        1100: "P9007,2132-9,Vitamin B12,150,pg/mL,2024-05-01T08:30:00+01:00,,L900007,north",
        1150: "P9008,2132-9,NA,150,n/a,2024-05-01,,L900008,null",  # text, not nulls
    }
    for at in sorted(bad, reverse=True):
        lines.insert(at, bad[at])
    (folder / "lab_results.csv").write_text("\ufeff" + HEADER + "\n" + "\n".join(lines) + "\n")
    meds = ["patient_id,drug_code,drug_name,event_type,event_at,dose,dose_unit,route,site"]
    meds += [
        f"P{i:04d},,Hydroxocobalamin 1 mg/mL,administered,2024-06-01,1,mg,IM,north"
        for i in range(40)
    ]
    meds += ["P9010,,,administered,2024-06-01,1,mg,IM,north"]  # neither code nor name
    (folder / "medications.csv").write_bytes(("\r\n".join(meds) + "\r\n").encode())
    (folder / "patients.csv").write_text(
        "patient_id,sex,birth_date,site,comment\nP0001,F,1950-01-01,north,x\nP0002,X,1950-13-01,south,y\n"
    )
    return folder


LOADED = ("lab_results", "medications", "patients", "quarantine", "identifier_changes")


def compare_builds(folder: Path, work: Path, config: AuditConfig) -> Path:
    duck_db = run_stages(folder, config, work / "duckdb")
    spark_db = spark_check.build_on_spark(folder, config, work / "spark")
    for table in LOADED:
        assert not spark_check.differences(duck_db, spark_db, table)
    return duck_db


def test_a_hostile_csv_extract_gives_the_same_quarantine_and_rows(spark, tmp_path):
    config = AuditConfig(max_quarantine_fraction=0.5)
    duck_db = compare_builds(hostile_extract(tmp_path / "in"), tmp_path, config)
    checks = {c for (c,) in spark_check.rows(duck_db, "quarantine", ["check_name"])}
    # Every kind of failure above happened (else the comparison proves less than it says).
    assert checks >= {
        "not_nullable",
        "iso_date",
        "csv_too_many_columns",
        "csv_missing_columns",
        "date_implausible",
        "duplicate_result_id",
        "duplicate_identical",
        "drug_code_or_name",
    }
    assert spark_check.rows(duck_db, "identifier_changes")


CSV = "delim = ',', quote = '\"', header = true, all_varchar = true, ignore_errors = true"


def test_a_typed_parquet_extract_gives_the_same_rows(spark, tmp_path):
    # Dates and times typed (a time zone too); a value that does not cast is null, and
    # fails its check on both engines.
    folder = tmp_path / "parquet"
    folder.mkdir()
    typed = {
        "lab_results": "try_cast(collected_at as timestamp) as collected_at, "
        "try_cast(resulted_at as timestamptz) as resulted_at",
        "medications": "try_cast(event_at as date) as event_at",
        "patients": "try_cast(birth_date as date) as birth_date",
    }
    with duckdb.connect() as con:
        for table in ("lab_results", "medications", "patients", "diagnoses"):
            columns = f"* replace ({typed[table]})" if table in typed else "*"
            source = f"read_csv('{SAMPLE / table}.csv', {CSV})"
            con.execute(f"copy (select {columns} from {source}) to '{folder / table}.parquet'")
    duck_db = compare_builds(folder, tmp_path, AuditConfig(max_quarantine_fraction=0.5))
    assert len(spark_check.rows(duck_db, "lab_results")) > 1000


def test_too_many_bad_rows_stop_both_engines_on_the_same_file(spark, tmp_path):
    # DuckDB stops reading a file once it passes the limit, so its count is a lower bound;
    # Spark has checked every row (and the implausible dates and duplicates) by then.
    folder = hostile_extract(tmp_path / "in")
    stops = {}
    for engine, build in (("duckdb", run_stages), ("spark", spark_check.build_on_spark)):
        with pytest.raises(InputError) as stopped:
            build(folder, AuditConfig(max_quarantine_fraction=0.001), tmp_path / engine)
        summary = next((tmp_path / engine).glob("runs/*/shareable/quarantine_summary.csv"))
        assert "lab_results.csv" in summary.read_text()
        stops[engine] = re.match(
            r"(\S+): (\d+) of (\d+) rows failed validation, more than", str(stopped.value)
        )
    duck, spark = stops["duckdb"], stops["spark"]
    assert duck and spark
    assert (spark[1], spark[3]) == (duck[1], duck[3]) == ("lab_results.csv", "1211")
    assert int(spark[2]) >= int(duck[2]) > 1


def test_a_format_spark_does_not_read_is_refused_by_name(spark, tmp_path):
    with pytest.raises(InputError, match="FHIR and site folders run on engine = duckdb"):
        spark_check.build_on_spark(SAMPLE / "fhir", AuditConfig(), tmp_path / "fhir")
    with pytest.raises(InputError, match="format 'site' does not run on the Spark engine"):
        spark_check.build_on_spark(SAMPLE / "site", AuditConfig(), tmp_path / "site", "site")


ADAPTER_SPEC_TESTS = [
    "tests/test_format_omop.py",
    "tests/test_format_meds.py",
    "tests/test_formats_agree.py",
]


def test_every_omop_and_meds_mapping_test_gives_the_same_rows_on_spark():
    # Each OMOP and MEDS mapping test's folder (CSV and Parquet, tab-separated vocabularies,
    # unknown operators, visits, code patterns, shards at any depth, the real Synthea27Nj
    # extract) is read on both engines: the same files and rows read, rows loaded,
    # quarantine and source codes, or the same message when DuckDB stops. The committed
    # OMOP and MEDS samples (test_formats_agree) run on both to their findings, population
    # units and quarantine.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *ADAPTER_SPEC_TESTS,
         "-k", "not formats_agree or omop or meds"],
        cwd=REPO,
        env=os.environ | {spark_check.VARIABLE: "1"},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_a_scheduled_run_on_spark_is_refused(tmp_path):
    run = sequence.Run(SAMPLE, tmp_path, spark_check.on_spark(AuditConfig()))
    reads = sequence.FromHistory(tmp_path / "history.duckdb", [], None)
    with pytest.raises(ConfigError, match="one-off"):
        sequence.build(run, sequence.Runner(), reads)


ORDERED_LISTS = """
    select
        g,
        list(v order by k) as ascending,
        list(v order by k desc) as descending,
        list(v order by k nulls first, v desc) as nulls_first,
        list(v order by k) filter (where v <> 'b') as filtered,
        list(v order by k) filter (where v = 'none') as empty_is_null
    from lists
    group by g
"""


def test_an_ordered_list_keeps_duckdbs_order_nulls_and_empty_groups(spark):
    # sqlglot alone writes COLLECT_LIST: no order, NULL values dropped, [] for no rows.
    rows = [(1, 3, "a"), (1, None, "b"), (1, 1, None), (1, 2, "d"), (2, None, "e"), (2, 5, "f")]
    expected = [
        (1, [None, "d", "a", "b"], ["a", "d", None, "b"], ["b", None, "d", "a"], ["d", "a"], None),
        (2, ["f", "e"], ["f", "e"], ["e", "f"], ["f", "e"], None),
    ]
    duck = duckdb.connect()
    duck.execute("create table lists (g int, k int, v varchar)")
    duck.executemany("insert into lists values (?, ?, ?)", rows)
    spark.createDataFrame(rows, "g int, k int, v string").createOrReplaceTempView("lists")
    assert sorted(duck.execute(ORDERED_LISTS).fetchall()) == expected
    got = [tuple(r) for r in spark.sql(translate(ORDERED_LISTS).query).collect()]
    assert sorted(got) == expected


def test_a_regexp_replacement_group_means_the_same_on_both_engines(spark):
    sql = r"select regexp_replace('2024-05-01T08:30', '^(\d{4}-\d\d-\d\d)T.*$', '\1 $', 'g')"
    duck = fetch(sql)[0][0]
    assert duck == "2024-05-01 $"
    assert spark.sql(translate(sql).query).first()[0] == duck


# The rules' spec tests: small tables of patients at each boundary and tie of every rule.
SPEC_TESTS = [
    "tests/test_b12_classes.py",
    "tests/test_b12_courses.py",
    "tests/test_esr_independence.py",
    "tests/test_folate_before_b12.py",
    "tests/test_mma_work_up.py",
    "tests/test_monitoring_and_tags.py",
    "tests/test_neuro_work_up.py",
    "tests/test_on_treatment.py",
    "tests/test_oral_regimen.py",
    "tests/test_populations.py",
    "tests/test_untreated_deficiency.py",
]


def test_every_rule_has_a_spec_test_among_those_run_on_spark():
    text = "".join((REPO / f).read_text() for f in SPEC_TESTS)
    missing = [s.name for s in steps_in("rules") if f'"{s.name}"' not in text]
    assert not missing


def test_every_rules_spec_tests_give_the_same_rows_on_spark():
    # Each spec test's extract runs on both engines from its files (tests/spark_check.py):
    # the same findings, population units, quarantine and scope, or the spec test fails
    # with the rows that differ.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SPEC_TESTS],
        cwd=REPO,
        env=os.environ | {spark_check.VARIABLE: "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_the_adapter_sql_runs_on_spark_as_duckdb_runs_it(spark):
    # transforms/spark_connection.py: a table is a view whose inserts are cast to its types
    # by position, ingest.lookup's device is the table itself, and a statement it cannot
    # run is refused by name.
    con = SparkConnection(spark)
    con.execute("create table staging.codes (concept_id bigint, code varchar)")
    con.execute("insert into staging.codes select '7' as a, 42 as b")
    con.executemany("insert into staging.codes values (?, ?)", [(8, "x")])
    looked_up = con.execute(
        f"select concept_id, code from {lookup('staging.codes')} as c "
        "where list_contains($wanted, concept_id) order by 1",
        {"wanted": [7, 8]},
    ).fetchall()
    assert looked_up == [(7, "42"), (8, "x")]
    with pytest.raises(NotPortable, match="delete statements do not run"):
        con.execute("delete from staging.codes")


def test_a_meds_extract_reads_numbers_and_times_as_duckdb_does(spark, tmp_path):
    # Floating-point results as DuckDB writes them (0.1 of a float32 is "0.1", a double
    # 1e-05 is "1e-05"), midnight as a date, a zoned time in UTC, a site's own pattern
    # (a named group) before the defaults, an extra double column: the same rows loaded.
    folder = tmp_path / "meds"
    day = dt.datetime(2024, 5, 1, 8, 30)
    numbers = [0.1, 7.3, 1e-05, 123456789.0, 12.5, 1e16, None, float("nan")]
    rows = [
        {"subject_id": i, "time": day + dt.timedelta(days=i), "code": "LAB//51010//pg/mL",
         "numeric_value": v, "text_value": None, "dose": v}
        for i, v in enumerate(numbers)
    ]  # fmt: skip
    rows += [
        {"subject_id": 1, "time": dt.datetime(2024, 6, 1), "code": "LOCAL//B12//pmol/L",
         "numeric_value": 150.0, "text_value": None, "dose": None},
        {"subject_id": 1, "time": None, "code": "MEDS_BIRTH", "numeric_value": None,
         "text_value": None, "dose": None},
    ]  # fmt: skip
    schema = pa.schema(
        [("subject_id", pa.int64()), ("time", pa.timestamp("us", tz="Europe/London")),
         ("code", pa.string()), ("numeric_value", pa.float32()), ("text_value", pa.string()),
         ("dose", pa.float64())]
    )  # fmt: skip
    (folder / "data" / "train").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "data/train/0.parquet")
    (folder / "meds_codes.csv").write_text(
        "pattern,table,time_column,constants,note\n"
        "^LOCAL//(?P<test_code>[^/]+)//(?P<unit>.*)$,lab_results,,,a site's own lab code\n"
    )
    duck_db = run_stages(folder, AuditConfig(max_quarantine_fraction=1.0), tmp_path / "duck")
    spark_db, _ = spark_check.load_on_spark(
        folder, AuditConfig(max_quarantine_fraction=1.0), tmp_path / "spark", "meds"
    )
    for table in spark_check.LOADED:
        assert not spark_check.differences(duck_db, spark_db, table)
    results = {r for (r,) in spark_check.rows(duck_db, "lab_results", ["result"])}
    assert {"0.1", "7.3", "1e-05", "123456790.0", "12.5", "1e+16", "150.0"} <= results
