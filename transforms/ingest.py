"""Ingest: find the extract's files, hash them, and let DuckDB read them in place.

Each file is exposed as text through a staging view that reads it in place, in file
order; validation streams the view and numbers the lines.
The CSV dialect is pinned (comma, double quote, header line), never sniffed: a sniffer
once picked the wrong delimiter on a ragged file (stack notes). CSV rows with the wrong
number of fields are not dropped: they go to quarantine with their line.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from schemas.canonical import REQUIRED_TABLES, known_columns, required_columns
from transforms.errors import InputError

FILE_NAME = re.compile(
    r"^(lab_results|medications|patients|diagnoses)(?:[_\-.][^/]*)?\.(csv|parquet)$", re.I
)
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class SourceFile:
    table: str
    path: Path
    sha256: str
    empty_lines: list[int]
    index: int
    rows_read: int = 0

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_csv(self) -> bool:
        return self.path.suffix.lower() == ".csv"


def discover(input_dir: Path) -> list[SourceFile]:
    """The extract's files, by table; stops on an unusable folder."""
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: not a folder")
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and FILE_NAME.match(p.name))
    if not files:
        raise InputError(
            f"{input_dir}: no extract files found; expected lab_results.csv, medications.csv "
            "(and optionally patients.csv, diagnoses.csv), as CSV or Parquet"
        )
    sources = [
        SourceFile(FILE_NAME.match(p.name)[1].lower(), p, *scan(p), index)
        for index, p in enumerate(files)
    ]
    present = {s.table for s in sources}
    for table in REQUIRED_TABLES:
        if table not in present:
            raise InputError(f"{input_dir}: no {table} file (expected {table}.csv or .parquet)")
    return sources


def scan(path: Path) -> tuple[str, list[int]]:
    """The file's SHA-256, and the numbers of its empty lines, in one read.

    DuckDB's CSV reader skips empty lines without counting them; validation needs them to
    give later rows their true line numbers. (An empty line inside a quoted field is
    counted too; such files get approximate line numbers, as for any quoted line break.)
    """
    digest = hashlib.sha256()
    lines = _LineScan()
    is_csv = path.suffix.lower() == ".csv"
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
            if is_csv:
                lines.feed(chunk)
    return digest.hexdigest(), lines.empty


class _LineScan:
    """Finds empty lines (LF or CRLF) in a file fed chunk by chunk, with numpy."""

    def __init__(self) -> None:
        self.empty: list[int] = []
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
            self.newlines += len(at)
            self.last_newline = int(where[-1])
        self.offset += len(chunk)
        self.last_byte = int(data[-1])


def create_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create or replace schema staging")
    con.execute(
        "create table staging.csv_rejects (source_file varchar, table_name varchar, "
        "source_line bigint, column_name varchar, check_name varchar, value varchar)"
    )
    con.execute("create table staging.empty_lines (source_file varchar, source_line bigint)")


def stage_file(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    """Counts one file's rows and defines the view `staging.raw_<table>_<n>` over it.

    The view reads the file in place when validation streams it, so no copy of the raw
    text is ever written. Returns rows read (including rows of the wrong shape).
    """
    types = None if source.is_csv else _parquet_types(con, source)
    header = _csv_header(source) if types is None else list(types)
    _check_header(source, header)
    try:
        if types is None:
            source.rows_read = _stage_csv(con, source, header)
        else:
            source.rows_read = _stage_parquet(con, source, types)
    except duckdb.Error as exc:
        raise InputError(f"{source.name}: unreadable ({_first_line(exc)})") from None
    return source.rows_read


def file_view(table: str, index: int) -> str:
    """The view over one extract file: its canonical columns as text, in file order."""
    return f"staging.raw_{table}_{index}"


def _csv_header(source: SourceFile) -> list[str]:
    try:
        with source.path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise InputError(f"{source.name}: header line is not UTF-8 text") from None
    if first is None:
        raise InputError(f"{source.name}: file is empty (no header line)")
    return [name.strip() for name in first]


def _parquet_types(con: duckdb.DuckDBPyConnection, source: SourceFile) -> dict[str, str]:
    try:
        rows = con.execute("describe select * from read_parquet($p)", {"p": str(source.path)})
        return {row[0]: row[1] for row in rows.fetchall()}
    except duckdb.Error as exc:
        raise InputError(f"{source.name}: unreadable Parquet file ({_first_line(exc)})") from None


def _check_header(source: SourceFile, header: list[str]) -> None:
    if len(header) == 1:
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in header[0]:
                raise InputError(
                    f"{source.name}: line 1 has one column split by {label}s; "
                    "extract files must be comma-separated"
                )
    # Line 1 may be data, not a header (an export without one): never echo its values,
    # which could be patient identifiers. Name only columns the schema knows.
    known = set(known_columns(source.table))
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        named = [c for c in duplicates if c in known]
        what = f"column {named[0]!r} appears" if named else "a column name appears"
        raise InputError(f"{source.name}: {what} twice in line 1")
    missing = [c for c in required_columns(source.table) if c not in header]
    if missing:
        found = sorted(known & set(header))
        raise InputError(
            f"{source.name}: missing required column {missing[0]!r}; line 1 has "
            f"{len(header)} columns, of which the known ones are: {', '.join(found) or 'none'}"
        )


def _select_known(source: SourceFile, header: list[str], types: dict | None = None) -> str:
    types = types or {}
    return ", ".join(
        f'{_as_text(c, types.get(c))} as "{c}"' if c in header else f'null::varchar as "{c}"'
        for c in known_columns(source.table)
    )


def _as_text(column: str, parquet_type: str | None) -> str:
    """A column as ISO text. Typed Parquet dates and times are formatted the way the
    schemas expect; a time zone is converted to UTC. A TIMESTAMP column always carries a
    time of day, even where it holds midnight for a date-only value."""
    quoted = f'"{column}"'
    if parquet_type == "DATE":
        return f"strftime({quoted}, '%Y-%m-%d')"
    if parquet_type == "TIMESTAMP WITH TIME ZONE":
        return f"strftime(timezone('UTC', {quoted}), '%Y-%m-%dT%H:%M:%S.%f')"
    if parquet_type and parquet_type.startswith("TIMESTAMP"):
        return f"strftime({quoted}::timestamp, '%Y-%m-%dT%H:%M:%S.%f')"
    return f"{quoted}::varchar"


def _csv_reader(source: SourceFile, header: list[str], rejects: str) -> str:
    columns = "{" + ", ".join(f"'{_sql_quote(c)}': 'VARCHAR'" for c in header) + "}"
    return (
        f"read_csv('{_sql_quote(str(source.path))}', auto_detect = false, header = true, "
        f"delim = ',', quote = '\"', escape = '\"', columns = {columns}, {rejects})"
    )


def _stage_csv(con: duckdb.DuckDBPyConnection, source: SourceFile, header: list[str]) -> int:
    # First pass: count the rows and keep the rows of the wrong shape, with their lines.
    keep = "store_rejects = true, rejects_table = 'rejects_now', rejects_scan = 'scans_now'"
    counted = con.execute(f"select count(*) from {_csv_reader(source, header, keep)}")
    accepted = counted.fetchall()[0][0]
    rejected = _keep_rejects(con, source)
    if source.empty_lines:
        con.executemany(
            "insert into staging.empty_lines values (?, ?)",
            [(source.name, line) for line in source.empty_lines],
        )
    # The view reads the rows of the right shape, in file order; validation numbers them.
    con.execute(
        f"create view {file_view(source.table, source.index)} as "
        f"select {_select_known(source, header)} "
        f"from {_csv_reader(source, header, 'ignore_errors = true')}"
    )
    return accepted + rejected


def _keep_rejects(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    con.execute(
        """
        insert into staging.csv_rejects
        select $file, $table, line, '(whole row)',
               'csv_' || lower(replace(error_type, ' ', '_')), csv_line
        from (select distinct on (line) * from rejects_now order by line, column_idx)
        """,
        {"file": source.name, "table": source.table},
    )
    count = con.execute("select count(distinct line) from rejects_now").fetchall()[0][0]
    con.execute("drop table rejects_now; drop table scans_now")
    return count


def _stage_parquet(con: duckdb.DuckDBPyConnection, source: SourceFile, types: dict) -> int:
    path = _sql_quote(str(source.path))
    view = file_view(source.table, source.index)
    con.execute(
        f"create view {view} as select {_select_known(source, list(types), types)} "
        f"from read_parquet('{path}')"
    )
    return con.execute(f"select count(*) from {view}").fetchall()[0][0]


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
