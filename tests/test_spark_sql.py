"""Every SQL file translates to Spark SQL, and what has no faithful translation is refused.

No Spark here: sqlglot alone. tests/test_spark_equivalence.py runs the translations on
Spark and compares their rows with DuckDB's.
"""

from __future__ import annotations

import pytest

from transforms.spark_sql import NotPortable, macros, translate
from transforms.sqlfiles import PARAMETER, sql_dir

SQL_FILES = sorted(
    str(p.relative_to(sql_dir())) for p in sql_dir().rglob("*.sql") if p.name != "macros.sql"
)


@pytest.mark.parametrize("relative", SQL_FILES)
def test_every_sql_file_translates_without_an_unsupported_construct(relative):
    statement = translate((sql_dir() / relative).read_text(encoding="utf-8"))
    assert statement.query.strip()
    assert not PARAMETER.search(statement.query)  # parameters are :name on Spark
    for name in macros():
        assert f"{name.upper()}(" not in statement.query.upper(), f"macro {name} left in"


def test_a_create_becomes_its_query_and_target():
    statement = translate("create or replace table doses as select 1 as n from medications")
    assert statement.creates == "doses"
    assert statement.query == "SELECT 1 AS n FROM medications"


def test_parameters_stay_named():
    query = translate("select * from t where d < $medication_data_end").query
    assert query == "SELECT * FROM t WHERE d < :medication_data_end"


def test_a_macro_is_inlined_with_its_arguments():
    query = translate("select result_at_or_below(c, v, 180) from t").query
    assert query == "SELECT (c IN ('=', '<', '<=') AND v <= 180) FROM t"


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("select l[2:] from t", "list slice"),
        ("select * from a asof join b on a.k = b.k and a.t >= b.t", "ASOF join"),
        ("select 1 as a union all by name select 2 as a", "UNION BY NAME"),
        ("select date_sub('year', b, c) from t", "date_sub(part, start, end)"),
    ],
)
def test_a_construct_spark_would_read_otherwise_is_refused(sql, construct):
    with pytest.raises(NotPortable, match=construct.replace("(", r"\(").replace(")", r"\)")):
        translate(sql)


def test_more_than_one_statement_is_refused():
    with pytest.raises(NotPortable, match="one statement"):
        translate("select 1; select 2")


@pytest.mark.parametrize(
    ("duckdb", "spark"),
    [
        ("select strlen(x) from t", "SELECT OCTET_LENGTH(x) FROM t"),  # bytes, not characters
        ("select d + to_years($n) from t", "SELECT d + MAKE_YM_INTERVAL(:n, 0) FROM t"),
        # Java's replacement syntax: $1 for a group, a literal $ escaped.
        (
            r"select regexp_replace(x, '^(a)b$', '\1$', 'g') from t",
            r"SELECT REGEXP_REPLACE(x, '^(a)b$', '$1\\$') FROM t",
        ),
    ],
)
def test_a_duckdb_function_spark_spells_otherwise_is_renamed(duckdb, spark):
    assert translate(duckdb).query == spark


def test_a_first_match_only_regexp_replace_is_refused_unless_anchored():
    with pytest.raises(NotPortable, match="first match only"):
        translate("select regexp_replace(x, 'a', 'b') from t")
    # Anchored at both ends, it can match once only: the same on both engines.
    assert translate("select regexp_replace(x, '^a$', 'b') from t").query
