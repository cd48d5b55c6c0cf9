"""Publishing under analysts: a read-write DuckDB session on the published database (the
DuckDB CLI's default) makes the run wait and then stop, never publish over it; a session
killed after writing leaves a write-ahead log that is folded into the old file before the
new one takes its place; read-only sessions never block. Afterwards every new connection
opens the database, and the next run clears what a stopped run left."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE, publish_run
from transforms.config import AuditConfig
from transforms.operations import publish

ANALYST = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
if sys.argv[2] == "rw":
    con.execute("create table analyst_notes as select 1 as note")
print("ready", flush=True)
time.sleep(120)
"""


def analyst(database: Path, mode: str) -> subprocess.Popen:
    """An analyst's session in its own process, holding the database open."""
    session = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(database), mode], stdout=subprocess.PIPE, text=True
    )
    assert session.stdout.readline().strip() == "ready"
    return session


def stop(session: subprocess.Popen, how: int = signal.SIGTERM) -> None:
    session.send_signal(how)
    session.wait()
    session.stdout.close()


def build_file(folder: Path, run_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table run_metadata as select $run as run_id", {"run": run_id})
    return path


def run_in(database: Path) -> str:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select run_id from run_metadata").fetchone()[0]


@pytest.fixture
def published(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    publish.swap_into_place(build_file(tmp_path / "b", "first"), out, wait_seconds=0)
    return out


def test_a_read_write_session_makes_the_publish_wait_then_stop(published, tmp_path):
    target = published / publish.PUBLISHED_NAME
    session = analyst(target, "rw")
    try:
        started = time.monotonic()
        with pytest.raises(publish.PublishBlocked, match="open read-write by another process"):
            publish.swap_into_place(build_file(tmp_path / "b", "second"), published, 1)
        assert time.monotonic() - started >= 1
    finally:
        stop(session)
    assert run_in(target) == "first"  # untouched, and it opens
    publish.swap_into_place(build_file(tmp_path / "b", "third"), published, 0)
    assert run_in(target) == "third"


def test_a_killed_writer_s_log_is_folded_in_before_the_new_file_takes_its_place(
    published, tmp_path
):
    target = published / publish.PUBLISHED_NAME
    session = analyst(target, "rw")
    stop(session, signal.SIGKILL)
    wal = target.with_name(target.name + ".wal")
    assert wal.exists(), "the killed session left no write-ahead log to test with"
    publish.swap_into_place(build_file(tmp_path / "b", "second"), published, 0)
    assert not wal.exists()
    assert run_in(target) == "second"
    with duckdb.connect(str(target)) as con:  # read-write too: nothing to replay
        assert con.execute("select count(*) from run_metadata").fetchone() == (1,)


def test_a_read_only_session_never_blocks_and_keeps_its_snapshot(published, tmp_path):
    target = published / publish.PUBLISHED_NAME
    session = analyst(target, "ro")
    try:
        publish.swap_into_place(build_file(tmp_path / "b", "second"), published, 0)
        assert run_in(target) == "second"
        assert session.poll() is None  # the analyst's session is still alive
    finally:
        stop(session)


def test_a_run_waits_for_an_analyst_s_write_session_then_stops_before_reading(tmp_path):
    out = tmp_path / "out"
    first = publish_run(SAMPLE, out)
    session = analyst(Path(first["database"]), "rw")
    config = replace(AuditConfig(), publish_wait_seconds=1)
    try:
        with pytest.raises(publish.PublishBlocked, match="this run was not published"):
            publish_run(SAMPLE, out, config)
    finally:
        stop(session)
    runs = out / "runs"
    assert [p.name for p in runs.iterdir()] == [first["run_id"]]
    assert run_in(Path(first["database"])) == first["run_id"]


def test_the_next_run_clears_a_dead_run_s_build(tmp_path):
    out = tmp_path / "out"
    dead = out / "runs" / ".building-20240101T000000-dead00" / "patient_level"
    dead.mkdir(parents=True)
    (dead / "findings.csv").write_text("patient_id\n")
    run = publish_run(SAMPLE, out)
    assert [p.name for p in (out / "runs").iterdir()] == [run["run_id"]]


def test_retention_keeps_the_newest_runs_and_the_history(tmp_path):
    out = tmp_path / "out"
    config = replace(AuditConfig(), keep_runs=2)
    ids = [publish_run(SAMPLE, out, config)["run_id"] for _ in range(3)]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ids[1:]
    assert run_in(out / publish.PUBLISHED_NAME) == ids[-1]
