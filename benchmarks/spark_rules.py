"""Benchmark the rule steps on Spark against DuckDB, from one audited database.

    python benchmarks/spark_rules.py DB [--repeat 3] [--master local[2]] [--driver-memory 4g]

DB is a database `b12audit run` published (OUT/b12audit.duckdb): it holds the canonical
tables and reference lists the rule steps read (transforms/rules/on_spark.py
provided_tables). Each repetition runs the rule steps (every sql/derive step, every rule,
every population) in this one process:

  duckdb  a fresh build file holding a copy of those tables (not timed), then
          harmonise.derive, populations.build_units and tag.tag, as the audit's harmonise
          and tag stages run them;
  spark   the same tables handed to Spark as Arrow (timed apart: `spark_handover`), then
          on_spark.SparkRules: derive, tag, population_units.

Both must give the same number of findings per finding and of population units, or the
benchmark stops. Spark's session is started once (its start-up is `spark_start`) with
Spark's defaults but no UI or progress bar, UTC, and 2 shuffle partitions per core.
Prints medians and writes benchmarks/results/<date>-spark-rules-<lab rows>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from transforms import database  # noqa: E402
from transforms.config import AuditConfig  # noqa: E402
from transforms.rules import harmonise, populations, tag  # noqa: E402
from transforms.rules.on_spark import SparkRules, provided_tables  # noqa: E402
from transforms.spark_session import spark_session  # noqa: E402


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("b12bench_run", HERE / "run.py")  # machine info


def on_duckdb(published: Path, work: Path, config: AuditConfig) -> tuple[float, dict]:
    build = work / "build.duckdb"
    build.unlink(missing_ok=True)
    with database.connect(build) as con:
        con.execute(f"attach '{database.sql_quote(str(published))}' as pub (read_only)")
        for table in [*provided_tables(), "audit_scope", "finding_definitions", "finding_reasons"]:
            con.execute(f"create table {table} as select * from pub.{table}")
        con.execute("detach pub")
        params = harmonise.run_parameters(con, config)
        start = time.perf_counter()
        harmonise.derive(con, params)
        populations.build_units(con, params)
        tag.tag(con, params)
        seconds = time.perf_counter() - start
        return seconds, counts(con.execute(COUNTS).fetchall())


def on_spark(spark, published: Path, config: AuditConfig) -> tuple[float, float, dict]:
    with duckdb.connect(str(published), read_only=True) as con:
        params = harmonise.run_parameters(con, config)
        tables = {t: con.sql(f"select * from {t}").to_arrow_table() for t in provided_tables()}
    rules = SparkRules(spark)
    start = time.perf_counter()
    rules.provide(tables)
    handed = time.perf_counter()
    rules.derive(params)
    rules.tag(params)
    rules.population_units(params)
    done = time.perf_counter()
    return handed - start, done - handed, counts(spark.sql(COUNTS).collect())


COUNTS = """
    select 'finding ' || finding, count(*) from findings group by 1
    union all
    select 'population ' || population, count(*) from population_units group by 1
"""


def counts(rows) -> dict:
    return {str(r[0]): int(r[1]) for r in rows}


def session(master: str, driver_memory: str):
    """The engine's own session (transforms/spark_session.py), Spark's defaults otherwise."""
    cores = os.cpu_count() or 1
    settings = {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": str(2 * cores),
        "spark.driver.memory": driver_memory,
    }
    spark = spark_session(master, settings)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    config = AuditConfig()
    with duckdb.connect(str(args.db), read_only=True) as con:
        (lab_rows,) = con.execute("select count(*) from lab_results").fetchone()
    start = time.perf_counter()
    spark = session(args.master, args.driver_memory)
    runs = {"spark_start": time.perf_counter() - start, "duckdb": [], "spark": []}
    with tempfile.TemporaryDirectory(prefix="b12bench-spark-") as work:
        for _ in range(args.repeat):
            seconds, duck = on_duckdb(args.db, Path(work), config)
            runs["duckdb"].append({"rules_s": round(seconds, 3)})
            handover, seconds, sparks = on_spark(spark, args.db, config)
            runs["spark"].append({"handover_s": round(handover, 3), "rules_s": round(seconds, 3)})
            if sparks != duck:
                print(f"counts differ: DuckDB {duck}, Spark {sparks}", file=sys.stderr)
                return 1
    spark.stop()
    summary = {
        "duckdb_rules_s": statistics.median(r["rules_s"] for r in runs["duckdb"]),
        "spark_rules_s": statistics.median(r["rules_s"] for r in runs["spark"]),
        "spark_handover_s": statistics.median(r["handover_s"] for r in runs["spark"]),
        "spark_start_s": round(runs["spark_start"], 3),
    }
    summary["spark_over_duckdb"] = round(summary["spark_rules_s"] / summary["duckdb_rules_s"], 1)
    record = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": bench.machine(),
        "master": args.master,
        "lab_rows": lab_rows,
        "findings": sum(v for k, v in duck.items() if k.startswith("finding ")),
        "runs": runs,
        "summary": summary,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{dt.date.today().isoformat()}-spark-rules-{lab_rows}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
