"""The canonical extract: lab_results, medications (required), patients, diagnoses, as
comma-separated CSV with a header line, or Parquet, named for their table."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb

from schemas.canonical import REQUIRED_TABLES, known_columns, required_columns
from transforms.errors import InputError
from transforms.inputs import ingest
from transforms.inputs.ingest import SourceFile

FILE_NAME = re.compile(
    r"^(lab_results|medications|patients|diagnoses)(?:[_\-.][^/]*)?\.(csv|parquet)$", re.I
)
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def detect(input_dir: Path) -> bool:
    # A site folder's own files may be named lab_results.csv too: its mapping file decides.
    if (input_dir / "mapping.toml").is_file():
        return False
    return any(FILE_NAME.match(p.name) for p in input_dir.iterdir() if p.is_file())


def stage(con: duckdb.DuckDBPyConnection, input_dir: Path) -> list[SourceFile]:
    sources = discover(input_dir)
    for source in sources:
        stage_file(con, source)
    return sources


def preflight(input_dir: Path) -> None:
    """Before anything starts: the required files are there and each CSV's header is
    usable (cheap: no file is read past its first line)."""
    for path in _files(input_dir):
        if path.suffix.lower() == ".csv":
            table = FILE_NAME.match(path.name)[1].lower()
            source = SourceFile(table, path, path.name, "", 0, 1, True, [])
            check_header(source, _csv_header(source))


def _files(input_dir: Path) -> list[Path]:
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and FILE_NAME.match(p.name))
    if not files:
        raise InputError(
            f"{input_dir}: no extract files found; expected lab_results.csv, medications.csv "
            "(and optionally patients.csv, diagnoses.csv), as CSV or Parquet"
        )
    present = {FILE_NAME.match(p.name)[1].lower() for p in files}
    for table in REQUIRED_TABLES:
        if table not in present:
            raise InputError(f"{input_dir}: no {table} file (expected {table}.csv or .parquet)")
    return files


def discover(input_dir: Path) -> list[SourceFile]:
    """The extract's files, by table; stops on an unusable folder."""
    files = _files(input_dir)
    sources = []
    for index, path in enumerate(files):
        is_csv = path.suffix.lower() == ".csv"
        scan = ingest.hash_file(path, find_empty_lines=is_csv)
        table = FILE_NAME.match(path.name)[1].lower()
        sources.append(
            SourceFile(
                table,
                path,
                path.name,
                scan.sha256,
                index,
                int(is_csv),
                is_csv,
                scan.empty_lines,
                long_lines=scan.long_lines,
            )  # fmt: skip
        )
    return sources


def stage_file(con: duckdb.DuckDBPyConnection, source: SourceFile) -> int:
    """Counts one file's rows and defines its staging view; returns rows read (including
    rows of the wrong shape)."""
    if source.text:
        header = _csv_header(source)
        check_header(source, header)
        source.rows_read = ingest.count_csv(con, source, header, ingest.CSV_DIALECT)
        rows = ingest.csv_rows(ingest.csv_reader(source.path, header, ignore_errors=True))
        ingest.create_view(con, source, f"select {_select_known(source, header)} from {rows}")
    else:
        types = ingest.parquet_types(con, source.path, source.name)
        check_header(source, list(types))
        rows = ingest.parquet_rows(source.path)
        select = _select_known(source, list(types), types)
        ingest.create_view(con, source, f"select {select} from {rows}")
        source.rows_read = ingest.count_view(con, source)
    return source.rows_read


# No header line is longer: read no further looking for line 1 (a file with no line break).
HEADER_BYTES = 1 << 20


def _csv_header(source: SourceFile) -> list[str]:
    """Line 1's column names: only that line is read (and decoded), so a bad byte further
    down is the row's problem (quarantined), not the header's."""
    try:
        with source.path.open("rb") as handle:
            line = handle.readline(HEADER_BYTES)
        text = line.decode("utf-8-sig")
        first = next(csv.reader([text.rstrip("\r\n")]), None) if line else None
    except UnicodeDecodeError:
        raise InputError(f"{source.name}: header line is not UTF-8 text") from None
    except csv.Error:  # a field over the csv module's limit (131,072 characters)
        first = None
        line = b"x" * HEADER_BYTES
    except OSError as exc:
        raise InputError(f"{source.name}: cannot be read ({exc.strerror or exc})") from None
    if len(line) >= HEADER_BYTES or (first and max(map(len, first)) > csv.field_size_limit()):
        raise InputError(
            f"{source.name}: line 1 is not a CSV header (over {HEADER_BYTES:,} bytes, or a "
            f"field over {csv.field_size_limit():,} characters)"
        )
    if first is None:
        raise InputError(f"{source.name}: file is empty (no header line)")
    return [name.strip() for name in first]


def check_header(source: SourceFile, header: list[str]) -> None:
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
    present = [c for c in known_columns(source.table) if c in header]
    return ingest.canonical_select(
        source.table, {c: ingest.as_text(c, types.get(c)) for c in present}
    )
