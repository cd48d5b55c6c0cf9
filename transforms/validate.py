"""Validate: run each staged table through its Pandera schema in bounded batches.

DuckDB streams Arrow record batches of `batch_rows` rows; each becomes a small pandas
frame indexed by raw_id, so memory stays flat however large the extract. Rows failing a
check are recorded (raw_id, column, check, value); quarantine rows are then built in
DuckDB by joining back to the staging table for the file and line.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pandera.pandas as pa

from schemas.canonical import SCHEMAS
from transforms.config import AuditConfig
from transforms.errors import InputError

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
    """Validates raw_<table>; fills quarantine; returns the number of rows that failed."""
    limit = dt.date.today() if config.reject_future_dates else None
    schema = SCHEMAS[table](limit)
    reader = con.sql(
        f"select * exclude (source_file, source_line) from staging.raw_{table}"
    ).to_arrow_reader(config.batch_rows)
    failures = [_failures(schema, batch.to_pandas().set_index("raw_id")) for batch in reader]
    frame = pd.concat(failures, ignore_index=True) if failures else _no_failures()
    con.register("validation_failures", frame.astype({"raw_id": "int64", "value": "str"}))
    con.execute(
        f"""
        insert into quarantine
        select r.source_file, r.source_line, $table, f.column_name, f.check_name, f.value
        from validation_failures f join staging.raw_{table} r using (raw_id)
        union all
        select source_file, source_line, table_name, column_name, check_name, value
        from staging.csv_rejects where table_name = $table
        """,
        {"table": table},
    )
    con.unregister("validation_failures")
    return frame["raw_id"].nunique()


def _no_failures() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in FAILURE_COLUMNS}).astype(
        {"raw_id": "int64"}
    )


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
            ).fetchone()
            raise InputError(
                f"{name}: {bad} of {read} rows failed validation ({bad / read:.1%}, above "
                f"max_quarantine_fraction {config.max_quarantine_fraction:.1%}); most common: "
                f"column {top[0]!r} check {top[1]!r}. See the quarantine summary."
            )
