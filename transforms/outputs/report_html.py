"""The cohort report as one self-contained HTML page (inline CSS and SVG, no network), from
the Jinja2 template in templates/: headline, one section per care gap, context, data
quality, methods, and an appendix of finding identifiers (everything else shows labels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from transforms.config import AuditConfig
from transforms.outputs import headline
from transforms.outputs.html_table import table
from transforms.outputs.report_sections import (
    code_lists,
    count_table,
    evaluability_lead,
    frame_table,
    inputs_table,
    labelled,
    reaudit_table,
    sensitivity_table,
)
from transforms.outputs.report_trends import (
    MEASURES_NOTE,
    by_site_details,
    icons,
    restated_section,
    signals_table,
)
from transforms.outputs.run_charts import RunChart
from transforms.outputs.spc import Signal
from transforms.outputs.spc_words import VARIATION_WORDS, variation_icon
from transforms.rules.registry import registry

TEMPLATES = Path(__file__).parent / "templates"
ALL_SITES = "all sites"


def _css_string(value: object) -> str:
    """Text for a CSS string in the page header: no quote or backslash can end it."""
    return "".join(c if c.isprintable() and c not in '"\\' else " " for c in str(value))


ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.filters["css_string"] = _css_string


@dataclass
class ReportTables:
    summary: pd.DataFrame
    quarantine: pd.DataFrame
    usability: pd.DataFrame
    evaluability: pd.DataFrame
    sensitivity: pd.DataFrame
    esr_overlap: pd.DataFrame
    mapping_review: pd.DataFrame = field(default_factory=pd.DataFrame)
    code_lists: pd.DataFrame = field(default_factory=pd.DataFrame)
    population: int | None = None  # patients in the period (None: suppressed)
    # Measures: one chart per measure, every signal (measure, period, kind), and this run's
    # restatements of past complete periods (measure_history.shareable_restatements).
    run_charts: list[RunChart] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    restatements: pd.DataFrame | None = None
    # Per care-gap measure: [(site, its RunChart)] and the funnel plot's SVG.
    site_charts: dict = field(default_factory=dict)
    funnels: dict = field(default_factory=dict)
    # Per measure and site: its latest complete period and the one before (headline).
    latest: dict = field(default_factory=dict)
    # Re-audit diff against the previous run (reaudit.shareable); None without one.
    reaudit: pd.DataFrame | None = None


def definitions(config: AuditConfig) -> list[list[str]]:
    """Each finding's label and definition (the registry's), with this run's settings."""
    return [[f.label, f.defined(config)] for f in registry().values()]


def disclosure_words(config: AuditConfig) -> str:
    text = (
        f"Counts from 1 to {config.suppress_counts_up_to} are suppressed, as is any count "
        "that would let one be worked out by subtraction; rates are shown only from counts "
        "that are not."
    )
    if config.disclosure_policy == "round":
        return text + (
            f" In the measures and charts, counts from 1 to {config.suppress_counts_up_to} "
            f"are hidden and every other count is rounded to the nearest "
            f"{config.round_counts_to}; ratios come from the rounded counts."
        )
    return text + " The measures are suppressed the same way."


def render_report(tables: ReportTables, config: AuditConfig, run: dict) -> str:
    site = config.report_site
    shown_site = site or ALL_SITES
    charts = _charts_at(tables, site)
    findings = registry()
    care_gaps = [n for n, f in findings.items() if f.kind == "care_gap"]
    latest = tables.latest.get(shown_site, {})
    by_site = {s: headline.rates(tables.summary, s) for s in sorted(set(tables.summary["site"]))}
    scope = _scope(config, run, tables.population)
    context = {
        "run": {**run, "input_format": run.get("input_format", "canonical")},
        "scope": scope,
        "page_header": _page_header(run, scope),
        "disclosure": disclosure_words(config),
        "warnings": run.get("warnings", []),
        "headline": [
            _headline_row(
                n,
                by_site.get(shown_site, {}),
                by_site.get(ALL_SITES, {}),
                charts.get(n),
                latest.get(n),
            )
            for n in care_gaps
        ],
        "care_gaps": [_care_gap(n, config, tables, by_site, charts.get(n)) for n in care_gaps],
        "signals": Markup(signals_table(tables.signals)),
        "restatements": Markup(restated_section(tables.restatements)),
        "reaudit": Markup(reaudit_table(tables.reaudit)),
        **_context_sections(tables, charts, shown_site),
        **_data_quality(tables, run, config),
        **_methods(tables, config),
    }
    return ENVIRONMENT.get_template("report.html.j2").render(context)


def _charts_at(tables: ReportTables, site: str | None) -> dict[str, RunChart]:
    """Each measure's chart at the report's site (all sites when it has none)."""
    charts = {c.measure: c for c in tables.run_charts}
    if site:
        for measure, by_site in tables.site_charts.items():
            charts.update((measure, chart) for name, chart in by_site if name == site)
    return charts


def _scope(config: AuditConfig, run: dict, population: int | None) -> dict:
    scope = run["scope"]
    start = config.period_start or scope.get("data_start") or "the data start"
    end = config.period_end or scope.get("data_end") or "the data end"
    patients = "suppressed (a small count)" if population is None else f"{population:,}"
    return {
        "period": f"{start} to {end}",
        "site": config.report_site,
        "where": f"Site: {config.report_site}" if config.report_site else "All sites",
        "population": f"{patients} patients with a lab result or medication in the period",
    }


def _page_header(run: dict, scope: dict) -> str:
    return f"B12 audit, run {run['run_id']}: {scope['period']}, {scope['where'].lower()}"


def _headline_row(name, rates, all_sites, chart: RunChart | None, latest) -> dict:
    finding = registry()[name]
    empty = headline.Rate(0, 0, "")
    rate = rates.get(name, empty)
    variation = chart.variation if chart else ""
    pending = rate.pending
    return {
        "name": name,
        "label": finding.label,
        "rate": rate,
        "all_sites": all_sites.get(name, empty),
        "pending_text": ""
        if pending == 0
        else f"{'a few (suppressed)' if pending is None else pending} still pending, not counted",
        "change": headline.change_words(latest),
        "icon": Markup(variation_icon(variation)),
        "variation": (chart.variation_note if chart else "") or VARIATION_WORDS[variation],
    }


def _care_gap(name: str, config: AuditConfig, tables: ReportTables, by_site: dict, chart) -> dict:
    finding = registry()[name]
    site_rates = [
        (site, rates[name])
        for site, rates in by_site.items()
        if site != ALL_SITES and name in rates
    ]
    return {
        "name": name,
        "label": finding.label,
        "definition": finding.defined(config),
        "guideline": finding.guideline,
        "caption": chart.caption if chart else "No measure for this finding yet.",
        "chart": Markup(chart.svg if chart else ""),
        "icons": Markup(icons(chart) if chart else ""),
        "sites": site_rates,
        "site_details": Markup(by_site_details(name, tables.site_charts, tables.funnels)),
    }


def _context_sections(tables: ReportTables, charts: dict, site: str) -> dict:
    findings = registry()
    at_site = tables.summary[
        (tables.summary["site"] == site) & (tables.summary["reason"] == "(all)")
    ]
    kinds = (
        at_site["finding"]
        .str.removesuffix(" (pending)")
        .map({n: f.kind for n, f in findings.items()})
    )
    others = [n for n, f in headline.by_kind() if f.kind != "care_gap"]  # status first
    return {
        "prevalence": Markup(count_table(at_site[kinds == "status"])),
        "tags": Markup(count_table(at_site[kinds == "descriptive"])),
        "esr": Markup(frame_table(tables.esr_overlap, ["patients", "count"])),
        "deficient_label": findings["b12_deficient"].label,
        "context_charts": [
            {"label": findings[n].label, "caption": charts[n].caption, "svg": Markup(charts[n].svg)}
            for n in others
            if n in charts
        ],
    }


def _data_quality(tables: ReportTables, run: dict, config: AuditConfig) -> dict:
    evaluability = tables.evaluability
    if not evaluability.empty:  # a zero count says nothing: not evaluable are only the others
        evaluability = labelled(evaluability[evaluability["count"].fillna(1) != 0])
    return {
        "evaluability_lead": evaluability_lead(run),
        "evaluability": Markup(
            frame_table(evaluability, ["finding", "status", "counted", "count"])
        ),
        "mapping_review": Markup(
            frame_table(tables.mapping_review, ["kind", "status", "codes", "rows"])
        ),
        "inputs": Markup(inputs_table(run, config.suppress_counts_up_to, tables.quarantine)),
        "quarantine": Markup(
            frame_table(
                tables.quarantine.rename(columns=QUARANTINE_HEADS),
                [*QUARANTINE_HEADS.values(), "meaning", "rows"],
            )
        ),
        "usability": Markup(frame_table(tables.usability, ["analyte", "status", "reason", "rows"])),
    }


QUARANTINE_HEADS = {
    "source_file": "file",
    "table_name": "table",
    "column_name": "column",
    "check_name": "check",
}


def _methods(tables: ReportTables, config: AuditConfig) -> dict:
    findings = registry()
    return {
        "measures_note": MEASURES_NOTE,
        "definitions": Markup(table(["finding", "definition"], definitions(config))),
        "sensitivity": Markup(sensitivity_table(tables.sensitivity)),
        "code_lists": Markup(code_lists(tables.code_lists)),
        "configuration": Markup(
            table(
                ["setting", "value", "source"],
                [[r["key"], r["value"], r["source"]] for r in config.as_records()],
            )
        ),
        "identifiers": Markup(
            table(["finding", "identifier"], [[f.label, n] for n, f in findings.items()])
        ),
    }
