"""The Prefect flow `audit`: extract folder in, report and analyst database out.

Tasks are thin: each opens what it needs through transforms.stages and returns counts
and paths. No DataFrame or patient row passes through Prefect state or logs.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import secrets
import shutil
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from transforms import stages
from transforms.config import AuditConfig, load_config
from transforms.manifest import build_manifest, inputs_with_counts
from transforms.suppress import is_small

# No caching: a task's inputs are paths whose contents change between runs.
stage_task = task(cache_policy=NONE, retries=0)


@stage_task
def ingest(build_db: Path, input_dir: Path, input_format: str | None) -> list[dict]:
    return stages.ingest(build_db, input_dir, input_format)


@stage_task
def validate(build_db: Path, config: AuditConfig, files: list[dict], run_dir: Path) -> dict:
    return stages.validate(build_db, config, files, run_dir)


@stage_task
def harmonise(build_db: Path, config: AuditConfig) -> dict:
    return stages.harmonise(build_db, config)


@stage_task
def tag(build_db: Path, config: AuditConfig) -> dict[str, int]:
    return stages.tag(build_db, config)


@stage_task
def sensitivity(build_db: Path, config: AuditConfig) -> None:
    stages.sensitivity(build_db, config)


@stage_task
def report(build_db: Path, run_dir: Path, config: AuditConfig, run: dict) -> dict[str, str]:
    outputs = stages.report(build_db, run_dir, config, run)
    # The Prefect UI shows the shareable (suppressed) counts; never patient-level data.
    create_markdown_artifact(
        key="b12audit-summary",
        markdown=summary_markdown(Path(outputs["summary"])),
        description="Findings per reason, all sites; counts 1-7 suppressed.",
    )
    return outputs


def summary_markdown(summary_csv: Path) -> str:
    rows = ["| finding | reason | count | denominator |", "|---|---|---|---|"]
    with summary_csv.open(newline="") as handle:
        for r in csv.DictReader(handle):
            if r["site"] == "all sites":
                count = "suppressed" if r["suppressed"] == "True" else r["count"]
                rows.append(f"| {r['finding']} | {r['reason']} | {count} | {r['denominator']} |")
    return "\n".join(rows)


@stage_task
def publish(build_db: Path, out_dir: Path, manifest: dict) -> str:
    return str(stages.publish(build_db, out_dir, manifest))


def logged_counts(counts: dict[str, int], up_to: int) -> str:
    """Finding counts for the log, small ones shown only as a range, as in shareable files."""
    shown = (f"{k} {f'1-{up_to}' if is_small(v, up_to) else v}" for k, v in sorted(counts.items()))
    return ", ".join(shown) or "no findings"


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


class Timer:
    """Stage timings for the manifest (wall seconds per stage)."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self.current: str | None = None  # the stage running, for a failure's alert

    def __call__(self, name, fn, *args):
        start = time.perf_counter()
        self.current = name
        result = fn(*args)
        self.current = None
        self.timings[name] = round(time.perf_counter() - start, 3)
        return result


def analyse(build_db: Path, config: AuditConfig, timed: Timer) -> dict:
    """Harmonise, tag and sensitivity on a loaded build database; returns the scope."""
    log = get_run_logger()
    harmonised = timed("harmonise", harmonise, build_db, config)
    log.info("harmonise: data end %s", harmonised["data_end"])
    counts = timed("tag", tag, build_db, config)
    log.info("tag: %s", logged_counts(counts, config.suppress_counts_up_to))
    timed("sensitivity", sensitivity, build_db, config)
    return harmonised


def report_run(
    build_db: Path, run_dir: Path, config: AuditConfig, run: dict, timed: Timer
) -> tuple[dict, dict]:
    """Writes the run's files; returns (outputs, manifest) with every input file counted."""
    outputs = timed("report", report, build_db, run_dir, config, run)
    manifest = build_manifest({**run, "outputs": outputs, "timings": timed.timings}, config)
    return outputs, manifest


def publish_run(build_db: Path, out: Path, run_dir: Path, manifest: dict, timed: Timer) -> dict:
    """Publishes the database, writes the manifest and removes the build folder."""
    database = timed("publish", publish, build_db, out, manifest)
    manifest["timings"] = timed.timings
    manifest["outputs"]["database"] = database
    # The run record: no identifiers, but exact row counts, so it sits beside shareable/.
    manifest_path = run_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    shutil.rmtree(build_db.parent, ignore_errors=True)
    get_run_logger().info("report: %s", manifest["outputs"]["report"])
    return {
        "run_dir": str(run_dir),
        "report": manifest["outputs"]["report"],
        "manifest": str(manifest_path),
        "database": database,
        "findings": manifest["outputs"]["findings"],
    }


@flow(name="audit")
def audit(
    input_dir: str,
    out_dir: str = "b12audit-output",
    config_path: str | None = None,
    input_format: str | None = None,
) -> dict:
    """Runs every stage; returns where the report, manifest and database are."""
    log = get_run_logger()
    config = load_config(Path(config_path) if config_path else None)
    run_id = new_run_id()
    out, run_dir = Path(out_dir), Path(out_dir) / "runs" / run_id
    build_db = run_dir / ".build" / "build.duckdb"
    stages.create_build_database(build_db)
    timed = Timer()
    started = dt.datetime.now().isoformat(timespec="seconds")
    files = timed("ingest", ingest, build_db, Path(input_dir), input_format)
    log.info("ingest: %d files, %d rows read", len(files), sum(f["rows_read"] for f in files))
    quarantined = timed("validate", validate, build_db, config, files, run_dir)
    log.info("validate: %d rows quarantined", sum(quarantined.values()))
    scope = analyse(build_db, config, timed)
    run = {
        "run_id": run_id,
        "started_at": started,
        "input_dir": str(Path(input_dir).resolve()),
        "input_format": files[0]["format"],
        "data_end": scope["data_end"],
        "scope": scope,
        "previous_run_id": None,
        "inputs": inputs_with_counts(files, quarantined, stages.rows_loaded_by_file(build_db)),
    }
    stages.compare_with_previous(build_db, None, None)
    outputs, manifest = report_run(build_db, run_dir, config, run, timed)
    stages.record_runs(build_db, [stages.one_off_run_record(manifest)])
    return publish_run(build_db, out, run_dir, manifest, timed)
