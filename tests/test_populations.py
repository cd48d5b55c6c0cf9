"""Populations: each finding's units, counted in one place. The summary, the monthly
measures and evaluability all read the table `populations`, so they agree with each other,
and a finding can only flag a unit its population holds."""

from __future__ import annotations

import pytest

from tests.conftest import SAMPLE, query, run_stages
from transforms import database
from transforms.config import AuditConfig
from transforms.outputs import measures
from transforms.rules.populations import labels
from transforms.sqlfiles import sql_dir, sql_text

WHOLE_PERIOD = {"period_start": None, "period_end": None}


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    db = run_stages(SAMPLE, AuditConfig(), tmp_path_factory.mktemp("sample"))
    with database.connect(db) as con:
        measures.build(con, AuditConfig())
    return db


def test_every_unit_is_counted_once_per_finding(sample_db):
    assert (
        query(
            sample_db,
            "select finding, patient_id, episode, count(*) from populations group by all "
            "having count(*) > 1",
        )
        == []
    )


def test_a_finding_s_sites_add_up_to_all_sites_in_the_summary(sample_db):
    summary = query(
        sample_db,
        "select finding, site, denominator from ("
        + sql_text("report/finding_counts.sql")
        + ") where reason = '(all)'",
        WHOLE_PERIOD,
    )
    # A site with no flagged unit of a finding has no row: compare the findings flagged at
    # every site (the sample has two).
    sites = {site for _, site, _ in summary} - {"all sites"}
    by_site: dict[str, dict[str, int]] = {}
    for finding, site, n in summary:
        if site != "all sites":
            by_site.setdefault(finding, {})[site] = n
    everywhere = {f for f, counts in by_site.items() if set(counts) == sites}
    totals = {f: n for f, site, n in summary if site == "all sites" and f in everywhere}
    assert len(sites) == 2 and len(totals) > 10
    assert {f: sum(by_site[f].values()) for f in everywhere} == totals


def test_the_monthly_measures_add_up_to_the_summary(sample_db):
    """Every evaluable unit is in one month: judged, or waiting on its finding's window."""
    measured = dict(
        query(
            sample_db,
            "select measure, sum(denominator + pending) from measure_counts "
            "where site = 'all sites' group by all",
        )
    )
    evaluable = dict(
        query(
            sample_db,
            "select finding, count(*) from populations where status = 'evaluable' group by all",
        )
    )
    pending_courses = dict(
        query(
            sample_db,
            "select finding, count(*) from populations where status = 'pending' group by all",
        )
    )
    for finding, units in evaluable.items():
        assert measured[finding] == units + pending_courses.get(finding, 0), finding


def test_every_population_names_what_it_counts():
    assert labels()["new_b12_courses"] == "evaluable new B12 courses"
    assert set(labels()) == {p.stem for p in (sql_dir() / "populations").glob("*.sql")}


def test_a_rule_flagging_outside_its_population_stops_naming_the_finding(sql_copy, audit):
    # Made to flag every haemoglobin's patient, whether or not they had a valid B12.
    (sql_copy / "rules" / "anaemia.sql").write_text(
        "-- Broken on purpose. Grain: one row per haemoglobin.\n-- Reads: low_haemoglobin\n"
        "select patient_id, collected_at::date as index_date, [row_id] as evidence_lab_row_ids,"
        " site from low_haemoglobin\n"
    )
    labs = """
        patient_id | test_code | result | unit | collected_at
        -----------+-----------+--------+------+-------------
        secret_p1  | 718-7     | 90     | g/L  | 2024-03-01
    """
    with pytest.raises(RuntimeError, match=r"outside .* population: anaemia \(patients_with") as e:
        audit.run(labs)
    assert "secret_p1" not in str(e.value)


def test_a_population_without_a_label_stops(sql_copy):
    path = sql_copy / "populations" / "folate_episodes.sql"
    path.write_text(path.read_text().replace("-- Label: folate episodes\n", ""))
    with pytest.raises(ValueError, match="folate_episodes.sql: needs one '-- Label:' line"):
        labels()


def test_a_population_listing_a_unit_twice_stops_naming_it(sql_copy, audit):
    path = sql_copy / "populations" / "patients_with_valid_b12.sql"
    path.write_text(path.read_text().replace("group by patient_id", "group by patient_id, row_id"))
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        secret_p2  | 2132-9    | 150    | pg/mL | 2024-03-01
        secret_p2  | 2132-9    | 160    | pg/mL | 2024-04-01
    """
    with pytest.raises(RuntimeError, match="population patients_with_valid_b12 lists a unit twice"):
        audit.run(labs)
