"""The report's trend sections: the re-audit diff and the monthly measures' run charts."""

from __future__ import annotations

from html import escape

import pandas as pd

from transforms.outputs.html_table import table
from transforms.outputs.run_charts import RunChart
from transforms.outputs.spc import Signal

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
    "<p class=note>Each finding as a monthly rate over its own population, all sites "
    "(shareable/measures_monthly.csv has every month and site). A p-chart: the centre line "
    "is the rate over the baseline months; the limits, 3 sigma, depend on each month's "
    "denominator. Signals: a month outside the limits, or a run of 8 or more months on one "
    "side of the centre line (months on the line are skipped). Limits and signals use exact "
    "counts; a suppressed month is drawn without its value.</p>"
)


def measures_section(run_charts: list[RunChart], signals: list[Signal]) -> str:
    if not run_charts:
        return "<p>No monthly measures.</p>"
    charts = "".join(
        f"<h3>{escape(c.measure)}</h3><p class=note>{escape(c.caption)}</p>{c.svg}"
        for c in run_charts
    )
    rows = [[s.measure, f"{s.month:%Y-%m}", s.kind.replace("_", " ")] for s in signals]
    signals = table(["measure", "month", "signal"], rows) if rows else "<p>No signals.</p>"
    return MEASURES_NOTE + charts + "<h3>Signals</h3>" + signals
