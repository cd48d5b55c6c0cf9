"""The rule steps (sql/derive, sql/rules, sql/populations) on Apache Spark.

The same files, in the same order (rules/steps.py), with the same parameters as on DuckDB,
translated by transforms/spark_sql.py. Each step's rows are kept as a temporary view named
for the table it creates, checkpointed (computed once, its lineage cut) so later steps read
rows, not an ever longer plan. The tables the Python stages make (steps.PROVIDED: the
canonical tables, reference lists, scope, registry) are handed in as Arrow tables.

Findings and population units are assembled as rules/tag.py and rules/populations.py do on
DuckDB: the runner adds the finding's (population's) name and fills the columns a rule
does not select; a finding without a site takes the patient's from patient_facts.
tests/test_spark_equivalence.py runs both engines and compares them row for row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transforms.rules.steps import Step, ordered, steps_in
from transforms.spark_session import keep, union_all
from transforms.spark_sql import translate
from transforms.sqlfiles import bind

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

# Every column of `findings` (rules/tag.py) with what a rule that does not select it gives.
FINDINGS_COLUMNS = {
    "patient_id": None,
    "finding": None,
    "reason": "cast(null as string)",
    "index_date": None,
    "episode": "cast(null as int)",
    "evidence_lab_row_ids": "cast(array() as array<string>)",
    "evidence_medication_row_ids": "cast(array() as array<string>)",
    "evidence_diagnosis_row_ids": "cast(array() as array<string>)",
    "site": None,
}
# Every column of `population_units` (rules/populations.py), likewise.
UNITS_COLUMNS = {
    "population": None,
    "patient_id": None,
    "episode": "cast(null as int)",
    "unit_date": None,
    "site": None,
    "status": None,
    "status_reason": "cast(null as string)",
    "data_end": None,
}


def provided_tables() -> list[str]:
    """What the rule steps read that no rule step creates: the Python stages' tables."""
    steps = steps_in("derive", "rules", "populations")
    created = {t for s in steps for t in s.creates}
    return sorted({t for s in steps for t in s.reads} - created)


class SparkRules:
    """The rule steps of one audit, run in a Spark session."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def provide(self, tables: dict[str, pa.Table]) -> None:
        """The tables the Python stages make, as temporary views."""
        for name, table in tables.items():
            self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def derive(self, params: dict[str, object]) -> None:
        """Every sql/derive step, each after the steps creating what it reads."""
        for step in ordered(steps_in("derive")):
            self._create(step, params)

    def tag(self, params: dict[str, object]) -> DataFrame:
        """The findings of every rule, as view `findings`, sites filled from patient_facts."""
        found = self._union(steps_in("rules"), "finding", FINDINGS_COLUMNS, params)
        found.createOrReplaceTempView("findings_unfilled")
        columns = [f"f.{c}" for c in FINDINGS_COLUMNS if c != "site"]
        sited = self.spark.sql(
            f"select {', '.join(columns)}, coalesce(f.site, p.site) as site "
            "from findings_unfilled as f left join patient_facts as p using (patient_id)"
        )
        return keep(sited, "findings")

    def population_units(self, params: dict[str, object]) -> DataFrame:
        """The units of every population, as view `population_units`."""
        units = self._union(steps_in("populations"), "population", UNITS_COLUMNS, params)
        return keep(units, "population_units")

    def _create(self, step: Step, params: dict[str, object]) -> None:
        sql = step.sql()
        statement = translate(sql)
        if statement.creates is None:
            raise ValueError(f"sql/{step.file} creates no table")
        keep(self.spark.sql(statement.query, args=bind(sql, params)), statement.creates)

    def _union(
        self, steps: list[Step], name_column: str, columns: dict[str, str | None], params: dict
    ) -> DataFrame:
        parts = []
        for step in steps:
            sql = step.sql()
            rows = self.spark.sql(translate(sql).query, args=bind(sql, params))
            given = set(rows.columns) | {name_column}
            filled = [
                f"{default} as {column}"
                for column, default in columns.items()
                if column not in given and default is not None
            ]
            rows = rows.selectExpr(f"'{step.name}' as {name_column}", "*", *filled)
            parts.append(rows.select(*columns))
        return union_all(parts)
