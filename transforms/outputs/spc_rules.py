"""The four special-cause rules of NHS "Making Data Count", and each point's variation
(transforms/outputs/spc.py builds the charts they mark; its docstring states the rules)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

SHIFT_LENGTH, TREND_LENGTH = 7, 6
TOLERANCE = 1e-9  # ratios and square roots: equal within rounding


def mark(chart_, unknown: frozenset[date] = frozenset()):
    """The chart (spc.Chart) with each point's signals and variation, the periods in
    `unknown` (hidden from the reader) judged by no rule and breaking every run."""
    points = list(chart_.points)
    runs = _runs(points, unknown)
    kinds: list[list[str]] = [[] for _ in points]
    trend_sides: dict[int, int] = {}
    for run in runs:
        for i in run:
            if _outside(points[i]):
                kinds[i].append("outside_limits")
        for i in _two_of_three(points, run):
            kinds[i].append("two_of_three")
        for i in _shift(points, run):
            kinds[i].append("shift")
        for i, side in _trend(points, run).items():
            kinds[i].append("trend")
            trend_sides[i] = side
    marked = []
    for i, p in enumerate(points):
        if not p.judged or not p.limits_from_baseline or p.start in unknown:
            marked.append(replace(p, signals=(), variation=""))
            continue
        found = tuple(dict.fromkeys(kinds[i]))
        side = trend_sides[i] if found == ("trend",) else _side(p.value, p.centre)
        variation = _variation(side, chart_.direction) if found else "common_cause"
        marked.append(replace(p, signals=found, variation=variation))
    return replace(chart_, points=tuple(marked))


def _runs(points: list, unknown: frozenset[date]) -> list[list[int]]:
    """Stretches of consecutive judged, known points of one phase (positions in `points`):
    a new phase (re-baselining) starts a new stretch."""
    runs, current = [], []
    for i, p in enumerate(points):
        if current and p.phase != points[current[-1]].phase:
            runs.append(current)
            current = []
        if p.judged and p.limits_from_baseline and p.start not in unknown:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    return runs + [current] if current else runs


def _outside(p) -> bool:
    if p.ucl is None:
        return False
    return p.value > p.ucl + TOLERANCE or p.value < p.lcl - TOLERANCE


def _near_side(p) -> int:
    """+1 beyond the upper 2-sigma line, -1 beyond the lower, else 0."""
    if p.upper_near is None:
        return 0
    if p.value > p.upper_near + TOLERANCE:
        return 1
    return -1 if p.value < p.lower_near - TOLERANCE else 0


def _two_of_three(points: list, run: list[int]) -> set[int]:
    marked: set[int] = set()
    for start in range(len(run) - 2):
        window = run[start : start + 3]
        for side in (1, -1):
            beyond = [i for i in window if _near_side(points[i]) == side]
            if len(beyond) >= 2:
                marked.update(beyond)
    return marked


def _shift(points: list, run: list[int]) -> set[int]:
    marked: set[int] = set()
    streak: list[int] = []
    for i in run:
        side = _side(points[i].value, points[i].centre)
        if side == 0 or (streak and _side(points[streak[-1]].value, points[i].centre) != side):
            streak = []
        if side != 0:
            streak.append(i)
        if len(streak) >= SHIFT_LENGTH:
            marked.update(streak)
    return marked


def _trend(points: list, run: list[int]) -> dict[int, int]:
    """Position -> +1 (rising) or -1 (falling) for points in a trend."""
    marked: dict[int, int] = {}
    streak: list[int] = run[:1]
    direction = 0
    for previous, i in zip(run, run[1:], strict=False):
        step = _side(points[i].value, points[previous].value)
        if step == 0 or step != direction:
            streak = [previous]
            direction = step
        streak.append(i)
        if direction != 0 and len(streak) >= TREND_LENGTH:
            marked.update(dict.fromkeys(streak, direction))
    return marked


def _side(value: float, centre: float | None) -> int:
    if centre is None or abs(value - centre) <= TOLERANCE:
        return 0
    return 1 if value > centre else -1


def _variation(side: int, direction: str) -> str:
    if direction == "neither" or side == 0:
        return "neither"
    better = 1 if direction == "higher_is_better" else -1
    return "improvement" if side == better else "concern"
