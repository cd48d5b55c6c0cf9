"""Run charts: self-contained SVG, signals marked, suppressed months drawn without values."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import pandas as pd

from transforms.config import AuditConfig
from transforms.outputs.report_html import ReportTables, render_report
from transforms.outputs.run_charts import caption, run_chart_svg, run_charts
from transforms.outputs.spc import p_chart, signals

MONTHS = [date(2024 + i // 12, i % 12 + 1, 1) for i in range(16)]
# 12 baseline months at 50 % of 36, then: above the upper limit, suppressed, on the
# centre line, and a month with no denominator.
NUMERATORS = [18] * 12 + [30, 18, 18, 0]
DENOMINATORS = [36] * 12 + [36, 36, 36, 0]
SUPPRESSED_MONTH = date(2025, 2, 1)


def shareable_rows() -> pd.DataFrame:
    hidden = [m == SUPPRESSED_MONTH for m in MONTHS]
    return pd.DataFrame(
        {
            "measure": "folate_before_b12",
            "month": pd.to_datetime(MONTHS),
            "site": "all sites",
            "numerator_suppressed": hidden,
            "denominator_suppressed": hidden,
        }
    )


def chart():
    return p_chart("folate_before_b12", MONTHS, NUMERATORS, DENOMINATORS, 12)


def svg_tree() -> ET.Element:
    return ET.fromstring(run_chart_svg(chart(), shareable_rows()))  # well-formed XML


def by_class(tree: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in tree.iter() if name in e.get("class", "").split()]


def test_the_chart_is_labelled_for_its_measure_and_for_screen_readers():
    tree = svg_tree()
    assert tree.get("class") == "run-chart" and tree.get("data-measure") == "folate_before_b12"
    assert tree.get("role") == "img" and "folate_before_b12" in tree.get("aria-label")
    assert "folate_before_b12" in tree.find("title").text


def test_it_fetches_nothing_and_runs_nothing():
    text = run_chart_svg(chart(), shareable_rows())
    assert "<script" not in text and "http" not in text and "href" not in text
    assert "url(" not in text and "@import" not in text and "<image" not in text


def test_months_with_a_value_have_a_point_and_the_signal_is_marked_apart():
    tree = svg_tree()
    assert len(by_class(tree, "point")) == 13  # 12 baseline + the centre-line month
    outside = by_class(tree, "outside")
    assert len(outside) == 1 and "2025-01" in outside[0].find("title").text
    assert by_class(tree, "legend")


def test_a_suppressed_month_has_no_point_and_no_limits_only_a_marker():
    tree = svg_tree()
    marked = by_class(tree, "suppressed")
    assert [m.find("title").text for m in marked] == ["2025-02: suppressed"]
    titles = [e.find("title").text for e in by_class(tree, "point")]
    assert not any(t.startswith("2025-02") for t in titles)
    # The limits break at the suppressed month: a new sub-path starts after it.
    upper = by_class(tree, "ucl")[0].get("d")
    assert upper.count("M") == 2


def test_centre_line_and_step_limits_are_drawn():
    tree = svg_tree()
    assert len(by_class(tree, "centre")) == 1
    assert by_class(tree, "ucl") and by_class(tree, "lcl")


def test_the_report_has_a_chart_per_measure_a_signal_table_and_the_reaudit_section():
    charts = [chart()]
    tables = ReportTables(
        summary=pd.DataFrame(
            columns=["finding", "reason", "site", "count", "denominator", "suppressed"]
        ),
        quarantine=pd.DataFrame(),
        usability=pd.DataFrame(),
        evaluability=pd.DataFrame(),
        sensitivity=pd.DataFrame(
            columns=["switch", "value_in_force", "flipped_to", "finding", "findings_gained"]
        ),
        esr_overlap=pd.DataFrame(),
        run_charts=run_charts(charts, shareable_rows()),
        signals=signals(charts),
        reaudit=pd.DataFrame(
            {
                "finding": ["folate_before_b12"],
                "newly_flagged": pd.array([None], dtype="Int64"),
                "resolved": pd.array([12], dtype="Int64"),
                "still_flagged": pd.array([0], dtype="Int64"),
                "newly_flagged_suppressed": [True],
                "resolved_suppressed": [False],
                "still_flagged_suppressed": [False],
            }
        ),
    )
    run = {
        "run_id": "r1",
        "data_end": "2025-12-31",
        "inputs": [],
        "scope": dict.fromkeys(
            ["medication_data_start", "medication_data_end", "lab_data_end"], "2025-12-31"
        )
        | {"diagnoses_present": True},
    }
    html = render_report(tables, AuditConfig(), run)
    assert html.count('class="run-chart"') == 1
    assert "<td>folate_before_b12</td><td>2025-01</td><td>above upper limit</td>" in html
    assert "Centre line 50.0%" in html
    assert "<td class=n>suppressed</td><td class=n>12</td><td class=n>0</td>" in html
    tables.reaudit = None
    assert "no previous run to compare with" in render_report(tables, AuditConfig(), run)


def test_the_chart_marks_no_run_that_a_suppressed_month_would_be_part_of():
    # Exact: 9 months above the centre line; the fifth is suppressed, so 4 and 4 are shown.
    months = MONTHS[:12] + [date(2025, i, 1) for i in range(1, 10)]
    c = p_chart("m", months, [18] * 12 + [20] * 9, [36] * 21, 12)
    hidden = [m == date(2025, 5, 1) for m in months]
    rows = pd.DataFrame(
        {
            "measure": "m",
            "month": pd.to_datetime(months),
            "site": "all sites",
            "numerator_suppressed": hidden,
            "denominator_suppressed": hidden,
        }
    )
    tree = ET.fromstring(run_chart_svg(c, rows))
    assert by_class(tree, "run") == [] and len(by_class(tree, "point")) == 20


def test_a_baseline_rate_of_0_is_said_to_have_no_limits():
    c = p_chart("m", MONTHS[:13], [0] * 12 + [1], [36] * 13, 12)
    text = caption(c)
    assert "no limits and no outside-limit signals" in text and "0%" in text
    assert not by_class(ET.fromstring(run_chart_svg(c, shareable_rows())), "ucl")
