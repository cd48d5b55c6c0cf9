"""data/sample: every hand-built scenario patient gets exactly the findings it was built for."""

from __future__ import annotations

import csv

import pytest

from tests.conftest import SAMPLE, query, run_stages
from transforms.config import AuditConfig


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    return run_stages(SAMPLE, AuditConfig(), tmp_path_factory.mktemp("sample"))


def scenarios() -> list[dict[str, str]]:
    with (SAMPLE / "scenarios.csv").open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["patient_id"] != "(blank)"]


@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s["scenario"])
def test_scenario_patient_gets_exactly_its_expected_findings(sample_db, scenario):
    rows = query(
        sample_db,
        "select finding || coalesce(':' || reason, '') from findings where patient_id = $p",
        {"p": scenario["patient_id"]},
    )
    expected = sorted(item for item in scenario["expected"].split(";") if item)
    assert sorted(r[0] for r in rows) == expected, scenario["note"]


def test_the_sample_covers_every_finding_and_reason(sample_db):
    from transforms.rules.registry import registry

    seen = set(query(sample_db, "select finding, coalesce(reason, '') from findings"))
    wanted = {(f.name, r or "") for f in registry().values() for r in f.reason_names}
    assert wanted <= seen


def test_the_sample_has_rows_that_must_be_quarantined(sample_db):
    checks = {r[0] for r in query(sample_db, "select check_name from quarantine")}
    assert {"not_nullable", "iso_date", "csv_too_many_columns"} <= checks
