"""The private build database: how every stage opens it, and how text is quoted into SQL.

Each connection also defines the shared SQL macros (sql/macros.sql) as temporary macros:
they live with the connection only, so the analysts' database holds no macro that a
DuckDB 1.x tool might fail to read.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from transforms.sqlfiles import sql_text

# DuckDB spills to disk past this; with Python, Prefect and a batch in flight the whole
# run stays under the 4 GB peak target at 100M lab rows. (At 1 GB the worklist's build ran
# out of memory at 100M: window functions over every unit of every care gap.)
DUCKDB_MEMORY_LIMIT = "2GB"
# Analysts' tools embed DuckDB 1.x, which cannot open 2.0's own storage format; 1.4 is the
# long-term support release (it reads storage up to v1.4.0, not 1.5's).
ANALYST_STORAGE_VERSION = "v1.4.0"


# DuckDB uses every core unless B12AUDIT_THREADS says how many (a shared server; the
# benchmarks' one-core figures).
THREADS_VARIABLE = "B12AUDIT_THREADS"


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    spill = db_path.parent / ".spill"
    config = {
        "memory_limit": DUCKDB_MEMORY_LIMIT,
        "temp_directory": str(spill),
        "preserve_insertion_order": True,
    }
    if threads := os.environ.get(THREADS_VARIABLE, "").strip():
        config["threads"] = int(threads)
    con = duckdb.connect(str(db_path), config=config)
    con.execute("set enable_progress_bar = false")
    define_macros(con)
    return con


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The shared macros, on a connection or a cursor (each has its own temporary ones)."""
    con.execute(sql_text("macros.sql"))


def create_build_database(db_path: Path) -> None:
    """A new private build file in the storage format analysts' DuckDB 1.x tools read."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(
            f"attach '{sql_quote(str(db_path))}' as build "
            f"(storage_version '{ANALYST_STORAGE_VERSION}')"
        )


def sql_quote(text: str) -> str:
    """Text for a single-quoted SQL literal (a file path, a pattern from a mapping file)."""
    return text.replace("'", "''")
