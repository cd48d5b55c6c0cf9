"""The Spark session of a run on the Spark engine (engine = "spark"), from the configuration
or the usual Spark environment.

The master is the configuration's `spark_master`, else SPARK_MASTER, else what
spark-submit or spark-defaults.conf gave (pyspark's own default: local[*]). The
configuration's `[spark]` table adds any Spark setting (spark.executor.memory = "8g").
The session carries the one function the translated SQL needs that Spark lacks:
nfc_normalize (transforms/spark_sql.py).
"""

from __future__ import annotations

import functools
import os
import sys
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Dates and times are local times as written (sql/macros.sql local_time): a session in
# another zone would move nothing, but UTC keeps what Spark prints the same everywhere.
DEFAULTS = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false"}


def spark_session(master: str | None = None, settings: dict[str, str] | None = None):
    """A session (an existing one is reused, as pyspark does) with the settings given."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("b12audit")
    master = master or os.environ.get("SPARK_MASTER")
    if (master or "local").startswith("local"):
        # Local Python workers run this interpreter, where b12audit is installed (on a
        # cluster, the executors' Python must have it: docs/spark.md).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master:
        builder = builder.master(master)
    for key, value in (DEFAULTS | (settings or {})).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.udf.register("nfc_normalize", _nfc_normalize, "string")
    return spark


def _nfc_normalize(text: str | None) -> str | None:
    """DuckDB's nfc_normalize: Unicode NFC. Called on non-ASCII identifiers only."""
    return None if text is None else unicodedata.normalize("NFC", text)


def session_for(config) -> SparkSession:
    """The session the configuration describes (spark_master, [spark])."""
    return spark_session(config.spark_master, config.spark)


def union_all(parts: list[DataFrame]) -> DataFrame:
    """The parts' rows in one DataFrame, columns matched by name."""
    return functools.reduce(lambda a, b: a.unionByName(b), parts)


def keep(rows: DataFrame, view: str) -> DataFrame:
    """Rows computed once and kept (their lineage cut: later steps read rows, not an ever
    longer plan, which ran the driver out of memory), as temporary view `view`."""
    kept = rows.localCheckpoint(eager=True)
    kept.createOrReplaceTempView(view)
    return kept
