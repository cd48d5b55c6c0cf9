"""The audit configuration: every threshold, window and switch, with its default and source.

A configuration file is TOML with the keys below at top level, plus an optional
`[local_test_codes]` table mapping a site's local lab codes to LOINC. Anything unknown,
mistyped or impossible stops the run before any data is read.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from transforms import alert_settings
from transforms.errors import ConfigError

GUIDELINE = "B12 guideline"
REFERENCE = "clinical reference"


def _setting(
    default,
    source: str,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
):
    meta = {"source": source, "minimum": minimum, "maximum": maximum, "choices": choices}
    return field(default=default, metadata=meta)


def _days(default: int, source: str):
    return _setting(default, source, 0, 36_500)


@dataclass(frozen=True)
class AuditConfig:
    # --- B12 classes, canonical pg/mL: deficient value < 180; adequate value > 350.
    b12_unit_policy: str = _setting(
        "canonical",
        f"audit switch; {REFERENCE} 2.3 (canonical: convert, then 180/350 pg/mL; "
        "unit_native: < 180 pg/mL or < 150 pmol/L as reported)",
        choices=("canonical", "unit_native"),
    )
    b12_deficient_below_pg_ml: float = _setting(180.0, f"{GUIDELINE} (< 180 pg/mL)", 0)
    b12_deficient_below_pmol_l: float = _setting(
        150.0, f"{GUIDELINE} (< 150 pmol/L); used only when b12_unit_policy = unit_native", 0
    )
    b12_adequate_above_pg_ml: float = _setting(350.0, f"{GUIDELINE} (borderline 180-350)", 0)
    # Serum/plasma MMA (LOINC 13964-2): elevated when value > 271 nmol/L.
    mma_elevated_above_nmol_l: float = _setting(271.0, f"{GUIDELINE} (MMA > 271 nmol/L)", 0)
    mma_window_before_days: int = _days(30, "audit definition (MMA from 30 days before ...)")
    mma_window_after_days: int = _days(90, "audit definition (... to 90 days after)")
    # --- On-treatment results: not used to classify B12 status.
    on_treatment_after_parenteral_days: int = _days(
        90, "audit definition (within 90 days after a parenteral B12 dose)"
    )
    on_treatment_after_oral_days: int = _days(
        30,
        "b12audit assumption, unverified: extracts carry no days' supply, so an oral B12 "
        f"dose or dispense is taken as given for 30 days ({REFERENCE} 5.0: supply + 14 days)",
    )
    # --- Folate episodes and what counts as known / treated at F0.
    folate_scope: str = _setting(
        "therapeutic",
        f"audit switch; {REFERENCE} 1.2 tiers F1 / +F2 multivitamins / +F3 leucovorin",
        choices=("therapeutic", "with_low_dose", "with_low_dose_and_folinic"),
    )
    folate_episode_gap_days: int = _setting(
        365, "audit definition (new episode > 365 days later)", 1, 36_500
    )
    b12_treatment_lookback_days: int = _days(
        365, "audit definition (B12 treatment from 365 days before F0)"
    )
    same_day_b12_treatment_concurrent: bool = _setting(
        True, f"audit switch; {REFERENCE} 5 R5 (BNF: unless B12 is given concurrently) [M]"
    )
    b12_result_lookback_days: int = _days(
        365, "audit definition (B12 collected within 365 days before)"
    )
    b12_tested_after_days: int = _days(
        90, "audit definition (tested_after: within 90 days after F0)"
    )
    # A B12 product at this dose or more is the cyanide antidote (Cyanokit 5 g), not treatment.
    # Above the largest therapeutic parenteral dose (5 mg, clinical-reference 1.2), or every
    # injection would be taken for the antidote.
    b12_antidote_dose_at_least_mg: float = _setting(
        5000.0, "audit definition (exclude the 5 g Cyanokit)", 5.001
    )
    count_ordered_events: bool = _setting(
        False, "audit switch (ordered folate events count only if configured)"
    )
    # --- Neurological symptoms with a normal B12.
    neuro_include_dementia: bool = _setting(
        False, f"audit definition (dementia a separable sub-flag); {REFERENCE} 1.3 (F03.x)"
    )
    neuro_window_before_days: int = _days(
        180, "audit definition (neuro code from 180 days before ...)"
    )
    neuro_window_after_days: int = _days(30, "audit definition (... to 30 days after the B12)")
    metabolite_window_before_days: int = _days(
        30, "audit definition (MMA/homocysteine from 30 days before"
    )
    metabolite_window_after_days: int = _days(90, "audit definition (... to 90 days after)")
    # --- B12 courses: loading and maintenance (hydroxocobalamin, UK regimen).
    course_washout_days: int = _setting(
        180, "audit definition (new course: none in the 180 days before)", 1, 36_500
    )
    loading_neuro_window_before_days: int = _days(
        180, "audit definition (neuro code from 180 days before the start ...)"
    )
    loading_neuro_window_after_days: int = _days(14, "audit definition (... to 14 days after)")
    loading_window_days: int = _setting(
        15, "audit definition (6 doses in the first 15 days)", 1, 365
    )
    loading_min_doses: int = _setting(
        6, f"audit definition; {GUIDELINE} (3 times weekly for 2 weeks)", 1
    )
    neuro_loading_window_days: int = _setting(14, "audit definition (7 doses in 14 days)", 1, 365)
    neuro_loading_min_doses: int = _setting(7, f"audit definition; {GUIDELINE} (alternate days)", 1)
    neuro_loading_max_gap_days: int = _setting(
        3, "audit definition (a gap over 3 days during loading)", 1, 365
    )
    maintenance_interval_days: int = _setting(
        91,
        f"audit definition; {GUIDELINE} (every 2-3 months without neurological symptoms)",
        1,
        3650,
    )
    maintenance_interval_neuro_days: int = _setting(
        61, f"audit definition; {GUIDELINE} (every 2 months with neurological symptoms)", 1, 3650
    )
    maintenance_grace_days: int = _days(30, f"audit definition; {REFERENCE} R7 (grace 30 days)")
    lifelong_when_cause_unknown: bool = _setting(
        True, f"audit switch; {REFERENCE} R7 (NICE/SPS: continue if cause unknown)"
    )
    # --- A confirmed deficiency (deficient B12, or borderline with a raised MMA) treated.
    untreated_within_days: int = _days(
        30, "audit definition (B12 treatment within 30 days after the result was known)"
    )
    untreated_treatment_before_days: int = _days(
        30, "audit definition (treatment from 30 days before the result's collection counts)"
    )
    # --- The oral alternative: "1000-2000 mcg daily ... for patients without severe
    # deficiency". The guideline does not define severe: these limits are assumptions.
    severe_b12_below_pg_ml: float = _setting(
        100.0, f"audit definition; {REFERENCE} 7 item 11 ('severe' undefined: an assumption)", 0
    )
    severe_hb_below_g_l: float = _setting(
        80.0, f"audit definition; {REFERENCE} 7 item 11 ('severe' undefined: an assumption)", 0
    )
    severe_result_within_days: int = _days(
        30, "audit definition (an oral course started within 30 days after the severe result)"
    )
    oral_dose_at_least_mcg: float = _setting(1000.0, f"{GUIDELINE} (oral 1000-2000 mcg daily)", 0)
    oral_dose_dietary_exempt: bool = _setting(
        False, f"audit switch; {REFERENCE} 3.3 (dietary deficiency: 50-150 mcg daily)"
    )
    # --- Monitoring after a new course in an anaemic patient (not in the guideline text).
    anaemia_hb_below_g_l_men: float = _setting(130.0, f"{REFERENCE} 3.4 (WHO, men) [M]", 0)
    anaemia_hb_below_g_l_women: float = _setting(
        120.0, f"{REFERENCE} 3.4 (WHO, non-pregnant women; also sex unknown) [M]", 0
    )
    anaemia_window_before_days: int = _days(
        30, "audit definition (Hb within 30 days before the start)"
    )
    fbc_window_from_days: int = _days(
        42, f"audit definition; {REFERENCE} 3.5 (FBC at 8 weeks: 6 ...)"
    )
    fbc_window_to_days: int = _days(70, f"audit definition; {REFERENCE} 3.5 (... to 10 weeks)")
    # --- Descriptive tags (never inputs to B12 or folate findings).
    macrocytosis_mcv_above_fl: float = _setting(
        100.0, f"audit definition; {REFERENCE} 3.4 (MCV > 100 fL)", 0
    )
    context_window_days: int = _days(
        30, "audit definition (MCV within 30 days of a B12 result; the same window for Hb)"
    )
    esr_min_age_years: int = _setting(18, f"{REFERENCE} 4 (Miller rule derived in adults)", 0, 130)
    # The data end for "pending" decisions; None = the latest date in the extract.
    as_of_date: dt.date | None = _setting(None, "audit definition (latest date in the extract)")
    # An OMOP vocabulary folder (an Athena download: CONCEPT and CONCEPT_ANCESTOR, any case,
    # .csv tab- or comma-separated, or .parquet) for an extract in another format: every
    # RxNorm drug under cyanocobalamin, hydroxocobalamin or folic acid is then classed by
    # its ingredient (transforms/inputs/adapters/omop.py `vocabulary_classes`).
    vocabulary_dir: str | None = _setting(None, "site vocabulary (none: the code lists only)")
    # --- Validation.
    max_quarantine_fraction: float = _setting(0.05, "b12audit default", 0, 1)
    reject_future_dates: bool = _setting(False, "audit definition (shifted research extracts)")
    # Event dates more than this many years before the first quartile or after the third
    # quartile of all event dates are quarantined (date_implausible): a 9999-12-31 or a
    # 1900-01-01 placeholder; shifted research dates move the quartiles with them.
    plausible_years_around_bulk: int = _setting(
        30, "b12audit default (outlier dates must not move the data end)", 1, 5_000
    )
    batch_rows: int = _setting(250_000, "b12audit default (memory bound of validation)", 1_000)
    # Information governance: counts 1..7 are hidden in shareable outputs.
    suppress_counts_up_to: int = _setting(7, "audit definition (counts from 1 to 7 suppressed)", 1)
    # How the shareable measures are made safe: "round" (OpenSAFELY-style: counts from 1
    # to suppress_counts_up_to hidden, every other count rounded to the nearest
    # round_counts_to, ratios from the rounded counts) or "suppress" (exact counts, small
    # ones and any that subtraction would give away hidden).
    disclosure_policy: str = _setting(
        "round",
        "OpenSAFELY-style output checking (hide 1 to 7, round the rest)",
        choices=("round", "suppress"),
    )
    round_counts_to: int = _setting(5, "OpenSAFELY-style output checking (nearest 5)", 1, 100)
    # --- Measures and SPC (NHS "Making Data Count").
    # A measure whose median monthly denominator (all sites) is below this is measured by
    # quarter instead of by month; 0 measures every finding monthly.
    quarterly_below_monthly_denominator: int = _setting(
        20, "b12audit default (quarters where monthly denominators are small)", 0
    )
    spc_baseline_periods: int = _setting(
        12, "NHS Making Data Count (limits from the first 12 complete periods)", 2, 120
    )
    # auto: an XmR chart unless the baseline's denominators vary by more than 25 % around
    # their mean, then Laney's p' chart; or always "xmr", "p" or "laney".
    spc_chart: str = _setting(
        "auto",
        "NHS Making Data Count (XmR); Laney p' where denominators vary",
        choices=("auto", "xmr", "p", "laney"),
    )
    # --- The output folder.
    # Published runs kept in OUT/runs/ (older run folders are deleted after a publish; the
    # scheduled history and the analysts' database are never touched).
    keep_runs: int = _setting(12, "b12audit default (a year of monthly runs)", 1, 10_000)
    # How long publishing waits for an analyst's read-write session on the database to
    # close before it stops (the run's files stay in its building folder).
    publish_wait_seconds: int = _setting(60, "b12audit default", 0, 86_400)
    # --- Where the rules run: DuckDB on this machine, or an Apache Spark cluster (the
    # `spark` extra; docs/spark.md). Spark reads the input at any path Spark reads and
    # writes its outputs as Parquet to spark_output; the report is built from them here.
    engine: str = _setting(
        "duckdb", "b12audit default (spark: the same rules on Spark)", choices=("duckdb", "spark")
    )
    spark_master: str | None = _setting(
        None, "site setting (none: SPARK_MASTER, else spark-submit's or local[*])"
    )
    spark_output: str | None = _setting(
        None, "site setting (none: the run's patient_level/parquet; a cluster needs shared storage)"
    )
    # --- What the report shows (no count's definition changes with these).
    # The measured period: findings and denominators whose unit is dated in it (inclusive);
    # none: from the data start, to the data end. `b12audit run --from/--to` set them.
    period_start: dt.date | None = _setting(None, "site decision (the period the report covers)")
    period_end: dt.date | None = _setting(None, "site decision (the period the report covers)")
    # One site's report (its counts and charts, beside all sites'); `b12audit run --site`.
    report_site: str | None = _setting(None, "site decision (one site's report)")
    # Re-baselining: [spc_phases] finding = [dates]; each date starts a new phase of the
    # chart with its own baseline (a change of pathway, say), drawn as a break.
    spc_phases: dict[str, list[dt.date]] = field(
        default_factory=dict,
        metadata={"source": "site decision", "minimum": None, "maximum": None, "choices": None},
    )
    # Targets for the assurance icon: [measure_targets] finding = proportion (0 to 1).
    measure_targets: dict[str, float] = field(
        default_factory=dict,
        metadata={"source": "site targets", "minimum": None, "maximum": None, "choices": None},
    )
    local_test_codes: dict[str, str] = field(
        default_factory=dict,
        metadata={"source": "site mapping", "minimum": None, "maximum": None, "choices": None},
    )
    # Where a failed run or a measure's signal is told: [alerts] in the TOML file.
    alerts: dict[str, object] = field(
        default_factory=dict,
        metadata={"source": "site settings", "minimum": None, "maximum": None, "choices": None},
    )

    # Spark settings for the session: [spark] "spark.executor.memory" = "8g" (any key).
    spark: dict[str, str] = field(
        default_factory=dict,
        metadata={"source": "site settings", "minimum": None, "maximum": None, "choices": None},
    )

    def sql_params(self) -> dict[str, object]:
        """The values bound as `$name` parameters in sql/ files."""
        values = asdict(self)
        for name in DICT_SETTINGS:
            values.pop(name)
        return values

    def as_records(self) -> list[dict[str, object]]:
        """One row per setting with its value and source, for the report and manifest.
        Alert addresses are described, not shown: a webhook URL may carry a secret."""
        return [
            {
                "key": f.name,
                "value": alert_settings.describe(self.alerts)
                if f.name == "alerts"
                else _render(getattr(self, f.name), f.name),
                "source": f.metadata["source"],
            }
            for f in fields(self)
        ]


# Settings that are TOML tables rather than values (never bound as SQL parameters).
DICT_SETTINGS = ("local_test_codes", "alerts", "measure_targets", "spc_phases", "spark")


def _targets(value: object, where: str) -> dict[str, float]:
    """Each target is a proportion (that each names a finding, the registry checks:
    transforms/rules/registry.py `check_named_findings`)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of finding = proportion (0 to 1)")
    for name, target in value.items():
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 <= target <= 1:
            raise ConfigError(f"{where}.{name} must be a proportion from 0 to 1, got {target!r}")
    return {name: float(target) for name, target in value.items()}


def _vocabulary_dir(value: object, where: str) -> str:
    """A folder holding an OMOP concept and concept_ancestor table (a path from the
    working directory, or absolute)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be the path of a folder, as text")
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"{where}: {value} is not a folder")
    names = {p.name.lower() for p in folder.iterdir()}
    for table in ("concept", "concept_ancestor"):
        if not {f"{table}.csv", f"{table}.parquet"} & names:
            raise ConfigError(f"{where}: {value} has no {table.upper()}.csv or .parquet")
    return str(folder.resolve())


def _phases(value: object, where: str) -> dict[str, list[dt.date]]:
    """Each finding's re-baselining dates, as TOML dates (sorted)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of finding = [dates]")
    for name, dates in value.items():
        ok = isinstance(dates, list) and all(
            isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in dates
        )
        if not ok:
            raise ConfigError(f"{where}.{name} must be a list of TOML dates such as [2025-06-01]")
    return {name: sorted(dates) for name, dates in value.items()}


# The clinical switches a QI team chooses between; the report's sensitivity table flips each.
SWITCHES = (
    "b12_unit_policy",
    "folate_scope",
    "count_ordered_events",
    "same_day_b12_treatment_concurrent",
    "lifelong_when_cause_unknown",
    "neuro_include_dementia",
    "oral_dose_dietary_exempt",
)


def flipped(config: AuditConfig, key: str) -> list[AuditConfig]:
    """The configurations that differ from `config` only in switch `key`."""
    spec = next(f for f in fields(AuditConfig) if f.name == key)
    current = getattr(config, key)
    options = spec.metadata["choices"] or (True, False)
    return [replace(config, **{key: option}) for option in options if option != current]


NONE_SHOWN = {
    "spark_master": "(SPARK_MASTER, spark-submit's, or local[*])",
    "spark_output": "(the run's patient_level/parquet)",
    "as_of_date": "(latest date in the extract)",
    "period_start": "(the data start)",
    "period_end": "(the data end)",
    "report_site": "(all sites)",
}


DATE_SETTINGS = ("as_of_date", "period_start", "period_end")


def _date_text(value: object) -> object:
    """An ISO date given as text (a flow parameter) as a date; anything else as given."""
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return value


def with_overrides(config: AuditConfig, overrides: dict, origin: str) -> AuditConfig:
    """The configuration with settings given on the command line (`--from`, `--to`,
    `--site`), checked as a file's would be."""
    known = {f.name: f for f in fields(AuditConfig)}
    given = {
        k: _check(k, _date_text(v) if k in DATE_SETTINGS else v, known[k], origin)
        for k, v in overrides.items()
        if v is not None
    }
    changed = replace(config, **given)
    _check_orders(changed, origin)
    return changed


def _render(value: object, name: str = "") -> str:
    if name == "spark":  # the keys only: a value may be a storage secret
        return ", ".join(sorted(value)) or "(none)"
    if name == "vocabulary_dir" and value is not None:
        return Path(str(value)).name  # the folder's name only: a path can name a person
    if isinstance(value, dict):
        shown = {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in value.items()}
        return ", ".join(f"{k} -> {v}" for k, v in sorted(shown.items())) or "(none)"
    if value is None:
        return NONE_SHOWN.get(name, "(none)")
    return str(value)


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
    _check_orders(config, origin)
    return config


# The B12 molar factor, only to check the pmol/L limit against the pg/mL one; conversions
# themselves use sql/reference/unit_conversions.csv (a test keeps the two equal).
PG_ML_PER_PMOL_L = 1.35537

ORDERED_PAIRS = (  # (lower, upper): the first must not exceed the second
    ("b12_deficient_below_pg_ml", "b12_adequate_above_pg_ml"),
    ("fbc_window_from_days", "fbc_window_to_days"),
    ("anaemia_hb_below_g_l_women", "anaemia_hb_below_g_l_men"),
)


def _check_orders(config: AuditConfig, origin: str) -> None:
    for low, high in ORDERED_PAIRS:
        if getattr(config, low) > getattr(config, high):
            raise ConfigError(
                f"{origin}: {low} ({getattr(config, low)}) must not be above {high} "
                f"({getattr(config, high)})"
            )
    if config.period_start and config.period_end and config.period_start > config.period_end:
        raise ConfigError(
            f"{origin}: period_start ({config.period_start}) must not be after period_end "
            f"({config.period_end})"
        )
    longest_interval = max(config.maintenance_interval_days, config.maintenance_interval_neuro_days)
    if config.course_washout_days <= longest_interval + config.maintenance_grace_days:
        raise ConfigError(
            f"{origin}: course_washout_days ({config.course_washout_days}) must be above the "
            f"longest maintenance interval plus grace ({longest_interval} + "
            f"{config.maintenance_grace_days}), or a late maintenance dose starts a new course"
        )
    molar_limit = config.b12_deficient_below_pmol_l * PG_ML_PER_PMOL_L
    if molar_limit > config.b12_adequate_above_pg_ml:
        raise ConfigError(
            f"{origin}: b12_deficient_below_pmol_l ({config.b12_deficient_below_pmol_l} pmol/L = "
            f"{molar_limit:.1f} pg/mL) must not be above b12_adequate_above_pg_ml "
            f"({config.b12_adequate_above_pg_ml})"
        )
    for window, doses in (
        ("loading_window_days", "loading_min_doses"),
        ("neuro_loading_window_days", "neuro_loading_min_doses"),
    ):
        if getattr(config, doses) > getattr(config, window):
            raise ConfigError(
                f"{origin}: {doses} ({getattr(config, doses)}) cannot fit in {window} "
                f"({getattr(config, window)}): at most one dose a day counts"
            )


def _check(name: str, value: object, f, origin: str) -> object:
    default = f.default if f.name not in DICT_SETTINGS else {}
    where = f"{origin}: {name}"
    if name == "alerts":
        return alert_settings.check(value, where)
    if name == "measure_targets":
        return _targets(value, where)
    if name == "spc_phases":
        return _phases(value, where)
    if name == "local_test_codes":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f'{where} must be a table of local code = "LOINC code"')
        return {str(k).strip(): v.strip() for k, v in value.items()}
    if name == "vocabulary_dir":
        return _vocabulary_dir(value, where)
    if name == "spark":
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | bool) for v in value.values()
        ):
            raise ConfigError(f'{where} must be a table of Spark settings, "spark.key" = "value"')
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    if name in ("spark_master", "spark_output"):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where} must be text (a Spark master URL or a path)")
        return value.strip()
    if name in DATE_SETTINGS:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        raise ConfigError(f"{where} must be a TOML date such as 2025-12-31, got {value!r}")
    if name == "report_site":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where} must be a site's name as the extract gives it")
        return value.strip()
    choices = f.metadata["choices"]
    if choices:
        if value not in choices:
            raise ConfigError(f"{where} must be one of {', '.join(choices)}; got {value!r}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int) and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where} must be a whole number of days or rows, got {value!r}")
    if isinstance(default, float) and (
        not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
    ):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    low, high = f.metadata["minimum"], f.metadata["maximum"]
    if low is not None and value < low:
        raise ConfigError(f"{where} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{where} must be <= {high}, got {value!r}")
    return float(value) if isinstance(default, float) else value
