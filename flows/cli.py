"""`b12audit run INPUT_DIR`, `b12audit schedule DROP_DIR`, `b12audit serve`: the commands."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import logging
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd

from transforms.config import ConfigError, load_config, with_overrides
from transforms.errors import InputError
from transforms.inputs import adapters
from transforms.inputs.adapters import FORMATS
from transforms.operations.out_folder import RunInProgress
from transforms.operations.publish import PublishBlocked
from transforms.outputs import headline, pdf, worklist_annotations
from transforms.rules import registry

# The temporary Prefect API server takes 18-27 s to start here, past Prefect's default
# 20 s timeout (stack notes); and the machines have no network for analytics.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


DEFAULT_NAME = "b12audit"
DEFAULT_CRON = "0 6 1 * *"  # 06:00 on the 1st of each month
DEFAULT_TIMEZONE = "UTC"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="b12audit", description=__doc__)
    top.add_argument("--version", action="version", version=f"b12audit {_version()}")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="audit an extract folder",
        description="Audits the extract in INPUT_DIR against the B12 guideline and publishes "
        "the report, worklist and analysts' database into --out.",
    )
    _add_extract_arguments(
        run, "input_dir", "folder of lab_results, medications, patients", "extract's"
    )
    run.add_argument(
        "--annotations",
        type=Path,
        default=None,
        help="the care team's worklist annotations (CSV; default: INPUT_DIR/annotations.csv "
        "if there is one)",
    )
    _add_scope(run)
    run.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default=None,
        help="where the rules run (default: the configuration's engine, else duckdb); "
        "spark needs the spark extra and Java (docs/spark.md)",
    )
    run.add_argument(
        "--debug", action="store_true", help="show full tracebacks of input errors too"
    )
    _add_schedule(commands)
    _add_serve(commands)
    _add_report(commands)
    return top


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2025-01-31") from None


def _add_scope(command) -> None:
    """What the report covers: one site, and the measured period (the configuration's
    report_site, period_start and period_end, which these override)."""
    command.add_argument("--site", default=None, help="one site's report, beside all sites")
    command.add_argument(
        "--from",
        dest="period_start",
        type=_iso_date,
        default=None,
        help="first day of the period the report covers (default: the data start)",
    )
    command.add_argument(
        "--to",
        dest="period_end",
        type=_iso_date,
        default=None,
        help="last day of the period the report covers (default: the data end)",
    )


def _add_report(commands) -> None:
    report = commands.add_parser(
        "report",
        help="a finished run's report, printed to PDF",
        description="Names a finished run's report; with --pdf, prints it to an A4 PDF "
        "(shareable/report.pdf) with headless Chromium.",
    )
    report.add_argument("run_dir", type=Path, help="the run's folder (OUT/runs/<run id>)")
    report.add_argument(
        "--pdf",
        action="store_true",
        help="write shareable/report.pdf (A4) with headless Chromium",
    )


def _add_extract_arguments(command, folder: str, folder_help: str, whose: str) -> None:
    """The folder to audit and where the outputs go: the same for `run` and `schedule`."""
    command.add_argument(folder, type=Path, help=folder_help)
    command.add_argument(
        "--out",
        type=Path,
        default=Path("b12audit-output"),
        help="output folder (default: ./b12audit-output)",
    )
    command.add_argument("--config", type=Path, default=None, help="audit configuration (TOML)")
    command.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help=f"the {whose} format (default: detected from what the folder holds)",
    )


def _add_schedule(commands) -> None:
    schedule = commands.add_parser(
        "schedule",
        help="register the audit of a drop folder as a scheduled Prefect deployment",
        description="Registers deployment scheduled-audit/NAME on the Prefect server at"
        " PREFECT_API_URL; `b12audit serve` runs it.",
    )
    _add_extract_arguments(
        schedule, "drop_dir", "folder the monthly extracts are put in", "extracts'"
    )
    schedule.add_argument(
        "--name", default=DEFAULT_NAME, help=f"deployment name (default: {DEFAULT_NAME})"
    )
    schedule.add_argument(
        "--cron",
        default=DEFAULT_CRON,
        help=f"when to run, as cron (default: '{DEFAULT_CRON}', 06:00 on the 1st of each month)",
    )
    schedule.add_argument(
        "--timezone",
        default=DEFAULT_TIMEZONE,
        help=f"IANA time zone of --cron (default: {DEFAULT_TIMEZONE})",
    )


def _add_serve(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the registered deployments' scheduled and triggered runs (Ctrl-C stops)",
        description="Serves the scheduled-audit deployments registered with `b12audit "
        "schedule` on the Prefect server at PREFECT_API_URL: each scheduled or triggered "
        "run audits its drop folder. Runs until Ctrl-C.",
    )
    serve.add_argument(
        "--name",
        action="append",
        default=[],
        help="deployment to serve (repeatable; default: every scheduled-audit deployment)",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "schedule":
        return _schedule(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "report":
        return _report(args)
    return _run(args)


def _scope(args: argparse.Namespace) -> dict:
    """--site, --from and --to as configuration settings (ISO text: a flow parameter)."""
    given = {
        "report_site": args.site,
        "period_start": args.period_start,
        "period_end": args.period_end,
    }
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in given.items() if v}


def _unusable(args: argparse.Namespace, folder: Path, scope: dict | None = None) -> str | None:
    """Why the configuration, folder or output folder cannot be used, checked before
    Prefect starts and any data is read (and, for a schedule, before a run a month from
    now would find out)."""
    try:
        loaded = with_overrides(load_config(args.config), scope or {}, "command line")
        registry.check_named_findings(loaded)
    except ConfigError as exc:
        return f"configuration error: {exc}"
    if args.out.exists() and not args.out.is_dir():
        return f"output error: --out {args.out}: is a file, not a folder"
    if loaded.engine == "spark":
        return _spark_unusable(args, folder)
    if not folder.is_dir():
        return f"input error: {folder}: not a folder"
    if args.command == "run":
        try:
            adapters.preflight(folder, args.format)
        except InputError as exc:
            return f"input error: {exc}"
    return None


def _spark_unusable(args: argparse.Namespace, folder: Path) -> str | None:
    """The Spark engine reads INPUT_DIR where Spark reads it (hdfs://, s3a://, ... or this
    machine's disk): only what this machine can know is checked here."""
    if args.command != "run":
        return "configuration error: engine = spark runs one-off audits (b12audit run)"
    if importlib.util.find_spec("pyspark") is None:
        return (
            "configuration error: engine = spark needs the spark extra "
            "(pip install 'b12audit[spark]') and Java 17 or later"
        )
    if ":" not in str(folder) and not folder.is_dir():  # a local path, not a URI
        return f"input error: {folder}: not a folder"
    return None


def _version() -> str:
    try:
        return metadata.version("b12audit")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _use_prefect_defaults() -> None:
    """Before Prefect is imported: it reads these settings then."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _run(args: argparse.Namespace) -> int:
    scope = _scope(args) | ({"engine": args.engine} if args.engine else {})
    if problem := _unusable(args, args.input_dir, scope):
        return _fail(problem)
    notes = worklist_annotations.find(args.input_dir, args.annotations)
    try:
        if notes is not None:
            worklist_annotations.read(
                notes
            )  # a malformed file stops the run before any data is read
    except worklist_annotations.AnnotationsError as exc:
        return _fail(f"input error: {exc}")
    _use_prefect_defaults()
    from flows import temporary_server

    server = temporary_server.start_unless_configured()  # boots while the flow imports
    from flows.audit import audit  # imported late: Prefect reads the settings above

    if not args.debug:
        quiet_input_errors()

    try:
        with temporary_server.serving(server):
            result = audit(
                str(args.input_dir),
                str(args.out),
                str(args.config) if args.config else None,
                args.format,
                str(notes) if notes else None,
                scope,
            )
    except (PublishBlocked, RunInProgress) as exc:
        exc.__traceback__ = None
        return _fail(f"not published: {exc}")
    except temporary_server.ServerFailed as exc:
        return _fail(f"prefect error: {exc}")
    except InputError as exc:
        # Drop the traceback: its frames hold DuckDB objects that would otherwise outlive
        # the interpreter and make the bindings print leak warnings at exit.
        exc.__traceback__ = None
        return _fail(f"input error: {exc}")
    except Exception as exc:  # a defect: Prefect has logged the traceback above
        exc.__traceback__ = None
        print(
            f"b12audit: internal error ({type(exc).__name__}); see the log above", file=sys.stderr
        )
        return 1
    manifest = json.loads(Path(result["manifest"]).read_text())
    for warning in manifest.get("warnings", []):
        print(f"b12audit: warning: {warning}", file=sys.stderr)
    summary = pd.read_csv(result["summary"], keep_default_na=False, na_values=[""])
    for line in headline.console_lines(summary, manifest["report_scope"]["site"]):
        print(f"b12audit: {line}")
    print(f"b12audit: report   {result['report']}")
    print(f"b12audit: findings {result['findings']}")
    print(f"b12audit: manifest {result['manifest']}")
    print(f"b12audit: database {result['database']}")
    return 0


# What the user fixes (input, a busy database or output folder), not a defect.
USER_ERRORS = (InputError, PublishBlocked, RunInProgress)


class _QuietUserErrors(logging.Filter):
    """An input error is the user's to fix, not a defect: Prefect's own records of it (the
    task's and the flow's failure, with tracebacks) are left out, and the one line
    `b12audit: input error: ...` says it (`--debug` keeps them all)."""

    NAMES = tuple(error.__name__ for error in USER_ERRORS)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], USER_ERRORS):
            return False
        return not any(name in record.getMessage() for name in self.NAMES)


def quiet_input_errors() -> None:
    """On every handler of Prefect's loggers and of the root logger, which prints Prefect's
    records to the console (a logger's own filter misses its children's records)."""
    names = ["", *(n for n in logging.root.manager.loggerDict if n.startswith("prefect"))]
    for logger in (logging.getLogger(n) for n in names):
        for handler in logger.handlers:
            if not any(isinstance(f, _QuietUserErrors) for f in handler.filters):
                handler.addFilter(_QuietUserErrors())


def _schedule(args: argparse.Namespace) -> int:
    if problem := _unusable(args, args.drop_dir):
        return _fail(problem)
    _use_prefect_defaults()
    from flows import deploy  # imported late: Prefect reads the settings above

    try:
        name = deploy.check_name(args.name)
        schedule = deploy.cron_schedule(args.cron, args.timezone)
        api_url = deploy.require_server()
        parameters = deploy.deployment_parameters(args.drop_dir, args.out, args.config, args.format)
        deploy.register(name, parameters, schedule)
        (registered,) = deploy.registered([name])
    except deploy.DeploymentError as exc:
        return _fail(str(exc))
    print(f"b12audit: registered {deploy.describe(registered)}")
    for line in deploy.next_steps(name, api_url):
        print(f"b12audit: {line}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    _use_prefect_defaults()
    from flows import deploy  # imported late: Prefect reads the settings above

    try:
        deploy.require_server()
        deployments = deploy.registered(args.name)
    except deploy.DeploymentError as exc:
        return _fail(str(exc))
    for deployment in deployments:
        print(f"b12audit: serving {deploy.describe(deployment)}", flush=True)
    print("b12audit: waiting for scheduled and triggered runs; Ctrl-C stops", flush=True)
    deploy.serve(deployments)
    return 0


def _report(args: argparse.Namespace) -> int:
    try:
        report = pdf.report_in(args.run_dir)
        if not args.pdf:
            print(f"b12audit: report {report}")
            return 0
        written = pdf.write_pdf(report, report.with_suffix(".pdf"), pdf.find_chromium())
    except (InputError, pdf.NoChromium) as exc:
        return _fail(str(exc))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return _fail(f"the PDF could not be written: {exc}")
    print(f"b12audit: pdf {written}")
    return 0


def _fail(message: str) -> int:
    print(f"b12audit: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
