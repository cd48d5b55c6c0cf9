"""SPC charts: one inline SVG per measure ('all sites'), for the shareable report.

Self-contained: no script, no fonts, images, stylesheets or links (the report opens with no
network). Drawn by hand rather than with a plotting library: a chart is a few dozen SVG
elements, each with its own tooltip (frozen run, hidden count, greyed period) that a
library would make us post-process, and the page stays free of scripts and of a plotting
dependency for the one chart type the Making Data Count rules define.

Limits and signals come from exact counts (transforms/outputs/spc.py); what is drawn is
shareable: each point is the period's ratio in shareable/measures.csv (rounded
counts under the default policy), a period whose count is hidden is drawn with no point and
no limits, only an "s" on the axis, and its signals are gone (`measures.shareable_charts`).

In the NHS "Making Data Count" colours (orange and blue tell apart for colour-blind
readers too, and each also differs in shape): a point of common-cause variation is grey,
special cause improvement blue, concern orange, neither purple. A period that is not
judged is greyed: incomplete (windows still open) as a hollow circle on a grey column, not
evaluable (look-back before the data start) with no point and a hatched column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from html import escape

import pandas as pd

from transforms.outputs.spc import Chart, Point
from transforms.outputs.spc_words import KIND_WORDS, VARIATION_WORDS, caption, period_label
from transforms.outputs.svg import FONT, GREY, HIDDEN_INK, INK, LIMIT, VARIATION_COLOURS, el
from transforms.rules.registry import registry

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 16, 84  # the bottom holds period labels and the legend
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class RunChart:
    measure: str
    svg: str
    caption: str
    variation: str = ""
    assurance: str = ""
    variation_note: str = ""  # why there is no variation icon, when there is none


def run_charts(
    charts: list[Chart], shareable: pd.DataFrame, site: str = "all sites"
) -> list[RunChart]:
    """Each measure's chart and caption at `site`, from the (shareable) charts and table."""
    totals = shareable[shareable["site"] == site]
    return [
        RunChart(
            c.measure,
            run_chart_svg(c, totals[totals["measure"] == c.measure], site),
            caption(c),
            c.variation,
            c.assurance,
            _no_variation(c),
        )
        for c in charts
    ]


def _no_variation(chart: Chart) -> str:
    if chart.variation:
        return ""
    latest = chart.latest
    if latest is None:
        return "no complete period yet"
    if not latest.limits_from_baseline:
        return "too few complete periods to judge"
    return "latest complete period hidden (a small count)"


def run_chart_svg(chart: Chart, periods: pd.DataFrame, site: str = "all sites") -> str:
    """`periods`: the measure's rows of the shareable table at `site`, one per period."""
    periods = periods.sort_values("interval_start")
    axis = [pd.Timestamp(m).date() for m in periods["interval_start"]]
    hidden = {
        start
        for start, k, n in zip(
            axis, periods["numerator_suppressed"], periods["denominator_suppressed"], strict=True
        )
        if k or n
    }
    drawn_ratio = dict(zip(axis, periods["ratio"], strict=True))
    record = _record(periods, axis)
    shown = [p for p in chart.points if p.start not in hidden and not pd.isna(drawn_ratio[p.start])]
    status = dict(zip(axis, periods["status"], strict=True))
    frame = _Frame(axis, _top(chart, shown, drawn_ratio))
    label = f"SPC chart ({KIND_WORDS[chart.kind]}) of {registry()[chart.measure].label}, {site}"
    parts = [
        el("title", escape(label)),
        el("desc", escape(caption(chart))),
        *(_greyed(frame, start, s) for start, s in status.items() if s != "complete"),
        _baseline_band(frame, chart),
        _axes(frame),
        _centre(frame, chart),
        _limit_steps(frame, shown, "ucl"),
        _limit_steps(frame, shown, "lcl"),
        _line(frame, shown, drawn_ratio),
        *(_break(frame, start) for start in chart.breaks if start in axis),
        *(_marker(frame, p, drawn_ratio[p.start], record.get(p.start)) for p in shown),
        *(_hidden(frame, m) for m in axis if m in hidden),
        _legend(),
    ]
    return el(
        "svg",
        "".join(parts),
        class_="run-chart" if site == "all sites" else "site-chart",
        data_measure=chart.measure,
        data_site=site,
        data_variation=chart.variation,
        role="img",
        aria_label=label,
        width=WIDTH,
        height=HEIGHT,
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        font_family="sans-serif",
    )


class _Frame:
    """Period index and proportion to SVG coordinates."""

    def __init__(self, periods: list[date], top: float):
        self.periods, self.top = periods, top
        self.step = PLOT_W / max(len(periods), 1)

    def x(self, start: date) -> float:
        return round(LEFT + (self.periods.index(start) + 0.5) * self.step, 1)

    def y(self, p: float) -> float:
        return round(TOP + PLOT_H * (1 - p / self.top), 1)

    def slot(self, start: date) -> tuple[float, float]:
        """The period's column: from half a step before its x to half a step after."""
        x = self.x(start)
        return round(x - self.step / 2, 1), round(x + self.step / 2, 1)


def _top(chart: Chart, shown: list[Point], drawn: dict) -> float:
    """The y axis' top: the next tenth above everything drawn, from 10 % to 100 %."""
    values = [float(drawn[p.start]) for p in shown] + [p.ucl for p in shown if p.ucl is not None]
    values += [chart.centre] if chart.centre is not None else []
    return min(1.0, max(0.1, math.ceil(max(values, default=0) * 10 + 1e-9) / 10))


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
        parts.append(el("text", label, x=LEFT - 6, y=y + 4, font_size=FONT, text_anchor="end"))
    every = max(1, math.ceil(len(frame.periods) / 10))  # at most 10 labels fit
    for start in frame.periods[::every]:
        parts.append(
            el(
                "text",
                period_label(start, frame.periods),
                class_="month",
                x=frame.x(start),
                y=bottom + 16,
                font_size=FONT,
                text_anchor="middle",
            )
        )
    return "".join(parts)


def _greyed(frame: _Frame, start: date, status: str) -> str:
    left, right = frame.slot(start)
    word = "incomplete" if status == "incomplete" else "not evaluable"
    return el(
        "rect",
        el("title", f"{period_label(start, frame.periods)}: {word}"),
        class_=f"greyed {word.replace(' ', '-')}",
        x=left,
        y=TOP,
        width=round(right - left, 1),
        height=PLOT_H,
        fill=GREY if status == "incomplete" else "#eeeeee",
        stroke="none",
    )


def _baseline_band(frame: _Frame, chart: Chart) -> str:
    if not chart.baseline:
        return ""
    start, end = frame.slot(chart.baseline[0])[0], frame.slot(chart.baseline[-1])[1]
    line = el("line", x1=start, x2=end, y1=TOP + 2, y2=TOP + 2, stroke="#999", stroke_width=3)
    text = el("text", "baseline", x=start + 4, y=TOP + 16, font_size=FONT, fill="#555")
    return el("g", el("title", "baseline periods") + line + text, class_="baseline")


def _centre(frame: _Frame, chart: Chart) -> str:
    """Each phase's centre line, across its periods (one line with no re-baselining)."""
    if chart.centre is None:
        return ""
    spans: dict = {}
    for p in chart.points:
        if p.centre is not None:
            first, _, centre = spans.get(p.phase, (p.start, p.start, p.centre))
            spans[p.phase] = (first, p.start, centre)
    lines = [
        el(
            "line",
            class_="centre",
            x1=LEFT if phase is None else frame.slot(first)[0],
            x2=LEFT + PLOT_W if phase == chart.points[-1].phase else frame.slot(last)[1],
            y1=frame.y(centre),
            y2=frame.y(centre),
            stroke=INK,
            stroke_dasharray="6 3",
        )
        for phase, (first, last, centre) in spans.items()
    ]
    return "".join(lines)


def _limit_steps(frame: _Frame, shown: list[Point], which: str) -> str:
    """A step line: flat across each period's column, joined across consecutive periods;
    a period with no point (hidden, or no denominator) breaks it."""
    path, previous = [], None
    for p in shown:
        value = getattr(p, which)
        if value is None:
            continue
        i, y = frame.periods.index(p.start), frame.y(value)
        start, end = frame.slot(p.start)
        path.append(f"V{y}H{end}" if previous == i - 1 else f"M{start} {y}H{end}")
        previous = i
    if not path:
        return ""
    return el("path", class_=which, d="".join(path), fill="none", stroke=LIMIT)


def _line(frame: _Frame, shown: list[Point], drawn: dict) -> str:
    """Joins consecutive periods' points; a period with no point breaks the line."""
    path, previous = [], None
    for p in shown:
        i = frame.periods.index(p.start)
        x, y = frame.x(p.start), frame.y(float(drawn[p.start]))
        path.append(f"{'L' if previous == i - 1 else 'M'}{x} {y}")
        previous = i
    if not path:
        return ""
    return el("path", d="".join(path), fill="none", stroke="#9a9a9a", stroke_width=1.2)


def _record(periods: pd.DataFrame, axis: list[date]) -> dict[date, tuple[str, bool]]:
    """period -> (the run that first published it, restated by this run), where known."""
    if "first_published_run" not in periods:
        return {}
    pairs = zip(axis, periods["first_published_run"], periods["restated"], strict=True)
    return {start: (run, bool(again)) for start, run, again in pairs if isinstance(run, str)}


def _break(frame: _Frame, start: date) -> str:
    """A new phase (re-baselining): a vertical line before its first period."""
    x = frame.slot(start)[0]
    label = f"new baseline from {start:%Y-%m}"
    line = el("line", x1=x, x2=x, y1=TOP, y2=TOP + PLOT_H, stroke=INK, stroke_width=2)
    return el("g", el("title", label) + line, class_="phase-break")


def _marker(frame: _Frame, p: Point, drawn: float, record: tuple | None = None) -> str:
    """A filled circle in its variation's colour; hollow and grey when not judged; ringed
    when this run restated it."""
    x, y = frame.x(p.start), frame.y(float(drawn))
    words = VARIATION_WORDS[p.variation] if p.judged else p.status
    kinds = "".join(f"; {k.replace('_', ' ')}" for k in p.signals)
    first_run, restated = record or (None, False)
    frozen = (
        f"; restated in this run (first published in {first_run})"
        if restated
        else (f"; frozen since run {first_run}" if first_run else "")
    )
    text = f"{period_label(p.start, frame.periods)}: {float(drawn):.1%}; {words}{kinds}{frozen}"
    title = el("title", text)
    if not p.judged:
        return el(
            "circle", title, class_="point greyed", cx=x, cy=y, r=4, fill="#fff", stroke="#999"
        )
    colour = VARIATION_COLOURS[p.variation or "common_cause"]
    ring = {"stroke": INK, "stroke_width": 2} if restated else {}
    kind = f"point {p.variation}" + (" restated" if restated else "")
    return el("circle", title, class_=kind, cx=x, cy=y, r=4.5, fill=colour, **ring)


def _hidden(frame: _Frame, start: date) -> str:
    return el(
        "text",
        "s" + el("title", f"{period_label(start, frame.periods)}: hidden (small count)"),
        class_="suppressed",
        x=frame.x(start),
        y=TOP + PLOT_H - 4,
        font_size=FONT,
        text_anchor="middle",
        fill=HIDDEN_INK,
    )


def _legend() -> str:
    items = [
        el("circle", cx=5, cy=0, r=4.5, fill=VARIATION_COLOURS["common_cause"]),
        el("text", "common cause", x=13, y=4),
        el("circle", cx=115, cy=0, r=4.5, fill=VARIATION_COLOURS["improvement"]),
        el("text", "improvement", x=123, y=4),
        el("circle", cx=215, cy=0, r=4.5, fill=VARIATION_COLOURS["concern"]),
        el("text", "concern", x=223, y=4),
        el("circle", cx=290, cy=0, r=4, fill="#fff", stroke="#999"),
        el("text", "incomplete", x=298, y=4),
        el("line", x1=375, x2=395, y1=0, y2=0, stroke=INK, stroke_dasharray="6 3"),
        el("text", "mean", x=400, y=4),
        el("line", x1=445, x2=465, y1=0, y2=0, stroke=LIMIT),
        el("text", "3-sigma limits", x=470, y=4),
        el("text", "s", x=575, y=4, fill=HIDDEN_INK),
        el("text", "hidden", x=585, y=4),
    ]
    move = f"translate(16,{HEIGHT - 12})"
    return el("g", "".join(items), class_="legend", font_size=FONT, transform=move)
