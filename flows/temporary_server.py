"""The temporary Prefect API server of a one-off `b12audit run`: started early, and dying
with the run.

Without PREFECT_API_URL, Prefect starts a temporary server when the flow begins and waits
for it: on the sample that was 4 of its 14 s, after 4 s of imports (2 s of them Prefect's
server code, imported by the run only to start the server). `b12audit run` instead starts
the same server (Prefect's own command: uvicorn on `prefect.server.api.server:create_app`,
marked ephemeral, no UI) as soon as the input and configuration have been checked, and
points the run's API URL at it (Prefect's temporary_settings), so the server boots while
the run imports its own code, and the run never imports the server's. What it costs:
this module repeats the command line of Prefect 3.8's SubprocessASGIServer (prefect is
pinned in pyproject.toml), and the server's port is chosen before it binds (another
process could take it in between; the run then stops, saying the server exited).

A run killed outright (SIGKILL, an out-of-memory kill) never reaches its exit: each server
gets a watchdog, a small process that stops the server once the run is gone and ends by
itself when the server does (tests/test_temporary_server.py).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

WATCHDOG = """
import os, signal, sys, time
run, server = int(sys.argv[1]), int(sys.argv[2])
def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
while alive(server):
    if os.getppid() != run or not alive(run):  # the run is gone (or reparented us)
        os.kill(server, signal.SIGTERM)
        time.sleep(5)
        if alive(server):
            os.kill(server, signal.SIGKILL)
        break
    time.sleep(0.5)
"""
# What Prefect's SubprocessASGIServer sets for its temporary server.
SERVER_ENVIRONMENT = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


class ServerFailed(RuntimeError):
    """Prefect's temporary server exited or did not answer in time."""


class TemporaryServer:
    """A Prefect API server process on 127.0.0.1, watched, for this run only."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.process = subprocess.Popen(_command(self.port), env=os.environ | SERVER_ENVIRONMENT)
        self.watchdog = _watch(self.process.pid)
        # At exit, and after Prefect's own exit handlers (registered later, so run
        # earlier), which send the run's last logs and events to this server.
        atexit.register(self.stop)

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"Prefect's temporary server exited ({self.process.returncode})")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise ServerFailed(
            f"Prefect's temporary server did not answer within {timeout:.0f} s "
            "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS sets how long to wait)"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.watchdog.wait(timeout=2)  # it ends within half a second of the server


def start_unless_configured() -> TemporaryServer | None:
    """A temporary server, unless a Prefect server is configured (the environment or the
    active Prefect profile gives an API URL). Started before that is known, since reading
    Prefect's settings takes a second: stopped at once when one is configured."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    server = TemporaryServer()
    from prefect.settings import get_current_settings  # settings only: no server code

    if get_current_settings().api.url:
        server.stop()
        return None
    return server


@contextmanager
def serving(server: TemporaryServer | None):
    """Runs what it wraps against the server (Prefect's own temporary_settings points the
    API URL at it), once the server answers. The server stops at exit."""
    if server is None:
        yield
        return
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_UI_URL,
        get_current_settings,
        temporary_settings,
    )

    # No UI: the run's log gives no "View at" link to a page that does not exist.
    settings = {PREFECT_API_URL: server.api_url, PREFECT_UI_URL: ""}
    server.wait_until_ready(get_current_settings().server.ephemeral.startup_timeout_seconds)
    with temporary_settings(updates=settings):
        yield


def _command(port: int) -> list[str]:
    prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect_dir.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _watch(server_pid: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(server_pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the run's process group: it must outlive it
    )
