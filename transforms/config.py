"""The audit configuration: every threshold, window and switch, with its default and source.

A configuration file is TOML with the keys below at top level, plus an optional
`[local_test_codes]` table mapping a site's local lab codes to LOINC. Anything unknown,
mistyped or impossible stops the run before any data is read.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

GUIDELINE = "shared/guideline.txt (issue 2 defaults)"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the key."""


def _setting(default, source: str, minimum: float | None = None, maximum: float | None = None):
    meta = {"source": source, "minimum": minimum, "maximum": maximum}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class AuditConfig:
    # B12 classes, canonical pg/mL. deficient: value < 180; adequate: value > 350.
    b12_deficient_below_pg_ml: float = _setting(180.0, GUIDELINE, 0)
    b12_adequate_above_pg_ml: float = _setting(350.0, GUIDELINE, 0)
    # Serum/plasma MMA (LOINC 13964-2): elevated when value > 271 nmol/L.
    mma_elevated_above_nmol_l: float = _setting(271.0, GUIDELINE, 0)
    mma_window_before_days: int = _setting(30, "issue 2 (MMA from 30 days before ...)", 0)
    mma_window_after_days: int = _setting(90, "issue 2 (... to 90 days after)", 0)
    # Folate episodes and what counts as known / treated at F0.
    folate_episode_gap_days: int = _setting(365, "issue 2 (new episode > 365 days later)", 1)
    b12_treatment_lookback_days: int = _setting(
        365, "issue 2 (B12 treatment from 365 days before F0)", 0
    )
    b12_result_lookback_days: int = _setting(
        365, "issue 2 (B12 collected within 365 days before)", 0
    )
    b12_tested_after_days: int = _setting(90, "issue 2 (tested_after: within 90 days after F0)", 0)
    # A B12 product at this dose or more is the cyanide antidote (Cyanokit 5 g), not treatment.
    b12_antidote_dose_at_least_mg: float = _setting(5000.0, "issue 2 (exclude the 5 g Cyanokit)", 0)
    count_ordered_events: bool = _setting(
        False, "issue 2 (ordered events count only if configured)"
    )
    # The data end for "pending" decisions; None = the latest date in the extract.
    as_of_date: dt.date | None = _setting(None, "issue 2 (latest date in the extract)")
    # Validation.
    max_quarantine_fraction: float = _setting(0.05, "b12audit default", 0, 1)
    reject_future_dates: bool = _setting(False, "issue 2 (shifted research extracts)")
    batch_rows: int = _setting(250_000, "b12audit default (memory bound of validation)", 1_000)
    # Information governance: counts 1..7 are suppressed in shareable outputs.
    suppress_counts_up_to: int = _setting(7, "issue 2 (counts from 1 to 7 suppressed)", 0)
    local_test_codes: dict[str, str] = field(
        default_factory=dict, metadata={"source": "site mapping", "minimum": None, "maximum": None}
    )

    def sql_params(self) -> dict[str, object]:
        """The values bound as `$name` parameters in sql/ files."""
        values = asdict(self)
        values.pop("local_test_codes")
        return values

    def as_records(self) -> list[dict[str, object]]:
        """One row per setting with its value and source, for the report and manifest."""
        return [
            {"key": f.name, "value": _render(getattr(self, f.name)), "source": f.metadata["source"]}
            for f in fields(self)
        ]


def _render(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} -> {v}" for k, v in sorted(value.items())) or "(none)"
    return "(latest date in the extract)" if value is None else str(value)


def load_config(path: Path | None) -> AuditConfig:
    if path is None:
        return AuditConfig()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return config_from_mapping(raw, origin=str(path))


def config_from_mapping(raw: dict, origin: str = "configuration") -> AuditConfig:
    known = {f.name: f for f in fields(AuditConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(known))}"
        )
    values = {name: _check(name, value, known[name], origin) for name, value in raw.items()}
    config = AuditConfig(**values)
    if config.b12_adequate_above_pg_ml < config.b12_deficient_below_pg_ml:
        raise ConfigError(
            f"{origin}: b12_adequate_above_pg_ml ({config.b12_adequate_above_pg_ml}) must not be "
            f"below b12_deficient_below_pg_ml ({config.b12_deficient_below_pg_ml})"
        )
    return config


def _check(name: str, value: object, f, origin: str) -> object:
    default = f.default if f.name != "local_test_codes" else {}
    where = f"{origin}: {name}"
    if name == "local_test_codes":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f'{where} must be a table of local code = "LOINC code"')
        return {str(k).strip(): v.strip() for k, v in value.items()}
    if name == "as_of_date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        raise ConfigError(f"{where} must be a TOML date such as 2025-12-31, got {value!r}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int) and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where} must be a whole number of days or rows, got {value!r}")
    if isinstance(default, float) and (
        not isinstance(value, int | float) or isinstance(value, bool)
    ):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    low, high = f.metadata["minimum"], f.metadata["maximum"]
    if low is not None and value < low:
        raise ConfigError(f"{where} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{where} must be <= {high}, got {value!r}")
    return float(value) if isinstance(default, float) else value
