"""Prefect's temporary API server dies with the run that started it.

`b12audit run` without PREFECT_API_URL starts Prefect's temporary server as a child process
and stops it at exit. A run killed outright (SIGKILL, an out-of-memory kill) never reaches
its exit, and the server lived on. Each server started here gets a watchdog: a small
process that stops the server once the run's process is gone, and ends by itself when the
server does. It wraps Prefect 3.8's SubprocessASGIServer._run_uvicorn_command, the one
place the server is started (prefect is pinned in pyproject.toml; a test kills a run and
sees its server go).
"""

from __future__ import annotations

import os
import subprocess
import sys

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


def die_with_this_process() -> None:
    """From now on, every temporary server Prefect starts is watched."""
    from prefect.server.api import server

    start = server.SubprocessASGIServer._run_uvicorn_command
    if getattr(start, "watched", False):
        return

    def start_watched(self) -> subprocess.Popen:
        process = start(self)
        subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(process.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in the run's process group: it must outlive it
        )
        return process

    start_watched.watched = True
    server.SubprocessASGIServer._run_uvicorn_command = start_watched
