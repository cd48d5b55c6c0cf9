"""The audit's plain-Python steps, grouped by what the data goes through (no Prefect here).

- `inputs/`: source formats (adapters), ingest, validation and quarantine.
- `rules/`: harmonise, the SQL steps and their order, tagging, populations, the finding
  registry, sensitivity, and the same steps on Apache Spark.
- `outputs/`: the report, SPC charts, measures, disclosure control, the worklist and
  the re-audit diff.
- `operations/`: the run sequence, the history of a drop folder, alerts, the manifest and
  publishing the analysts' database.

The modules beside the rooms (config, alert_settings, errors, database, sqlfiles,
spark_sql) are shared by all. Imports point one way: `flows` above `operations` above
`outputs` above `rules` above `inputs` above the shared modules, above `schemas` and `sql`
(`[tool.importlinter]` in pyproject.toml; `lint-imports` checks it).
"""

import warnings

# pandera imports pyspark.pandas whenever pyspark is installed (the spark extra), and
# pyspark 4.3 then warns, in every process, that it was not built against pandas 3: the
# audit uses Spark SQL, never pandas-on-Spark.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
