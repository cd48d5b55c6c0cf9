"""The "suppress" disclosure policy for the measures: exact counts, small ones and any that
subtraction would give away hidden (transforms/outputs/measures.py chooses the policy).

Suppression in detail. Each of these sets of cells adds up to a total that is published, so
each is a group:

- a (measure, period): the 'all sites' row is the sum of the sites;
- a (measure, site) series of periods, 'all sites' included: summary.csv publishes the
  all-periods total (of each count column, taken as published on its own to be safe);
- for the numerator, the 'all sites' baseline periods, and the later periods: the chart's
  centre line is the baseline's ratio, so with the baseline denominators shown it gives the
  baseline total, and the series total minus it gives the later periods' total.

A group is safe when none or at least two of its cells are hidden (one equation cannot
settle two unknowns); a lone hidden cell makes the next-smallest cell hidden too, zeros
included (a hidden zero is as unknown as any other hidden cell). No group is dropped for
being small: a group of one cell is its own published total. So:

- a cell that is the only one of a series that anyone could not tell (the rest are known
  zeros) equals a total in summary.csv; it is hidden to protect another only when no other
  cell will do, and then the smallest above 0 that is not an 'all sites' row, as
  transforms/outputs/suppress.py hides the same total in summary.csv in that case;
- where the baseline's or the later periods' total cannot be protected by cells (a lone
  hidden period whose partners are shown or known zeros; a baseline of one period always),
  the chart's centre line is withheld (`centre_line_withheld`), so it gives no total.

Each group protected on its own is not enough: two totals sharing hidden cells can give
one away together. `disclosure.close_leaks` then checks every combination exactly, and
hides more (or withholds the centre line) until none does.
- Denominator minus numerator (the units without the finding) is a count too: when both
  are shown it is never from 1 to `up_to` (the numerator is hidden instead).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from transforms.outputs import disclosure
from transforms.outputs.suppress import suppress_counts

COUNTS = ("numerator", "denominator", "pending")
ALL_SITES = "all sites"


def suppress_measures(counts: pd.DataFrame, up_to: int, baseline_periods: int) -> pd.DataFrame:
    """measure_counts' columns in (measure, interval_start, site, numerator, denominator,
    pending, ratio, status, ...); the same with hidden counts blank, `<count>_suppressed`
    flags, and ratio blank where either is hidden."""
    out = counts.reset_index(drop=True).copy()
    values = {c: out[c].to_numpy(dtype="int64") for c in COUNTS}
    hidden = {c: (values[c] >= 1) & (values[c] <= up_to) for c in COUNTS}
    months, series = _groups(out)
    centre_lines = _centre_line_groups(out, baseline_periods)
    zeros = _known_zeros(out)
    roles = {c: _roles(out, values[c], zeros[c], months, series) for c in COUNTS}
    # summary.csv hides a series total from 1 to `up_to`: such a series is no equation.
    groups = {
        c: months + [g for g in series if not _small(values[c][g].sum(), up_to)] for c in COUNTS
    }
    roles = {c: roles[c]._replace(members=_members(len(out), groups[c])) for c in COUNTS}
    exact_check = _measures(out, months, series, centre_lines, values, up_to)
    withheld: set[str] = set()
    while True:
        changed = True
        while changed:
            changed = _hide_small_complements(values, hidden, up_to)
            for column in COUNTS:
                for cells in groups[column]:
                    changed |= _protect_group(values[column], hidden[column], roles[column], cells)[
                        0
                    ]
            for baseline, later in centre_lines.values():
                changed |= _protect_centre_line(values, hidden, roles, baseline, later, up_to)
        withheld |= {m.name for m in exact_check if _gives_away(hidden, m.baseline, m.later)}
        if not disclosure.close_leaks(exact_check, values, hidden, withheld, up_to):
            break
    out["centre_line_withheld"] = out["measure"].isin(withheld)
    for column in COUNTS:
        out[column] = out[column].astype("Int64").mask(hidden[column])
        out[f"{column}_suppressed"] = hidden[column]
    either = hidden["numerator"] | hidden["denominator"]
    out["ratio"] = out["ratio"].astype("Float64").mask(either)
    return out


def _measures(
    table: pd.DataFrame,
    months: list[np.ndarray],
    series: list[np.ndarray],
    centre_lines: dict[str, tuple[np.ndarray, np.ndarray]],
    values: dict,
    up_to: int,
) -> list[disclosure.Measure]:
    """Each measure's cells and what is published about them, for the exact check."""
    is_total = (table["site"] == ALL_SITES).to_numpy()
    measure_of = table["measure"].to_numpy()
    none = np.array([], dtype=int)
    shown = {c: _summary_shows(table, series, values[c], up_to) for c in COUNTS}
    found = []
    for name in pd.unique(measure_of):
        own_months = [g for g in months if measure_of[g[0]] == name]
        own_series = [i for i, g in enumerate(series) if measure_of[g[0]] == name]
        published = {c: [series[i] for i in own_series if shown[c][i]] for c in COUNTS}
        totals_first = [np.concatenate([g[is_total[g]], g[~is_total[g]]]) for g in own_months]
        baseline, later = centre_lines.get(name, (none, none))
        rows = np.flatnonzero(measure_of == name)
        found.append(disclosure.Measure(name, rows, totals_first, published, baseline, later))
    return found


def _summary_shows(
    table: pd.DataFrame, series: list[np.ndarray], values: np.ndarray, up_to: int
) -> list[bool]:
    """Per series, whether summary.csv shows its total: its own rule (suppress_counts) on
    each measure's totals by site, small ones and their complements hidden."""
    first = [g[0] for g in series]
    totals = pd.DataFrame(
        {
            "finding": table["measure"].to_numpy()[first],
            "site": table["site"].to_numpy()[first],
            "reason": "(all)",
            "count": [int(values[g].sum()) for g in series],
            "denominator": 0,
            "denominator_meaning": "-",
        }
    )
    # In summary.csv's order (sites by name), so ties break as they do there.
    ordered = totals.sort_values(["finding", "site"], kind="stable")
    shown = ~suppress_counts(ordered, up_to)["suppressed"]
    return shown.set_axis(ordered.index).sort_index().tolist()


def _gives_away(hidden: dict, baseline: np.ndarray, later: np.ndarray) -> bool:
    """Whether the centre line, drawn, would give a hidden count that no cell could cover:
    one baseline month hidden (its rate, or the total less the shown months), or one later
    month's numerator hidden after a baseline with hidden numerators, every baseline
    denominator shown (the series total less the baseline total gives it)."""
    base = hidden["numerator"][baseline] | hidden["denominator"][baseline]
    shown_denominators = not hidden["denominator"][baseline].any()
    later_lone = hidden["numerator"][later].sum() == 1 and hidden["numerator"][baseline].any()
    return base.sum() == 1 or (shown_denominators and later_lone)


def _periods(table: pd.DataFrame, baseline_periods: int) -> pd.Series:
    """'baseline' for the first `baseline_periods` complete periods with a denominator in
    each measure's 'all sites' series (those the centre line comes from), else 'later'."""
    period = pd.Series("later", index=table.index)
    is_total = table["site"] == ALL_SITES
    totals = table[is_total & (table["denominator"] > 0) & (table["status"] == "complete")]
    for _, series in totals.sort_values("interval_start").groupby("measure"):
        period[series.index[:baseline_periods]] = "baseline"
    return period


def _groups(table: pd.DataFrame) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The sets of cells (row positions) that add up to a published total, for every count
    column: a month's sites with its 'all sites' row; and a site's months, 'all sites'
    too (the series). Groups of one cell included: the cell is the total."""
    by_month = table.groupby(["measure", "interval_start"], sort=False).indices
    by_site = table.groupby(["measure", "site"], sort=False).indices
    return [np.asarray(g) for g in by_month.values()], [np.asarray(g) for g in by_site.values()]


def _centre_line_groups(
    table: pd.DataFrame, baseline_periods: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """measure -> the 'all sites' rows of its baseline periods and of its later periods."""
    is_total = table["site"] == ALL_SITES
    period = _periods(table, baseline_periods)[is_total]
    groups = {}
    for measure, rows in table[is_total].groupby("measure", sort=False):
        in_baseline = (period[rows.index] == "baseline").to_numpy()
        index = rows.index.to_numpy()
        groups[measure] = (index[in_baseline], index[~in_baseline])
    return groups


class Roles(NamedTuple):
    """Per cell of one count column: never worth hiding to protect another (`known`: anyone
    can tell it is 0), hidden for that only as a last resort (`pinned`: it equals a total
    in summary.csv), and the 'all sites' rows."""

    known: np.ndarray
    pinned: np.ndarray
    is_total: np.ndarray
    members: tuple = ()  # per cell, the groups with a published total holding it


def _members(size: int, groups: list[np.ndarray]) -> list[list[np.ndarray]]:
    members: list[list[np.ndarray]] = [[] for _ in range(size)]
    for group in groups:
        for cell in group:
            members[cell].append(group)
    return members


def _roles(
    table: pd.DataFrame,
    values: np.ndarray,
    known: np.ndarray,
    months: list[np.ndarray],
    series: list[np.ndarray],
) -> Roles:
    """A cell is pinned when it is the only cell of its series that is not known. Known
    zeros spread: a pinned 0 (summary.csv shows it), the sites of an 'all sites' 0, and
    the 'all sites' row of a month whose sites are all 0."""
    is_total = (table["site"] == ALL_SITES).to_numpy()
    known, pinned = known.copy(), np.zeros(len(table), dtype=bool)
    while True:
        before = known.copy()
        for cells in series:
            open_cells = cells[~known[cells]]
            pinned[open_cells] = len(open_cells) == 1
        known |= pinned & (values == 0)
        for cells in months:
            zero = known[cells] & (values[cells] == 0)
            if zero[is_total[cells]].any() or zero[~is_total[cells]].all():
                known[cells] = True  # counts are never negative
        if (known == before).all():
            return Roles(known, pinned & ~known, is_total)


def _small(count: int, up_to: int) -> bool:
    return 1 <= count <= up_to


def _protect_centre_line(
    values: dict,
    hidden: dict,
    roles: dict,
    baseline: np.ndarray,
    later: np.ndarray,
    up_to: int,
) -> bool:
    """While the baseline denominators are shown, the centre line gives the baseline
    numerator total, and the series total (summary.csv, unless small) less it the later
    one: protect both with cells. Where cells cannot (a lone hidden cell whose partners are
    all shown or known zeros), `shareable_charts` withholds the centre line instead."""
    if len(baseline) == 0 or hidden["denominator"][baseline].any():
        return False
    numerators, shut = values["numerator"], hidden["numerator"]
    in_baseline = _protect_group(numerators, shut, roles["numerator"], baseline)[0]
    withheld = shut[baseline].sum() == 1  # `shareable_charts` draws no centre line then
    if withheld or _small(numerators[np.concatenate([baseline, later])].sum(), up_to):
        return in_baseline
    return _protect_group(numerators, shut, roles["numerator"], later)[0] or in_baseline


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
    has_sites = table[table["site"] != ALL_SITES].groupby(["measure", "interval_start"]).size()
    keys = pd.MultiIndex.from_frame(table[["measure", "interval_start"]])
    lone_total = ((table["site"] == ALL_SITES) & ~keys.isin(has_sites.index)).to_numpy()
    no_units = (table["denominator"] == 0).to_numpy()
    return {"numerator": lone_total | no_units, "denominator": lone_total, "pending": lone_total}


def _protect_group(
    values: np.ndarray, hidden: np.ndarray, roles: Roles, cells: np.ndarray
) -> tuple[bool, bool]:
    """Cells bound by one known sum: if exactly one is hidden, hide another (`_complement`).
    Returns (hid one, had a lone hidden cell)."""
    if hidden[cells].sum() != 1:
        return False, False
    chosen = _complement(values, hidden, roles, cells, cells[~hidden[cells] & ~roles.known[cells]])
    if chosen is None:
        return False, True
    hidden[chosen] = True
    return True, True


def _complement(
    values: np.ndarray, hidden: np.ndarray, roles: Roles, group: np.ndarray, others: np.ndarray
) -> int | None:
    """The cell of `others` to hide so `group` keeps no lone hidden cell: one that is not
    pinned, burdening its other groups least (`_burden`), then the smallest; else, as
    transforms/outputs/suppress.py picks among summary.csv's totals, the smallest pinned
    site above 0, else an 'all sites' row; a pinned 0 never (summary.csv shows it)."""
    free = others[~roles.pinned[others]]
    if len(free):
        burden = [(_burden(int(c), hidden, roles, group), values[c], c) for c in free]
        return int(min(burden)[2])
    sites = others[~roles.is_total[others] & (values[others] > 0)]
    if len(sites):
        return int(sites[np.argmin(values[sites])])
    totals = others[roles.is_total[others] & (values[others] > 0)]
    return int(totals[0]) if len(totals) else None


def _burden(cell: int, hidden: np.ndarray, roles: Roles, group: np.ndarray) -> tuple:
    """What hiding `cell` asks of its other groups: how many it leaves with a lone hidden
    cell that only pinned cells could cover (so it could never be covered), how many with
    a lone hidden cell to cover, less how many lone ones it covers. A greedy choice that
    ignored this could hide a cell whose month is completed only by a pinned site, whose
    series total in summary.csv would then give it away."""
    stuck = lone = covered = 0
    for other in roles.members[cell]:
        if other is group:
            continue
        shut = int(hidden[other].sum())
        if shut == 1:
            covered += 1
        elif shut == 0:
            rest = other[(other != cell) & ~roles.known[other]]
            if roles.pinned[rest].all():
                stuck += 1
            else:
                lone += 1
    return (stuck, lone - covered)
