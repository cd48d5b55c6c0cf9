"""A `b12audit run` killed outright (SIGKILL, as an out-of-memory kill) takes Prefect's
temporary API server with it: no server is left running for nobody."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows import temporary_server
from tests.conftest import SAMPLE


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def is_server(pid: int) -> bool:
    try:
        return b"uvicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_a_killed_run_takes_its_temporary_server_with_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    run = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", str(SAMPLE), "--out", str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    servers: list[int] = []
    while not servers:
        assert run.poll() is None and time.monotonic() < deadline, "no server was started"
        servers = [pid for pid in children(run.pid) if is_server(pid)]
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 30
    while alive(servers[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(servers[0]), "the temporary Prefect server outlived its run"


def test_a_run_without_a_server_starts_its_own_and_stops_it(tmp_path):
    """No PREFECT_API_URL: the run starts Prefect's temporary server itself (before its
    own imports, so the server boots meanwhile), completes against it, links to no UI,
    and leaves no server behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "run", str(SAMPLE), "--out", str(tmp_path)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        servers: set[int] = set()
        while run.poll() is None:
            servers |= {pid for pid in children(run.pid) if is_server(pid)}
            time.sleep(0.1)
    output = log.read_text()
    assert run.returncode == 0, output[-2000:]
    assert len(servers) == 1
    assert "b12audit: database" in output and "View at" not in output
    assert not any(alive(pid) for pid in servers)


def test_a_server_that_exits_stops_the_wait_with_its_exit_status(monkeypatch):
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    monkeypatch.setattr(temporary_server, "_command", lambda port: failing)
    server = temporary_server.TemporaryServer()
    with pytest.raises(temporary_server.ServerFailed, match=r"exited \(3\)"):
        server.wait_until_ready(timeout=60)
    server.stop()
    assert server.watchdog.poll() is not None  # the watchdog ended with its server
