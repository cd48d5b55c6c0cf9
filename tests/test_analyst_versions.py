"""The analysts' database opens in the DuckDB their tools embed: 1.4 (the long-term support
release), 1.5 and 2.0. Each older release is installed from the package registry into a
folder of its own and opens the published sample read-only, reading every table and view."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RELEASES = ("1.4.*", "1.5.*")
READ_EVERYTHING = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
names = [r[0] for r in con.execute(
    "select table_name from duckdb_tables() where schema_name = 'main' union all "
    "select view_name from duckdb_views() where schema_name = 'main' and not internal"
).fetchall()]
rows = {name: con.execute(f'select count(*) from "{name}"').fetchone()[0] for name in names}
print(json.dumps({"version": duckdb.__version__, "rows": rows}))
"""


def read_with(python_path: Path | None, database: Path) -> dict:
    env = {"PYTHONPATH": str(python_path)} if python_path else {}
    done = subprocess.run(
        [sys.executable, "-c", READ_EVERYTHING, str(database)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("release", RELEASES)
def test_the_published_database_opens_in_older_duckdb(release, published_sample, tmp_path):
    target = tmp_path / "duckdb"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), f"duckdb=={release}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, f"pip could not install duckdb {release}: {installed.stderr}"
    database = Path(published_sample["database"])
    older, current = read_with(target, database), read_with(None, database)
    assert older["version"].startswith(release.rstrip("*"))
    assert older["rows"] == current["rows"] and "findings" in older["rows"]
