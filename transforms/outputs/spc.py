"""Statistical process control in the NHS "Making Data Count" style: each measure's chart,
its special-cause signals, and its variation and assurance icons.

Pure functions on plain numbers (no DuckDB), so every rule is checked on a hand-made series.

- Points: one per period of the measure. Only 'complete' periods with a denominator are
  judged (`Period.judged`): an incomplete period (its windows still open) or one whose
  look-back reaches before the data start is drawn as context, never in a baseline or a
  signal.
- Baseline: the first `baseline_periods` judged periods.
- Chart (`chart_kind`): XmR on the ratios by default; where the baseline's denominators vary
  by more than 25 % around their mean, Laney's p' chart (the p chart's binomial limits for
  each period's denominator, widened or narrowed by the spread actually seen between
  consecutive periods). A configuration can ask for "xmr", "p" or "laney" always.
  - XmR: centre = mean of the baseline ratios; MR = |x_i - x_(i-1)| between consecutive
    baseline periods, those of 3.267 x mean MR or more screened out (NHSRplotthedots'
    default) and the mean taken again; sigma = mean MR / 1.128.
  - p: centre p = sum of numerators / sum of denominators over the baseline;
    sigma_i = sqrt(p (1 - p) / n_i).
  - Laney p': sigma_i as p, times sigma_z = mean |z_i - z_(i-1)| / 1.128 over the baseline,
    z_i = (p_i - p) / sigma_i.
  Limits: centre +/- 3 sigma (2 sigma for the two-of-three rule), clipped to [0, 1]. Sigma
  is never below the binomial sigma of the period's denominator (`_sigma`): simulated
  steady practice (benchmarks/spc_false_alarms.py) alerted in about 20 % of years with the
  plain XmR and a 12-period baseline, 10 to 12 % with the floor (a 20 % rate of 200 units,
  and rates of 2 to 5 %).
- No spread (a baseline ratio of exactly 0 or 1, whose binomial sigma is 0, with no moving
  range either): no limits and no limit-based signals; shifts and trends still count.
  Fewer than 2 baseline periods: no limits and no signals. Fewer than `baseline_periods`:
  provisional.
- Special cause (each marks the points that make it):
  `outside_limits`: beyond a 3-sigma limit; `two_of_three`: two of three consecutive
  points beyond 2 sigma on the same side; `shift`: 7 or more consecutive points on one side
  of the centre line (a point on the line breaks it); `trend`: 6 or more consecutive points
  each higher than the one before (or each lower; a tie breaks it). Consecutive means
  adjacent judged periods: a period not judged, or one whose value is hidden from the
  reader (`unknown`), breaks every run.
- Variation of a point with a special cause: its side of the centre line (a trend's
  direction when only a trend marks it) read through the measure's direction:
  'improvement', 'concern' or 'neither'; else 'common_cause'. A chart's variation is its
  latest judged point's. Only concern alerts, and only once the baseline is complete.
- Assurance (with a target and limits): the target beyond the limits on the good side
  'pass' (the process consistently meets it), on the bad side 'fail', else 'hit_and_miss'.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd

from transforms.outputs.spc_rules import TOLERANCE, mark

SIGMAS, NEAR_SIGMAS = 3.0, 2.0
D2 = 1.128  # the bias constant of a moving range of two points
MR_SCREEN = 3.267  # the upper limit of a moving range, in mean moving ranges
VARYING_DENOMINATORS = 0.25  # auto: Laney p' when any baseline n is this far from the mean
MIN_BASELINE_FOR_LIMITS = 2


@dataclass(frozen=True)
class Period:
    """One period of a measure, as measure_counts has it (exact counts)."""

    start: date
    numerator: int
    denominator: int
    status: str = "complete"  # 'complete', 'incomplete' or 'not evaluable'

    @property
    def judged(self) -> bool:
        return self.status == "complete" and self.denominator > 0

    @property
    def ratio(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Point:
    start: date
    value: float
    n: int
    status: str
    lcl: float | None = None
    ucl: float | None = None
    lower_near: float | None = None  # 2 sigma
    upper_near: float | None = None
    signals: tuple[str, ...] = ()
    variation: str = ""  # judged points: common_cause, improvement, concern or neither
    centre: float | None = None  # its phase's centre line
    phase: date | None = None  # its phase's first day (None: the first phase)
    limits_from_baseline: bool = True  # False: its phase has too short a baseline to judge

    @property
    def judged(self) -> bool:
        return self.status == "complete"


@dataclass(frozen=True)
class Baseline:
    """One phase's baseline: what its centre line and limits come from. Fixed once complete
    (`fixed_in_run`), and then reused by later runs as it was."""

    phase: date | None  # the phase's first day; None: the first phase
    kind: str
    centre: float
    spread: float  # XmR: sigma; Laney: sigma_z; p: 1
    periods: tuple[date, ...]
    complete: bool  # as many periods as configured
    fixed_in_run: str | None = None  # the run that fixed it; None: computed by this run


@dataclass(frozen=True)
class Chart:
    measure: str
    kind: str  # 'xmr', 'p' or 'laney'
    direction: str  # lower_is_better, higher_is_better or neither
    centre: float | None
    baseline: tuple[date, ...]
    provisional: bool
    points: tuple[Point, ...]
    target: float | None = None
    baselines: tuple[Baseline, ...] = ()  # one per phase with a baseline, oldest first
    breaks: tuple[date, ...] = ()  # re-baselining dates within the chart

    @property
    def fixed_baseline(self) -> Baseline | None:
        """The latest phase's baseline when an earlier run fixed it."""
        latest = self.baselines[-1] if self.baselines else None
        return latest if latest is not None and latest.fixed_in_run else None

    @property
    def enough_baseline(self) -> bool:
        return len(self.baseline) >= MIN_BASELINE_FOR_LIMITS

    @property
    def has_limits(self) -> bool:
        return any(p.ucl is not None for p in self.points)

    @property
    def latest(self) -> Point | None:
        """The latest judged point: the latest complete period."""
        judged = [p for p in self.points if p.judged]
        return judged[-1] if judged else None

    @property
    def variation(self) -> str:
        return self.latest.variation if self.latest else ""

    @property
    def assurance(self) -> str:
        """'pass', 'fail', 'hit_and_miss', or '' without a target, limits or direction."""
        latest = self.latest
        if self.target is None or self.direction == "neither" or latest is None:
            return ""
        if latest.ucl is None or latest.lcl is None:
            return ""
        lower_better = self.direction == "lower_is_better"
        if self.target > latest.ucl:
            return "pass" if lower_better else "fail"
        if self.target < latest.lcl:
            return "fail" if lower_better else "pass"
        return "hit_and_miss"


@dataclass(frozen=True)
class Signal:
    measure: str
    month: date  # the period's first day
    kind: str
    variation: str = ""


def chart(
    measure: str,
    periods: list[Period],
    direction: str = "neither",
    baseline_periods: int = 12,
    kind: str = "auto",
    target: float | None = None,
    phases: tuple[date, ...] = (),
    fixed: dict | None = None,
) -> Chart:
    """The chart of one measure's periods (in order, exact counts). `phases`: re-baselining
    dates; each phase takes its own baseline from its first complete periods. `fixed`:
    phase (None for the first) -> Baseline fixed by an earlier run, used as it is."""
    segments = _segments(periods, phases)
    points, baselines = [], []
    for phase, members in segments:
        baseline = (fixed or {}).get(phase) or _baseline(phase, members, baseline_periods, kind)
        if baseline is not None:
            baselines.append(baseline)
        points += _phase_points(members, phase, baseline)
    latest = baselines[-1] if baselines and baselines[-1].phase == segments[-1][0] else None
    result = Chart(
        measure=measure,
        kind=latest.kind if latest else _kind(kind, []),
        direction=direction,
        centre=latest.centre if latest else None,
        baseline=latest.periods if latest else (),
        provisional=not (latest and latest.complete),
        points=tuple(points),
        target=target,
        baselines=tuple(baselines),
        breaks=tuple(phase for phase, _ in segments if phase is not None),
    )
    return mark(result)


def _segments(periods: list[Period], phases: tuple[date, ...]) -> list[tuple]:
    """(phase start or None, its periods) in order; a phase with no period is dropped."""
    starts = [None, *sorted(p for p in phases if periods and p > periods[0].start)]
    segments = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else None
        members = [
            p
            for p in periods
            if (start is None or p.start >= start) and (end is None or p.start < end)
        ]
        if members:
            segments.append((start, members))
    return segments or [(None, [])]


def _baseline(phase, members: list[Period], size: int, kind: str) -> Baseline | None:
    judged = [p for p in members if p.judged][:size]
    if not judged:
        return None
    kind = _kind(kind, judged)
    centre = _centre(kind, judged)
    spread = _spread(kind, judged, centre) if len(judged) >= MIN_BASELINE_FOR_LIMITS else 0.0
    starts = tuple(p.start for p in judged)
    return Baseline(phase, kind, centre, spread, starts, complete=len(judged) >= size)


def _kind(kind: str, baseline: list[Period]) -> str:
    return chart_kind([p.denominator for p in baseline]) if kind == "auto" else kind


def _phase_points(members: list[Period], phase, baseline: Baseline | None) -> list[Point]:
    ready = baseline is not None and len(baseline.periods) >= MIN_BASELINE_FOR_LIMITS
    points = []
    for period in members:
        if period.denominator == 0:
            continue
        point = Point(period.start, period.ratio, period.denominator, period.status)
        if baseline is not None:
            spread = baseline.spread if ready else None
            point = _limits(point, baseline.kind, baseline.centre, spread)
        points.append(replace(point, phase=phase, limits_from_baseline=ready))
    return points


def chart_kind(denominators: list[int]) -> str:
    """XmR unless the denominators vary by more than 25 % around their mean: Laney p'."""
    if not denominators:
        return "xmr"
    mean = statistics.fmean(denominators)
    varies = any(abs(n - mean) > VARYING_DENOMINATORS * mean for n in denominators)
    return "laney" if varies else "xmr"


def _centre(kind: str, baseline: list[Period]) -> float:
    if kind == "xmr":
        return statistics.fmean(p.ratio for p in baseline)
    return sum(p.numerator for p in baseline) / sum(p.denominator for p in baseline)


def _spread(kind: str, baseline: list[Period], centre: float) -> float:
    """XmR: sigma from the moving ranges; Laney: sigma_z; p: 1 (0 when nothing varies)."""
    if kind == "p":
        return 1.0
    if kind == "laney" and centre in (0.0, 1.0):
        return 0.0
    values = [p.ratio for p in baseline]
    if kind == "laney":
        values = [(p.ratio - centre) / binomial_sigma(centre, p.denominator) for p in baseline]
    ranges = [abs(b - a) for a, b in zip(values, values[1:], strict=False)]
    mean_range = statistics.fmean(ranges)
    screened = [r for r in ranges if r < MR_SCREEN * mean_range] if kind == "xmr" else ranges
    return statistics.fmean(screened) / D2 if screened else 0.0


def binomial_sigma(centre: float, n: int) -> float:
    """The binomial standard deviation of a proportion `centre` over `n` units."""
    return math.sqrt(centre * (1 - centre) / n)


def _limits(point: Point, kind: str, centre: float, spread: float | None) -> Point:
    point = replace(point, centre=centre)
    if spread is None:
        return point
    sigma = _sigma(kind, centre, spread, point.n)
    if sigma <= TOLERANCE:  # no spread: every other point would be "outside"
        return point
    return replace(
        point,
        lcl=_clip(centre - SIGMAS * sigma),
        ucl=_clip(centre + SIGMAS * sigma),
        lower_near=_clip(centre - NEAR_SIGMAS * sigma),
        upper_near=_clip(centre + NEAR_SIGMAS * sigma),
    )


def _sigma(kind: str, centre: float, spread: float, n: int) -> float:
    """One period's sigma, never below the binomial sigma of its denominator: units judged
    one by one vary at least that much, so a narrower estimate is the moving range's own
    sampling noise (with 11 moving ranges it is often 25 % low) and would cry wolf (the
    floor Spiegelhalter's overdispersed funnel plots use: inflate, never shrink)."""
    binomial = binomial_sigma(centre, n) if 0.0 < centre < 1.0 else 0.0
    if kind == "xmr":
        return max(spread, binomial)
    return binomial * (max(spread, 1.0) if kind == "laney" else 1.0)


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def charts(
    counts: pd.DataFrame,
    directions: dict[str, str],
    config,
    kind: str,
    fixed: dict,
    site: str = "all sites",
) -> list[Chart]:
    """One chart per measure from measure_counts' rows of `site` (exact counts), with the
    configuration's baseline length, phases and targets; `fixed`: measure -> {phase:
    Baseline} fixed by earlier runs."""
    totals = counts[counts["site"] == site].sort_values(["measure", "interval_start"])
    return [
        chart(
            measure,
            [
                Period(_as_date(s), int(k), int(n), status)
                for s, k, n, status in zip(
                    rows["interval_start"],
                    rows["numerator"],
                    rows["denominator"],
                    rows["status"],
                    strict=True,
                )
            ],
            directions.get(measure, "neither"),
            config.spc_baseline_periods,
            kind,
            config.measure_targets.get(measure),
            tuple(config.spc_phases.get(measure, ())),
            fixed.get(measure),
        )
        for measure, rows in totals.groupby("measure", sort=True)
    ]


def signals(charts_: list[Chart]) -> list[Signal]:
    """Every signal on every chart: measure, period, kind and variation (no counts)."""
    return [
        Signal(c.measure, p.start, kind, p.variation)
        for c in charts_
        for p in c.points
        for kind in p.signals
    ]


def latest_concerns(charts_: list[Chart]) -> list[Signal]:
    """Special cause concern on each chart's latest complete period: what alerts. Not while
    the baseline is provisional: limits from a few periods move with each new one, and the
    chart already shows what they find."""
    return [
        Signal(c.measure, c.latest.start, kind, "concern")
        for c in charts_
        if not c.provisional and c.latest is not None and c.latest.variation == "concern"
        for kind in c.latest.signals
    ]


def _as_date(value) -> date:
    return pd.Timestamp(value).date()
