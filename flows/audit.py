"""The Prefect flow `audit`: extract folder in, report and analyst database out.

The stages and their order are the run sequence (transforms/operations/sequence.py), the
same the scheduled flow and the tests run; here each stage is a Prefect task and logs to
Prefect. Tasks return counts and paths: no DataFrame or patient row passes through
Prefect state or logs.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from transforms.config import load_config, with_overrides
from transforms.operations import sequence


class PrefectRunner(sequence.Runner):
    """Each stage as a Prefect task, logged to the run's log."""

    def call(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        if isinstance(fn, Task):  # a task with its own retry policy
            return fn(*args)
        # No caching: a stage's inputs are paths whose contents change between runs.
        return task(name=name, cache_policy=NONE, retries=0)(fn)(*args)

    def log(self, message: str, *args: Any) -> None:
        get_run_logger().info(message, *args)


def publish_summary_artifact(summary_csv: Path) -> None:
    # The Prefect UI shows the shareable (suppressed) counts; never patient-level data.
    create_markdown_artifact(
        key="b12audit-summary",
        markdown=summary_markdown(summary_csv),
        description="Findings per reason, all sites; counts 1-7 suppressed.",
    )


def summary_markdown(summary_csv: Path) -> str:
    rows = ["| finding | reason | count | denominator |", "|---|---|---|---|"]
    with summary_csv.open(newline="") as handle:
        for r in csv.DictReader(handle):
            if r["site"] == "all sites":
                count = "suppressed" if r["suppressed"] == "True" else r["count"]
                rows.append(f"| {r['finding']} | {r['reason']} | {count} | {r['denominator']} |")
    return "\n".join(rows)


@flow(name="audit")
def audit(
    input_dir: str,
    out_dir: str = "b12audit-output",
    config_path: str | None = None,
    input_format: str | None = None,
    annotations_path: str | None = None,
    report_scope: dict | None = None,
) -> dict:
    """Runs every stage; returns where the report, manifest and database are.
    `report_scope`: settings given on the command line (report_site, period_start,
    period_end, engine)."""
    config = load_config(Path(config_path) if config_path else None)
    config = with_overrides(config, report_scope or {}, "command line")
    notes = Path(annotations_path) if annotations_path else None
    run = sequence.Run(Path(input_dir), Path(out_dir), config, input_format, notes)
    result = sequence.one_off(run, PrefectRunner())
    publish_summary_artifact(Path(result["summary"]))
    return result
