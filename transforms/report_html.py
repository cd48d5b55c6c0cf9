"""The cohort report as one self-contained HTML page (inline CSS and SVG, no network)."""

from __future__ import annotations

from html import escape

import pandas as pd

from transforms.config import AuditConfig
from transforms.suppress import is_small

DEFINITIONS = {
    "b12_deficient": "Serum B12 below the deficiency threshold (default < 180 pg/mL).",
    "b12_borderline": "Serum B12 in the borderline band (default 180 to 350 pg/mL).",
    "b12_functional_deficiency": "Borderline B12 with MMA above 271 nmol/L within -30/+90 days.",
    "b12_borderline_no_mma": "Borderline B12 never followed by an MMA within -30/+90 days.",
    "folate_before_b12": "Folic acid started before B12 status was settled or B12 treatment given.",
}

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f2f2f2} td.n{text-align:right;font-variant-numeric:tabular-nums}
.sup{color:#a40;font-style:italic} .note{color:#555;font-size:.9rem}
"""


def render_report(
    summary: pd.DataFrame,
    quarantine: pd.DataFrame,
    usability: pd.DataFrame,
    config: AuditConfig,
    run: dict,
) -> str:
    overall = summary[summary["site"] == "all sites"]
    by_site = summary[(summary["site"] != "all sites") & (summary["reason"] == "(all)")]
    sections = [
        f"<h1>B12 audit report</h1><p class=note>Run {escape(str(run['run_id']))}; data end "
        f"{escape(str(run['data_end']))}. Counts from 1 to {config.suppress_counts_up_to} are "
        "suppressed (shown as <span class=sup>suppressed</span>), as is any count that would "
        "let one be worked out by subtraction.</p>",
        "<h2>Findings</h2>" + _counts_table(overall, with_site=False),
        "<h2>Patients (folate: episodes) per finding</h2>"
        + _bar_chart(overall[overall["reason"] == "(all)"]),
        "<h2>By site</h2>" + _counts_table(by_site, with_site=True),
        "<h2>What each finding means</h2>"
        + _table(["finding", "definition"], [[k, v] for k, v in DEFINITIONS.items()]),
        "<h2>Inputs</h2>" + _inputs_table(run, config.suppress_counts_up_to),
        "<h2>B12 and MMA results: usable, or why not</h2>"
        + _frame_table(usability, ["analyte", "status", "reason", "rows"]),
        "<h2>Quarantine summary</h2><p class=note>Rows that failed validation, kept in the "
        "quarantine table with file, line, column, check and value.</p>"
        + _frame_table(
            quarantine,
            ["source_file", "table_name", "column_name", "check_name", "meaning", "rows"],
        ),
        "<h2>Configuration in force</h2>"
        + _table(
            ["key", "value", "source"],
            [[r["key"], r["value"], r["source"]] for r in config.as_records()],
        ),
    ]
    body = "\n".join(sections)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>B12 audit report</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


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
        f"<svg xmlns='http://www.w3.org/2000/svg' width={label_w + width + 90} height={height} "
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
                f["sha256"][:16] + "...",
            ]
        )
    return _table(
        ["file", "table", "rows read", "loaded", "quarantined", "sha256"], rows, numeric={2, 3, 4}
    )


def _frame_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A table whose last column is a count, shown as 'suppressed' where suppressed."""
    if frame.empty:
        return "<p>None.</p>"
    rows = [
        [*r[:-1], "suppressed" if hidden else r[-1]]
        for r, hidden in zip(frame[columns].values.tolist(), frame["suppressed"], strict=True)
    ]
    return _table(columns, rows, numeric={len(columns) - 1})


def _table(head: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class=n>{escape(str(v))}</td>" if i in numeric else f"<td>{escape(str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{header}</tr>{body}</table>"
