"""OMOP CDM v5.4: a folder of OMOP tables, one CSV or Parquet file per table, any case of
file name (PERSON.csv, measurement.parquet ...), CSV and Parquet mixed freely.

person -> patients, measurement -> lab_results, drug_exposure -> medications,
condition_occurrence -> diagnoses. An event's site is its visit's care site
(visit_occurrence_id -> visit_occurrence.care_site_id), else its person's
(person.care_site_id); care_site names them. visit_occurrence, care_site and the
vocabulary tables concept and concept_ancestor, when present, are counted as inputs that
are not audited. The mapping of each table is in omop_tables.py, the vocabulary and the
site maps in omop_vocabulary.py. Any other CSV or Parquet file of the folder (OMOP's
observation, concept_relationship ...) is not read: it is hashed and listed in the
manifest as table "not_read" with rows_read 0 (counting its rows would be a full read of
a file no rule uses), so the manifest still shows every input and its hash.

Files are read in place by DuckDB; a view numbers a file's rows before it joins anything,
so a row keeps its line however the join orders it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from transforms.database import sql_quote
from transforms.errors import InputError
from transforms.inputs import ingest
from transforms.inputs.adapters import omop_tables, omop_vocabulary
from transforms.inputs.ingest import SourceFile

# OMOP table -> the canonical table it feeds, or the role of a file read but not audited.
TABLES = {
    "person": "patients",
    "measurement": "lab_results",
    "drug_exposure": "medications",
    "condition_occurrence": "diagnoses",
    "care_site": "care_site",
    "visit_occurrence": "vocabulary",
    "concept": "vocabulary",
    "concept_ancestor": "vocabulary",
    "concept_relationship": "vocabulary",
}
REQUIRED_TABLES = ("measurement", "drug_exposure")
# The CDM's required columns that the mapping reads; every other column read is optional.
REQUIRED_COLUMNS = {
    "person": ("person_id", "gender_concept_id", "year_of_birth"),
    "measurement": ("measurement_id", "person_id", "measurement_concept_id", "measurement_date"),
    "drug_exposure": (
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_type_concept_id",
    ),
    "condition_occurrence": ("person_id", "condition_concept_id", "condition_start_date"),
    "care_site": ("care_site_id",),
    # The CDM requires more visit columns; only the id and care_site_id are read.
    "visit_occurrence": ("visit_occurrence_id",),
    "concept": ("concept_id", "concept_name", "vocabulary_id", "concept_code"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
    "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id"),
}
FILE_NAME = re.compile(rf"^({'|'.join(TABLES)})\.(csv|parquet)$", re.I)
ANY_TABLE_FILE = re.compile(r"\.(csv|parquet)$", re.I)
NOT_READ = "not_read"
DETECTED_BY = ("person", "measurement", "drug_exposure")
NUMBER_TYPES = ("DOUBLE", "FLOAT", "REAL")
# The Athena vocabulary download's .csv files: tab-separated, no quoting.
TAB_DIALECT = {"delim": "\t", "quote": "", "escape": ""}


@dataclass
class OmopFile:
    """One OMOP table file: its columns (by lower-case name) and how to read them as text."""

    omop_table: str
    source: SourceFile
    columns: dict[str, str]  # lower-case name -> name as the file spells it
    types: dict[str, str]  # Parquet column types by lower-case name (empty for CSV)
    dialect: dict
    view: str | None = None  # on Spark: a view of the file's rows, as text, with source_row

    def has(self, column: str) -> bool:
        return column in self.columns

    def text(self, column: str) -> str:
        """The column as text (null when the file lacks it); typed Parquet dates and times
        as ISO text, numbers without a spurious '.0' (150.0 reads as 150)."""
        if column not in self.columns:
            return "null::varchar"
        name = self.columns[column].replace('"', '""')
        qualified = f'"r"."{name}"'  # the views join maps that have columns of the same name
        kind = self.types.get(column)
        if kind in NUMBER_TYPES or (kind or "").startswith("DECIMAL"):
            return _number_text(qualified)
        return ingest.as_text(qualified, kind)

    def concept_id(self, column: str) -> str:
        """The column as a concept id (bigint); null when absent or not a number."""
        if column not in self.columns:
            return "null::bigint"
        return f"try_cast(trim({self.text(column)}) as bigint)"

    def rows(self, numbered: bool = True) -> str:
        """The file's rows, aliased r: numbered in file order (source_row), or, for a query
        that needs no row numbers, as read."""
        if self.view:
            return f"{self.view} as r"
        if self.source.text:
            header = list(self.columns.values())
            reader = ingest.csv_reader(self.source.path, header, self.dialect, ignore_errors=True)
            return f"{ingest.csv_rows(reader) if numbered else reader} as r"
        if numbered:
            return f"{ingest.parquet_rows(self.source.path)} as r"
        return f"read_parquet('{sql_quote(str(self.source.path))}') as r"


def _number_text(quoted: str) -> str:
    """A floating-point value as plain decimal text: 150.0 -> 150, 0.1 -> 0.1; never an
    exponent, which the result parser does not read."""
    return (
        f"case when {quoted} = trunc({quoted}) and abs({quoted}) < 1e15 "
        f"then cast(cast({quoted} as bigint) as varchar) "
        f"else rtrim(rtrim(printf('%.10f', {quoted}), '0'), '.') end"
    )


def detect(input_dir: Path) -> bool:
    return any(
        (match := FILE_NAME.match(p.name)) and match[1].lower() in DETECTED_BY
        for p in input_dir.iterdir()
        if p.is_file()
    )


def stage(con: duckdb.DuckDBPyConnection, input_dir: Path) -> list[SourceFile]:
    files, not_read = discover(con, input_dir)
    for f in files:
        f.source.rows_read = _count_rows(con, f)
    by_table = {t: [f for f in files if f.omop_table == t] for t in TABLES}
    omop_vocabulary.stage(con, by_table)
    for f in files:
        if f.source.audited:
            omop_tables.create_view(con, f)
    return sorted([f.source for f in files] + not_read, key=lambda s: s.index)


VOCABULARY_TABLES = ("concept", "concept_ancestor", "concept_relationship")
OWN_VOCABULARY = (
    "vocabulary_dir: an OMOP extract reads the concept tables in its own folder; "
    "put the vocabulary there instead"
)


def vocabulary_files(folder: Path) -> list[Path]:
    """The concept tables in a vocabulary folder, by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and (match := FILE_NAME.match(p.name))
        and match[1].lower() in VOCABULARY_TABLES
    )


def vocabulary_classes(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """A site's OMOP vocabulary (configuration `vocabulary_dir`) for an extract in another
    format: every drug under the B12 and folic acid ingredients is added to
    staging.source_drug_classes by its RxNorm code and name, as an OMOP extract's own
    vocabulary would add it (omop_vocabulary.stage). An OMOP extract reads its own."""
    exists = con.execute(
        "select count(*) from duckdb_tables() "
        "where schema_name = 'staging' and table_name = 'omop_concept'"
    ).fetchone()[0]
    if exists:
        raise InputError(OWN_VOCABULARY)
    files = [_open(con, path, index) for index, path in enumerate(vocabulary_files(folder))]
    by_table = {t: [f for f in files if f.omop_table == t] for t in VOCABULARY_TABLES}
    omop_vocabulary.classes(con, by_table)


def discover(
    con: duckdb.DuckDBPyConnection, input_dir: Path
) -> tuple[list[OmopFile], list[SourceFile]]:
    """The OMOP tables the mapping reads, and the folder's other table files (not read)."""
    paths = sorted(p for p in input_dir.iterdir() if p.is_file() and ANY_TABLE_FILE.search(p.name))
    check_required_tables(input_dir, [p.name for p in paths])
    files, not_read = [], []
    for index, path in enumerate(paths):
        if FILE_NAME.match(path.name):
            files.append(_open(con, path, index))
        else:
            not_read.append(SourceFile(NOT_READ, path, path.name, ingest.hash_file(path)[0], index))
    return files, not_read


def check_required_tables(folder: object, names: list[str]) -> None:
    present = {m[1].lower() for name in names if (m := FILE_NAME.match(name))}
    for table in REQUIRED_TABLES:
        if table not in present:
            raise InputError(
                f"{folder}: no OMOP {table} table (expected {table.upper()}.csv, "
                f"{table}.csv or {table}.parquet)"
            )


def _open(con: duckdb.DuckDBPyConnection, path: Path, index: int) -> OmopFile:
    omop_table = FILE_NAME.match(path.name)[1].lower()
    is_csv = path.suffix.lower() == ".csv"
    scan = ingest.hash_file(path, find_empty_lines=is_csv)
    source = SourceFile(
        TABLES[omop_table], path, path.name, scan.sha256, index, int(is_csv), is_csv,
        scan.empty_lines, long_lines=scan.long_lines,
    )  # fmt: skip
    if is_csv:
        header, dialect = _csv_header(source)
        types = {}
    else:
        typed = ingest.parquet_types(con, path, source.name)
        header, dialect = list(typed), {}
        types = {name.lower(): kind for name, kind in typed.items()}
    columns = columns_of(source.name, omop_table, header)
    return OmopFile(omop_table, source, columns, types, dialect)


def _csv_header(source: SourceFile) -> tuple[list[str], dict]:
    """The header and the dialect: comma-separated with double quotes, or tab-separated
    without quoting (the Athena vocabulary download's .csv files are tab-separated)."""
    try:
        with source.path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline().rstrip("\r\n")
    except UnicodeDecodeError:
        raise InputError(f"{source.name}: header line is not UTF-8 text") from None
    return header_and_dialect(source.name, first)


def header_and_dialect(name: str, first: str) -> tuple[list[str], dict]:
    """A CSV file's columns and dialect from its first line."""
    if not first:
        raise InputError(f"{name}: file is empty (no header line)")
    if "\t" in first and "," not in first:
        return [c.strip() for c in first.split("\t")], TAB_DIALECT
    return [c.strip() for c in next(csv.reader([first]))], {}


def columns_of(name: str, omop_table: str, header: list[str]) -> dict[str, str]:
    """The file's columns by lower-case name, checked: none twice, the required ones there."""
    # Line 1 may be data, not a header: name only the OMOP columns we expected.
    lowered = [c.lower() for c in header]
    wanted = set(REQUIRED_COLUMNS[omop_table]) | set(omop_tables.OPTIONAL.get(omop_table, ()))
    if not wanted & set(lowered):
        raise InputError(
            f"{name}: line 1 names none of table {omop_table}'s columns (such as "
            f"{REQUIRED_COLUMNS[omop_table][0]!r}); an OMOP file needs a header line of CDM "
            "column names (some exports write none: add it)"
        )
    twice = sorted({c for c in lowered if lowered.count(c) > 1})
    if twice:
        what = f"column {twice[0]!r}" if twice[0] in wanted else "a column name"
        raise InputError(f"{name}: {what} appears twice in line 1 (any case)")
    missing = [c for c in REQUIRED_COLUMNS[omop_table] if c not in lowered]
    if missing:
        found = sorted(wanted & set(lowered))
        raise InputError(
            f"{name}: missing required OMOP column {missing[0]!r} of table "
            f"{omop_table}; line 1 has {len(header)} columns, of which the known ones are: "
            f"{', '.join(found) or 'none'}"
        )
    return dict(zip(lowered, header, strict=True))


def _count_rows(con: duckdb.DuckDBPyConnection, f: OmopFile) -> int:
    """Every data row of the file, rows of the wrong shape included (kept, with their
    lines, for validation to quarantine)."""
    if f.source.text:
        dialect = ingest.CSV_DIALECT | f.dialect
        return ingest.count_csv(con, f.source, list(f.columns.values()), dialect)
    query = "select count(*) from read_parquet($p)"
    return ingest.execute(con, f.source.name, query, {"p": str(f.source.path)}).fetchall()[0][0]
