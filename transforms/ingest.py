"""Ingest: find the extract's files, hash them, and let DuckDB read them in place.

Each table's rows are exposed as text through a staging view `staging.raw_<table>`
with the file and line they came from; the view re-reads the files, never a copy.
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

from schemas.canonical import REQUIRED_TABLES, SCHEMAS, known_columns, required_columns
from transforms.errors import InputError

FILE_NAME = re.compile(r"^(lab_results|medications|patients)(?:[_\-.][^/]*)?\.(csv|parquet)$", re.I)
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class SourceFile:
    table: str
    path: Path
    sha256: str
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
            "(and optionally patients.csv), as CSV or Parquet"
        )
    sources = [
        SourceFile(FILE_NAME.match(p.name)[1].lower(), p, sha256_of(p), index)
        for index, p in enumerate(files)
    ]
    present = {s.table for s in sources}
    for table in REQUIRED_TABLES:
        if table not in present:
            raise InputError(f"{input_dir}: no {table} file (expected {table}.csv or .parquet)")
    return sources


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def create_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create or replace schema staging")
    con.execute(
        "create table staging.csv_rejects (source_file varchar, table_name varchar, "
        "source_line bigint, column_name varchar, check_name varchar, value varchar)"
    )


# raw_id = file number * FILE_ID_STRIDE + row: unique across files without a sequence.
FILE_ID_STRIDE = 10**12


def stage_file(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    """Counts one file's rows and defines the view `staging.raw_<table>_<n>` over it.

    The view reads the file in place each time it is queried (validation, then loading),
    so no copy of the raw text is ever written. Returns rows read (incl. rejected rows).
    """
    header = _csv_header(source) if source.is_csv else _parquet_header(con, source)
    _check_header(source, header)
    try:
        if source.is_csv:
            source.rows_read = _stage_csv(con, source, header)
        else:
            source.rows_read = _stage_parquet(con, source, header)
    except duckdb.Error as exc:
        raise InputError(f"{source.name}: unreadable ({_first_line(exc)})") from None
    return source.rows_read


def finish_staging(con: duckdb.DuckDBPyConnection, sources: list[SourceFile]) -> None:
    """One view per table, `staging.raw_<table>`, over that table's file views."""
    for table in SCHEMAS:
        parts = [f"select * from {_file_view(s)}" for s in sources if s.table == table]
        if not parts:
            columns = ", ".join(f'null::varchar as "{c}"' for c in known_columns(table))
            parts = [
                "select null::bigint as raw_id, null::varchar as source_file, "
                f"null::bigint as source_line, {columns} where false"
            ]
        con.execute(f"create view staging.raw_{table} as {' union all '.join(parts)}")


def _file_view(source: SourceFile) -> str:
    return f"staging.raw_{source.table}_{source.index}"


def _csv_header(source: SourceFile) -> list[str]:
    try:
        with source.path.open(encoding="utf-8-sig", newline="") as handle:
            first = next(csv.reader(handle), None)
    except UnicodeDecodeError:
        raise InputError(f"{source.name}: header line is not UTF-8 text") from None
    if first is None:
        raise InputError(f"{source.name}: file is empty (no header line)")
    return [name.strip() for name in first]


def _parquet_header(con: duckdb.DuckDBPyConnection, source: SourceFile) -> list[str]:
    try:
        rows = con.execute("describe select * from read_parquet($p)", {"p": str(source.path)})
        return [row[0] for row in rows.fetchall()]
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
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise InputError(f"{source.name}: column {duplicates[0]!r} appears twice in line 1")
    missing = [c for c in required_columns(source.table) if c not in header]
    if missing:
        raise InputError(
            f"{source.name}: missing required column {missing[0]!r} "
            f"(line 1 has: {', '.join(header) or 'nothing'})"
        )


def _select_known(source: SourceFile, header: list[str]) -> str:
    return ", ".join(
        f'"{c}"::varchar as "{c}"' if c in header else f'null::varchar as "{c}"'
        for c in known_columns(source.table)
    )


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
    # The view skips those rows. row_number() over () follows the reader's order
    # (preserve_insertion_order is on): the k-th accepted record is on line k + 1, plus
    # the rejected lines before it. The j-th rejected line R_j has R_j - 1 - j accepted
    # records before it, so an ASOF join finds how many rejected lines precede record k.
    con.execute(
        f"""
        create view {_file_view(source)} as
        with numbered as (
            select row_number() over () as k, {_select_known(source, header)}
            from {_csv_reader(source, header, "ignore_errors = true")}
        ),
        skipped as (
            select source_line - 1 - row_number() over (order by source_line) as before,
                   row_number() over (order by source_line) as lines_before
            from staging.csv_rejects where source_file = '{_sql_quote(source.name)}'
        )
        select {source.index * FILE_ID_STRIDE} + k as raw_id,
               '{_sql_quote(source.name)}' as source_file,
               k + 1 + coalesce(s.lines_before, 0) as source_line,
               n.* exclude (k)
        from numbered as n asof left join skipped as s on n.k > s.before
        """
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


def _stage_parquet(con: duckdb.DuckDBPyConnection, source: SourceFile, header: list[str]) -> int:
    # Parquet has no lines: source_line is the 1-based row number in the file.
    path = _sql_quote(str(source.path))
    con.execute(
        f"""
        create view {_file_view(source)} as
        select {source.index * FILE_ID_STRIDE} + file_row_number as raw_id,
               '{_sql_quote(source.name)}' as source_file,
               file_row_number + 1 as source_line,
               {_select_known(source, header)}
        from read_parquet('{path}', file_row_number = true)
        """
    )
    return con.execute(f"select count(*) from {_file_view(source)}").fetchall()[0][0]


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
