"""`b12audit report RUN_DIR --pdf`: the report printed to an A4 PDF by headless Chromium,
the browser the report is tested in, with the page's own print CSS (page headers with the
run and period, no cut charts). Nothing is sent anywhere: Chromium runs with a throwaway
profile and its background networking off."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from transforms.errors import InputError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ENVIRONMENT_VARIABLE = "B12AUDIT_CHROMIUM"
TIMEOUT_SECONDS = 120


class NoChromium(Exception):
    """No headless Chromium to print with; the message says what to install."""


def find_chromium() -> str:
    named = os.environ.get(ENVIRONMENT_VARIABLE)
    if named:
        if not Path(named).is_file():
            raise NoChromium(f"{ENVIRONMENT_VARIABLE}={named}: no such file")
        return named
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    raise NoChromium(
        "--pdf prints through headless Chromium, and none was found ("
        + ", ".join(BROWSERS)
        + f" on PATH, or {ENVIRONMENT_VARIABLE}). Install it (Debian: apt install chromium),"
        " or open report.html in a browser and print it to PDF: the page has print styles."
    )


def report_in(run_dir: Path) -> Path:
    report = run_dir / "shareable" / "report.html"
    if not report.is_file():
        raise InputError(f"{run_dir}: no shareable/report.html (is this a run folder?)")
    return report


def write_pdf(report: Path, pdf: Path, chromium: str) -> Path:
    """Prints `report` to `pdf` (A4, the page's print CSS); raises if Chromium fails."""
    with tempfile.TemporaryDirectory(prefix="b12audit-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            report.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
        pdf.unlink(missing_ok=True)
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
    if not pdf.is_file() or pdf.read_bytes()[:5] != b"%PDF-":
        raise RuntimeError(
            f"Chromium wrote no PDF (exit {done.returncode}): "
            + done.stderr.decode(errors="replace").strip()[-500:]
        )
    return pdf
