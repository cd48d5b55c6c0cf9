"""The documentation's generated parts: the findings from the registry, the settings from
AuditConfig. docs/*.md call these between cog markers; `cog -r docs/*.md` writes them and
tests/test_docs.py fails when a page falls behind (`cog --check`)."""

from __future__ import annotations

from dataclasses import MISSING, fields

from transforms.config import DICT_SETTINGS, AuditConfig
from transforms.rules.populations import labels
from transforms.rules.registry import FOLLOW_UPS, UNIT_LABELS, Finding, registry, render

KIND_HEADINGS = {
    "care_gap": "Care gaps: practice a team can act on (on the worklist)",
    "status": "Status: how common deficiency is",
    "descriptive": "Descriptive tags: context only, never an input to any B12 or folate finding",
}


def findings_table() -> str:
    """One row per finding: name, label, kind, unit, denominator, reasons."""
    head = (
        "| finding | in words | kind | one row per | denominator | reasons |\n"
        "|---|---|---|---|---|---|"
    )
    rows = [
        f"| `{f.name}` | {f.label} | {f.kind.replace('_', ' ')} | {_unit(f)} "
        f"| {labels()[f.population]} | {_reason_names(f)} |"
        for f in registry().values()
    ]
    return "\n".join([head, *rows])


def _unit(finding: Finding) -> str:
    return finding.unit.replace("_", " ").replace("b12", "B12")


def _reason_names(finding: Finding) -> str:
    names = [f"`{r.name}`" for r in finding.reasons if r.name]
    return ", ".join(names) or "none"


def findings_sections() -> str:
    """Each finding, grouped by kind: its definition with the default settings, the
    guideline sentence it checks, and each reason with what the worklist asks."""
    config, parts = AuditConfig(), []
    for kind, heading in KIND_HEADINGS.items():
        parts.append(f"### {heading}")
        for finding in (f for f in registry().values() if f.kind == kind):
            parts.append(_section(finding, config))
    return "\n\n".join(parts)


def _section(finding: Finding, config: AuditConfig) -> str:
    lines = [
        f"#### {finding.label} (`{finding.name}`)",
        "",
        finding.defined(config),
        "",
        f"> {finding.guideline}",
        "",
        f"One row per {_unit(finding)}; denominator: "
        f"{labels()[finding.population]} ({UNIT_LABELS[finding.unit]}, "
        f"`sql/populations/{finding.population}.sql`). Direction: "
        f"{finding.direction.replace('_', ' ')}.",
    ]
    lines += [f"- {_reason_line(r, config)}" for r in finding.reasons]
    return "\n".join(lines)


def _reason_line(reason, config: AuditConfig) -> str:
    what = f"`{reason.name}`: {render(reason.label, config)}" if reason.name else "Worklist"
    pending = "pending: not a failure yet, counted apart"
    if not reason.action:
        if reason.window_open:
            return f"{what}; {pending}, not on the worklist"
        return what + ("; not on the worklist" if reason.name else ": not on it")
    line = f'{what}; worklist: {reason.severity}, "{reason.action}"'
    if reason.window_open:
        return f"{line}, as {pending}"
    if reason.acted_by:
        after = reason.acted_after_days(config)
        when = "after the index date" if not after else f"over {after} days after the index date"
        return f"{line}; acted on once a {FOLLOW_UPS[reason.acted_by]} comes {when}"
    return line + "; open until the data or the team's annotation close it"


def configuration_table() -> str:
    """Every setting: its default, what it may be, and where the default comes from."""
    head = "| key | default | allowed | source of the default |\n|---|---|---|---|"
    rows = [
        f"| `{f.name}` | {_default(f)} | {_allowed(f)} | {f.metadata['source']} |"
        for f in fields(AuditConfig)
        if f.name not in DICT_SETTINGS
    ]
    return "\n".join([head, *rows])


def _default(f) -> str:
    value = f.default if f.default is not MISSING else None
    if value is None:
        return "(latest date in the extract)" if f.name == "as_of_date" else "(none)"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


# Settings given as text: what the text names.
TEXT_SETTINGS = {
    "vocabulary_dir": "a folder with CONCEPT and CONCEPT_ANCESTOR",
    "report_site": "a site's name, as the extract gives it",
    "spark_master": "a Spark master URL (`local[4]`, `spark://host:7077`, `yarn`)",
    "spark_output": "a folder Spark writes and this machine reads",
}


def _allowed(f) -> str:
    meta = f.metadata
    if meta["choices"]:
        return ", ".join(f"`{c}`" for c in meta["choices"])
    if isinstance(f.default, bool):
        return "`true`, `false`"
    if f.name == "as_of_date":
        return "a TOML date"
    if f.name in TEXT_SETTINGS:
        return TEXT_SETTINGS[f.name]
    low, high = meta["minimum"], meta["maximum"]
    kind = "whole number" if isinstance(f.default, int) else "number"
    if low is not None and high is not None:
        return f"{kind}, {low:g} to {high:g}"
    return f"{kind}, at least {low:g}" if low is not None else kind


def findings_at_a_glance() -> str:
    """The README's list: each kind's findings by label."""
    lines = []
    for kind, heading in KIND_HEADINGS.items():
        names = [f"{f.label} (`{f.name}`)" for f in registry().values() if f.kind == kind]
        lines.append(f"- **{heading.split(':')[0]}**: {'; '.join(names)}.")
    return "\n".join(lines)
