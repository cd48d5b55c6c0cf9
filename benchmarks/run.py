"""Benchmark the b12audit CLI against the hand-written baseline query, per extract size.

    python benchmarks/run.py --lab-rows 1000000 10000000 [--repeat 3] [--workdir /tmp/b12bench]
                             [--formats canonical omop meds fhir site]

For each N: generate the extract once (cached in WORKDIR/extract-N-seedS), then run, R times
and interleaved so machine noise hits both alike, the baseline (benchmarks/baseline.py) and the
audit (`b12audit run EXTRACT --out OUT`, or --cmd). Each is a child process, measured from
outside: wall time, and peak RSS as the larger of
  - /usr/bin/time -v "Maximum resident set size" (exact, but the max of single processes), and
  - the peak of the summed VmRSS of the child's process tree, polled every 50 ms (catches
    helpers such as Prefect's temporary API server running beside the flow; shared pages count
    once per process, so this errs high).
If the audit's manifest.json has a `timings` object (seconds per stage), its stages summed
without `prefect_startup` are a further row: the pipeline's own work, without the fixed cost of
Prefect's temporary server and imports.
With --formats, the extract is also written in each source format by the sample writer
(data/sample/writers/<format>.py; cached, not timed) and the audit runs on each, as
`audit-<format>`: the same population, so the rows compare what reading each format costs.
Prints a markdown table of medians and ratios to the baseline, and writes every run to
benchmarks/results/<date>-<N>.json. The machine is shared and noisy: read medians and ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GNU_TIME = Path("/usr/bin/time")
POLL_SECONDS = 0.05


class Unavailable(RuntimeError):
    """The audit command cannot be run; the message says what to do."""


# --- extracts -------------------------------------------------------------------------------


def ensure_extract(workdir: Path, rows: int, seed: int) -> Path:
    """The generated extract for N rows, made once; a marker file says it was written whole."""
    folder = workdir / f"extract-{rows}-seed{seed}"
    marker = folder / ".complete"
    if marker.exists():
        print(f"[{rows:,}] using cached extract {folder}", file=sys.stderr)
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # a half-written one from an interrupted run
    print(f"[{rows:,}] generating {folder} ...", file=sys.stderr)
    options = ["--lab-rows", str(rows), "--out", str(folder), "--seed", str(seed)]
    subprocess.run([sys.executable, str(HERE / "generate.py"), *options], check=True)
    marker.write_text(dt.datetime.now().isoformat(), encoding="utf-8")
    return folder


def ensure_format(extract: Path, fmt: str) -> Path:
    """The extract written in a source format by its sample writer, made once."""
    if fmt == "canonical":
        return extract
    folder = extract.with_name(f"{extract.name}-{fmt}")
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    print(f"writing {folder} ...", file=sys.stderr)
    spec = importlib.util.spec_from_file_location(fmt, REPO / "data/sample/writers" / f"{fmt}.py")
    writer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(writer)
    writer.write(extract, folder)
    marker.write_text(dt.datetime.now().isoformat(), encoding="utf-8")
    return folder


# --- commands -------------------------------------------------------------------------------


def audit_command(template: str | None, extract: Path, out: Path) -> list[str]:
    """argv for the audit. The default prefers the installed `b12audit` script, then the
    repo's module; --cmd is a template with {extract} and {out}."""
    if template:
        quoted = {"extract": shlex.quote(str(extract)), "out": shlex.quote(str(out))}
        argv = shlex.split(template.format(**quoted))
        if not argv or not shutil.which(argv[0]):
            raise Unavailable(f"--cmd: {argv[0] if argv else '(empty)'!r} is not an executable")
        return argv
    # The venv's bin may not be on PATH when run as /path/to/venv/bin/python benchmarks/run.py.
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    script = shutil.which("b12audit", path=search)
    if script:
        return [script, "run", str(extract), "--out", str(out)]
    if (REPO / "flows" / "cli.py").exists():
        return [sys.executable, "-m", "flows.cli", "run", str(extract), "--out", str(out)]
    raise Unavailable(
        "the b12audit CLI is not available: no `b12audit` on PATH or beside "
        f"{sys.executable}, and no {REPO / 'flows' / 'cli.py'}. Install the project "
        "(pip install -e .), pass --cmd 'your command {extract} --out {out}', "
        "or use --baseline-only."
    )


def baseline_command(extract: Path, out: Path, threads: int | None) -> list[str]:
    argv = [sys.executable, str(HERE / "baseline.py"), str(extract), "--out", str(out)]
    return argv + (["--threads", str(threads)] if threads else [])


def pandas_command(extract: Path, out: Path) -> list[str]:
    return [sys.executable, str(HERE / "pandas_script.py"), str(extract), "--out", str(out)]


@contextlib.contextmanager
def prefect_server(workdir: Path):
    """A Prefect server (`prefect server start`) for the whole benchmark, as a scheduled
    audit has one; the audits' PREFECT_API_URL points at it. It is not in the audit's
    process tree, so not in its peak RSS."""
    port = 4299
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env["PREFECT_HOME"] = str(workdir / "prefect-home")
    prefect = Path(sys.executable).with_name("prefect")
    argv = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    log = (workdir / "prefect-server.log").open("wb")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise Unavailable(f"prefect server exited; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise Unavailable(f"prefect server did not answer within 180 s; see {log.name}")
        print(f"Prefect server at {url}", file=sys.stderr)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


# --- measuring ------------------------------------------------------------------------------


def _tree(root: int) -> list[int]:
    """root and all its descendants, from /proc/<pid>/stat parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
        children.setdefault(ppid, []).append(int(entry.name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _poll_tree(proc: subprocess.Popen, peak: list[int]) -> None:
    while proc.poll() is None:
        peak[0] = max(peak[0], sum(_rss_kb(pid) for pid in _tree(proc.pid)))
        time.sleep(POLL_SECONDS)


def _gnu_time_max_rss_kb(report: Path) -> int | None:
    if not report.exists():
        return None
    for line in report.read_text(errors="replace").splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1])
    return None


def measure(argv: list[str], log: Path, cwd: Path, extra_env: dict | None = None) -> dict:
    """Run argv to completion; its output goes to `log` (pipes could fill and stall it)."""
    report = log.with_suffix(".time")
    wrapped = [str(GNU_TIME), "-v", "-o", str(report), *argv] if GNU_TIME.exists() else argv
    env = {**os.environ, **(extra_env or {})}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline: no telemetry calls
    env.setdefault("DO_NOT_TRACK", "1")
    peak = [0]
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        poller = threading.Thread(target=_poll_tree, args=(proc, peak), daemon=True)
        poller.start()
        code = proc.wait()
        wall = time.perf_counter() - started
        poller.join()
    time_kb = _gnu_time_max_rss_kb(report)
    return {
        "returncode": code,
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(max(peak[0], time_kb or 0) / 1024, 1),
        "tree_rss_peak_mb": round(peak[0] / 1024, 1),
        "gnu_time_max_rss_mb": None if time_kb is None else round(time_kb / 1024, 1),
        "log": str(log),
    }


def audit_timings(out: Path) -> dict | None:
    """Stage timings from the audit's manifest.json (OUT/manifest.json or the newest one below
    OUT, e.g. OUT/runs/<run id>/manifest.json), if it wrote them."""
    direct = out / "manifest.json"
    found = (
        [direct]
        if direct.exists()
        else sorted(out.rglob("manifest.json"), key=lambda path: path.stat().st_mtime)[-1:]
    )
    try:
        manifest = json.loads(found[0].read_text(encoding="utf-8"))
    except (IndexError, OSError, ValueError):
        return None
    timings = manifest.get("timings") if isinstance(manifest, dict) else None
    return timings if isinstance(timings, dict) else None


def stage_seconds(timings: dict | None) -> float | None:
    """The audit's own work: its stage timings summed, without Prefect's server start-up."""
    if not timings:
        return None
    stages = [v for k, v in timings.items() if k != "prefect_startup"]
    return round(sum(v for v in stages if isinstance(v, int | float)), 3)


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- one size -------------------------------------------------------------------------------


def bench_size(rows: int, args: argparse.Namespace) -> dict:
    extract = ensure_extract(args.workdir, rows, args.seed)
    runs_dir = args.workdir / f"runs-{rows}"
    tools = _tools(extract, args)
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    for k in range(1, args.repeat + 1):
        for tool, (command, threads) in tools.items():
            out = runs_dir / f"{tool.replace(' ', '-')}-{k}"
            shutil.rmtree(out, ignore_errors=True)  # the audit may refuse an existing --out
            out.mkdir(parents=True)
            argv = command(out)
            env = {"B12AUDIT_THREADS": str(threads)} if threads else {}
            result = measure(argv, runs_dir / f"{tool.replace(' ', '-')}-{k}.log", REPO, env)
            if result["returncode"] != 0:
                raise RuntimeError(
                    f"{tool} failed (exit {result['returncode']}): "
                    f"{shlex.join(argv)}\n{tail(Path(result['log']))}"
                )
            if tool.startswith("audit"):
                result["timings"] = audit_timings(out)
                result["stages_s"] = stage_seconds(result["timings"])
            runs[tool].append(result)
            print(
                f"[{rows:,}] {tool} {k}/{args.repeat}: {result['wall_s']:.2f} s, "
                f"{result['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
            )
            if k < args.repeat:
                shutil.rmtree(out, ignore_errors=True)  # keep only the last run's outputs
    return {
        "lab_rows": rows,
        "extract": str(extract),
        "runs": runs,
        "summary": summarise(rows, runs),
    }


def _tools(extract: Path, args: argparse.Namespace) -> dict[str, tuple]:
    """name: (argv for an output folder, DuckDB threads or None), in the order they run.
    With --threads, each DuckDB run once per thread count, named '... (N threads)'."""
    tools: dict[str, tuple] = {}
    for threads in args.threads or [None]:
        suffix = f" ({threads} thread{'s' if threads > 1 else ''})" if threads else ""
        tools["baseline" + suffix] = (partial(baseline_command, extract, threads=threads), threads)
        if args.baseline_only:
            continue
        for fmt in args.formats:
            tool = "audit" if fmt == "canonical" else f"audit-{fmt}"
            source = ensure_format(extract, fmt)
            tools[tool + suffix] = (partial(audit_command, args.cmd, source), threads)
    if args.pandas:
        tools["pandas script"] = (partial(pandas_command, extract), None)
    return tools


def summarise(rows: int, runs: dict[str, list[dict]]) -> dict:
    summary = {}
    for tool, results in runs.items():
        if not results:
            continue
        wall = statistics.median(r["wall_s"] for r in results)
        summary[tool] = {
            "wall_s": round(wall, 3),
            "rows_per_s": round(rows / wall),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results),
        }
    for tool in [t for t in runs if t.startswith("audit")]:
        stages = [r.get("stages_s") for r in runs[tool]]
        if runs[tool] and all(s is not None for s in stages):
            wall = statistics.median(stages)
            summary[f"{tool} stages (excl. Prefect start-up)"] = {
                "wall_s": wall,
                "rows_per_s": round(rows / wall) if wall else None,
                "peak_rss_mb": None,
            }
    return summary


# --- reporting ------------------------------------------------------------------------------


def markdown(sizes: list[dict]) -> str:
    lines = [
        "| lab rows | run | median wall s | rows/s | peak RSS MB | x baseline time "
        "| x baseline memory |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for tool, s in size["summary"].items():
            base = _baseline_for(tool, size["summary"])
            if s["peak_rss_mb"] is None:
                rss = mem = "-"
            else:
                rss = f"{s['peak_rss_mb']:,.0f}"
                mem = f"{s['peak_rss_mb'] / base['peak_rss_mb']:.2f}"
            speed = "-" if s["rows_per_s"] is None else f"{s['rows_per_s']:,}"
            lines.append(
                f"| {size['lab_rows']:,} | {tool} | {s['wall_s']:.2f} | {speed} | {rss} "
                f"| {s['wall_s'] / base['wall_s']:.2f} | {mem} |"
            )
    return "\n".join(lines)


def _baseline_for(tool: str, summary: dict) -> dict:
    """The yardstick a run is compared with: the one given the same DuckDB threads."""
    threads = re.search(r" \(\d+ threads?\)", tool)
    return summary.get(
        "baseline" + (threads.group(0) if threads else ""),
        summary[next(name for name in summary if name.startswith("baseline"))],
    )


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:")), 0)
    git = ["git", "-C", str(REPO), "rev-parse", "--verify", "-q", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True).stdout.strip() or None
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
    }


def save(size: dict, args: argparse.Namespace, command: str) -> Path:
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{dt.date.today().isoformat()}-{size['lab_rows']}.json"
    record = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "repeat": args.repeat,
        "seed": args.seed,
        "audit_command": command,
        **size,
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-rows", type=int, nargs="+", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/b12bench"),
        help="generated extracts and run outputs (keep it outside the repo)",
    )
    parser.add_argument(
        "--cmd",
        help="audit command with {extract} and {out}, "
        "e.g. 'b12audit run {extract} --out {out} --config c.toml'",
    )
    parser.add_argument(
        "--formats",
        nargs="+",
        default=["canonical"],
        choices=["canonical", "site", "omop", "meds", "fhir"],
        help="source formats to audit the same extract in (default: canonical)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--baseline-only", action="store_true", help="skip the audit")
    parser.add_argument(
        "--pandas", action="store_true", help="also time benchmarks/pandas_script.py"
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        help="run the yardstick and the audit once per DuckDB thread count (default: all)",
    )
    parser.add_argument(
        "--server",
        action="store_true",
        help="start a Prefect server for the benchmark and run the audits against it "
        "(as a scheduled audit runs); without it each audit starts a temporary one",
    )
    parser.add_argument(
        "--results", type=Path, default=HERE / "results", help="folder for the JSON results"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or min(args.lab_rows) < 1:
        parser.error("--repeat and --lab-rows must be at least 1")
    args.workdir = args.workdir.resolve()
    if args.workdir.is_relative_to(REPO):
        parser.error(f"--workdir {args.workdir} is inside the repo; use /tmp or another disk")
    command = "(skipped)"
    if not args.baseline_only:
        try:  # fail before spending minutes on generation
            command = " ".join(audit_command(args.cmd, Path("{extract}"), Path("{out}")))
        except Unavailable as exc:
            print(f"run.py: {exc}", file=sys.stderr)
            return 2
    with contextlib.ExitStack() as stack:
        if args.server and not args.baseline_only:
            os.environ["PREFECT_API_URL"] = stack.enter_context(prefect_server(args.workdir))
        sizes, status = _bench_sizes(args, command)
    if sizes:
        print(markdown(sizes))
    return status


def _bench_sizes(args: argparse.Namespace, command: str) -> tuple[list[dict], int]:
    sizes, status = [], 0
    for rows in args.lab_rows:
        try:
            size = bench_size(rows, args)
        except (RuntimeError, Unavailable, subprocess.CalledProcessError) as exc:
            print(f"run.py: [{rows:,}] {exc}", file=sys.stderr)
            status = 1
            break  # still print what was measured before
        print(f"[{rows:,}] results: {save(size, args, command)}", file=sys.stderr)
        sizes.append(size)
    return sizes, status


if __name__ == "__main__":
    sys.exit(main())
