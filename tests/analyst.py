"""An analyst's process for the non-blocking tests: one read-only connection to the
published database, queried in a loop, reconnecting when asked."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# Runs under the project's DuckDB: an analyst who keeps one read-only connection open and
# queries it in a loop, reconnecting once the test creates the reconnect flag file.
ANALYST_LOOP = """
import os, sys, time
import duckdb

database, reconnect_flag = sys.argv[1], sys.argv[2]
con = duckdb.connect(database, read_only=True)
reconnected = False
while True:
    if not reconnected and os.path.exists(reconnect_flag):
        con.close()
        con = duckdb.connect(database, read_only=True)
        reconnected = True
        print("reconnected", flush=True)
    try:
        (run_id,), = con.execute("select run_id from run_metadata").fetchall()
        print("ok", run_id, flush=True)
    except duckdb.Error as error:
        print("error", type(error).__name__, str(error).splitlines()[0], flush=True)
    time.sleep(0.01)
"""


class Analyst:
    """The analyst's process, and every line it has reported so far."""

    def __init__(self, database: Path, work: Path):
        self.reconnect_flag = work / "reconnect"
        self.process = subprocess.Popen(
            [sys.executable, "-c", ANALYST_LOOP, str(database), str(self.reconnect_flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.collector = threading.Thread(target=self._collect, daemon=True)
        self.collector.start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def wait_for_lines(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            if self.process.poll() is not None:
                pytest.fail(f"the analyst's process ended: {self.process.stderr.read()}")
            assert time.monotonic() < deadline, f"the analyst reported {self.lines[-5:]}"
            time.sleep(0.01)

    def reconnect(self) -> int:
        """Asks for a fresh connection; returns the line count when it was asked."""
        asked_at = len(self.lines)
        self.reconnect_flag.touch()
        return asked_at

    def stop(self) -> None:
        """Ends the analyst's process by its pid and closes its pipes."""
        self.process.terminate()
        self.process.wait(timeout=10)
        self.collector.join(timeout=10)
        self.process.stdout.close()
        self.process.stderr.close()
