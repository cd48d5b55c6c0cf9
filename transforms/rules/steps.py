"""The SQL steps and their order, from what each file declares in its header.

Every SQL file's header names the tables it creates and reads, one or more lines each:

    -- Creates: b12_courses
    -- Reads: b12_doses, diagnosis_concepts

A rule (sql/rules/) or population (sql/populations/) is a `select` that creates nothing:
the runner appends its rows to `findings` or `population_units`. `ordered` puts steps in
an order where each runs after every step creating what it reads; a read that nothing
creates must be a table the Python stages make (`PROVIDED`). tests/test_sql_steps.py
checks each declaration against what the SQL reads and that the graph has no cycle.
"""

from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass
from pathlib import Path

from schemas.canonical import SCHEMAS
from transforms.sqlfiles import PARAMETER, code_only, sql_dir, sql_text

# Tables made by Python before or between the SQL steps.
PROVIDED = frozenset(
    {
        *SCHEMAS,  # the canonical tables (inputs/validate.py)
        "quarantine",
        "ref_concepts",  # rules/harmonise.py: reference lists and code maps
        "ref_unit_conversions",
        "ref_drug_names",
        "ref_routes",
        "local_test_codes",
        "source_drug_classes",
        "audit_scope",
        "finding_definitions",  # rules/registry.py: the finding registry as tables
        "finding_reasons",
        "findings",  # rules/tag.py: the rows of every rule
        "population_units",  # rules/populations.py: the rows of every population
        "previous_findings",  # outputs/reaudit.py: the previous run's findings
        "validated_batch",  # inputs/validate.py: the batch being loaded
        "worklist_items",  # outputs/worklist.py: the worklist, from its phrases
        "patient_timeline",  # outputs/timeline.py: a view of sql/report/patient_timeline.sql
    }
)
HEADER_FIELD = re.compile(r"^--\s*(Creates|Reads):\s*(.*)$")


class StepError(Exception):
    """The SQL steps cannot be put in order: an unknown table or a cycle."""


@dataclass(frozen=True)
class Step:
    file: str  # relative to sql/, e.g. "derive/b12_courses.sql"
    creates: frozenset[str]
    reads: frozenset[str]

    @property
    def name(self) -> str:
        return Path(self.file).stem

    def sql(self) -> str:
        return sql_text(self.file)

    def binds(self, parameter: str) -> bool:
        return parameter in PARAMETER.findall(code_only(self.sql()))


def header(text: str) -> list[str]:
    """The leading block of comment lines."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line)
    return lines


def declared(text: str) -> dict[str, frozenset[str]]:
    """The tables a header declares, {'Creates': ..., 'Reads': ...}; a key may repeat."""
    found: dict[str, set[str]] = {"Creates": set(), "Reads": set()}
    for line in header(text):
        if match := HEADER_FIELD.match(line):
            names = (n.strip() for n in match.group(2).split(","))
            found[match.group(1)].update(n for n in names if n)
    return {key: frozenset(names) for key, names in found.items()}


def step(file: str) -> Step:
    tables = declared(sql_text(file))
    return Step(file, tables["Creates"], tables["Reads"])


def steps_in(*folders: str) -> list[Step]:
    """Every SQL file in the folders under sql/, by file name."""
    files = sorted(
        f"{folder}/{p.name}" for folder in folders for p in (sql_dir() / folder).glob("*.sql")
    )
    return [step(f) for f in files]


def ordered(steps: list[Step]) -> list[Step]:
    """The steps so that each comes after the steps creating what it reads (ties: by file)."""
    makers: dict[str, list[Step]] = {}
    for s in steps:
        for table in s.creates:
            makers.setdefault(table, []).append(s)
    graph = graphlib.TopologicalSorter()
    for s in steps:
        unknown = sorted(s.reads - makers.keys() - PROVIDED)
        if unknown:
            raise StepError(f"sql/{s.file} reads {', '.join(unknown)}, which no step creates")
        graph.add(s.file, *(m.file for t in s.reads for m in makers.get(t, [])))
    try:
        graph.prepare()
    except graphlib.CycleError as exc:
        raise StepError(
            f"SQL steps read each other in a cycle: {' -> '.join(exc.args[1])}"
        ) from None
    by_file, order = {s.file: s for s in steps}, []
    while graph.is_active():
        ready = sorted(graph.get_ready())
        order += [by_file[f] for f in ready]
        graph.done(*ready)
    return order


def affected_by(parameter: str, steps: list[Step]) -> list[Step]:
    """The steps whose result can change with `parameter`: those binding it, and every
    step reading a table one of them creates, in order."""
    changed: set[str] = set()
    affected = []
    for s in ordered(steps):
        if s.binds(parameter) or s.reads & changed:
            affected.append(s)
            changed |= s.creates
    return affected
