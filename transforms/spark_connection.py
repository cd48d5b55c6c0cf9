"""A DuckDB-shaped connection over a Spark session, for an input adapter's SQL.

The OMOP and MEDS adapters (transforms/inputs/adapters/) write DuckDB SQL: small code maps
as `staging.*` tables, and one view per file (per shard and table). On the Spark engine the same
statements run here, each translated by transforms/spark_sql.py, so the mapping has no
Spark copy. What Spark lacks is supplied:

- a table (`create table`, `insert into`) is a temporary view, its rows kept
  (spark_session.keep); `staging.x` is view `staging__x` (a temporary view has no schema);
- a view (`create or replace view`) is a temporary view, its rows not read yet;
- a reference file the adapter reads with read_csv (sql/reference/*.csv, on this machine)
  is a temporary view of the same rows, every column text;
- ingest.lookup's DuckDB planner device (a table read back from one list) is the table.

A statement this cannot run raises NotPortable, naming it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from transforms.inputs.ingest import lookup
from transforms.spark_session import keep
from transforms.spark_sql import NotPortable, translate
from transforms.sqlfiles import bind

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOOKUP = re.compile(re.escape(lookup("TABLE")).replace("TABLE", r"([\w.]+)"))


class Rows:
    """A query's rows, fetched."""

    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def fetchall(self) -> list[tuple]:
        return self.rows

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None


class SparkConnection:
    """The part of DuckDB's connection the adapters use: execute, executemany, fetch."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.references: dict[str, str] = {}  # reference file path -> its view

    def execute(self, sql: str, params: dict | None = None) -> Rows:
        tree = sqlglot.parse_one(LOOKUP.sub(r"\1", sql), read="duckdb")
        tree = tree.transform(self._spark_tables)
        kind = (tree.args.get("kind") or "").upper() if isinstance(tree, exp.Create) else ""
        if kind == "SCHEMA":
            pass  # views have no schema: staging.x is staging__x
        elif isinstance(tree, exp.Create) and tree.expression is None:
            self._create_empty(tree)
        elif isinstance(tree, exp.Create):
            rows = self._query(tree.expression, params)
            if kind == "VIEW":  # read when used, as DuckDB's view is
                rows.createOrReplaceTempView(view_name(tree.this))
            else:
                keep(rows, view_name(tree.this))
        elif isinstance(tree, exp.Insert):
            self._append(view_name(tree.this), self._query(tree.expression, params))
        elif isinstance(tree, exp.Query):
            return Rows([tuple(row) for row in self._query(tree, params).collect()])
        else:
            raise NotPortable(f"{tree.key} statements do not run on the Spark engine")
        return Rows([])

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        """`insert into T values (?, ...)` for each row."""
        tree = sqlglot.parse_one(sql, read="duckdb")
        if not isinstance(tree, exp.Insert):
            raise NotPortable("executemany runs `insert into ... values` only")
        name = view_name(tree.this.transform(self._spark_tables))
        schema = self.spark.table(name).schema
        self._append(name, self.spark.createDataFrame(list(rows), schema))

    def _query(self, tree: exp.Expression, params: dict | None) -> DataFrame:
        duckdb_sql = tree.sql("duckdb")
        statement = translate(duckdb_sql)
        return self.spark.sql(statement.query, args=bind(duckdb_sql, params or {}))

    def _create_empty(self, tree: exp.Create) -> None:
        columns = ", ".join(
            f"`{c.name}` {c.args['kind'].sql('spark')}" for c in tree.this.expressions
        )
        empty = self.spark.createDataFrame([], columns)
        empty.createOrReplaceTempView(view_name(tree.this))

    def _append(self, name: str, rows: DataFrame) -> None:
        """Rows added to a table, by position and cast to its types, as DuckDB inserts."""
        from pyspark.sql import functions as F

        table = self.spark.table(name)
        if len(rows.columns) != len(table.columns):
            raise NotPortable(
                f"insert into {name}: {len(rows.columns)} columns, not {len(table.columns)}"
            )
        positional = rows.toDF(*[f"_{i}" for i in range(len(rows.columns))])
        typed = positional.select(
            *[F.col(f"_{i}").cast(f.dataType).alias(f.name) for i, f in enumerate(table.schema)]
        )
        keep(table.unionByName(typed), name)

    def _spark_tables(self, node: exp.Expression) -> exp.Expression:
        """staging.x -> staging__x; read_csv of a reference file -> its view."""
        if not isinstance(node, exp.Table):
            return node
        if node.db:
            renamed = node.copy()
            renamed.set("this", exp.to_identifier(f"{node.db}__{node.name}"))
            renamed.set("db", None)
            return renamed
        call = node.this
        if isinstance(call, exp.ReadCSV) or (
            isinstance(call, exp.Anonymous) and call.name.lower() == "read_csv"
        ):
            path = (call.this if isinstance(call, exp.ReadCSV) else call.expressions[0]).name
            renamed = node.copy()
            renamed.set("this", exp.to_identifier(self._reference(path)))
            return renamed
        return node

    def _reference(self, path: str) -> str:
        """A reference CSV file (comma-separated, a header line) as a view of text columns."""
        if path not in self.references:
            with Path(path).open(encoding="utf-8", newline="") as handle:
                rows = list(csv.reader(handle))
            header, body = rows[0], rows[1:]
            view = f"reference__{Path(path).stem}"
            schema = ", ".join(f"`{c}` string" for c in header)
            cells = [tuple(v if v != "" else None for v in r) for r in body]
            self.spark.createDataFrame(cells, schema).createOrReplaceTempView(view)
            self.references[path] = view
        return self.references[path]


def view_name(table: exp.Expression) -> str:
    """A table's name as its temporary view (renamed by _spark_tables)."""
    return table.this.name if isinstance(table, exp.Schema) else table.name
