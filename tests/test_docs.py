"""The documentation keeps up with the code: the generated pages are current, every rule,
setting and code list is described, every link resolves, and the shell commands, SQL
queries and configuration files the docs show run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import fields

import duckdb
import pytest
from cogapp import Cog

from tests.conftest import REPO, doc_blocks, doc_commands
from transforms.config import AuditConfig, config_from_mapping
from transforms.rules.registry import registry
from transforms.rules.steps import steps_in
from transforms.sqlfiles import sql_text

README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
DOCS_TEXT = "".join(p.read_text() for p in PAGES)


# --- Generated, and complete -----------------------------------------------------------


def test_the_generated_parts_are_current():
    """`cog -r README.md docs/*.md` rewrites them from the registry and AuditConfig."""
    cog = Cog()
    with open(os.devnull, "w") as quiet:
        cog.set_output(stdout=quiet, stderr=sys.stderr)
        status = cog.main(["cog", "--check", *map(str, PAGES)])
    assert status == 0, "docs are behind the code: run `.venv/bin/cog -r README.md docs/*.md`"


def test_the_front_page_is_short_and_links_every_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for page in (REPO / "docs").glob("*.md"):
        assert f"(docs/{page.name})" in text, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
        assert (page.parent / target).exists(), f"{page.name}: {target}"


@pytest.mark.parametrize("finding", list(registry()), ids=str)
def test_every_finding_is_defined_in_the_docs(finding):
    assert f"(`{finding}`)" in (REPO / "docs" / "findings.md").read_text()


@pytest.mark.parametrize("key", [f.name for f in fields(AuditConfig)])
def test_every_setting_is_in_the_configuration_page(key):
    assert f"`{key}`" in (REPO / "docs" / "configuration.md").read_text()


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
    assert f"`{path.stem}`" in (REPO / "docs" / "findings.md").read_text()


@pytest.mark.parametrize(
    "file", [s.file for s in steps_in("rules", "derive", "populations")], ids=str
)
def test_every_sql_step_opens_with_a_header_saying_what_and_at_what_grain(file):
    header = sql_text(file).split("\n\n")[0]
    assert header.startswith("-- ") and "Grain" in header


# --- What the docs show runs --------------------------------------------------------------


SETUP = "python3 -m venv .venv && .venv/bin/pip install"
# Shown in the docs, run elsewhere: the operator path of docs/scheduling.md by
# tests/test_schedule_server.py (a real Prefect server and long-running processes), and
# the golden files' regeneration, which is tests/test_flow.py with its update switch.
RUN_ELSEWHERE = ("B12AUDIT_UPDATE_GOLDEN=1 ",)
SCHEDULING = REPO / "docs" / "scheduling.md"


def test_the_readme_test_command_is_what_ci_runs():
    setup = [c for c in doc_commands(README) if c.startswith(SETUP)]
    assert len(setup) == 2
    assert setup[1] in (REPO / ".ci" / "run").read_text()
    assert setup[0].endswith("&& .venv/bin/b12audit run data/sample --out b12audit-output")


def audit_commands() -> list[str]:
    """Every `b12audit run` the docs show (the README's first set-up command: its run)."""
    found = []
    for page in PAGES:
        for command in doc_commands(page):
            run = command.split(" && ")[-1]
            if re.match(r"(\.venv/bin/)?b12audit run ", run):
                found.append(run)
    return sorted(set(found))


def test_every_shell_command_in_the_docs_is_run_by_a_test():
    shown = {c for page in PAGES if page != SCHEDULING for c in doc_commands(page)}
    audits = set(audit_commands())
    cog = {c for c in shown if c.startswith(".venv/bin/cog -r")}
    setup = {c for c in shown if c.startswith(SETUP)}
    elsewhere = {c for c in shown if c.startswith(RUN_ELSEWHERE)}
    ran = {c for c in shown if c.split(" && ")[-1] in audits}
    assert shown == setup | ran | cog | elsewhere, shown - setup - ran - cog - elsewhere
    assert cog and audits


@pytest.mark.parametrize("command", audit_commands())
def test_each_audit_command_in_the_docs_runs(command, harness, tmp_path):
    """As a user would type it in the repository folder; against the test Prefect server."""
    from prefect.settings import PREFECT_API_URL

    (tmp_path / "data").symlink_to(REPO / "data")
    words = shlex.split(command)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *words[words.index("run") :]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "b12audit: report" in done.stdout
    assert list(tmp_path.glob("b12audit-output/runs/*/shareable/report.html"))


def test_each_cog_command_in_the_docs_names_every_generated_page():
    generated = {page for page in PAGES if "[[[cog" in page.read_text()}
    for command in (c for page in PAGES for c in doc_commands(page) if "cog -r" in c):
        pages = command.split("cog -r ", 1)[1].split(" && ")[0].split()
        named = {p for pattern in pages for p in REPO.glob(pattern)}
        assert generated <= named <= set(PAGES), command


def sql_blocks() -> list[tuple[str, str]]:
    """(page, query) for every SQL query the docs show; rule files are not queries."""
    found = []
    for page in PAGES:
        for block in doc_blocks(page, "sql"):
            if block.startswith("-- sql/"):
                continue  # a rule file, installed by tests/test_adding_a_rule.py
            code = "\n".join(line.split("--")[0] for line in block.splitlines())
            found += [(page.name, q.strip()) for q in code.split(";") if q.strip()]
    return found


# What changed since the previous run: the sample's one run has none to compare with.
NEEDS_A_PREVIOUS_RUN = ("since_previous_run", "reaudit_diff")


@pytest.mark.parametrize(("page", "query"), sql_blocks(), ids=lambda v: v[:40])
def test_each_query_in_the_docs_answers_on_the_sample(page, query, published_sample):
    with duckdb.connect(published_sample["database"], read_only=True) as con:
        rows = con.execute(query).fetchall()
    if not any(word in query for word in NEEDS_A_PREVIOUS_RUN):
        assert rows, f"{page}: the query gives no rows on the sample"


def toml_blocks() -> list[tuple[str, str]]:
    return [(p.name, b) for p in PAGES for b in doc_blocks(p, "toml")]


@pytest.mark.parametrize(("page", "text"), toml_blocks(), ids=lambda v: v[:30])
def test_each_configuration_file_in_the_docs_loads(page, text):
    raw = tomllib.loads(text)
    if text.startswith("# sql/"):
        return  # a registry entry, loaded by tests/test_adding_a_rule.py
    if "lab_results" in raw:  # a site format's mapping.toml
        from transforms.inputs.adapters.site_mapping import parse_mapping

        assert parse_mapping(raw).files
        return
    config_from_mapping(raw, origin=page)
