"""Statistical process control: p-charts of the monthly measures, and their signals.

Pure functions on plain numbers (no DuckDB), so every rule is checked on a hand-made series.

- Baseline: the first `baseline_months` months with a denominator above 0. Centre line
  p̄ = Σ numerators / Σ denominators over the baseline.
- Limits per month: p̄ ± 3·sqrt(p̄(1 − p̄)/n_i), clipped to [0, 1]; a month with n_i = 0
  has no point (and no limits).
- Provisional: fewer baseline months than asked for; the limits come from what there is.
  With fewer than 2 months of data there are no limits and no signals (one month says
  nothing about common-cause variation), only the centre line.
- A baseline rate of exactly 0 or 1 has no spread: its limits would be 0 to 0 (or 1 to 1),
  and the first single case would be "outside". So there are no limits and no
  outside-limit signals then; runs still count (eight months in a row with a case, after a
  baseline with none, is a change).
- Signals: `above_upper_limit` / `below_lower_limit`: p strictly beyond the limit (a point
  on a limit, within 1e-9 for rounding, is not outside); `run_above_centre` /
  `run_below_centre`: the point is one of a run of 8 or more consecutive points on the same
  side of the centre line. A point exactly on the centre line (within 1e-9) neither extends
  nor breaks a run, and neither does a month with no point (n = 0): runs count points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

RUN_LENGTH = 8
SIGMAS = 3.0
MIN_BASELINE_FOR_LIMITS = 2
TOLERANCE = 1e-9  # rates are ratios and limits square roots: equal within rounding


@dataclass(frozen=True)
class Point:
    month: date
    p: float
    n: int
    lcl: float | None
    ucl: float | None
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class PChart:
    measure: str
    centre: float | None
    baseline_months: tuple[date, ...]
    provisional: bool
    points: tuple[Point, ...]

    @property
    def enough_baseline(self) -> bool:
        return len(self.baseline_months) >= MIN_BASELINE_FOR_LIMITS

    @property
    def has_limits(self) -> bool:
        return self.enough_baseline and not self.centre_without_spread

    @property
    def centre_without_spread(self) -> bool:
        """A baseline rate of exactly 0 or 1 (ratios of integers, so exact)."""
        return self.centre in (0.0, 1.0)


@dataclass(frozen=True)
class Signal:
    measure: str
    month: date
    kind: str


def p_chart(
    measure: str,
    months: list[date],
    numerators: list[int],
    denominators: list[int],
    baseline_months: int = 12,
) -> PChart:
    """The p-chart of one measure's series (months in order, exact counts)."""
    series = [(m, k, n) for m, k, n in zip(months, numerators, denominators, strict=True) if n > 0]
    baseline = series[:baseline_months]
    centre = sum(k for _, k, _ in baseline) / sum(n for *_, n in baseline) if baseline else None
    enough = len(baseline) >= MIN_BASELINE_FOR_LIMITS
    with_limits = enough and centre not in (0.0, 1.0)
    points = [_point(m, k, n, centre if with_limits else None) for m, k, n in series]
    if with_limits:
        points = _mark_outside(points)
    if enough:
        points = mark_runs(points, centre)
    return PChart(
        measure=measure,
        centre=centre,
        baseline_months=tuple(m for m, _, _ in baseline),
        provisional=len(baseline) < baseline_months,
        points=tuple(points),
    )


def p_charts(counts: pd.DataFrame, baseline_months: int) -> list[PChart]:
    """One chart per measure from measure_counts' 'all sites' rows (exact counts)."""
    totals = counts[counts["site"] == "all sites"].sort_values(["measure", "month"])
    return [
        p_chart(
            measure,
            [_as_date(m) for m in rows["month"]],
            [int(k) for k in rows["numerator"]],
            [int(n) for n in rows["denominator"]],
            baseline_months,
        )
        for measure, rows in totals.groupby("measure", sort=True)
    ]


def signals(charts: list[PChart]) -> list[Signal]:
    """Every signal on every chart: measure, month and kind only (no counts)."""
    return [
        Signal(c.measure, p.month, kind) for c in charts for p in c.points for kind in p.signals
    ]


def latest_signals(charts: list[PChart]) -> list[Signal]:
    """The signals on each measure's most recent month with a point."""
    return [
        Signal(c.measure, c.points[-1].month, kind)
        for c in charts
        if c.points
        for kind in c.points[-1].signals
    ]


def mask_months(chart: PChart, hidden: set[date]) -> PChart:
    """The chart's signals as they may be shared when the months in `hidden` are suppressed.

    A signal on a suppressed month bounds its hidden count (centre 10 %, n = 20: "above the
    upper limit" means k >= 7, and hidden means k <= 7), so those months keep their points
    (for the caller's own use) but lose every signal. An outside-limit signal on a shown
    month uses only shown numbers. A run does not: eight points on one side with a
    suppressed month among them tells which side that month is on, and so does the absence
    of a run (seven shown points above, then the suppressed one, then more above, and no
    signal: it is below). So runs are counted again with a suppressed month breaking them,
    as if its side were unknown, which it is to the reader.
    """
    unknown = frozenset(hidden)
    points = [
        replace(p, signals=() if p.month in unknown else _outside_only(p.signals))
        for p in chart.points
    ]
    if chart.enough_baseline and chart.centre is not None:
        points = mark_runs(points, chart.centre, unknown)
    return replace(chart, points=tuple(points))


def _outside_only(kinds: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(k for k in kinds if k.endswith("_limit"))


def limits(centre: float, n: int) -> tuple[float, float]:
    spread = SIGMAS * math.sqrt(centre * (1 - centre) / n)
    return max(0.0, centre - spread), min(1.0, centre + spread)


def _point(month: date, k: int, n: int, centre: float | None) -> Point:
    lcl, ucl = limits(centre, n) if centre is not None else (None, None)
    return Point(month=month, p=k / n, n=n, lcl=lcl, ucl=ucl)


def _mark_outside(points: list[Point]) -> list[Point]:
    def outside(p: Point) -> tuple[str, ...]:
        if p.p > p.ucl + TOLERANCE:
            return ("above_upper_limit",)
        if p.p < p.lcl - TOLERANCE:
            return ("below_lower_limit",)
        return ()

    return [_with(p, outside(p)) for p in points]


def mark_runs(
    points: list[Point], centre: float, unknown: frozenset[date] = frozenset()
) -> list[Point]:
    """Adds a run signal to every point of a run of RUN_LENGTH or more on one side. A point
    whose month is in `unknown` (its side is not to be told) breaks a run and is in none."""
    sides = [None if p.month in unknown else _side(p.p, centre) for p in points]
    in_run: dict[int, str] = {}
    run: list[int] = []
    for i, side in enumerate(sides):
        if side is None:
            run = []
            continue
        if side == 0:
            continue  # on the centre line: neither extends nor breaks the run
        if run and sides[run[-1]] != side:
            run = []
        run.append(i)
        if len(run) >= RUN_LENGTH:
            kind = "run_above_centre" if side > 0 else "run_below_centre"
            in_run.update(dict.fromkeys(run, kind))
    return [_with(p, (in_run[i],)) if i in in_run else p for i, p in enumerate(points)]


def _side(p: float, centre: float) -> int:
    if abs(p - centre) <= TOLERANCE:
        return 0
    return 1 if p > centre else -1


def _with(point: Point, kinds: tuple[str, ...]) -> Point:
    return Point(point.month, point.p, point.n, point.lcl, point.ucl, point.signals + kinds)


def _as_date(value) -> date:
    return pd.Timestamp(value).date()
