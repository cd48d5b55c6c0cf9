"""The Prefect flow `audit` on data/sample: golden outputs, manifest, report and database."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE
from transforms.errors import InputError

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("B12AUDIT_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def result(harness, tmp_path_factory):
    from flows.audit import audit

    return audit(str(SAMPLE), str(tmp_path_factory.mktemp("out")))


def sample_patient_ids() -> set[str]:
    with (SAMPLE / "patients.csv").open(newline="") as handle:
        return {row["patient_id"] for row in csv.DictReader(handle)}


# Columns that name the run (a new id each run): left out of the comparison.
RUN_COLUMNS = {"first_published_run"}


def without_run_columns(path: Path) -> str:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(rows[0]) if name not in RUN_COLUMNS]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([row[i] for i in keep] for row in rows)
    return text.getvalue()


@pytest.mark.parametrize(
    ("output", "golden"),
    [("findings", "findings.csv"), ("summary", "summary.csv"), ("summary", "measures.csv")],
)
def test_outputs_match_the_golden_files(result, output, golden):
    produced = Path(result["findings"] if output == "findings" else result["report"]).parent
    text = without_run_columns(produced / golden)
    if UPDATE:
        (GOLDEN / golden).write_text(text)
    assert text == (GOLDEN / golden).read_text(), (
        f"{golden} changed; review the diff and regenerate with "
        "B12AUDIT_UPDATE_GOLDEN=1 pytest tests/test_flow.py"
    )


def test_manifest_accounts_for_every_row(result):
    manifest = json.loads(Path(result["manifest"]).read_text())
    for f in manifest["inputs"]:
        assert f["rows_read"] == f["rows_loaded"] + f["rows_quarantined"] + f["rows_not_audited"]
        assert len(f["sha256"]) == 64
    assert manifest["totals"]["rows_quarantined"] == 6
    assert {"duckdb", "pandera", "prefect"} <= set(manifest["package_versions"])
    assert "rules/folate_before_b12.sql" in manifest["rule_versions"]
    assert "reference/concepts/dx_neuro_core.csv" in manifest["rule_versions"]
    assert manifest["scope"]["diagnoses_present"] is True
    assert {r["key"] for r in manifest["configuration"]} >= {"b12_deficient_below_pg_ml"}


def test_shareable_outputs_carry_no_patient_identifier(result):
    shareable = Path(result["report"]).parent
    ids = sample_patient_ids()
    for path in shareable.iterdir():
        words = set(path.read_text().replace(",", " ").replace("<", " ").replace(">", " ").split())
        assert not words & ids, path.name


def test_report_inputs_table_does_not_let_a_suppressed_count_be_subtracted(result):
    html = Path(result["report"]).read_text()
    inputs = html.split("<h3>Inputs</h3>")[1].split("</table>")[0]
    row = inputs.split("<td>lab_results.csv</td>")[1].split("</tr>")[0]
    # 4 of the lab rows were quarantined: both loaded and quarantined are hidden.
    rows_read = len((SAMPLE / "lab_results.csv").read_text().splitlines()) - 1
    assert row.count("suppressed") == 2 and f"<td class=n>{rows_read}</td>" in row


def test_report_is_self_contained_with_chart_configuration_and_quarantine(result):
    html = Path(result["report"]).read_text()
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    for section in ("Configuration in force", "Quarantine", "Site", "suppressed"):
        assert section in html


def test_published_database_is_described_and_has_no_staging(result):
    with duckdb.connect(result["database"], read_only=True) as con:
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'main'"
            ).fetchall()
        )
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
        run = con.execute("select run_id from run_metadata").fetchall()
    assert {"lab_results", "medications", "quarantine", "findings", "run_metadata"} <= set(tables)
    assert all(tables[t] for t in ("lab_results", "findings", "quarantine"))
    assert "staging" not in schemas
    assert len(run) == 1


def test_an_unusable_extract_fails_the_flow_with_the_file_named(harness, tmp_path):
    from flows.audit import audit

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "lab_results.csv").write_text("patient_id;test_code\n")
    (folder / "medications.csv").write_text("patient_id,drug_name,event_type,event_at\n")
    with pytest.raises(InputError, match="lab_results.csv: line 1 has one column"):
        audit(str(folder), str(tmp_path / "out"))
    assert not (tmp_path / "out" / "b12audit.duckdb").exists()


def test_the_prefect_artifact_shows_suppressed_counts_only(result):
    from flows.audit import summary_markdown

    text = summary_markdown(Path(result["report"]).parent / "summary.csv")
    assert "| folate_before_b12 | (all) |" in text and "suppressed" in text
    assert not set(text.replace("|", " ").split()) & sample_patient_ids()


def test_no_count_from_1_to_7_is_shown_in_a_shareable_table(result):
    shareable = Path(result["report"]).parent
    for name, column in [
        ("summary.csv", "count"),
        ("summary.csv", "denominator"),
        ("quarantine_summary.csv", "rows"),
    ]:
        with (shareable / name).open(newline="") as handle:
            shown = [int(r[column]) for r in csv.DictReader(handle) if r[column]]
        assert not [n for n in shown if 1 <= n <= 7], name


@pytest.mark.parametrize("fmt", ["site", "omop", "meds", "fhir"])
def test_the_flow_reads_each_source_format_to_the_same_summary(harness, tmp_path, fmt):
    """The flow on data/sample/<format>/ (format detected) reports what it read and the
    canonical sample's summary, count for count; tests/test_formats_agree.py compares
    the findings row by row."""
    from flows.audit import audit

    run = audit(str(SAMPLE / fmt), str(tmp_path / "out"))
    manifest = json.loads(Path(run["manifest"]).read_text())
    assert manifest["input_format"] == fmt
    summary = Path(run["report"]).parent / "summary.csv"
    assert summary.read_text() == (GOLDEN / "summary.csv").read_text()
