"""The HTML report in a real headless Chromium (the system's, driven by Playwright), as a QI
lead preparing a governance meeting opens it: on a 1280 px screen and printed to A4. It
renders; the headline's numbers are summary.csv's; every finding shown is named by its
label; nothing overflows the page; chart text is readable; every measure has its SPC
chart; incomplete periods are greyed and published values frozen; the console stays clean;
nothing is fetched from the network (the report is taken to meetings and opened offline).
Screenshots are saved in the test's temporary folder."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from flows.cli import main
from tests.chromium import ChromiumUnavailable, ensure_chromium, launch_arguments
from tests.conftest import SAMPLE, publish_run
from transforms.outputs import pdf
from transforms.rules.registry import registry

REPORT_TITLE = "B12 audit report"
SCREEN = {"width": 1280, "height": 1000}
# A4 less the print CSS's 12 mm side margins, in CSS pixels (96 per inch).
A4_CONTENT = {"width": round((210 - 24) / 25.4 * 96), "height": 1000}
SVG_CHARTS = "svg.run-chart, svg.site-chart, svg.funnel-plot"

# What the page shows once laid out: sizes, overflow, chart text, tables' finding columns.
PAGE_FACTS = """
() => {
    const width = document.documentElement.clientWidth;
    const named = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
        + (typeof e.className === "string" && e.className ? "." + e.className : "");
    const visible = [...document.body.querySelectorAll("*")].filter((e) => {
        const box = e.getBoundingClientRect();
        return box.width > 0 && box.height > 0;
    });
    const textSizes = [...document.querySelectorAll(arguments_charts)].flatMap((svg) => {
        const box = svg.getBoundingClientRect();
        if (!box.width) return [];
        const scale = box.width / svg.viewBox.baseVal.width;
        return [...svg.querySelectorAll("text")].filter((t) => t.textContent.trim()).map(
            (t) => parseFloat(getComputedStyle(t).fontSize) * scale);
    });
    const firstColumns = [...document.querySelectorAll("table")].flatMap((table) => {
        const head = table.querySelector("th")?.textContent.trim().toLowerCase();
        if (!["finding", "measure", "care gap"].includes(head)) return [];
        return [...table.querySelectorAll("tr")].slice(1).map(
            (row) => row.querySelector("td")?.innerText.trim() ?? "");
    });
    return {
        title: document.title,
        heading: document.querySelector("h1")?.textContent ?? "",
        sections: [...document.querySelectorAll("body > section")].map((s) => s.id),
        overflowing: visible.filter((e) => e.getBoundingClientRect().right > width + 0.5)
            .map(named).slice(0, 10),
        scrollsSideways: document.documentElement.scrollWidth > width,
        textSizes: textSizes,
        firstColumns: firstColumns,
        shownText: [...document.querySelectorAll("header, body > section:not(#appendix)")]
            .map((s) => s.innerText).join("\\n"),
        headline: [...document.querySelectorAll("#headline tr[data-finding]")].map((row) => ({
            finding: row.dataset.finding,
            count: row.querySelector(".rate").dataset.count,
            denominator: row.querySelector(".rate").dataset.denominator,
            percent: row.querySelector(".rate").textContent.trim(),
        })),
        charts: [...document.querySelectorAll("svg.run-chart")].map((svg) => {
            const box = svg.getBoundingClientRect();
            return {measure: svg.dataset.measure, width: box.width, height: box.height,
                    title: svg.querySelector(":scope > title")?.textContent ?? "",
                    desc: svg.querySelector(":scope > desc")?.textContent ?? ""};
        }),
        greyed: [...document.querySelectorAll("svg.run-chart rect.greyed")].filter(
            (r) => r.getBoundingClientRect().width > 0).map((r) => r.textContent),
        frozen: [...document.querySelectorAll("svg.run-chart circle.point title")].map(
            (t) => t.textContent).filter((t) => t.includes("frozen since run")),
        figuresKeepWhole: [...document.querySelectorAll("figure")].every(
            (f) => getComputedStyle(f).breakInside === "avoid"),
        sectionsStartPages: [...document.querySelectorAll("section.measure")].every(
            (s) => getComputedStyle(s).breakBefore === "page"),
    };
}
""".replace("arguments_charts", repr(SVG_CHARTS))


@pytest.fixture(scope="module")
def browser():
    try:
        executable = ensure_chromium()
    except ChromiumUnavailable as problem:
        pytest.fail(str(problem))
    with sync_playwright() as playwright:
        started = playwright.chromium.launch(
            executable_path=str(executable), args=launch_arguments()
        )
        yield started
        started.close()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> dict:
    """The sample audited twice into one output folder: the second run's report."""
    out = tmp_path_factory.mktemp("out")
    first = publish_run(SAMPLE, out)
    return {**publish_run(SAMPLE, out), "first_run_id": first["run_id"]}


def open_report(browser, sample_run, viewport: dict, media: str, shots) -> dict:
    """The report opened from disk at `viewport` in `media`, with what it did loading."""
    page = browser.new_page(viewport=viewport)
    seen = {"console": [], "requests": []}
    page.on("console", lambda m: seen["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["console"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.emulate_media(media=media)
    page.goto(sample_run["report"].as_uri())
    facts = page.evaluate(PAGE_FACTS)
    name = f"report-{media}-{viewport['width']}"
    page.screenshot(path=shots / f"{name}.png", full_page=True)
    page.locator("#headline").screenshot(path=shots / f"{name}-headline.png")
    page.close()
    return {**facts, **seen}


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def screen(browser, sample_run, shots) -> dict:
    return open_report(browser, sample_run, SCREEN, "screen", shots)


@pytest.fixture(scope="module")
def printed(browser, sample_run, shots) -> dict:
    return open_report(browser, sample_run, A4_CONTENT, "print", shots)


def summary_totals(sample_run) -> dict[str, tuple[str, str]]:
    summary = pd.read_csv(sample_run["summary"], dtype=str, keep_default_na=False, na_values=[])
    rows = summary[(summary["site"] == "all sites") & (summary["reason"] == "(all)")]
    return {
        r.finding: (
            "" if r.suppressed == "True" else r.count,
            "" if r.denominator_suppressed == "True" else r.denominator,
        )
        for r in rows.itertuples()
    }


def test_the_report_renders_with_its_title_and_sections_in_meeting_order(screen):
    assert screen["title"] == REPORT_TITLE and screen["heading"] == REPORT_TITLE
    care_gaps = [n for n, f in registry().items() if f.kind == "care_gap"]
    assert screen["sections"] == [
        "headline",
        *care_gaps,
        "changes",
        "context",
        "data-quality",
        "methods",
        "appendix",
    ]


def test_the_headline_numbers_are_summary_csv_s(screen, sample_run):
    totals = summary_totals(sample_run)
    headline = screen["headline"]
    assert [row["finding"] for row in headline] == [
        n for n, f in registry().items() if f.kind == "care_gap"
    ]
    for row in headline:
        count, denominator = totals[row["finding"]]
        assert (row["count"], row["denominator"]) == (count, denominator), row["finding"]
        if count and int(denominator):
            assert row["percent"] == f"{int(count) / int(denominator):.1%}"
        else:
            assert row["percent"] == "not shown"
    assert any(row["percent"] != "not shown" for row in headline)


def test_every_finding_shown_is_named_by_its_label(screen):
    findings = registry()
    labels = {f.label for f in findings.values()}
    allowed = labels | {f"{label} (pending)" for label in labels}
    allowed.add("findings that need diagnoses")  # evaluability's row for unread codes
    assert screen["firstColumns"], "no table with a finding column"
    assert sorted(set(screen["firstColumns"]) - allowed) == []
    identifiers = [name for name in findings if "_" in name]
    shown = [name for name in identifiers if re.search(rf"\b{name}\b", screen["shownText"])]
    assert shown == [], "identifiers outside the appendix"


@pytest.mark.parametrize("view", ["screen", "printed"])
def test_nothing_overflows_the_page_and_chart_text_is_readable(view, request):
    facts = request.getfixturevalue(view)
    assert facts["overflowing"] == [] and not facts["scrollsSideways"]
    assert facts["textSizes"], "no chart text measured"
    assert min(facts["textSizes"]) >= 11


def test_printing_keeps_charts_whole_and_starts_each_care_gap_on_a_page(printed):
    assert printed["figuresKeepWhole"] and printed["sectionsStartPages"]


def test_every_measure_has_one_run_chart_with_a_title_and_description(screen, sample_run):
    charts = screen["charts"]
    assert charts, "the report has no <svg class='run-chart'>"
    assert all(c["width"] > 0 and c["height"] > 0 for c in charts)
    charted = [c["measure"] for c in charts]
    assert len(charted) == len(set(charted)), f"a measure is charted twice: {sorted(charted)}"
    assert set(charted) == measures_in(sample_run["database"])
    for chart in charts:
        assert registry()[chart["measure"]].label in chart["title"]
        assert chart["desc"].strip()


def measures_in(database) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute("select distinct measure from measures").fetchall()
    return {measure for (measure,) in rows}


def test_the_page_logs_no_console_errors_and_fetches_nothing(screen):
    assert screen["console"] == []
    assert any(url.startswith("file:") for url in screen["requests"])
    assert [u for u in screen["requests"] if not u.startswith(("file:", "data:"))] == []


def test_incomplete_periods_are_greyed_and_first_published_values_frozen(screen, sample_run):
    assert screen["greyed"], "no greyed period on any chart"
    assert all(t.endswith(("incomplete", "not evaluable")) for t in screen["greyed"])
    frozen = screen["frozen"]
    assert frozen and all(
        t.endswith(f"frozen since run {sample_run['first_run_id']}") for t in frozen
    )


def test_screenshots_are_saved_in_the_test_folder(screen, printed, shots):
    names = sorted(p.name for p in shots.glob("*.png"))
    assert names == [
        "report-print-703-headline.png",
        "report-print-703.png",
        "report-screen-1280-headline.png",
        "report-screen-1280.png",
    ]
    assert all((shots / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


def test_report_pdf_writes_an_a4_pdf(sample_run, capsys):
    try:
        pdf.find_chromium()
    except pdf.NoChromium as missing:
        pytest.skip(f"no Chromium to print with: {missing}")
    run_dir = sample_run["report"].parent.parent
    assert main(["report", str(run_dir), "--pdf"]) == 0
    written = run_dir / "shareable" / "report.pdf"
    assert f"b12audit: pdf {written}" in capsys.readouterr().out
    data = written.read_bytes()
    assert data.startswith(b"%PDF-")
    width, height = (
        float(v) for v in re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data).groups()
    )
    assert abs(width - 595.3) < 2 and abs(height - 841.9) < 2  # A4 in points


def test_report_pdf_says_what_to_install_without_chromium(sample_run, monkeypatch, capsys):
    monkeypatch.setenv(pdf.ENVIRONMENT_VARIABLE, "/no/such/chromium")
    run_dir = sample_run["report"].parent.parent
    assert main(["report", str(run_dir), "--pdf"]) == 2
    assert "B12AUDIT_CHROMIUM=/no/such/chromium: no such file" in capsys.readouterr().err


def test_report_pdf_names_the_browsers_it_looked_for(sample_run, monkeypatch, capsys):
    monkeypatch.delenv(pdf.ENVIRONMENT_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", "")
    assert main(["report", str(sample_run["report"].parent.parent), "--pdf"]) == 2
    message = capsys.readouterr().err
    assert "none was found (chromium, chromium-browser" in message
    assert "Install it (Debian: apt install chromium)" in message
