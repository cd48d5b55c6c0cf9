"""Report: the run's output files.

Restricted files go to `patient_level/`: findings.csv and quarantine.csv (patient rows) and
mapping_review.csv (the extract's own unmapped drug names and test codes, free text from the
source). Shareable files (report.html, summary.csv, quarantine_summary.csv,
evaluability.csv, sensitivity.csv, measures.csv, measure_reports.json) go to `shareable/`
and carry no
identifiers and no unsuppressed count from 1 to 7. Large tables are written by DuckDB.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from schemas.canonical import CHECK_MEANING
from transforms.config import AuditConfig
from transforms.database import sql_quote
from transforms.errors import InputError
from transforms.outputs import (
    fhir_measures,
    funnel,
    headline,
    measure_history,
    measures,
    reaudit,
    run_charts,
    spc,
    worklist,
)
from transforms.outputs.report_html import ReportTables, render_report
from transforms.outputs.suppress import is_small, suppress_column, suppress_counts
from transforms.rules.harmonise import parameters
from transforms.rules.registry import registry
from transforms.sqlfiles import bind, sql_text

FINDINGS_CSV = """
    copy (
        select patient_id, finding, reason, index_date, episode,
               evidence_text(evidence_lab_row_ids) as evidence_lab_row_ids,
               evidence_text(evidence_medication_row_ids) as evidence_medication_row_ids,
               evidence_text(evidence_diagnosis_row_ids) as evidence_diagnosis_row_ids,
               site
        from findings order by finding, patient_id, index_date, episode
    ) to '{path}' (header, delimiter ',')
"""
QUARANTINE_CSV = """
    copy (select * from quarantine order by source_file, source_line, column_name, check_name)
    to '{path}' (header, delimiter ',')
"""


def write_outputs(
    con: duckdb.DuckDBPyConnection, run_dir: Path, config: AuditConfig, run: dict
) -> dict[str, str]:
    patient_dir, share_dir = run_dir / "patient_level", run_dir / "shareable"
    patient_dir.mkdir(parents=True, exist_ok=True)
    share_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "findings": patient_dir / "findings.csv",
        "quarantine": patient_dir / "quarantine.csv",
        "summary": share_dir / "summary.csv",
        "quarantine_summary": share_dir / "quarantine_summary.csv",
        "mapping_review": patient_dir / "mapping_review.csv",
        "evaluability": share_dir / "evaluability.csv",
        "sensitivity": share_dir / "sensitivity.csv",
        "measures": share_dir / "measures.csv",
        "measure_reports": share_dir / "measure_reports.json",
        "report": share_dir / "report.html",
    }
    if run.get("previous_run_id"):
        paths["reaudit_summary"] = share_dir / "reaudit_diff.csv"
        paths["reaudit"] = patient_dir / "reaudit_diff.csv"
    con.execute(FINDINGS_CSV.format(path=sql_quote(str(paths["findings"]))))
    con.execute(QUARANTINE_CSV.format(path=sql_quote(str(paths["quarantine"]))))
    con.execute(
        f"copy ({sql_text('report/mapping_review.sql')}) to "
        f"'{sql_quote(str(paths['mapping_review']))}' (header, delimiter ',')"
    )
    params = parameters(config, run["scope"])
    summary = shareable_summary(con, config)
    check_report_site(summary, config)
    tables = ReportTables(
        summary=summary,
        quarantine=quarantine_summary(con, config),
        usability=lab_usability(con, config),
        evaluability=_suppressed_query(con, "report/evaluability.sql", params, "count", config),
        sensitivity=sensitivity_table(con, config),
        esr_overlap=esr_overlap(con, config),
        mapping_review=mapping_review_counts(con, config),
        code_lists=code_list_sizes(con),
        population=population(con, config),
        **measures_and_charts(con, config, paths, run),
        reaudit=_reaudit(con, config, paths),
    )
    for name in ("summary", "quarantine", "evaluability", "sensitivity"):
        key = "quarantine_summary" if name == "quarantine" else name
        getattr(tables, name).to_csv(paths[key], index=False)
    paths["report"].write_text(render_report(tables, config, run), encoding="utf-8")
    worklist.build(con, config)
    written = {name: str(path) for name, path in paths.items()}
    return {**written, **worklist.write(con, patient_dir)}


def _reaudit(con: duckdb.DuckDBPyConnection, config: AuditConfig, paths: dict):
    """The diff against the previous run (None for a first or one-off run)."""
    if "reaudit" not in paths:
        return None
    reaudit.write_patient_level(con, paths["reaudit"])
    frame = reaudit.shareable(con, config.suppress_counts_up_to)
    frame.to_csv(paths["reaudit_summary"], index=False)
    return frame


def measures_and_charts(
    con: duckdb.DuckDBPyConnection, config: AuditConfig, paths: dict, run: dict
) -> dict[str, list]:
    """Builds measure_counts, writes its shareable version as CSV and as FHIR
    MeasureReports, and returns the report's SPC charts (points drawn from the shareable
    table; limits and signals from exact counts, less those that would tell a hidden count:
    `measures.shareable_charts`)."""
    measures.build(con, config)
    exact = measures.exact(con)
    previous = measure_history.load(con, run.get("published_db"))
    shareable = measures.shareable(exact, config)
    fixed = measure_history.fixed_baselines(previous, config)
    charts = measures.charts(exact, config, shareable, fixed)
    measure_history.record(con, previous, charts, config, run)
    care_gaps = {name for name, f in registry().items() if f.kind == "care_gap"}
    write_alerts(con, charts, care_gaps)
    shown = measure_history.with_record(con, shareable, run["run_id"])
    shown[list(SHAREABLE_MEASURE_COLUMNS)].to_csv(paths["measures"], index=False)
    reports = fhir_measures.bundle(shown, registry(), run["run_id"], dt.datetime.now())
    paths["measure_reports"].write_text(reports, encoding="utf-8")
    in_period = periods_within(shown, config)
    return {
        "latest": {
            site: headline.latest_periods(in_period, site) for site in sorted(set(shown["site"]))
        },
        "run_charts": run_charts.run_charts(charts, shown),
        "signals": spc.signals(charts),
        "restatements": measure_history.shareable_restatements(con, config, run["run_id"]),
        **by_site(exact, config, shown, care_gaps),
    }


def periods_within(shown: pd.DataFrame, config: AuditConfig) -> pd.DataFrame:
    """The measure periods wholly inside the period the report covers."""
    starts = pd.to_datetime(shown["interval_start"])
    ends = pd.to_datetime(shown["interval_end"])
    inside = pd.Series(True, index=shown.index)
    if config.period_start:
        inside &= starts >= pd.Timestamp(config.period_start)
    if config.period_end:
        inside &= ends <= pd.Timestamp(config.period_end)
    return shown[inside]


def write_alerts(
    con: duckdb.DuckDBPyConnection, charts: list[spc.Chart], care_gaps: set[str]
) -> None:
    """Table measure_alerts: what a scheduled run tells the alert channels, from the very
    charts the report draws: special cause concern on a care-gap measure's latest complete
    period (spc.latest_concerns), never a status or descriptive measure."""
    rows = [
        (s.measure, s.month, s.kind) for s in spc.latest_concerns(charts) if s.measure in care_gaps
    ]
    con.execute(
        "create or replace table measure_alerts (measure varchar, period date, kind varchar)"
    )
    if rows:
        con.executemany("insert into measure_alerts values (?, ?, ?)", rows)


def by_site(
    exact: pd.DataFrame, config: AuditConfig, shown: pd.DataFrame, care_gaps: set[str]
) -> dict:
    """Per care-gap measure: a chart for each site (their own baselines, computed each
    run, never alerted on) and the funnel plot of its latest complete period."""
    sites = sorted(set(shown["site"]) - {measures.ALL_SITES})
    site_charts: dict[str, list] = {m: [] for m in care_gaps}
    for site in sites:
        charts = measures.charts(exact, config, shown, site=site)
        for chart in run_charts.run_charts(
            [c for c in charts if c.measure in care_gaps], shown, site
        ):
            site_charts[chart.measure].append((site, chart))
    plots = {m: funnel.funnel(m, exact, shown) for m in care_gaps}
    return {
        "site_charts": site_charts,
        "funnels": {m: funnel.funnel_svg(p) for m, p in plots.items() if p is not None},
    }


# shareable/measures.csv, in the shape measures are published in (OpenSAFELY's measures).
# fmt: off
SHAREABLE_MEASURE_COLUMNS = (
    "measure", "period", "interval_start", "interval_end", "site", "numerator", "denominator",
    "ratio", "pending", "status", "status_reason", "first_published_run", "restated",
    "numerator_suppressed", "denominator_suppressed", "pending_suppressed",
    "centre_line_withheld",
)
# fmt: on


def check_report_site(summary: pd.DataFrame, config: AuditConfig) -> None:
    """A report for one site needs that site in the extract."""
    site = config.report_site
    sites = sorted(set(summary["site"]) - {"all sites"})
    if site and site not in sites:
        raise InputError(
            f"report_site {site!r} is not a site of this extract; its sites are: "
            + (", ".join(sites) or "(none)")
        )


def mapping_review_counts(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """The mapping review by kind and status: how many codes, on how many rows (the codes
    themselves are free text from the source: patient_level/mapping_review.csv)."""
    frame = con.execute(
        f"select kind, status, count(*) as codes, sum(rows)::bigint as rows "
        f"from ({sql_text('report/mapping_review.sql')}) group by all order by all"
    ).df()
    return suppress_column(frame, "rows", config.suppress_counts_up_to)


def code_list_sizes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        """
        select concept_set, string_agg(distinct system, ', ' order by system) as systems,
            count(distinct code) as codes
        from ref_concepts group by all order by concept_set
        """
    ).df()


def population(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> int | None:
    """Patients with an audited lab result or medication event in the measured period, at
    the report's site when it has one (the event's site, else the patient's registered
    site); None when the count is small enough to be suppressed."""
    count = con.execute(
        """
        select count(distinct e.patient_id) from (
            select patient_id, collected_at::date as day, site from lab_results
            union all
            select patient_id, event_at::date, site from medications
        ) as e
        left join patient_facts as p using (patient_id)
        where ($period_start is null or e.day >= $period_start)
            and ($period_end is null or e.day <= $period_end)
            and ($site is null or coalesce(e.site, p.site) = $site)
        """,
        {
            "period_start": config.period_start,
            "period_end": config.period_end,
            "site": config.report_site,
        },
    ).fetchone()[0]
    return None if is_small(count, config.suppress_counts_up_to) else count


def shareable_summary(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    sql = sql_text("report/finding_counts.sql")
    counts = con.execute(sql, bind(sql, config.sql_params())).df()
    return suppress_counts(counts, config.suppress_counts_up_to)


def quarantine_summary(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """Rows quarantined by file, column and check: counts of rows (1 to 7 suppressed),
    never values. The values are in patient_level/quarantine.csv."""
    frame = con.execute(
        """
        select source_file, table_name, column_name, check_name,
               count(distinct source_line) as rows
        from quarantine group by all order by all
        """
    ).df()
    frame["meaning"] = frame["check_name"].map(CHECK_MEANING).fillna("")
    return suppress_column(frame, "rows", config.suppress_counts_up_to)


def _suppressed_query(
    con: duckdb.DuckDBPyConnection, file: str, params: dict, column: str, config: AuditConfig
) -> pd.DataFrame:
    sql = sql_text(file)
    frame = con.execute(sql, bind(sql, params)).df()
    return suppress_column(frame, column, config.suppress_counts_up_to)


def sensitivity_table(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """Findings gained and lost if each switch were flipped (table `sensitivity`)."""
    frame = con.execute("select * from sensitivity order by all").df()
    frame = suppress_column(frame, "findings_gained", config.suppress_counts_up_to)
    frame = frame.rename(columns={"suppressed": "gained_suppressed"})
    frame = suppress_column(frame, "findings_lost", config.suppress_counts_up_to)
    return frame.rename(columns={"suppressed": "lost_suppressed"})


# The guideline's statement on ESR and B12 is about these findings by name.
DEFICIENCY, ESR = ("b12_deficient", "b12_functional_deficiency"), "elevated_esr"


def esr_overlap(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """Patients with B12 deficiency (b12_deficient or b12_functional_deficiency), and how
    many of them also have an elevated ESR: context only, ESR changes no B12 decision."""
    missing = sorted({*DEFICIENCY, ESR} - set(registry()))
    if missing:  # renamed or removed: this section would count nothing, silently
        raise RuntimeError(f"the ESR section names findings the registry lacks: {missing}")
    frame = con.execute(
        """
        with deficient as (
            select distinct patient_id from findings where finding in $deficiency),
        esr as (select distinct patient_id from findings where finding = $esr)
        select 'patients with B12 deficiency' as patients, count(*) as count from deficient
        union all
        select '... of whom with an elevated ESR', count(*)
        from deficient inner join esr using (patient_id)
        """,
        {"deficiency": list(DEFICIENCY), "esr": ESR},
    ).df()
    frame = suppress_column(frame, "count", config.suppress_counts_up_to)
    # total - overlap is a count too: when it is small, hide the overlap so it cannot be
    # worked out by subtraction.
    total, overlap = frame["count"].tolist()
    if not frame["suppressed"].any() and is_small(
        int(total) - int(overlap), config.suppress_counts_up_to
    ):
        frame.loc[1, ["count", "suppressed"]] = [pd.NA, True]
    return frame


def lab_usability(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """Audited lab rows by analyte and status: how many could be used, and why not
    (including results collected on B12 treatment)."""
    frame = con.execute(
        """
        select analyte, status, coalesce(status_reason, '') as reason, count(*) as rows
        from lab_harmonised group by all order by all
        """
    ).df()
    return suppress_column(frame, "rows", config.suppress_counts_up_to)
