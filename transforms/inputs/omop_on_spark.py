"""An OMOP CDM folder read on Spark (engine = "spark"), mapped by the OMOP adapter's own SQL.

Each table file becomes a Spark view of its rows: every column as text, as the file
spells it, and source_row (a CSV row's line, a Parquet row's number). CSV lines are
numbered and parsed as the canonical extract's are (on_spark.py), in the file's dialect
(comma and double quotes, or tab-separated without quotes); rows of the wrong shape are set
aside for the quarantine. Typed Parquet columns become the text the DuckDB engine reads
(omop.OmopFile.text): numbers without a spurious '.0', dates and times in ISO form.

Then omop_vocabulary.py builds its code maps and omop_tables.py its view per file, through
transforms/spark_connection.py: the same SQL, translated, so the mapping has one copy.
Each view's rows are checked as a canonical Parquet file's are; the adapter's own rejects
(an unknown operator) and rows of the wrong shape join the failures. The drug classes the
vocabulary gives go back to the driver (harmonise reads them there).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from transforms.inputs import ingest, on_spark
from transforms.inputs.adapters import omop, omop_tables, omop_vocabulary
from transforms.inputs.on_spark import SparkFile, spark_schema
from transforms.inputs.spark_views import check_views
from transforms.spark_connection import SparkConnection

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def read(spark: SparkSession, input_path: str, listed: list[tuple[str, str]], today):
    """(files for the manifest, {table: checked rows}); the code maps as staging__ views."""
    tables = [(n, u) for n, u in on_spark.top_level(listed) if omop.ANY_TABLE_FILE.search(n)]
    omop.check_required_tables(input_path, [n for n, _ in tables])
    files, opened, wrong = [], [], {}
    for index, (name, uri) in enumerate(tables):
        if not omop.FILE_NAME.match(name):  # not read: listed, as on DuckDB
            files.append(SparkFile(omop.NOT_READ, uri, name, index, False, source_format="omop"))
            continue
        file, view, wrong[name] = _open(spark, name, uri, index)
        files.append(file)
        opened.append(view)
    con = SparkConnection(spark)
    ingest.create_staging(con)
    omop_vocabulary.stage(con, {t: [f for f in opened if f.omop_table == t] for t in omop.TABLES})
    for f in opened:
        if f.source.audited:
            omop_tables.create_view(con, f)
    return files, check_views(spark, files, wrong, today)


def _open(spark: SparkSession, name: str, uri: str, index: int):
    """(the file's facts, its OmopFile over view omop_file_<index>, rows of the wrong shape)."""
    omop_table = omop.FILE_NAME.match(name)[1].lower()
    table = omop.TABLES[omop_table]
    file = SparkFile(table, uri, name, index, name.lower().endswith(".csv"), source_format="omop")
    view = f"omop_file_{index}"
    if file.csv:
        file, rows, wrong = _csv(spark, file, omop_table)
    else:
        file, rows = _parquet(spark, file, omop_table)
        wrong = None
    rows.createOrReplaceTempView(view)
    columns = {c.lower(): c for c in file.header}
    source = ingest.SourceFile(table, Path(name), name, None, index, int(file.csv), file.csv)
    return file, omop.OmopFile(omop_table, source, columns, {}, {}, view), wrong


def _csv(spark: SparkSession, file: SparkFile, omop_table: str):
    from pyspark.sql import functions as F

    file, lines = on_spark.numbered_lines(spark, file)
    header, dialect = omop.header_and_dialect(file.name, file.header[0])
    omop.columns_of(file.name, omop_table, header)
    positions = tuple(f"_c{i}" for i in range(len(header)))
    file = replace(
        file,
        header=tuple(header),
        columns=positions,
        delimiter="\t" if dialect == omop.TAB_DIALECT else ",",
        quoted=dialect != omop.TAB_DIALECT,
    )
    parsed = lines.mapInArrow(partial(on_spark.parse_lines, file), spark_schema(positions))
    parsed = parsed.localCheckpoint(eager=True)  # parsed once, read by several queries
    named = [F.col(p).alias(h) for p, h in zip(positions, header, strict=True)]
    rows = parsed.where("check_name is null").select(
        *named, F.col("source_line").alias("source_row")
    )
    return file, rows, parsed.where("check_name is not null")


def _parquet(spark: SparkSession, file: SparkFile, omop_table: str):
    from pyspark.sql import functions as F

    rows = spark.read.parquet(file.uri)
    omop.columns_of(file.name, omop_table, rows.columns)
    types = dict(rows.dtypes)
    texts = [_text(F.col(f"`{c}`"), types[c]).alias(c) for c in rows.columns]
    numbered = rows.select(*texts, (F.col("_metadata.row_index") + 1).alias("source_row"))
    file = replace(file, header=tuple(rows.columns), rows_read=rows.count())
    return file, numbered


def _text(column, spark_type: str):
    """A typed column as the DuckDB engine reads it (omop.OmopFile.text)."""
    from pyspark.sql import functions as F

    if spark_type in ("double", "float") or spark_type.startswith("decimal"):
        number = column.cast("double")
        whole = (number == F.floor(number)) & (F.abs(number) < 1e15)
        # Not a number and infinities as DuckDB's printf writes them (Java: NaN, Infinity).
        return (
            F.when(F.isnan(number), "nan")
            .when(number == float("inf"), "inf")
            .when(number == float("-inf"), "-inf")
            .when(whole, number.cast("bigint").cast("string"))
            .otherwise(_plain_decimal(number))
        )
    return on_spark.as_text(column, spark_type)


def _plain_decimal(number):
    """%.10f without trailing zeros (omop._number_text)."""
    from pyspark.sql import functions as F

    fixed = F.format_string("%.10f", number)
    return F.regexp_replace(F.regexp_replace(fixed, "0+$", ""), "\\.$", "")
