"""p-charts of the monthly measures: centre line, limits, and the two signals."""

from __future__ import annotations

import math
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.outputs.spc import latest_signals, mask_months, p_chart, signals


def months(count: int, start_year: int = 2024) -> list[date]:
    return [date(start_year + i // 12, i % 12 + 1, 1) for i in range(count)]


def chart(counts: list[tuple[int, int]], baseline: int = 12):
    """counts: (numerator, denominator) per month, from January 2024."""
    numerators, denominators = zip(*counts, strict=True) if counts else ((), ())
    return p_chart("m", months(len(counts)), list(numerators), list(denominators), baseline)


def kinds(c) -> dict[date, tuple[str, ...]]:
    return {p.month: p.signals for p in c.points if p.signals}


# Twelve baseline months at exactly 50 % of 36: centre 0.5, limits 0.5 ± 3·sqrt(0.25/36)
# = 0.25 and 0.75 for a month of 36.
BASELINE = [(18, 36)] * 12


def test_centre_line_is_the_baseline_rate_over_the_first_months_with_a_denominator():
    c = chart([(0, 0), (1, 10), (3, 10), (50, 50)], baseline=2)
    assert c.centre == 4 / 20
    assert c.baseline_months == (date(2024, 2, 1), date(2024, 3, 1))
    assert [p.month for p in c.points] == months(4)[1:]  # a month with n = 0 has no point


def test_limits_are_three_sigma_for_each_months_denominator_clipped_to_0_and_1():
    c = chart(BASELINE + [(2, 4), (50, 100)])
    by_n = {p.n: (p.lcl, p.ucl) for p in c.points}
    assert math.isclose(by_n[36][0], 0.25) and math.isclose(by_n[36][1], 0.75)
    assert by_n[4] == (0.0, 1.0)  # 0.5 ± 0.75, clipped
    assert math.isclose(by_n[100][0], 0.35) and math.isclose(by_n[100][1], 0.65)


def test_a_point_on_a_limit_is_not_outside_and_one_beyond_it_is():
    c = chart(BASELINE + [(27, 36), (28, 36), (9, 36), (8, 36)])
    assert kinds(c) == {
        date(2025, 2, 1): ("above_upper_limit",),
        date(2025, 4, 1): ("below_lower_limit",),
    }


def test_seven_points_on_one_side_are_not_a_run_and_eight_are():
    seven = chart(BASELINE + [(20, 36)] * 7)
    assert kinds(seven) == {}
    eight = chart(BASELINE + [(20, 36)] * 8)
    assert set(kinds(eight)) == set(months(20)[12:])
    assert set(kinds(eight).values()) == {("run_above_centre",)}


def test_a_point_on_the_centre_line_or_a_month_without_data_neither_breaks_nor_extends_a_run():
    below = [(16, 36)] * 4
    c = chart(BASELINE + below + [(18, 36), (0, 0)] + below)
    on_line, empty = date(2025, 5, 1), date(2025, 6, 1)
    marked = kinds(c)
    assert len(marked) == 8 and on_line not in marked and empty not in marked
    assert set(marked.values()) == {("run_below_centre",)}
    shorter = chart(BASELINE + below + [(18, 36)] + below[:3])
    assert kinds(shorter) == {}


def test_a_change_of_side_breaks_a_run():
    c = chart(BASELINE + [(20, 36)] * 4 + [(16, 36)] + [(20, 36)] * 4)
    assert kinds(c) == {}


def test_a_point_can_be_both_outside_the_limits_and_in_a_run():
    c = chart(BASELINE + [(20, 36)] * 7 + [(30, 36)])
    assert kinds(c)[date(2025, 8, 1)] == ("above_upper_limit", "run_above_centre")


def test_with_fewer_baseline_months_than_configured_the_limits_are_provisional():
    c = chart([(1, 10), (2, 10), (9, 10)], baseline=12)
    assert c.provisional and c.has_limits and c.centre == 12 / 30
    assert kinds(c) == {date(2024, 3, 1): ("above_upper_limit",)}


def test_with_one_month_of_data_there_is_a_centre_line_but_no_limits_or_signals():
    c = chart([(0, 0), (5, 10)])
    assert c.centre == 0.5 and not c.has_limits and c.provisional
    assert [(p.lcl, p.ucl, p.signals) for p in c.points] == [(None, None, ())]


def test_a_baseline_rate_of_0_or_1_has_no_limits_so_one_case_is_no_signal():
    none = chart([(0, 36)] * 12 + [(1, 36)])
    every = chart([(36, 36)] * 12 + [(35, 36)])
    for c in (none, every):
        assert not c.has_limits and c.centre_without_spread
        assert kinds(c) == {} and {(p.lcl, p.ucl) for p in c.points} == {(None, None)}


def test_after_a_baseline_rate_of_0_a_run_of_8_months_with_a_case_is_still_a_signal():
    c = chart([(0, 36)] * 12 + [(1, 36)] * 8)
    assert set(kinds(c).values()) == {("run_above_centre",)} and len(kinds(c)) == 8


def test_with_no_data_there_is_no_chart():
    c = chart([(0, 0)] * 3)
    assert c.centre is None and c.points == () and c.baseline_months == ()


def test_latest_signals_name_the_measure_month_and_kind_of_the_last_point_only():
    earlier = p_chart("a", months(14), [18] * 12 + [30, 18], [36] * 14)
    latest = p_chart("b", months(14), [18] * 12 + [18, 30], [36] * 14)
    assert [(s.measure, s.month, s.kind) for s in latest_signals([earlier, latest])] == [
        ("b", date(2025, 2, 1), "above_upper_limit")
    ]
    assert len(signals([earlier, latest])) == 2


# --- what may be shared when months are suppressed


def test_a_suppressed_month_loses_its_signals_and_a_shown_one_keeps_an_outside_limit():
    c = chart(BASELINE + [(30, 36), (30, 36)])
    masked = mask_months(c, {date(2025, 1, 1)})
    assert kinds(masked) == {date(2025, 2, 1): ("above_upper_limit",)}
    assert len(masked.points) == len(c.points)  # kept, for the caller's own use


def test_a_suppressed_month_breaks_a_run_as_its_side_is_not_to_be_told():
    # Exact: 9 months above. Shown: 4, one suppressed, 4: no run of 8 to be seen.
    c = chart(BASELINE + [(20, 36)] * 9)
    assert len(kinds(c)) == 9
    assert kinds(mask_months(c, {date(2025, 5, 1)})) == {}
    # With the suppressed month last, the 8 shown months before it are still a run.
    masked = mask_months(c, {date(2025, 9, 1)})
    assert set(kinds(masked)) == set(months(20)[12:]) and len(kinds(masked)) == 8


def test_the_shown_signals_are_the_same_whichever_side_the_suppressed_month_is_on():
    hidden = {date(2025, 5, 1)}
    above = chart(BASELINE + [(20, 36)] * 4 + [(20, 36)] + [(20, 36)] * 4)
    below = chart(BASELINE + [(20, 36)] * 4 + [(16, 36)] + [(20, 36)] * 4)
    assert kinds(above) != kinds(below)  # exact: a run of 9, or none
    assert kinds(mask_months(above, hidden)) == kinds(mask_months(below, hidden))


# --- property: the chart agrees with a plain re-statement of the rules.


def reference(counts: list[tuple[int, int]], baseline: int) -> dict[int, set[str]]:
    """Month index -> signal kinds, computed the long way."""
    data = [i for i, (_, n) in enumerate(counts) if n > 0]
    base = data[:baseline]
    if len(base) < 2:
        return {}
    centre = sum(counts[i][0] for i in base) / sum(counts[i][1] for i in base)
    out: dict[int, set[str]] = {i: set() for i in data}
    for i in data if 0 < centre < 1 else []:
        k, n = counts[i]
        spread = 3 * math.sqrt(centre * (1 - centre) / n)
        if k / n > min(1, centre + spread) + 1e-9:
            out[i].add("above_upper_limit")
        elif k / n < max(0, centre - spread) - 1e-9:
            out[i].add("below_lower_limit")
    sided = [(i, 1 if counts[i][0] / counts[i][1] > centre else -1) for i in data]
    sided = [(i, s) for i, s in sided if abs(counts[i][0] / counts[i][1] - centre) > 1e-9]
    for start in range(len(sided)):
        end = start
        while end < len(sided) and sided[end][1] == sided[start][1]:
            end += 1
        if end - start >= 8:
            kind = "run_above_centre" if sided[start][1] > 0 else "run_below_centre"
            for i, _ in sided[start:end]:
                out[i].add(kind)
    return {i: s for i, s in out.items() if s}


month_counts = st.integers(0, 12).flatmap(
    lambda n: st.tuples(st.integers(0, n), st.just(n)).map(lambda t: (t[0], t[1]))
)


@settings(max_examples=300, deadline=None)
@given(st.lists(month_counts, max_size=40), st.integers(2, 15))
def test_signals_agree_with_a_reference_implementation(counts, baseline):
    c = chart(counts, baseline)
    index = {m: i for i, m in enumerate(months(len(counts)))}
    found = {index[p.month]: set(p.signals) for p in c.points if p.signals}
    assert found == reference(counts, baseline)
