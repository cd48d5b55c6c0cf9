"""The report's trend pieces: SPC icons, special causes, restated periods, and each care
gap's charts by site with its funnel plot. Measures are named by their registry labels."""

from __future__ import annotations

from html import escape

import pandas as pd

from transforms.outputs.html_table import table
from transforms.outputs.run_charts import RunChart
from transforms.outputs.spc import Signal
from transforms.outputs.spc_words import assurance_icon, variation_icon
from transforms.rules.registry import registry

MEASURES_NOTE = (
    "Each finding as a ratio over its own population, all sites, by month (by quarter where "
    "monthly denominators are small); shareable/measures.csv has every period and site. "
    "Charts in the NHS Making Data Count style: an XmR chart, or Laney's p' chart where "
    "denominators vary (each chart says which); limits at 3 sigma from the baseline, the "
    "first complete periods. Special cause: a point outside the limits, two of three beyond "
    "2 sigma on one side, a shift of 7 on one side of the mean, or a trend of 6 rising or "
    "falling. A period is judged only once it is complete: greyed periods are incomplete (a "
    "unit's window is still open, or the period is not over) or not evaluable (its look-back "
    "reaches before the data start); they are in no baseline and no signal. Limits and "
    "signals use exact counts; points are drawn from the shareable counts. A complete "
    "period's value is frozen once published (its tooltip names the run); one a later run "
    "changed is ringed and listed under Restated periods. Alerts go out only for special "
    "cause concern on a care-gap measure's latest complete period. The charts show every "
    "period of the data, whatever period the report covers."
)


def icons(chart: RunChart) -> str:
    return variation_icon(chart.variation) + assurance_icon(chart.assurance)


def signals_table(signals: list[Signal]) -> str:
    findings = registry()
    rows = [
        [findings[s.measure].label, f"{s.month:%Y-%m}", s.kind.replace("_", " "), s.variation]
        for s in signals
        if findings[s.measure].kind == "care_gap"
    ]
    if not rows:
        return "<p>No special cause on any care-gap measure.</p>"
    return table(["measure", "period from", "signal", "variation"], rows)


RESTATED_NOTE = (
    "<p class=note>A complete period's value is frozen once published. This run changed "
    "these (all sites; sites in measures.csv, column restated), with the cause; ratios from "
    "shareable counts.</p>"
)


def restated_section(frame: pd.DataFrame | None) -> str:
    if frame is None or frame.empty:
        return "<h3>Restated periods</h3><p>No published period changed in this run.</p>"
    rows = [
        [
            registry()[r["measure"]].label,
            f"{pd.Timestamp(r['interval_start']):%Y-%m}",
            _percent(r["previous_ratio"]),
            _percent(r["ratio"]),
            r["cause"],
        ]
        for r in frame.to_dict("records")
    ]
    head = ["measure", "period from", "published", "now", "cause"]
    return "<h3>Restated periods</h3>" + RESTATED_NOTE + table(head, rows)


def _percent(value) -> str:
    return "hidden" if value is None or pd.isna(value) else f"{value:.1%}"


FUNNEL_NOTE = (
    "<p class=note>Funnel plot: each site's ratio in the latest complete period against its "
    "number of units, with the all-sites ratio and its 95 % and 99.8 % limits; a site beyond "
    "the 99.8 % funnel (orange) differs by more than chance. Sites with a hidden count are "
    "left out.</p>"
)


def by_site_details(measure: str, site_charts: dict, funnels: dict) -> str:
    """The measure's funnel plot and each site's chart ('' when there are none)."""
    charts = "".join(
        f"<h4>{escape(site)} {variation_icon(c.variation)}</h4>"
        f"<p class=note>{escape(c.caption)}</p>{c.svg}"
        for site, c in site_charts.get(measure, [])
    )
    plot = funnels.get(measure, "")
    return (FUNNEL_NOTE + plot if plot else "") + charts
