"""SPC charts in the report: self-contained SVG, points coloured by variation, greyed
periods that are not judged, hidden periods drawn without values, and the icon summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import pandas as pd

from transforms.config import AuditConfig
from transforms.outputs import funnel, measures
from transforms.outputs.report_html import ReportTables, render_report
from transforms.outputs.run_charts import run_chart_svg, run_charts
from transforms.outputs.spc import Period, chart, signals
from transforms.outputs.spc_words import caption

MONTHS = [date(2024 + i // 12, i % 12 + 1, 1) for i in range(16)]
# 12 baseline months alternating 16 and 20 of 36, then: far above (a concern), hidden
# (a small count), back to normal, and an incomplete month.
NUMERATORS = [16, 20] * 6 + [33, 5, 18, 30]
DENOMINATORS = [36] * 16
STATUS = ["complete"] * 15 + ["incomplete"]
HIDDEN_MONTH = date(2025, 2, 1)


def exact_rows(numerators=NUMERATORS, status=STATUS, months=MONTHS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "measure": "folate_before_b12",
            "interval_start": pd.to_datetime(months),
            "site": "all sites",
            "numerator": numerators,
            "denominator": [36] * len(months),
            "pending": 0,
            "status": status,
        }
    )


def shown_rows(**kwargs) -> pd.DataFrame:
    """The shareable table under the default policy: 5 is hidden, the rest rounded."""
    return measures.round_measures(exact_rows(**kwargs), 7, 5)


def the_chart(numerators=NUMERATORS, status=STATUS, months=MONTHS):
    periods = [Period(m, k, 36, s) for m, k, s in zip(months, numerators, status, strict=True)]
    exact = chart("folate_before_b12", periods, "lower_is_better", 12, "xmr")
    return measures.shareable_charts(
        [exact], shown_rows(numerators=numerators, status=status, months=months)
    )[0]


def svg_tree() -> ET.Element:
    return ET.fromstring(run_chart_svg(the_chart(), shown_rows()))  # well-formed XML


def by_class(tree: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in tree.iter() if name in e.get("class", "").split()]


def test_the_chart_is_labelled_for_its_measure_and_for_screen_readers():
    tree = svg_tree()
    assert tree.get("class") == "run-chart" and tree.get("data-measure") == "folate_before_b12"
    label = "(XmR chart) of Folic acid started before B12 status was settled, all sites"
    assert tree.get("role") == "img" and label in tree.get("aria-label")
    assert tree.find("title").text.endswith(label)
    assert tree.find("desc").text.startswith("XmR chart. Mean")


def test_it_fetches_nothing_and_runs_nothing():
    text = run_chart_svg(the_chart(), shown_rows())
    assert "<script" not in text and "http" not in text and "href" not in text
    assert "url(" not in text and "@import" not in text and "<image" not in text


def test_points_are_coloured_by_variation_and_the_concern_is_marked():
    tree = svg_tree()
    concern = by_class(tree, "concern")
    assert len(concern) == 1 and concern[0].find("title").text.startswith("2025-01")
    assert len(by_class(tree, "common_cause")) == 13  # 12 baseline months and 2025-03
    assert by_class(tree, "legend")


def test_points_are_drawn_from_the_rounded_counts():
    point = by_class(svg_tree(), "concern")[0]
    # Exact 33 / 36 = 91.7 %; shown, 33 rounds to 35 and 36 to 35: drawn at 100 %.
    assert point.find("title").text.startswith("2025-01: 100.0%")


def test_a_hidden_month_has_no_point_and_no_limits_only_a_marker():
    tree = svg_tree()
    marked = by_class(tree, "suppressed")
    assert [m.find("title").text for m in marked] == ["2025-02: hidden (small count)"]
    titles = [e.find("title").text for e in by_class(tree, "point")]
    assert not any(t.startswith("2025-02") for t in titles)
    assert by_class(tree, "ucl")[0].get("d").count("M") == 2  # the limits break there


def test_an_incomplete_month_is_greyed_and_its_point_hollow():
    tree = svg_tree()
    greyed = by_class(tree, "incomplete")
    assert [g.find("title").text for g in greyed] == ["2025-04: incomplete"]
    hollow = [p for p in by_class(tree, "point") if "greyed" in p.get("class")]
    assert len(hollow) == 1 and hollow[0].get("fill") == "#fff"


def test_a_not_evaluable_month_is_greyed_too():
    status = ["not evaluable"] + STATUS[1:]
    tree = ET.fromstring(run_chart_svg(the_chart(status=status), shown_rows(status=status)))
    assert [g.find("title").text for g in by_class(tree, "not-evaluable")] == [
        "2024-01: not evaluable"
    ]


def test_text_is_at_least_11_px():
    sizes = [int(e.get("font-size")) for e in svg_tree().iter() if e.get("font-size")]
    assert sizes and min(sizes) >= 11


def test_the_report_has_the_headline_a_chart_per_measure_and_the_reaudit_section():
    charts = [the_chart()]
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
        run_charts=run_charts(charts, shown_rows()),
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
    assert "Headline: care-gap measures" in html
    assert 'class="icon variation common_cause"' in html  # the latest complete: 2025-03
    label = "Folic acid started before B12 status was settled"
    assert f"<td>{label}</td><td>2025-01</td><td>outside limits</td>" in html
    assert "XmR chart. Mean 50.0%" in html
    assert "rounded to the nearest 5" in html
    assert (
        f"<td>{label}</td><td class=n>suppressed</td><td class=n>12</td><td class=n>0</td>" in html
    )
    tables.reaudit = None
    assert "no previous run to compare with" in render_report(tables, AuditConfig(), run)


def test_the_chart_marks_no_shift_that_a_hidden_month_would_be_part_of():
    # Exact: 9 months above the mean; the fifth is hidden (7 of 36), so 4 and 4 are shown.
    months = MONTHS[:12] + [date(2025, i, 1) for i in range(1, 10)]
    numerators = [16, 20] * 6 + [21, 21, 21, 21, 7, 21, 21, 21, 21]
    status = ["complete"] * 21
    c = the_chart(numerators, status, months)
    tree = ET.fromstring(
        run_chart_svg(c, shown_rows(numerators=numerators, status=status, months=months))
    )
    assert by_class(tree, "concern") == [] and len(by_class(tree, "point")) == 20


def test_a_baseline_without_spread_is_said_to_have_no_limits():
    periods = [Period(m, 0, 36) for m in MONTHS[:13]]
    c = chart("m", periods, "lower_is_better", 12, "p")
    assert "no spread, so no limits" in caption(c)


def test_a_new_phase_is_drawn_as_a_break_with_its_own_centre_line():
    months = [date(2024 + i // 12, i % 12 + 1, 1) for i in range(24)]
    numerators = [16, 20] * 6 + [26, 30] * 6
    status = ["complete"] * 24
    periods = [Period(m, k, 36) for m, k in zip(months, numerators, strict=True)]
    c = chart("folate_before_b12", periods, "lower_is_better", 12, "xmr", phases=(months[12],))
    tree = ET.fromstring(
        run_chart_svg(c, shown_rows(numerators=numerators, status=status, months=months))
    )
    assert [b.find("title").text for b in by_class(tree, "phase-break")] == [
        "new baseline from 2025-01"
    ]
    centres = sorted(float(line.get("y1")) for line in by_class(tree, "centre"))
    assert len(centres) == 2 and centres[0] < centres[1]  # 78 % above 50 %: higher on the page
    assert "New baseline from 2025-01" in caption(c)


def test_the_funnel_plot_marks_a_site_beyond_the_99_8_percent_limits():
    exact = pd.DataFrame(
        {
            "measure": "folate_before_b12",
            "interval_start": pd.to_datetime(["2025-01-01"] * 4),
            "site": ["all sites", "north", "south", "east"],
            "numerator": [150, 20, 100, 30],
            "denominator": [400, 200, 100, 100],
            "status": "complete",
            "pending": 0,
        }
    )
    exact["ratio"] = exact["numerator"] / exact["denominator"]
    shown = measures.round_measures(exact, 7, 5)
    plot = funnel.funnel("folate_before_b12", exact, shown)
    assert plot.centre == 150 / 400 and plot.period == date(2025, 1, 1)
    assert [s[0] for s in plot.sites] == ["north", "south", "east"]
    # 37.5 % overall: north's 10 % of 200 and south's 100 % of 100 are beyond the 99.8 %
    # funnel (22.5 % to 52.5 % at 100 units), east's 30 % of 100 is within it.
    assert plot.outside("north") and plot.outside("south") and not plot.outside("east")
    svg = ET.fromstring(funnel.funnel_svg(plot))
    assert len(by_class(svg, "site")) == 3 and len(by_class(svg, "funnel")) == 4
