"""What an SPC chart says in words and icons: each variation and assurance, the chart kind,
and one caption per chart (transforms/outputs/spc.py makes the charts)."""

from __future__ import annotations

from datetime import date

from transforms.outputs.spc import Chart
from transforms.outputs.svg import VARIATION_COLOURS, el

VARIATION_WORDS = {
    "common_cause": "common cause variation",
    "improvement": "special cause: improvement",
    "concern": "special cause: concern",
    "neither": "special cause (no direction of improvement)",
    "": "not enough complete periods to judge",
}
ASSURANCE_WORDS = {
    "pass": "consistently meets the target",
    "fail": "consistently misses the target",
    "hit_and_miss": "sometimes meets the target",
    "": "no target set",
}
KIND_WORDS = {"xmr": "XmR chart", "p": "p chart", "laney": "Laney p' chart"}


def variation_icon(variation: str) -> str:
    """A round badge for a measure's variation: a letter as well as a colour."""
    if not variation:
        return _badge("variation none", VARIATION_WORDS[""], "", "#999", filled=False)
    letter = {"common_cause": "~", "improvement": "+", "concern": "!", "neither": "?"}
    colour = VARIATION_COLOURS[variation]
    return _badge(f"variation {variation}", VARIATION_WORDS[variation], letter[variation], colour)


def assurance_icon(assurance: str) -> str:
    """A ringed badge for assurance against a target: P(ass), F(ail) or ? (hit and miss)."""
    if not assurance:
        return ""
    letter = {"pass": "P", "fail": "F", "hit_and_miss": "?"}
    colour = {"pass": "improvement", "fail": "concern", "hit_and_miss": "common_cause"}
    kind = VARIATION_COLOURS[colour[assurance]]
    return _badge(
        f"assurance {assurance}", ASSURANCE_WORDS[assurance], letter[assurance], kind, False
    )


def _badge(kind: str, words: str, letter: str, colour: str, filled: bool = True) -> str:
    ring = {"fill": colour} if filled else {"fill": "#fff", "stroke": colour, "stroke_width": 3}
    text = el(
        "text",
        letter,
        x=12,
        y=17,
        font_size=14,
        fill="#fff" if filled else colour,
        text_anchor="middle",
        font_weight="bold",
    )
    body = el("title", words) + el("circle", cx=12, cy=12, r=10, **ring) + (text if letter else "")
    return el(
        "svg",
        body,
        class_=f"icon {kind}",
        width=24,
        height=24,
        viewBox="0 0 24 24",
        font_family="sans-serif",
    )


def caption(chart: Chart) -> str:
    """One sentence on the chart: kind, centre line, baseline periods, limits (plain text)."""
    kind = KIND_WORDS[chart.kind]
    if chart.centre is None and chart.baseline:
        return (
            f"{kind}. The centre line would tell a count that is hidden: no centre line, "
            "limits or signals."
        )
    if chart.centre is None:
        return "No complete period has a denominator yet: nothing to judge."
    axis = [p.start for p in chart.points]
    first, last = (period_label(d, axis) for d in (chart.baseline[0], chart.baseline[-1]))
    count = len(chart.baseline)
    text = (
        f"{kind}. Mean {chart.centre:.1%} over the baseline, the first {count} complete "
        f"period{'s' if count != 1 else ''} ({first} to {last})."
    )
    if not chart.enough_baseline:
        return text + " Too few complete periods for limits (at least 2): no signals yet."
    if not chart.has_limits:
        return text + " The baseline has no spread, so no limits; shifts and trends still count."
    text += " Limits at 3 sigma."
    fixed = chart.fixed_baseline
    if fixed:
        text += f" The baseline was fixed in run {fixed.fixed_in_run} and is kept as it was."
    if chart.breaks:
        text += f" New baseline from {chart.breaks[-1]:%Y-%m} (configured re-baselining)."
    if chart.kind != "xmr":
        text += " They are wider in periods with fewer units."
    if chart.provisional:
        text += " Provisional: the baseline is shorter than configured."
    return text


def period_label(start: date, periods: list[date]) -> str:
    """2024-03 for a month, 2024 Q1 for a quarter (every period a quarter's first month,
    and no two a month or two apart)."""
    steps = {
        (b.year - a.year) * 12 + b.month - a.month
        for a, b in zip(periods, periods[1:], strict=False)
    }
    quarterly = (
        len(periods) > 1
        and all(p.month in (1, 4, 7, 10) for p in periods)
        and all(step % 3 == 0 for step in steps)
    )
    return f"{start.year} Q{(start.month - 1) // 3 + 1}" if quarterly else f"{start:%Y-%m}"
