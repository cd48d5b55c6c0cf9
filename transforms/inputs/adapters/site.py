"""Site CSV: a folder of a site's own CSV exports, described by a `mapping.toml` beside them.

    [lab_results]                 # one section per canonical table: lab_results and
    file = "LABS.csv"             #   medications required, patients and diagnoses optional;
    delimiter = ";"               # "," by default; one character ("\\t" for tab)
    encoding = "latin-1"          # utf-8 (default; a byte order mark is skipped), utf-8-sig,
                                  #   latin-1, utf-16 (little-endian, with or without a BOM)
    decimal = ","                 # "." by default; "," reads result and dose "12,5" as 12.5
    date_format = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y"]   # strptime formats of every date
                                  #   column of this file, tried in order; default: ISO
    [lab_results.columns]         # canonical column = the file's column (header name)
    patient_id = "PAT_ID"
    result = "RESULT_VALUE"
    [lab_results.constants]       # optional: a canonical column the file does not hold
    site = "north"
    [lab_results.values.unit]     # optional: file value = canonical value, per column
    "PG/ML" = "pg/mL"             #   (matched trimmed and in any case; others pass as is)
    [test_codes]                  # local test code = LOINC
    "B12S" = "2132-9"
    [drug_classes]                # drug name or code = drug class; wins over the name
    "HYDROXOCOB 1MG/ML INJ" = "b12_treatment"   # patterns, not over listed RxNorm/ATC codes

`file` is a name in the folder, or a glob matching exactly one file. Every mistake in the
mapping stops the run naming the key (site_mapping.py); so does a mapped column the file's
header lacks (names match in their case) or holds twice in any case (DuckDB reads names in
any case), naming the column and the file.

Each file is read in place by DuckDB with the dialect pinned from the mapping; nothing is
sniffed or copied. The view turns the site's text into canonical text, row by row in SQL:
- Dates: each format is tried in order (try_strptime); the first match becomes ISO text, a
  date-only format giving `YYYY-MM-DD`, so "no time of day" survives. A date that matches
  no format passes through as written, so it is quarantined with its value (iso_date,
  not date_format: telling them apart takes a second read of the file); a value already
  written as ISO passes, since it cannot be misread.
- Event types: one that is no canonical event type after the values map is quarantined
  with its value (event_type_unknown; one more read of the medications file).
- Decimal comma: only values shaped like a number, with an optional comparator, are
  changed, swapping "," and "." ("<150,5" -> "<150.5"). The swap, rather than dropping
  points, makes "1.000" (a thousands point in a decimal-comma locale) "1,000": an invalid
  result, as in the canonical extract, never the number 1.
- Lines: rows of the wrong shape are quarantined with their line, and empty lines are
  counted, as in the canonical adapter; line numbers are the site file's own, for UTF-16
  too (its empty lines are found in the decoded text).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from pathlib import Path

import duckdb

from schemas.canonical import SCHEMAS
from transforms.database import sql_quote
from transforms.errors import InputError
from transforms.inputs import ingest
from transforms.inputs.adapters.site_mapping import (
    EVENT_TYPES,
    MAPPING_FILE,
    NUMBER_COLUMNS,
    FileMapping,
    Mapping,
    read_mapping,
)
from transforms.inputs.ingest import SourceFile

# A number as harmonise reads one (sql/derive/lab_harmonised.sql), with either decimal mark.
NUMBER_SHAPE = r"^\s*(<=|>=|<|>|=)?\s*(\d+([.,]\d*)?|[.,]\d+)\s*$"
BOMS = {
    codecs.BOM_UTF8: "utf-8",
    codecs.BOM_UTF16_LE: "utf-16",
    codecs.BOM_UTF16_BE: "utf-16 big-endian",
}


def _date_columns(table: str) -> list[str]:
    """The columns the canonical schema checks as ISO dates."""
    columns = SCHEMAS[table]().columns.items()
    return [name for name, col in columns if any(c.name == "iso_date" for c in col.checks)]


def detect(input_dir: Path) -> bool:
    return (input_dir / MAPPING_FILE).is_file()


def stage(con: duckdb.DuckDBPyConnection, input_dir: Path) -> list[SourceFile]:
    mapping = read_mapping(input_dir)
    sources = [_mapping_source(input_dir)]
    for index, file_mapping in enumerate(mapping.files, start=1):
        source = _source(input_dir, file_mapping, index)
        _stage_file(con, source, file_mapping)
        sources.append(source)
    _stage_code_maps(con, mapping)
    return sources


def _mapping_source(input_dir: Path) -> SourceFile:
    """The mapping file, hashed for the manifest: it decides what every column means."""
    path = input_dir / MAPPING_FILE
    return SourceFile("mapping", path, MAPPING_FILE, ingest.hash_file(path)[0], 0)


def _source(input_dir: Path, mapping: FileMapping, index: int) -> SourceFile:
    path = _find_file(input_dir, mapping)
    _check_bom(path, mapping)
    sha256, empty, long_lines = _hash_text_file(path, mapping.encoding)
    name = path.relative_to(input_dir).as_posix()
    return SourceFile(mapping.table, path, name, sha256, index, 1, True, empty, long_lines)


def _find_file(input_dir: Path, mapping: FileMapping) -> Path:
    where = f"{MAPPING_FILE}: [{mapping.table}] file = {mapping.file!r}"
    if Path(mapping.file).is_absolute() or ".." in Path(mapping.file).parts:
        raise InputError(f"{where}: must name a file inside the input folder")
    found = sorted(p for p in input_dir.glob(mapping.file) if p.is_file())
    if len(found) != 1:
        problem = "no such file in the folder" if not found else f"matches {len(found)} files"
        raise InputError(f"{where}: {problem}")
    return found[0]


def _check_bom(path: Path, mapping: FileMapping) -> None:
    """A byte order mark says what the file is; one that contradicts the mapping would turn
    the header into noise (or, for UTF-16 big-endian, make DuckDB read no rows at all)."""
    with path.open("rb") as handle:
        start = handle.read(3)
    for bom, encoding in BOMS.items():
        if start.startswith(bom) and encoding != mapping.encoding:
            fix = (
                "re-save it as UTF-8 or UTF-16 little-endian"
                if "big" in encoding
                else f"set encoding = {encoding!r}"
            )
            raise InputError(
                f"{path.name}: starts with a {encoding} byte order mark, but "
                f"{MAPPING_FILE} [{mapping.table}] says encoding = {mapping.encoding!r}; {fix}"
            )


def _hash_text_file(path: Path, encoding: str) -> ingest.FileScan:
    """SHA-256, empty and over-long lines. ingest.hash_file finds the lines in the bytes,
    right for UTF-8 and latin-1; UTF-16 is decoded chunk by chunk first, so its lines are
    real too."""
    if encoding != "utf-16":
        return ingest.hash_file(path, find_empty_lines=True)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(_python_encoding(path, encoding))(errors="replace")
    lines = ingest.LineScan()  # the same scan, fed the text re-encoded as UTF-8
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
            if text := decoder.decode(chunk):
                lines.feed(text.encode("utf-8"))
    lines.finish()
    return ingest.FileScan(digest.hexdigest(), lines.empty, lines.long)


def _python_encoding(path: Path, encoding: str) -> str:
    """Python's name for the encoding DuckDB reads: a UTF-8 BOM is skipped, and UTF-16
    without a BOM is little-endian, as DuckDB assumes."""
    if encoding == "utf-16":
        with path.open("rb") as handle:
            return "utf-16" if handle.read(2) == codecs.BOM_UTF16_LE else "utf-16-le"
    return "utf-8-sig" if encoding == "utf-8" else encoding


def _stage_file(con: duckdb.DuckDBPyConnection, source: SourceFile, mapping: FileMapping) -> None:
    names = _header(source, mapping)
    _check_columns(source, mapping, names)
    header = _unique(names)
    dialect = {"delim": mapping.delimiter, "encoding": mapping.encoding}
    source.rows_read = ingest.count_csv(con, source, header, dialect)
    reader = ingest.csv_reader(source.path, header, dialect, ignore_errors=True)
    rows = ingest.csv_rows(reader)
    expressions = _expressions(mapping)
    known = "true"  # a constant event_type was checked with the mapping
    if source.table == "medications" and "event_type" in mapping.columns:
        known = _reject_unknown_event_types(con, source, rows, expressions["event_type"])
    select = ingest.canonical_select(source.table, expressions)
    ingest.create_view(con, source, f"select {select} from {rows} where {known}")


def _reject_unknown_event_types(con, source: SourceFile, rows: str, event_type: str) -> str:
    """Quarantines medication rows whose event_type, after the values map, is no canonical
    event type (a site word like "GIVEN" the map misses would load and never count as a
    dose); returns the view's filter keeping the others. Blank is left to the schema."""
    canonical = ", ".join(_literal(e) for e in EVENT_TYPES)
    unknown = (
        f"coalesce(trim({event_type}) <> '' "
        f"and lower(trim({event_type})) not in ({canonical}), false)"
    )
    ingest.execute(
        con,
        source.name,
        f"""insert into staging.row_rejects
        select $file, $table, source_row, 'event_type', 'event_type_unknown', {event_type}
        from {rows} where {unknown}""",
        {"file": source.name, "table": source.table},
    )
    return f"not {unknown}"


def _header(source: SourceFile, mapping: FileMapping) -> list[str]:
    """Line 1's column names, trimmed."""
    try:
        python_encoding = _python_encoding(source.path, mapping.encoding)
        with source.path.open(encoding=python_encoding, newline="") as handle:
            line = handle.readline()
    except UnicodeError:
        raise InputError(
            f"{source.name}: line 1 is not {mapping.encoding} text (check "
            f"{MAPPING_FILE} [{mapping.table}] encoding)"
        ) from None
    if not line.strip():
        raise InputError(f"{source.name}: line 1 is empty (expected the header line)")
    first = next(csv.reader(io.StringIO(line), delimiter=mapping.delimiter))
    return [name.strip() for name in first]


def _unique(names: list[str]) -> list[str]:
    """Names DuckDB accepts (it names the columns by position here). DuckDB tells names
    apart in no case, so a name repeated in any case (NOTE, Note) or blank gets its position
    as a suffix, never equal to another name. _check_columns made sure none is mapped."""
    taken = {name.lower() for name in names}
    unique: list[str] = []
    for position, name in enumerate(names, start=1):
        if not name or name.lower() in map(str.lower, unique):
            name = f"{name}#{position}"
            while name.lower() in taken:
                name += "#"
            taken.add(name.lower())
        unique.append(name)
    return unique


def _check_columns(source: SourceFile, mapping: FileMapping, header: list[str]) -> None:
    # Never echo line 1 itself: in a file without a header it is a data row. Names equal to
    # a mapped one in any case are no data: the mapping names them.
    for canonical, column in mapping.columns.items():
        same = [name for name in header if name.lower() == column.lower()]
        if same == [column]:
            continue
        where = f"{MAPPING_FILE}: [{mapping.table}.columns] {canonical} = {column!r}"
        if len(same) > 1:
            raise InputError(
                f"{where}: {source.name} has {len(same)} columns named so in line 1 "
                f"({', '.join(map(repr, same))}; DuckDB reads names in any case): rename one"
            )
        hint = f"; it has {same[0]!r} (names are matched in their case)" if same else ""
        if len(header) == 1:
            hint = f"; line 1 has one column: is delimiter {mapping.delimiter!r} right?"
        raise InputError(f"{where}: {source.name} has no column {column!r} in line 1{hint}")


def _expressions(mapping: FileMapping) -> dict[str, str]:
    """The SQL expression of each canonical column, from the file's columns."""
    out = {c: _literal(text) for c, text in mapping.constants.items()}
    for canonical, column in mapping.columns.items():
        sql = '"' + column.replace('"', '""') + '"'
        sql = _mapped_values(sql, mapping.values.get(canonical, {}))
        if mapping.decimal == "," and canonical in NUMBER_COLUMNS:
            sql = _point_for_comma(sql)
        if mapping.date_formats and canonical in _date_columns(mapping.table):
            sql = _iso_date(sql, mapping)
        out[canonical] = sql
    return out


def _point_for_comma(sql: str) -> str:
    swapped = f"translate({sql}, '.,', ',.')"
    return f"if(regexp_matches({sql}, '{NUMBER_SHAPE}'), {swapped}, {sql})"


def _mapped_values(sql: str, values: dict[str, str]) -> str:
    if not values:
        return sql
    cases = " ".join(
        f"when {_literal(k.strip().lower())} then {_literal(v)}" for k, v in values.items()
    )
    return f"(case lower(trim({sql})) {cases} else {sql} end)"


def _iso_date(sql: str, mapping: FileMapping) -> str:
    parsed = [
        f"strftime(try_strptime(trim({sql}), {_literal(f.pattern)}), {_literal(f.output)})"
        for f in mapping.date_formats
    ]
    return f"coalesce({', '.join(parsed)}, {sql})"


def _literal(text: str) -> str:
    return "'" + sql_quote(text) + "'"


def _stage_code_maps(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> None:
    if mapping.test_codes:
        con.executemany(
            "insert into staging.source_test_codes values (?, ?)",
            [(local.strip(), loinc.strip()) for local, loinc in mapping.test_codes.items()],
        )
    if mapping.drug_classes:
        con.executemany(
            "insert into staging.source_drug_classes values (?, ?, 'before_names')",
            list(mapping.drug_classes.items()),
        )
