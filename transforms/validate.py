"""Validate: run each staged table through its Pandera schema in bounded batches.

DuckDB streams Arrow record batches of `batch_rows` rows; each becomes a small pandas
frame indexed by raw_id, so memory stays flat however large the extract. Rows failing a
check are recorded (raw_id, column, check, value); quarantine rows are then built in
DuckDB, with the file and line each batch carries.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import duckdb
import pandas as pd
import pandera.pandas as pa

from schemas.canonical import SCHEMAS
from transforms.config import AuditConfig
from transforms.errors import InputError

# Pandas string checks run in pyarrow, which releases the GIL: two threads use both cores.
VALIDATION_THREADS = 2
# A check over the whole row is reported against the column a user should look at.
ROW_CHECK_COLUMN = {"drug_code_or_name": "drug_name"}
FAILURE_COLUMNS = ["raw_id", "column_name", "check_name", "value"]


def create_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create or replace table quarantine (
            source_file varchar, source_line bigint, table_name varchar,
            column_name varchar, check_name varchar, value varchar)
        """
    )


def validate_table(con: duckdb.DuckDBPyConnection, table: str, config: AuditConfig) -> int:
    """Validates staging.raw_<table>; fills quarantine; returns how many rows failed."""
    limit = dt.date.today() if config.reject_future_dates else None
    check = partial(_batch_failures, SCHEMAS[table](limit))
    reader = con.sql(f"select * from staging.raw_{table}").to_arrow_reader(config.batch_rows)
    failures = list(_bounded_map(check, reader, VALIDATION_THREADS))
    frame = pd.concat(failures, ignore_index=True) if failures else _no_failures()
    con.register("validation_failures", frame)
    con.execute(
        """
        insert into quarantine
        select source_file, source_line, $table, column_name, check_name, value
        from validation_failures
        union all
        select source_file, source_line, table_name, column_name, check_name, value
        from staging.csv_rejects where table_name = $table
        """,
        {"table": table},
    )
    con.unregister("validation_failures")
    return frame["raw_id"].nunique()


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


def _batch_failures(schema: pa.DataFrameSchema, batch) -> pd.DataFrame:
    frame = batch.to_pandas().set_index("raw_id")
    failures = _failures(schema, frame.drop(columns=["source_file", "source_line"]))
    where = frame.loc[failures["raw_id"], ["source_file", "source_line"]]
    return failures.assign(
        source_file=where["source_file"].to_numpy(), source_line=where["source_line"].to_numpy()
    )


def _no_failures() -> pd.DataFrame:
    columns = FAILURE_COLUMNS + ["source_file", "source_line"]
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    return frame.astype({"raw_id": "int64", "source_line": "int64"})


def _failures(schema: pa.DataFrameSchema, batch: pd.DataFrame) -> pd.DataFrame:
    try:
        schema.validate(batch, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        if cases["index"].isna().any():
            # Not row-level: a structural problem the header checks should have caught.
            problem = cases.loc[cases["index"].isna(), ["column", "check"]].iloc[0].tolist()
            raise InputError(f"{schema.name}: column {problem[0]!r} fails {problem[1]}") from None
        return _as_failure_rows(cases)
    return _no_failures()


def _as_failure_rows(cases: pd.DataFrame) -> pd.DataFrame:
    row_check = cases["check"].isin(ROW_CHECK_COLUMN)
    rows = pd.DataFrame(
        {
            "raw_id": cases["index"].astype("int64"),
            "column_name": cases["check"].map(ROW_CHECK_COLUMN).where(row_check, cases["column"]),
            "check_name": cases["check"],
            # A row check fails on what is missing, so it has no single value to show.
            "value": cases["failure_case"]
            .astype("str")
            .where(cases["failure_case"].notna() & ~row_check),
        }
    )
    return rows.drop_duplicates(["raw_id", "column_name", "check_name"])


def check_quarantine_fraction(
    con: duckdb.DuckDBPyConnection, rows_read: dict[str, int], config: AuditConfig
) -> None:
    """Stops the run when a file lost more than max_quarantine_fraction of its rows."""
    counts = dict(
        con.execute(
            "select source_file, count(distinct source_line) from quarantine group by all"
        ).fetchall()
    )
    for name, read in rows_read.items():
        bad = counts.get(name, 0)
        if read and bad / read > config.max_quarantine_fraction:
            top = con.execute(
                "select column_name, check_name, count(*) n from quarantine "
                "where source_file = $f group by all order by n desc limit 1",
                {"f": name},
            ).fetchall()[0]
            raise InputError(
                f"{name}: {bad} of {read} rows failed validation ({bad / read:.1%}, above "
                f"max_quarantine_fraction {config.max_quarantine_fraction:.1%}); most common: "
                f"column {top[0]!r} check {top[1]!r}. See the quarantine summary."
            )
