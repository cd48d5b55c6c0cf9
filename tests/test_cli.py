"""`b12audit run` as a user runs it: a real process, a real (temporary) Prefect server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLE
from tests.test_flow import sample_patient_ids


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_run_on_the_sample_prints_where_the_outputs_are_and_no_patient_id(tmp_path):
    done = run_cli(str(SAMPLE), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(
        line.split(None, 2)[1:]
        for line in done.stdout.splitlines()
        if line.startswith("b12audit: ")
    )
    assert Path(lines["report"]).is_file() and Path(lines["database"]).is_file()
    logged = set((done.stdout + done.stderr).replace(",", " ").split())
    assert not logged & sample_patient_ids()


def test_unusable_input_exits_non_zero_with_the_file_and_problem(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "lab_results.csv").write_text("patient_id,test_code,result,unit\n")
    (folder / "medications.csv").write_text("patient_id,drug_name,event_type,event_at\n")
    done = run_cli(str(folder), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert (
        "b12audit: input error: lab_results.csv: missing required column 'collected_at'"
        in done.stderr
    )
