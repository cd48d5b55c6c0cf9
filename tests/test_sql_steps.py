"""The SQL steps: each file declares what it creates and reads, and the runner orders them
from those declarations. sqlglot, a SQL parser independent of the runner, checks that each
declaration is what the SQL really reads."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from transforms.rules.steps import StepError, affected_by, declared, ordered, step, steps_in

FOLDERS = ("derive", "populations", "rules", "report", "load")
ALL_STEPS = steps_in(*FOLDERS)


def parsed_tables(text: str) -> tuple[set[str], set[str]]:
    """(created, read) by the statements of one SQL file, CTE names aside."""
    created, referenced, ctes = set(), set(), set()
    for statement in sqlglot.parse(text, read="duckdb"):
        if statement is None:
            continue
        ctes |= {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        if isinstance(statement, exp.Create) and statement.args.get("kind") == "TABLE":
            target = statement.this
            created.add((target if isinstance(target, exp.Table) else target.this).name)
        referenced |= {table.name for table in statement.find_all(exp.Table)}
    return created, referenced - ctes - created


@pytest.mark.parametrize("s", ALL_STEPS, ids=lambda s: s.file)
def test_each_file_declares_exactly_the_tables_it_creates_and_reads(s):
    created, read = parsed_tables(s.sql())
    assert s.creates == created, f"sql/{s.file}: '-- Creates:' says {sorted(s.creates)}"
    assert s.reads == read, (
        f"sql/{s.file}: '-- Reads:' says {sorted(s.reads)}, SQL reads {sorted(read)}"
    )


def test_every_step_can_be_ordered_and_each_runs_after_what_it_reads():
    order = ordered(ALL_STEPS)
    assert sorted(s.file for s in order) == sorted(s.file for s in ALL_STEPS)
    made_at = {table: i for i, s in enumerate(order) for table in s.creates}
    for i, s in enumerate(order):
        assert all(made_at.get(table, -1) < i for table in s.reads), s.file


def test_each_derived_table_has_one_file_named_for_it():
    for s in steps_in("derive"):
        assert s.creates == {s.name}, s.file


def test_rules_and_populations_create_nothing_they_are_rows_of_one_table():
    assert not any(s.creates for s in steps_in("rules", "populations"))


def test_a_step_reading_a_table_nothing_creates_is_named(sql_copy):
    (sql_copy / "derive" / "stray.sql").write_text(
        "-- A stray step.\n-- Creates: stray\n-- Reads: no_such_table\n"
        "create or replace table stray as select * from no_such_table\n"
    )
    with pytest.raises(StepError, match="sql/derive/stray.sql reads no_such_table"):
        ordered(steps_in("derive"))


def test_steps_reading_each_other_in_a_cycle_stop_the_run(sql_copy):
    (sql_copy / "derive" / "b12_doses.sql").write_text(
        "-- Made circular.\n-- Creates: b12_doses\n-- Reads: b12_courses\n"
        "create or replace table b12_doses as select * from b12_courses\n"
    )
    with pytest.raises(StepError, match="cycle"):
        ordered(steps_in("derive"))


def test_a_header_may_list_its_tables_over_several_lines():
    text = "-- Something.\n-- Reads: a, b\n-- Reads: c\n-- Creates: d\ncreate table d as select 1\n"
    assert declared(text) == {"Reads": {"a", "b", "c"}, "Creates": {"d"}}


def test_only_the_leading_comment_block_declares():
    text = "-- Reads: a\nselect 1\n-- Reads: b\n"
    assert declared(text) == {"Reads": {"a"}, "Creates": set()}


def test_a_switch_reruns_the_steps_that_bind_it_and_everything_downstream():
    affected = [s.file for s in affected_by("folate_scope", steps_in("derive", "rules"))]
    assert affected == ["derive/folate_episodes.sql", "rules/folate_before_b12.sql"]
    dementia = [s.file for s in affected_by("neuro_include_dementia", steps_in("derive", "rules"))]
    # is_neuro is decided once, in diagnosis_concepts; every course and work-up follows it.
    assert dementia[0] == "derive/diagnosis_concepts.sql"
    assert {"derive/b12_courses.sql", "rules/neuro_normal_b12_no_metabolites.sql"} <= set(dementia)
    assert "rules/b12_deficient.sql" not in dementia


def test_the_unit_policy_reaches_every_rule_reading_b12_results():
    affected = {s.name for s in affected_by("b12_unit_policy", steps_in("derive", "rules"))}
    readers = {s.name for s in steps_in("rules") if "b12_results" in s.reads}
    assert readers <= affected
    assert step("derive/b12_results.sql").creates == {"b12_results"}
