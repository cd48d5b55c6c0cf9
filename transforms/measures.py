"""Monthly measures: per finding, numerator, denominator and rate by month and site.

`build` writes the exact counts (table `measure_counts`, sql/report/measures_monthly.sql).
`shareable` is the version for shareable/measures_monthly.csv: counts from 1 to `up_to` are
hidden, and more cells are hidden so that none can be worked out by subtraction:

- within a (measure, month), from the 'all sites' total minus the shown sites;
- along a (measure, site) series of months, from the all-months total, which summary.csv
  publishes; for 'all sites' the baseline months and the later months are each such a group,
  since the run chart's centre line is the baseline's rate (and the denominators are shown);
- denominator minus numerator (the units without the finding) is a count too: when both are
  shown it is never from 1 to `up_to` (the numerator is hidden instead).

A group is safe when none or at least two of its cells are hidden (one equation cannot
settle two unknowns); a lone hidden cell makes the next-smallest cell hidden too, zeros
included (a hidden zero is as unknown as any other hidden cell).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from transforms import harmonise
from transforms.config import AuditConfig
from transforms.sqlfiles import bind, sql_text

COUNTS = ("numerator", "denominator", "pending")
ALL_SITES = "all sites"


def build(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    """Creates table `measure_counts` (exact counts) on the tagged build database."""
    sql = sql_text("report/measures_monthly.sql")
    params = {**config.sql_params(), **harmonise.scope(con)}
    con.execute(f"create or replace table measure_counts as {sql}", bind(sql, params))


def shareable(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> pd.DataFrame:
    """`measure_counts` with small-number and complementary suppression applied."""
    exact = con.execute(
        "select * from measure_counts order by measure, month, site = 'all sites' desc, site"
    ).df()
    return suppress_measures(exact, config.suppress_counts_up_to, config.spc_baseline_months)


def suppress_measures(exact: pd.DataFrame, up_to: int, baseline_months: int) -> pd.DataFrame:
    """Columns measure, month, site, numerator, denominator, pending, rate in; the same with
    hidden counts blank, `<count>_suppressed` flags, and rate blank where either is hidden."""
    out = exact.reset_index(drop=True).copy()
    values = {c: out[c].to_numpy(dtype="int64") for c in COUNTS}
    hidden = {c: (values[c] >= 1) & (values[c] <= up_to) for c in COUNTS}
    groups = _groups(out.assign(period=_periods(out, baseline_months)))
    known = _known_zeros(out)
    changed = True
    while changed:
        changed = _hide_small_complements(values, hidden, up_to)
        for column in COUNTS:
            for cells in groups:
                changed |= _protect_group(values[column], hidden[column], known[column], cells)
    for column in COUNTS:
        out[column] = out[column].astype("Int64").mask(hidden[column])
        out[f"{column}_suppressed"] = hidden[column]
    either = hidden["numerator"] | hidden["denominator"]
    out["rate"] = out["rate"].astype("Float64").mask(either)
    return out


def _periods(table: pd.DataFrame, baseline_months: int) -> pd.Series:
    """'baseline' for the first `baseline_months` months with a denominator in each measure's
    'all sites' series (the months the p-chart's centre line comes from), else 'later'."""
    period = pd.Series("later", index=table.index)
    totals = table[(table["site"] == ALL_SITES) & (table["denominator"] > 0)]
    for _, series in totals.sort_values("month").groupby("measure"):
        period[series.index[:baseline_months]] = "baseline"
    return period


def _groups(table: pd.DataFrame) -> list[np.ndarray]:
    """The sets of cells (row positions) that add up to a published total: a month's sites
    with its 'all sites' row; a site's months; the 'all sites' baseline months, and the
    later ones."""
    is_total = table["site"] == ALL_SITES
    by_month = table.groupby(["measure", "month"], sort=False).indices
    by_site = table[~is_total].groupby(["measure", "site"], sort=False).groups
    by_period = table[is_total].groupby(["measure", "period"], sort=False).groups
    series = [np.asarray(g) for g in [*by_site.values(), *by_period.values()]]
    return [g for g in [*by_month.values(), *series] if len(g) >= 2]


def _hide_small_complements(values: dict, hidden: dict, up_to: int) -> bool:
    """Hides the numerator where denominator - numerator (units without the finding) would
    be a shown count from 1 to `up_to`."""
    without = values["denominator"] - values["numerator"]
    newly = ~hidden["numerator"] & ~hidden["denominator"] & (without >= 1) & (without <= up_to)
    hidden["numerator"] |= newly
    return bool(newly.any())


def _known_zeros(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Cells anyone can tell are 0, so hiding them protects nothing: an 'all sites' row in a
    month with no site rows (every count 0), and a numerator whose denominator is 0."""
    has_sites = table[table["site"] != ALL_SITES].groupby(["measure", "month"]).size()
    keys = pd.MultiIndex.from_frame(table[["measure", "month"]])
    lone_total = ((table["site"] == ALL_SITES) & ~keys.isin(has_sites.index)).to_numpy()
    no_units = (table["denominator"] == 0).to_numpy()
    return {"numerator": lone_total | no_units, "denominator": lone_total, "pending": lone_total}


def _protect_group(
    values: np.ndarray, hidden: np.ndarray, known: np.ndarray, cells: np.ndarray
) -> bool:
    """Cells bound by one known sum: if exactly one is hidden, hide the smallest other one
    that is not a known zero. (If every other one is, nothing more can be done here.)"""
    if hidden[cells].sum() != 1:
        return False
    others = cells[~hidden[cells] & ~known[cells]]
    if len(others) == 0:
        return False
    hidden[others[np.argmin(values[others])]] = True
    return True
