"""The worklist knows what happened next: each care gap has a stable id and a state (open,
pending, acted), and carries the team's own annotations; notes never leave patient_level/."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import publish_run, query, write_extract
from transforms.outputs import worklist_annotations
from transforms.outputs.worklist_annotations import AnnotationsError

LABS = """
    patient_id | test_code | result | unit  | collected_at | resulted_at
    -----------+-----------+--------+-------+--------------+------------
    filler     | 718-7     | 130    | g/L   | 2023-01-01   |
    filler     | 718-7     | 130    | g/L   | 2025-12-31   |
    treated_later | 2132-9 | 150    | pg/mL | 2024-03-01   |
    never      | 2132-9    | 150    | pg/mL | 2024-03-01   |
    recent     | 2132-9    | 150    | pg/mL | 2025-12-20   |
    mma_later  | 2132-9    | 250    | pg/mL | 2024-03-01   |
    mma_later  | 13964-2   | 200    | nmol/L | 2024-07-01  |
"""
MEDS = """
    patient_id | drug_name | event_type | event_at | dose | dose_unit | route
    -----------+-----------+------------+----------+------+-----------+------
    filler     | Paracetamol 500 mg tab      | administered | 2023-01-01 | 500 | mg | oral
    filler     | Paracetamol 500 mg tab      | administered | 2025-12-31 | 500 | mg | oral
    treated_later | Cyanocobalamin 1000 mcg tab | dispensed | 2024-04-15 | 1000 | mcg | oral
"""


def items(db: Path) -> dict[str, dict]:
    rows = query(
        db,
        "select patient_id, finding, state, acted_on::varchar, acted_evidence, item_id, "
        "annotation_status, annotation_owner, annotation_note from worklist_items",
    )
    keys = ("finding", "state", "acted_on", "acted_evidence", "item_id", "status", "owner", "note")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> dict:
    extract = write_extract(tmp_path_factory.mktemp("extract"), LABS, MEDS)
    return publish_run(extract, tmp_path_factory.mktemp("out"))


def test_each_item_is_open_acted_on_later_or_pending_while_its_window_runs(first):
    found = items(Path(first["database"]))
    assert {p: (i["finding"], i["state"]) for p, i in found.items()} == {
        "treated_later": ("b12_deficiency_untreated", "acted"),
        "never": ("b12_deficiency_untreated", "open"),
        "recent": ("b12_deficiency_untreated", "pending"),
        "mma_later": ("b12_borderline_no_mma", "acted"),
    }
    # Treatment 45 days after a result known on 2024-03-01: too late for the finding, but
    # the action happened, with its date and row.
    treated = found["treated_later"]
    assert treated["acted_on"] == "2024-04-15"
    assert treated["acted_evidence"] == "B12 treatment on 2024-04-15 (medications.csv:4)"
    # An MMA 122 days after the B12 is after its 90-day window: checked, late.
    assert found["mma_later"]["acted_evidence"] == "MMA result on 2024-07-01 (lab_results.csv:8)"
    assert found["never"]["acted_on"] is None


def test_open_items_come_first_then_pending_then_acted(first):
    rows = query(Path(first["database"]), "select state from worklist_items order by priority")
    assert [r[0] for r in rows] == ["open", "pending", "acted", "acted"]


def test_an_item_keeps_its_id_from_run_to_run_and_each_unit_has_its_own(first, tmp_path):
    # A later extract: one more month of data for a new patient.
    more = LABS + "    newcomer | 2132-9 | 150 | pg/mL | 2024-06-01 |\n"
    again = publish_run(write_extract(tmp_path / "extract", more, MEDS), tmp_path / "out")
    before, after = items(Path(first["database"])), items(Path(again["database"]))
    assert {p: i["item_id"] for p, i in before.items()} == {
        p: i["item_id"] for p, i in after.items() if p != "newcomer"
    }
    ids = [i["item_id"] for i in after.values()]
    assert len(set(ids)) == len(ids) and all(len(i) == 12 for i in ids)


ANNOTATED_NOTE = "called GP; see clinic letter"


@pytest.fixture(scope="module")
def annotated(first, tmp_path_factory) -> dict:
    """The same extract with the team's annotations file beside it."""
    ids = {p: i["item_id"] for p, i in items(Path(first["database"])).items()}
    extract = write_extract(tmp_path_factory.mktemp("annotated"), LABS, MEDS)
    (extract / "annotations.csv").write_text(
        "item_id,status,owner,note,date\n"
        f"{ids['never']},reviewed,Dr A,first look,2025-01-10\n"
        f"{ids['never']},actioned,Dr B,{ANNOTATED_NOTE},2025-02-01\n"
        f"{ids['recent']},not_applicable,,,2025-12-31\n"
        "0123456789ab,reviewed,Dr A,an item since gone,2024-12-01\n",
        encoding="utf-8",
    )
    out = tmp_path_factory.mktemp("annotated_out")
    return {**publish_run(extract, out), "ids": ids}


def test_each_item_shows_its_latest_annotation(annotated):
    found = items(Path(annotated["database"]))
    assert (found["never"]["status"], found["never"]["owner"], found["never"]["note"]) == (
        "actioned",
        "Dr B",
        ANNOTATED_NOTE,
    )
    assert (found["recent"]["status"], found["recent"]["note"]) == ("not_applicable", None)
    assert found["treated_later"]["status"] is None


def test_the_csv_and_workbook_carry_annotations_and_list_the_orphans_apart(annotated):
    patient_level = Path(annotated["run_dir"]) / "patient_level"
    with (patient_level / "worklist.csv").open(newline="", encoding="utf-8") as handle:
        notes = {r["patient_id"]: r["annotation_note"] for r in csv.DictReader(handle)}
    assert notes["never"] == ANNOTATED_NOTE
    with (patient_level / "annotations_without_item.csv").open(encoding="utf-8") as handle:
        orphans = list(csv.DictReader(handle))
    assert [(o["item_id"], o["note"], o["source_line"]) for o in orphans] == [
        ("0123456789ab", "an item since gone", "5")
    ]
    book = openpyxl.load_workbook(patient_level / "worklist.xlsx")
    kept = [[c.value for c in row] for row in book["Annotations without item"].iter_rows()]
    assert kept[1][:4] == ["0123456789ab", "reviewed", "Dr A", "an item since gone"]
    published = query(Path(annotated["database"]), "select count(*) from worklist_annotations")
    assert published == [(4,)]


def test_notes_never_reach_a_shareable_output(annotated):
    shareable = Path(annotated["run_dir"]) / "shareable"
    texts = [p.read_bytes() for p in shareable.rglob("*") if p.is_file()]
    assert texts and not any(ANNOTATED_NOTE.encode() in text for text in texts)
    assert not any(b"Dr B" in text for text in texts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "item_id,status,date\n0123456789ab,reviewed,2025-01-01\n0123456789ab,done,2025-01-02\n",
            "annotations.csv line 3, column status: must be one of reviewed, not_applicable, "
            "actioned",
        ),
        (
            "item_id,status,date\nP0114,reviewed,2025-01-01\n",
            "annotations.csv line 2, column item_id: is not a worklist item id",
        ),
        (
            "item_id,status,date\n0123456789ab,reviewed,2025-02-30\n",
            "annotations.csv line 2, column date: must be a date written YYYY-MM-DD",
        ),
        (
            "item_id,status,date,nhs_number\n",
            "annotations.csv line 1, column 4: not a known column",
        ),
        ("item_id,date\n", "annotations.csv line 1: no 'status' column"),
        (
            "P0114,reviewed,Dr Smith,called,2025-01-01\n",
            "annotations.csv line 1, column 1: not a known column",
        ),
    ],
)
def test_a_malformed_annotations_file_is_named_by_line_and_column(tmp_path, text, message):
    path = tmp_path / "annotations.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnnotationsError) as caught:
        worklist_annotations.read(path)
    assert str(caught.value).startswith(message)
    # A misplaced identifier or note is never echoed.
    assert not {"P0114", "Smith", "nhs_number"} & set(str(caught.value).replace(",", " ").split())


def test_the_command_stops_on_a_malformed_annotations_file_before_reading_data(tmp_path):
    extract = write_extract(tmp_path / "extract", LABS, MEDS)
    bad = tmp_path / "notes.csv"
    bad.write_text("item_id,status,date\n0123456789ab,done,2025-01-01\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "run",
            str(extract),
            "--out",
            str(tmp_path / "o"),
            "--annotations",
            str(bad),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "notes.csv line 2, column status: must be one of" in done.stderr
    assert not (tmp_path / "o").exists()


# --- The patient timeline behind every item ----------------------------------------------


def test_every_item_links_to_its_patient_s_timeline_page_under_patient_level(first):
    run_dir = Path(first["run_dir"])
    patient_level = run_dir / "patient_level"
    with (patient_level / "worklist.csv").open(newline="", encoding="utf-8") as handle:
        links = {r["patient_id"]: r["timeline"] for r in csv.DictReader(handle)}
    assert set(links) == {"treated_later", "never", "recent", "mma_later"}
    assert all((patient_level / link).is_file() for link in links.values())
    pages = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*.html"))
    timelines = sorted(Path("patient_level") / link for link in links.values())
    assert [p for p in pages if p.parts[0] != "shareable"] == timelines
    book = openpyxl.load_workbook(patient_level / "worklist.xlsx")
    sheet = book["Worklist"]
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("timeline") + 1)
    assert cell.hyperlink.target == cell.value and cell.value.startswith("timelines/")


def test_a_timeline_marks_the_deciding_row_the_acting_row_and_draws_the_window(first):
    patient_level = Path(first["run_dir"]) / "patient_level"
    (link,) = query(
        Path(first["database"]),
        "select timeline from worklist_items where patient_id = 'treated_later'",
    )
    page = (patient_level / link[0]).read_text(encoding="utf-8")
    assert "<h1>Patient treated_later: timeline</h1>" in page
    # The window: 30 days before the B12 to 30 days after it was known.
    assert "2024-01-31 to 2024-03-31" in page
    deciding = "<td>lab_results.csv:4</td><td>1</td><td></td>"
    acting = "<td>medications.csv:4</td><td></td><td>1</td>"
    assert deciding in page and acting in page
    assert 'fill="#c0392b"' in page and 'fill="#1e8449"' in page
    assert "never" not in page.split("<h2>Every row</h2>")[1]  # one patient per page


def test_the_analysts_database_has_a_patient_timeline_view(first):
    rows = query(
        Path(first["database"]),
        "select lane, item, value, unit, row_id from patient_timeline "
        "where patient_id = 'treated_later' order by event_at",
    )
    assert rows == [
        ("B12", "b12", 150.0, "pg/mL", "lab_results.csv:4"),
        ("B12 treatment", "Cyanocobalamin 1000 mcg tab", None, None, "medications.csv:4"),
    ]


# --- The sample: no care gap already acted on is left open -------------------------------


def b12_treatment_days(sample: Path) -> dict[str, list[str]]:
    """Each patient's B12 treatment days, read straight from the sample's medications file
    (a cobalamin given or dispensed, the cyanide antidote doses of 5 g aside): a reference
    independent of the audit's SQL."""
    days: dict[str, list[str]] = {}
    with (sample / "medications.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = row["drug_name"].lower()
            given = row["event_type"] in ("administered", "dispensed")
            antidote = "cyanokit" in name or " 5 g" in name
            if given and "cobalamin" in name and not antidote:
                days.setdefault(row["patient_id"], []).append(row["event_at"][:10])
    return days


def test_in_the_sample_no_untreated_deficiency_that_was_later_treated_is_open(published_sample):
    from tests.conftest import SAMPLE

    treated = b12_treatment_days(SAMPLE)
    items = query(
        Path(published_sample["database"]),
        "select patient_id, index_date::varchar, state from worklist_items "
        "where finding = 'b12_deficiency_untreated'",
    )
    later = {(p, d) for p, d, _ in items if any(day > d for day in treated.get(p, []))}
    assert later  # the sample has deficiencies treated late (e.g. the day-31 scenarios)
    assert all(state == "acted" for p, d, state in items if (p, d) in later)
    assert all(state in ("open", "pending") for p, d, state in items if (p, d) not in later)


def test_pages_are_written_for_the_patients_in_the_workbook_s_rows_only(
    audit, tmp_path, monkeypatch
):
    from transforms import database
    from transforms.config import AuditConfig
    from transforms.outputs import worklist

    monkeypatch.setattr(worklist, "EXCEL_MAX_ROWS", 1)
    db = audit.run(LABS, MEDS)
    with database.connect(db) as con:
        worklist.build(con, AuditConfig())
        worklist.write(con, tmp_path / "patient_level")
    linked = query(db, "select priority, timeline is not null from worklist_items order by 1")
    assert linked == [(1, True), (2, False), (3, False), (4, False)]
    assert len(list((tmp_path / "patient_level" / "timelines").iterdir())) == 1


def test_the_rows_that_decided_a_finding_never_count_as_what_followed(audit):
    from transforms import database
    from transforms.config import AuditConfig
    from transforms.outputs import worklist

    # Folic acid on 2024-03-01, its only B12 (adequate) taken 4 days later: tested_after,
    # judged on that B12, which cannot also close the item.
    labs = LABS + "    tested_after | 2132-9 | 400 | pg/mL | 2024-03-05 |\n"
    meds = (
        MEDS + "    tested_after | Folic acid 5 mg tab | dispensed | 2024-03-01 | 5 | mg | oral\n"
    )
    db = audit.run(labs, meds)
    with database.connect(db) as con:
        worklist.build(con, AuditConfig())
    rows = query(db, "select reason, state from worklist_items where patient_id = 'tested_after'")
    assert rows == [("tested_after", "open")]


def test_a_one_off_run_into_an_existing_output_folder_compares_with_its_last_run(tmp_path):
    import json

    out = tmp_path / "out"
    before = publish_run(write_extract(tmp_path / "january", LABS, MEDS), out)
    # Next month: 'never' got treated, and a new patient has a deficient B12.
    labs = LABS + "    newcomer | 2132-9 | 150 | pg/mL | 2024-06-01 |\n"
    meds = (
        MEDS
        + "    never | Cyanocobalamin 1000 mcg tab | dispensed | 2024-03-10 | 1000 | mcg | oral\n"
    )
    after = publish_run(write_extract(tmp_path / "february", labs, meds), out)
    manifest = json.loads(Path(after["manifest"]).read_text())
    assert manifest["previous_run_id"] == before["run_id"]
    diff = query(
        Path(after["database"]),
        "select patient_id, finding, status from reaudit_diff "
        "where finding = 'b12_deficiency_untreated' and status <> 'still_flagged' order by all",
    )
    assert diff == [
        ("never", "b12_deficiency_untreated", "resolved"),
        ("newcomer", "b12_deficiency_untreated", "newly_flagged"),
    ]
    assert (Path(after["run_dir"]) / "patient_level" / "reaudit_diff.csv").is_file()
