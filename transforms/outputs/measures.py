"""Measures: per finding, numerator, denominator and ratio by period and site.

`build` writes the exact counts (table `measure_counts`, sql/report/measures.sql).
`shareable` is the version for shareable/measures.csv, by the configuration's
`disclosure_policy`:

- "round" (the default, as OpenSAFELY publishes counts): every count from 1 to `up_to` is
  hidden, every other count rounded to the nearest `round_counts_to` (0 stays 0), and the
  ratio is the rounded numerator over the rounded denominator. Rounding blurs every count by
  up to half the step, so no difference of published counts gives a small count exactly.
- "suppress": exact counts, with counts from 1 to `up_to` hidden and more cells hidden so that
  none can be worked out by subtraction (`suppress_measures`, below).

Suppression in detail: transforms/outputs/measures_suppress.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from transforms.config import AuditConfig
from transforms.outputs import spc
from transforms.outputs.measures_suppress import ALL_SITES, COUNTS, suppress_measures
from transforms.rules.harmonise import run_parameters
from transforms.rules.registry import registry
from transforms.sqlfiles import run_file

ORDER = "order by measure, interval_start, site = 'all sites' desc, site"


def build(con: duckdb.DuckDBPyConnection, config: AuditConfig) -> None:
    """Creates table `measure_counts` (exact counts) from the populations table."""
    run_file(con, "report/measures.sql", run_parameters(con, config))


def exact(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(f"select * from measure_counts {ORDER}").df()


def shareable(counts: pd.DataFrame, config: AuditConfig) -> pd.DataFrame:
    """The exact counts (`exact`) with the configuration's disclosure policy applied."""
    if config.disclosure_policy == "round":
        return round_measures(counts, config.suppress_counts_up_to, config.round_counts_to)
    return suppress_measures(counts, config.suppress_counts_up_to, config.spc_baseline_periods)


def charts(
    counts: pd.DataFrame,
    config: AuditConfig,
    shown: pd.DataFrame,
    fixed: dict[str, dict] | None = None,
    site: str = ALL_SITES,
) -> list[spc.Chart]:
    """Each measure's SPC chart at `site` from the exact counts (`exact`), with only what
    may be shared (`shareable_charts`). `fixed`: measure -> {phase: Baseline} fixed by
    earlier runs (transforms/outputs/measure_history.py). Under "suppress" every chart is
    a p chart: its limits add no equation beyond the centre line's, which the suppression
    protects; the XmR and Laney limits (a mean moving range) would add one it does not
    check."""
    directions = {name: f.direction for name, f in registry().items()}
    kind = "p" if config.disclosure_policy == "suppress" else config.spc_chart
    exact_charts = spc.charts(counts, directions, config, kind, fixed or {}, site)
    return shareable_charts(exact_charts, shown, site)


def round_measures(counts: pd.DataFrame, up_to: int, step: int) -> pd.DataFrame:
    """Counts from 1 to `up_to` hidden, the rest rounded to the nearest `step`; the ratio
    from the rounded counts. Same columns as `suppress_measures` gives."""
    out = counts.reset_index(drop=True).copy()
    for column in COUNTS:
        values = out[column].to_numpy(dtype="int64")
        hidden = (values >= 1) & (values <= up_to)
        out[column] = pd.array(rounded(values, step), dtype="Int64").copy()
        out.loc[hidden, column] = pd.NA
        out[f"{column}_suppressed"] = hidden
    shown = out["denominator"].fillna(0) > 0
    ratio = out["numerator"].astype("Float64") / out["denominator"].astype("Float64")
    out["ratio"] = ratio.where(shown, pd.NA)
    out["centre_line_withheld"] = False
    return out


def rounded(values, step: int):
    """To the nearest multiple of `step`. An integer is never exactly halfway between
    multiples of an odd step; for an even step, halves round up."""
    return (np.floor(np.asarray(values) / step + 0.5) * step).astype("int64")


def shareable_charts(
    charts_: list[spc.Chart], shown: pd.DataFrame, site: str = ALL_SITES
) -> list[spc.Chart]:
    """The charts with only what may be shared, for the report and the alerts: no signal
    on a period whose 'all sites' numerator or denominator is hidden in `shown` (the output
    of `shareable`), runs broken by one (its side of the line is unknown to the reader),
    and no centre line, limits or signals where suppression withheld the centre line
    (`centre_line_withheld`: drawn, it would give a suppressed count)."""
    numerators = suppressed_periods(shown, "numerator", site)
    denominators = suppressed_periods(shown, "denominator", site)
    withheld = set(shown.loc[shown["centre_line_withheld"], "measure"])
    return [
        _without_centre(c)
        if c.measure in withheld
        else spc.mark(
            c,
            frozenset(numerators.get(c.measure, set()) | denominators.get(c.measure, set())),
        )
        if c.enough_baseline
        else c
        for c in charts_
    ]


def _without_centre(chart: spc.Chart) -> spc.Chart:
    # The limits are the centre line plus or minus a spread that the counts give.
    bare = [
        replace(
            p,
            signals=(),
            variation="",
            centre=None,
            lcl=None,
            ucl=None,
            lower_near=None,
            upper_near=None,
        )
        for p in chart.points
    ]
    return replace(chart, centre=None, points=tuple(bare))


def suppressed_periods(
    shown: pd.DataFrame, column: str, site: str = ALL_SITES
) -> dict[str, set[date]]:
    """measure -> periods whose `column` (numerator or denominator) is hidden at `site`."""
    totals = shown[(shown["site"] == site) & shown[f"{column}_suppressed"]]
    periods: dict[str, set[date]] = {}
    for measure, start in zip(totals["measure"], totals["interval_start"], strict=True):
        periods.setdefault(measure, set()).add(pd.Timestamp(start).date())
    return periods
