"""The report's tables as HTML: counts with rates, data quality and methods. Every finding
is shown by its registry label (transforms/outputs/report_html.py lays them out)."""

from __future__ import annotations

import pandas as pd

from transforms.outputs.headline import rates
from transforms.outputs.html_table import table
from transforms.outputs.suppress import is_small
from transforms.rules.registry import registry

REAUDIT_COLUMNS = ("newly_flagged", "resolved", "still_flagged")


def label(name: str) -> str:
    """A finding's label; '<label> (pending)' for its pending units; other text as is."""
    base = name.removesuffix(" (pending)")
    finding = registry().get(base)
    if finding is None:
        return name
    return finding.label + (" (pending)" if name != base else "")


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its finding column shown as labels."""
    return frame.assign(finding=frame["finding"].map(label)) if not frame.empty else frame


def count_table(frame: pd.DataFrame) -> str:
    """Findings' totals at one site (summary rows, reason '(all)'): label, rate, counts."""
    if frame.empty:
        return "<p>Nothing to show.</p>"
    site = frame["site"].iloc[0]
    by_name = rates(frame, site)
    rows = [[label(name), rate.percent(), rate.fraction()] for name, rate in by_name.items()]
    return table(["finding", "rate", "count of denominator"], rows, numeric={1})


def reaudit_table(frame: pd.DataFrame | None) -> str:
    if frame is None:
        return "<p>There is no previous run to compare with.</p>"
    rows = [
        [label(r["finding"])]
        + [
            "suppressed" if r[f"{c}_suppressed"] else "" if pd.isna(r[c]) else int(r[c])
            for c in REAUDIT_COLUMNS
        ]
        for r in frame.to_dict("records")
    ]
    if not rows:
        return "<p>No findings in either run.</p>"
    note = (
        "<p class=note>Per finding, against the previous run: flagged now but not then "
        "(newly flagged), flagged then but not now (resolved), and flagged in both.</p>"
    )
    head = ["finding", "newly flagged", "resolved", "still flagged"]
    return note + table(head, rows, numeric={1, 2, 3})


def sensitivity_table(frame: pd.DataFrame) -> str:
    rows = [
        [
            r.switch,
            r.value_in_force,
            r.flipped_to,
            label(r.finding),
            "suppressed" if r.gained_suppressed else r.findings_gained,
            "suppressed" if r.lost_suppressed else r.findings_lost,
        ]
        for r in frame.itertuples()
    ]
    head = ["switch", "in force", "if flipped to", "finding", "findings gained", "findings lost"]
    return table(head, rows, numeric={4, 5}) if rows else "<p>Nothing to show.</p>"


def evaluability_lead(run: dict) -> str:
    scope = run["scope"]
    start, end = scope["medication_data_start"], scope["medication_data_end"]
    meds = f"Medication history {start} to {end}" if start else "No medication events"
    labs = f"lab results to {scope['lab_data_end']}" if scope["lab_data_end"] else "no lab results"
    diagnoses = "given" if scope["diagnoses_present"] else "not given"
    return f"{meds}; {labs}; diagnoses file {diagnoses}."


def inputs_table(run: dict, up_to: int, quarantine: pd.DataFrame | None = None) -> str:
    """Rows read, loaded, quarantined and not audited per file. A file's quarantined total
    is hidden when it is small or when any of its parts in the quarantine table is (the
    total less the parts shown would tell it); loaded is hidden with it (read - loaded)."""

    def shown(n: int, hide: bool = False) -> object:
        return "suppressed" if hide or is_small(n, up_to) else n

    hidden_parts = set()
    if quarantine is not None and not quarantine.empty:
        hidden_parts = set(quarantine.loc[quarantine["suppressed"], "source_file"])
    rows = []
    for f in run["inputs"]:
        hide_quarantined = is_small(f["rows_quarantined"], up_to) or f["file"] in hidden_parts
        hide_loaded = hide_quarantined
        rows.append(
            [
                f["file"],
                f["table"],
                shown(f["rows_read"]),
                shown(f["rows_loaded"], hide_loaded),
                shown(f["rows_quarantined"], hide_quarantined),
                shown(f["rows_not_audited"]),
                f["sha256"][:16] + "..." if f["sha256"] else "(read by Spark: not hashed)",
            ]
        )
    return table(
        ["file", "table", "rows read", "loaded", "quarantined", "not audited", "sha256"],
        rows,
        numeric={2, 3, 4, 5},
    )


def code_lists(frame: pd.DataFrame) -> str:
    """Each concept set: its code systems and number of codes."""
    if frame.empty:
        return "<p>Nothing to show.</p>"
    rows = [[r.concept_set, r.systems, r.codes] for r in frame.itertuples()]
    note = (
        "<p class=note>The codes each rule reads, one list per file in "
        "sql/reference/concepts/ (the database's ref_concepts table has every code).</p>"
    )
    return note + table(["code list", "code systems", "codes"], rows, numeric={2})


def frame_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A table whose last column is a count, shown as 'suppressed' where suppressed."""
    if frame.empty:
        return "<p>Nothing to show.</p>"
    rows = [
        [*r[:-1], "suppressed" if hidden else r[-1]]
        for r, hidden in zip(frame[columns].values.tolist(), frame["suppressed"], strict=True)
    ]
    return table(columns, rows, numeric={len(columns) - 1})
