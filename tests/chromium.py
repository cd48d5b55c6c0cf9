"""The system's Chromium for the report's browser tests (Playwright drives it by its
executable path; Playwright's own browser download needs a network the CI lacks)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
DEBIAN_PACKAGE = "chromium"


class ChromiumUnavailable(RuntimeError):
    pass


def ensure_chromium() -> Path:
    """Chromium's path, installing the distribution's package first when it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ChromiumUnavailable(
            f"{CHROMIUM} is missing: install the Debian package `{DEBIAN_PACKAGE}` "
            f"(apt-get install -y --no-install-recommends {DEBIAN_PACKAGE}) or run as root"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", DEBIAN_PACKAGE],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ChromiumUnavailable(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return CHROMIUM


def launch_arguments() -> list[str]:
    """Chromium refuses to run as root without --no-sandbox; nothing it does reaches out."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return ["--no-sandbox"] * root + ["--disable-background-networking", "--disable-sync"]
