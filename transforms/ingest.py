"""Ingest: find the extract's files, hash them, and let DuckDB read them in place.

Each table's rows land as text in a staging table `raw_<table>` with the file and line
they came from. CSV dialect is pinned (comma, double quote, header line), never sniffed:
a sniffer once picked the wrong delimiter on a ragged file (stack notes). CSV rows with
the wrong number of fields are not dropped: they go to quarantine with their line.
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
    sources = [SourceFile(FILE_NAME.match(p.name)[1].lower(), p, sha256_of(p)) for p in files]
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
    con.execute("create schema if not exists staging")
    con.execute("create sequence if not exists staging.raw_id_seq")
    for table in SCHEMAS:
        cols = ", ".join(f'"{c}" varchar' for c in known_columns(table))
        con.execute(
            f"create or replace table staging.raw_{table} (raw_id bigint, source_file varchar, "
            f"source_line bigint, {cols})"
        )
    con.execute(
        "create or replace table staging.csv_rejects (source_file varchar, table_name varchar, "
        "source_line bigint, column_name varchar, check_name varchar, value varchar)"
    )


def stage_file(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    """Copy one file's rows, as text, into raw_<table>; returns rows read (incl. rejects)."""
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
        f'"{c}"::varchar' if c in header else "null::varchar" for c in known_columns(source.table)
    )


def _stage_csv(con: duckdb.DuckDBPyConnection, source: SourceFile, header: list[str]) -> int:
    columns = "{" + ", ".join(f"'{_sql_quote(c)}': 'VARCHAR'" for c in header) + "}"
    # row_number() over () follows the reader's order (preserve_insertion_order is on);
    # source_line is corrected below for rejected lines, which the reader skips.
    con.execute(
        f"""
        insert into staging.raw_{source.table}
        select nextval('staging.raw_id_seq'), $file, row_number() over () + 1,
               {_select_known(source, header)}
        from read_csv($path, auto_detect = false, header = true, delim = ',', quote = '"',
                      escape = '"', columns = {columns}, store_rejects = true,
                      rejects_table = 'reject_errors_now', rejects_scan = 'reject_scans_now')
        """,
        {"file": source.name, "path": str(source.path)},
    )
    rejected = _keep_rejects(con, source)
    if rejected:
        _shift_lines_past_rejects(con, source)
    loaded = con.execute(
        f"select count(*) from staging.raw_{source.table} where source_file = $f",
        {"f": source.name},
    ).fetchone()[0]
    return loaded + rejected


def _keep_rejects(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    con.execute(
        """
        insert into staging.csv_rejects
        select $file, $table, line, '(whole row)',
               'csv_' || lower(replace(error_type, ' ', '_')), csv_line
        from (select distinct on (line) * from reject_errors_now order by line, column_idx)
        """,
        {"file": source.name, "table": source.table},
    )
    count = con.execute("select count(distinct line) from reject_errors_now").fetchone()[0]
    con.execute("drop table reject_errors_now; drop table reject_scans_now")
    return count


def _shift_lines_past_rejects(con: duckdb.DuckDBPyConnection, source: SourceFile) -> None:
    # The k-th accepted record sits on line k + 1 plus the rejected lines before it. The j-th
    # rejected line R_j (1-based) has R_j - 1 - j accepted records before it.
    con.execute(
        f"""
        update staging.raw_{source.table} r
        set source_line = r.source_line + (
            select count(*) from (
                select source_line - 1 - row_number() over (order by source_line) as before
                from staging.csv_rejects where source_file = $file
            ) j where j.before < r.source_line - 1)
        where r.source_file = $file
        """,
        {"file": source.name},
    )


def _stage_parquet(con: duckdb.DuckDBPyConnection, source: SourceFile, header: list[str]) -> int:
    # Parquet has no lines: source_line is the 1-based row number in the file.
    con.execute(
        f"""
        insert into staging.raw_{source.table}
        select nextval('staging.raw_id_seq'), $file, file_row_number + 1,
               {_select_known(source, header)}
        from read_parquet($path, file_row_number = true)
        """,
        {"file": source.name, "path": str(source.path)},
    )
    return con.execute(
        f"select count(*) from staging.raw_{source.table} where source_file = $f",
        {"f": source.name},
    ).fetchone()[0]


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
