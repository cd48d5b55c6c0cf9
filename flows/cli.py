"""`b12audit run INPUT_DIR`, `b12audit schedule DROP_DIR`, `b12audit serve`: the commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from transforms.config import ConfigError, load_config
from transforms.errors import InputError
from transforms.inputs.adapters import FORMATS
from transforms.outputs import worklist_annotations
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
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="audit an extract folder")
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
    _add_schedule(commands)
    _add_serve(commands)
    return top


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
    return _run(args)


def _unusable(config: Path | None, folder: Path) -> str | None:
    """Why the configuration or folder cannot be used, checked before any data is read
    (and, for a schedule, before a run a month from now would find out)."""
    try:
        registry.check_named_findings(load_config(config))
    except ConfigError as exc:
        return f"configuration error: {exc}"
    if not folder.is_dir():
        return f"input error: {folder}: not a folder"
    return None


def _use_prefect_defaults() -> None:
    """Before Prefect is imported: it reads these settings then."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _run(args: argparse.Namespace) -> int:
    if problem := _unusable(args.config, args.input_dir):
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
    from flows.audit import audit  # imported late: Prefect reads the settings above

    try:
        result = audit(
            str(args.input_dir),
            str(args.out),
            str(args.config) if args.config else None,
            args.format,
            str(notes) if notes else None,
        )
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
    for warning in json.loads(Path(result["manifest"]).read_text()).get("warnings", []):
        print(f"b12audit: warning: {warning}", file=sys.stderr)
    print(f"b12audit: report   {result['report']}")
    print(f"b12audit: findings {result['findings']}")
    print(f"b12audit: manifest {result['manifest']}")
    print(f"b12audit: database {result['database']}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    if problem := _unusable(args.config, args.drop_dir):
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


def _fail(message: str) -> int:
    print(f"b12audit: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
