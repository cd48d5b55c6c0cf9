"""`b12audit run INPUT_DIR [--out OUT_DIR] [--config AUDIT.toml]`: the command users run."""

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
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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


def _fail(message: str) -> int:
    print(f"b12audit: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
