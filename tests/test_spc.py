"""SPC in the NHS Making Data Count style: chart kinds, limits, the four special-cause
rules, variation and assurance icons, and what alerts."""

from __future__ import annotations

import math
import statistics
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.outputs.spc import Period, chart, chart_kind, latest_concerns, mark


def months(count: int) -> list[date]:
    return [date(2024 + i // 12, i % 12 + 1, 1) for i in range(count)]


def xmr(values: list[float], direction="lower_is_better", baseline=12, target=None, status=None):
    """An XmR chart of ratios given as numerator / 1000."""
    status = status or ["complete"] * len(values)
    periods = [
        Period(m, round(v * 1000), 1000, s)
        for m, v, s in zip(months(len(values)), values, status, strict=True)
    ]
    return chart("m", periods, direction, baseline, "xmr", target)


def flags(c) -> dict[int, tuple[str, ...]]:
    """Position of each point with a signal -> its signals."""
    return {i: p.signals for i, p in enumerate(c.points) if p.signals}


# Twelve baseline periods alternating 0.10 and 0.12: mean 0.11, every moving range 0.02,
# sigma = 0.02 / 1.128; 3 sigma = 0.0532 (limits 0.0568 to 0.1632), 2 sigma = 0.0355.
BASELINE = [0.10, 0.12] * 6
SIGMA = 0.02 / 1.128


def test_xmr_centre_is_the_baseline_mean_and_limits_are_2_66_mean_moving_ranges():
    c = xmr(BASELINE)
    assert c.kind == "xmr" and c.centre == pytest.approx(0.11)
    assert c.points[0].ucl == pytest.approx(0.11 + 3 * SIGMA)
    assert c.points[0].lcl == pytest.approx(0.11 - 3 * SIGMA)
    assert c.points[0].upper_near == pytest.approx(0.11 + 2 * SIGMA)
    assert pytest.approx(2.66 * 0.02, abs=1e-4) == 3 * SIGMA
    assert flags(c) == {}
    assert c.variation == "common_cause"


def test_a_moving_range_of_3_267_mean_ranges_or_more_is_screened_out_of_the_limits():
    c = xmr([0.1] * 5 + [0.1, 0.9] + [0.1] * 5 + [0.11, 0.1], baseline=12)
    # Ranges: 0 x 5, 0.8, 0.8, 0 x 4 (mean 0.145): the two 0.8s are screened, none left
    # but zeros, so the limits are the binomial floor's alone.
    centre = (0.1 * 11 + 0.9) / 12
    binomial = math.sqrt(centre * (1 - centre) / 1000)
    assert c.points[0].ucl == pytest.approx(centre + 3 * binomial)


def test_xmr_limits_are_never_narrower_than_the_binomial_limits():
    # Moving ranges of 0.001: sigma 0.0009, below the binomial 0.0099 of 11 % of 1000.
    c = xmr([0.110, 0.111] * 6)
    binomial = math.sqrt(c.centre * (1 - c.centre) / 1000)
    assert c.points[0].ucl == pytest.approx(c.centre + 3 * binomial)


def test_laney_limits_are_never_narrower_than_the_p_limits():
    counts = [(250, 1000), (251, 1000)] * 6  # far less spread than binomial: sigma_z < 1
    periods = [Period(m, k, n) for m, (k, n) in zip(months(12), counts, strict=True)]
    c = chart("m", periods, "lower_is_better", 12, "laney")
    assert c.points[0].ucl == pytest.approx(
        c.centre + 3 * math.sqrt(c.centre * (1 - c.centre) / 1000)
    )


def test_a_point_beyond_3_sigma_is_special_cause():
    c = xmr(BASELINE + [0.17, 0.11])
    assert flags(c) == {12: ("outside_limits",)}


def test_a_point_on_a_limit_is_not_outside_and_one_beyond_it_is():
    # p chart at 50 % of 36: limits 0.5 +/- 3 sqrt(0.25 / 36) = 0.25 and 0.75 exactly.
    baseline = [Period(m, 18, 36) for m in months(12)]
    on = chart("m", [*baseline, Period(date(2025, 1, 1), 27, 36)], "lower_is_better", 12, "p")
    assert on.points[12].ucl == 0.75 and flags(on) == {}
    beyond = chart("m", [*baseline, Period(date(2025, 1, 1), 28, 36)], "lower_is_better", 12, "p")
    assert flags(beyond) == {12: ("outside_limits",)}


def test_two_of_three_beyond_2_sigma_on_one_side_is_special_cause():
    near = 0.11 + 2.5 * SIGMA
    c = xmr(BASELINE + [near, 0.11, near])
    assert flags(c) == {12: ("two_of_three",), 14: ("two_of_three",)}


def test_two_of_three_beyond_2_sigma_on_opposite_sides_is_not():
    c = xmr(BASELINE + [0.11 + 2.5 * SIGMA, 0.11, 0.11 - 2.5 * SIGMA])
    assert flags(c) == {}


def test_six_points_on_one_side_are_not_a_shift_and_seven_are():
    below = [0.105, 0.104, 0.106, 0.105, 0.104, 0.106]
    assert flags(xmr(BASELINE + below)) == {}
    seven = flags(xmr(BASELINE + below + [0.105]))
    assert seven == {i: ("shift",) for i in range(12, 19)}


def test_a_point_on_the_mean_breaks_a_shift():
    c = xmr(BASELINE + [0.105] * 3 + [0.11] + [0.105] * 4)
    assert flags(c) == {}


def test_five_rising_points_are_not_a_trend_and_six_are_and_a_tie_breaks_one():
    five = [0.100, 0.105, 0.110, 0.115, 0.120]
    assert flags(xmr(BASELINE + five)) == {}
    six = flags(xmr(BASELINE + five + [0.125]))
    assert six == {i: ("trend",) for i in range(12, 18)}
    assert flags(xmr(BASELINE + [0.100, 0.105, 0.105, 0.110, 0.115, 0.120])) == {}


@pytest.mark.parametrize(
    ("direction", "above", "below"),
    [
        ("lower_is_better", "concern", "improvement"),
        ("higher_is_better", "improvement", "concern"),
        ("neither", "neither", "neither"),
    ],
)
def test_variation_reads_the_side_through_the_measures_direction(direction, above, below):
    assert xmr(BASELINE + [0.2], direction).variation == above
    assert xmr(BASELINE + [0.02], direction).variation == below


def test_a_falling_trend_above_the_mean_is_read_by_its_direction():
    falling = [0.160, 0.150, 0.140, 0.130, 0.125, 0.12]
    c = xmr([0.12, 0.10] * 6 + falling, "lower_is_better")  # the baseline ends below
    assert c.points[-1].signals == ("trend",) and c.variation == "improvement"


def test_incomplete_and_not_evaluable_periods_are_in_no_baseline_and_no_signal():
    status = ["not evaluable"] * 2 + ["complete"] * 12 + ["incomplete"]
    c = xmr([0.9, 0.9] + BASELINE + [0.9], status=status)
    assert c.baseline == tuple(months(15)[2:14])
    assert c.centre == pytest.approx(0.11)
    assert flags(c) == {}  # 0.9 is far outside, but neither period is judged
    assert c.latest.start == months(15)[13]
    assert [p.variation for p in c.points][-1] == ""


def test_an_incomplete_period_breaks_a_run():
    status = ["complete"] * 15 + ["incomplete"] + ["complete"] * 4
    c = xmr(BASELINE + [0.105] * 8, status=status)
    assert flags(c) == {}


def test_a_hidden_period_loses_its_signal_and_breaks_runs():
    c = xmr(BASELINE + [0.105] * 7)
    assert len(flags(c)) == 7
    hidden = mark(c, frozenset({months(19)[15]}))
    assert flags(hidden) == {}


def test_fewer_than_two_baseline_periods_give_no_limits_and_no_signals():
    one = xmr([0.1, 0.9], baseline=1)
    assert one.centre == pytest.approx(0.1) and one.points[1].ucl is None and flags(one) == {}
    assert not one.enough_baseline and one.variation == ""


def test_a_short_baseline_is_provisional():
    assert xmr(BASELINE[:6]).provisional and not xmr(BASELINE).provisional


def test_p_chart_limits_depend_on_each_periods_denominator():
    periods = [Period(m, 20, 100) for m in months(12)] + [Period(date(2025, 1, 1), 10, 25)]
    c = chart("m", periods, "lower_is_better", 12, "p")
    assert c.centre == pytest.approx(0.2)
    assert c.points[0].ucl == pytest.approx(0.2 + 3 * math.sqrt(0.16 / 100))
    assert c.points[-1].ucl == pytest.approx(0.2 + 3 * math.sqrt(0.16 / 25))


def test_laney_widens_p_limits_by_the_spread_seen_between_periods():
    counts = [(20, 100), (30, 100)] * 6
    periods = [Period(m, k, n) for m, (k, n) in zip(months(12), counts, strict=True)]
    c = chart("m", periods, "lower_is_better", 12, "laney")
    sigma = math.sqrt(0.25 * 0.75 / 100)
    z = [(k / n - 0.25) / sigma for k, n in counts]
    sigma_z = statistics.fmean(abs(b - a) for a, b in zip(z, z[1:], strict=False)) / 1.128
    assert c.points[0].ucl == pytest.approx(0.25 + 3 * sigma * sigma_z)


def test_auto_is_xmr_for_steady_denominators_and_laney_where_they_vary():
    assert chart_kind([100, 110, 90, 120]) == "xmr"
    assert chart_kind([100, 100, 100, 200]) == "laney"


def test_a_baseline_ratio_of_0_has_no_p_limits_but_a_shift_still_counts():
    periods = [Period(m, 0, 50) for m in months(12)] + [Period(m, 1, 50) for m in months(19)[12:]]
    c = chart("m", periods, "lower_is_better", 12, "p")
    assert not c.has_limits and c.points[-1].signals == ("shift",)


@pytest.mark.parametrize(
    ("direction", "target", "assurance"),
    [
        ("lower_is_better", 0.20, "pass"),  # the target is above the upper limit
        ("lower_is_better", 0.02, "fail"),  # below the lower limit
        ("lower_is_better", 0.11, "hit_and_miss"),
        ("higher_is_better", 0.20, "fail"),
        ("higher_is_better", 0.02, "pass"),
        ("neither", 0.20, ""),
    ],
)
def test_assurance_compares_the_target_with_the_limits(direction, target, assurance):
    assert xmr(BASELINE, direction, target=target).assurance == assurance
    assert xmr(BASELINE, direction).assurance == ""


def test_only_special_cause_concern_on_the_latest_complete_period_alerts():
    concern = xmr(BASELINE + [0.3])
    improvement = xmr(BASELINE + [0.01])
    earlier = xmr(BASELINE + [0.3, 0.11])
    incomplete = xmr(BASELINE + [0.3], status=["complete"] * 12 + ["incomplete"])
    found = latest_concerns([concern, improvement, earlier, incomplete])
    assert [(s.month, s.kind, s.variation) for s in found] == [
        (months(13)[12], "outside_limits", "concern")
    ]


# A reference for the shift and trend rules: brute force over every window.
def _reference(values: list[float], centre: float) -> set[int]:
    found: set[int] = set()
    for start in range(len(values)):
        for end in range(start + 1, len(values) + 1):
            window = values[start:end]
            sides = {0 if abs(v - centre) < 1e-9 else (v > centre) - (v < centre) for v in window}
            if len(window) >= 7 and sides in ({1}, {-1}):
                found.update(range(start, end))
            steps = {(b > a) - (b < a) for a, b in zip(window, window[1:], strict=False)}
            if len(window) >= 6 and steps in ({1}, {-1}):
                found.update(range(start, end))
    return found


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=95, max_value=125), min_size=0, max_size=20))
def test_shifts_and_trends_agree_with_a_brute_force_reference(later):
    values = [v / 1000 for v in later]
    c = xmr(BASELINE + values)
    marked = {
        i - 12 for i, kinds in flags(c).items() if {"shift", "trend"} & set(kinds) and i >= 12
    }
    expected = {i - 12 for i in _reference(BASELINE + values, c.centre) if i >= 12}
    # Points beyond the baseline can only join a run through later points (the
    # alternating baseline has no shift or trend of its own).
    assert marked == expected
