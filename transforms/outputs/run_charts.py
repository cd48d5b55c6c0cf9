"""Run charts: one inline SVG p-chart per measure ('all sites'), for the shareable report.

Self-contained: no script, no fonts, images, stylesheets or links (the report opens with no
network). The limits and signals come from exact counts (transforms/outputs/spc.py), but the chart
is shareable, so a month whose count is suppressed in measures_monthly.csv is drawn with no
point and no limits (the width of the limits would give its denominator away), only a small
"suppressed" marker on the axis, and the signals are those of `spc.mask_months` (none on a
suppressed month, and runs broken by one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from html import escape

import pandas as pd

from transforms.outputs.spc import PChart, Point, mask_months

WIDTH, HEIGHT = 720, 250
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 78  # the bottom holds month labels and the legend
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOURS = {"point": "#3b6ea5", "outside": "#c0392b", "run": "#e67e22", "limit": "#888"}
INK, SUPPRESSED_INK = "#222", "#a40"


def el(tag: str, body: str = "", **attrs: object) -> str:
    """One SVG element, attributes quoted and escaped (well-formed XML); `class_` is class,
    other underscores are hyphens."""
    names = {k: "class" if k == "class_" else k.replace("_", "-") for k in attrs}
    text = "".join(f' {names[k]}="{escape(str(v), quote=True)}"' for k, v in attrs.items())
    return f"<{tag}{text}>{body}</{tag}>" if body else f"<{tag}{text}/>"


@dataclass(frozen=True)
class RunChart:
    measure: str
    svg: str
    caption: str


def run_charts(charts: list[PChart], shareable: pd.DataFrame) -> list[RunChart]:
    """Each measure's chart and caption, from the exact charts and the shareable table."""
    totals = shareable[shareable["site"] == "all sites"]
    return [
        RunChart(c.measure, run_chart_svg(c, totals[totals["measure"] == c.measure]), caption(c))
        for c in charts
    ]


def run_chart_svg(chart: PChart, months: pd.DataFrame) -> str:
    """`months`: the measure's 'all sites' rows of the shareable table, one per month."""
    months = months.sort_values("month")
    axis = [pd.Timestamp(m).date() for m in months["month"]]
    hidden = {
        month
        for month, k, n in zip(
            axis, months["numerator_suppressed"], months["denominator_suppressed"], strict=True
        )
        if k or n
    }
    # Signals come from exact counts: drop those that would tell a suppressed month's value.
    chart = mask_months(chart, hidden)
    shown = [p for p in chart.points if p.month not in hidden]
    frame = _Frame(axis, _top(chart, shown))
    label = f"Run chart (p-chart) of {chart.measure}, all sites, by month"
    parts = [
        el("title", escape(label)),
        _baseline_band(frame, chart),
        _axes(frame),
        _centre(frame, chart),
        _limit_steps(frame, shown, "ucl"),
        _limit_steps(frame, shown, "lcl"),
        _line(frame, shown),
        *(_marker(frame, p) for p in shown),
        *(_suppressed(frame, m) for m in axis if m in hidden),
        _legend(),
    ]
    return el(
        "svg",
        "".join(parts),
        class_="run-chart",
        data_measure=chart.measure,
        role="img",
        aria_label=label,
        width=WIDTH,
        height=HEIGHT,
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        font_family="sans-serif",
    )


class _Frame:
    """Month index and proportion to SVG coordinates."""

    def __init__(self, months: list[date], top: float):
        self.months, self.top = months, top
        self.step = PLOT_W / max(len(months), 1)

    def x(self, month: date) -> float:
        return round(LEFT + (self.months.index(month) + 0.5) * self.step, 1)

    def y(self, p: float) -> float:
        return round(TOP + PLOT_H * (1 - p / self.top), 1)

    def slot(self, month: date) -> tuple[float, float]:
        """The month's column: from half a step before its x to half a step after."""
        x = self.x(month)
        return round(x - self.step / 2, 1), round(x + self.step / 2, 1)


def _top(chart: PChart, shown: list[Point]) -> float:
    """The y axis' top: the next tenth above everything drawn, from 10 % to 100 %."""
    drawn = [p.p for p in shown] + [p.ucl for p in shown if p.ucl is not None]
    drawn += [chart.centre] if chart.centre is not None else []
    return min(1.0, max(0.1, math.ceil(max(drawn, default=0) * 10 + 1e-9) / 10))


def _axes(frame: _Frame) -> str:
    bottom = TOP + PLOT_H
    parts = [
        el("line", x1=LEFT, x2=LEFT, y1=TOP, y2=bottom, stroke=INK),
        el("line", x1=LEFT, x2=LEFT + PLOT_W, y1=bottom, y2=bottom, stroke=INK),
    ]
    for tick in (0, frame.top / 2, frame.top):
        y = frame.y(tick)
        parts.append(el("line", x1=LEFT - 4, x2=LEFT, y1=y, y2=y, stroke=INK))
        label = f"{tick:.0%}"
        parts.append(el("text", label, x=LEFT - 6, y=y + 4, font_size=10, text_anchor="end"))
    every = max(1, math.ceil(len(frame.months) / 12))  # at most 12 labels fit
    for month in frame.months[::every]:
        parts.append(
            el(
                "text",
                f"{month:%Y-%m}",
                class_="month",
                x=frame.x(month),
                y=bottom + 14,
                font_size=10,
                text_anchor="middle",
            )
        )
    return "".join(parts)


def _baseline_band(frame: _Frame, chart: PChart) -> str:
    if not chart.baseline_months:
        return ""
    start, end = frame.slot(chart.baseline_months[0])[0], frame.slot(chart.baseline_months[-1])[1]
    band = el(
        "rect",
        el("title", "baseline months"),
        x=start,
        y=TOP,
        width=round(end - start, 1),
        height=PLOT_H,
        fill="#f2f2f2",
    )
    return band + el("text", "baseline", x=start + 4, y=TOP + 11, font_size=10, fill="#666")


def _centre(frame: _Frame, chart: PChart) -> str:
    if chart.centre is None:
        return ""
    y = frame.y(chart.centre)
    return el(
        "line",
        class_="centre",
        x1=LEFT,
        x2=LEFT + PLOT_W,
        y1=y,
        y2=y,
        stroke=INK,
        stroke_dasharray="6 3",
    )


def _limit_steps(frame: _Frame, shown: list[Point], which: str) -> str:
    """A step line: flat across each month's column, joined across consecutive months;
    a month with no point (suppressed, or no denominator) breaks it."""
    path, previous = [], None
    for p in shown:
        value = getattr(p, which)
        if value is None:
            continue
        i, y = frame.months.index(p.month), frame.y(value)
        start, end = frame.slot(p.month)
        path.append(f"V{y}H{end}" if previous == i - 1 else f"M{start} {y}H{end}")
        previous = i
    if not path:
        return ""
    return el("path", class_=which, d="".join(path), fill="none", stroke=COLOURS["limit"])


def _line(frame: _Frame, shown: list[Point]) -> str:
    """Joins consecutive months' points; a month with no point breaks the line."""
    path, previous = [], None
    for p in shown:
        i = frame.months.index(p.month)
        path.append(f"{'L' if previous == i - 1 else 'M'}{frame.x(p.month)} {frame.y(p.p)}")
        previous = i
    if not path:
        return ""
    return el("path", d="".join(path), fill="none", stroke=COLOURS["point"], stroke_width=1.2)


def _marker(frame: _Frame, p: Point) -> str:
    """A circle; a signal is a red diamond (outside the limits) or an orange square (run)."""
    x, y = frame.x(p.month), frame.y(p.p)
    kinds = "".join(f"; {k.replace('_', ' ')}" for k in p.signals)
    title = el("title", f"{p.month:%Y-%m}: {p.p:.1%}{kinds}")
    if any(k.endswith("limit") for k in p.signals):
        diamond = f"M{x} {y - 6}L{x + 6} {y}L{x} {y + 6}L{x - 6} {y}Z"
        return el("path", title, class_="signal outside", d=diamond, fill=COLOURS["outside"])
    if p.signals:
        square = {"x": x - 4.5, "y": y - 4.5, "width": 9, "height": 9}
        return el("rect", title, class_="signal run", fill=COLOURS["run"], **square)
    return el("circle", title, class_="point", cx=x, cy=y, r=3.5, fill=COLOURS["point"])


def _suppressed(frame: _Frame, month: date) -> str:
    return el(
        "text",
        "s" + el("title", f"{month:%Y-%m}: suppressed"),
        class_="suppressed",
        x=frame.x(month),
        y=TOP + PLOT_H - 4,
        font_size=10,
        text_anchor="middle",
        fill=SUPPRESSED_INK,
    )


def _legend() -> str:
    items = [
        el("circle", cx=5, cy=0, r=3.5, fill=COLOURS["point"]),
        el("text", "month", x=13, y=4),
        el("path", d="M65 -5L70 0L65 5L60 0Z", fill=COLOURS["outside"]),
        el("text", "outside the limits", x=76, y=4),
        el("rect", x=180, y=-4.5, width=9, height=9, fill=COLOURS["run"]),
        el("text", "run of 8+ on one side", x=194, y=4),
        el("line", x1=330, x2=350, y1=0, y2=0, stroke=INK, stroke_dasharray="6 3"),
        el("text", "centre line", x=355, y=4),
        el("line", x1=430, x2=450, y1=0, y2=0, stroke=COLOURS["limit"]),
        el("text", "3-sigma limits", x=455, y=4),
        el("text", "s", x=548, y=4, fill=SUPPRESSED_INK),
        el("text", "suppressed month", x=558, y=4),
    ]
    move = f"translate(16,{HEIGHT - 10})"
    return el("g", "".join(items), class_="legend", font_size=11, transform=move)


def caption(chart: PChart) -> str:
    """One sentence on the chart: centre line, baseline months, limits (plain text)."""
    if chart.centre is None and chart.baseline_months:
        return (
            "The centre line would tell a count that is suppressed: no centre line, limits or"
            " signals."
        )
    if chart.centre is None:
        return "No month has a denominator yet: nothing to chart."
    first, last = chart.baseline_months[0], chart.baseline_months[-1]
    months = len(chart.baseline_months)
    text = (
        f"Centre line {chart.centre:.1%}: the rate over the baseline, {months} month"
        f"{'s' if months != 1 else ''} with data ({first:%Y-%m} to {last:%Y-%m})."
    )
    if not chart.enough_baseline:
        return text + " Too few months for limits (at least 2 are needed): no signals yet."
    if chart.centre_without_spread:
        return text + (
            f" A baseline rate of {chart.centre:.0%} has no spread, so there are no limits"
            " and no outside-limit signals; runs of 8 still count."
        )
    text += " Limits at 3 sigma, wider in months with fewer units."
    if chart.provisional:
        text += " Limits are provisional: the baseline is shorter than configured."
    return text
