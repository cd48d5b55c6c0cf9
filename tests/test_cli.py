"""`b12audit run` as a user runs it: a real process, a real (temporary) Prefect server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from tests.conftest import SAMPLE
from tests.test_flow import sample_patient_ids
from transforms.outputs import headline
from transforms.rules.registry import registry


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


def test_one_site_s_report_over_a_period_prints_the_report_s_counts(tmp_path):
    done = run_cli(
        str(SAMPLE), "--out", str(tmp_path / "out"),
        "--site", "north", "--from", "2025-01-01", "--to", "2025-06-30",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    printed = [line.removeprefix("b12audit: ") for line in done.stdout.splitlines()]
    manifest_path = Path(next(p.split()[-1] for p in printed if p.startswith("manifest ")))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["report_scope"] == {
        "site": "north",
        "period_start": "2025-01-01",
        "period_end": "2025-06-30",
    }
    shareable = manifest_path.parent / "shareable"
    summary = pd.read_csv(shareable / "summary.csv", keep_default_na=False, na_values=[""])
    expected = headline.console_lines(summary, "north")
    assert expected and [line for line in printed if line in expected] == expected
    care_gap = registry()["folate_before_b12"].label
    assert any(line.startswith(f"{care_gap}: ") for line in expected)
    report = (shareable / "report.html").read_text()
    assert "<strong>Period covered:</strong> 2025-01-01 to 2025-06-30." in report
    assert "<strong>Site: north.</strong>" in report
    # The population is the site's: its patients with an event in the period.
    with duckdb.connect(manifest["outputs"]["database"], read_only=True) as con:
        (north,) = con.execute(
            "select count(distinct patient_id) from (select patient_id, site, collected_at "
            "as happened from lab_results union all select patient_id, site, event_at "
            "from medications) where site = 'north' and happened::date between '2025-01-01' "
            "and '2025-06-30'"
        ).fetchone()
    assert f"<strong>Population:</strong> {north:,} patients" in report


def test_an_unknown_site_or_an_inverted_period_stops_with_what_is_wrong(tmp_path):
    inverted = run_cli(
        str(SAMPLE), "--out", str(tmp_path), "--from", "2025-02-01", "--to", "2025-01-01"
    )
    assert inverted.returncode == 2
    assert "period_start (2025-02-01) must not be after period_end (2025-01-01)" in inverted.stderr
    unknown = run_cli(str(SAMPLE), "--out", str(tmp_path), "--site", "nowhere")
    assert unknown.returncode == 2
    assert "report_site 'nowhere' is not a site of this extract; its sites are: north, south" in (
        unknown.stderr
    )


def test_an_input_error_found_by_validation_is_one_line_without_tracebacks(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "lab_results.csv").write_text(
        "patient_id,test_code,result,unit,collected_at\n"
        "X1,2132-9,150,pg/mL,notadate\nX2,2132-9,150,pg/mL,2024-01-01\n"
    )
    (folder / "medications.csv").write_text(
        "patient_id,drug_name,event_type,event_at\nX1,cyanocobalamin,administered,2024-01-02\n"
    )
    done = run_cli(str(folder), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "InputError" not in output
    assert [
        line for line in output.splitlines() if "more than max_quarantine_fraction" in line
    ] == [
        "b12audit: input error: lab_results.csv: 1 of 2 rows failed validation, more than "
        "max_quarantine_fraction 5.0%; most common: column 'collected_at' check 'iso_date'. "
        "See the quarantine summary."
    ]
    assert "X1" not in output and "X2" not in output
