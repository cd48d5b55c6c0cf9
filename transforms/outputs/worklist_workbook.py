"""patient_level/worklist.xlsx, written by a second process while the first writes the
timeline pages: openpyxl is pure Python (50,000 rows take some 8 s), so the workbook
takes the machine's other core instead of adding to the run.

The parent hands over what the workbook holds as files, since a second process cannot open
the build database while the run holds it: the rows as Parquet (exported by DuckDB, types
kept: dates stay dates) and a JSON spec (paths, columns, the About sheet's lines; no
patient data). The child is `python -m transforms.outputs.worklist_workbook SPEC`. Its
errors say only what kind of error it was: a message could quote a cell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

BATCH_ROWS = 10_000


class WorkbookFailed(RuntimeError):
    """The child process did not write the workbook."""


def start(spec: dict, spec_path: Path) -> subprocess.Popen:
    """Starts the child on a spec: out, rows and orphans (paths), about (lines), columns,
    widths, data_rows and link (the column holding a timeline path)."""
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    # The child imports this same code, wherever the parent found it.
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", __name__, str(spec_path)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


def finish(child: subprocess.Popen, spec_path: Path) -> None:
    """Waits for the child; removes the spec and the files it names."""
    _, error = child.communicate()
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    for path in (spec["rows"], spec["orphans"], spec_path):
        Path(path).unlink(missing_ok=True)
    if child.returncode != 0:
        raise WorkbookFailed(f"worklist.xlsx was not written: {error.strip() or child.returncode}")


def write(spec: dict) -> None:
    workbook = Workbook(write_only=True)
    _write_about(workbook.create_sheet("About"), spec["about"])
    sheet = workbook.create_sheet("Worklist")
    _prepare_sheet(sheet, spec["columns"], spec["widths"], spec["data_rows"])
    sheet.append([_bold(sheet, name) for name in spec["columns"]])
    link = spec["columns"].index(spec["link"])
    for row in _rows(spec["rows"]):
        cells = [_cell(sheet, value) for value in row]
        cells[link] = _link(sheet, row[link]) if row[link] else None
        sheet.append(cells)
    _write_orphans(workbook.create_sheet("Annotations without item"), spec["orphans"])
    workbook.save(spec["out"])


def _rows(path: str):
    for batch in pq.ParquetFile(path).iter_batches(BATCH_ROWS):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


def _write_orphans(sheet: WriteOnlyWorksheet, path: str) -> None:
    """The team's annotations whose item is no longer on the worklist: kept, listed apart."""
    sheet.append([_bold(sheet, name) for name in pq.read_schema(path).names])
    for row in _rows(path):
        sheet.append([_cell(sheet, value) for value in row])


def _write_about(sheet: WriteOnlyWorksheet, lines: list[str]) -> None:
    sheet.column_dimensions["A"].width = 110
    sheet.append([_bold(sheet, lines[0])])
    for line in lines[1:]:
        sheet.append([line])


def _prepare_sheet(
    sheet: WriteOnlyWorksheet, columns: list[str], widths: dict[str, int], data_rows: int
) -> None:
    # A write-only sheet takes its columns, panes and filter before the first row.
    for index, name in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = widths.get(name, 12)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{data_rows + 1}"


def _bold(sheet: WriteOnlyWorksheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=text)
    cell.font = Font(bold=True)
    return cell


def _link(sheet: WriteOnlyWorksheet, target: str) -> WriteOnlyCell:
    """The patient's timeline page, a path relative to the workbook (a repository-made
    name: 'timelines/' and hex digits)."""
    cell = WriteOnlyCell(sheet, value=target)
    cell.hyperlink = target
    cell.style = "Hyperlink"
    return cell


def _cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    # Dates become Excel dates and numbers numbers. Extract text (a drug name) must stay
    # text: a leading '=' is not a formula, and control characters (invalid in the file
    # format) are dropped.
    if not isinstance(value, str) or not (
        value.startswith("=") or ILLEGAL_CHARACTERS_RE.search(value)
    ):
        return value
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"
    return cell


if __name__ == "__main__":
    try:
        write(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    except Exception as exc:  # the kind of error only: its message could quote a cell
        print(type(exc).__name__, file=sys.stderr)
        sys.exit(1)
