"""The run sequence: one audit, from an input folder to a published database.

The one-off flow (`b12audit run`), the scheduled flow and the tests all run these steps, in
this order: ingest, validate, (a scheduled run: the history's earlier files), harmonise,
tag, sensitivity, the re-audit diff, report, publish. A `Runner` says how each stage runs:
plainly and timed here, as a Prefect task in flows/. Nothing here imports Prefect.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.canonical import SCHEMAS
from transforms import database
from transforms.config import AuditConfig
from transforms.errors import ConfigError
from transforms.operations import history, on_spark, out_folder, stages
from transforms.operations import publish as publish_step
from transforms.operations.manifest import build_manifest, inputs_with_counts, warnings
from transforms.outputs import worklist_annotations
from transforms.outputs.suppress import is_small
from transforms.rules import registry


class Runner:
    """Runs each stage plainly and times it; flows/ run each as a Prefect task instead and
    log to Prefect. `current` names the stage running, for a failure's alert."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.current: str | None = None

    def stage(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        self.current = name
        result = self.call(name, fn, *args)
        self.current = None
        self.timings[name] = round(time.perf_counter() - start, 3)
        return result

    def call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def log(self, message: str, *args: Any) -> None:
        """Counts and paths only: never a patient identifier."""


@dataclass
class Run:
    """One run: what it reads, where it writes, and its record so far."""

    input_dir: Path
    out: Path
    config: AuditConfig = field(default_factory=AuditConfig)
    input_format: str | None = None  # None: detected from what the folder holds
    annotations: Path | None = None  # None: the folder's annotations.csv, if any
    record: dict = field(default_factory=dict)  # run_id, started_at and the run's facts
    spark: on_spark.SparkAudit | None = None  # engine = "spark": the Spark stages' state

    def __post_init__(self) -> None:
        registry.check_named_findings(self.config)
        self.record.setdefault("run_id", new_run_id())
        self.record.setdefault("started_at", dt.datetime.now().isoformat(timespec="seconds"))

    @property
    def run_id(self) -> str:
        return self.record["run_id"]

    @property
    def run_dir(self) -> Path:
        """Where the run's files are once it publishes."""
        return self.out / "runs" / self.run_id

    @property
    def build_dir(self) -> Path:
        """Where the run's files are written until it publishes (out_folder)."""
        return out_folder.building_dir(self.out, self.run_id)

    @property
    def build_db(self) -> Path:
        return self.build_dir / ".build" / "build.duckdb"


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class FromHistory:
    """A scheduled run's reading plan: only the drop folder's new or corrected files are
    read and validated; the history's other files join the audit unread."""

    db: Path
    dropped: list
    previous_run_id: str | None
    plan: dict = field(default_factory=dict)

    def select(self, files: list[dict]) -> list[dict]:
        data_names = {f["file"] for f in files if f["table"] in SCHEMAS}
        with history.connect(self.db) as con:
            actions = history.classify(con, self.dropped, data_names)
            kept = history.current_files(con, history.changed(actions))
        self.plan = {"dropped": self.dropped, "actions": actions, "data_names": data_names}
        self.plan["kept"] = kept
        return [f for f in files if f["file"] in self.reread]

    @property
    def reread(self) -> set[str]:
        return history.changed(self.plan["actions"])

    def facts(self) -> dict:
        return {"drop": self.plan["actions"], "history_files": self.plan["kept"]}


@dataclass
class Built:
    """A run's build database, reported and ready to publish."""

    outputs: dict
    manifest: dict
    rows_loaded: int
    rows_quarantined: int


def tagged(run: Run, runner: Runner) -> dict:
    """The sequence's first stages, ingest to tag (all a rule's spec test needs); returns
    the files ingested, rows quarantined per file and the extract's scope."""
    files, _, quarantined = _load(run, runner, None)
    return {"files": files, "quarantined": quarantined, "scope": _analyse(run, runner, False)}


def build(run: Run, runner: Runner, reads: FromHistory | None = None) -> Built:
    """Every stage up to the report: the build database and the run's files, not yet
    published. `reads`: a scheduled run's plan; None reads every file in the folder."""
    files, new_files, quarantined = _load(run, runner, reads)
    scope = _analyse(run, runner, sensitivity=True)
    previous = stages.compare_with_previous(
        run.build_db,
        reads.db if reads else None,
        reads.previous_run_id if reads else None,
        run.out,
    )
    loaded = stages.rows_loaded_by_file(run.build_db)
    facts = {
        **run.record,
        "input_dir": run.spark.input_path if run.spark else str(run.input_dir.resolve()),
        "input_format": files[0]["format"],
        "data_end": scope["data_end"],
        "scope": scope,
        "previous_run_id": previous,
        # What earlier runs published (frozen periods, fixed baselines): the last one's.
        "published_db": str(run.out / publish_step.PUBLISHED_NAME),
        "inputs": inputs_with_counts(new_files, quarantined, loaded),
        **(reads.facts() if reads else {}),
    }
    audited = {t: stages.count_rows(run.build_db, t) for t in ("lab_results", "medications")}
    facts["identifiers_normalised"] = stages.identifier_changes(run.build_db)
    facts["warnings"] = warnings(facts["inputs"], audited, facts["identifiers_normalised"])
    for warning in facts["warnings"]:
        runner.log("warning: %s", warning)
    notes = worklist_annotations.find(run.input_dir, run.annotations)
    rows = runner.stage("annotations", stages.annotations, run.build_db, notes)
    facts["annotations"] = {"file": notes.name, "rows": rows} if notes else None
    outputs = runner.stage("report", stages.report, run.build_db, run.build_dir, run.config, facts)
    if run.spark is not None:
        runner.stage("measures parquet", on_spark.write_measures, run.spark, run.build_db)
    manifest = build_manifest({**facts, "outputs": outputs, "timings": runner.timings}, run.config)
    return Built(outputs, manifest, sum(loaded.values()), sum(quarantined.values()))


def _load(run: Run, runner: Runner, reads: FromHistory | None) -> tuple[list, list, dict]:
    """A new build database with the files ingested and the new ones validated (and, for a
    scheduled run, the history's others); returns (files, files read, quarantined)."""
    database.create_build_database(run.build_db)
    if run.config.engine == "spark":
        return _load_on_spark(run, runner, reads)
    files = runner.stage("ingest", stages.ingest, run.build_db, run.input_dir, run.input_format)
    runner.log("ingest: %d files, %d rows read", len(files), sum(f["rows_read"] for f in files))
    new_files = reads.select(files) if reads else files
    quarantined = runner.stage(
        "validate", stages.validate, run.build_db, run.config, new_files, run.build_dir
    )
    runner.log("validate: %d rows quarantined", sum(quarantined.values()))
    if reads:
        runner.log("drop: %s", history.action_counts(reads.plan["actions"]))
        runner.stage("history", stages.load_history, run.build_db, reads.db, reads.reread)
    return files, new_files, quarantined


def _load_on_spark(run: Run, runner: Runner, reads: FromHistory | None) -> tuple:
    if reads is not None:
        raise ConfigError("engine = spark runs one-off audits (b12audit run); schedule on duckdb")
    run.spark = on_spark.SparkAudit.for_run(
        run.config, run.input_dir, run.input_format, run.build_dir, run.run_id
    )
    files = runner.stage("ingest", on_spark.ingest, run.spark, run.build_db)
    runner.log(
        "ingest: %d files, %d rows read on Spark", len(files), sum(f["rows_read"] for f in files)
    )
    quarantined = runner.stage(
        "validate", on_spark.validate, run.spark, run.build_db, run.build_dir
    )
    runner.log("validate: %d rows quarantined", sum(quarantined.values()))
    return files, files, quarantined


def _analyse(run: Run, runner: Runner, sensitivity: bool) -> dict:
    """Harmonise, tag and (in a full run) sensitivity; returns the extract's scope."""
    if run.spark is not None:
        scope = runner.stage("harmonise", on_spark.harmonise, run.spark, run.build_db)
        counts = runner.stage("tag", on_spark.tag, run.spark, run.build_db)
    else:
        scope = runner.stage("harmonise", stages.harmonise, run.build_db, run.config)
        counts = runner.stage("tag", stages.tag, run.build_db, run.config)
    runner.log("harmonise: data end %s", scope["data_end"])
    runner.log("tag: %s", logged_counts(counts, run.config.suppress_counts_up_to))
    if sensitivity:
        runner.stage("sensitivity", stages.sensitivity, run.build_db, run.config)
    return scope


def logged_counts(counts: dict[str, int], up_to: int) -> str:
    """Finding counts for the log, small ones shown only as a range, as in shareable files."""
    shown = (f"{k} {f'1-{up_to}' if is_small(v, up_to) else v}" for k, v in sorted(counts.items()))
    return ", ".join(shown) or "no findings"


def publish(run: Run, built: Built, runner: Runner) -> dict:
    """Writes the manifest, publishes the database, moves the run's folder into place
    (runs/<run id>/) and applies the retention; returns where the report, findings,
    manifest and database are. A run killed on the way leaves a building folder the next
    run clears away, or moves into place when the database was already published."""
    manifest = _final_paths(built.manifest, run)
    manifest["outputs"]["database"] = str(run.out / publish_step.PUBLISHED_NAME)
    _write_manifest(run.build_dir, manifest, runner)
    wait = run.config.publish_wait_seconds
    runner.stage("publish", stages.publish, run.build_db, run.out, manifest, wait)
    shutil.rmtree(run.build_db.parent, ignore_errors=True)
    run.build_dir.rename(run.run_dir)
    _write_manifest(run.run_dir, manifest, runner)  # with the publish stage's timing
    deleted = out_folder.apply_retention(run.out, run.config.keep_runs)
    if deleted:
        runner.log("retention: %d older run folders removed", len(deleted))
    runner.log("report: %s", manifest["outputs"]["report"])
    return {
        "run_id": run.run_id,
        "run_dir": str(run.run_dir),
        "report": manifest["outputs"]["report"],
        "summary": manifest["outputs"]["summary"],
        "manifest": str(run.run_dir / "manifest.json"),
        "database": manifest["outputs"]["database"],
        "findings": manifest["outputs"]["findings"],
    }


def _final_paths(manifest: dict, run: Run) -> dict:
    """The manifest with its output paths where they will be once the run publishes."""
    building, final = str(run.build_dir), str(run.run_dir)
    outputs = {k: v.replace(building, final, 1) for k, v in manifest["outputs"].items()}
    return {**manifest, "outputs": outputs}


def _write_manifest(folder: Path, manifest: dict, runner: Runner) -> None:
    # The run record: no identifiers, but exact row counts, so it sits beside shareable/.
    manifest["timings"] = runner.timings
    text = json.dumps(manifest, indent=2, default=str) + "\n"
    (folder / "manifest.json").write_text(text, encoding="utf-8")


def one_off(run: Run, runner: Runner) -> dict:
    """`b12audit run`: every stage over the whole folder, then publish; one run at a time
    per output folder, after clearing what dead runs left."""
    with out_folder.exclusive(run.out):
        clear_dead_builds(run.out, runner, run.config.publish_wait_seconds)
        built = build(run, runner)
        stages.record_runs(run.build_db, [stages.one_off_run_record(built.manifest)])
        return publish(run, built, runner)


def clear_dead_builds(out: Path, runner: Runner, wait_seconds: float = 60) -> None:
    """Under the output folder's lock: what runs that died left behind goes. First waits
    for an analyst's read-write session on the database, which the run reads too."""
    publish_step.wait_for_writers(out / publish_step.PUBLISHED_NAME, wait_seconds)
    published = stages.published_run_id(out / publish_step.PUBLISHED_NAME)
    removed = out_folder.clear_dead_builds(out, published)
    if removed:
        runner.log("removed %d unfinished builds of runs that died", len(removed))
