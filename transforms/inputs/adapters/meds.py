"""MEDS (Medical Event Data Standard v0.3): Parquet shards anywhere under data/, one event
per row: subject_id (int64), time (timestamp; null for static events), code (string),
numeric_value (float, nullable), text_value (string, nullable), plus any extra columns.

One shard feeds several canonical tables: the code patterns (transforms/inputs/adapters/
meds_codes.py; sql/reference/meds_codes.csv, or a site's meds_codes.csv tried first) send
each row to the first pattern its code matches (case-sensitively), and so to one table, or
to "not audited" when no pattern matches. Each (shard, table) gets a view; source_row is
the row's number in the shard, which quarantine shows as its "line".

Detection: Parquet files under data/ (names in any case) and MEDS evidence: metadata/
dataset.json or codes.parquet, or a first shard with subject_id, time and code columns.

Patients: one patients row per subject and shard from its MEDS_BIRTH and GENDER rows
(MEDS keeps a subject's data in one shard), numbered as the row that gave its birth date
(the one value a patients check can fail on, patient_id aside), else as its first patient
row; the other rows are `patients_merged`, not audited (read and used, not rows of their own).

Lab results: the result is numeric_value, unless it is null or text_value is censored
(starts with < or >): an ETL's comment or flag in text_value does not hide the number.

Times: MEDS has no date-only type, so ETLs put a date-only event at midnight. A time of
exactly 00:00:00.000000 is read as the date alone, which the rules compare by day.

Extra columns: a column named like a canonical column of the row's table fills it when the
code does not (site, route, dose, dose_unit, drug_code, result_id, resulted_at, unit,
test_name). Columns named like MEDS core columns never do.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from schemas.canonical import SCHEMAS, known_columns
from transforms.database import sql_quote
from transforms.errors import InputError
from transforms.inputs import ingest
from transforms.inputs.adapters import meds_codes
from transforms.inputs.adapters.meds_codes import NOT_AUDITED, CodePattern
from transforms.inputs.ingest import SourceFile
from transforms.sqlfiles import sql_dir

SITE_PATTERNS = "meds_codes.csv"
INTEGER = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT"}
TIMES = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"}
NUMBERS = {"FLOAT", "DOUBLE"} | INTEGER
# column: (what MEDS says, DuckDB types accepted, required)
CORE = {
    "subject_id": ("int64", INTEGER, True),
    "time": ("timestamp[us]", TIMES | {"DATE"}, True),
    "code": ("string", {"VARCHAR"}, True),
    # Optional in the MEDS schema (meds package, data schema); absent means null.
    "numeric_value": ("float32", NUMBERS, False),
    "text_value": ("string", {"VARCHAR"}, False),
}
MERGED = "patients_merged"
MEDS_EVIDENCE = {"dataset.json", "codes.parquet"}  # in metadata/, lower-cased


def reference_file(name: str) -> Path:
    return sql_dir() / "reference" / name


def detect(input_dir: Path) -> bool:
    shards = find_shards(input_dir)
    return bool(shards) and (_has_metadata(input_dir) or _has_core_columns(shards[0]))


def _subfolders(folder: Path, name: str) -> list[Path]:
    """The folder's subfolders called `name` in any case (data/, DATA/, Data/)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower() == name)


def find_shards(input_dir: Path) -> list[Path]:
    data = _subfolders(input_dir, "data")
    return sorted(
        p for d in data for p in d.rglob("*") if p.suffix.lower() == ".parquet" and p.is_file()
    )


def _has_metadata(input_dir: Path) -> bool:
    found = {p.name.lower() for d in _subfolders(input_dir, "metadata") for p in d.iterdir()}
    return bool(found & MEDS_EVIDENCE)


def _has_core_columns(shard: Path) -> bool:
    """Reads the Parquet footer only; an unreadable file is no evidence."""
    try:
        names = pq.read_schema(shard).names
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return False
    return {"subject_id", "time", "code"} <= set(names)


def stage(con: duckdb.DuckDBPyConnection, input_dir: Path) -> list[SourceFile]:
    shards = find_shards(input_dir)
    if not shards:
        raise InputError(f"{input_dir}: no MEDS shards (expected data/**/*.parquet)")
    sources = _side_files(con, input_dir)
    patterns = meds_codes.read_patterns(con, _pattern_files(input_dir))
    _supply_lab_items(con)
    for path in shards:
        name = path.relative_to(input_dir).as_posix()
        sources += stage_shard(con, path, name, patterns, first_index=len(sources))
    return sources


def _pattern_files(input_dir: Path) -> list[tuple[Path, str]]:
    defaults = reference_file("meds_codes.csv")
    site = input_dir / SITE_PATTERNS
    return ([(site, SITE_PATTERNS)] if site.is_file() else []) + [(defaults, defaults.name)]


def _supply_lab_items(con: duckdb.DuckDBPyConnection) -> None:
    """MIMIC-IV lab itemids as LOINC (clinical reference 1.1); rows without a LOINC (the
    blood-gas haemoglobin) stay unmapped, so no rule reads them."""
    with reference_file("meds_mimic_lab_items.csv").open(encoding="utf-8", newline="") as f:
        pairs = [(r["itemid"], r["loinc"]) for r in csv.DictReader(f) if r["loinc"].strip()]
    con.executemany("insert into staging.source_test_codes values (?, ?)", pairs)


def _side_files(con: duckdb.DuckDBPyConnection, input_dir: Path) -> list[SourceFile]:
    """metadata/ files and a site pattern file: hashed for the manifest, not audited."""
    folders = _subfolders(input_dir, "metadata")
    files = sorted(p for d in folders for p in d.rglob("*") if p.is_file())
    site = input_dir / SITE_PATTERNS
    files += [site] if site.is_file() else []
    sources = []
    for index, path in enumerate(files):
        name = path.relative_to(input_dir).as_posix()
        role = "code_patterns" if path == site else "metadata"
        source = SourceFile(role, path, name, ingest.hash_file(path)[0], index)
        if path.suffix == ".parquet":
            source.rows_read = _count(con, f"read_parquet('{sql_quote(str(path))}')", name)
        sources.append(source)
    return sources


def stage_shard(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    patterns: list[CodePattern],
    first_index: int,
) -> list[SourceFile]:
    """One SourceFile per table the shard feeds (with its view), and its rows not audited."""
    types = ingest.parquet_types(con, path, name)
    sources = stage_rows(con, path, name, types, ingest.parquet_rows(path), patterns, first_index)
    sha256 = ingest.hash_file(path)[0]
    for source in sources:
        source.sha256 = sha256
    return sources


def stage_rows(
    con,
    path: Path,
    name: str,
    types: dict[str, str],
    numbered: str,
    patterns: list[CodePattern],
    first_index: int,
) -> list[SourceFile]:
    """stage_shard for a shard's rows (`numbered`: a relation of its columns, typed as
    `types` says, and source_row), on DuckDB or through spark_connection.py."""
    check_core_columns(name, types)
    rows = _rows_sql(numbered, types, patterns)
    counts = _count_by_table(con, rows, patterns, name)
    sources = []
    for table, read in counts.items():
        if not read and table != NOT_AUDITED:  # every shard is listed, even when empty
            continue
        source = SourceFile(table, path, name, None, first_index + len(sources), rows_read=read)
        if table in SCHEMAS:
            ingest.create_view(con, source, _view_sql(table, _of(patterns, table), types, rows))
        sources.append(source)
    return sources


def check_core_columns(name: str, types: dict[str, str]) -> None:
    for column, (expected, accepted, required) in CORE.items():
        found = types.get(column)
        if found is None and required:
            raise InputError(f"{name}: missing MEDS column {column!r} (expected {expected})")
        if found is not None and found not in accepted:
            raise InputError(f"{name}: column {column!r} has type {found}; MEDS expects {expected}")


def _of(patterns: list[CodePattern], table: str) -> list[CodePattern]:
    return [p for p in patterns if p.table == table]


def _numbers(patterns: list[CodePattern]) -> str:
    """A filter on the matched pattern (false when the table has none)."""
    numbers = ", ".join(str(p.number) for p in patterns)
    return f"meds_pattern in ({numbers})" if numbers else "false"


def _rows_sql(numbered: str, types: dict[str, str], patterns: list[CodePattern]) -> str:
    missing = [f"null::varchar as {c}" for c in ("numeric_value", "text_value") if c not in types]
    extra = "".join(f", {c}" for c in missing)
    matched = meds_codes.matched_pattern_sql(patterns)
    return f"(select *{extra}, {matched} as meds_pattern from {numbered})"


def _count_by_table(
    con: duckdb.DuckDBPyConnection, rows: str, patterns: list[CodePattern], name: str
) -> dict[str, int]:
    """Rows per table in one pass over the shard; patients count one row per subject."""
    tables = [t for t in SCHEMAS if t != "patients"]
    per_table = ", ".join(f"count(*) filter (where {_numbers(_of(patterns, t))})" for t in tables)
    patient_rows = _numbers(_of(patterns, "patients"))
    sql = (
        f"select count(*), {per_table}, count(*) filter (where {patient_rows}), "
        f"count(distinct subject_id) filter (where {patient_rows}) + "
        f"(count(*) filter (where {patient_rows} and subject_id is null) > 0)::int "
        f"from {rows}"
    )
    total, *table_counts, patient_rows_n, patients = ingest.execute(con, name, sql).fetchall()[0]
    counts = dict(zip(tables, table_counts, strict=True))
    counts["patients"] = patients
    counts[MERGED] = patient_rows_n - patients
    counts[NOT_AUDITED] = total - sum(table_counts) - patient_rows_n
    return counts


def _count(con: duckdb.DuckDBPyConnection, relation: str, name: str) -> int:
    return ingest.execute(con, name, f"select count(*) from {relation}").fetchall()[0][0]


def _view_sql(table: str, patterns: list[CodePattern], types: dict[str, str], rows: str) -> str:
    columns = {c: column_sql(table, c, patterns, types) for c in known_columns(table)}
    if table != "patients":
        select = ingest.canonical_select(table, columns)
        return f"select {select} from {rows} where {_numbers(patterns)}"
    # One row per subject: each column from the subject's first patient row that gives it;
    # its row number the birth date's (see above).
    picked = ", ".join(
        f'arg_min("{c}", source_row) filter (where nullif("{c}", \'\') is not null) as "{c}"'
        for c in columns
        if c != "patient_id"
    )
    each = ", ".join(f'{sql} as "{c}"' for c, sql in columns.items())
    select = ingest.canonical_select(table, {c: f'"{c}"' for c in columns})
    return (
        f"select {select} from (select patient_id, {_patient_row()} as source_row, {picked} "
        f"from (select {each}, source_row from {rows} where {_numbers(patterns)}) "
        f"group by patient_id)"
    )


def _patient_row() -> str:
    birth_row = "min(source_row) filter (where nullif(\"birth_date\", '') is not null)"
    return f"coalesce({birth_row}, min(source_row))"


def column_sql(table: str, column: str, patterns: list[CodePattern], types: dict) -> str:
    """A canonical column: from the code's pattern (a group, a constant, or time), else
    from an extra column of that name, else null."""
    if column == "patient_id":
        return '"subject_id"::varchar'
    fallback = _fallback_sql(table, column, types)
    by_pattern = {p.number: _pattern_value(p, column, types, fallback) for p in patterns}
    if len(set(by_pattern.values())) <= 1:
        sql = next(iter(by_pattern.values()), fallback)
    else:
        whens = " ".join(f"when {n} then {v}" for n, v in by_pattern.items())
        sql = f"case meds_pattern {whens} end"
    if column == "event_type":
        return meds_codes.event_type_sql(sql, reference_file("meds_event_types.csv"))
    return sql


def _pattern_value(pattern: CodePattern, column: str, types: dict, fallback: str) -> str:
    source = pattern.source_of(column)
    if source == "group":
        group = meds_codes.group_sql(pattern, column)
        return group if fallback == "null" else f"coalesce({group}, {fallback})"
    if source == "constant":
        return f"'{sql_quote(pattern.constants[column])}'"
    if source == "time":
        return time_text("time", types["time"])
    return fallback


def _fallback_sql(table: str, column: str, types: dict[str, str]) -> str:
    if table == "lab_results" and column == "result":
        # The result as reported: the number, unless there is none or the text is
        # censored (<150, >=2000); a comment or flag in text_value must not hide it.
        return (
            "case when numeric_value is null or regexp_matches(text_value, '^\\s*[<>]') "
            "then coalesce(nullif(text_value, ''), numeric_value::varchar) "
            "else numeric_value::varchar end"
        )
    if column in types and column not in CORE:
        return time_text(column, types[column])
    return "null"


def time_text(column: str, parquet_type: str) -> str:
    """A column as text; a timestamp at exactly midnight as its date alone (see above)."""
    if parquet_type not in TIMES:
        return ingest.as_text(column, parquet_type)
    if parquet_type == "TIMESTAMP WITH TIME ZONE":
        value = f"timezone('UTC', \"{column}\")"
    else:
        value = f'"{column}"::timestamp'
    return (
        f"case when {value} = date_trunc('day', {value}) then strftime({value}, '%Y-%m-%d') "
        f"else strftime({value}, '%Y-%m-%dT%H:%M:%S.%f') end"
    )
