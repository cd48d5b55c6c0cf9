"""The cohort report as one self-contained HTML page (inline CSS and SVG, no network)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import pandas as pd

from transforms.config import AuditConfig
from transforms.outputs.html_table import table
from transforms.outputs.report_trends import measures_section, reaudit_section
from transforms.outputs.run_charts import RunChart
from transforms.outputs.spc import Signal
from transforms.outputs.suppress import is_small
from transforms.rules.registry import registry


def definitions(config: AuditConfig) -> list[list[str]]:
    """Each finding's label and definition (the registry's), with this run's settings."""
    return [[f.name, f.label, f.defined(config)] for f in registry().values()]


def _descriptive(findings: pd.Series) -> pd.Series:
    kinds = {f.name: f.kind for f in registry().values()}
    return findings.str.removesuffix(" (pending)").map(kinds) == "descriptive"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f2f2f2} td.n{text-align:right;font-variant-numeric:tabular-nums}
.sup{color:#a40;font-style:italic} .note{color:#555;font-size:.9rem}
.warn{color:#922b21;font-weight:bold;border-left:4px solid #922b21;padding-left:.5rem}
"""


@dataclass
class ReportTables:
    summary: pd.DataFrame
    quarantine: pd.DataFrame
    usability: pd.DataFrame
    evaluability: pd.DataFrame
    sensitivity: pd.DataFrame
    esr_overlap: pd.DataFrame
    # Measures: one chart per measure, every signal (measure, period, kind), and this run's
    # restatements of past complete periods (measure_history.shareable_restatements).
    run_charts: list[RunChart] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    restatements: pd.DataFrame | None = None
    # Per care-gap measure: [(site, its RunChart)] and the funnel plot's SVG.
    site_charts: dict = field(default_factory=dict)
    funnels: dict = field(default_factory=dict)
    # Re-audit diff against the previous run: finding, newly_flagged, resolved,
    # still_flagged (Int64, masked where suppressed) and a <column>_suppressed flag for each;
    # None when there is no previous run.
    reaudit: pd.DataFrame | None = None


def _measures_policy(config: AuditConfig) -> str:
    if config.disclosure_policy == "round":
        return (
            f"In the measures, counts from 1 to {config.suppress_counts_up_to} are hidden and "
            f"every other count is rounded to the nearest {config.round_counts_to}; ratios "
            "come from the rounded counts."
        )
    return "The measures are suppressed the same way."


def render_report(tables: ReportTables, config: AuditConfig, run: dict) -> str:
    is_tag = _descriptive(tables.summary["finding"])
    summary, tags = tables.summary[~is_tag], tables.summary[is_tag]
    overall = summary[summary["site"] == "all sites"]
    by_site = summary[(summary["site"] != "all sites") & (summary["reason"] == "(all)")]
    sections = [
        f"<h1>B12 audit report</h1><p class=note>Run {escape(str(run['run_id']))}; input "
        f"format {escape(str(run.get('input_format', 'canonical')))}; data end "
        f"{escape(str(run['data_end']))}. Counts from 1 to {config.suppress_counts_up_to} are "
        "suppressed (shown as <span class=sup>suppressed</span>), as is any count that would "
        f"let one be worked out by subtraction. {_measures_policy(config)}</p>"
        + "".join(f"<p class=warn>{escape(w)}</p>" for w in run.get("warnings", [])),
        "<h2>Measures and SPC charts</h2>"
        + measures_section(
            tables.run_charts,
            tables.signals,
            tables.restatements,
            {"site_charts": tables.site_charts, "funnels": tables.funnels},
        ),
        "<h2>Findings</h2><p class=note>Each finding's denominator is its own population. "
        "'(pending)' rows are not failures yet: their window reaches past the data end; they "
        "are not in the finding's total.</p>" + _counts_table(overall, with_site=False),
        "<h2>Units per finding (patients, folate episodes, B12 courses or results)</h2>"
        + _bar_chart(
            overall[(overall["reason"] == "(all)") & ~overall["finding"].str.endswith("(pending)")]
        ),
        "<h2>By site</h2>" + _counts_table(by_site, with_site=True),
        "<h2>Since the previous run</h2>" + reaudit_section(tables.reaudit),
        "<h2>Descriptive tags</h2><p class=note>Context for reading the findings; never an "
        "input to any B12 or folate finding.</p>"
        + _counts_table(tags[tags["site"] == "all sites"], with_site=False),
        "<h2>What each finding means</h2>"
        + table(["finding", "in words", "definition"], definitions(config)),
        "<h2>Not evaluable or still pending</h2>" + _evaluability(tables.evaluability, run),
        "<h2>What the clinical switches cost</h2>" + _sensitivity(tables.sensitivity),
        "<h2>B12 deficiency and ESR</h2>"
        + ESR_NOTE
        + _frame_table(tables.esr_overlap, ["patients", "count"]),
        "<h2>Inputs</h2>" + _inputs_table(run, config.suppress_counts_up_to),
        "<h2>Audited lab results: usable, or why not</h2>"
        + ON_TREATMENT_NOTE
        + _frame_table(tables.usability, ["analyte", "status", "reason", "rows"]),
        "<h2>Quarantine summary</h2><p class=note>Rows that failed validation, kept in the "
        "quarantine table with file, line, column, check and value.</p>"
        + _frame_table(
            tables.quarantine,
            ["source_file", "table_name", "column_name", "check_name", "meaning", "rows"],
        ),
        "<h2>Configuration in force</h2>"
        + table(
            ["key", "value", "source"],
            [[r["key"], r["value"], r["source"]] for r in config.as_records()],
        ),
    ]
    body = "\n".join(sections)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>B12 audit report</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


ESR_NOTE = (
    "<p class=note>ESR is shown for context only. As the guideline says, an elevated ESR "
    "does not influence B12 treatment decisions: no B12 or folate finding reads ESR.</p>"
)
ON_TREATMENT_NOTE = (
    "<p class=note>Status on_treatment: a B12, MMA or homocysteine result collected within "
    "the on-treatment window after a B12 dose. It classifies nothing; testing B12 on "
    "treatment is rarely useful.</p>"
)


def _evaluability(frame: pd.DataFrame, run: dict) -> str:
    scope = run["scope"]
    start, end = scope["medication_data_start"], scope["medication_data_end"]
    meds = f"Medication history {start} to {end}" if start else "No medication events"
    labs = f"lab results to {scope['lab_data_end']}" if scope["lab_data_end"] else "no lab results"
    lead = (
        f"<p class=note>{escape(meds)}; {escape(labs)}; diagnoses file "
        f"{'present' if scope['diagnoses_present'] else 'absent'}.</p>"
    )
    return lead + _frame_table(frame, ["finding", "status", "counted", "count"])


def _sensitivity(frame: pd.DataFrame) -> str:
    rows = [
        [
            r.switch,
            r.value_in_force,
            r.flipped_to,
            r.finding,
            "suppressed" if r.gained_suppressed else r.findings_gained,
            "suppressed" if r.lost_suppressed else r.findings_lost,
        ]
        for r in frame.itertuples()
    ]
    head = ["switch", "in force", "if flipped to", "finding", "findings gained", "findings lost"]
    note = (
        "<p class=note>Each switch flipped alone, all else as configured. A finding is the "
        "same when patient, finding and reason agree (and, for an episode or course, its "
        "date).</p>"
    )
    return note + table(head, rows, numeric={4, 5})


def _count_cell(value, suppressed: bool) -> str:
    if suppressed:
        return "<td class='n sup'>suppressed</td>"
    return f"<td class=n>{'' if pd.isna(value) else int(value)}</td>"


def _counts_table(frame: pd.DataFrame, with_site: bool) -> str:
    head = ["finding", "reason"] + (["site"] if with_site else []) + ["count", "of", "denominator"]
    rows = []
    for r in frame.itertuples():
        cells = [f"<td>{escape(r.finding)}</td><td>{escape(r.reason)}</td>"]
        if with_site:
            cells.append(f"<td>{escape(r.site)}</td>")
        cells.append(_count_cell(r.count, r.suppressed))
        cells.append(_count_cell(r.denominator, r.denominator_suppressed))
        cells.append(f"<td>{escape(r.denominator_meaning)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return "<p>No findings.</p>"
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _bar_chart(frame: pd.DataFrame) -> str:
    """Horizontal bars, one per finding; a suppressed count is drawn as a hatched stub."""
    if frame.empty:
        return "<p>No findings.</p>"
    top = max([int(c) for c in frame["count"].dropna()] + [1])
    bar_h, label_w, width = 22, 230, 420
    parts = [
        "<defs><pattern id=hatch width=6 height=6 patternUnits=userSpaceOnUse "
        "patternTransform='rotate(45)'><rect width=3 height=6 fill='#c96'/></pattern></defs>"
    ]
    for i, r in enumerate(frame.itertuples()):
        y = i * (bar_h + 6)
        length = 12 if r.suppressed else max(1, int(width * int(r.count) / top))
        fill = "url(#hatch)" if r.suppressed else "#3b6ea5"
        text = "suppressed" if r.suppressed else str(int(r.count))
        parts.append(
            f"<text x=0 y={y + 15} font-size=12>{escape(r.finding)}</text>"
            f"<rect x={label_w} y={y} width={length} height={bar_h} fill='{fill}'/>"
            f"<text x={label_w + length + 6} y={y + 15} font-size=12>{text}</text>"
        )
    height = len(frame) * (bar_h + 6)
    return (
        f"<svg width={label_w + width + 90} height={height} "
        f"role=img aria-label='Findings per finding'>{''.join(parts)}</svg>"
    )


def _inputs_table(run: dict, up_to: int) -> str:
    def shown(n: int, hide: bool = False) -> object:
        return "suppressed" if hide or is_small(n, up_to) else n

    rows = []
    for f in run["inputs"]:
        # read - loaded = quarantined: hiding a small quarantined count hides loaded too.
        hide_loaded = is_small(f["rows_quarantined"], up_to)
        rows.append(
            [
                f["file"],
                f["table"],
                shown(f["rows_read"]),
                shown(f["rows_loaded"], hide_loaded),
                shown(f["rows_quarantined"]),
                shown(f["rows_not_audited"]),
                f["sha256"][:16] + "...",
            ]
        )
    return table(
        ["file", "table", "rows read", "loaded", "quarantined", "not audited", "sha256"],
        rows,
        numeric={2, 3, 4, 5},
    )


def _frame_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A table whose last column is a count, shown as 'suppressed' where suppressed."""
    if frame.empty:
        return "<p>None.</p>"
    rows = [
        [*r[:-1], "suppressed" if hidden else r[-1]]
        for r, hidden in zip(frame[columns].values.tolist(), frame["suppressed"], strict=True)
    ]
    return table(columns, rows, numeric={len(columns) - 1})
