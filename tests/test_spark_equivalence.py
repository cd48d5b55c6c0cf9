"""The rule steps on Apache Spark give DuckDB's rows, row for row.

One local Spark (local[2]) for the module. The sample extract is ingested, validated and
harmonised on DuckDB (the stages the Spark engine does not run yet); the tables the rule
steps read are handed to Spark, and every derive step, rule and population runs there from
the same SQL files, translated by sqlglot (transforms/spark_sql.py). Each table is then
compared with DuckDB's: the same rows, lists in the same order, and the summary counted from
Spark's findings is DuckDB's. Then the rules' spec tests run again with every extract on
both engines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests import spark_check
from tests.conftest import REPO, SAMPLE, run_stages
from transforms import database
from transforms.config import AuditConfig
from transforms.outputs import report
from transforms.rules import harmonise, populations
from transforms.rules.steps import ordered, steps_in
from transforms.spark_sql import translate


@pytest.fixture(scope="module")
def spark():
    return spark_check.session()


@pytest.fixture(scope="module")
def both(spark, tmp_path_factory):
    """The sample's rule steps run on DuckDB (the build database) and on Spark."""
    config = AuditConfig()
    db = run_stages(SAMPLE, config, tmp_path_factory.mktemp("sample"))
    with duckdb.connect(str(db), read_only=True) as con:
        spark_check.run_rules(spark, con, config)
        yield con, spark, db


def rows_of(both, table: str) -> tuple[list, list]:
    con, spark, _ = both
    return spark_check.rows_of(spark, con, table)


DERIVED = sorted(t for s in ordered(steps_in("derive")) for t in s.creates)


@pytest.mark.parametrize("table", DERIVED)
def test_every_derived_table_is_the_same(both, table):
    duck, spark = rows_of(both, table)
    assert duck, f"{table} is empty on the sample: the comparison would prove nothing"
    assert spark == duck


def test_findings_are_the_same_row_for_row(both):
    duck, spark = rows_of(both, "findings")
    assert len(duck) > 500
    assert spark == duck


def test_population_units_are_the_same_row_for_row(both):
    duck, spark = rows_of(both, "population_units")
    assert len(duck) > 500
    assert spark == duck


def summary(db: Path, tables: dict | None = None) -> pd.DataFrame:
    """The shareable summary a copy of the build database gives, with `tables` (name: Arrow
    table) in place of its own: counted on the driver, as the report stage counts it."""
    config = AuditConfig()
    copy = db.with_name(f"summary-{len(tables or {})}.duckdb")
    shutil.copyfile(db, copy)
    with database.connect(copy) as con:
        for name, rows in (tables or {}).items():
            con.register("given", rows)
            con.execute(f"delete from {name}")
            con.execute(f"insert into {name} by name select * from given")
            con.unregister("given")
        populations.build(con, harmonise.run_parameters(con, config))
        return report.shareable_summary(con, config)


def test_the_summary_counted_from_sparks_findings_and_units_is_duckdbs(both):
    _, spark, db = both
    sparks = {t: spark.table(t).toArrow() for t in ("findings", "population_units")}
    from_spark, from_duckdb = summary(db, sparks), summary(db)
    assert len(from_duckdb) > 10
    pd.testing.assert_frame_equal(from_spark, from_duckdb)


def test_every_rule_finds_someone_on_the_sample(both):
    # Equal tables prove most when no rule is silently empty on both engines.
    _, spark, _ = both
    found = {r.finding for r in spark.sql("select distinct finding from findings").collect()}
    assert found == {s.name for s in steps_in("rules")}


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
    # Each spec test's extract runs on both engines (tests/spark_check.py): the same
    # findings and population units, or the spec test fails with the rows that differ.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SPEC_TESTS],
        cwd=REPO,
        env=os.environ | {spark_check.VARIABLE: "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
