"""The output folder: one run at a time, builds out of sight until they publish, and a
retention that keeps the last runs.

A run builds in `runs/.building-<run id>/` (its build database, report, findings) and the
folder becomes `runs/<run id>/` only when the run publishes, so a run that dies leaves no
finished-looking report. Only the run holding the folder's lock builds, so any building
folder found by the next run is a dead run's: it is removed (or, when the analysts'
database already holds that run, the interrupted rename is completed). Retention keeps
the newest `keep_runs` published runs; the scheduled history (`history.duckdb`) and the
analysts' database are never touched.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".b12audit.lock"
BUILDING = ".building-"


class RunInProgress(RuntimeError):
    """Another run holds the output folder; this one stops without touching it."""


@contextmanager
def exclusive(out_dir: Path) -> Iterator[None]:
    """One run at a time per output folder, whatever started it (a lock the kernel drops
    when the holder dies, so a killed run never blocks the next)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / LOCK_NAME).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RunInProgress(
                f"{out_dir}: another b12audit run is writing this output folder; wait for it "
                "to finish, or give this run another --out"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def building_dir(out_dir: Path, run_id: str) -> Path:
    return out_dir / "runs" / f"{BUILDING}{run_id}"


def clear_dead_builds(out_dir: Path, published_run_id: str | None) -> list[str]:
    """Removes the building folders of runs that died (the caller holds the lock, so none
    is alive); a build whose run the analysts' database already holds is moved into place
    instead. Returns the run ids removed."""
    removed = []
    runs = out_dir / "runs"
    for folder in sorted(runs.glob(f"{BUILDING}*")) if runs.is_dir() else []:
        run_id = folder.name.removeprefix(BUILDING)
        if run_id == published_run_id and (folder / "manifest.json").is_file():
            folder.rename(runs / run_id)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(run_id)
    return removed


def apply_retention(out_dir: Path, keep: int) -> list[str]:
    """Deletes published run folders beyond the newest `keep` (run ids sort by start
    time); returns the run ids deleted."""
    runs = out_dir / "runs"
    if not runs.is_dir():
        return []
    published = sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))
    old = published[: max(0, len(published) - keep)]
    for folder in old:
        shutil.rmtree(folder, ignore_errors=True)
    return [p.name for p in old]
