"""The numbers a governance meeting reads first: each care-gap measure's rate over the
measured period with its 95 % interval, from the shareable summary (so the report, the
console and summary.csv agree), and its latest complete period against the one before."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from transforms.outputs.spc_words import period_label
from transforms.rules.registry import KINDS, Finding, registry

Z_95 = 1.959964  # the standard normal quantile of a two-sided 95 % interval


def wilson(count: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for count / n: it stays inside 0 to 1 and is sound for the
    small counts and rates near 0 a care gap often has (a Wald interval is not)."""
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """A finding's count over its denominator, as the shareable summary gives them."""

    count: int | None  # None: suppressed
    denominator: int | None
    meaning: str  # what the denominator counts ("folate episodes", ...)
    pending: int | None = 0  # units still inside their window, apart (None: suppressed)

    @property
    def shown(self) -> bool:
        return self.count is not None and bool(self.denominator)

    def percent(self) -> str:
        return f"{self.count / self.denominator:.1%}" if self.shown else "not shown"

    def interval(self) -> str:
        if not self.shown:
            return ""
        low, high = wilson(self.count, self.denominator)
        return f"{low:.1%} to {high:.1%}"

    def fraction(self) -> str:
        denominator = "suppressed" if self.denominator is None else f"{self.denominator:,}"
        if self.count is None:
            return f"count suppressed, of {denominator} {self.meaning}"
        return f"{self.count:,} of {denominator} {self.meaning}"


def rates(summary: pd.DataFrame, site: str) -> dict[str, Rate]:
    """Each finding's total at `site` ('all sites', or one site), pending apart."""
    rows = summary[(summary["site"] == site) & (summary["reason"] == "(all)")]
    pending = {
        r.finding.removesuffix(" (pending)"): None if r.suppressed else int(r.count)
        for r in rows.itertuples()
        if r.finding.endswith(" (pending)")
    }
    return {
        r.finding: Rate(
            None if r.suppressed else int(r.count),
            None if r.denominator_suppressed else int(r.denominator),
            r.denominator_meaning,
            pending.get(r.finding, 0),
        )
        for r in rows.itertuples()
        if not r.finding.endswith(" (pending)")
    }


def latest_periods(shown: pd.DataFrame, site: str) -> dict[str, dict]:
    """Per measure at `site`: its latest complete period's ratio and the one before it, from
    the shareable measures (None where a count is hidden)."""
    rows = shown[(shown["site"] == site) & (shown["status"] == "complete")]
    latest = {}
    for measure, periods in rows.sort_values("interval_start").groupby("measure"):
        starts = [pd.Timestamp(s).date() for s in periods["interval_start"]]
        ratios = [None if pd.isna(r) else float(r) for r in periods["ratio"]]
        latest[measure] = {
            "period": period_label(starts[-1], starts),
            "ratio": ratios[-1],
            "previous": ratios[-2] if len(ratios) > 1 else None,
            "first": len(ratios) == 1,
        }
    return latest


def change_words(latest: dict | None) -> str:
    """'2025-03: 12.0% (up 2.0 points on the period before)', in percentage points."""
    if not latest:
        return "no complete period yet"
    if latest["ratio"] is None:
        return f"{latest['period']}: hidden (a small count)"
    text = f"{latest['period']}: {latest['ratio']:.1%}"
    if latest["first"]:
        return text + " (the first complete period)"
    if latest["previous"] is None:
        return text + " (the period before is hidden)"
    points = (latest["ratio"] - latest["previous"]) * 100
    if abs(points) < 0.05:
        return text + " (unchanged on the period before)"
    direction = "up" if points > 0 else "down"
    return text + f" ({direction} {abs(points):.1f} points on the period before)"


def console_lines(summary: pd.DataFrame, site: str | None = None) -> list[str]:
    """What `b12audit run` prints: every finding's total (all sites, or the report's site)
    as the report and summary.csv give it, by kind, with the units still pending apart."""
    by_name = rates(summary, site or "all sites")
    lines = []
    for name, finding in by_kind():
        rate = by_name.get(name)
        if rate is None:
            continue
        pending = {0: "", None: "; some pending (count suppressed), apart"}.get(
            rate.pending, f"; {rate.pending} pending, apart"
        )
        percent = f" ({rate.percent()})" if rate.shown else ""
        lines.append(f"{finding.label}: {rate.fraction()}{percent}{pending}")
    return lines


def by_kind() -> list[tuple[str, Finding]]:
    """The registry's findings, care gaps first, then status, then descriptive."""
    return sorted(registry().items(), key=lambda item: KINDS.index(item[1].kind))
