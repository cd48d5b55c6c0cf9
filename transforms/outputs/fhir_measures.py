"""The shareable measures as FHIR MeasureReport resources, for a region that collects quality
measures like any other: shareable/measure_reports.json, a Bundle of type collection.

One summary MeasureReport per measure and period, from the disclosure-controlled table
(shareable/measures.csv), so it publishes nothing the CSV does not:
- status 'complete' for a complete period, 'pending' for an incomplete one (units still
  inside their window, or the period not over); periods that are not evaluable (look-back
  before the data start) are left out: they measure nothing;
- one group: the denominator and numerator populations (code system measure-population),
  the measureScore (the ratio, unit '1'), and a stratifier by site with the same per
  site; a hidden count is left out and marked with the data-absent-reason extension,
  valueCode 'masked';
- improvementNotation from the measure's direction ('decrease' when lower is better);
- measure: `urn:b12audit:measure:<finding>`, a canonical a region maps to its own Measure.

Each resource is built with fhir.resources' R4B model, which checks it against the FHIR
specification (types, cardinality, codes) as it is made. The library ships no R4 model since
its version 7; R4B's MeasureReport has the R4 elements used here.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.measurereport import MeasureReport

from transforms.rules.registry import Finding

POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
IMPROVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation"
ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MEASURE_URN = "urn:b12audit:measure:"
STATUS = {"complete": "complete", "incomplete": "pending"}
ALL_SITES = "all sites"


def bundle(shown: pd.DataFrame, findings: dict[str, Finding], run_id: str, when: datetime) -> str:
    """The Bundle as JSON text: one MeasureReport per measure and judged or pending period."""
    periods: dict[tuple, list[dict]] = {}
    # Plain records, grouped here: pandas' per-group selection cost more than the model.
    for row in shown.to_dict("records"):
        periods.setdefault((row["measure"], row["interval_start"]), []).append(row)
    reports = [
        measure_report(rows, findings[measure], run_id, when)
        for (measure, _), rows in sorted(periods.items())
        if rows[0]["status"] in STATUS
    ]
    entries = [{"resource": r} for r in reports]
    collection = Bundle(
        type="collection", timestamp=when.astimezone().isoformat(), entry=entries or None
    )
    return json.dumps(json.loads(collection.model_dump_json(exclude_none=True)), indent=1)


def measure_report(
    rows: list[dict], finding: Finding, run_id: str, when: datetime
) -> MeasureReport:
    """One measure's period: `rows` are its rows of measures.csv, all sites and each."""
    total = next(row for row in rows if row["site"] == ALL_SITES)
    sites = sorted((row for row in rows if row["site"] != ALL_SITES), key=lambda r: r["site"])
    start, end = _day(total["interval_start"]), _day(total["interval_end"])
    report = {
        "id": _id(run_id, finding.name, start),
        "status": STATUS[total["status"]],
        "type": "summary",
        "measure": MEASURE_URN + finding.name,
        "date": when.astimezone().isoformat(),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "group": [
            {
                "code": {"text": finding.label},
                **_counts(total),
                "stratifier": [
                    {
                        "code": [{"text": "site"}],
                        "stratum": [
                            {"value": {"text": site["site"]}, **_counts(site)} for site in sites
                        ]
                        or None,
                    }
                ],
            }
        ],
    }
    if finding.direction != "neither":
        notation = "decrease" if finding.direction == "lower_is_better" else "increase"
        report["improvementNotation"] = {
            "coding": [{"system": IMPROVEMENT_SYSTEM, "code": notation}]
        }
    return MeasureReport(**report)


def _counts(row: dict) -> dict:
    """population (denominator, numerator) and measureScore of one row."""
    populations = [
        _population(code, row[code], row[f"{code}_suppressed"])
        for code in ("denominator", "numerator")
    ]
    found = {"population": populations}
    if not pd.isna(row["ratio"]):
        found["measureScore"] = {"value": float(row["ratio"]), "unit": "1"}
    return found


def _population(code: str, count, hidden: bool) -> dict:
    population = {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}}
    if hidden or pd.isna(count):
        population["count__ext"] = {"extension": [{"url": ABSENT, "valueCode": "masked"}]}
    else:
        population["count"] = int(count)
    return population


def _day(value) -> date:
    return pd.Timestamp(value).date()


def _id(run_id: str, measure: str, start: date) -> str:
    """An id FHIR accepts (letters, digits, '-', '.'; at most 64), the same for the same run,
    measure and period."""
    return f"{run_id}-{measure.replace('_', '-')}-{start:%Y%m%d}"[-64:].lstrip("-.")
