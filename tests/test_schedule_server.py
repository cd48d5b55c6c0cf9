"""`b12audit schedule` and `b12audit serve` as an operator runs them, on a real Prefect server.

The server test starts `prefect server start` on 127.0.0.1 (a free port, its own
PREFECT_HOME), registers the deployment, serves it, triggers a run from another process
with the command `schedule` printed, and stops every process it started by process group.
Linux only: liveness is read from /proc (zombies waiting for their reaper do not count).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from flows.cli import PREFECT_DEFAULTS, main
from tests.analyst import Analyst
from tests.conftest import REPO, SAMPLE, doc_commands, free_port
from tests.test_flow import sample_patient_ids

BIN = Path(sys.executable).parent
SAMPLE_TABLES = ("lab_results.csv", "medications.csv", "patients.csv", "diagnoses.csv")
TERMINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


# --- Argument checks: no server needed ------------------------------------------------


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any Prefect setting of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, **PREFECT_DEFAULTS, "PREFECT_HOME": str(home), **extra}


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_schedule_without_a_prefect_server_configured_stops_and_says_how_to_start_one(tmp_path):
    done = cli("schedule", str(SAMPLE), env=isolated_env(tmp_path / "home"))
    assert done.returncode == 2
    assert "b12audit: PREFECT_API_URL is not set: start a server with" in done.stderr
    assert "export PREFECT_API_URL=http://127.0.0.1:4200/api" in done.stderr


def test_schedule_of_a_missing_drop_folder_stops_naming_it(tmp_path, capsys):
    assert main(["schedule", str(tmp_path / "no-such-folder")]) == 2
    assert (
        capsys.readouterr().err
        == f"b12audit: input error: {tmp_path}/no-such-folder: not a folder\n"
    )


def test_schedule_with_a_bad_configuration_stops_naming_the_key(tmp_path, capsys):
    config = tmp_path / "audit.toml"
    config.write_text("b12_deficent_below_pg_ml = 180\n")
    assert main(["schedule", str(SAMPLE), "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("b12audit: configuration error: ")
    assert "unknown key 'b12_deficent_below_pg_ml'" in error


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--cron", "61 6 1 * *", 'b12audit: schedule: Invalid cron string: "61 6 1 * *"'),
        ("--cron", "0 6 1 *", 'b12audit: schedule: Invalid cron string: "0 6 1 *"'),
        ("--timezone", "Mars/Base", 'b12audit: schedule: Invalid timezone: "Mars/Base"'),
        ("--name", "qi/b12", "b12audit: deployment name 'qi/b12': use letters, digits"),
    ],
)
def test_schedule_with_a_bad_schedule_or_name_stops_before_contacting_a_server(
    option, value, message, capsys, monkeypatch
):
    for key in PREFECT_DEFAULTS:  # main sets them for Prefect; restore them afterwards
        monkeypatch.setenv(key, PREFECT_DEFAULTS[key])
    assert main(["schedule", str(SAMPLE), option, value]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_schedule_with_no_server_answering_stops_naming_the_address(capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    for key in PREFECT_DEFAULTS:
        monkeypatch.setenv(key, PREFECT_DEFAULTS[key])
    api_url = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        assert main(["schedule", str(SAMPLE)]) == 2
    error = capsys.readouterr().err
    assert error == f"b12audit: no Prefect server answers at {api_url} (ConnectError);" + (
        " start one with `prefect server start`\n"
    )


# --- Processes: start in their own session, stop by process group ---------------------


def start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("w") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )


def live_members(group: int) -> list[int]:
    """Processes of the process group that are not zombies."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the group, then SIGKILL to whatever is left; waits for both."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):  # the group has already gone
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        while live_members(process.pid) and time.monotonic() < deadline:
            process.poll()  # reaps the leader once it has exited
            time.sleep(0.2)
        if not live_members(process.pid):
            break
    process.wait(timeout=10)


def tail(log: Path, lines: int = 60) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def processes(logs: dict[str, Path]):
    """The processes a test starts (append them to the list it yields): on failure their
    logs' last lines are printed; at the end each is stopped, and none may be left."""
    started: list[subprocess.Popen] = []
    try:
        yield started
    except BaseException:
        for name, log in logs.items():
            print(f"--- last lines of the {name} log ---\n{tail(log)}")
        raise
    finally:
        for process in reversed(started):
            stop(process)
    still_alive = {p.pid: live_members(p.pid) for p in started if live_members(p.pid)}
    assert not still_alive, f"processes left running: {still_alive}"


def sample_drop(folder: Path) -> Path:
    """A drop folder holding the sample's tables, as delivered: settled, not being written."""
    folder.mkdir()
    for table in SAMPLE_TABLES:
        shutil.copy2(SAMPLE / table, folder / table)
    return folder


# --- Talking to the server the way another process would ------------------------------


def api_get(api_url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{api_url}{path}", timeout=10) as response:
        return json.load(response)


def wait_until_healthy(api_url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "prefect server start exited"
        try:
            if api_get(api_url, "/health") is True:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    raise AssertionError(f"the Prefect server was not healthy within {timeout} s")


def wait_for_terminal_state(api_url: str, flow_run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api_get(api_url, f"/flow_runs/{flow_run_id}")["state_type"]
        if state in TERMINAL_STATES:
            return state
        time.sleep(1)
    raise AssertionError(f"flow run {flow_run_id} did not finish within {timeout} s")


def registration(api_url: str, name: str) -> dict:
    """What an operator registered: schedules, parameters, paused."""
    deployment = api_get(api_url, f"/deployments/name/scheduled-audit/{name}")
    schedules = [
        {"schedule": s["schedule"], "active": s["active"], "parameters": s["parameters"]}
        for s in deployment["schedules"]
    ]
    return {
        "schedules": schedules,
        "parameters": deployment["parameters"],
        "paused": deployment["paused"],
        "entrypoint": deployment["entrypoint"],
    }


def printed(output: str, label: str) -> str:
    """The rest of the line `b12audit: <label> ...` of a command's output."""
    match = re.search(rf"^b12audit: {re.escape(label)}\s*(.+)$", output, re.MULTILINE)
    assert match, f"no '{label}' line in:\n{output}"
    return match.group(1)


# --- The operator path ----------------------------------------------------------------

# docs/scheduling.md's commands, as an operator types them from the repository folder.
OPERATOR = doc_commands(REPO / "docs" / "scheduling.md")
DOCS_URL = "http://127.0.0.1:4200/api"


def test_the_docs_show_the_operator_path_this_test_follows():
    assert [shlex.split(c)[:3] for c in OPERATOR] == [
        [".venv/bin/prefect", "server", "start"],
        ["export", f"PREFECT_API_URL={DOCS_URL}"],
        [".venv/bin/b12audit", "schedule", "data/sample"],
        [".venv/bin/b12audit", "serve"],
        [".venv/bin/prefect", "deployment", "run"],
    ]


def as_run_here(command: str, **paths: Path) -> list[str]:
    """A docs command with this test's interpreter, and its folders for the docs' ones."""
    words = [str(paths.get(w, w)) for w in shlex.split(command)]
    if words[0] == ".venv/bin/b12audit":
        return [sys.executable, "-m", "flows.cli", *words[1:]]
    return [str(BIN / Path(words[0]).name), *words[1:]]


def test_a_scheduled_audit_runs_on_a_prefect_server_when_triggered_from_another_process(
    tmp_path,
):
    api_url = DOCS_URL.replace(":4200/", f":{free_port()}/")  # the docs' export, a free port
    env = isolated_env(
        tmp_path / "prefect-home",
        PREFECT_API_URL=api_url,
        PREFECT_RUNNER_POLL_FREQUENCY="2",  # serve looks for runs every 2 s, not 10
    )
    logs = {"server": tmp_path / "server.log", "serve": tmp_path / "serve.log"}
    with processes(logs) as started:
        host_port = api_url.removeprefix("http://").removesuffix("/api").split(":")
        command = [*as_run_here(OPERATOR[0]), "--host", host_port[0], "--port", host_port[1]]
        started.append(start(command, logs["server"], env))
        wait_until_healthy(api_url, started[0], timeout=150)
        operate(api_url, env, tmp_path, logs, started)


def operate(api_url, env, tmp_path, logs, started) -> None:
    nothing_yet = cli("serve", env=env)
    assert nothing_yet.returncode == 2
    assert "no scheduled-audit deployment is registered; run `b12audit schedule`" in (
        nothing_yet.stderr
    )

    drop, out = sample_drop(tmp_path / "drop"), tmp_path / "out"
    schedule = as_run_here(OPERATOR[2], **{"data/sample": drop, "b12audit-output": out})
    scheduled = subprocess.run(
        schedule, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert scheduled.returncode == 0, scheduled.stderr[-3000:]
    assert printed(scheduled.stdout, "registered") == (
        f"scheduled-audit/b12audit: 0 6 1 * * Europe/London; drop folder {drop}"
    )
    registered = registration(api_url, "b12audit")
    assert registered["schedules"] == [
        {
            "schedule": {"cron": "0 6 1 * *", "timezone": "Europe/London", "day_or": True},
            "active": True,
            "parameters": {},
        }
    ]
    assert registered["parameters"] == {
        "drop_dir": str(drop),
        "out_dir": str(out),
        "config_path": None,
        "input_format": None,
    }

    started.append(start(as_run_here(OPERATOR[3]), logs["serve"], env))
    run_now = shlex.split(printed(scheduled.stdout, "run now:"))
    assert run_now == ["prefect", *shlex.split(OPERATOR[4])[1:]]
    triggered = subprocess.run(
        as_run_here(OPERATOR[4]), env=env, capture_output=True, text=True, timeout=120
    )
    assert triggered.returncode == 0, triggered.stdout + triggered.stderr
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", triggered.stdout).group(1)

    assert wait_for_terminal_state(api_url, flow_run_id, timeout=240) == "COMPLETED"
    first_run = published_run_ids(out)
    assert len(first_run) == 1
    next_month_while_an_analyst_reads(api_url, env, drop, out, tmp_path, first_run[0])
    serve = started[-1]
    os.killpg(serve.pid, signal.SIGINT)  # Ctrl-C, as the README says
    assert serve.wait(timeout=60) == 0
    assert registration(api_url, "b12audit") == registered  # serve changed nothing, even stopping
    with duckdb.connect(str(out / "b12audit.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from findings").fetchall()[0][0] > 0
    assert len(list(out.glob("runs/*/shareable/report.html"))) == 2
    assert not set(logs["serve"].read_text().replace(",", " ").split()) & sample_patient_ids()


def published_run_ids(out: Path) -> list[str]:
    with duckdb.connect(str(out / "b12audit.duckdb"), read_only=True) as con:
        rows = con.execute("select run_id from runs where outcome = 'published' order by all")
        return [r[0] for r in rows.fetchall()]


NEXT_MONTH = """\
patient_id,drug_name,event_type,event_at
S-NEW-1,folic acid 5 mg tablet,administered,2025-06-01
"""


def next_month_while_an_analyst_reads(api_url, env, drop, out, tmp_path, first_run) -> None:
    """An analyst holds the published database open while the next month's scheduled run
    ingests a new file and publishes: the analyst keeps reading the old run, and sees the
    new one on reconnecting."""
    delivered = drop / "medications_next_month.csv"
    delivered.write_text(NEXT_MONTH, encoding="utf-8")
    past = time.time() - 120
    os.utime(delivered, (past, past))
    analyst = Analyst(out / "b12audit.duckdb", tmp_path)
    try:
        analyst.wait_for_lines(1)
        triggered = subprocess.run(
            [str(BIN / "prefect"), "deployment", "run", "scheduled-audit/b12audit"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", triggered.stdout).group(1)
        assert wait_for_terminal_state(api_url, flow_run_id, timeout=240) == "COMPLETED"
        during = len(analyst.lines)
        asked = analyst.reconnect()
        analyst.wait_for_lines(asked + 5)
    finally:
        analyst.stop()
    reconnected = analyst.lines.index("reconnected")
    assert during > 1 and set(analyst.lines[:reconnected]) == {f"ok {first_run}"}
    second_run = [r for r in published_run_ids(out) if r != first_run]
    assert len(second_run) == 1
    assert set(analyst.lines[reconnected + 1 :]) == {f"ok {second_run[0]}"}


# --- The schedule itself fires ----------------------------------------------------------


def api_post(api_url: str, path: str, body: dict) -> list | dict:
    request = urllib.request.Request(
        f"{api_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def first_scheduled_run_completed(api_url: str, deployment_id: str, timeout: float) -> dict:
    """The first run the server's scheduler made for the deployment, once finished."""
    deadline = time.monotonic() + timeout
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "sort": "START_TIME_ASC"}
    while time.monotonic() < deadline:
        runs = api_post(api_url, "/flow_runs/filter", body)
        done = [r for r in runs if r["auto_scheduled"] and r["state_type"] in TERMINAL_STATES]
        if done:
            return done[0]
        time.sleep(2)
    raise AssertionError(f"no scheduled run finished within {timeout} s")


def test_a_cron_schedule_creates_runs_that_serve_completes_with_no_trigger(tmp_path):
    """Nothing triggers a run here: the server's scheduler must create it from the cron (a
    scheduler that cannot write its runs, as with SQLAlchemy 2.1, creates none)."""
    api_url = f"http://127.0.0.1:{free_port()}/api"
    env = isolated_env(
        tmp_path / "prefect-home",
        PREFECT_API_URL=api_url,
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",  # the default looks every 60 s
    )
    logs = {"server": tmp_path / "server.log", "serve": tmp_path / "serve.log"}
    drop, out = sample_drop(tmp_path / "drop"), tmp_path / "out"
    port = api_url.split(":")[2].split("/")[0]
    with processes(logs) as started:
        server = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port]
        started.append(start(server, logs["server"], env))
        wait_until_healthy(api_url, started[0], timeout=150)
        every_minute = ("--cron", "* * * * *", "--timezone", "UTC", "--out", str(out))
        scheduled = cli("schedule", str(drop), *every_minute, env=env)
        assert scheduled.returncode == 0, scheduled.stderr[-3000:]
        started.append(start([sys.executable, "-m", "flows.cli", "serve"], logs["serve"], env))
        deployment = api_get(api_url, "/deployments/name/scheduled-audit/b12audit")
        run = first_scheduled_run_completed(api_url, deployment["id"], timeout=240)
        assert run["state_type"] == "COMPLETED"
        assert published_run_ids(out)  # the scheduled run audited the drop and published
    assert "Can't evaluate bulk DML" not in logs["server"].read_text(errors="replace")
