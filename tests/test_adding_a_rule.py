"""Adding a finding is one SQL file, one registry entry and one spec test: the three files
of docs/adding-a-rule.md, installed as written there into a copy of sql/, reach findings,
summary, measures, the worklist, the analysts' database and the docs, with nothing else
changed."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO, SAMPLE, Audit
from tests.test_registry import sql_reasons
from transforms.config import AuditConfig
from transforms.operations import sequence
from transforms.outputs import docs
from transforms.rules.registry import registry
from transforms.sqlfiles import sql_dir

TOY = "b12_deficient_folate_untested"
WALKTHROUGH = REPO / "docs" / "adding-a-rule.md"


def walkthrough_files() -> dict[str, str]:
    """path -> text of each code block in the walkthrough whose first line names a file."""
    files, text = {}, WALKTHROUGH.read_text()
    for block in text.split("```")[1::2]:
        lines = block.splitlines()[1:]  # after the language
        first = lines[0].lstrip("-# ").strip() if lines else ""
        if first.startswith(("sql/", "tests/")):
            files[first] = "\n".join(lines) + "\n"
    return files


@pytest.fixture(scope="module")
def toy_sql(tmp_path_factory):
    """A copy of sql/ with the walkthrough's rule and registry entry in it."""
    copy = tmp_path_factory.mktemp("toy") / "sql"
    shutil.copytree(sql_dir(), copy)
    for path, text in walkthrough_files().items():
        if path.startswith("sql/"):
            (copy.parent / path).write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("B12AUDIT_SQL_DIR", str(copy))
        yield copy


@pytest.fixture(scope="module")
def published(toy_sql, tmp_path_factory) -> dict:
    run = sequence.Run(SAMPLE, tmp_path_factory.mktemp("out"), AuditConfig())
    return sequence.one_off(run, sequence.Runner())


def rows(path: str | Path) -> list[dict]:
    with Path(path).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_walkthrough_holds_the_three_files():
    assert set(walkthrough_files()) == {
        f"sql/rules/{TOY}.sql",
        f"sql/rules/{TOY}.toml",
        f"tests/test_{TOY}.py",
    }


def test_the_new_entry_is_complete_and_agrees_with_its_sql(toy_sql):
    finding = registry()[TOY]
    assert (finding.kind, finding.population) == ("care_gap", "patients_with_valid_b12")
    assert sql_reasons(TOY) == {"not_tested"}


def test_its_spec_test_passes(toy_sql, tmp_path):
    path = tmp_path / f"test_{TOY}.py"
    path.write_text(walkthrough_files()[f"tests/test_{TOY}.py"])
    spec = importlib.util.spec_from_file_location(f"test_{TOY}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
    assert tests
    for number, test in enumerate(tests):
        test(Audit(tmp_path / f"spec{number}"))


def test_it_is_in_the_findings(published):
    flagged = [r for r in rows(published["findings"]) if r["finding"] == TOY]
    assert flagged and {r["reason"] for r in flagged} == {"not_tested"}


def test_it_is_in_the_summary_over_its_population(published):
    summary = [r for r in rows(published["summary"]) if r["finding"] == TOY]
    overall = next(r for r in summary if r["site"] == "all sites" and r["reason"] == "(all)")
    assert overall["denominator_meaning"] == "patients with a valid B12"
    deficient = next(
        r
        for r in rows(published["summary"])
        if (r["finding"], r["site"], r["reason"]) == ("b12_deficient", "all sites", "(all)")
    )
    assert overall["denominator"] == deficient["denominator"]


def test_it_is_measured(published):
    measures = Path(published["summary"]).with_name("measures.csv")
    assert any(r["measure"] == TOY for r in rows(measures))


def test_it_is_on_the_worklist_with_its_action_and_evidence(published):
    worklist = Path(published["findings"]).with_name("worklist.csv")
    items = [r for r in rows(worklist) if r["finding"] == TOY]
    assert items and {r["action"] for r in items} == {"check serum folate"}
    assert all("no serum folate from" in r["evidence"] for r in items)


def test_it_is_in_the_analysts_database(published):
    with duckdb.connect(published["database"], read_only=True) as con:
        label = con.execute(
            "select label from finding_definitions where finding = $f", {"f": TOY}
        ).fetchall()
        current = con.execute(
            "select count(*) from findings_current where finding = $f", {"f": TOY}
        ).fetchone()[0]
    assert label == [("Deficient B12 with no folate test",)] and current > 0


def test_it_is_in_the_generated_docs(toy_sql):
    assert f"| `{TOY}` | Deficient B12 with no folate test | care gap |" in docs.findings_table()
    assert "no serum folate measured from 30 days before" in docs.findings_sections()


def test_nothing_else_names_it():
    """Outside its three files, the walkthrough and this test, the repository never names
    the toy: everything else reads the registry."""
    named = [
        p
        for p in REPO.rglob("*")
        if p.is_file()
        and ".venv" not in p.parts
        and ".git" not in p.parts
        and p.suffix in {".py", ".sql", ".toml", ".md"}
        and TOY in p.read_text(errors="ignore")
    ]
    assert sorted(p.relative_to(REPO).as_posix() for p in named) == [
        "docs/adding-a-rule.md",
        "tests/test_adding_a_rule.py",
    ]
