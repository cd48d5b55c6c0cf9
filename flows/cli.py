"""`b12audit run INPUT_DIR`, `b12audit schedule DROP_DIR`, `b12audit serve`: the commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from transforms.adapters import FORMATS
from transforms.config import ConfigError, load_config
from transforms.errors import InputError

# The temporary Prefect API server takes 18-27 s to start here, past Prefect's default
# 20 s timeout (stack notes); and the machines have no network for analytics.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="b12audit", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="audit an extract folder")
    run.add_argument("input_dir", type=Path, help="folder of lab_results, medications, patients")
    run.add_argument(
        "--out",
        type=Path,
        default=Path("b12audit-output"),
        help="output folder (default: ./b12audit-output)",
    )
    run.add_argument("--config", type=Path, default=None, help="audit configuration (TOML)")
    run.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="the extract's format (default: detected from what the folder holds)",
    )
    _add_schedule(commands)
    _add_serve(commands)
    return top


def _add_schedule(commands) -> None:
    schedule = commands.add_parser(
        "schedule",
        help="register the audit of a drop folder as a scheduled Prefect deployment",
        description="Registers deployment scheduled-audit/NAME on the Prefect server at"
        " PREFECT_API_URL; `b12audit serve` runs it.",
    )
    schedule.add_argument("drop_dir", type=Path, help="folder the monthly extracts are put in")
    schedule.add_argument(
        "--out",
        type=Path,
        default=Path("b12audit-output"),
        help="output folder (default: ./b12audit-output)",
    )
    schedule.add_argument("--config", type=Path, default=None, help="audit configuration (TOML)")
    schedule.add_argument(
        "--format", choices=FORMATS, default=None, help="the extracts' format (default: detected)"
    )
    schedule.add_argument("--name", default="b12audit", help="deployment name (default: b12audit)")
    schedule.add_argument(
        "--cron",
        default="0 6 1 * *",
        help="when to run, as cron (default: '0 6 1 * *', 06:00 on the 1st of each month)",
    )
    schedule.add_argument(
        "--timezone", default="UTC", help="IANA time zone of --cron (default: UTC)"
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


def _run(args: argparse.Namespace) -> int:
    try:
        load_config(args.config)  # a bad configuration stops the run before any data is read
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    if not args.input_dir.is_dir():
        return _fail(f"input error: {args.input_dir}: not a folder")
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from flows.audit import audit  # imported late: Prefect reads the settings above

    try:
        result = audit(
            str(args.input_dir),
            str(args.out),
            str(args.config) if args.config else None,
            args.format,
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
    print(f"b12audit: report   {result['report']}")
    print(f"b12audit: findings {result['findings']}")
    print(f"b12audit: manifest {result['manifest']}")
    print(f"b12audit: database {result['database']}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    try:
        load_config(args.config)  # the runs would fail on it, a month from now
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    if not args.drop_dir.is_dir():
        return _fail(f"input error: {args.drop_dir}: not a folder")
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
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
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
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
