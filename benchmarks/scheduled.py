"""Benchmark scheduled runs of the `scheduled-audit` deployment on a real Prefect server.

    python benchmarks/scheduled.py [--lab-rows 0 1000000] [--repeat 3] [--workdir /tmp/b12bench]

For each size (0 = the canonical CSVs of data/sample/, else the extract of run.py's generator,
cached in WORKDIR) this starts one `prefect server start` (its own PREFECT_HOME, a free port),
registers one deployment per repetition with `b12audit schedule DROP --out OUT --name bench-K`
(a fresh drop folder and output folder each), starts `b12audit serve`, and then, per
repetition, triggers three runs with `prefect deployment run` and times each from the start of
that command to the flow run's terminal state (the API polled every 0.25 s):

  first         the first run: an empty history, every file read;
  no_new_files  the same drop again: the run should record `unchanged` and do nothing else;
  one_new_file  after a new medications file of 1,000 events (existing patients, the month
                after the extract's last event) lands in the drop: a monthly delivery.

Each run also records the flow run's own duration (the API's start_time to end_time), its
outcome (the history's `runs` table), the stage timings of its manifest.json (an unchanged run
writes none) and the peak summed RSS of the serve process tree, flow run subprocess included
(each run starts once the previous run's subprocess has exited: runs a month apart never
overlap). serve asks for runs every --poll-seconds (default 2; Prefect's default is 10).
Prints a markdown table of medians and writes benchmarks/results/<date>-scheduled-<rows>.json
(`-scheduled-sample.json` for data/sample). A failed run, or an outcome other than expected,
stops the benchmark with the serve log's tail. Every process started is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent  # the venv's `b12audit` and `prefect` scripts
bench = _load("b12bench_run", HERE / "run.py")  # extracts, RSS polling, machine info
generator = _load("b12bench_generate", HERE / "generate.py")  # the medication catalogue

SAMPLE = REPO / "data" / "sample"
TABLES = ("lab_results", "medications", "patients", "diagnoses")
EXPECTED = {"first": "published", "no_new_files": "unchanged", "one_new_file": "published"}
TERMINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
API_POLL_SECONDS = 0.25
RUN_TIMEOUT_SECONDS = 1800
NEW_FILE_ROWS = 1000
# What each run's row in the history's `runs` table says, kept with its timings.
RUN_FACTS = ("files_", "rows_", "findings", "code_version", "config_sha256")
SETTLED_SECONDS_AGO = 120  # the flow waits for files modified in the last 10 s
# The server stops on SIGTERM; serve on Ctrl-C (SIGINT), as its README says.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# As `b12audit` sets them (flows/cli.py); the machine is offline.
PREFECT_DEFAULTS = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class BenchmarkError(RuntimeError):
    """A run failed or did something other than expected; the message says what."""


# --- processes: each in its own session, stopped by process group -------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def live(pid: int) -> bool:
    """Not ended, nor a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def group_members(group: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return members


def stop(process: subprocess.Popen, first: signal.Signals = signal.SIGTERM) -> None:
    """`first` to the group, SIGKILL to what is left, waiting for every member (the leader
    may exit before its children); then any descendant that left the group is killed."""
    descendants = [p for p in bench._tree(process.pid) if p != process.pid]
    for sig, grace in ((first, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        while group_members(process.pid) and time.monotonic() < deadline:
            process.poll()  # reaps the leader once it has exited
            time.sleep(0.2)
        if not group_members(process.pid):
            break
    for pid in descendants:
        if live(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)


class TreePeak:
    """The peak summed VmRSS of a process tree, polled in a thread; reset between runs."""

    def __init__(self, root: int):
        self.root, self.peak_kb, self._stop = root, 0, threading.Event()
        self._lock, self._generation = threading.Lock(), 0
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def now_kb(self) -> int:
        return sum(bench._rss_kb(pid) for pid in bench._tree(self.root))

    def _poll(self) -> None:
        while not self._stop.is_set():
            generation, kb = self._generation, self.now_kb()
            with self._lock:  # a reading taken before a reset belongs to the previous run
                if generation == self._generation:
                    self.peak_kb = max(self.peak_kb, kb)
            time.sleep(bench.POLL_SECONDS)

    def reset(self) -> int:
        """Starts a new peak from the current RSS, which it returns."""
        kb = self.now_kb()
        with self._lock:
            self._generation += 1
            self.peak_kb = kb
        return kb

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def flow_run_processes(root: int) -> list[int]:
    """The flow run subprocesses under serve (Prefect's Runner spawns one per run)."""
    found = []
    for pid in bench._tree(root):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if live(pid) and (b"spawn_main" in command or b"prefect.engine" in command):
                found.append(pid)
    return found


def wait_for_flow_runs_to_exit(root: int, timeout: float = 120) -> float:
    """A run's process outlives its terminal state by a moment; runs a month apart do not
    overlap, so the next run waits for it (time and memory would count both)."""
    started = time.monotonic()
    while flow_run_processes(root):
        if time.monotonic() - started > timeout:
            raise BenchmarkError(f"a flow run process still runs {timeout} s after its run")
        time.sleep(0.1)
    return round(time.monotonic() - started, 3)


# --- the server's API, as another process sees it -----------------------------------------


def api_get(api_url: str, path: str):
    with urllib.request.urlopen(f"{api_url}{path}", timeout=10) as response:
        return json.load(response)


def wait_until_healthy(api_url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchmarkError("`prefect server start` exited")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            if api_get(api_url, "/health") is True:
                return
        time.sleep(0.5)
    raise BenchmarkError(f"the Prefect server was not healthy within {timeout} s")


def wait_until_served(api_url: str, names: list[str], serve: subprocess.Popen) -> None:
    """Until serve has polled for runs of every deployment: a run triggered before would
    wait for serve's start-up, which no later run pays."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise BenchmarkError(f"`b12audit serve` exited (code {serve.returncode})")
        polled = [api_get(api_url, f"/deployments/name/scheduled-audit/{n}") for n in names]
        if all(d.get("last_polled") for d in polled):
            return
        time.sleep(0.5)
    raise BenchmarkError("`b12audit serve` did not poll for runs within 180 s")


def wait_for_terminal_state(api_url: str, flow_run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        flow_run = api_get(api_url, f"/flow_runs/{flow_run_id}")
        if flow_run["state_type"] in TERMINAL_STATES:
            return flow_run
        time.sleep(API_POLL_SECONDS)
    raise BenchmarkError(f"flow run {flow_run_id} not finished in {RUN_TIMEOUT_SECONDS} s")


def api_seconds(since: dt.datetime | str | None, until: str | None) -> float | None:
    """Seconds between two times (the API's are ISO strings); None when one is missing
    (a run that crashed before starting has no start_time)."""
    if since is None or until is None:
        return None
    since = dt.datetime.fromisoformat(since) if isinstance(since, str) else since
    return round((dt.datetime.fromisoformat(until) - since).total_seconds(), 3)


# --- drop folders -------------------------------------------------------------------------


def source_files(rows: int, args: argparse.Namespace) -> list[Path]:
    folder = SAMPLE if rows == 0 else bench.ensure_extract(args.workdir, rows, args.seed)
    return [folder / f"{t}.csv" for t in TABLES if (folder / f"{t}.csv").is_file()]


def settle(path: Path) -> None:
    """Delivered a while ago: written whole, not still being written."""
    past = time.time() - SETTLED_SECONDS_AGO
    os.utime(path, (past, past))


def deliver(files: list[Path], drop: Path) -> None:
    for source in files:
        shutil.copyfile(source, drop / source.name)
        settle(drop / source.name)


def write_new_medications(drop: Path, seed: int) -> Path:
    """1,000 medication events for the drop's patients, dated in the month after its last
    medication event, drawn from the generator's catalogue (a monthly delivery)."""
    meds = drop / "medications.csv"
    last = duckdb.sql(
        f"select max(try_cast(event_at as timestamp)) from read_csv('{meds}', all_varchar=true)"
    ).fetchall()[0][0]
    month = (last.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    with (drop / "patients.csv").open(encoding="utf-8", newline="") as handle:
        patients = [(r["patient_id"], r["site"]) for r in csv.DictReader(handle) if r["site"]]
    rng = random.Random(seed)
    weights = [drug[0] for drug in generator.DRUGS]
    header = "patient_id,drug_code,drug_name,event_type,event_at,dose,dose_unit,route,site"
    rows = []
    for _ in range(NEW_FILE_ROWS):
        patient, site = rng.choice(patients)
        _, code, names, dose, unit, routes, _ = rng.choices(generator.DRUGS, weights)[0]
        at = month + dt.timedelta(days=rng.randrange(28), minutes=rng.randrange(6 * 60, 22 * 60))
        when = at.isoformat(timespec="seconds") if rng.random() < 0.6 else at.date().isoformat()
        event = rng.choices(["administered", "dispensed", "ordered", "not_given"], [50, 30, 15, 5])
        fields = [patient, code if code and rng.random() < 0.5 else "", rng.choice(names)]
        rows.append([*fields, event[0], when, dose, unit, rng.choice(routes), site])
    path = drop / f"medications_{month:%Y-%m}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        csv.writer(handle, lineterminator="\n").writerows(rows)
    settle(path)
    return path


# --- one run ------------------------------------------------------------------------------


def history_runs(out: Path) -> dict[str, dict]:
    history = out / "history.duckdb"
    if not history.exists():
        return {}
    with duckdb.connect(str(history), read_only=True) as con:
        cursor = con.execute("select * from runs")
        names = [c[0] for c in cursor.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def manifest_timings(out: Path, run_id: str) -> dict | None:
    manifest = out / "runs" / run_id / "manifest.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("timings")


def trigger_and_time(api_url, env, name: str, out: Path, peak: TreePeak) -> dict:
    before = history_runs(out)
    waited_s = wait_for_flow_runs_to_exit(peak.root)
    idle_kb = peak.reset()
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    argv = [str(BIN / "prefect"), "deployment", "run", f"scheduled-audit/{name}"]
    triggered = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    trigger_s = time.perf_counter() - started
    found = re.search(r"UUID: ([0-9a-f-]{36})", triggered.stdout)
    if triggered.returncode != 0 or not found:
        raise BenchmarkError(f"{' '.join(argv)} failed:\n{triggered.stdout}{triggered.stderr}")
    flow_run = wait_for_terminal_state(api_url, found[1])
    wall_s = time.perf_counter() - started
    peak_kb = peak.peak_kb
    new = [r for run_id, r in history_runs(out).items() if run_id not in before]
    record = new[0] if len(new) == 1 else {}
    timings = manifest_timings(out, record["run_id"]) if record else None
    return {
        "flow_run_id": found[1],
        "state": flow_run["state_type"],
        "wall_s": round(wall_s, 3),
        "flow_run_s": api_seconds(flow_run["start_time"], flow_run["end_time"]),
        "trigger_command_s": round(trigger_s, 3),
        "trigger_to_flow_start_s": api_seconds(started_at, flow_run["start_time"]),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "idle_rss_mb": round(idle_kb / 1024, 1),
        "waited_for_previous_run_process_s": waited_s,
        "history_rows_added": len(new),
        "run_id": record.get("run_id"),
        "outcome": record.get("outcome"),
        "run": {k: v for k, v in record.items() if k.startswith(RUN_FACTS)},
        "timings": timings,
        "stages_s": round(sum(timings.values()), 3) if timings else None,
    }


def check(kind: str, result: dict, serve_log: Path) -> None:
    if result["state"] != "COMPLETED" or result["outcome"] != EXPECTED[kind]:
        raise BenchmarkError(
            f"the {kind} run ended {result['state']} with outcome {result['outcome']!r}"
            f" (expected COMPLETED, {EXPECTED[kind]!r}; {result['history_rows_added']} rows"
            f" added to the history's runs):\n{json.dumps(result, default=str, indent=1)}\n"
            f"--- serve log ---\n{bench.tail(serve_log, 40)}"
        )


# --- one size -----------------------------------------------------------------------------


def prefect_env(home: Path, api_url: str, poll_seconds: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {
        **env,
        **PREFECT_DEFAULTS,
        "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]),
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_RUNNER_POLL_FREQUENCY": str(poll_seconds),
    }


def register(drop: Path, out: Path, name: str, env: dict[str, str]) -> None:
    """`b12audit schedule` as an operator runs it, for a drop folder not yet filled."""
    drop.mkdir()
    argv = [str(BIN / "b12audit"), "schedule", str(drop), "--out", str(out), "--name", name]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchmarkError(f"b12audit schedule failed:\n{done.stdout}{done.stderr}")


def bench_size(rows: int, args: argparse.Namespace) -> dict:
    files = source_files(rows, args)
    base = args.workdir / f"scheduled-{rows}"
    shutil.rmtree(base, ignore_errors=True)  # a fresh server database and folders
    base.mkdir(parents=True)
    api_url = f"http://127.0.0.1:{free_port()}/api"
    env = prefect_env(base / "prefect-home", api_url, args.poll_seconds)
    names = [f"bench-{k}" for k in range(1, args.repeat + 1)]
    started: list[subprocess.Popen] = []
    peak = None
    runs: dict[str, list[dict]] = {kind: [] for kind in EXPECTED}
    try:
        port = api_url.rsplit(":", 1)[1].removesuffix("/api")
        server = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", port]
        started.append(start(server, base / "server.log", env))
        wait_until_healthy(api_url, started[0])
        for k, name in enumerate(names, 1):
            register(base / f"drop-{k}", base / f"out-{k}", name, env)
        serve_log = base / "serve.log"
        started.append(start([str(BIN / "b12audit"), "serve"], serve_log, env))
        wait_until_served(api_url, names, started[1])
        peak = TreePeak(started[1].pid)
        for k, name in enumerate(names, 1):
            drop, out = base / f"drop-{k}", base / f"out-{k}"
            deliver(files, drop)
            for kind in EXPECTED:
                if kind == "one_new_file":
                    write_new_medications(drop, args.seed + k)
                result = trigger_and_time(api_url, env, name, out, peak)
                check(kind, result, serve_log)
                runs[kind].append(result)
                print(
                    f"[{label(rows)}] {k}/{args.repeat} {kind}: {result['wall_s']:.2f} s"
                    f" (flow run {result['flow_run_s']:.2f} s), {result['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                )
    finally:
        if peak:
            peak.close()
        for process, first in reversed(list(zip(started, STOP_SIGNALS, strict=False))):
            stop(process, first)
    return {
        "lab_rows": rows,
        "data": label(rows),
        "source": str(files[0].parent),
        "files": {f.name: {"bytes": f.stat().st_size, "rows": count_lines(f) - 1} for f in files},
        "runs": runs,
        "summary": summarise(runs),
    }


def label(rows: int) -> str:
    return "data/sample" if rows == 0 else f"{rows:,} lab rows"


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def summarise(runs: dict[str, list[dict]]) -> dict:
    def median(results: list[dict], key: str):
        values = [r[key] for r in results if r[key] is not None]
        return round(statistics.median(values), 3) if values else None

    return {
        kind: {
            key: median(results, key)
            for key in ("wall_s", "flow_run_s", "trigger_to_flow_start_s", "stages_s")
        }
        | {"peak_rss_mb": median(results, "peak_rss_mb"), "outcome": EXPECTED[kind]}
        for kind, results in runs.items()
        if results
    }


# --- reporting ----------------------------------------------------------------------------


def markdown(sizes: list[dict]) -> str:
    lines = [
        "| data | run | outcome | median wall s (trigger to end) | median flow run s "
        "| median stages s | median peak RSS MB (serve tree) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for kind, s in size["summary"].items():
            stages = "-" if s["stages_s"] is None else f"{s['stages_s']:.2f}"
            lines.append(
                f"| {size['data']} | {kind} | {s['outcome']} | {s['wall_s']:.2f} "
                f"| {s['flow_run_s']:.2f} | {stages} | {s['peak_rss_mb']:,.0f} |"
            )
    return "\n".join(lines)


def save(size: dict, args: argparse.Namespace) -> Path:
    args.results.mkdir(parents=True, exist_ok=True)
    suffix = "sample" if size["lab_rows"] == 0 else str(size["lab_rows"])
    path = args.results / f"{dt.date.today().isoformat()}-scheduled-{suffix}.json"
    record = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": bench.machine(),
        "repeat": args.repeat,
        "seed": args.seed,
        "runner_poll_seconds": args.poll_seconds,
        "api_poll_seconds": API_POLL_SECONDS,
        **size,
    }
    path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-rows", type=int, nargs="+", default=[0, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/b12bench"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--poll-seconds",
        type=int,
        default=2,
        help="how often serve asks the server for runs (PREFECT_RUNNER_POLL_FREQUENCY;"
        " Prefect's default is 10): a triggered run waits up to this long to start",
    )
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.repeat < 1 or min(args.lab_rows) < 0:
        parser.error("--repeat must be at least 1 and --lab-rows at least 0")
    args.workdir = args.workdir.resolve()
    if args.workdir.is_relative_to(REPO):
        parser.error(f"--workdir {args.workdir} is inside the repo; use /tmp or another disk")
    missing = [s for s in ("b12audit", "prefect") if not (BIN / s).exists()]
    if missing:
        parser.error(f"no {', '.join(missing)} beside {sys.executable}: pip install -e .")
    # A SIGTERM ends the benchmark through the `finally` that stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes, status = [], 0
    for rows in args.lab_rows:
        try:
            size = bench_size(rows, args)
        except (BenchmarkError, subprocess.CalledProcessError) as exc:
            print(f"scheduled.py: [{label(rows)}] {exc}", file=sys.stderr)
            status = 1
            break
        print(f"[{label(rows)}] results: {save(size, args)}", file=sys.stderr)
        sizes.append(size)
    if sizes:
        print(markdown(sizes))
    return status


if __name__ == "__main__":
    sys.exit(main())
