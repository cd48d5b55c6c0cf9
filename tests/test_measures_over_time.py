"""Measures over a year of monthly deliveries to the scheduled flow: steady practice raises
no alert; folic acid before B12 doubling from the 13th audited month alerts by the 15th;
halving shows as improvement and alerts no one. All at the default disclosure policy.

The population (tests/practice.py) has a year of history before the 24 audited months, so
the first audited month's folic acid has its 365-day look-back. The steady run delivers
the history with the first audited month, then each month on its own: 24 runs. The changed
runs deliver the history and the first 12 audited months at once (the same rows as the
steady run), then months 13, 14 and 15 one at a time: what a run reports depends on the
rows delivered so far, not on how they were batched.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.practice import AUDITED_MONTHS, HISTORY_MONTHS, deliver_month, population

STEADY, CHANGE_FROM = 0.20, HISTORY_MONTHS + 12  # 2025-01, the 13th audited month


def scheduled_run(drop: Path, out: Path, config: Path) -> dict:
    from flows.scheduled import scheduled_audit

    result = scheduled_audit(str(drop), str(out), str(config))
    assert result["outcome"] == "published"
    return result


def alerting_config(tmp_path: Path, hook) -> Path:
    path = tmp_path / "audit.toml"
    path.write_text(f'[alerts]\nwebhook_url = "{hook.url}"\n', encoding="utf-8")
    return path


def published(out: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(out / "b12audit.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def folate_variation(result: dict) -> str:
    html = Path(result["report"]).read_text(encoding="utf-8")
    found = re.search(
        r'data-measure="folate_before_b12" data-site="all sites" data-variation="([a-z_]*)"', html
    )
    return found.group(1)


def deliver_up_to(drop: Path, last_month: int, rows: tuple, first_month: int = 0) -> None:
    for month in range(first_month, last_month + 1):
        deliver_month(drop, month, *rows)


def test_steady_practice_over_24_monthly_runs_raises_no_alert(harness, tmp_path, webhook_server):
    hook = webhook_server()
    config = alerting_config(tmp_path, hook)
    drop, out = tmp_path / "drop", tmp_path / "out"
    rows = population(lambda month: STEADY)
    deliver_up_to(drop, HISTORY_MONTHS, rows)
    variations, run_ids = [], []
    for month in range(HISTORY_MONTHS, HISTORY_MONTHS + AUDITED_MONTHS):
        if month > HISTORY_MONTHS:
            deliver_month(drop, month, *rows)
        result = scheduled_run(drop, out, config)
        variations.append(folate_variation(result))
        run_ids.append(result["run_id"])
        assert hook.posts == [], f"an alert after month {month}: {hook.posts[-1]['text']}"
    assert "concern" not in variations and variations[-1] != ""
    # Past months never moved, and the baseline was fixed once: by the run that completed
    # its 12th month (2024-12, the 12th audited month), and kept by every later run.
    assert published(out, "select count(*) from measure_restatements") == [(0,)]
    fixed = published(
        out, "select fixed_in_run from spc_baselines where measure = 'folate_before_b12'"
    )
    assert fixed == [(run_ids[11],)]


@pytest.mark.parametrize(
    ("changed_rate", "variation", "alerts"),
    [(2 * STEADY, "concern", True), (STEADY / 2, "improvement", False)],
)
def test_a_change_from_the_13th_month_shows_by_the_15th(
    changed_rate, variation, alerts, harness, tmp_path, webhook_server
):
    hook = webhook_server()
    config = alerting_config(tmp_path, hook)
    drop, out = tmp_path / "drop", tmp_path / "out"
    rows = population(lambda month: changed_rate if month >= CHANGE_FROM else STEADY)
    deliver_up_to(drop, CHANGE_FROM - 1, rows)
    scheduled_run(drop, out, config)
    assert hook.posts == []  # the baseline year: nothing to tell
    seen = []
    for month in range(CHANGE_FROM, CHANGE_FROM + 3):
        deliver_month(drop, month, *rows)
        seen.append(folate_variation(scheduled_run(drop, out, config)))
    assert variation in seen
    signalled = [s for post in hook.posts for s in post["signals"]]
    if alerts:
        assert signalled and {s["measure"] for s in signalled} == {"folate_before_b12"}
    else:
        assert hook.posts == []
