"""The Prefect flow `scheduled-audit`: one scheduled run over a drop folder.

Each run reads the files new to the drop folder (or corrected) into the audit's history
(`OUT_DIR/history.duckdb`), audits the whole history, compares with the previous run,
and publishes. A run with no new files, the same configuration and the same code changes
nothing and costs a scan of the drop folder. A failure leaves the last published results
in place, is recorded in the history, and tells the alert channels.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from flows.audit import (
    Timer,
    analyse,
    ingest,
    new_run_id,
    publish_run,
    report_run,
    validate,
)
from schemas.canonical import SCHEMAS
from transforms import alerts, history, stages
from transforms.config import AuditConfig, ConfigError, load_config
from transforms.errors import InputError
from transforms.manifest import code_version, inputs_with_counts


def retry_only_when_not_ready(task, task_run, state) -> bool:
    """A file still being written is worth waiting for; a bad file or setting is not."""
    return isinstance(state.data, history.FileNotReady)


@task(
    cache_policy=NONE,
    retries=3,
    retry_delay_seconds=[15, 30, 60],
    retry_condition_fn=retry_only_when_not_ready,
)
def scan_drop(drop_dir: Path, history_db: Path) -> dict:
    """Hashes the drop folder; says whether any file is new to the history."""
    dropped = history.scan_drop(drop_dir)
    with history.connect(history_db) as con:
        seen = history.known_hashes(con)
    return {"dropped": dropped, "anything_new": any(f.sha256 not in seen for f in dropped)}


def plan_reads(history_db: Path, dropped: list, files: list[dict]) -> dict:
    """Which files this run reads into the history, from what the adapter found."""
    data_names = {f["file"] for f in files if f["table"] in SCHEMAS}
    with history.connect(history_db) as con:
        actions = history.classify(con, dropped, data_names)
    return {"dropped": dropped, "actions": actions, "data_names": data_names}


@flow(name="scheduled-audit")
def scheduled_audit(
    drop_dir: str,
    out_dir: str,
    config_path: str | None = None,
    input_format: str | None = None,
) -> dict:
    """Ingests the drop folder's new files into the history and publishes the audit."""
    out = Path(out_dir)
    history_db = history.history_path(out)
    run = {
        "run_id": new_run_id(),
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
        "drop_dir": str(Path(drop_dir).resolve()),
        "config_sha256": None,
        "code_version": code_version(),
    }
    with history.connect(history_db) as con:
        history.start_run(con, run)
    config = AuditConfig()  # until the run's own loads: a bad one is told nowhere
    timed = Timer()
    try:
        config = load_config(Path(config_path) if config_path else None)
        run["config_sha256"] = history.config_sha256(config.as_records())
        with history.connect(history_db) as con:
            history.finish_run(con, run["run_id"], "running", **_setup(run))
        return _run(Path(drop_dir), out, history_db, config, input_format, run, timed)
    except BaseException as exc:
        message = _failure_summary(exc)
        with history.connect(history_db) as con:
            history.finish_run(con, run["run_id"], "failed", message=message)
        _tell(config, alerts.run_failed(run["run_id"], timed.current, message))
        raise


def _setup(run: dict) -> dict:
    return {"config_sha256": run["config_sha256"], "finished_at": None}


def _run(
    drop: Path,
    out: Path,
    history_db: Path,
    config: AuditConfig,
    fmt: str | None,
    run: dict,
    timed: Timer,
) -> dict:
    log = get_run_logger()
    scan = timed("scan", scan_drop, drop, history_db)
    with history.connect(history_db) as con:
        last = history.last_attempt(con)
        previous = history.previous_findings_run(con)
    # Published results stand only when the last attempt published them, with the same
    # configuration and code (a failed publish may have left the history ahead of them).
    standing = last is not None and last["outcome"] == "published"
    same_setup = standing and all(last[k] == run[k] for k in ("config_sha256", "code_version"))
    if not scan["anything_new"] and same_setup:
        log.info("no new files and the same configuration: published results stand")
        with history.connect(history_db) as con:
            actions = history.classify(con, scan["dropped"], set())
            history.record_files(con, run["run_id"], scan["dropped"], actions)
            history.finish_run(con, run["run_id"], "unchanged", **history.action_counts(actions))
        return {"run_id": run["run_id"], "outcome": "unchanged", "database": str(out)}
    return _rebuild(drop, out, history_db, config, fmt, run, scan["dropped"], previous, timed)


def _rebuild(drop, out, history_db, config, fmt, run, dropped, previous, timed) -> dict:
    log = get_run_logger()
    run_dir = out / "runs" / run["run_id"]
    build_db = run_dir / ".build" / "build.duckdb"
    stages.create_build_database(build_db)
    files = timed("ingest", ingest, build_db, drop, fmt)
    plan = plan_reads(history_db, dropped, files)
    reread = history.changed(plan["actions"])
    log.info("drop: %s", history.action_counts(plan["actions"]))
    new_files = [f for f in files if f["file"] in reread]
    quarantined = timed("validate", validate, build_db, config, new_files, run_dir)
    timed("history", stages.load_history, build_db, history_db, reread)
    scope = analyse(build_db, config, timed)
    stages.compare_with_previous(build_db, history_db, previous)
    loaded = stages.rows_loaded_by_file(build_db)
    report_facts = {
        **run,
        "input_dir": run["drop_dir"],
        "input_format": files[0]["format"],
        "data_end": scope["data_end"],
        "scope": scope,
        "previous_run_id": previous,
        "drop": plan["actions"],
        "inputs": inputs_with_counts(new_files, quarantined, loaded),
    }
    outputs, manifest = report_run(build_db, run_dir, config, report_facts, timed)
    timed("commit", stages.commit_history, build_db, history_db, run["run_id"], plan)
    counts = {
        **history.action_counts(plan["actions"]),
        "input_format": report_facts["input_format"],
        "rows_loaded": sum(loaded.values()),
        "rows_quarantined": sum(quarantined.values()),
        "findings": stages.count_rows(build_db, "findings"),
    }
    with history.connect(history_db) as con:
        history.record_files(con, run["run_id"], dropped, plan["actions"])
        history.finish_run(con, run["run_id"], "published", **counts)
    stages.copy_run_log(build_db, history_db)
    signals = stages.latest_signals(build_db, config)
    result = publish_run(build_db, out, run_dir, manifest, timed)
    if signals:
        _tell(config, alerts.measures_signalled(run["run_id"], signals, outputs["report"]))
    return {**result, "run_id": run["run_id"], "outcome": "published"}


def _tell(config: AuditConfig, alert: alerts.Alert | None) -> None:
    if alert is None or not config.alerts:
        return
    log = get_run_logger()
    for delivery in alerts.send(config.alerts, alert):
        if delivery.ok:
            log.info("alert sent by %s", delivery.channel)
        else:
            log.warning("alert by %s failed: %s", delivery.channel, delivery.error)


def _failure_summary(exc: BaseException) -> str:
    """What a failure says outside the run: input errors name file, line and column (never
    values); anything else only its kind, since its message may quote data."""
    if isinstance(exc, InputError | ConfigError | history.FileNotReady):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__} (see the Prefect run log)"
