"""Ingest: expose each extract file to DuckDB as a staging view of canonical columns.

An adapter (transforms/inputs/adapters/) knows a source format; this module holds what they
share. Every file is hashed, and read in place by DuckDB through a view
`staging.raw_<table>_<n>` whose columns are the canonical table's columns as text, plus
`source_row`: the row's number among the file's data rows (1-based). Validation turns
`source_row` into the line a user can find in the file, so a view may join or filter
rows without losing where each came from. No copy of the raw text is ever written.

CSV dialects are given, never sniffed: a sniffer once picked the wrong delimiter on a
ragged file (stack notes). CSV rows with the wrong number of fields are not dropped: they
go to quarantine with their line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np

from schemas.canonical import SCHEMAS, known_columns
from transforms.database import sql_quote
from transforms.errors import InputError

# The table of rows a file holds that no canonical table takes (events no rule uses).
NOT_AUDITED = "not_audited"


@dataclass
class SourceFile:
    """One input file feeding one canonical table (a MEDS shard feeds several).

    `table` is a canonical table, or a role for a file read but not loaded (a vocabulary,
    or a MEDS shard's events that no rule uses): those rows are counted, not audited.
    """

    table: str
    path: Path
    name: str  # as quarantine rows and the manifest show it: relative to the input folder
    sha256: str
    index: int
    header_lines: int = 0  # text lines before the first data row (1 for a CSV header)
    text: bool = False  # numbered by line (CSV, NDJSON), not by row (Parquet)
    empty_lines: list[int] = field(default_factory=list)
    rows_read: int = 0
    source_format: str = ""  # set by transforms.inputs.adapters.stage
    long_lines: list[tuple[int, int]] = field(default_factory=list)  # (line, bytes)

    @property
    def audited(self) -> bool:
        return self.table in SCHEMAS

    def record(self) -> dict:
        """The facts the manifest and validation need; small enough for Prefect state."""
        return {
            "file": self.name,
            "format": self.source_format,
            "table": self.table,
            "index": self.index,
            "header_lines": self.header_lines,
            "text": self.text,
            "sha256": self.sha256,
            "rows_read": self.rows_read,
            "blank_lines": len(self.empty_lines),  # empty or only spaces: skipped, not rows
        }


class FileScan(NamedTuple):
    sha256: str
    empty_lines: list[int]  # numbers of the empty lines (text files only)
    long_lines: list[tuple[int, int]]  # (number, bytes) of lines over LONG_LINE_BYTES


# DuckDB's CSV reader rejects a line over its max_line_size (2 MB) as a row of the wrong
# shape, but drops one over its buffer (about 32 MiB) without a word; every line longer
# than this is checked against the rejects, and one the reader dropped is quarantined.
LONG_LINE_BYTES = 2_000_000


def hash_file(path: Path, find_empty_lines: bool = False) -> FileScan:
    """The file's SHA-256, and (for text files) the numbers of its empty lines and of its
    over-long lines, in one read.

    DuckDB's CSV reader skips empty lines without counting them; validation needs them to
    give later rows their true line numbers. (An empty line inside a quoted field is
    counted too; such files get approximate line numbers, as for any quoted line break.)
    """
    digest = hashlib.sha256()
    lines = LineScan()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
                if find_empty_lines:
                    lines.feed(chunk)
    except OSError as exc:  # permission denied, a folder named like a file, a read error
        raise InputError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    lines.finish()
    return FileScan(digest.hexdigest(), lines.empty, lines.long)


class LineScan:
    """Finds empty lines (LF or CRLF) and over-long lines in a file fed chunk by chunk,
    with numpy."""

    def __init__(self) -> None:
        self.empty: list[int] = []
        self.long: list[tuple[int, int]] = []
        self.offset = 0  # file offset of the next chunk
        self.newlines = 0  # newlines before it
        self.last_newline = -1  # file offset of the last newline seen (-1: line 1 starts at 0)
        self.last_byte = 0

    def feed(self, chunk: bytes) -> None:
        data = np.frombuffer(chunk, dtype=np.uint8)
        at = np.flatnonzero(data == 10)
        if len(at):
            where = at + self.offset
            gap = where - np.concatenate(([self.last_newline], where[:-1]))
            before = np.where(at > 0, data[np.maximum(at - 1, 0)], self.last_byte)
            empty = (gap == 1) | ((gap == 2) & (before == 13))
            self.empty.extend((np.flatnonzero(empty) + self.newlines + 1).tolist())
            for k in np.flatnonzero(gap - 1 > LONG_LINE_BYTES).tolist():
                self.long.append((self.newlines + k + 1, int(gap[k] - 1)))
            self.newlines += len(at)
            self.last_newline = int(where[-1])
        self.offset += len(chunk)
        self.last_byte = int(data[-1])

    def finish(self) -> None:
        """The last line, when no line break ends it."""
        length = self.offset - self.last_newline - 1
        if length > LONG_LINE_BYTES:
            self.long.append((self.newlines + 1, length))


def create_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create or replace schema staging")
    con.execute(
        "create table staging.csv_rejects (source_file varchar, table_name varchar, "
        "source_line bigint, column_name varchar, check_name varchar, value varchar)"
    )
    con.execute("create table staging.empty_lines (source_file varchar, source_line bigint)")
    # Rows an adapter rejects itself (a truncated NDJSON line), by source_row; validation
    # quarantines them with their line. The view leaves them out.
    con.execute(
        "create table staging.row_rejects (source_file varchar, table_name varchar, "
        "source_row bigint, column_name varchar, check_name varchar, value varchar)"
    )
    # Code maps an adapter reads from the source (a site mapping file, an OMOP vocabulary),
    # used by harmonise beside the configuration's own.
    con.execute("create table staging.source_test_codes (local_code varchar, loinc varchar)")
    con.execute(
        "create table staging.source_drug_classes (drug_key varchar, drug_class varchar, "
        "precedence varchar)"
    )


def file_view(table: str, index: int) -> str:
    """The view over one extract file: its canonical columns as text, plus source_row."""
    return f"staging.raw_{table}_{index}"


def canonical_select(table: str, expressions: dict[str, str]) -> str:
    """The select list of a staging view: each canonical column from its expression (text),
    null where the source has none, then source_row."""
    unknown = set(expressions) - set(known_columns(table))
    if unknown:
        raise ValueError(f"{table}: not canonical columns: {sorted(unknown)}")
    columns = [
        f'cast({expressions[c]} as varchar) as "{c}"'
        if c in expressions
        else f'null::varchar as "{c}"'
        for c in known_columns(table)
    ]
    return ", ".join([*columns, "source_row"])


def execute(con: duckdb.DuckDBPyConnection, name: str, sql: str, params: dict | None = None):
    """Runs SQL that reads the file `name`; a DuckDB error stops the run as unreadable input,
    naming the file and never the data (see first_line)."""
    try:
        return con.execute(sql, params or {})
    except duckdb.Error as exc:
        raise InputError(f"{name}: unreadable ({first_line(exc)})") from None


def create_view(con: duckdb.DuckDBPyConnection, source: SourceFile, select_sql: str) -> None:
    """Defines the source's staging view (reading nothing yet)."""
    view = file_view(source.table, source.index)
    execute(con, source.name, f"create or replace view {view} as {select_sql}")


def count_view(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    """The staging view's rows: a full read, so only for sources not counted otherwise
    (a CSV is counted by count_csv, with its rows of the wrong shape)."""
    view = file_view(source.table, source.index)
    return execute(con, source.name, f"select count(*) from {view}").fetchall()[0][0]


def lookup(table: str) -> str:
    """A small table (a code map, patients' sites) as a join's build side. DuckDB estimates
    a CSV file it does not sniff at 42 rows, so it would hash the whole extract file
    instead of any map larger than that: memory would grow with the extract (1M OMOP lab
    rows took 280 MB more and 40% longer). A table read back from one list is estimated
    at one row, so the map is always the side held in memory."""
    return f"(select unnest(m, recursive := true) from (select list(t) as m from {table} t))"


# Comma-separated, double-quoted, a header line: the canonical extract's dialect, and the
# default a format's own dialect overrides.
CSV_DIALECT = {"delim": ",", "quote": '"', "escape": '"', "header": True}


def csv_reader(path: Path, columns: list[str], dialect: dict | None = None, **options) -> str:
    """read_csv over a file with every column as text and a fixed dialect."""
    settings = CSV_DIALECT | (dialect or {})
    settings |= options
    types = "{" + ", ".join(f"'{sql_quote(c)}': 'VARCHAR'" for c in columns) + "}"
    rendered = ", ".join(f"{k} = {_literal(v)}" for k, v in settings.items())
    return f"read_csv('{sql_quote(str(path))}', auto_detect = false, columns = {types}, {rendered})"


def csv_rows(reader: str) -> str:
    """A CSV reader's rows numbered in file order (DuckDB keeps file order here)."""
    return f"(select *, row_number() over () as source_row from {reader})"


def count_csv(
    con: duckdb.DuckDBPyConnection, source: SourceFile, columns: list[str], dialect: dict
) -> int:
    """Counts a CSV file's rows, keeping rows of the wrong shape (with their lines) and the
    empty lines, for validation to quarantine and to number the lines after them."""
    reader = csv_reader(
        source.path,
        columns,
        dialect,
        store_rejects=True,
        rejects_table="rejects_now",
        rejects_scan="scans_now",
    )
    try:
        # Every column is read, not only counted: a row's encoding is checked only when its
        # text is, and a row rejected later than this count would shift every line number
        # after it (about 20 % more time for this pass).
        accepted = con.execute(
            f"select count(*), max(length(columns(*))) from {reader}"
        ).fetchall()[0][0]
    except duckdb.Error as exc:
        raise InputError(f"{source.name}: unreadable ({first_line(exc)})") from None
    rejected, blank = _keep_rejects(con, source)
    source.empty_lines = sorted(set(source.empty_lines) | set(blank))
    rejected += _dropped_long_lines(con, source)
    if source.empty_lines:
        con.executemany(
            "insert into staging.empty_lines values (?, ?)",
            [(source.name, line) for line in source.empty_lines],
        )
    return accepted + rejected


# A line of only spaces and tabs is a blank line, skipped and counted like an empty one
# (DuckDB reads it as a row of one empty field, a reject).
BLANK_LINE = "coalesce(trim(csv_line, ' ' || chr(9) || chr(10) || chr(13)) = '', false)"


def _keep_rejects(con: duckdb.DuckDBPyConnection, source: SourceFile) -> tuple[int, list[int]]:
    """Keeps the rows DuckDB rejected as staging.csv_rejects, blank lines aside; returns
    how many rows, and the blank lines (skipped and counted like empty ones)."""
    con.execute(
        f"""
        insert into staging.csv_rejects
        select $file, $table, line, '(whole row)',
               -- CRLF files: DuckDB keeps the previous line's LF at the start of the text.
               'csv_' || lower(replace(error_type, ' ', '_')), ltrim(csv_line, chr(10))
        from (select distinct on (line) * from rejects_now order by line, column_idx)
        where not {BLANK_LINE}
        """,
        {"file": source.name, "table": source.table},
    )
    rejected = con.execute(
        f"select count(distinct line) from rejects_now where not {BLANK_LINE}"
    ).fetchall()[0][0]
    blank = con.execute(f"select distinct line from rejects_now where {BLANK_LINE}").fetchall()
    con.execute("drop table rejects_now; drop table scans_now")
    return rejected, [line for (line,) in blank]


def _dropped_long_lines(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    """Long lines the reader neither returned nor rejected, kept as rejects
    (csv_line_too_long) so they are counted, quarantined and numbered; returns how many."""
    if not source.long_lines:
        return 0
    seen = {
        line
        for (line,) in con.execute(
            "select source_line from staging.csv_rejects where source_file = $f",
            {"f": source.name},
        ).fetchall()
    }
    dropped = [(line, size) for line, size in source.long_lines if line not in seen]
    if not dropped:
        return 0
    con.executemany(
        "insert into staging.csv_rejects values (?, ?, ?, '(whole row)', 'csv_line_too_long', ?)",
        [
            (source.name, source.table, line, f"(a line of {size:,} bytes)")
            for line, size in dropped
        ],
    )
    return len(dropped)


def parquet_types(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> dict[str, str]:
    try:
        rows = con.execute("describe select * from read_parquet($p)", {"p": str(path)})
        return {row[0]: row[1] for row in rows.fetchall()}
    except duckdb.Error as exc:
        raise InputError(f"{name}: unreadable Parquet file ({first_line(exc)})") from None


def parquet_rows(path: Path) -> str:
    """A Parquet file's rows, numbered 1, 2, ... in file order."""
    return (
        f"(select *, file_row_number + 1 as source_row "
        f"from read_parquet('{sql_quote(str(path))}', file_row_number = true))"
    )


def as_text(column: str, parquet_type: str | None) -> str:
    """A column as ISO text. Typed Parquet dates and times are formatted the way the
    schemas expect; a time zone is converted to UTC. A TIMESTAMP column always carries a
    time of day, even where it holds midnight for a date-only value."""
    quoted = column if column.startswith('"') else f'"{column}"'
    if parquet_type == "DATE":
        return f"strftime({quoted}, '%Y-%m-%d')"
    if parquet_type == "TIMESTAMP WITH TIME ZONE":
        return f"strftime(timezone('UTC', {quoted}), '%Y-%m-%dT%H:%M:%S.%f')"
    if parquet_type and parquet_type.startswith("TIMESTAMP"):
        return f"strftime({quoted}::timestamp, '%Y-%m-%dT%H:%M:%S.%f')"
    return f"{quoted}::varchar"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f"'{sql_quote(str(value))}'"


def first_line(exc: Exception) -> str:
    """DuckDB's message, first line only (later lines may show the offending row), cut
    before any input it quotes after "Input:", and with text in single quotes (a value,
    e.g. "Could not convert string 'S001'") masked: it may be a patient identifier."""
    line = str(exc).strip().splitlines()[0].split(" Input:")[0]
    return re.sub(r"'[^']*'", "'...'", line)
