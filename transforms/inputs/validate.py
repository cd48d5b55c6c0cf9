"""Validate and load: stream each file through its Pandera schema in bounded batches.

DuckDB streams a file's staging view as Arrow record batches of `batch_rows` rows, in
file order, so a running count gives each row its line. Pandera's polars backend checks
each batch where it lies (a polars frame over the Arrow buffers, no copy); rows that fail
a check are recorded (file, line, column, check, value) for the quarantine table, and
rows that pass stream back into DuckDB, which types them (sql/load/<table>.sql) and
appends them to the canonical table in one INSERT. Memory stays flat however large the
extract.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import duckdb
import numpy as np
import pandas as pd
import pandera.polars as pa
import polars as pl
import pyarrow
import pyarrow.compute as pc

from schemas.canonical import INVISIBLE, SCHEMAS, WHITESPACE, known_columns
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import InputError
from transforms.inputs.ingest import file_view
from transforms.sqlfiles import bind, sql_text

# A worker thread validates the next batch while this thread loads the last one; more
# workers measured no faster here (the load into DuckDB is the slower half).
VALIDATION_THREADS = 1
# A check over the whole row is reported against the column a user should look at.
ROW_CHECK_COLUMN = {"drug_code_or_name": "drug_name"}
QUARANTINE_COLUMNS = ["source_file", "source_line", "column_name", "check_name", "value"]


@dataclass(frozen=True)
class FileToLoad:
    name: str
    table: str
    index: int
    rows_read: int
    header_lines: int
    text: bool


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The quarantine table, the identifier_changes table and an empty canonical table per
    input table."""
    con.execute(
        """
        create or replace table quarantine (
            source_file varchar, source_line bigint, table_name varchar,
            column_name varchar, check_name varchar, value varchar)
        """
    )
    con.execute(
        "create or replace table identifier_changes "
        "(source_file varchar, table_name varchar, rows bigint)"
    )
    for table in SCHEMAS:
        con.register("validated_batch", _empty_batch(table))
        con.execute(f"create or replace table {table} as {sql_text(f'load/{table}.sql')}")
        con.unregister("validated_batch")


def validate_and_load(
    con: duckdb.DuckDBPyConnection, source: FileToLoad, config: AuditConfig
) -> int:
    """Validates one file and loads its passing rows; returns the rows quarantined."""
    limit = dt.date.today() if config.reject_future_dates else None
    check = partial(check_batch, SCHEMAS[source.table](limit), source)
    allowed = config.max_quarantine_fraction * source.rows_read
    skipped = _skipped_lines(con, source)
    bad_rows = con.execute(
        "select (select count(*) from staging.csv_rejects where source_file = $f "
        "and table_name = $t) + (select count(distinct source_row) from staging.row_rejects "
        "where source_file = $f and table_name = $t)",
        {"f": source.name, "t": source.table},
    ).fetchall()[0][0]
    failures: list[pd.DataFrame] = []
    changed = 0

    def passing_batches():
        nonlocal bad_rows, changed
        for passed, failed in _bounded_map(check, batches, VALIDATION_THREADS):
            changed += _identifiers_changed(passed)
            failures.append(failed)
            bad_rows += failed["source_line"].nunique()
            if bad_rows > allowed:
                return  # stop reading: the run will stop on the quarantine fraction anyway
            yield from passed.to_batches()

    writer = con.cursor()  # the reader's connection is busy until the stream ends
    database.define_macros(writer)  # a cursor has no temporary macros of its own
    reader = con.sql(f"select * from {file_view(source.table, source.index)}")
    batches = _numbered(reader.to_arrow_reader(config.batch_rows), skipped, source)
    # One INSERT takes every passing batch as DuckDB asks for it. At 10M lab rows this
    # measured 16 s where an INSERT per batch (a commit each) took 33 s, and reading the
    # file a second time in DuckDB, leaving out the failed rows, 30 s (its row numbers keep
    # the typing on one core, and so does this stream).
    writer.register("validated_batch", _passing_rows(source.table, passing_batches()))
    writer.execute(f"insert into {source.table} {sql_text(f'load/{source.table}.sql')}")
    writer.unregister("validated_batch")
    failures.append(_rejected_rows(writer, source, skipped))
    _quarantine(writer, source, failures)
    if changed:
        writer.execute(
            "insert into identifier_changes values (?, ?, ?)", [source.name, source.table, changed]
        )
    writer.close()
    return bad_rows


def _identifiers_changed(passed: pyarrow.Table) -> int:
    """Rows whose patient identifier loads changed (sql/macros.sql clean_id: NFC, invisible
    characters removed), so the manifest can say how many."""
    if "patient_id" not in passed.column_names or passed.num_rows == 0:
        return 0
    if pc.all(pc.string_is_ascii(passed["patient_id"])).as_py() is not False:
        return 0  # ASCII text has nothing to normalise and no invisible character
    raw = pc.utf8_trim(passed["patient_id"], characters=WHITESPACE)
    clean = pc.replace_substring_regex(pc.utf8_normalize(raw, "NFC"), INVISIBLE, "")
    clean = pc.utf8_trim(clean, characters=WHITESPACE)
    return int(pc.sum(pc.cast(pc.not_equal(raw, clean), pyarrow.int64())).as_py() or 0)


def identifier_changes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per file: rows whose patient identifier was normalised on loading."""
    return dict(
        con.execute(
            "select source_file, sum(rows)::bigint from identifier_changes group by 1"
        ).fetchall()
    )


def _skipped_lines(con: duckdb.DuckDBPyConnection, source: FileToLoad) -> np.ndarray:
    """Lines the CSV reader did not return as rows: rejected rows and empty lines."""
    rows = con.execute(
        "select source_line from staging.csv_rejects where source_file = $f union "
        "select source_line from staging.empty_lines where source_file = $f order by 1",
        {"f": source.name},
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def _numbered(reader, skipped: np.ndarray, source: FileToLoad):
    """(batch without source_row, line numbers), batch by batch."""
    for batch in reader:
        at = batch.schema.get_field_index("source_row")
        rows = batch.column(at).to_numpy(zero_copy_only=False).astype(np.int64)
        yield batch.remove_column(at), _lines(rows, skipped, source)


def _lines(rows: np.ndarray, skipped: np.ndarray, source: FileToLoad) -> np.ndarray:
    """A text file's k-th data row (its source_row) is on line k + header lines + the
    skipped lines before it; a Parquet row's "line" is its row number."""
    if not source.text:
        return rows
    # The j-th skipped line S_j (1-based j) has S_j - header - j data rows before it.
    rows_before = skipped - source.header_lines - np.arange(1, len(skipped) + 1)
    return rows + source.header_lines + np.searchsorted(rows_before, rows, side="left")


def _rejected_rows(
    con: duckdb.DuckDBPyConnection, source: FileToLoad, skipped: np.ndarray
) -> pd.DataFrame:
    """Rows the adapter rejected (staging.row_rejects), with their lines."""
    frame = con.execute(
        "select source_row, column_name, check_name, value from staging.row_rejects "
        "where source_file = $f and table_name = $t order by source_row",
        {"f": source.name, "t": source.table},
    ).df()
    lines = _lines(frame.pop("source_row").to_numpy(dtype=np.int64), skipped, source)
    return frame.assign(source_file=source.name, source_line=lines)[QUARANTINE_COLUMNS]


def _bounded_map(fn, items, workers: int):
    """map() over a stream on a thread pool, holding at most 2 x workers items at once."""
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def check_batch(schema: pa.DataFrameSchema, source: FileToLoad, numbered):
    """(passing rows with file and line, failures) for one batch (a record batch or a
    table) and its lines (numpy)."""
    batch, lines = numbered
    failed = check_failures(schema, pl.from_arrow(batch))
    ok = np.ones(batch.num_rows, dtype=bool)
    ok[failed["position"].to_numpy(dtype=np.int64)] = False
    passed = (
        pyarrow.table(batch)
        .append_column("source_file", pyarrow.array([source.name] * batch.num_rows))
        .append_column("source_line", pyarrow.array(lines))
        .filter(pyarrow.array(ok))
        .cast(_passing_schema(source.table))
    )
    failed = failed.assign(source_file=source.name, source_line=lines[failed["position"]])
    return passed, failed[QUARANTINE_COLUMNS]


def check_failures(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pd.DataFrame:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.to_pandas()
        if cases["index"].isna().any():
            # Not row-level: a structural problem the header checks should have caught.
            problem = cases.loc[cases["index"].isna(), ["column", "check"]].iloc[0].tolist()
            raise InputError(f"{schema.name}: column {problem[0]!r} fails {problem[1]}") from None
        return _as_failure_rows(cases)
    return pd.DataFrame(
        {"position": pd.Series(dtype="int64")}
        | {c: pd.Series(dtype="str") for c in ("column_name", "check_name", "value")}
    )


def _as_failure_rows(cases: pd.DataFrame) -> pd.DataFrame:
    row_check = cases["check"].isin(ROW_CHECK_COLUMN)
    rows = pd.DataFrame(
        {
            "position": cases["index"].astype("int64"),
            "column_name": cases["check"].map(ROW_CHECK_COLUMN).where(row_check, cases["column"]),
            "check_name": cases["check"],
            # A row check fails on what is missing, so it has no single value to show.
            "value": cases["failure_case"]
            .astype("str")
            .where(cases["failure_case"].notna() & ~row_check),
        }
    )
    return rows.drop_duplicates(["position", "column_name", "check_name"])


def _quarantine(
    con: duckdb.DuckDBPyConnection, source: FileToLoad, failures: list[pd.DataFrame]
) -> None:
    frame = pd.concat(failures, ignore_index=True) if failures else None
    if frame is not None and len(frame):
        con.register("failed_rows", frame.astype({"source_line": "int64", "value": "str"}))
        con.execute(
            "insert into quarantine select source_file, source_line, $table, column_name, "
            "check_name, value from failed_rows",
            {"table": source.table},
        )
        con.unregister("failed_rows")
    con.execute(
        "insert into quarantine select source_file, source_line, table_name, column_name, "
        "check_name, value from staging.csv_rejects where source_file = $f and table_name = $t",
        {"f": source.name, "t": source.table},
    )


def _empty_batch(table: str) -> pyarrow.Table:
    return _passing_schema(table).empty_table()


def _passing_schema(table: str) -> pyarrow.Schema:
    """A batch that passed: the canonical columns as text, then its file and line."""
    fields = [pyarrow.field(c, pyarrow.string()) for c in known_columns(table)]
    fields += [pyarrow.field("source_file", pyarrow.string())]
    fields += [pyarrow.field("source_line", pyarrow.int64())]
    return pyarrow.schema(fields)


def _passing_rows(table: str, batches) -> pyarrow.RecordBatchReader:
    return pyarrow.RecordBatchReader.from_batches(_passing_schema(table), batches)


def quarantine_implausible_dates(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> int:
    """Event dates far from the bulk of the extract's dates (sql/load/implausible_dates.sql)
    to the quarantine; returns the rows moved."""
    return _move_to_quarantine(con, "load/implausible_dates.sql", config.sql_params())


def quarantine_duplicate_results(con: duckdb.DuckDBPyConnection) -> int:
    """Repeated result ids' rows (sql/load/duplicate_results.sql) to the quarantine; returns
    the rows moved."""
    return _move_to_quarantine(con, "load/duplicate_results.sql", {})


def _move_to_quarantine(con: duckdb.DuckDBPyConnection, file: str, params: dict) -> int:
    """Moves the loaded rows a query names (in the quarantine's columns) from their
    canonical table to the quarantine; returns how many rows (a row may fail twice)."""
    sql = sql_text(file)
    con.execute(f"create or replace temp table moving as {sql}", bind(sql, params))
    con.execute(
        "insert into quarantine select source_file, source_line, table_name, column_name, "
        "check_name, value from moving"
    )
    for (table,) in con.execute("select distinct table_name from moving").fetchall():
        con.execute(
            f"delete from {table} as t using moving as m where m.table_name = $table "
            "and m.source_file = t.source_file and m.source_line = t.source_line",
            {"table": table},
        )
    return con.execute(
        "select count(distinct (table_name, source_file, source_line)) from moving"
    ).fetchone()[0]


# Quarantined but no failure: the quarantine fraction does not count them.
NOT_FAILURES = ("duplicate_identical",)


def quarantined_rows_by_file(
    con: duckdb.DuckDBPyConnection, ignoring: tuple[str, ...] = ()
) -> dict[tuple[str, str], int]:
    """Rows (not failed checks) quarantined, per (file, table), leaving out the checks
    `ignoring` names."""
    rows = con.execute(
        "select source_file, table_name, count(distinct source_line) from quarantine "
        "where check_name not in $ignoring group by all",
        {"ignoring": list(ignoring)},
    ).fetchall()
    return {(file, table): n for file, table, n in rows}


def check_quarantine_fraction(
    con: duckdb.DuckDBPyConnection, rows_read: dict[tuple[str, str], int], config: AuditConfig
) -> None:
    """Stops the run when a file lost more than max_quarantine_fraction of its rows."""
    counts = quarantined_rows_by_file(con, ignoring=NOT_FAILURES)
    for (name, table), read in rows_read.items():
        bad = counts.get((name, table), 0)
        if read and bad / read > config.max_quarantine_fraction:
            top = con.execute(
                "select column_name, check_name, count(*) n from quarantine "
                "where source_file = $f and table_name = $t group by all order by n desc limit 1",
                {"f": name, "t": table},
            ).fetchall()[0]
            # Reading stops once the limit is passed, so `bad` may be a lower bound.
            raise InputError(
                f"{name}: {bad} of {read} rows failed validation, more than "
                f"max_quarantine_fraction {config.max_quarantine_fraction:.1%}; most common: "
                f"column {top[0]!r} check {top[1]!r}. See the quarantine summary."
            )
