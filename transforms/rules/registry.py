"""The finding registry: one small TOML file per finding beside its SQL (sql/rules/).

An entry is the single source of what a finding means to its readers: the label and reason
labels a clinician reads, its kind, unit, population, direction of improvement, worklist
severity, action and evidence wording, the guideline sentence it checks, and a paragraph
defining it. The findings schema, the report, the worklist, the measures, the populations
and the documentation are all read from here. A rule without an entry, an entry missing a
field, or a field out of its range stops the run naming the file and the field.

    label = "Folic acid before B12 status was settled"
    kind = "care_gap"                 # care_gap, status or descriptive
    unit = "folate_episode"           # patient, folate_episode, b12_course or b12_result
    population = "folate_episodes"    # a file in sql/populations/
    direction = "lower_is_better"     # lower_is_better, higher_is_better or neither
    guideline = "Never administer folic acid before ..."
    definition = "... {b12_result_lookback_days} days ..."   # {setting}: its value
    look_back = ["b12_result_lookback_days"]   # optional: the settings (days) a unit looks
                                      # back over; a period starting less than the longest
                                      # after the data start is not evaluable for the measure
    evidence = "<SQL over the worklist's phrases>"          # optional, per finding ...

    [reasons.never_tested]
    label = "no B12 result at all"
    severity = "medium"                # high, medium or low: on the worklist
    action = "check B12; review folic acid"
    evidence = "..."                   # ... or per reason
    acted_by = "b12_test"              # what shows the action happened (FOLLOW_UPS) ...
    acted_after = 0                    # ... later than index_date + this (a setting or days)
    window = ["index_date - $b12_result_lookback_days", "index_date"]  # drawn on the
                                       # patient's timeline: two SQL dates over the phrases
    # window_open = true               # not a failure yet: counted apart; on the worklist
    #                                  # as 'pending' when it has an action

Only a care_gap is on the worklist. A finding without reasons carries `severity`, `action`,
`evidence`, `acted_by`, `acted_after` and `window` at the top level (`evidence` and `window`
may also be shared there by its reasons). Without `acted_by` an item stays 'open' until the
data change or the team annotates it.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import duckdb

from transforms.config import AuditConfig
from transforms.errors import ConfigError
from transforms.sqlfiles import sql_dir

KINDS = ("care_gap", "status", "descriptive")
UNIT_LABELS = {
    "patient": "patients",
    "folate_episode": "folate episodes",
    "b12_course": "B12 courses",
    "b12_result": "confirming B12 results",
}
UNITS = tuple(UNIT_LABELS)
DIRECTIONS = ("lower_is_better", "higher_is_better", "neither")
SEVERITIES = ("high", "medium", "low")
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES, start=1)}
REQUIRED = ("label", "kind", "unit", "population", "direction", "guideline", "definition")
WORKLIST_FIELDS = ("severity", "action", "evidence", "acted_by", "acted_after", "window")
# What a later row must be to show a worklist item's action happened (sql/report/
# worklist_follow_ups.sql): each name, and how the worklist says it.
FOLLOW_UPS = {
    "b12_treatment": "B12 treatment",
    "injection": "B12 injection",
    "b12_test": "B12 result",
    "b12_settled": "B12 treatment or an adequate B12",
    "mma": "MMA result",
    "metabolite": "MMA or homocysteine result",
    "blood_count": "Hb or MCV result",
}
REASON_FIELDS = ("label", "window_open", *WORKLIST_FIELDS)


class RegistryError(Exception):
    """A registry entry is missing, incomplete or out of range; the message names it."""


@dataclass(frozen=True)
class Reason:
    """One way a finding can be met, or `None`'s stand-in for a finding without reasons."""

    name: str | None
    label: str
    window_open: bool = False  # the unit's window is not over: pending, not a failure
    severity: str | None = None  # None: never on the worklist
    action: str | None = None
    evidence: str | None = None  # a SQL expression over sql/report/worklist.sql's phrases
    acted_by: str | None = None  # a FOLLOW_UPS name
    acted_after: int | str = 0  # days after index_date, or the setting holding them
    window: tuple[str, str] | None = None  # SQL dates over the worklist's phrases

    def acted_after_days(self, config: AuditConfig) -> int:
        after = self.acted_after
        return int(getattr(config, after) if isinstance(after, str) else after)


@dataclass(frozen=True)
class Finding:
    name: str
    label: str
    kind: str
    unit: str
    population: str
    direction: str
    guideline: str
    definition: str
    reasons: tuple[Reason, ...]
    look_back: tuple[str, ...] = ()

    def look_back_days(self, config: AuditConfig) -> int:
        """How far before a unit's date its finding looks (0: not at all)."""
        return max((int(getattr(config, name)) for name in self.look_back), default=0)

    @property
    def reason_names(self) -> list[str | None]:
        return [r.name for r in self.reasons]

    @property
    def worked(self) -> tuple[Reason, ...]:
        """The reasons a team acts on: on the worklist."""
        return tuple(r for r in self.reasons if r.action)

    def defined(self, config: AuditConfig) -> str:
        """The definition with this configuration's thresholds and windows."""
        return render(self.definition, config)


def check_named_findings(config: AuditConfig) -> None:
    """Every [measure_targets] and [spc_phases] key names a finding, or the run stops
    before reading data."""
    for setting in ("measure_targets", "spc_phases"):
        unknown = sorted(set(getattr(config, setting)) - set(registry()))
        if unknown:
            raise ConfigError(f"{setting}: {unknown[0]!r} is not a finding")


def render(text: str, config: AuditConfig) -> str:
    """`text` with each {setting} replaced by its value (180.0 shows as 180)."""
    values = {f.name: _shown(getattr(config, f.name)) for f in fields(config)}
    return string.Formatter().vformat(text, (), values)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # as the configuration file writes it
    return f"{value:g}" if isinstance(value, float) else str(value)


def registry() -> dict[str, Finding]:
    """Every finding, by name: one entry per sql/rules/<finding>.sql."""
    return _load(sql_dir())


@cache
def _load(root: Path) -> dict[str, Finding]:
    rules = sorted((root / "rules").glob("*.sql"))
    missing = [p.with_suffix(".toml").name for p in rules if not p.with_suffix(".toml").exists()]
    if missing:
        raise RegistryError(f"sql/rules: no registry entry for {', '.join(missing)}")
    populations = {p.stem for p in (root / "populations").glob("*.sql")}
    return {p.stem: _entry(p.with_suffix(".toml"), populations) for p in rules}


def _entry(path: Path, populations: set[str]) -> Finding:
    where = f"sql/rules/{path.name}"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{where}: not valid TOML ({exc})") from None
    _check_keys(raw, (*REQUIRED, "reasons", "look_back", *WORKLIST_FIELDS), where)
    for key in REQUIRED:
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise RegistryError(f"{where}: '{key}' is missing (a text is required)")
    for key, allowed in (("kind", KINDS), ("unit", UNITS), ("direction", DIRECTIONS)):
        if raw[key] not in allowed:
            raise RegistryError(f"{where}: '{key}' must be one of {', '.join(allowed)}")
    if raw["population"] not in populations:
        population = raw["population"]
        raise RegistryError(f"{where}: population '{population}' has no sql/populations file")
    finding = Finding(
        name=path.stem,
        **{key: " ".join(raw[key].split()) for key in REQUIRED},
        reasons=_reasons(raw, where),
        look_back=_look_back(raw.get("look_back", []), where),
    )
    if finding.kind != "care_gap" and any(r.action for r in finding.reasons):
        raise RegistryError(f"{where}: only a care_gap is on the worklist (no severity or action)")
    _check_text(finding, where)
    return finding


def _look_back(names: object, where: str) -> tuple[str, ...]:
    settings = {f.name for f in fields(AuditConfig)}
    if not isinstance(names, list) or not all(n in settings for n in names):
        raise RegistryError(f"{where}: 'look_back' must be a list of settings (days)")
    return tuple(names)


def _reasons(raw: dict, where: str) -> tuple[Reason, ...]:
    if "reasons" not in raw:
        top = {key: raw[key] for key in WORKLIST_FIELDS if key in raw}
        return (_reason(None, {"label": raw["label"], **top}, where),)
    if not isinstance(raw["reasons"], dict) or not raw["reasons"]:
        raise RegistryError(f"{where}: [reasons] must hold one table per reason")
    for key in ("severity", "action"):
        if key in raw:
            raise RegistryError(f"{where}: with [reasons], '{key}' goes in each reason's table")
    shared = {key: raw[key] for key in ("evidence", "window") if key in raw}
    return tuple(
        _reason(name, {**shared, **fields_}, f"{where} {name}")
        for name, fields_ in raw["reasons"].items()
    )


def _reason(name: str | None, raw: dict, where: str) -> Reason:
    _check_keys(raw, REASON_FIELDS, where)
    if not isinstance(raw.get("label"), str) or not raw["label"].strip():
        raise RegistryError(f"{where}: 'label' is missing")
    if "window" in raw:
        window = raw["window"]
        if not (
            isinstance(window, list)
            and len(window) == 2
            and all(isinstance(w, str) and w.strip() for w in window)
        ):
            raise RegistryError(f"{where}: 'window' must be two SQL expressions, [from, to]")
        raw = {**raw, "window": tuple(window)}
    reason = Reason(name=name, **{k: v for k, v in raw.items() if v is not None})
    if bool(reason.severity) != bool(reason.action):
        raise RegistryError(f"{where}: 'severity' and 'action' go together")
    if reason.severity and reason.severity not in SEVERITIES:
        raise RegistryError(f"{where}: 'severity' must be one of {', '.join(SEVERITIES)}")
    if reason.action and not reason.evidence:
        raise RegistryError(f"{where}: a reason on the worklist needs its 'evidence' wording")
    if reason.action and not reason.window:
        raise RegistryError(f"{where}: a reason on the worklist needs its 'window' [from, to]")
    if reason.acted_by and not reason.action:
        raise RegistryError(f"{where}: 'acted_by' is for a reason on the worklist")
    if reason.acted_by and reason.acted_by not in FOLLOW_UPS:
        raise RegistryError(f"{where}: 'acted_by' must be one of {', '.join(FOLLOW_UPS)}")
    after = reason.acted_after
    if isinstance(after, str) and after not in {f.name for f in fields(AuditConfig)}:
        raise RegistryError(f"{where}: 'acted_after' {after!r} is not a setting")
    if not isinstance(after, int | str) or isinstance(after, bool):
        raise RegistryError(f"{where}: 'acted_after' must be a whole number or a setting")
    return reason


def _check_keys(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise RegistryError(f"{where}: unknown key '{unknown[0]}'; allowed: {', '.join(allowed)}")


def _check_text(finding: Finding, where: str) -> None:
    """Every {setting} in the texts a reader sees names a real setting."""
    for text in (finding.definition, *(r.label for r in finding.reasons)):
        try:
            render(text, AuditConfig())
        except (KeyError, IndexError, ValueError) as exc:
            raise RegistryError(f"{where}: {{{exc.args[0]}}} is not a setting") from None


def write_tables(con: duckdb.DuckDBPyConnection, config: AuditConfig, labels: dict) -> None:
    """The registry as tables finding_definitions and finding_reasons (texts rendered with
    this configuration), for the SQL steps and for analysts; `labels` names populations."""
    con.execute(
        "create or replace table finding_definitions (finding varchar, label varchar, "
        "kind varchar, unit varchar, unit_label varchar, population varchar, "
        "population_label varchar, "
        "direction varchar, guideline varchar, definition varchar, look_back_days integer)"
    )
    con.execute(
        "create or replace table finding_reasons (finding varchar, reason varchar, "
        "label varchar, window_open boolean, severity varchar, severity_rank integer, "
        "action varchar, acted_by varchar, acted_by_label varchar, acted_after_days integer)"
    )
    findings = registry().values()
    con.executemany(
        "insert into finding_definitions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (f.name, f.label, f.kind, f.unit, UNIT_LABELS[f.unit], f.population)
            + (labels[f.population], f.direction)
            + (f.guideline, f.defined(config), f.look_back_days(config))
            for f in findings
        ],
    )
    con.executemany(
        "insert into finding_reasons values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (f.name, r.name, render(r.label, config), r.window_open, r.severity)
            + (SEVERITY_RANK.get(r.severity), r.action, r.acted_by)
            + (FOLLOW_UPS.get(r.acted_by), r.acted_after_days(config))
            for f in findings
            for r in f.reasons
        ],
    )
