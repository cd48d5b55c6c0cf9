"""Runs killed with SIGKILL at several points (as an out-of-memory kill would) leave the
analysts' database as the last run published it, nothing finished-looking behind, and a
rerun that publishes the same findings and clears the dead run's build."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE, publish_run
from transforms.operations import publish

RUN = """
import sys
from pathlib import Path
from tests.conftest import publish_run
publish_run(Path(sys.argv[1]), Path(sys.argv[2]))
"""
# Where to kill: as soon as the run's building folder holds this (polled every 10 ms):
# the build database (ingest and validation), the report's folder (report stage), the
# manifest (written just before the database is published).
KILL_AT = (".build/build.duckdb", "shareable", "manifest.json")


def kill_when(child: subprocess.Popen, runs: Path, marker: str) -> None:
    deadline = time.monotonic() + 120
    while not any(runs.glob(f".building-*/{marker}")):
        assert child.poll() is None, f"the run ended before {marker} appeared"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()


def findings(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        run_id = con.execute("select run_id from run_metadata").fetchone()[0]
        rows = con.execute(
            "select patient_id, finding, reason, index_date, episode from findings order by all"
        ).fetchall()
    return run_id, rows


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> dict:
    return publish_run(SAMPLE, tmp_path_factory.mktemp("killed") / "out")


@pytest.mark.parametrize("marker", KILL_AT)
def test_a_killed_run_leaves_the_database_intact_and_the_rerun_the_same(first, marker):
    out = Path(first["database"]).parent
    database = out / publish.PUBLISHED_NAME
    runs = out / "runs"
    _, before = findings(database)
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, str(SAMPLE), str(out)],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_when(child, runs, marker)
    assert child.returncode == -signal.SIGKILL
    published_id, published = findings(database)  # it opens: never half-written
    assert published == before
    finished = [p for p in runs.iterdir() if not p.name.startswith(".")]
    # Only published runs have a runs/<id>/ folder, each with its manifest.
    assert all((p / "manifest.json").is_file() for p in finished)
    building = [p.name for p in runs.iterdir() if p.name.startswith(".building-")]
    assert building, "the kill left no build to clear"
    # Killed between publishing the database and moving its folder: the next run moves it.
    assert published_id in {p.name for p in finished} | {
        b.removeprefix(".building-") for b in building
    }
    rerun = publish_run(SAMPLE, out)
    assert findings(database) == (rerun["run_id"], before)
    assert not [p.name for p in runs.iterdir() if p.name.startswith(".building-")]
    assert (runs / published_id / "manifest.json").is_file()
