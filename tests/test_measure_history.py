"""Frozen periods, restatements with their cause, and baselines fixed once: what each run
adds to the record the output folder's published database carries."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import publish_run, write_extract
from transforms.config import AuditConfig
from transforms.outputs import measure_history
from transforms.outputs.spc import Baseline, Period, chart

# Both histories start in January 2023, so 2024's folate episodes have their look-back.
START = """
    start | 718-7 | 140 | g/L | 2023-01-01 | north
"""
LABS = (
    """
    patient_id | test_code | result | unit  | collected_at | site
    -----------+-----------+--------+-------+--------------+------
"""
    + START
    + "\n".join(
        f"    t{m}{i} | 2132-9 | 500 | pg/mL | 2024-{m:02d}-01 | north"
        for m in (1, 4)
        for i in range(9)
    )
    + """
    end   | 718-7 | 140 | g/L | 2024-06-30 | north
"""
)
MEDS_HEADER = """
    patient_id | drug_name              | event_type   | event_at   | site
    -----------+------------------------+--------------+------------+------
    start      | paracetamol 500 mg     | administered | 2023-01-01 | north
    end        | paracetamol 500 mg     | administered | 2024-06-30 | north
"""


def meds(untested_in_march: int) -> str:
    """Nine tested folate starts in each of January and April, and untested ones in March."""
    tested = [f"t{m}{i}" for m in (1, 4) for i in range(9)]
    rows = [
        f"    {p} | folic acid 5 mg tablet | administered | 2024-0{p[1]}-05 | north" for p in tested
    ]
    rows += [
        f"    u{i} | folic acid 5 mg tablet | administered | 2024-03-10 | north"
        for i in range(untested_in_march)
    ]
    return MEDS_HEADER + "\n".join(rows)


def published(out: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(out / "b12audit.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def folate_q1(out: Path) -> list[tuple]:
    return published(
        out,
        "select numerator, denominator, first_run_id, run_id from measure_published "
        "where measure = 'folate_before_b12' and site = 'all sites' "
        "and interval_start = '2024-01-01'",
    )


def measures_csv(result: dict) -> list[dict]:
    path = Path(result["report"]).with_name("measures.csv")
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def first_run(tmp_path):
    folder = write_extract(tmp_path / "extract", LABS, meds(untested_in_march=10))
    out = tmp_path / "out"
    return folder, out, publish_run(folder, out)


def test_a_complete_period_is_frozen_at_its_first_publication(first_run):
    folder, out, first = first_run
    second = publish_run(folder, out)
    # Q1 2024: 9 tested in January, 10 untested in March.
    assert folate_q1(out) == [(10, 19, first["run_id"], first["run_id"])]
    assert published(out, "select count(*) from measure_restatements") == [(0,)]
    q1 = next(
        r
        for r in measures_csv(second)
        if (r["measure"], r["site"], r["interval_start"])
        == ("folate_before_b12", "all sites", "2024-01-01")
    )
    assert q1["first_published_run"] == first["run_id"] and q1["restated"] == "False"


def test_a_replaced_file_that_changes_a_period_is_a_restatement_naming_it(first_run):
    folder, out, first = first_run
    write_extract(folder, LABS, meds(untested_in_march=15))  # a corrected medications file
    second = publish_run(folder, out)
    assert folate_q1(out) == [(15, 24, first["run_id"], second["run_id"])]
    rows = published(
        out,
        "select site, previous_numerator, previous_denominator, numerator, denominator, "
        "run_id, cause from measure_restatements where measure = 'folate_before_b12' "
        "order by site",
    )
    cause = "replaced file(s): medications.csv"
    assert rows == [
        ("all sites", 10, 19, 15, 24, second["run_id"], cause),
        ("north", 10, 19, 15, 24, second["run_id"], cause),
    ]
    html = Path(second["report"]).read_text(encoding="utf-8")
    assert "Restated periods" in html and cause in html
    # 10/19 and 15/24 shown as published: rounded to 10/20 and 15/25.
    assert "<td>50.0%</td><td>60.0%</td>" in html
    restated = {
        (r["measure"], r["site"], r["interval_start"])
        for r in measures_csv(second)
        if r["restated"] == "True"
    }
    assert ("folate_before_b12", "all sites", "2024-01-01") in restated
    assert ("folate_before_b12", "all sites", "2024-04-01") not in restated


def test_a_changed_configuration_is_named_as_the_cause(first_run):
    folder, out, _ = first_run
    publish_run(folder, out, AuditConfig(b12_adequate_above_pg_ml=600.0))  # 500 is not
    causes = {c for (c,) in published(out, "select distinct cause from measure_restatements")}
    assert causes == {"configuration changed: b12_adequate_above_pg_ml"}


# --- baselines fixed once


def test_a_fixed_baseline_is_used_as_it_was_though_the_data_have_changed():
    months = [date(2024 + i // 12, i % 12 + 1, 1) for i in range(14)]
    now = [Period(m, 30, 100) for m in months]  # the data now say 30 %
    fixed = Baseline(None, "p", 0.2, 1.0, tuple(months[:12]), True, "run-1")
    c = chart("m", now, "lower_is_better", 12, "p", fixed={None: fixed})
    assert c.centre == 0.2 and c.fixed_baseline == fixed
    assert c.points[-1].variation == "concern"  # 30 % against the fixed 20 %


def test_a_phase_starts_a_new_baseline_and_runs_do_not_cross_it():
    months = [date(2024 + i // 12, i % 12 + 1, 1) for i in range(24)]
    periods = [Period(m, 20 if i < 12 else 30, 100) for i, m in enumerate(months)]
    one = chart("m", periods, "lower_is_better", 12, "p")
    assert one.latest.variation == "concern"  # 12 months above the first baseline
    two = chart("m", periods, "lower_is_better", 12, "p", phases=(months[12],))
    assert two.breaks == (months[12],) and two.centre == 0.3
    assert [b.phase for b in two.baselines] == [None, months[12]]
    assert all(p.variation == "common_cause" for p in two.points)


def test_baselines_round_trip_through_the_published_database(tmp_path):
    months = [date(2024, m, 1) for m in range(1, 13)]
    c = chart("folate_before_b12", [Period(m, 20, 100) for m in months], "lower_is_better", 12)
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    con.execute(
        "create table measure_counts (measure varchar, interval_start date, site varchar, "
        "numerator bigint, denominator bigint, status varchar)"
    )
    con.execute("create table run_metadata (run_id varchar, manifest json)")
    con.execute("insert into run_metadata values ('run-1', '{}')")
    config = AuditConfig()
    measure_history.record(con, measure_history.Previous(), [c], config, {"run_id": "run-1"})
    con.close()
    previous = measure_history.load(duckdb.connect(), tmp_path / "b.duckdb")
    [kept] = measure_history.fixed_baselines(previous, config)["folate_before_b12"].values()
    assert kept.centre == pytest.approx(0.2)
    assert (kept.periods, kept.fixed_in_run) == (tuple(months), "run-1")
    changed = AuditConfig(b12_result_lookback_days=30)
    assert measure_history.fixed_baselines(previous, changed) == {}  # another definition
