"""Measures: which period and site a unit counts in, pending units, complete and
evaluable periods, and the shareable table (rounded by default, or suppressed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLE, Audit, run_stages
from transforms import database
from transforms.config import AuditConfig
from transforms.outputs import measures, report, spc, spc_words
from transforms.outputs.suppress import suppress_counts
from transforms.rules.registry import registry

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


def measure_rows(audit: Audit, labs: str = "", meds: str = "", data_end: str = DATA_END, **config):
    db = audit.run(LAB_HEADER + labs + "\n" + data_end, MED_HEADER + meds, **config)
    with database.connect(db) as con:
        measures.build(con, AuditConfig(**config))
        return con.execute(
            "select measure, interval_start, site, numerator, denominator, pending, status, "
            "status_reason, period from measure_counts"
        ).fetchall()


def counts(audit: Audit, labs: str = "", meds: str = "", data_end: str = DATA_END) -> dict:
    """(measure, month 'YYYY-MM', site) -> (numerator, denominator, pending), by month."""
    return as_counts(measure_rows(audit, labs, meds, data_end, **MONTHLY_SETTING))


MONTHLY_SETTING = {"quarterly_below_monthly_denominator": 0}


def as_counts(rows: list) -> dict:
    return {(m, f"{start:%Y-%m}", s): (k, n, p) for m, start, s, k, n, p, *_ in rows}


def statuses(rows: list) -> dict:
    """(measure, period start 'YYYY-MM') -> (status, status_reason), all sites."""
    return {
        (m, f"{start:%Y-%m}"): (status, why)
        for m, start, site, _, _, _, status, why, _ in rows
        if site == "all sites"
    }


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
def folate_rows(tmp_path_factory) -> list:
    audit = Audit(tmp_path_factory.mktemp("folate"))
    return measure_rows(audit, FOLATE_LABS, "\n".join(FOLATE_MEDS), **MONTHLY_SETTING)


@pytest.fixture(scope="module")
def folate_counts(folate_rows) -> dict:
    return as_counts(folate_rows)


def test_a_period_whose_look_back_reaches_before_the_data_start_is_not_evaluable(folate_rows):
    # The data start: the later of the first lab (1 March 2024) and the first medication
    # event (31 January 2024). Folic acid looks back 365 days for B12 results and treatment.
    found = statuses(folate_rows)
    reason = "look-back of 365 days reaches before the data start 2024-03-01"
    assert found["folate_before_b12", "2024-07"] == ("not evaluable", reason)
    # The B12 statuses look back on nothing: the same months are complete.
    assert found["b12_deficient", "2024-03"] == ("complete", None)


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
    assert {m for m, _, _ in folate_counts} == set(registry())


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
def b12_counts_rows(tmp_path_factory) -> list:
    audit = Audit(tmp_path_factory.mktemp("b12"))
    return measure_rows(audit, B12_LABS, "", B12_END, **MONTHLY_SETTING)


@pytest.fixture(scope="module")
def b12_counts(b12_counts_rows) -> dict:
    return as_counts(b12_counts_rows)


def test_a_borderline_b12_still_inside_its_window_is_only_pending(tmp_path):
    labs = """
        open   | 2132-9 | 250 | pg/mL | 2024-03-11 | A
        closed | 2132-9 | 250 | pg/mL | 2024-03-10 | A
    """
    found = counts(Audit(tmp_path), labs, "", data_end=B12_END)
    assert found["b12_borderline_no_mma", "2024-03", "A"] == (1, 1, 1)
    assert found["b12_borderline", "2024-03", "A"] == (2, 2, 0)


def test_a_period_with_a_unit_inside_its_window_or_not_over_is_incomplete(tmp_path):
    labs = """
        open   | 2132-9 | 250 | pg/mL | 2024-03-11 | A
        closed | 2132-9 | 250 | pg/mL | 2024-02-10 | A
        start  | 718-7  | 130 | g/L   | 2024-02-01 | A
        june   | 2132-9 | 400 | pg/mL | 2024-06-01 | A
    """
    found = statuses(measure_rows(Audit(tmp_path), labs, "", B12_END, **MONTHLY_SETTING))
    assert found["b12_borderline_no_mma", "2024-02"] == ("complete", None)
    pending = ("incomplete", "1 unit still inside its window")
    assert found["b12_borderline_no_mma", "2024-03"] == pending
    not_over = ("incomplete", "period not over at the data end 2024-06-08")
    assert found["b12_borderline_no_mma", "2024-06"] == not_over
    assert found["b12_deficient", "2024-06"] == not_over


def test_a_period_that_began_before_the_data_is_not_evaluable(b12_counts_rows):
    found = statuses(b12_counts_rows)  # the first result: 15 January 2024
    began = ("not evaluable", "period starts before the data start 2024-01-15")
    assert found["b12_deficient", "2024-01"] == began
    assert found["b12_deficient", "2024-02"] == ("complete", None)


def test_a_flagged_patient_counts_in_the_month_of_the_index_result(b12_counts):
    # later_low: first B12 in January, deficient in March; never_low: January only.
    assert b12_counts["b12_deficient", "2024-01", "A"] == (0, 1, 0)
    assert b12_counts["b12_deficient", "2024-03", "A"] == (1, 1, 0)


# --- the whole sample: a property of real data


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    db = run_stages(SAMPLE, AuditConfig(), tmp_path_factory.mktemp("sample"))
    with database.connect(db) as con:
        measures.build(con, AuditConfig())
    return db


def test_on_the_sample_no_numerator_exceeds_its_denominator(sample_db):
    with database.connect(sample_db) as con:
        rows = con.execute(
            "select count(*), count(*) filter (numerator > denominator) from measure_counts"
        )
        total, over = rows.fetchall()[0]
    assert total > 0 and over == 0


def test_small_monthly_denominators_are_measured_by_quarter_adding_up_the_months(sample_db):
    with database.connect(sample_db) as con:
        quarterly = measures.exact(con)
        measures.build(con, AuditConfig(**MONTHLY_SETTING))
        monthly = measures.exact(con)
        measures.build(con, AuditConfig())
    assert set(quarterly["period"]) == {"quarter"} and set(monthly["period"]) == {"month"}
    starts = quarterly["interval_start"].dt
    assert set(starts.month) <= {1, 4, 7, 10} and (starts.day == 1).all()
    assert (
        quarterly["interval_end"]
        == quarterly["interval_start"] + pd.DateOffset(months=3) - pd.Timedelta(days=1)
    ).all()
    monthly["quarter"] = monthly["interval_start"].dt.to_period("Q").dt.start_time
    by_quarter = monthly.groupby(["measure", "quarter", "site"])[["numerator", "denominator"]].sum()
    keyed = quarterly.set_index(["measure", "interval_start", "site"])[["numerator", "denominator"]]
    assert (by_quarter.loc[keyed.index].to_numpy() == keyed.to_numpy()).all()


EXTRA_POPULATION = {"b12_loading_incomplete", "monitoring_missed"}  # pending is outside it


def test_on_the_sample_the_months_add_up_to_the_reports_totals(sample_db):
    with database.connect(sample_db) as con:
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


# --- the shareable table: rounding (the default) and suppression


def test_rounding_hides_1_to_7_rounds_the_rest_to_5_and_takes_the_ratio_from_the_rounded():
    out = measures.round_measures(
        table(
            """
            m | 2024-01-01 | all sites | 0  | 8
            m | 2024-02-01 | all sites | 7  | 12
            m | 2024-03-01 | all sites | 13 | 22
            """
        ),
        up_to=7,
        step=5,
    )
    assert shown(out, "numerator") == [0, None, 15]
    assert shown(out, "denominator") == [10, 10, 20]
    assert out["numerator_suppressed"].tolist() == [False, True, False]
    assert out["ratio"].tolist()[0] == 0 and pd.isna(out["ratio"][1])
    assert out["ratio"][2] == 15 / 20


def table(rows: str) -> pd.DataFrame:
    """`measure | month | site | numerator | denominator` rows; pending 0, complete."""
    records = []
    for line in rows.strip().splitlines():
        m, month, site, k, n = [c.strip() for c in line.split("|")]
        records.append((m, pd.Timestamp(month), site, int(k), int(n), 0))
    frame = pd.DataFrame(records, columns=["measure", "interval_start", "site", *measures.COUNTS])
    return frame.assign(
        ratio=frame["numerator"] / frame["denominator"].where(frame["denominator"] > 0),
        status="complete",
    )


def p_charts(exact: pd.DataFrame, baseline: int) -> list:
    return spc.charts(exact, {}, AuditConfig(spc_baseline_periods=baseline), "p", {})


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
        baseline_periods=12,
    )
    assert shown(out, "numerator") == [33, None, None, 20]
    assert out["numerator_suppressed"].tolist() == [False, True, True, False]
    assert shown(out, "denominator") == [60, 20, 20, 20]
    assert out["ratio"].isna().tolist() == [False, True, True, False]


def test_units_without_the_finding_are_a_count_too():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 45 | 50
            m | 2024-01-01 | A         | 45 | 50
            """
        ),
        up_to=7,
        baseline_periods=12,
    )
    assert shown(out, "numerator") == [None, None]  # 50 - 45 = 5 without the finding
    assert shown(out, "denominator") == [50, 50]


def test_a_baseline_with_one_hidden_month_has_no_centre_line_as_it_would_be_that_months_rate():
    exact = table(
        """
        m | 2024-01-01 | all sites | 45 | 50
        m | 2024-01-01 | A         | 45 | 50
        m | 2024-02-01 | all sites | 30 | 50
        m | 2024-02-01 | A         | 30 | 50
        """
    )
    out = measures.suppress_measures(exact, up_to=7, baseline_periods=1)
    chart = p_charts(exact, 1)[0]
    assert chart.centre == 0.9
    [shared] = measures.shareable_charts([chart], out)
    assert shared.centre is None and all(p.signals == () for p in shared.points)
    assert "hidden: no centre line" in spc_words.caption(shared)
    # With both months as the baseline, two are hidden: the centre line gives no one month.
    two = measures.suppress_measures(exact, up_to=7, baseline_periods=2)
    [kept] = measures.shareable_charts([p_charts(exact, 2)[0]], two)
    assert kept.centre == 75 / 100


def test_a_baseline_with_one_hidden_month_no_cell_can_cover_has_no_centre_line():
    exact = table(
        """
        m | 2024-01-01 | all sites | 1 | 2
        m | 2024-01-01 | A         | 1 | 2
        m | 2024-03-01 | all sites | 0 | 2
        m | 2024-03-01 | B         | 0 | 2
        """
    )
    out = measures.suppress_measures(exact, up_to=1, baseline_periods=2)
    # March's 0 is B's own summary total, so no cell covers January's hidden 1; and the
    # centre line, (1 + 0) / (2 + 2) with both denominators shown, would give it back.
    assert shown(out, "numerator") == [None, None, 0, 0]
    assert shown(out, "denominator") == [2, 2, 2, 2]
    chart = p_charts(exact, 2)[0]
    assert chart.centre == 0.25
    [shared] = measures.shareable_charts([chart], out)
    assert shared.centre is None and all(p.signals == () for p in shared.points)


def test_with_two_baseline_months_hidden_the_centre_line_gives_neither_and_denominators_stay():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 40 | 50
            m | 2024-01-01 | A         | 40 | 50
            m | 2024-02-01 | all sites | 45 | 50
            m | 2024-02-01 | A         | 45 | 50
            """
        ),
        up_to=7,
        baseline_periods=12,
    )
    assert shown(out, "numerator") == [None, None, None, None]  # 50 - 45 = 5
    assert shown(out, "denominator") == [50, 50, 50, 50]


def test_zero_is_shown_and_rate_is_blank_only_where_a_count_is_hidden():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 0  | 0
            m | 2024-02-01 | all sites | 0  | 20
            """
        ),
        up_to=7,
        baseline_periods=12,
    )
    assert shown(out, "numerator") == [0, 0] and shown(out, "denominator") == [0, 20]
    assert pd.isna(out["ratio"][0]) and out["ratio"][1] == 0


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
        baseline_periods=12,
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
        baseline_periods=12,
    )
    assert shown(out, "numerator") == [None, None, 0]


def twelve_baseline_months_then(*later: str) -> str:
    """12 baseline months at 10 of 100 at site A (and so all sites), then `later` rows."""
    months = [f"2024-{i:02d}-01" for i in range(1, 13)]
    rows = [f"m | {m} | {site} | 10 | 100" for m in months for site in ("all sites", "A")]
    return "\n".join([*rows, *later])


def all_sites(out: pd.DataFrame, column: str) -> list:
    return shown(out[out["site"] == "all sites"], column)


def test_the_first_month_after_the_baseline_is_not_the_published_total_less_the_centre_line():
    # Shown: summary.csv's total 127; the centre line, 10 %, times 12 shown 100s = 120.
    exact = table(
        twelve_baseline_months_then(
            "m | 2025-01-01 | all sites | 7 | 20", "m | 2025-01-01 | A | 7 | 20"
        )
    )
    out = measures.suppress_measures(exact, up_to=7, baseline_periods=12)
    numerators = all_sites(out, "numerator")
    assert numerators[12] is None and numerators[:12].count(None) == 2
    # No cell can cover January 2025, the only later month: the centre line is withheld,
    # so it no longer gives the 120, and every denominator stays shown.
    assert None not in all_sites(out, "denominator")
    [shared] = measures.shareable_charts(p_charts(exact, 12), out)
    assert shared.centre is None and all(p.ucl is None and not p.signals for p in shared.points)


def test_a_site_with_one_month_equals_its_summary_total_so_another_site_is_hidden_first():
    out = measures.suppress_measures(
        table(
            """
            m | 2024-01-01 | all sites | 33 | 60
            m | 2024-01-01 | A         | 3  | 20
            m | 2024-01-01 | B         | 10 | 20
            m | 2024-01-01 | C         | 20 | 20
            m | 2024-02-01 | all sites | 30 | 40
            m | 2024-02-01 | A         | 10 | 20
            m | 2024-02-01 | C         | 20 | 20
            """
        ),
        up_to=7,
        baseline_periods=12,
    )
    # B, smallest, is its own series: summary.csv shows its total, 10. C's is 40.
    assert shown(out, "numerator")[:4] == [33, None, 10, None]


@st.composite
def measure_tables(draw) -> pd.DataFrame:
    """Random exact tables: measures x months x sites, with 'all sites' the sum; up to 16
    months, so longer than the baseline."""
    sites = ["A", "B", "C"][: draw(st.integers(1, 3))]
    records = []
    for measure in ["m1", "m2"][: draw(st.integers(1, 2))]:
        for month in pd.date_range("2024-01-01", periods=draw(st.integers(1, 16)), freq="MS"):
            parts = []
            for site in sites:
                if draw(st.booleans()):
                    n = draw(st.integers(0, 25))
                    parts.append((site, draw(st.integers(0, n)), n, draw(st.integers(0, 12))))
            total = tuple(sum(p[i] for p in parts) for i in (1, 2, 3))
            for site, *values in [("all sites", *total), *parts]:
                records.append((measure, month, site, *values))
    frame = pd.DataFrame(records, columns=["measure", "interval_start", "site", *measures.COUNTS])
    return frame.assign(
        ratio=frame["numerator"] / frame["denominator"].where(frame["denominator"] > 0),
        status="complete",
    )


def published_groups(exact: pd.DataFrame, out: pd.DataFrame, column: str, up_to, baseline):
    """Row sets whose total anyone can read, for one count column (a reference, from the
    rules rather than the code): each (measure, month), 'all sites' = the sum of the sites;
    each (measure, site) series, summary.csv's total where it shows it; and for
    the numerator, while every 'all sites' baseline denominator is shown, the baseline
    months (centre line x denominators) and the later months (series total less that)."""
    groups = [rows.index for _, rows in exact.groupby(["measure", "interval_start"])]
    in_summary = summary_shows(exact, column, up_to)
    sums = exact.groupby(["measure", "site"])[["numerator", "denominator"]].sum()
    without = sums["denominator"] - sums["numerator"]
    # Where a series' units without the finding are from 1 to up_to, summary.csv gives
    # that count away itself (its count and denominator shown), which no cell here can
    # fix (reported to the lead): the measure's numerators are not checked against it.
    leaky = set(without[(without >= 1) & (without <= up_to)].index.get_level_values(0))
    for (measure, site), rows in exact.groupby(["measure", "site"]):
        if column == "numerator" and measure in leaky:
            continue
        if in_summary[measure, site]:
            groups.append(rows.index)
    if column == "numerator":
        for base, later in centre_lines(exact, out, baseline):
            groups.append(base)
            # Series total (summary.csv) less the baseline's, where summary.csv shows it.
            if in_summary[exact.loc[base.union(later)[0], "measure"], "all sites"]:
                groups.append(later)
    return groups


def summary_shows(exact: pd.DataFrame, column: str, up_to: int) -> dict:
    """(measure, site) -> whether summary.csv shows the series total: its rule
    (transforms/outputs/suppress.py) on the totals by site, small ones and complements hidden."""
    totals = exact.groupby(["measure", "site"], as_index=False)[column].sum()
    frame = totals.rename(columns={"measure": "finding", column: "count"}).assign(
        reason="(all)", denominator=0, denominator_meaning="-"
    )
    shown_there = ~suppress_counts(frame, up_to)["suppressed"]
    return dict(zip(zip(totals["measure"], totals["site"], strict=True), shown_there, strict=True))


def baselines(exact: pd.DataFrame, baseline: int) -> dict[str, tuple[pd.Index, pd.Index]]:
    """measure -> its 'all sites' baseline rows (the first `baseline` months with a
    denominator) and its later rows."""
    found = {}
    for measure, rows in (
        exact[exact["site"] == "all sites"].sort_values("interval_start").groupby("measure")
    ):
        base = rows[rows["denominator"] > 0].index[:baseline]
        found[measure] = (base, rows.index.difference(base))
    return found


def centre_lines(exact: pd.DataFrame, out: pd.DataFrame, baseline: int) -> list:
    """(baseline rows, later rows) of each measure whose chart draws its centre line with
    every baseline denominator shown, so the line gives the baseline's numerator total."""
    drawn = set(out.loc[~out["centre_line_withheld"], "measure"])
    return [
        (base, later)
        for measure, (base, later) in baselines(exact, baseline).items()
        if measure in drawn and not out.loc[base, "denominator_suppressed"].any()
    ]


def published_system(exact: pd.DataFrame, out: pd.DataFrame, up_to: int, baseline: int):
    """Everything published about the cells, as linear equations over (column, row)
    variables: (summary.csv's totals: month sums and shown series totals, everything:
    those, the drawn centre lines and the shown cells)."""
    size = len(exact)

    def equation(*terms: tuple[str, int, float]) -> np.ndarray:
        row = np.zeros(3 * size)
        for column, r, value in terms:
            row[measures.COUNTS.index(column) * size + r] = value
        return row

    totals = []
    for column in measures.COUNTS:
        for rows in exact.groupby(["measure", "interval_start"]).indices.values():
            sign = np.where(exact["site"].to_numpy()[rows] == "all sites", 1, -1)
            totals.append(equation(*((column, r, s) for r, s in zip(rows, sign, strict=True))))
        shows = summary_shows(exact, column, up_to)
        for key, rows in exact.groupby(["measure", "site"]).indices.items():
            if shows[key]:
                totals.append(equation(*((column, r, 1) for r in rows)))
    everything = list(totals)
    drawn = set(out.loc[~out["centre_line_withheld"], "measure"])
    for measure, (base, _) in baselines(exact, baseline).items():
        if measure in drawn and len(base) and exact.loc[base, "denominator"].sum():
            centre = exact.loc[base, "numerator"].sum() / exact.loc[base, "denominator"].sum()
            everything.append(
                equation(
                    *(("numerator", r, 1) for r in base),
                    *(("denominator", r, -centre) for r in base),
                )
            )
    for column in measures.COUNTS:
        everything += [equation((column, r, 1)) for r in np.flatnonzero(out[column].notna())]
    return totals, everything


def sensitive(exact: pd.DataFrame, out: pd.DataFrame, up_to: int) -> list[np.ndarray]:
    """Each hidden count from 1 to `up_to`, and each complement (denominator less
    numerator) from 1 to `up_to` with a part hidden, as a vector over the variables."""
    size, found = len(exact), []
    for i, column in enumerate(measures.COUNTS):
        for r in np.flatnonzero(out[f"{column}_suppressed"] & exact[column].between(1, up_to)):
            found.append(np.eye(3 * size)[i * size + r])
    without = exact["denominator"] - exact["numerator"]
    either = out["numerator_suppressed"] | out["denominator_suppressed"]
    for r in np.flatnonzero(either & without.between(1, up_to)):
        found.append(np.eye(3 * size)[size + r] - np.eye(3 * size)[r])
    return found


def solvable(equations: list[np.ndarray], target: np.ndarray) -> bool:
    """Whether the equations give the target's value (rank, not the code's projection)."""
    system = np.array(equations)
    return np.linalg.matrix_rank(np.vstack([system, target])) == np.linalg.matrix_rank(system)


@settings(max_examples=50, deadline=None)
@given(measure_tables(), st.integers(1, 7), st.integers(1, 13))
def test_no_shown_count_is_small_and_no_hidden_one_can_be_recovered(exact, up_to, baseline):
    out = measures.suppress_measures(exact, up_to, baseline)
    exact = exact.reset_index(drop=True)
    totals, everything = published_system(exact, out, up_to, baseline)
    for i, column in enumerate(measures.COUNTS):
        values = out[column].dropna()
        assert not ((values >= 1) & (values <= up_to)).any()
        assert (out[f"{column}_suppressed"] == out[column].isna()).all()
        hidden = out[f"{column}_suppressed"].to_numpy()
        # One equation settles one unknown, not two: no group with a published total has
        # exactly one hidden cell (a group of one included: its cell is the total), unless
        # summary.csv's totals give that cell away on their own, whatever is hidden here.
        for rows in published_groups(exact, out, column, up_to, baseline):
            if hidden[rows].sum() == 1:
                cell = i * len(exact) + rows[hidden[rows]][0]
                assert solvable(totals, np.eye(len(totals[0]))[cell]), (column, list(rows))
    # Exactly: no small count or complement is given away by everything published (totals,
    # drawn centre lines, shown cells), unless summary.csv's totals alone give it away.
    for target in sensitive(exact, out, up_to):
        assert not solvable(everything, target) or solvable(totals, target)
    both = out["numerator"].notna() & out["denominator"].notna()
    without = (out["denominator"] - out["numerator"])[both]
    assert not ((without >= 1) & (without <= up_to)).any()
    assert (
        out["ratio"].isna() >= (out["numerator_suppressed"] | out["denominator_suppressed"])
    ).all()
    for column in measures.COUNTS:
        visible = out[column].notna()
        assert (out[column][visible] == exact[column][visible]).all()


def test_the_shareable_csv_of_the_sample_keeps_exact_counts_out(sample_db):
    config = AuditConfig()
    with database.connect(sample_db) as con:
        out = measures.shareable(measures.exact(con), config)
    assert date(2024, 1, 1) in {m.date() for m in out["interval_start"]}
    for column in measures.COUNTS:
        values = out[column].dropna()
        assert not ((values >= 1) & (values <= config.suppress_counts_up_to)).any()
