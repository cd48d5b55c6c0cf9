"""The canonical extract read and validated on Spark (engine = "spark"); and what the OMOP
and MEDS readers share with it (omop_on_spark.py, meds_on_spark.py): listing the input
folder, detecting its format, numbering and parsing CSV lines, checking text rows.

Spark reads each file where it lies: any path Spark reads (local, HDFS, an object store
through Spark's own connector). The checks are the polars schemas of schemas/canonical.py,
run inside Spark tasks over Arrow batches (mapInArrow) by the function the DuckDB engine
calls (inputs/validate.py `check_failures`). Each task emits its passing rows and one row
per failed check, with the file and line, as validate.py does; the passing rows are typed
by the same sql/load/<table>.sql, translated (transforms/spark_sql.py).

Line numbers. A CSV file is read as text lines, which Spark splits into blocks read in
parallel. A line's number is the count of lines in the file's earlier blocks plus its place
in its block: one task reads a block, in order, and monotonically_increasing_id counts up
within a task. A first pass counts each block's lines. Line 1 is the header; a blank
line (spaces and tabs only) is skipped but keeps its number, as on DuckDB. Each line is
then parsed by pyarrow in the canonical dialect (comma, double quote, a quote doubled); a
line of the wrong shape is quarantined whole, named as DuckDB names it. A Parquet row's
number is its row index + 1.

Where this reader differs from DuckDB's (docs/spark.md): a quoted field holding a line
break is two lines of the wrong shape here; bytes that are not UTF-8 are replaced, not
quarantined; files are not hashed (their sha256 is null in the manifest).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pcsv

from schemas.canonical import REQUIRED_TABLES, SCHEMAS, known_columns
from transforms.errors import InputError
from transforms.inputs.adapters import canonical, omop
from transforms.inputs.validate import check_batch
from transforms.spark_session import union_all

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BLANK = r"^[ \t\r]*$"
FAILURE_COLUMNS = ["column_name", "check_name", "value"]


@dataclass(frozen=True)
class SparkFile:
    table: str
    uri: str  # as Spark reads it
    name: str  # as quarantine rows and the manifest show it
    index: int
    csv: bool
    header: tuple[str, ...] = ()
    rows_read: int = 0
    blank_lines: int = 0
    source_format: str = "canonical"
    # Another format's file is parsed into these columns (its header's, by position), not
    # into the canonical table's; its dialect may be tab-separated without quotes.
    columns: tuple[str, ...] = ()
    delimiter: str = ","
    quoted: bool = True

    @property
    def text_columns(self) -> tuple[str, ...]:
        return self.columns or tuple(known_columns(self.table))

    def record(self) -> dict:
        """As ingest.SourceFile.record: the manifest's and validation's facts."""
        return {
            "file": self.name,
            "format": self.source_format,
            "table": self.table,
            "index": self.index,
            "header_lines": int(self.csv),
            "text": self.csv,
            "sha256": None,  # not hashed: that would read every byte on the driver
            "rows_read": self.rows_read,
            "blank_lines": self.blank_lines,
        }


def spark_path(path: object) -> str:
    """A path as Spark reads it. pathlib folds `s3a://b/x` into `s3a:/b/x`; the second slash
    is put back (a local path is made absolute)."""
    text = str(path)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:/", text):
        return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]+):/(?!/)", r"\1://", text)
    return str(Path(text).resolve())


def list_files(spark: SparkSession, input_path: str) -> list[tuple[str, str]]:
    """(name, uri) of each file in the folder and its subfolders, as Hadoop's file system
    lists them; a name is its path in the folder (data/train/0.parquet)."""
    jvm = spark.sparkContext._jvm
    folder = jvm.org.apache.hadoop.fs.Path(input_path)
    system = folder.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not system.exists(folder):
        raise InputError(f"{input_path}: not found (as Spark reads it)")
    root = system.makeQualified(folder).toString().rstrip("/") + "/"
    found, files = [], system.listFiles(folder, True)
    while files.hasNext():
        uri = files.next().getPath().toString()
        found.append((uri.removeprefix(root), uri))
    return sorted(found, key=lambda f: f[0].split("/"))


def top_level(listed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The files directly in the folder (canonical and OMOP tables are there)."""
    return [(name, uri) for name, uri in listed if "/" not in name]


def detect(input_path: str, listed: list[tuple[str, str]], meds: bool) -> str:
    """The format of the folder's files (adapters.detect, for the formats Spark reads);
    `meds`: whether it holds MEDS shards (meds_on_spark.is_meds)."""
    names = [name for name, _ in top_level(listed)]
    found = ["canonical"] if any(canonical.FILE_NAME.match(n) for n in names) else []
    if any((m := omop.FILE_NAME.match(n)) and m[1].lower() in omop.DETECTED_BY for n in names):
        found.append("omop")
    found += ["meds"] if meds else []
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(
            f"{input_path}: holds files of several formats ({', '.join(found)}); "
            "choose one with --format"
        )
    raise InputError(
        f"{input_path}: no extract files found; the Spark engine reads the canonical extract "
        "(lab_results, medications, patients, diagnoses as CSV or Parquet), OMOP tables "
        "(person, measurement, drug_exposure ...) and MEDS shards (data/**/*.parquet); FHIR "
        "and site folders run on engine = duckdb"
    )


def discover(input_path: str, listed: list[tuple[str, str]]) -> list[SparkFile]:
    """The canonical extract's files in the folder."""
    found = [(name, uri) for name, uri in top_level(listed) if canonical.FILE_NAME.match(name)]
    tables = {canonical.FILE_NAME.match(name)[1].lower() for name, _ in found}
    for table in REQUIRED_TABLES:
        if table not in tables:
            raise InputError(f"{input_path}: no {table} file (expected {table}.csv or .parquet)")
    return [
        SparkFile(
            canonical.FILE_NAME.match(name)[1].lower(), uri, name, i, name.lower().endswith(".csv")
        )
        for i, (name, uri) in enumerate(found)
    ]


def read_folder(spark: SparkSession, input_path: str, listed, today: dt.date | None):
    """The canonical extract's files (discover) read and checked (read)."""
    return read(spark, discover(input_path, listed), today)


def read(spark: SparkSession, files: list[SparkFile], today: dt.date | None):
    """(files with their rows counted, {table: checked rows}): each table's rows checked,
    as a DataFrame of its canonical columns (text), source_file, source_line and, for a
    failed check, column_name, check_name and value (the row's columns then null)."""
    counted, checked = [], {}
    for table in SCHEMAS:
        mine = [f for f in files if f.table == table]
        parts = []
        for file in mine:
            file, rows = _csv_rows(spark, file, today) if file.csv else _parquet(spark, file, today)
            counted.append(file)
            parts.append(rows)
        if parts:
            checked[table] = union_all(parts)
    return sorted(counted, key=lambda f: f.index), checked


def output_schema(columns: tuple[str, ...]) -> pa.Schema:
    """A checked (or parsed) file's rows: its text columns, file and line, and for a failed
    check (or a row of the wrong shape) its column, check and value."""
    text = [pa.field(c, pa.string()) for c in columns]
    place = [pa.field("source_file", pa.string()), pa.field("source_line", pa.int64())]
    return pa.schema(text + place + [pa.field(c, pa.string()) for c in FAILURE_COLUMNS])


def _csv_rows(spark: SparkSession, file: SparkFile, today: dt.date | None):
    file, numbered = numbered_lines(spark, file)
    file = replace(file, header=tuple(_header(file, file.header)))
    check = partial(_parse_and_check, file, today)
    return file, numbered.mapInArrow(check, spark_schema(file.text_columns))


def numbered_lines(spark: SparkSession, file: SparkFile):
    """(the file with its rows and blank lines counted and its first line as `header`, its
    data lines as (line, value)), blank lines included."""
    from pyspark.sql import functions as F

    lines = spark.read.text(file.uri).select(
        "value",
        F.col("_metadata.file_block_start").alias("block"),
        F.monotonically_increasing_id().alias("id"),
    )
    blocks = sorted(
        lines.groupBy("block")
        .agg(
            F.count("*").alias("lines"),
            F.min("id").alias("first_id"),
            F.sum(F.col("value").rlike(BLANK).cast("int")).alias("blank"),
            F.min_by("value", "id").alias("first_line"),
        )
        .collect()
    )
    if not blocks:
        raise InputError(f"{file.name}: file is empty (no header line)")
    first_line = blocks[0]["first_line"].lstrip("\ufeff")
    offsets, before = [], 0
    for b in blocks:  # a line's number: its id + its block's delta
        offsets.append((b["block"], before + 1 - b["first_id"]))
        before += b["lines"]
    blank = sum(b["blank"] for b in blocks)
    file = replace(file, header=(first_line,), rows_read=before - 1 - blank, blank_lines=blank)
    deltas = spark.createDataFrame(offsets, "block long, delta long")
    numbered = (
        lines.join(F.broadcast(deltas), "block")
        .select((F.col("id") + F.col("delta")).alias("line"), "value")
        .where("line > 1")
    )
    return file, numbered


def _header(file: SparkFile, first_line: tuple[str]) -> list[str]:
    first = next(csv.reader(first_line), [])
    header = [name.strip() for name in first]
    canonical.check_header(file, header)
    return header


def _parquet(spark: SparkSession, file: SparkFile, today: dt.date | None):
    from pyspark.sql import functions as F

    rows = spark.read.parquet(file.uri)
    canonical.check_header(file, rows.columns)
    types = dict(rows.dtypes)
    columns = [
        as_text(F.col(f"`{c}`"), types[c]).alias(c)
        if c in types
        else F.lit(None).cast("string").alias(c)
        for c in known_columns(file.table)
    ]
    text = rows.select((F.col("_metadata.row_index") + 1).alias("line"), *columns)
    file = replace(file, rows_read=rows.count())
    check = partial(check_text_rows, file, today)
    return file, text.mapInArrow(check, spark_schema(file.text_columns))


def as_text(column, spark_type: str):
    """A typed Parquet column as the ISO text the schemas expect (ingest.as_text)."""
    from pyspark.sql import functions as F

    if spark_type == "date":
        return F.date_format(column, "yyyy-MM-dd")
    if spark_type.startswith("timestamp"):  # the session is in UTC: a zone's time in UTC
        return F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")
    return column.cast("string")


def spark_schema(columns: tuple[str, ...]) -> str:
    """output_schema as Spark's DDL."""
    return ", ".join(
        f"`{f.name}` {'long' if f.type == pa.int64() else 'string'}" for f in output_schema(columns)
    )


# --- In the Spark tasks (no session here: these run on executors).


def _parse_and_check(file: SparkFile, today: dt.date | None, batches):
    """CSV lines (line, value) to checked rows: parsed, blank lines left out."""
    for batch in batches:
        lines = batch.column("line").to_numpy(zero_copy_only=False)
        values = batch.column("value").to_pylist()
        kept = [i for i, v in enumerate(values) if not re.match(BLANK, v)]
        parsed, lines_of_rows, wrong = _parse([values[i] for i in kept], lines[kept], file)
        yield from _checked(file, today, parsed, lines_of_rows, wrong)


def check_text_rows(file: SparkFile, today: dt.date | None, batches):
    """Parquet rows (line, canonical columns as text) to checked rows."""
    for batch in batches:
        lines = batch.column("line").to_numpy(zero_copy_only=False)
        rows = pa.Table.from_batches([batch]).drop_columns(["line"])
        yield from _checked(file, today, rows, lines, _no_rows(file))


def parse_lines(file: SparkFile, batches):
    """CSV lines (line, value) to parsed rows of file.text_columns, unchecked, and rows of
    the wrong shape (as failures): output_schema(file.text_columns)."""
    for batch in batches:
        lines = batch.column("line").to_numpy(zero_copy_only=False)
        values = batch.column("value").to_pylist()
        kept = [i for i, v in enumerate(values) if not re.match(BLANK, v)]
        parsed, lines_of_rows, wrong = _parse([values[i] for i in kept], lines[kept], file)
        placed = {"source_file": [file.name] * parsed.num_rows, "source_line": lines_of_rows}
        for name, values_of in placed.items():
            parsed = parsed.append_column(name, pa.array(values_of))
        for column in FAILURE_COLUMNS:
            parsed = parsed.append_column(column, pa.nulls(parsed.num_rows, pa.string()))
        schema = output_schema(file.text_columns)
        yield from pa.concat_tables([parsed.cast(schema), wrong]).to_batches()


def _parse(values: list[str], lines, file: SparkFile):
    """(rows parsed, their lines, rows of the wrong shape) from one batch of a file's lines.
    The batch is parsed at once; if a line ran on into the next (an unclosed quote), each
    line is parsed alone, so every row keeps its own line."""
    table, wrong = _parse_text("\n".join(values), file)
    if table.num_rows + len(wrong) == len(values):
        bad = {number - 1 for number, _, _ in wrong}
        good = [i for i in range(len(values)) if i not in bad]
        shaped = [(int(lines[n - 1]), check, text) for n, check, text in wrong]
        return _canonical(table, file), lines[good], _wrong_shape(file, shaped)
    tables, good, shaped = [], [], []
    for i, value in enumerate(values):
        one, bad = _parse_text(value, file)
        if bad:
            shaped.append((int(lines[i]), bad[0][1], value))
        else:
            tables.append(one)
            good.append(i)
    parsed = pa.concat_tables(tables) if tables else _parse_text("", file)[0]
    return _canonical(parsed, file), lines[good], _wrong_shape(file, shaped)


def _parse_text(text: str, file: SparkFile) -> tuple[pa.Table, list]:
    """Rows named by the header (another format's by file.columns), and the rows of the
    wrong shape as (number in text, check, text)."""
    wrong = []
    names = list(file.columns or file.header)

    def keep(row) -> str:  # DuckDB's names for a row of the wrong shape
        more = row.actual_columns > row.expected_columns
        wrong.append(
            (row.number, "csv_too_many_columns" if more else "csv_missing_columns", row.text)
        )
        return "skip"

    table = pcsv.read_csv(
        pa.py_buffer(text.encode("utf-8")),
        read_options=pcsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pcsv.ParseOptions(
            delimiter=file.delimiter,
            quote_char='"' if file.quoted else False,
            invalid_row_handler=keep,
        ),
        # As DuckDB reads the canonical dialect: an empty field, quoted or not, is null, and
        # only an empty field (pyarrow's default nulls include "NA", "n/a" and "null").
        convert_options=pcsv.ConvertOptions(
            column_types={c: pa.string() for c in names},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    return table, wrong


def _canonical(parsed: pa.Table, file: SparkFile) -> pa.Table:
    """The file's text columns, in order (a column the file lacks is null)."""
    columns = [
        parsed[c] if c in parsed.column_names else pa.nulls(parsed.num_rows, pa.string())
        for c in file.text_columns
    ]
    return pa.table(columns, names=list(file.text_columns))


def _wrong_shape(file: SparkFile, rows: list[tuple[int, str, str]]) -> pa.Table:
    frame = {
        "source_line": [r[0] for r in rows],
        "column_name": ["(whole row)"] * len(rows),
        "check_name": [r[1] for r in rows],
        "value": [r[2] for r in rows],
    }
    return _failure_rows(file, frame)


def _no_rows(file: SparkFile) -> pa.Table:
    return output_schema(file.text_columns).empty_table()


def _checked(file: SparkFile, today, rows: pa.Table, lines, wrong: pa.Table):
    """Passing rows and failed checks in one table (output_schema), batch by batch."""
    passed, failed = check_batch(SCHEMAS[file.table](today), file, (rows, lines))
    for column in FAILURE_COLUMNS:
        passed = passed.append_column(column, pa.nulls(passed.num_rows, pa.string()))
    frame = {c: failed[c].tolist() for c in ["source_line", "column_name", "check_name"]}
    frame["value"] = [None if isinstance(v, float) else v for v in failed["value"].tolist()]
    parts = [passed.cast(output_schema(file.text_columns)), _failure_rows(file, frame), wrong]
    yield from pa.concat_tables(parts).to_batches()


def _failure_rows(file: SparkFile, frame: dict) -> pa.Table:
    schema = output_schema(file.text_columns)
    n = len(frame["source_line"])
    columns = {c: pa.nulls(n, pa.string()) for c in file.text_columns}
    columns["source_file"] = pa.array([file.name] * n, pa.string())
    columns["source_line"] = pa.array(frame["source_line"], pa.int64())
    for column in FAILURE_COLUMNS:
        columns[column] = pa.array(frame[column], pa.string())
    return pa.table(columns, schema=schema)
