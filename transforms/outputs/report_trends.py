"""The report's trend sections: the re-audit diff and the measures' SPC charts."""

from __future__ import annotations

from html import escape

import pandas as pd

from transforms.outputs.html_table import table
from transforms.outputs.run_charts import RunChart
from transforms.outputs.spc import Signal
from transforms.outputs.spc_words import (
    ASSURANCE_WORDS,
    VARIATION_WORDS,
    assurance_icon,
    variation_icon,
)
from transforms.rules.registry import KINDS, registry

REAUDIT_COLUMNS = ("newly_flagged", "resolved", "still_flagged")


def reaudit_section(frame: pd.DataFrame | None) -> str:
    if frame is None:
        return "<p>There is no previous run to compare with.</p>"
    note = (
        "<p class=note>Per finding, against the previous run: flagged now but not then "
        "(newly flagged), flagged then but not now (resolved), and flagged in both.</p>"
    )
    rows = [
        [r["finding"]]
        + [
            "suppressed" if r[f"{c}_suppressed"] else "" if pd.isna(r[c]) else int(r[c])
            for c in REAUDIT_COLUMNS
        ]
        for r in frame.to_dict("records")
    ]
    head = ["finding", "newly flagged", "resolved", "still flagged"]
    return note + (table(head, rows, numeric={1, 2, 3}) if rows else "<p>No findings.</p>")


MEASURES_NOTE = (
    "<p class=note>Each finding as a ratio over its own population, all sites, by month (by "
    "quarter where monthly denominators are small); shareable/measures.csv has every period "
    "and site. Charts in the NHS Making Data Count style: an XmR chart, or Laney's p' chart "
    "where denominators vary (each chart says which); limits at 3 sigma from the baseline, "
    "the first complete periods. Special cause: a point outside the limits, two of three "
    "beyond 2 sigma on one side, a shift of 7 on one side of the mean, or a trend of 6 rising "
    "or falling. A period is judged only once it is complete: greyed periods are incomplete "
    "(a unit's window is still open, or the period is not over) or not evaluable (its "
    "look-back reaches before the data start); they are in no baseline and no signal. "
    "Limits and signals use exact counts; points are drawn from the shareable counts. A "
    "complete period's value is frozen once published (its tooltip names the run); one a "
    "later run changed is ringed and listed under Restated periods. Alerts go out only for "
    "special cause concern on a care-gap measure's latest complete period.</p>"
)


def measures_section(
    run_charts: list[RunChart],
    signals: list[Signal],
    restatements: pd.DataFrame | None = None,
    sites: dict | None = None,
) -> str:
    if not run_charts:
        return "<p>No measures.</p>"
    findings = registry()
    by_kind = {kind: [c for c in run_charts if findings[c.measure].kind == kind] for kind in KINDS}
    summary = _icon_summary(by_kind["care_gap"])
    sites = sites or {}
    care_gaps = "".join(
        _chart(c) + _by_site(c.measure, sites.get("site_charts", {}), sites.get("funnels", {}))
        for c in by_kind["care_gap"]
    )
    context = "".join(_chart(c) for c in by_kind["status"] + by_kind["descriptive"])
    rows = [
        [s.measure, f"{s.month:%Y-%m}", s.kind.replace("_", " "), s.variation]
        for s in signals
        if findings[s.measure].kind == "care_gap"
    ]
    head = ["measure", "period from", "signal", "variation"]
    listed = table(head, rows) if rows else "<p>No special cause on any care-gap measure.</p>"
    return (
        MEASURES_NOTE
        + "<h3>Care-gap measures at a glance</h3>"
        + summary
        + care_gaps
        + "<h3>Special causes on care-gap measures</h3>"
        + listed
        + restated_section(restatements)
        + "<h3>Context: status and descriptive measures (never alerted on)</h3>"
        + (context or "<p>None.</p>")
    )


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


def _by_site(measure: str, site_charts: dict, funnels: dict) -> str:
    charts = "".join(
        f"<h4>{escape(site)} {variation_icon(c.variation)}</h4>"
        f"<p class=note>{escape(c.caption)}</p>{c.svg}"
        for site, c in site_charts.get(measure, [])
    )
    plot = funnels.get(measure, "")
    if not charts and not plot:
        return ""
    funnel_note = (
        "<p class=note>Funnel plot: each site's ratio in the latest complete period against "
        "its number of units, with the all-sites ratio and its 95 % and 99.8 % limits; a "
        "site beyond the 99.8 % funnel (orange) differs by more than chance. Sites with a "
        "hidden count are left out.</p>"
        if plot
        else ""
    )
    return (
        f"<details class=by-site><summary>By site: {escape(measure)}</summary>"
        f"{funnel_note}{plot}{charts}</details>"
    )


def _icon_summary(charts: list[RunChart]) -> str:
    rows = "".join(
        f"<tr><td>{escape(registry()[c.measure].label)}<br><code>{escape(c.measure)}</code></td>"
        f"<td class=icon>{variation_icon(c.variation)} "
        f"{escape(c.variation_note or VARIATION_WORDS[c.variation])}</td>"
        f"<td class=icon>{assurance_icon(c.assurance)} {escape(ASSURANCE_WORDS[c.assurance])}</td>"
        "</tr>"
        for c in charts
    )
    head = "<tr><th>measure</th><th>variation (latest complete period)</th><th>assurance</th></tr>"
    return f"<table class=icons>{head}{rows}</table>"


def _chart(c: RunChart) -> str:
    label = registry()[c.measure].label
    return (
        f"<h3>{escape(label)} <code>{escape(c.measure)}</code> {variation_icon(c.variation)}"
        f"{assurance_icon(c.assurance)}</h3><p class=note>{escape(c.caption)}</p>{c.svg}"
    )
