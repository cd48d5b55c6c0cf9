"""A timeline page behind every worklist item: one offline HTML page per patient on the
worklist, with their B12, MMA, homocysteine, Hb and MCV results, folate and B12 events and
coded diagnoses on one time axis (sql/report/patient_timeline.sql), the rows that decided
each finding highlighted and each finding's window drawn (the registry's `window`).

The pages are built in DuckDB (sql/report/timeline_pages.sql: at 1M lab rows there are
tens of thousands), a batch of patients at a time so memory stays bounded; this module
gives it the page's fixed parts and writes each page. Patient-level: pages are written only
under patient_level/timelines/, named by a hash of the patient id
(worklist_items.timeline); the worklist links to them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from html import escape
from pathlib import Path

import duckdb

from transforms.sqlfiles import bind, sql_text

LANES = ["B12", "MMA", "Homocysteine", "Hb", "MCV", "Folate", "B12 treatment", "Diagnoses"]
WINDOW_COLOURS = ["#f4d03f", "#85c1e9", "#a9dfbf", "#f5b7b1", "#d7bde2", "#fad7a0"]
WIDTH, LEFT, LANE, TOP = 1100, 120, 34, 46
HEIGHT = TOP + LANE * len(LANES) + 10
WRITERS = 4
# Patients whose pages are built at once: about 15 KB a page, so a batch holds some 30 MB.
TIMELINE_BATCH = 2_000
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
    "padding:3px 6px;text-align:left}.warn{color:#922b21}svg text{font-size:11px}"
)


def write(con: duckdb.DuckDBPyConnection, patient_dir: Path) -> str:
    """patient_level/timelines/<hash>.html for every patient on the worklist."""
    folder = patient_dir / "timelines"
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"create or replace temp view patient_timeline as {sql_text('report/patient_timeline.sql')}"
    )
    parts = page_parts()
    for step in ("report/timeline_items.sql", "report/timeline_events.sql"):
        con.execute(sql_text(step), bind(sql_text(step), parts))
    pages = sql_text("report/timeline_pages.sql")
    (buckets,) = con.execute("select coalesce(max(bucket) + 1, 0) from timeline_items").fetchone()
    # Creating the files takes as long as building the pages (some 160 us a file here):
    # threads write one batch while DuckDB builds the next (both release the GIL).
    with ThreadPoolExecutor(max_workers=WRITERS) as writers:
        writing: list[Future] = []
        for bucket in range(buckets):
            batch = con.execute(pages, bind(pages, {**parts, "bucket": bucket})).fetchall()
            _wait(writing)
            writing = [writers.submit(_write_page, patient_dir, *page) for page in batch]
        _wait(writing)
    return str(folder)


def _write_page(patient_dir: Path, path: str, html: str) -> None:
    (patient_dir / path).write_text(html, encoding="utf-8")


def _wait(writing: list[Future]) -> None:
    for future in writing:
        future.result()  # raises the error of a write that failed


def page_parts() -> dict[str, object]:
    """The parts every page shares: its head, the lanes and the geometry."""
    lanes = "".join(
        f'<text x="4" y="{TOP + LANE * n + LANE / 2 + 4}">{escape(lane)}</text>'
        f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{TOP + LANE * n + LANE / 2}" '
        f'y2="{TOP + LANE * n + LANE / 2}" stroke="#ddd"/>'
        for n, lane in enumerate(LANES)
    )
    return {
        "page_start": f"<!doctype html><meta charset=utf-8><title>Timeline</title>"
        f"<style>{STYLE}</style>",
        "lanes": LANES,
        "lanes_svg": lanes,
        "colours": WINDOW_COLOURS,
        "width": WIDTH,
        "left": LEFT,
        "lane": LANE,
        "top": TOP,
        "height": HEIGHT,
        "timeline_batch": TIMELINE_BATCH,
    }
