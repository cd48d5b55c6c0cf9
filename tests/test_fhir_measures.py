"""The shareable measures as FHIR MeasureReports: one per measure and period, valid against
the FHIR model, with the disclosure policy applied."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
from fhir.resources.R4B.bundle import Bundle

from transforms.outputs import fhir_measures, measures
from transforms.rules.registry import registry

WHEN = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)


def shareable() -> pd.DataFrame:
    """folate_before_b12 by month: a complete January (12 of 60, north 3 of 22: hidden),
    an incomplete February, and a March not evaluable; rounded as published."""
    rows = [
        ("2025-01-01", "2025-01-31", "all sites", 12, 60, "complete"),
        ("2025-01-01", "2025-01-31", "north", 3, 22, "complete"),
        ("2025-01-01", "2025-01-31", "south", 9, 38, "complete"),
        ("2025-02-01", "2025-02-28", "all sites", 20, 41, "incomplete"),
        ("2025-03-01", "2025-03-31", "all sites", 10, 50, "not evaluable"),
    ]
    exact = pd.DataFrame(
        rows,
        columns=["interval_start", "interval_end", "site", "numerator", "denominator", "status"],
    ).assign(measure="folate_before_b12", pending=0)
    exact["interval_start"] = pd.to_datetime(exact["interval_start"])
    exact["interval_end"] = pd.to_datetime(exact["interval_end"])
    exact["ratio"] = exact["numerator"] / exact["denominator"]
    return measures.round_measures(exact, up_to=7, step=5)


def reports() -> list:
    text = fhir_measures.bundle(shareable(), registry(), "run1", WHEN)
    parsed = Bundle.model_validate_json(text)  # the FHIR model checks it again on reading
    assert parsed.type == "collection"
    return [json.loads(e.resource.model_dump_json(exclude_none=True)) for e in parsed.entry]


def population(group: dict, code: str) -> dict:
    return next(p for p in group["population"] if p["code"]["coding"][0]["code"] == code)


def test_one_summary_report_per_period_complete_or_pending_and_none_not_evaluable():
    found = reports()
    assert [(r["period"]["start"], r["status"]) for r in found] == [
        ("2025-01-01", "complete"),
        ("2025-02-01", "pending"),
    ]
    assert {r["type"] for r in found} == {"summary"}
    assert found[0]["measure"] == "urn:b12audit:measure:folate_before_b12"
    assert found[0]["period"]["end"] == "2025-01-31"
    notation = found[0]["improvementNotation"]["coding"][0]
    assert notation["code"] == "decrease"


def test_counts_are_the_rounded_ones_and_a_hidden_count_is_marked_masked():
    group = reports()[0]["group"][0]
    assert population(group, "denominator")["count"] == 60
    assert population(group, "numerator")["count"] == 10  # 12 rounds to 10
    assert group["measureScore"]["value"] == 10 / 60
    north, south = group["stratifier"][0]["stratum"]
    assert north["value"]["text"] == "north"
    hidden = population(north, "numerator")
    assert "count" not in hidden
    assert hidden["_count"]["extension"][0]["valueCode"] == "masked"
    assert "measureScore" not in north
    assert population(north, "denominator")["count"] == 20  # 22 rounds to 20
    assert population(south, "numerator")["count"] == 10  # 9 rounds to 10


def test_no_count_from_1_to_7_is_published():
    text = fhir_measures.bundle(shareable(), registry(), "run1", WHEN)
    counts = [int(c) for c in re.findall(r"\"count\": (\d+)", text)]
    assert counts and not any(1 <= c <= 7 for c in counts)
