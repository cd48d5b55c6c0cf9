"""The Prefect flow `scheduled-audit`: one scheduled run over a drop folder.

Each run reads the files new to the drop folder (or corrected) into the audit's history
(`OUT_DIR/history.duckdb`), audits the whole history, compares with the previous run,
and publishes. A run with no new files, the same configuration and the same code changes
nothing and costs a scan of the drop folder. A failure leaves the last published results
in place, is recorded in the history, and tells the alert channels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.core import Block
from prefect.cache_policies import NONE

from flows.audit import PrefectRunner, publish_summary_artifact
from transforms.config import AuditConfig, ConfigError, load_config
from transforms.errors import InputError
from transforms.operations import alerts, drop_folder, history, out_folder, sequence, stages
from transforms.operations.manifest import code_version, rule_versions


def retry_only_when_not_ready(task, task_run, state) -> bool:
    """A file still being written is worth waiting for; a bad file or setting is not."""
    return isinstance(state.data, drop_folder.FileNotReady)


@task(
    cache_policy=NONE,
    retries=3,
    retry_delay_seconds=[15, 30, 60],
    retry_condition_fn=retry_only_when_not_ready,
)
def scan_drop(drop_dir: Path, history_db: Path) -> dict:
    """Hashes the drop folder and says what each file is to the history as it is now (new,
    replaced, unchanged, duplicate; before the adapter says which files are data)."""
    dropped = drop_folder.scan_drop(drop_dir)
    with history.connect(history_db) as con:
        return {"dropped": dropped, "actions": history.classify(con, dropped, set())}


@dataclass
class Context:
    """What every step of one scheduled run needs."""

    drop: Path
    out: Path
    fmt: str | None
    run: dict
    config: AuditConfig = field(default_factory=AuditConfig)
    runner: PrefectRunner = field(default_factory=PrefectRunner)

    @property
    def history_db(self) -> Path:
        return history.history_path(self.out)

    def finish(
        self, outcome: str, dropped: list | None = None, actions: dict | None = None, **facts
    ) -> None:
        """Records the run's outcome, configuration hash, counts and (when given) what it
        did with each dropped file, in the history."""
        with history.connect(self.history_db) as con:
            if dropped is not None:
                history.record_files(con, self.run["run_id"], dropped, actions)
            facts["config_sha256"] = self.run["config_sha256"]
            history.finish_run(con, self.run["run_id"], outcome, **facts)


@flow(name="scheduled-audit")
def scheduled_audit(
    drop_dir: str,
    out_dir: str,
    config_path: str | None = None,
    input_format: str | None = None,
) -> dict:
    """Ingests the drop folder's new files into the history and publishes the audit."""
    run = {
        "run_id": sequence.new_run_id(),
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
        "drop_dir": str(Path(drop_dir).resolve()),
        "config_sha256": None,
        # The rules' own hashes too: an edited rule re-audits even at the same version.
        "code_version": f"{code_version()} rules {history.rules_sha256(rule_versions())}",
    }
    ctx = Context(Path(drop_dir), Path(out_dir), input_format, run)
    with out_folder.exclusive(ctx.out):
        with history.connect(ctx.history_db) as con:
            history.start_run(con, run)
        try:
            # The default configuration until the run's own loads: a bad one tells no one.
            ctx.config = load_config(Path(config_path) if config_path else None)
            run["config_sha256"] = history.config_sha256(ctx.config.as_records())
            _check_folders(ctx)
            sequence.clear_dead_builds(ctx.out, ctx.runner, ctx.config.publish_wait_seconds)
            return _run(ctx)
        except BaseException as exc:
            _record_failure(ctx, exc)
            raise


def _check_folders(ctx: Context) -> None:
    """One drop folder per output folder, and the outputs outside the drop folder."""
    drop, out = Path(ctx.run["drop_dir"]), ctx.out.resolve()
    if out == drop or drop in out.parents:
        raise InputError(f"{ctx.out}: the output folder must not be inside the drop folder")
    with history.connect(ctx.history_db) as con:
        other = history.other_drop(con, ctx.run["drop_dir"])
    if other:
        raise InputError(
            f"{ctx.out}: holds the history of the drop folder {other}; give the drop folder "
            f"{drop} its own output folder"
        )


def _record_failure(ctx: Context, exc: BaseException) -> None:
    """Tells the alert channels first, then the history: a history that cannot be written
    (a full disk) must not silence the alert, nor hide the failure being reported."""
    message = _failure_summary(exc)
    _tell(ctx.config, alerts.run_failed(ctx.run["run_id"], ctx.runner.current, message))
    try:
        ctx.finish("failed", message=message)
    except Exception as failure:  # the original failure is the one raised
        get_run_logger().warning("could not record the failure: %s", type(failure).__name__)


def _run(ctx: Context) -> dict:
    scan = ctx.runner.stage("scan", scan_drop, ctx.drop, ctx.history_db)
    with history.connect(ctx.history_db) as con:
        standing = history.results_stand(con, ctx.run)
        previous = history.previous_findings_run(con)
    if history.changed(scan["actions"]) or not standing:
        return _rebuild(ctx, scan["dropped"], previous)
    get_run_logger().info("nothing new, same configuration and code: the results stand")
    actions = scan["actions"]
    ctx.finish("unchanged", scan["dropped"], actions, **history.action_counts(actions))
    return {"run_id": ctx.run["run_id"], "outcome": "unchanged", "database": str(ctx.out)}


def _rebuild(ctx: Context, dropped: list, previous: str | None) -> dict:
    """The run sequence over the history, then the history's commit, and publishing."""
    run = sequence.Run(ctx.drop, ctx.out, ctx.config, ctx.fmt, record=ctx.run)
    reads = sequence.FromHistory(ctx.history_db, dropped, previous)
    built = sequence.build(run, ctx.runner, reads)
    actions = reads.plan["actions"]
    ctx.runner.stage(
        "commit", stages.commit_history, run.build_db, ctx.history_db, run.run_id, reads.plan
    )
    counts = {
        **history.action_counts(actions),
        "input_format": built.manifest["input_format"],
        "rows_loaded": built.rows_loaded,
        "rows_quarantined": built.rows_quarantined,
        "findings": stages.count_rows(run.build_db, "findings"),
    }
    ctx.finish("committed", dropped, actions, **counts)
    stages.copy_run_log(run.build_db, ctx.history_db, run.run_id)
    signals = stages.latest_signals(run.build_db)
    result = sequence.publish(run, built, ctx.runner)
    publish_summary_artifact(Path(result["summary"]))
    # Only now: a run that dies before the swap stays 'committed', and the next redoes it.
    ctx.finish("published")
    if signals:
        _tell(ctx.config, alerts.measures_signalled(run.run_id, signals, result["report"]))
    return {**result, "outcome": "published"}


def _tell(config: AuditConfig, alert: alerts.Alert | None) -> None:
    if alert is None or not config.alerts:
        return
    log = get_run_logger()
    deliveries = alerts.send(config.alerts, alert)
    deliveries += [notify_block(name, alert) for name in config.alerts.get("prefect_blocks", [])]
    for delivery in deliveries:
        if delivery.ok:
            log.info("alert sent by %s to %s", delivery.channel, delivery.target)
        else:
            log.warning("alert by %s failed: %s", delivery.channel, delivery.error)


def notify_block(name: str, alert: alerts.Alert) -> alerts.Delivery:
    """Tells a notification block saved on the Prefect server (set up in the Prefect UI
    like any flow's alerts: e-mail, Microsoft Teams, Slack, a webhook). Never raises: a
    missing block or a failed send is reported like any other channel's."""
    try:
        block = Block.load(name)
        if not isinstance(block, NotificationBlock):
            raise TypeError(f"{name} is not a notification block")
        block.notify(alert.text, alert.subject)
    except Exception as exc:  # a broken channel never fails the run
        return alerts.Delivery("prefect block", ok=False, error=alerts.error_text(exc), target=name)
    return alerts.Delivery("prefect block", ok=True, target=name)


def _failure_summary(exc: BaseException) -> str:
    """What a failure says outside the run: input errors name file, line and column (never
    values); anything else only its kind, since its message may quote data."""
    if isinstance(exc, InputError | ConfigError | drop_folder.FileNotReady):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__} (see the Prefect run log)"
