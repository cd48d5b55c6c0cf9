"""Helpers for spec tests: readable ASCII tables of patients in, findings out.

Tests run the real stages (DuckDB ingest, Pandera validation, SQL rules) on tiny CSV
extracts written to a temporary folder, without Prefect.
"""

from __future__ import annotations

import csv
import http.server
import json
import re
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from schemas.canonical import known_columns
from tests import spark_check
from transforms.config import AuditConfig
from transforms.operations import sequence
from transforms.operations.on_spark import READERS
from transforms.sqlfiles import sql_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def harness():
    """One temporary Prefect API server for every flow test (it takes ~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


SAMPLE = REPO / "data" / "sample"


def doc_blocks(page: Path, language: str) -> list[str]:
    """The fenced code blocks of one language on a page of the docs."""
    return re.findall(rf"^ *```{language}\n(.*?)^ *```", page.read_text(), re.M | re.S)


def doc_commands(page: Path) -> list[str]:
    """The shell commands of a page's bash blocks, one per line, comments dropped."""
    lines = (line.strip() for block in doc_blocks(page, "bash") for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a `a | b` table with a `---+---` rule under the header; blank cells are ''."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    header = [cell.strip() for cell in lines[0].split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def write_csv(path: Path, table: str, rows: list[dict[str, str]]) -> None:
    columns = known_columns(table)
    extra = [c for row in rows for c in row if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns + sorted(set(extra)))
        writer.writeheader()
        writer.writerows(rows)


def write_extract(
    folder: Path, labs: str = "", meds: str = "", patients: str = "", diagnoses: str | None = None
) -> Path:
    """An extract folder; diagnoses=None writes no diagnoses file, "" an empty one."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "lab_results.csv", "lab_results", parse_table(labs) if labs else [])
    write_csv(folder / "medications.csv", "medications", parse_table(meds) if meds else [])
    if patients:
        write_csv(folder / "patients.csv", "patients", parse_table(patients))
    if diagnoses is not None:
        rows = parse_table(diagnoses) if diagnoses else []
        write_csv(folder / "diagnoses.csv", "diagnoses", rows)
    return folder


def run_stages(input_dir: Path, config: AuditConfig, work: Path, fmt: str | None = None) -> Path:
    """The run sequence from ingest to tag (no Prefect); returns the build database.
    With B12AUDIT_SPARK_CROSSCHECK=1 an extract in a format Spark reads (canonical, OMOP,
    MEDS) also runs on Spark (spark_check.py)."""
    run = sequence.Run(input_dir, work, config, fmt)
    tagged = sequence.tagged(run, sequence.Runner())
    if spark_check.wanted() and tagged["files"][0]["format"] in READERS:
        spark_check.crosscheck(input_dir, config, run.build_db, work / "on-spark")
    return run.build_db


def publish_run(input_dir: Path, out_dir: Path, config: AuditConfig | None = None) -> dict:
    """One run as `b12audit run` runs it (the run sequence, without Prefect): built privately
    under OUT/runs/<id>/, reported, published into OUT. Returns the run id and paths."""
    run = sequence.Run(input_dir, out_dir, config or AuditConfig())
    result = sequence.one_off(run, sequence.Runner())
    return {**result, "report": Path(result["report"])}


@pytest.fixture(scope="session")
def published_sample(tmp_path_factory) -> dict:
    """The sample extract audited and published once for the whole session."""
    return publish_run(SAMPLE, tmp_path_factory.mktemp("published"))


def query(db: Path, sql: str, params: dict | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


class Audit:
    """Runs the audit on tables given as text and answers questions about the findings."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.runs = 0

    def run(
        self,
        labs: str = "",
        meds: str = "",
        patients: str = "",
        diagnoses: str | None = None,
        **config,
    ) -> Path:
        self.runs += 1
        folder = write_extract(
            self.tmp_path / f"extract{self.runs}", labs, meds, patients, diagnoses
        )
        return run_stages(folder, AuditConfig(**config), self.tmp_path / f"work{self.runs}")

    def flagged(self, finding: str, labs: str = "", meds: str = "", **extract) -> set[str]:
        db = self.run(labs, meds, **extract)
        rows = query(db, "select patient_id from findings where finding = $f", {"f": finding})
        return {r[0] for r in rows}

    def reasons(self, finding: str, labs: str = "", meds: str = "", **extract) -> dict:
        """patient -> [(reason, index_date)], in episode order. `extract` takes patients=,
        diagnoses= and configuration keys."""
        db = self.run(labs, meds, **extract)
        rows = query(
            db,
            "select patient_id, coalesce(reason, ''), index_date::varchar from findings "
            "where finding = $f order by patient_id, episode, index_date",
            {"f": finding},
        )
        out: dict[str, list] = {}
        for patient, reason, index_date in rows:
            out.setdefault(patient, []).append((reason, index_date))
        return out


@pytest.fixture
def audit(tmp_path: Path) -> Audit:
    return Audit(tmp_path)


@dataclass
class Webhook:
    url: str
    posts: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    gets: int = 0


@pytest.fixture
def webhook_server():
    """Starts HTTP receivers on 127.0.0.1 that answer `status`: start(status) -> Webhook."""
    servers = []

    def start(status=200, path="/hooks/b12audit"):
        hook = Webhook(url="")

        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append(json.loads(body))
                hook.headers.append(dict(self.headers))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):  # only a followed redirect would come here
                hook.gets += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep the test output quiet
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        hook.url = f"http://127.0.0.1:{server.server_port}{path}"
        return hook

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    """A port nothing listens on at the moment (the OS picked it free, then it was closed).
    A server started on it a moment later may still lose a race; these tests run alone."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sql_copy(tmp_path, monkeypatch):
    """A copy of sql/ that the registry and the runner read instead (B12AUDIT_SQL_DIR)."""
    copy = tmp_path / "sql"
    shutil.copytree(sql_dir(), copy)
    monkeypatch.setenv("B12AUDIT_SQL_DIR", str(copy))
    return copy
