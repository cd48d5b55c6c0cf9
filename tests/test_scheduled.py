"""Scheduled runs over a drop folder: the history, the file registry, runs, the re-audit
diff, and what a failure leaves behind (the flow `scheduled-audit`, on Prefect's test
server; the real server and `b12audit serve` are in test_schedule_server.py)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from prefect.blocks.abstract import NotificationBlock

from tests.conftest import parse_table, write_csv
from transforms.errors import InputError
from transforms.operations import drop_folder, history, out_folder

B12_LAST_YEAR = """
    patient_id | test_code | result | unit  | collected_at
    -----------+-----------+--------+-------+-------------
    p1         | 2132-9    | 150    | pg/mL | 2023-06-01
    p2         | 2132-9    | 500    | pg/mL | 2023-06-01
"""
NOTHING_YET = """
    patient_id | drug_name          | event_type   | event_at
    -----------+--------------------+--------------+-----------
    p9         | paracetamol 500 mg | administered | 2023-06-01
"""
FOLATE_THIS_MONTH = """
    patient_id | drug_name              | event_type   | event_at
    -----------+------------------------+--------------+-----------
    p1         | folic acid 5 mg tablet | administered | 2024-02-10
    p2         | folic acid 5 mg tablet | administered | 2024-02-10
"""
B12_GIVEN_FOR_P1 = """
    patient_id | drug_name                   | event_type   | event_at
    -----------+-----------------------------+--------------+-----------
    p1         | hydroxocobalamin 1 mg/mL IM | administered | 2024-02-09
"""


def deliver(drop: Path, name: str, table: str, rows: str) -> Path:
    """A file as the extract system delivers it: written, then left alone a while."""
    drop.mkdir(parents=True, exist_ok=True)
    path = drop / name
    write_csv(path, table, parse_table(rows))
    settle(path)
    return path


def settle(path: Path) -> None:
    past = time.time() - 10 * drop_folder.SETTLE_SECONDS
    os.utime(path, (past, past))


def run(drop: Path, out: Path, config: Path | None = None) -> dict:
    from flows.scheduled import scheduled_audit

    return scheduled_audit(str(drop), str(out), str(config) if config else None)


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def flagged(out: Path, finding: str) -> set[str]:
    rows = query(
        out / "b12audit.duckdb",
        f"select patient_id from findings_current where finding = '{finding}'",
    )
    return {r[0] for r in rows}


@pytest.fixture
def first_month(harness, tmp_path):
    drop, out = tmp_path / "drop", tmp_path / "out"
    deliver(drop, "lab_results_2023-06.csv", "lab_results", B12_LAST_YEAR)
    deliver(drop, "medications_2023-06.csv", "medications", NOTHING_YET)
    assert run(drop, out)["outcome"] == "published"
    return drop, out


def test_a_folate_dose_this_month_is_judged_against_last_years_b12(first_month):
    drop, out = first_month
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    assert run(drop, out)["outcome"] == "published"
    assert flagged(out, "folate_before_b12") == {"p1"}  # p2's B12 was adequate
    reasons = query(
        out / "b12audit.duckdb",
        "select reason from findings_current where finding = 'folate_before_b12'",
    )
    assert reasons == [("known_low_untreated",)]


def test_the_same_file_delivered_twice_changes_nothing(first_month):
    drop, out = first_month
    published = (out / "b12audit.duckdb").stat()
    copy = drop / "lab_results_2023-06-again.csv"
    shutil.copy2(drop / "lab_results_2023-06.csv", copy)
    assert run(drop, out)["outcome"] == "unchanged"
    assert (out / "b12audit.duckdb").stat().st_ino == published.st_ino
    lab_rows = query(out / history.HISTORY_NAME, "select count(*) from lab_results")
    assert lab_rows == [(2,)]


def test_a_run_with_no_new_files_keeps_the_published_results(first_month):
    drop, out = first_month
    before = (out / "b12audit.duckdb").stat()
    result = run(drop, out)
    assert result["outcome"] == "unchanged"
    after = (out / "b12audit.duckdb").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    outcomes = query(out / history.HISTORY_NAME, "select outcome from runs order by started_at")
    assert [o for (o,) in outcomes] == ["published", "unchanged"]


def test_a_corrected_redelivery_replaces_the_earlier_version(first_month):
    drop, out = first_month
    corrected = B12_LAST_YEAR.replace(
        "p1         | 2132-9    | 150", "p1         | 2132-9    | 450"
    )
    deliver(drop, "lab_results_2023-06.csv", "lab_results", corrected)
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    assert run(drop, out)["outcome"] == "published"
    assert flagged(out, "folate_before_b12") == set()
    assert flagged(out, "b12_deficient") == set()
    hist = out / history.HISTORY_NAME
    assert query(hist, "select count(*) from lab_results") == [(2,)]
    statuses = query(
        hist,
        "select status from delivered_files where name = 'lab_results_2023-06.csv' order by status",
    )
    assert statuses == [("current",), ("replaced",)]


def test_runs_are_recorded_with_files_counts_and_configuration(first_month, tmp_path):
    drop, out = first_month
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    config = tmp_path / "audit.toml"
    config.write_text("b12_tested_after_days = 60\n")
    run(drop, out, config)
    runs = query(
        out / "b12audit.duckdb",
        "select outcome, files_new, files_unchanged, rows_loaded, findings > 0, "
        "length(config_sha256), input_format from runs order by started_at",
    )
    assert runs == [
        ("published", 2, 0, 3, True, 64, "canonical"),
        ("published", 1, 2, 5, True, 64, "canonical"),
    ]
    files = query(
        out / history.HISTORY_NAME,
        "select name, action from run_files where run_id = (select max(run_id) from runs) "
        "order by name",
    )
    assert files == [
        ("lab_results_2023-06.csv", "unchanged"),
        ("medications_2023-06.csv", "unchanged"),
        ("medications_2024-02.csv", "new"),
    ]


def test_a_changed_configuration_reaudits_the_history_without_new_files(first_month, tmp_path):
    drop, out = first_month
    config = tmp_path / "audit.toml"
    config.write_text("b12_deficient_below_pg_ml = 140.0\n")
    assert run(drop, out, config)["outcome"] == "published"
    assert flagged(out, "b12_deficient") == set()


def test_the_reaudit_diff_shows_newly_flagged_resolved_and_still_flagged(first_month):
    drop, out = first_month
    assert flagged(out, "b12_deficient") == {"p1"}
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    run(drop, out)
    deliver(drop, "medications_2024-02b.csv", "medications", B12_GIVEN_FOR_P1)
    run(drop, out)
    rows = query(
        out / "b12audit.duckdb",
        "select finding, status from reaudit_diff where patient_id = 'p1' order by all",
    )
    assert ("folate_before_b12", "resolved") in rows  # B12 given the day before the folate
    assert ("b12_deficient", "still_flagged") in rows
    current = query(
        out / "b12audit.duckdb",
        "select since_previous_run from findings_current where finding = 'b12_deficient'",
    )
    assert current == [("still_flagged",)]


FOLATE_AGAIN_A_YEAR_LATER = """
    patient_id | drug_name              | event_type   | event_at
    -----------+------------------------+--------------+-----------
    p1         | folic acid 5 mg tablet | administered | 2025-03-10
"""


def test_the_diff_is_by_unit_so_a_new_episode_of_a_flagged_patient_is_newly_flagged(
    first_month,
):
    drop, out = first_month
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    run(drop, out)
    deliver(drop, "medications_2025-03.csv", "medications", FOLATE_AGAIN_A_YEAR_LATER)
    run(drop, out)
    rows = query(
        out / "b12audit.duckdb",
        "select unit_key, status from reaudit_diff "
        "where patient_id = 'p1' and finding = 'folate_before_b12' order by all",
    )
    # p1's only B12 (June 2023) is over 365 days before March 2025: a new episode, flagged.
    assert rows == [("2024-02-10", "still_flagged"), ("2025-03-10", "newly_flagged")]
    current = query(
        out / "b12audit.duckdb",
        "select index_date, since_previous_run from findings_current "
        "where finding = 'folate_before_b12' and patient_id = 'p1' order by index_date",
    )
    assert [status for _, status in current] == ["still_flagged", "newly_flagged"]


def test_the_first_run_has_no_previous_run_to_compare_with(first_month):
    _, out = first_month
    assert query(out / "b12audit.duckdb", "select count(*) from reaudit_diff") == [(0,)]


def test_a_failed_run_leaves_the_published_results_and_is_recorded(first_month):
    drop, out = first_month
    published = (out / "b12audit.duckdb").read_bytes()
    bad = drop / "medications_2024-03.csv"
    bad.write_text("patient_id,drug_name\np1,folic acid\n", encoding="utf-8")
    settle(bad)
    with pytest.raises(InputError, match="medications_2024-03.csv"):
        run(drop, out)
    assert (out / "b12audit.duckdb").read_bytes() == published
    last = query(
        out / history.HISTORY_NAME,
        "select outcome, message from runs order by started_at desc, run_id desc limit 1",
    )
    assert last[0][0] == "failed" and "medications_2024-03.csv" in last[0][1]
    assert "p1" not in last[0][1]
    deliver(drop, bad.name, "medications", FOLATE_THIS_MONTH)  # the site corrects it
    assert run(drop, out)["outcome"] == "published"
    assert flagged(out, "folate_before_b12") == {"p1"}


def test_a_file_still_being_written_is_not_read(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "lab_results_2024-03.csv").write_text("patient_id,test_code\n", encoding="utf-8")
    with pytest.raises(drop_folder.FileNotReady, match="lab_results_2024-03.csv"):
        drop_folder.scan_drop(drop)


def test_only_a_file_not_ready_is_retried():
    from flows.scheduled import retry_only_when_not_ready

    class State:
        def __init__(self, data):
            self.data = data

    assert retry_only_when_not_ready(None, None, State(drop_folder.FileNotReady("x")))
    assert not retry_only_when_not_ready(None, None, State(InputError("x")))
    assert not retry_only_when_not_ready(None, None, State(ValueError("x")))


def test_a_bad_configuration_fails_the_run_at_once_and_is_recorded(first_month, tmp_path):
    from transforms.config import ConfigError

    drop, out = first_month
    config = tmp_path / "audit.toml"
    config.write_text("b12_deficient_below_pg_ml = -1\n")
    started = time.monotonic()
    with pytest.raises(ConfigError, match="b12_deficient_below_pg_ml"):
        run(drop, out, config)
    assert time.monotonic() - started < 14  # no retry: the first would wait 15 s
    last = query(
        out / history.HISTORY_NAME,
        "select outcome, message from runs order by started_at desc, run_id desc limit 1",
    )
    assert last[0][0] == "failed" and "b12_deficient_below_pg_ml" in last[0][1]


def test_a_run_that_failed_to_publish_is_redone_by_the_next_run(first_month, monkeypatch):
    from transforms.operations import stages

    drop, out = first_month
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    publish = stages.publish
    monkeypatch.setattr(stages, "publish", lambda *args: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError):
        run(drop, out)
    assert flagged(out, "folate_before_b12") == set()  # the old results still stand
    monkeypatch.setattr(stages, "publish", publish)
    assert run(drop, out)["outcome"] == "published"  # nothing new, but the last one failed
    assert flagged(out, "folate_before_b12") == {"p1"}


def alerting_config(tmp_path: Path, hook) -> Path:
    config = tmp_path / "alerts.toml"
    config.write_text(f'[alerts]\nwebhook_url = "{hook.url}"\n', encoding="utf-8")
    return config


def test_a_failed_run_tells_the_alert_channel_without_patient_data(
    first_month, tmp_path, webhook_server
):
    drop, out = first_month
    hook = webhook_server()
    bad = drop / "medications_2024-03.csv"
    bad.write_text("patient_id,drug_name\np1,folic acid\n", encoding="utf-8")
    settle(bad)
    with pytest.raises(InputError):
        run(drop, out, alerting_config(tmp_path, hook))
    [alert] = hook.posts
    assert alert["kind"] == "run_failed" and alert["stage"] == "ingest"
    assert "medications_2024-03.csv" in alert["error"]
    assert "p1" not in json.dumps(alert)


def test_a_measure_signal_on_the_latest_month_tells_the_alert_channel(
    first_month, tmp_path, webhook_server, monkeypatch
):
    from transforms.operations import stages

    drop, out = first_month
    hook = webhook_server()
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    signal = {"measure": "folate_before_b12", "month": "2024-02-01", "kind": "outside_limits"}
    monkeypatch.setattr(stages, "latest_signals", lambda *args: [signal])
    run(drop, out, alerting_config(tmp_path, hook))
    [alert] = hook.posts
    assert alert["kind"] == "measures_signalled"
    assert alert["signals"] == [{**signal, "month": "2024-02"}]


class RecordingNotifier(NotificationBlock):
    """A notification block as a team would set one up in the Prefect UI, that keeps what
    it is told in a file."""

    _block_type_name = "B12 test notifier"
    path: str

    def notify(self, body: str, subject: str | None = None) -> None:
        Path(self.path).write_text(json.dumps({"subject": subject, "body": body}))


def test_a_signal_goes_through_the_prefect_notification_blocks_named(
    first_month, tmp_path, monkeypatch
):
    from transforms.operations import stages

    drop, out = first_month
    told = tmp_path / "told.json"
    RecordingNotifier(path=str(told)).save("qi-team", overwrite=True)
    config = tmp_path / "blocks.toml"
    blocks = '["b12-test-notifier/qi-team", "b12-test-notifier/no-such-block"]'
    config.write_text(f"[alerts]\nprefect_blocks = {blocks}\n", encoding="utf-8")
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    signal = {"measure": "folate_before_b12", "month": "2024-02-01", "kind": "shift"}
    monkeypatch.setattr(stages, "latest_signals", lambda *args: [signal])
    assert run(drop, out, config)["outcome"] == "published"  # the missing block is logged
    message = json.loads(told.read_text())
    assert message["subject"].endswith("1 measure signal(s)")
    assert "- folate_before_b12, 2024-02: shift" in message["body"]


def test_putting_back_an_earlier_version_of_a_file_reads_it_again(first_month):
    drop, out = first_month
    original = (drop / "lab_results_2023-06.csv").read_bytes()
    corrected = B12_LAST_YEAR.replace("| 150 ", "| 450 ")
    deliver(drop, "lab_results_2023-06.csv", "lab_results", corrected)
    run(drop, out)
    assert flagged(out, "b12_deficient") == set()
    (drop / "lab_results_2023-06.csv").write_bytes(original)  # the correction withdrawn
    settle(drop / "lab_results_2023-06.csv")
    assert run(drop, out)["outcome"] == "published"
    assert flagged(out, "b12_deficient") == {"p1"}


def test_a_copy_in_the_same_drop_is_read_once(harness, tmp_path):
    drop, out = tmp_path / "drop", tmp_path / "out"
    deliver(drop, "lab_results_2023-06.csv", "lab_results", B12_LAST_YEAR)
    shutil.copy2(drop / "lab_results_2023-06.csv", drop / "lab_results_2023-06-copy.csv")
    deliver(drop, "medications_2023-06.csv", "medications", NOTHING_YET)
    run(drop, out)
    assert query(out / history.HISTORY_NAME, "select count(*) from lab_results") == [(2,)]
    actions = query(out / history.HISTORY_NAME, "select action from run_files order by name")
    assert sorted(a for (a,) in actions) == ["duplicate", "new", "new"]


def test_one_output_folder_keeps_the_history_of_one_drop_folder(first_month, tmp_path):
    _, out = first_month
    other = tmp_path / "other-drop"
    deliver(other, "lab_results_2024-01.csv", "lab_results", B12_LAST_YEAR)
    deliver(other, "medications_2024-01.csv", "medications", NOTHING_YET)
    with pytest.raises(InputError, match="holds the history of the drop folder"):
        run(other, out)


def test_the_output_folder_may_not_be_inside_the_drop_folder(harness, tmp_path):
    drop = tmp_path / "drop"
    deliver(drop, "lab_results_2023-06.csv", "lab_results", B12_LAST_YEAR)
    deliver(drop, "medications_2023-06.csv", "medications", NOTHING_YET)
    with pytest.raises(InputError, match="must not be inside the drop folder"):
        run(drop, drop / "out")


def test_a_second_run_on_the_same_output_folder_waits_for_no_one_and_stops(first_month):
    drop, out = first_month
    with out_folder.exclusive(out), pytest.raises(out_folder.RunInProgress, match="another"):
        run(drop, out)
    outcomes = query(out / history.HISTORY_NAME, "select outcome from runs")
    assert outcomes == [("published",)]  # the stopped run wrote nothing


def test_published_results_stand_only_after_a_run_that_finished_publishing(tmp_path):
    run_facts = {"run_id": "r9", "config_sha256": "c", "code_version": "v"}
    with history.connect(tmp_path / "h.duckdb") as con:
        assert not history.results_stand(con, run_facts)  # nothing published yet
        for run_id, outcome in [("r1", "published"), ("r2", "unchanged")]:
            con.execute(
                "insert into runs (run_id, started_at, outcome, config_sha256, code_version) "
                "values ($r, now(), $o, 'c', 'v')",
                {"r": run_id, "o": outcome},
            )
        assert history.results_stand(con, run_facts)
        assert not history.results_stand(con, {**run_facts, "config_sha256": "other"})
        assert not history.results_stand(con, {**run_facts, "code_version": "edited rules"})
        con.execute(
            "insert into runs (run_id, started_at, outcome, config_sha256, code_version) "
            "values ('r3', now(), 'committed', 'c', 'v')"
        )  # died between committing the history and the swap
        assert not history.results_stand(con, run_facts)


def test_an_internal_error_is_recorded_and_alerted_by_its_kind_only(
    first_month, tmp_path, webhook_server, monkeypatch
):
    from transforms.operations import stages

    drop, out = first_month
    hook = webhook_server()
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)

    def broken(*args):
        raise RuntimeError("could not convert 'p1' (B12 150)")  # as DuckDB might quote data

    monkeypatch.setattr(stages, "harmonise", broken)
    with pytest.raises(RuntimeError):
        run(drop, out, alerting_config(tmp_path, hook))
    [(message,)] = query(
        out / history.HISTORY_NAME, "select message from runs where outcome = 'failed'"
    )
    assert message == "RuntimeError (see the Prefect run log)"
    [alert] = hook.posts
    assert alert["stage"] == "harmonise" and "p1" not in json.dumps(alert)


def test_the_manifest_lists_the_files_read_now_and_those_kept_from_the_history(first_month):
    drop, out = first_month
    deliver(drop, "medications_2024-02.csv", "medications", FOLATE_THIS_MONTH)
    manifest = json.loads(Path(run(drop, out)["manifest"]).read_text())
    assert [f["file"] for f in manifest["inputs"]] == ["medications_2024-02.csv"]
    kept = [f["file"] for f in manifest["history_files"]]
    assert kept == ["lab_results_2023-06.csv", "medications_2023-06.csv"]


def test_annotations_in_the_drop_folder_join_the_worklist_without_rereading_the_data(
    first_month,
):
    drop, out = first_month
    # Medications from January: p1's deficient B12 (June) is then judged untreated.
    deliver(drop, "medications_2023-01.csv", "medications", NOTHING_YET.replace("06-01", "01-01"))
    assert run(drop, out)["outcome"] == "published"
    (item,) = query(out / "b12audit.duckdb", "select item_id from worklist where patient_id = 'p1'")
    notes = drop / "annotations.csv"
    notes.write_text(f"item_id,status,note,date\n{item[0]},reviewed,seen,2024-01-05\n")
    settle(notes)
    result = run(drop, out)
    assert result["outcome"] == "published"
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["inputs"] == []  # no data file read again
    assert manifest["annotations"] == {"file": "annotations.csv", "rows": 1}
    annotated = query(
        out / "b12audit.duckdb",
        "select patient_id, annotation_status, annotation_note from worklist",
    )
    assert annotated == [("p1", "reviewed", "seen")]
