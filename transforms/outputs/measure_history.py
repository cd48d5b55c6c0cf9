"""What earlier runs published about the measures: frozen periods, restatements, and the
SPC baselines fixed so far. Carried from the output folder's published database (the last
run, one-off or scheduled) into this run's, so every run adds to the record and none moves
a past value in silence.

- `measure_published`: each complete period's counts (exact) as first published, and by
  which run. A later run whose counts for that period differ records a row in
  `measure_restatements` (the period, both values, the run and its cause) and publishes
  the new value; the report lists every restatement and marks the restated points.
- Cause, the same for every restatement of one run (the audit has no lineage from a count
  to a file): the configuration changed; else the files this run replaced (a corrected
  re-delivery, named); else later data or a changed rule (a late result that moves a
  patient to another period, or rule code edited under the same configuration).
- `spc_baselines`: each phase's baseline once complete (its chart kind, centre, spread and
  periods, and the run that fixed it). Later runs reuse it as it is, so a baseline never
  drifts; a new phase (configuration `spc_phases`) or a changed configuration starts a new
  baseline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from transforms.config import AuditConfig
from transforms.database import sql_quote
from transforms.outputs.measures import rounded
from transforms.outputs.spc import Baseline, Chart
from transforms.outputs.suppress import is_small

TABLES = {
    "measure_published": "measure varchar, interval_start date, site varchar, "
    "numerator bigint, denominator bigint, first_run_id varchar, run_id varchar",
    "measure_restatements": "measure varchar, interval_start date, site varchar, "
    "previous_numerator bigint, previous_denominator bigint, numerator bigint, "
    "denominator bigint, run_id varchar, cause varchar",
    "spc_baselines": "measure varchar, phase date, kind varchar, centre double, "
    "spread double, periods varchar, fixed_in_run varchar, definition varchar",
}
PUBLISHED, RESTATED, BASELINES = (
    ", ".join(c.split()[0] for c in TABLES[name].split(", ")) for name in TABLES
)


@dataclass
class Previous:
    """What the output folder's published database held, empty for a first run."""

    published: pd.DataFrame = field(default_factory=pd.DataFrame)
    restatements: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)
    manifest: dict = field(default_factory=dict)


# Settings that change no count (the data end moves with every delivery anyway).
NOT_DEFINING = (
    "as_of_date",
    "batch_rows",
    "period_start",
    "period_end",
    "report_site",
    "keep_runs",
    "publish_wait_seconds",
)


def definition(config: AuditConfig) -> str:
    """The settings that decide what a measure counts: a baseline holds under them only."""
    settings = {k: v for k, v in config.sql_params().items() if k not in NOT_DEFINING}
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(con: duckdb.DuckDBPyConnection, published_db: Path | str | None) -> Previous:
    if published_db is None or not Path(published_db).exists():
        return Previous()
    con.execute(f"attach '{sql_quote(str(published_db))}' as prior (read_only)")
    try:
        tables = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'prior'"
            ).fetchall()
        }
        frames = {
            name: con.execute(f"select * from prior.{name}").df() if name in tables else None
            for name in ("measure_published", "measure_restatements", "spc_baselines")
        }
        (manifest,) = con.execute("select manifest from prior.run_metadata").fetchone()
    finally:
        con.execute("detach prior")
    return Previous(
        *(frames[n] if frames[n] is not None else pd.DataFrame() for n in frames),
        manifest=json.loads(manifest),
    )


def fixed_baselines(previous: Previous, config: AuditConfig) -> dict[str, dict]:
    """measure -> {phase: Baseline} fixed by earlier runs under this configuration."""
    found: dict[str, dict] = {}
    if previous.baselines.empty:
        return found
    kept = previous.baselines[previous.baselines["definition"] == definition(config)]
    for row in kept.itertuples():
        phase = None if pd.isna(row.phase) else pd.Timestamp(row.phase).date()
        periods = tuple(date.fromisoformat(d) for d in json.loads(row.periods))
        found.setdefault(row.measure, {})[phase] = Baseline(
            phase, row.kind, row.centre, row.spread, periods, True, row.fixed_in_run
        )
    return found


def record(
    con: duckdb.DuckDBPyConnection,
    previous: Previous,
    charts: list[Chart],
    config: AuditConfig,
    run: dict,
) -> None:
    """Creates measure_published, measure_restatements and spc_baselines in this run's
    database: the previous run's, with this run's periods and baselines added."""
    run_id = run["run_id"]
    exact = con.execute(
        "select measure, interval_start, site, numerator, denominator from measure_counts "
        "where status = 'complete'"
    ).df()
    before = previous.published
    key = ["measure", "interval_start", "site"]
    if before.empty:
        merged = exact.assign(first_run_id=run_id, run_id=run_id)
        restated = pd.DataFrame(columns=RESTATED.split(", "))
    else:
        joined = exact.merge(before, on=key, how="left", suffixes=("", "_before"))
        changed = joined["numerator_before"].notna() & (
            (joined["numerator"] != joined["numerator_before"])
            | (joined["denominator"] != joined["denominator_before"])
        )
        new = joined["first_run_id"].isna()
        merged = joined.assign(
            first_run_id=joined["first_run_id"].where(~new, run_id),
            run_id=joined["run_id"].where(~(new | changed), run_id),
        )[PUBLISHED.split(", ")]
        # Periods published before and not complete now stay on record as they were.
        gone = before.merge(exact[key], on=key, how="left", indicator=True)
        merged = pd.concat([merged, before[(gone["_merge"] == "left_only").to_numpy()]])
        restated = (
            joined[changed]
            .rename(
                columns={
                    "numerator_before": "previous_numerator",
                    "denominator_before": "previous_denominator",
                }
            )
            .assign(run_id=run_id, cause=cause(previous, config, run))[RESTATED.split(", ")]
        )
    history = (
        pd.concat([previous.restatements, restated])
        if not previous.restatements.empty
        else restated
    )
    _write(con, "measure_published", merged, PUBLISHED)
    _write(con, "measure_restatements", history, RESTATED)
    _write(con, "spc_baselines", _baseline_rows(charts, config, run_id), BASELINES)


def cause(previous: Previous, config: AuditConfig, run: dict) -> str:
    settings = {r["key"]: r["value"] for r in previous.manifest.get("configuration", [])}
    now = {r["key"]: r["value"] for r in config.as_records()}
    changed = sorted(k for k in now if k in settings and settings[k] != now[k] and k != "alerts")
    if changed:
        return "configuration changed: " + ", ".join(changed)
    replaced = _replaced_files(previous.manifest, run)
    if replaced:
        return "replaced file(s): " + ", ".join(replaced)
    return "later data or a changed rule (no file replaced, same configuration)"


def _replaced_files(manifest: dict, run: dict) -> list[str]:
    """A scheduled run's corrected re-deliveries; for a one-off run, the input files whose
    bytes differ from the previous run's, or that it no longer has."""
    if "drop" in run:
        return sorted(n for n, action in run["drop"].items() if action == "replaced")
    before = {f["file"]: f["sha256"] for f in manifest.get("inputs", [])}
    now = {f["file"]: f["sha256"] for f in run.get("inputs", [])}
    return sorted(n for n, sha in before.items() if now.get(n) != sha)


def _baseline_rows(charts: list[Chart], config: AuditConfig, run_id: str) -> pd.DataFrame:
    """Every complete baseline, as fixed before or by this run."""
    rows = [
        {
            "measure": c.measure,
            "phase": b.phase,
            "kind": b.kind,
            "centre": b.centre,
            "spread": b.spread,
            "periods": json.dumps([d.isoformat() for d in b.periods]),
            "fixed_in_run": b.fixed_in_run or run_id,
            "definition": definition(config),
        }
        for c in charts
        for b in c.baselines
        if b.complete
    ]
    return pd.DataFrame(rows, columns=BASELINES.split(", "))


def _write(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, columns: str) -> None:
    con.execute(f"create or replace table {name} ({TABLES[name]})")
    if frame.empty:
        return
    con.register("frame_to_write", frame.reset_index(drop=True))
    try:
        con.execute(f"insert into {name} select {columns} from frame_to_write")
    finally:
        con.unregister("frame_to_write")


def with_record(con: duckdb.DuckDBPyConnection, shown: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The shareable table with first_published_run (the run that first published a
    complete period's value: frozen since) and restated (this run changed it)."""
    record_ = con.execute(
        """
        select p.measure, p.interval_start, p.site, p.first_run_id as first_published_run,
            r.measure is not null as restated
        from measure_published as p
        left join (select distinct measure, interval_start, site from measure_restatements
                   where run_id = $run) as r
            using (measure, interval_start, site)
        """,
        {"run": run_id},
    ).df()
    out = shown.merge(record_, on=["measure", "interval_start", "site"], how="left")
    out["restated"] = out["restated"].astype("boolean").fillna(False).astype(bool)
    return out


def shareable_restatements(
    con: duckdb.DuckDBPyConnection, config: AuditConfig, run_id: str
) -> pd.DataFrame:
    """This run's restatements of 'all sites' periods, for the report: the ratio before and
    now from counts made shareable as the measures are (rounded; blank when a count is
    hidden, or under the "suppress" policy, whose exact counts could give a hidden one)."""
    frame = con.execute(
        "select measure, interval_start, previous_numerator, previous_denominator, "
        "numerator, denominator, cause from measure_restatements "
        "where run_id = $run and site = 'all sites' order by measure, interval_start",
        {"run": run_id},
    ).df()
    for when in ("previous_", ""):
        frame[f"{when}ratio"] = [
            _shown_ratio(k, n, config)
            for k, n in zip(frame[f"{when}numerator"], frame[f"{when}denominator"], strict=True)
        ]
    return frame[["measure", "interval_start", "previous_ratio", "ratio", "cause"]]


def _shown_ratio(k: int, n: int, config: AuditConfig) -> float | None:
    if config.disclosure_policy != "round":
        return None
    if any(is_small(c, config.suppress_counts_up_to) for c in (k, n)):
        return None
    k, n = (rounded(c, config.round_counts_to) for c in (k, n))
    return k / n if n else None
