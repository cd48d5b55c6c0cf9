"""Monthly measures: which month and site a unit counts in, pending units, and the
suppressed shareable table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE, Audit, run_stages
from transforms import measures, report, stages, tag
from transforms.config import AuditConfig

FOLATE = "Folic acid 5 mg tablet"
LAB_HEADER = """
    patient_id | test_code | result | unit  | collected_at | site
    -----------+-----------+--------+-------+--------------+-----
"""
MED_HEADER = """
    patient_id | drug_name | event_type | event_at | dose | dose_unit | site
    -----------+-----------+------------+----------+------+-----------+-----
"""
# The lab data end: far after every result, so nothing is pending by accident.
DATA_END = "    filler | 718-7 | 130 | g/L | 2025-12-31 | A"


def counts(audit: Audit, labs: str = "", meds: str = "", data_end: str = DATA_END) -> dict:
    """(measure, month 'YYYY-MM', site) -> (numerator, denominator, pending)."""
    db = audit.run(LAB_HEADER + labs + "\n" + data_end, MED_HEADER + meds)
    with stages.connect(db) as con:
        measures.build(con, AuditConfig())
        rows = con.execute("select * from measure_counts").fetchall()
    return {(m, f"{month:%Y-%m}", s): (k, n, p) for m, month, s, k, n, p, _ in rows}


def folate(patient: str, on: str, site: str = "A") -> str:
    return f"{patient} | {FOLATE} | administered | {on} | 5 | mg | {site}"


# One extract for the folate tests (each audit takes seconds): patients are independent.
FOLATE_LABS = """
    march_tested | 2132-9 | 400 | pg/mL | 2024-03-01 | A
    b_tested     | 2132-9 | 400 | pg/mL | 2024-05-01 | B
"""
FOLATE_MEDS = [
    folate("march_tested", "2024-03-05"),
    folate("march_never", "2024-03-20"),
    folate("jan_31", "2024-01-31"),
    folate("feb_1", "2024-02-01"),
    folate("a_never", "2024-05-01", "A"),
    folate("b_tested", "2024-05-02", "B"),
    folate("no_site", "2024-05-03", ""),
    folate("july", "2024-07-10"),
]


@pytest.fixture(scope="module")
def folate_counts(tmp_path_factory) -> dict:
    return counts(Audit(tmp_path_factory.mktemp("folate")), FOLATE_LABS, "\n".join(FOLATE_MEDS))


def test_two_folate_episodes_in_march_one_flagged_is_one_of_two(folate_counts):
    assert folate_counts["folate_before_b12", "2024-03", "A"] == (1, 2, 0)
    assert folate_counts["folate_before_b12", "2024-03", "all sites"] == (1, 2, 0)


def test_a_unit_counts_in_the_month_it_entered_the_population(folate_counts):
    assert folate_counts["folate_before_b12", "2024-01", "all sites"] == (1, 1, 0)
    assert folate_counts["folate_before_b12", "2024-02", "all sites"] == (1, 1, 0)


def test_sites_are_split_and_all_sites_adds_them_up(folate_counts):
    assert folate_counts["folate_before_b12", "2024-05", "A"] == (1, 1, 0)
    assert folate_counts["folate_before_b12", "2024-05", "B"] == (0, 1, 0)
    assert folate_counts["folate_before_b12", "2024-05", "(no site)"] == (1, 1, 0)
    assert folate_counts["folate_before_b12", "2024-05", "all sites"] == (2, 3, 0)


def test_every_month_from_first_to_last_has_an_all_sites_row_zeros_included(folate_counts):
    found = folate_counts
    folate_months = [
        m for (k, m, s) in sorted(found) if k == "folate_before_b12" and s == "all sites"
    ]
    assert folate_months == [f"2024-0{i}" for i in range(1, 8)]
    assert found["folate_before_b12", "2024-06", "all sites"] == (0, 0, 0)
    assert ("folate_before_b12", "2024-06", "A") not in found


def test_every_finding_has_a_measure(folate_counts):
    assert {m for m, _, _ in folate_counts} == set(tag.rule_names())


B12_LABS = """
    later_low | 2132-9 | 400 | pg/mL | 2024-01-15 | A
    later_low | 2132-9 | 150 | pg/mL | 2024-03-15 | A
    never_low | 2132-9 | 400 | pg/mL | 2024-01-20 | A
    never_low | 2132-9 | 400 | pg/mL | 2024-03-20 | A
"""
# 90 days after 10 March: its window (to 8 June) reaches the data end only just, so it is
# over; for a result on 11 March it would not be.
B12_END = "    filler | 718-7 | 130 | g/L | 2024-06-08 | A"


@pytest.fixture(scope="module")
def b12_counts(tmp_path_factory) -> dict:
    return counts(Audit(tmp_path_factory.mktemp("b12")), B12_LABS, "", data_end=B12_END)


def test_a_borderline_b12_still_inside_its_window_is_only_pending(tmp_path):
    labs = """
        open   | 2132-9 | 250 | pg/mL | 2024-03-11 | A
        closed | 2132-9 | 250 | pg/mL | 2024-03-10 | A
    """
    found = counts(Audit(tmp_path), labs, "", data_end=B12_END)
    assert found["b12_borderline_no_mma", "2024-03", "A"] == (1, 1, 1)
    assert found["b12_borderline", "2024-03", "A"] == (2, 2, 0)


def test_a_flagged_patient_counts_in_the_month_of_the_index_result(b12_counts):
    # later_low: first B12 in January, deficient in March; never_low: January only.
    assert b12_counts["b12_deficient", "2024-01", "A"] == (0, 1, 0)
    assert b12_counts["b12_deficient", "2024-03", "A"] == (1, 1, 0)


# --- the whole sample: a property of real data


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    db = run_stages(SAMPLE, AuditConfig(), tmp_path_factory.mktemp("sample"))
    with stages.connect(db) as con:
        measures.build(con, AuditConfig())
    return db


def test_on_the_sample_no_numerator_exceeds_its_denominator(sample_db):
    with stages.connect(sample_db) as con:
        rows = con.execute(
            "select count(*), count(*) filter (numerator > denominator) from measure_counts"
        )
        total, over = rows.fetchall()[0]
    assert total > 0 and over == 0


EXTRA_POPULATION = {"b12_loading_incomplete", "monitoring_missed"}  # pending is outside it


def test_on_the_sample_the_months_add_up_to_the_reports_totals(sample_db):
    with stages.connect(sample_db) as con:
        summed = con.execute(
            """
            select measure, sum(numerator), sum(denominator), sum(pending)
            from measure_counts where site = 'all sites' group by all
            """
        ).fetchall()
        summary = report.shareable_summary(con, AuditConfig(suppress_counts_up_to=1))
    totals = summary[(summary["site"] == "all sites") & (summary["reason"] == "(all)")]
    by_finding = {r.finding: r for r in totals.itertuples()}
    for measure, numerator, denominator, pending in summed:
        expected = by_finding.get(measure)
        if expected is None:
            assert numerator == 0
            continue
        assert numerator == expected.count, measure
        population = denominator if measure in EXTRA_POPULATION else denominator + pending
        assert population == expected.denominator, measure


# --- the shareable table: suppression


def table(rows: str) -> pd.DataFrame:
    """`measure | month | site | numerator | denominator` rows; pending 0."""
    records = []
    for line in rows.strip().splitlines():
        m, month, site, k, n = [c.strip() for c in line.split("|")]
        records.append((m, pd.Timestamp(month), site, int(k), int(n), 0))
    frame = pd.DataFrame(records, columns=["measure", "month", "site", *measures.COUNTS])
    return frame.assign(
        rate=frame["numerator"] / frame["denominator"].where(frame["denominator"] > 0)
    )


def shown(frame: pd.DataFrame, column: str) -> list:
    return [None if pd.isna(v) else int(v) for v in frame[column]]


def test_a_small_site_count_is_hidden_and_so_is_a_second_one_so_the_total_gives_nothing_away():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 33 | 60
            m | 2024-01-01 | A         | 3  | 20
            m | 2024-01-01 | B         | 10 | 20
            m | 2024-01-01 | C         | 20 | 20
            """
        ),
        up_to=7,
        baseline_months=12,
    )
    assert shown(out, "numerator") == [33, None, None, 20]
    assert out["numerator_suppressed"].tolist() == [False, True, True, False]
    assert shown(out, "denominator") == [60, 20, 20, 20]
    assert out["rate"].isna().tolist() == [False, True, True, False]


def test_units_without_the_finding_are_a_count_too():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 45 | 50
            m | 2024-01-01 | A         | 45 | 50
            """
        ),
        up_to=7,
        baseline_months=12,
    )
    assert shown(out, "numerator") == [None, None]  # 50 - 45 = 5 without the finding
    assert shown(out, "denominator") == [50, 50]


def test_zero_is_shown_and_rate_is_blank_only_where_a_count_is_hidden():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 0  | 0
            m | 2024-02-01 | all sites | 0  | 20
            """
        ),
        up_to=7,
        baseline_months=12,
    )
    assert shown(out, "numerator") == [0, 0] and shown(out, "denominator") == [0, 20]
    assert pd.isna(out["rate"][0]) and out["rate"][1] == 0


def test_one_hidden_month_of_a_series_hides_another_as_the_total_is_published():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 3  | 20
            m | 2024-01-01 | A         | 3  | 20
            m | 2024-02-01 | all sites | 10 | 20
            m | 2024-02-01 | A         | 10 | 20
            m | 2024-03-01 | all sites | 12 | 20
            m | 2024-03-01 | A         | 12 | 20
            """
        ),
        up_to=7,
        baseline_months=12,
    )
    assert shown(out, "numerator") == [None, None, None, None, 12, 12]


def test_a_count_anyone_can_tell_is_zero_is_never_hidden_to_protect_another():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 3  | 20
            m | 2024-01-01 | A         | 3  | 20
            m | 2024-02-01 | all sites | 0  | 0
            """
        ),
        up_to=7,
        baseline_months=12,
    )
    assert shown(out, "numerator") == [None, None, 0]


@st.composite
def measure_tables(draw) -> pd.DataFrame:
    """Random exact tables: measures x months x sites, with 'all sites' the sum."""
    sites = ["A", "B", "C"][: draw(st.integers(1, 3))]
    records = []
    for measure in ["m1", "m2"][: draw(st.integers(1, 2))]:
        for month in pd.date_range("2024-01-01", periods=draw(st.integers(1, 4)), freq="MS"):
            parts = []
            for site in sites:
                if draw(st.booleans()):
                    n = draw(st.integers(0, 25))
                    parts.append((site, draw(st.integers(0, n)), n, draw(st.integers(0, 12))))
            total = tuple(sum(p[i] for p in parts) for i in (1, 2, 3))
            for site, *values in [("all sites", *total), *parts]:
                records.append((measure, month, site, *values))
    frame = pd.DataFrame(records, columns=["measure", "month", "site", *measures.COUNTS])
    return frame.assign(
        rate=frame["numerator"] / frame["denominator"].where(frame["denominator"] > 0)
    )


@settings(max_examples=80, deadline=None)
@given(measure_tables(), st.integers(1, 7), st.integers(1, 3))
def test_no_shown_count_is_small_and_no_hidden_one_can_be_recovered(exact, up_to, baseline):
    out = measures.suppress_measures(exact, up_to, baseline)
    for column in measures.COUNTS:
        values = out[column].dropna()
        assert not ((values >= 1) & (values <= up_to)).any()
        assert (out[f"{column}_suppressed"] == out[column].isna()).all()
        # Within a (measure, month), 'all sites' = the sum of the sites: one equation, so
        # one hidden cell would be known and two or more are not.
        hidden = out.groupby(["measure", "month"])[f"{column}_suppressed"].sum()
        assert not (hidden == 1).any()
    both = out["numerator"].notna() & out["denominator"].notna()
    without = (out["denominator"] - out["numerator"])[both]
    assert not ((without >= 1) & (without <= up_to)).any()
    assert (
        out["rate"].isna() >= (out["numerator_suppressed"] | out["denominator_suppressed"])
    ).all()
    kept = exact.reset_index(drop=True)
    for column in measures.COUNTS:
        visible = out[column].notna()
        assert (out[column][visible] == kept[column][visible]).all()


def test_the_shareable_csv_of_the_sample_keeps_exact_counts_out(sample_db):
    config = AuditConfig()
    with stages.connect(sample_db) as con:
        out = measures.shareable(con, config)
    assert date(2024, 1, 1) in {m.date() for m in out["month"]}
    for column in measures.COUNTS:
        values = out[column].dropna()
        assert not ((values >= 1) & (values <= config.suppress_counts_up_to)).any()
