"""The drop folder: what it holds (each file hashed, none still being written)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from transforms.inputs.ingest import hash_file

# A file modified this recently may still be being written: the run waits and retries.
SETTLE_SECONDS = 10.0


class FileNotReady(RuntimeError):
    """A drop file changed moments ago: it may still be being written. Worth a retry."""


@dataclass(frozen=True)
class DroppedFile:
    name: str  # path relative to the drop folder, with '/'
    sha256: str
    size_bytes: int


def scan_drop(drop_dir: Path, now: float | None = None) -> list[DroppedFile]:
    """Every file in the drop folder (hidden ones aside), hashed; stops with FileNotReady
    when one was modified within SETTLE_SECONDS."""
    now = time.time() if now is None else now
    found = []
    for path in sorted(drop_dir.rglob("*")):
        relative = path.relative_to(drop_dir)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        stat = path.stat()
        if now - stat.st_mtime < SETTLE_SECONDS:
            raise FileNotReady(
                f"{relative.as_posix()}: modified {now - stat.st_mtime:.0f} s ago; it may "
                f"still be being written (waiting for {SETTLE_SECONDS:.0f} s of quiet)"
            )
        found.append(DroppedFile(relative.as_posix(), hash_file(path)[0], stat.st_size))
    return found
