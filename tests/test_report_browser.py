"""The HTML report in a real headless Chromium: it renders, every measure has its SPC chart,
the icon summary leads, incomplete periods are greyed and published values frozen, the
console stays clean, and nothing is fetched from the network (the report is taken to
meetings and opened offline)."""

from __future__ import annotations

import duckdb
import pytest

from tests import browser
from tests.conftest import SAMPLE, publish_run

REPORT_TITLE = "B12 audit report"

# What the page shows once loaded: its title and each run chart's drawn size.
PAGE_FACTS = """
({
    title: document.title,
    heading: document.querySelector("h1")?.textContent ?? "",
    charts: [...document.querySelectorAll("svg.run-chart")].map((svg) => {
        const box = svg.getBoundingClientRect();
        return {measure: svg.dataset.measure, width: box.width, height: box.height};
    }),
    iconRows: document.querySelectorAll("table.icons tr").length,
    iconsTop: document.querySelector("table.icons")?.getBoundingClientRect().top ?? -1,
    greyed: [...document.querySelectorAll("svg.run-chart rect.greyed")].filter(
        (r) => r.getBoundingClientRect().width > 0).map((r) => r.textContent),
    frozen: [...document.querySelectorAll("svg.run-chart circle.point title")].map(
        (t) => t.textContent).filter((t) => t.includes("frozen since run")),
})
"""


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    try:
        executable = browser.ensure_chromium()
        started = browser.Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    except browser.ChromiumUnavailable as problem:
        pytest.fail(str(problem))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> dict:
    """The sample audited twice into one output folder: the second run's report."""
    out = tmp_path_factory.mktemp("out")
    first = publish_run(SAMPLE, out)
    return {**publish_run(SAMPLE, out), "first_run_id": first["run_id"]}


@pytest.fixture(scope="module")
def report_page(chromium, sample_run) -> dict:
    """The report opened from disk, with what the page did while it loaded."""
    page = chromium.open_page()
    try:
        for domain in ("Network", "Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send("Page.navigate", {"url": sample_run["report"].as_uri()})
        page.wait_for("Page.loadEventFired", timeout=20)
        facts = page.evaluate(PAGE_FACTS)
        png = browser.screenshot(page)
    finally:
        page.ws.close()
    return {**facts, "events": page.events, "png": png}


def measures_in(database) -> set[str]:
    """The measures the run computed: the analysts' view, else the table under it."""
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute(
            "select table_name from duckdb_tables() union all select view_name from duckdb_views()"
        ).fetchall()
        source = next((s for s in ("measures", "measure_counts") if (s,) in names), None)
        assert source, "the published database has no measures view"
        rows = con.execute(f"select distinct measure from {source}").fetchall()
    return {measure for (measure,) in rows}


def test_the_report_renders_with_its_title(report_page):
    assert report_page["title"] == REPORT_TITLE
    assert report_page["heading"] == REPORT_TITLE


def test_every_measure_has_one_run_chart_drawn_with_a_size(report_page, sample_run):
    charts = report_page["charts"]
    assert charts, "the report has no <svg class='run-chart'>"
    empty = [c["measure"] for c in charts if not (c["width"] > 0 and c["height"] > 0)]
    assert not empty, f"run charts drawn with no size: {empty}"
    charted = [c["measure"] for c in charts]
    assert len(charted) == len(set(charted)), f"a measure is charted twice: {sorted(charted)}"
    assert set(charted) == measures_in(sample_run["database"])


def console_errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        method, params = event["method"], event["params"]
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
    return errors


def test_the_page_logs_no_console_errors(report_page):
    assert console_errors(report_page["events"]) == []


def test_nothing_is_fetched_from_the_network(report_page):
    requests = [
        e["params"]["request"]["url"]
        for e in report_page["events"]
        if e["method"] == "Network.requestWillBeSent"
    ]
    # The report itself is a request: none seen would mean the Network domain saw nothing.
    assert any(url.startswith("file:") for url in requests)
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []


def test_the_icon_summary_leads_and_incomplete_periods_are_greyed(report_page):
    care_gaps = 8
    assert report_page["iconRows"] == care_gaps + 1  # and its header
    assert 0 < report_page["iconsTop"] < 1800  # in the screenshot, near the top
    assert report_page["greyed"], "no greyed period on any chart"
    assert all(t.endswith(("incomplete", "not evaluable")) for t in report_page["greyed"])


def test_values_published_by_the_first_run_show_as_frozen(report_page, sample_run):
    frozen = report_page["frozen"]
    assert frozen and all(
        t.endswith(f"frozen since run {sample_run['first_run_id']}") for t in frozen
    )


def test_the_screenshot_shows_greyed_columns_and_icons(report_page):
    width, height, rows = browser.png_pixels(report_page["png"])
    step = 4 if len(rows[0]) == width * 4 else 3
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), step)}
    assert bytes((0xD9, 0xD9, 0xD9)) in colours  # an incomplete period's column
    assert bytes((0x7B, 0x7D, 0x7D)) in colours  # common cause: the icon and the points


def test_the_screenshot_is_a_png_with_something_drawn_on_it(report_page):
    width, height, rows = browser.png_pixels(report_page["png"])
    assert width > 0 and height > 0
    step = 4 if len(rows[0]) == width * 4 else 3
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), step)}
    # A blank page is one colour; text, tables and charts give many shades.
    assert len(colours) > 10
