"""The documentation keeps up with the code: every rule and setting is described."""

from __future__ import annotations

from dataclasses import fields

import pytest

from tests.conftest import REPO
from transforms.config import AuditConfig
from transforms.report_html import definitions
from transforms.sqlfiles import files_in, sql_text
from transforms.tag import rule_names

README = (REPO / "README.md").read_text()
SPEC_TESTS = "".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))


@pytest.mark.parametrize("rule", rule_names())
def test_every_rule_is_documented_reported_and_tested(rule):
    assert f"| `{rule}` |" in README
    assert rule in definitions(AuditConfig())
    assert f'"{rule}"' in SPEC_TESTS


@pytest.mark.parametrize("file", files_in("rules") + files_in("derive"))
def test_every_rule_file_opens_with_a_header_saying_what_and_at_what_grain(file):
    header = sql_text(file).split("\n\n")[0]
    assert header.startswith("-- ") and "Grain" in header


@pytest.mark.parametrize("file", files_in("rules"))
def test_every_rule_quotes_the_guideline_sentence_it_checks(file):
    header = sql_text(file).split("\n\n")[0]
    guideline = " ".join((REPO.parent / "shared" / "guideline.txt").read_text().split())
    quoted = header.split('Guideline: "', 1)[1].split('"')[0]
    words = " ".join(line.lstrip("- ").strip() for line in quoted.splitlines())
    # Each quoted sentence, rejoined across comment lines, is in the guideline word for word
    # (the guideline's citation numbers sit between sentences; "..." marks a cut).
    sentences = [s.strip(" .") for part in words.split("...") for s in part.split(". ")]
    assert all(sentence in guideline for sentence in sentences if sentence)


@pytest.mark.parametrize("key", [f.name for f in fields(AuditConfig)])
def test_every_setting_is_in_the_readme(key):
    assert key in README


CONCEPT_FILES = sorted((REPO / "sql" / "reference" / "concepts").glob("*.csv"))


@pytest.mark.parametrize("path", CONCEPT_FILES, ids=lambda p: p.stem)
def test_every_code_list_is_a_reviewable_concept_file(path):
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["code", "system", "description", "category", "source"]
    assert rows and all(all(row[c].strip() for c in reader.fieldnames) for row in rows)
    assert len({(r["code"], r["system"]) for r in rows}) == len(rows)
    assert path.stem in README
