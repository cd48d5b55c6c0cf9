"""The published database OUT/b12audit.duckdb: analysts on DuckDB 1.x tools open it, its
documented views answer, and the schedule and the analysts never block each other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.analyst import Analyst
from tests.conftest import REPO, SAMPLE, publish_run
from transforms.operations.publish import PUBLISHED_NAME

VIEWS = ("findings_current", "measures", "worklist", "runs")


@pytest.fixture(scope="session")
def duckdb_1x(tmp_path_factory) -> Path:
    """A folder holding DuckDB 1.x, installed from the package index (what analysts'
    tools embed), kept apart from the 2.x the project uses."""
    target = tmp_path_factory.mktemp("duckdb_1x")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    done = subprocess.run(
        [*pip, str(target), "duckdb>=1.5,<2"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"pip could not install duckdb 1.x:\n{done.stderr[-2000:]}"
    return target


# Runs under DuckDB 1.x; prints what an analyst would see, as JSON. A view that cannot be
# read is reported with its error rather than stopping the script, so each test can say
# which view is missing.
LOOK_WITH_DUCKDB_1X = """
import json, sys
import duckdb

assert duckdb.__version__.startswith("1."), f"expected DuckDB 1.x, got {duckdb.__version__}"
con = duckdb.connect(sys.argv[1], read_only=True)
seen = {"version": duckdb.__version__, "views": {}}
seen["run_ids"] = [r[0] for r in con.execute("select run_id from run_metadata").fetchall()]
seen["tables"] = dict(con.execute(
    "select table_name, comment from duckdb_tables() where schema_name = 'main'").fetchall())
comments = dict(con.execute(
    "select view_name, comment from duckdb_views() where not internal").fetchall())
for view in sys.argv[2:]:
    try:
        rows = con.execute(f'select * from "{view}"')
        columns = [d[0] for d in rows.description]
        seen["views"][view] = {"columns": columns, "rows": len(rows.fetchall()),
                               "comment": comments.get(view)}
        if view == "runs" and "run_id" in columns:
            seen["runs"] = [r[0] for r in con.execute("select run_id from runs").fetchall()]
    except duckdb.Error as error:
        seen["views"][view] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}
print(json.dumps(seen))
"""


@pytest.fixture(scope="session")
def seen_by_duckdb_1x(duckdb_1x, published_sample, tmp_path_factory) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", LOOK_WITH_DUCKDB_1X, str(published_sample["database"]), *VIEWS],
        env={**os.environ, "PYTHONPATH": str(duckdb_1x)},
        cwd=tmp_path_factory.mktemp("analyst"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"DuckDB 1.x could not read the database:\n{done.stderr}"
    return json.loads(done.stdout)


def test_duckdb_1x_opens_the_published_database_read_only(seen_by_duckdb_1x, published_sample):
    assert seen_by_duckdb_1x["version"].startswith("1.")
    assert seen_by_duckdb_1x["run_ids"] == [published_sample["run_id"]]


@pytest.mark.parametrize("view", VIEWS)
def test_each_documented_view_answers_in_duckdb_1x(seen_by_duckdb_1x, view):
    seen = seen_by_duckdb_1x["views"][view]
    assert "error" not in seen, f"view {view} cannot be read in DuckDB 1.x: {seen['error']}"
    # The sample has findings, patients to act on and months to measure.
    assert seen["rows"] > 0, f"view {view} is empty on the sample extract"


@pytest.mark.parametrize("view", VIEWS)
def test_each_documented_view_carries_a_comment_saying_what_it_holds(seen_by_duckdb_1x, view):
    seen = seen_by_duckdb_1x["views"][view]
    assert "error" not in seen, f"view {view} cannot be read in DuckDB 1.x: {seen['error']}"
    assert (seen["comment"] or "").strip(), f"view {view} has no COMMENT"


def test_every_table_carries_a_comment(seen_by_duckdb_1x):
    uncommented = sorted(t for t, c in seen_by_duckdb_1x["tables"].items() if not c)
    assert not uncommented, f"tables without a COMMENT (operations/publish.py): {uncommented}"


def test_runs_view_lists_this_run_with_when_it_started_and_how_it_ended(
    seen_by_duckdb_1x, published_sample
):
    seen = seen_by_duckdb_1x["views"]["runs"]
    assert "error" not in seen, f"view runs cannot be read in DuckDB 1.x: {seen['error']}"
    assert {"run_id", "started_at", "outcome"} <= set(seen["columns"])
    assert published_sample["run_id"] in seen_by_duckdb_1x["runs"]


@pytest.mark.parametrize("view", VIEWS)
def test_the_analysts_page_documents_each_view(view):
    assert f"| `{view}` |" in (REPO / "docs" / "analyst-database.md").read_text()


def test_a_run_publishes_while_an_analyst_reads_and_the_analyst_sees_it_on_reconnecting(
    published_sample, tmp_path
):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(published_sample["database"], out / PUBLISHED_NAME)
    first, held_open = published_sample["run_id"], (out / PUBLISHED_NAME).stat().st_ino
    analyst = Analyst(out / PUBLISHED_NAME, tmp_path)
    try:
        analyst.wait_for_lines(1)
        before = len(analyst.lines)
        try:
            second = publish_run(SAMPLE, out)
        except duckdb.Error as error:
            pytest.fail(f"the run could not publish while an analyst read: {error}")
        after = len(analyst.lines)
        analyst.wait_for_lines(after + 5)
        asked = analyst.reconnect()
        analyst.wait_for_lines(asked + 10)
    finally:
        analyst.stop()
    lines = analyst.lines
    # Written into the file the analyst holds, a run could tear the analyst's reads; a new
    # file renamed into place cannot.
    assert (out / PUBLISHED_NAME).stat().st_ino != held_open, "published in place, not swapped"
    reconnected = lines.index("reconnected")
    # The old connection kept answering, with the snapshot it opened, all through the run.
    assert after > before, "the analyst made no query while the run built and published"
    assert set(lines[:reconnected]) == {f"ok {first}"}
    # A fresh connection sees the run just published, and only it.
    assert set(lines[reconnected + 1 :]) == {f"ok {second['run_id']}"}
    with duckdb.connect(str(out / PUBLISHED_NAME), read_only=True) as con:
        assert con.execute("select run_id from run_metadata").fetchall() == [(second["run_id"],)]


def test_every_column_of_every_table_and_view_carries_a_comment(published_sample):
    with duckdb.connect(published_sample["database"], read_only=True) as con:
        uncommented = con.execute(
            "select c.table_name || '.' || c.column_name from duckdb_columns() as c "
            "where c.schema_name = 'main' and c.database_name = current_database() "
            "and not c.internal and c.comment is null order by all"
        ).fetchall()
    assert uncommented == [], "columns without a comment (sql/reference/column_comments.csv)"
