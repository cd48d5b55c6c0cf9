"""The finding registry (sql/rules/<finding>.toml): every rule has a complete entry, and the
entry agrees with its SQL. A missing entry, a missing field or a reason the SQL gives that
the entry does not know fails here, before it can fail a run."""

from __future__ import annotations

import json

import pytest
import sqlglot
from sqlglot import exp

from tests.conftest import REPO
from transforms.config import AuditConfig
from transforms.rules.registry import REQUIRED, RegistryError, registry, render
from transforms.rules.steps import ordered, step, steps_in
from transforms.sqlfiles import sql_dir

FINDINGS = list(registry().values())
GUIDELINE = REPO.parent / "shared" / "guideline.txt"


def test_every_rule_has_an_entry_and_every_entry_a_rule():
    rules = {s.name for s in steps_in("rules")}
    entries = {p.stem for p in (sql_dir() / "rules").glob("*.toml")}
    assert rules == entries == set(registry())


def _branch_literals(node: exp.Expression | None) -> set[str]:
    """The string values an expression can take: a literal, or the branches of a CASE or
    IF (a column passes its table's values through: read where that table is made)."""
    if isinstance(node, exp.Literal) and node.is_string:
        return {node.this}
    if isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args["ifs"]] + [node.args.get("default")]
        return set().union(*(_branch_literals(b) for b in branches))
    if isinstance(node, exp.If):
        return _branch_literals(node.args.get("true")) | _branch_literals(node.args.get("false"))
    return set()


def sql_reasons(rule: str) -> set[str]:
    """Every value the SQL can give a column named `reason`, in the rule and in the derive
    steps it reads from, directly or not."""
    own = step(f"rules/{rule}.sql")
    statements = sqlglot.parse(own.sql(), read="duckdb")
    names = {c.name for s in statements for c in s.find_all(exp.Column)}
    names |= {a.alias for s in statements for a in s.find_all(exp.Alias)}
    if "reason" not in names:
        # No reason of its own and none passed through, though it may read a table that
        # holds another finding's reasons (b12_functional_deficiency: confirmed_deficiencies).
        return set()
    upstream, tables = [own], set(own.reads)
    for s in reversed(ordered(steps_in("derive"))):
        if s.creates & tables:
            upstream.append(s)
            tables |= s.reads
    found = set()
    for s in upstream:
        for statement in sqlglot.parse(s.sql(), read="duckdb"):
            for alias in statement.find_all(exp.Alias):
                if alias.alias == "reason":
                    found |= _branch_literals(alias.this)
    return found


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.name)
def test_the_entry_lists_exactly_the_reasons_its_sql_can_give(finding):
    listed = {r for r in finding.reason_names if r is not None}
    assert sql_reasons(finding.name) == listed


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.name)
def test_only_care_gaps_are_worked_and_each_says_what_shows_it_was_acted_on(finding):
    if finding.kind != "care_gap":
        assert not finding.worked
        return
    assert all(r.action and r.severity for r in finding.reasons)
    # Loading cannot be redone, nor a dose seen changed: these stay open until annotated.
    followed = [r for r in finding.reasons if not r.window_open and r.acted_by]
    unfollowed = {r.name for r in finding.reasons if not r.window_open and not r.acted_by}
    assert unfollowed <= {"under_six_doses", "neuro_not_alternate_day", "dose_below_1000_mcg"}
    assert followed or finding.name == "b12_loading_incomplete"


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.name)
def test_the_definition_and_labels_read_with_the_defaults_filled_in(finding):
    text = finding.defined(AuditConfig())
    assert "{" not in text and len(text.split()) >= 12
    assert all("{" not in render(r.label, AuditConfig()) for r in finding.reasons)


def test_a_definition_shows_this_run_s_settings():
    deficient = registry()["b12_deficient"]
    assert "below 180 pg/mL" in deficient.defined(AuditConfig())
    assert "below 200 pg/mL" in deficient.defined(AuditConfig(b12_deficient_below_pg_ml=200.0))


@pytest.mark.skipif(not GUIDELINE.exists(), reason="../shared/guideline.txt is not beside the repo")
@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.name)
def test_every_entry_quotes_the_guideline_word_for_word(finding):
    guideline = " ".join(GUIDELINE.read_text().split())
    # The guideline's citation numbers sit between sentences; "..." marks a cut.
    sentences = [s.strip(" .") for part in finding.guideline.split("...") for s in part.split(". ")]
    assert all(sentence in guideline for sentence in sentences if sentence)


def test_a_rule_without_an_entry_stops_naming_the_file(sql_copy):
    (sql_copy / "rules" / "b12_deficient.toml").unlink()
    with pytest.raises(RegistryError, match="no registry entry for b12_deficient.toml"):
        registry()


ANAEMIA = {
    "label": "Anaemia around a B12 result",
    "kind": "descriptive",
    "unit": "patient",
    "population": "patients_with_valid_b12",
    "direction": "neither",
    "guideline": "B12 deficiency causes macrocytic anemia",
    "definition": "A haemoglobin below the limit within {context_window_days} days of a B12.",
}


def write_entry(path, entry: dict) -> None:
    """A flat registry entry; JSON strings are TOML basic strings."""
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in entry.items()))


def test_a_complete_minimal_entry_loads(sql_copy):
    write_entry(sql_copy / "rules" / "anaemia.toml", ANAEMIA)
    assert registry()["anaemia"].label == "Anaemia around a B12 result"


@pytest.mark.parametrize("field", REQUIRED)
def test_an_entry_missing_a_field_stops_naming_the_file_and_field(sql_copy, field):
    write_entry(
        sql_copy / "rules" / "anaemia.toml", {k: v for k, v in ANAEMIA.items() if k != field}
    )
    with pytest.raises(RegistryError, match=f"rules/anaemia.toml: '{field}' is missing"):
        registry()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": "worry"}, "'kind' must be one of care_gap, status, descriptive"),
        ({"population": "nobody"}, "population 'nobody' has no sql/populations file"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"definition": "within {context_window} days"}, r"\{context_window\} is not a setting"),
        ({"severity": "high"}, "'severity' and 'action' go together"),
    ],
)
def test_an_entry_out_of_range_stops_naming_the_field(sql_copy, change, problem):
    write_entry(sql_copy / "rules" / "anaemia.toml", {**ANAEMIA, **change})
    with pytest.raises(RegistryError, match=f"rules/anaemia.toml: {problem}"):
        registry()


def test_a_worked_reason_without_evidence_wording_stops(sql_copy):
    path = sql_copy / "rules" / "monitoring_missed.toml"
    text = path.read_text()
    path.write_text(text[: text.index("evidence = ")])
    with pytest.raises(RegistryError, match="no_fbc_at_8_weeks: a reason on the worklist needs"):
        registry()
