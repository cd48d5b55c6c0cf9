"""How often the SPC alerts cry wolf, and how soon they see a real change: simulated.

    python benchmarks/spc_false_alarms.py [--years 500] [--seed 1]

Each simulated year is what a scheduled audit sees of one care-gap measure: 12 baseline
months, then 12 monthly runs, each judging its latest complete month as the alerts do
(transforms/outputs/spc.py `latest_concerns`: special cause concern, lower is better, once
the baseline is complete). Months hold about `n` units (uniform, n - 20 to n + 20), each
flagged with probability `p` (binomial: no month-to-month change in practice). Printed per
chart kind: the share of steady years with at least one alert (false alarms), and, with
the rate doubled from the 13th month, the share alerting by the 15th (detection).
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.outputs.spc import Period, chart, latest_concerns  # noqa: E402

MONTHS = [date(2024 + i // 12, i % 12 + 1, 1) for i in range(24)]
CASES = [(0.20, 200), (0.05, 100), (0.02, 220)]  # (rate, units a month)


def year(rng: random.Random, p: float, n: int, changed: float) -> list[Period]:
    periods = []
    for i, month in enumerate(MONTHS):
        units = rng.randint(n - 20, n + 20)
        rate = changed if i >= 12 else p
        periods.append(Period(month, sum(rng.random() < rate for _ in range(units)), units))
    return periods


def first_alert(periods: list[Period], kind: str) -> int | None:
    """The month (13 to 24) whose run first alerts, or None."""
    for last in range(13, 25):
        if latest_concerns([chart("m", periods[:last], "lower_is_better", 12, kind)]):
            return last
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    print("| rate | units/month | chart | steady years alerting | doubled: alert by month 15 |")
    print("|---:|---:|---|---:|---:|")
    for p, n in CASES:
        steady = [year(rng, p, n, p) for _ in range(args.years)]
        doubled = [year(rng, p, n, 2 * p) for _ in range(args.years)]
        for kind in ("xmr", "laney", "p"):
            false = sum(first_alert(y, kind) is not None for y in steady) / args.years
            seen = sum((first_alert(y, kind) or 99) <= 15 for y in doubled) / args.years
            print(f"| {p:.0%} | {n} | {kind} | {false:.1%} | {seen:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
