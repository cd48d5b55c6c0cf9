"""The care team's worklist annotations: read, checked and merged into each run.

A team keeps its own notes on worklist items in a CSV (columns item_id, status, date, and
optionally owner and note; schemas/annotations.py), given with `b12audit run --annotations
FILE` or kept as annotations.csv in the extract or drop folder. Each run loads it into table
`worklist_annotations`; the worklist shows each item's latest annotation (by date, then
line). Annotations whose item is no longer on the worklist are kept and listed apart.
Notes are patient-level: they go to the worklist files and the database, never to a
shareable output. A malformed file stops the run naming its line and column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa

from schemas.annotations import ANNOTATIONS, OPTIONAL, PROBLEMS, REQUIRED
from transforms.errors import InputError

FILE_NAME = "annotations.csv"
COLUMNS = ("item_id", "status", "owner", "note", "date")


ORPHANS = (
    "select item_id, status, owner, note, annotated_on, source_line "
    "from worklist_annotations anti join worklist_items using (item_id) order by source_line"
)


class AnnotationsError(InputError):
    """The annotations file cannot be used: the message names its line and column."""


def find(input_dir: Path, given: Path | None) -> Path | None:
    """The file given, else annotations.csv in the extract or drop folder, else none."""
    if given is not None:
        return given
    kept = input_dir / FILE_NAME
    return kept if kept.is_file() else None


def read(path: Path) -> pd.DataFrame:
    """The annotations, checked; raises AnnotationsError naming the line and column."""
    name = path.name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except FileNotFoundError:
        raise AnnotationsError(f"{path}: no such annotations file") from None
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AnnotationsError(
            f"{name}: not a UTF-8 CSV with a header line ({_why(exc)})"
        ) from None
    _check_header(name, list(frame.columns))
    try:
        ANNOTATIONS.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise AnnotationsError(_first_problem(name, exc.failure_cases)) from None
    for column in OPTIONAL:
        if column not in frame:
            frame[column] = ""
    frame["source_line"] = range(2, len(frame) + 2)  # line 1 is the header
    return frame


def _why(exc: Exception) -> str:
    return type(exc).__name__ if isinstance(exc, UnicodeDecodeError) else str(exc).strip()


def _check_header(name: str, header: list[str]) -> None:
    # A column is named by its position, not its text: a file without a header line has a
    # row of notes there, which must not reach a message or a log.
    for position, column in enumerate(header, start=1):
        if column not in COLUMNS:
            raise AnnotationsError(
                f"{name} line 1, column {position}: not a known column (the header line "
                f"names item_id, status and date, optionally owner and note)"
            )
    for column in REQUIRED:
        if column not in header:
            raise AnnotationsError(f"{name} line 1: no {column!r} column")


def _first_problem(name: str, cases: pd.DataFrame) -> str:
    cases = cases.dropna(subset=["index"]).sort_values("index", kind="stable")
    first = cases.iloc[0]
    line = int(first["index"]) + 2
    problem = PROBLEMS.get(str(first["check"]).split("(")[0], f"fails {first['check']}")
    more = len(cases) - 1
    tail = f" ({more} more problem{'s' if more > 1 else ''} in the file)" if more else ""
    return f"{name} line {line}, column {first['column']}: {problem}{tail}"


def create_table(con: duckdb.DuckDBPyConnection, replace: bool = False) -> None:
    """Table worklist_annotations, empty unless a run has loaded the team's file."""
    create = "create or replace table" if replace else "create table if not exists"
    con.execute(
        f"{create} worklist_annotations (item_id varchar, status varchar, owner varchar, "
        "note varchar, annotated_on date, source_line integer)"
    )


def load(con: duckdb.DuckDBPyConnection, path: Path | None) -> int:
    """Table worklist_annotations from the file (empty without one); returns its rows."""
    create_table(con, replace=True)
    if path is None:
        return 0
    frame = read(path)
    con.register("annotations_frame", frame)
    con.execute(
        "insert into worklist_annotations select item_id, status, nullif(trim(owner), ''), "
        "nullif(trim(note), ''), date::date, source_line from annotations_frame"
    )
    con.unregister("annotations_frame")
    return len(frame)


def write_orphans(con: duckdb.DuckDBPyConnection, patient_dir: Path) -> str:
    """patient_level/annotations_without_item.csv: annotations whose item is not on this
    run's worklist (kept in the file and the database, listed apart)."""
    path = patient_dir / "annotations_without_item.csv"
    rows = con.execute(ORPHANS)
    names = [d[0] for d in rows.description]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(rows.fetchall())
    return str(path)
