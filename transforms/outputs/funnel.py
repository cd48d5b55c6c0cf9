"""A funnel plot per care-gap measure: the sites in its latest complete period, each site's
ratio against its denominator, with the all-sites ratio and its binomial control limits
(95 % and 99.8 %: p +/- 1.96 and 3.09 sqrt(p (1 - p) / n)) drawn as funnels.

A site outside the 99.8 % funnel differs from the others by more than chance at its size
(Spiegelhalter 2005). The all-sites ratio and the limits come from exact counts; each site is
drawn from its shareable counts (rounded under the default policy), and a site with a hidden
count is left out and counted under the plot. No overdispersion allowance is made: with few
sites, it could not be estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from html import escape

import pandas as pd

from transforms.outputs.spc import binomial_sigma
from transforms.outputs.svg import FONT, INK, LIMIT, VARIATION_COLOURS, el
from transforms.rules.registry import registry

WIDTH, HEIGHT = 520, 280
LEFT, RIGHT, TOP, BOTTOM = 60, 110, 16, 44
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
Z = {"95%": 1.96, "99.8%": 3.09}
ALL_SITES = "all sites"


@dataclass(frozen=True)
class Funnel:
    measure: str
    period: date
    centre: float  # the all-sites ratio, exact
    sites: tuple[tuple[str, int, float], ...]  # (site, shown denominator, shown ratio)
    hidden: int  # sites left out: a count hidden

    def outside(self, site: str) -> bool:
        """Beyond the 99.8 % limits at the site's (shown) denominator."""
        _, n, ratio = next(s for s in self.sites if s[0] == site)
        low, high = limits(self.centre, n, Z["99.8%"])
        return ratio < low or ratio > high


def limits(centre: float, n: int, z: float) -> tuple[float, float]:
    spread = z * binomial_sigma(centre, n)
    return max(0.0, centre - spread), min(1.0, centre + spread)


def funnel(measure: str, exact: pd.DataFrame, shown: pd.DataFrame) -> Funnel | None:
    """The measure's latest complete period with more than one site; None if none."""
    complete = exact[(exact["measure"] == measure) & (exact["status"] == "complete")]
    sites = complete[complete["site"] != ALL_SITES]
    counted = sites.groupby("interval_start").size()
    periods = counted[counted > 1].index
    if len(periods) == 0:
        return None
    period = max(periods)
    total = complete[(complete["interval_start"] == period) & (complete["site"] == ALL_SITES)]
    k, n = int(total["numerator"].iloc[0]), int(total["denominator"].iloc[0])
    if n == 0:
        return None
    rows = shown[
        (shown["measure"] == measure)
        & (shown["interval_start"] == period)
        & (shown["site"] != ALL_SITES)
    ]
    drawn = rows[rows["ratio"].notna() & (rows["denominator"].fillna(0) > 0)]
    points = tuple(
        (r.site, int(r.denominator), float(r.ratio)) for r in drawn.itertuples(index=False)
    )
    return Funnel(measure, pd.Timestamp(period).date(), k / n, points, len(rows) - len(drawn))


def funnel_svg(plot: Funnel) -> str:
    top_n = max([n for _, n, _ in plot.sites] + [10]) * 1.1
    values = [r for *_, r in plot.sites] + [limits(plot.centre, 5, Z["99.8%"])[1], plot.centre]
    top_y = min(1.0, max(0.1, math.ceil(max(values) * 10 + 1e-9) / 10))

    def x(n: float) -> float:
        return round(LEFT + PLOT_W * n / top_n, 1)

    def y(p: float) -> float:
        return round(TOP + PLOT_H * (1 - p / top_y), 1)

    name = registry()[plot.measure].label
    parts = [
        el("title", escape(f"Funnel plot of {name}, sites, {plot.period:%Y-%m}")),
        el(
            "desc",
            "Each site's ratio against its number of units, with the all-sites ratio and its "
            "95% and 99.8% limits; a site beyond the 99.8% funnel differs by more than chance.",
        ),
    ]
    bottom = TOP + PLOT_H
    parts.append(el("line", x1=LEFT, x2=LEFT, y1=TOP, y2=bottom, stroke=INK))
    parts.append(el("line", x1=LEFT, x2=LEFT + PLOT_W, y1=bottom, y2=bottom, stroke=INK))
    for tick in (0, top_y / 2, top_y):
        parts.append(
            el("text", f"{tick:.0%}", x=LEFT - 6, y=y(tick) + 4, font_size=FONT, text_anchor="end")
        )
    parts.append(
        el(
            "text",
            "units in the period (denominator)",
            x=LEFT + PLOT_W / 2,
            y=bottom + 30,
            font_size=FONT,
            text_anchor="middle",
        )
    )
    centre_y = y(plot.centre)
    parts.append(
        el(
            "line",
            class_="centre",
            x1=LEFT,
            x2=LEFT + PLOT_W,
            y1=centre_y,
            y2=centre_y,
            stroke=INK,
            stroke_dasharray="6 3",
        )
    )
    for label, z in Z.items():
        for side in (0, 1):
            steps = [max(2, top_n * i / 60) for i in range(1, 61)]
            path = "".join(
                f"{'M' if i == 0 else 'L'}{x(n)} {y(limits(plot.centre, int(n), z)[side])}"
                for i, n in enumerate(steps)
            )
            parts.append(
                el(
                    "path",
                    class_=f"funnel z{label}",
                    d=path,
                    fill="none",
                    stroke=LIMIT,
                    stroke_dasharray="" if label == "99.8%" else "3 3",
                )
            )
        parts.append(
            el(
                "text",
                f"{label} limits",
                x=LEFT + PLOT_W + 4,
                y=y(limits(plot.centre, int(top_n), z)[1]) + 4,
                font_size=FONT,
            )
        )
    for site, n, ratio in plot.sites:
        colour = VARIATION_COLOURS["concern" if plot.outside(site) else "common_cause"]
        title = el("title", escape(f"{site}: {ratio:.1%} of {n}"))
        parts.append(el("circle", title, class_="site", cx=x(n), cy=y(ratio), r=5, fill=colour))
        parts.append(el("text", escape(site), x=x(n) + 7, y=y(ratio) + 4, font_size=FONT))
    return el(
        "svg",
        "".join(parts),
        class_="funnel-plot",
        data_measure=plot.measure,
        role="img",
        width=WIDTH,
        height=HEIGHT,
        viewBox=f"0 0 {WIDTH} {HEIGHT}",
        font_family="sans-serif",
    )
