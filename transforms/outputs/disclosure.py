"""Whether a suppressed count can still be solved for, exactly, and closing what can.

What is published about one measure is a set of linear equations over its cells (the
numerator, denominator and pending of each month and site): each shown cell's value; each
month's 'all sites' row = the sum of its sites; each series' total where summary.csv shows
it; and the run chart's centre line where it is drawn (baseline numerators = centre x
baseline denominators). A count is given away when its unit vector lies in the span of
those equations, and so is a complement (denominator less numerator: units without the
finding). measures.py protects each published total on its own; what only a combination
of totals gives away (two series and a centre line sharing hidden cells) is found here.

`close_leaks` hides, for each small count or complement given away, the smallest shown
cell whose hiding closes it, or withholds the centre line where that is what gives it
away. A count the published totals give away on their own (summary.csv's, with no cell
of this table shown) is beyond what cells here can protect: it is left to summary.csv.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

COLUMNS = ("numerator", "denominator", "pending")
TOLERANCE = 1e-9


@dataclass
class Measure:
    """One measure's cells and the totals published about them (table row positions)."""

    name: str
    rows: np.ndarray
    months: list[np.ndarray]  # a month's rows, 'all sites' first
    series: dict[str, list[np.ndarray]]  # per column, the series whose total is published
    baseline: np.ndarray  # the 'all sites' rows the centre line is the rate of
    later: np.ndarray  # the other 'all sites' rows

    def variable(self, column: str, row: int) -> int:
        return COLUMNS.index(column) * len(self.rows) + int(np.searchsorted(self.rows, row))

    def totals(self) -> list[np.ndarray]:
        """The month sums and published series totals: true whatever is shown."""
        equations = []
        for column in COLUMNS:
            for total, *sites in self.months:
                parts = {(column, r): -1 for r in sites}
                equations.append(self._row({(column, total): 1}, parts))
            for cells in self.series[column]:
                equations.append(self._row({(column, r): 1 for r in cells}))
        return equations

    def centre_line(self, values: dict) -> list[np.ndarray]:
        """Baseline numerators less centre x baseline denominators = 0 (none without one)."""
        denominators = values["denominator"][self.baseline].sum()
        if len(self.baseline) == 0 or denominators == 0:
            return []
        centre = values["numerator"][self.baseline].sum() / denominators
        numerators = {("numerator", r): 1.0 for r in self.baseline}
        return [self._row(numerators, {("denominator", r): -centre for r in self.baseline})]

    def hidden_variables(self, hidden: dict) -> np.ndarray:
        """Which variables are hidden cells (the others' values are shown)."""
        return np.concatenate([hidden[column][self.rows] for column in COLUMNS])

    def targets(self, values: dict, hidden: dict, up_to: int) -> Iterator[np.ndarray]:
        """The sensitive quantities: hidden counts from 1 to `up_to`, and complements from 1
        to `up_to` with either part hidden."""
        for column in COLUMNS:
            for r in self.rows[hidden[column][self.rows]]:
                if 1 <= values[column][r] <= up_to:
                    yield self._row({(column, r): 1})
        without = values["denominator"] - values["numerator"]
        either = hidden["numerator"] | hidden["denominator"]
        for r in self.rows[either[self.rows]]:
            if 1 <= without[r] <= up_to:
                yield self._row({("denominator", r): 1, ("numerator", r): -1})

    def _row(self, *coefficients: dict) -> np.ndarray:
        row = np.zeros(len(COLUMNS) * len(self.rows))
        for part in coefficients:
            for (column, r), value in part.items():
                row[self.variable(column, r)] = value
        return row


class Span:
    """The values a set of equations gives: every combination of them, over the variables
    `unknown` (all, when None; the equations' other variables are known)."""

    def __init__(self, equations: list[np.ndarray], unknown: np.ndarray | None = None):
        self.unknown = unknown
        system = np.array(equations)
        if unknown is not None and system.size:
            system = system[:, unknown]
        if not system.size or not system.shape[1]:
            self.basis = np.zeros((0, system.shape[1] if system.ndim == 2 else 0))
            return
        _, singular, basis = np.linalg.svd(system, full_matrices=False)
        self.basis = basis[singular > TOLERANCE * max(1.0, singular[0])]

    def gives(self, target: np.ndarray) -> bool:
        """Whether the target (a combination of cells) is one of those values."""
        part = target if self.unknown is None else target[self.unknown]
        if not part.any():
            return True  # it involves known values only
        if not self.basis.size:
            return False
        return bool(np.linalg.norm(part - self.basis.T @ (self.basis @ part)) < 1e-6)


def close_leaks(
    measures: list[Measure], values: dict, hidden: dict, withheld: set[str], up_to: int
) -> bool:
    """Hides cells (or withholds centre lines) until no small count or complement is
    given away that more hiding can protect; returns whether anything changed."""
    changed = False
    for measure in measures:
        totals = Span(measure.totals())  # summary.csv's own: the same whatever is hidden
        while (leak := _first_leak(measure, totals, values, hidden, withheld, up_to)) is not None:
            _close(measure, leak, values, hidden, withheld)
            changed = True
    return changed


def _published(measure: Measure, values: dict, hidden: dict, withheld: set[str]) -> Span:
    """What everything published gives: the totals, the centre line where drawn, and the
    shown cells. A shown cell's value is known, so only the hidden cells' share of each
    equation matters: a combination is given when its hidden share is."""
    centre = [] if measure.name in withheld else measure.centre_line(values)
    return Span(measure.totals() + centre, measure.hidden_variables(hidden))


def _first_leak(
    measure: Measure, totals: Span, values: dict, hidden: dict, withheld: set[str], up_to: int
) -> np.ndarray | None:
    published = _published(measure, values, hidden, withheld)
    for target in measure.targets(values, hidden, up_to):
        if published.gives(target) and not totals.gives(target):
            return target
    return None


def _close(
    measure: Measure, target: np.ndarray, values: dict, hidden: dict, withheld: set[str]
) -> None:
    """The smallest shown cell whose hiding leaves the target unsolvable; else the centre
    line if withholding it does; else the smallest shown cell, and look again."""
    candidates = sorted(
        (values[column][r], COLUMNS.index(column), int(r))
        for column in COLUMNS
        for r in measure.rows[~hidden[column][measure.rows]]
    )
    for _, column_index, r in candidates:
        column = COLUMNS[column_index]
        hidden[column][r] = True
        if not _published(measure, values, hidden, withheld).gives(target):
            return
        hidden[column][r] = False
    without_centre = Span(measure.totals(), measure.hidden_variables(hidden))
    if measure.name not in withheld and not without_centre.gives(target):
        withheld.add(measure.name)
        return
    _, column_index, r = candidates[0]
    hidden[COLUMNS[column_index]][r] = True
