"""MEDS code patterns: which canonical table a MEDS `code` feeds, and which columns it fills.

A pattern file (sql/reference/meds_codes.csv by default) has one row per pattern:

    pattern      a regular expression the whole code must match, case-sensitively (wrap
                 it in `(?i:...)` to ignore case; RE2 syntax, as DuckDB runs it); its named
                 groups `(?P<column>...)` fill canonical columns of the table
    table        lab_results, medications, diagnoses, patients, or not_audited (codes read
                 but not audited, e.g. to stop a default pattern taking them)
    time_column  the canonical column `time` fills; blank: the table's event time
                 (collected_at, event_at, recorded_at, birth_date); `none`: time is unused
    constants    fixed values, `column=value; column=value` (e.g. code_system=ICD10CM)
    note         free text

The first pattern a code matches decides its row, so each row goes to one table at most.
A site's own `meds_codes.csv` in the input folder is tried before the defaults.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from schemas.canonical import SCHEMAS, known_columns
from transforms.database import sql_quote
from transforms.errors import InputError
from transforms.inputs.ingest import NOT_AUDITED

EVENT_TIME = {
    "lab_results": "collected_at",
    "medications": "event_at",
    "diagnoses": "recorded_at",
    "patients": "birth_date",
}
# Filled from the MEDS core columns, never from a pattern (patient_id from subject_id;
# a lab result from text_value / numeric_value unless a pattern names one).
FROM_CORE = {"patient_id"}
COLUMNS = ("pattern", "table", "time_column", "constants", "note")


@dataclass(frozen=True)
class CodePattern:
    number: int  # its priority: the first pattern a code matches wins
    regex: str  # anchored: the whole code must match
    table: str
    time_column: str | None
    groups: dict[str, int]  # canonical column -> capture group number
    constants: dict[str, str]

    def source_of(self, column: str) -> str | None:
        """Where this pattern fills `column` from: 'group', 'constant', 'time' or None."""
        if column in self.groups:
            return "group"
        if column in self.constants:
            return "constant"
        if column == self.time_column:
            return "time"
        return None


def read_patterns(con: duckdb.DuckDBPyConnection, files: list[tuple[Path, str]]) -> list:
    """The patterns of each (file, name as the user knows it), in priority order."""
    patterns: list[CodePattern] = []
    for path, name in files:
        for line, row in _rows(path, name):
            where = f"{name} line {line}"
            patterns.append(_pattern(con, row, len(patterns) + 1, where))
    return patterns


def _rows(path: Path, name: str):
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS[:2] if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{name}: missing column {missing[0]!r} (columns: {COLUMNS})")
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None


def _pattern(con: duckdb.DuckDBPyConnection, row: dict, number: int, where: str) -> CodePattern:
    table = row["table"]
    if table not in SCHEMAS and table != NOT_AUDITED:
        raise InputError(
            f"{where}: table {table!r} is not one of {', '.join(SCHEMAS)}, {NOT_AUDITED}"
        )
    regex = f"^(?:{row['pattern']})$"
    groups = _groups(con, regex, where)
    constants = _constants(row.get("constants", ""), where)
    time_column = row.get("time_column", "")
    if table == NOT_AUDITED:
        return CodePattern(number, regex, table, None, {}, {})
    time_column = time_column or EVENT_TIME[table]
    time_column = None if time_column == "none" else time_column
    allowed = set(known_columns(table)) - FROM_CORE
    for column in [*groups, *constants, *([time_column] if time_column else [])]:
        if column not in allowed:
            raise InputError(
                f"{where}: {column!r} is not a column of {table} a code can fill "
                f"({', '.join(sorted(allowed))})"
            )
    return CodePattern(number, regex, table, time_column, groups, constants)


def _groups(con: duckdb.DuckDBPyConnection, regex: str, where: str) -> dict[str, int]:
    """Named groups and their numbers; the regex must compile in Python and in DuckDB."""
    try:
        compiled = re.compile(regex)
        con.execute("select regexp_matches('', $r)", {"r": regex}).fetchall()
    except (re.error, duckdb.Error) as exc:
        raise InputError(f"{where}: pattern is not a valid regular expression ({exc})") from None
    unnamed = compiled.groups - len(compiled.groupindex)
    if unnamed:
        raise InputError(
            f"{where}: pattern has {unnamed} unnamed group(s); name each (?P<column>...) "
            "or make it non-capturing (?:...)"
        )
    return dict(compiled.groupindex)


def _constants(text: str, where: str) -> dict[str, str]:
    constants = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise InputError(f"{where}: constants must read column=value; got {item!r}")
        constants[column.strip()] = value.strip()
    return constants


def matched_pattern_sql(patterns: list[CodePattern]) -> str:
    """The number of the first pattern the row's code matches (null: none)."""
    whens = " ".join(
        f"when regexp_matches(code, '{sql_quote(p.regex)}') then {p.number}" for p in patterns
    )
    return f"case {whens} end" if patterns else "null::integer"


def group_sql(pattern: CodePattern, column: str) -> str:
    return (
        f"nullif(regexp_extract(code, '{sql_quote(pattern.regex)}', {pattern.groups[column]}), '')"
    )


def event_type_sql(status: str, reference: Path) -> str:
    """A status (MIMIC-IV eMAR wording, or a canonical event type) as a canonical event
    type, through the reference file; a status not listed is `other`."""
    with reference.open(encoding="utf-8", newline="") as handle:
        pairs = [(r["status"], r["event_type"]) for r in csv.DictReader(handle)]
    whens = " ".join(f"when '{sql_quote(s)}' then '{sql_quote(e)}'" for s, e in pairs)
    return f"case lower(trim({status})) {whens} else 'other' end"
