"""FHIR R4 bulk export: NDJSON files, one resource type per file, named as the Bulk Data
spec's server writes them (`Observation.ndjson`, `Observation.000.ndjson`,
`1.Observation.ndjson`; the type may sit anywhere in the name before `.ndjson`).

Patient -> patients, Observation -> lab_results, MedicationAdministration /
MedicationDispense / MedicationRequest -> medications, Condition -> diagnoses
(transforms/inputs/adapters/fhir_resources.py says field by field how). Files of other types
(Encounter, ...) are counted and listed as not audited. A resource recorded in error
(status entered-in-error; a Condition entered-in-error or refuted) is counted and listed
as `retracted`, not audited.

Why DuckDB and no FHIR library: a file is read in place, streamed, by DuckDB's CSV reader
as one text column per line (no delimiter or quote a JSON line can hold unescaped), and
each line is parsed by json_transform into a struct of just the fields the audit reads:
memory stays flat. Ingest counts the lines and classifies them (json_invalid, another
type, retracted) parsing only the few fields that decide it; the one full parse is in the
view that validation reads. Measured here on 1M lab rows in files of 250,000 lines: the
whole audit 23 s (the canonical CSVs: 17 s). The maintained Python library,
fhir.resources (pydantic models of R4B and R5), took 76 s for the parse alone (76 us a
line, one core), before any mapping, in a Python loop over rows; its strict validation
would also reject resources for details the audit never reads. It does not earn its
place. The checks that matter are made here: a line that is not one JSON object is
quarantined as json_invalid, a resource of another type as resource_type_mismatch, each
with its line; everything else meets the canonical schemas as any other format does.

Lines: DuckDB returns an empty line as a null row, so a row's number is its line number
(less lines the CSV reader itself rejected, e.g. invalid UTF-8, which validation adds
back); empty lines are not rows and are not counted. A file holding a carriage return (CRLF
lines, or a CRLF line among LF ones) is read by DuckDB's lenient reader with CRLF as the
line end, which takes LF and CRLF alike; there a stray \x01 or lone CR splits the line, so
its part reads as json_invalid and, after a lone CR, line numbers run one ahead.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from pathlib import Path

import duckdb

from transforms.database import sql_quote
from transforms.errors import InputError
from transforms.inputs import ingest
from transforms.inputs.adapters.fhir_resources import (
    MEDICATION_RESOURCE_SHAPE,
    RESOURCES,
    Resource,
    drug_code,
    drug_name,
    with_reference,
)
from transforms.inputs.ingest import NOT_AUDITED, SourceFile
from transforms.sqlfiles import sql_dir

# One text column per line: JSON escapes every control character inside strings, so \x01
# appears only in a line that is not JSON (the reader then rejects it, as json_invalid).
DIALECT = {
    "delim": "\x01",
    "quote": "",
    "escape": "",
    "header": False,
    "max_line_size": 64 << 20,
}
# The strict reader stops on the first CR in a file it reads as LF (and on an LF in one it
# reads as CRLF); this one reads either line end, each as one line end.
MIXED_LINE_ENDS = DIALECT | {"new_line": "\\r\\n", "strict_mode": False}
FIRST_LINES_TRIED = 100  # lines tried for a file's resource type when its name names none
RETRACTED = "retracted"
REJECTED_LINE_CHARS = 1000  # a quarantined line is kept, cut to this length
TYPE_NAME = re.compile(r"^[A-Za-z]{1,64}$")


def detect(input_dir: Path) -> bool:
    return any(_ndjson_files(input_dir))


def stage(con: duckdb.DuckDBPyConnection, input_dir: Path) -> list[SourceFile]:
    files = list(_ndjson_files(input_dir))
    if not files:
        raise InputError(f"{input_dir}: no FHIR NDJSON files (*.ndjson, *.ndjson.gz) found")
    resources = with_reference(_statuses(), _code_systems())
    typed = [(_resource_type(path), path) for path in files]
    _check_required(input_dir, {resources[t].table for t, _ in typed if t in resources})
    sources: list[SourceFile] = []
    # Patient files first: the others read the patient's managingOrganization as site.
    patient_lines = [
        _stage_resource(con, path, "Patient", resources, sources)
        for resource_type, path in typed
        if resource_type == "Patient"
    ]
    _create_patient_sites(con, patient_lines)
    _create_medications(
        con, [path for resource_type, path in typed if resource_type == "Medication"]
    )
    for resource_type, path in typed:
        if resource_type == "Patient":
            continue
        if resource_type in resources:
            _stage_resource(con, path, resource_type, resources, sources)
        else:
            sources.append(_not_audited(con, path, len(sources)))
    return sources


NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")  # bulk exports are often gzipped


def _ndjson_files(input_dir: Path):
    return sorted(
        p for p in input_dir.iterdir() if p.is_file() and p.name.lower().endswith(NDJSON_SUFFIXES)
    )


def _stem(path: Path) -> str:
    """The name without .ndjson or .ndjson.gz."""
    name = path.name
    return name[: -len(".ndjson.gz")] if name.lower().endswith(".gz") else name[: -len(".ndjson")]


def _open(path: Path):
    """The file's bytes, decompressed when gzipped (DuckDB's reader does the same by name)."""
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _resource_type(path: Path) -> str | None:
    """The audited resource type the file holds: named in the file name, and confirmed by
    its first resource; when the name names none, its first resource's type."""
    words = {w.lower() for w in re.split(r"[^A-Za-z]+", _stem(path)) if w}
    named = [t for t in RESOURCES if t.lower() in words]
    if len(named) > 1:
        raise InputError(f"{path.name}: the file name names several resource types")
    first = _first_resource_type(path, must_find=not named)
    if named and first is not None and first != named[0]:
        what = f"a {first}" if TYPE_NAME.match(first) else "of another type"
        raise InputError(f"{path.name}: named for {named[0]} but its first resource is {what}")
    return named[0] if named else first


def _first_resource_type(path: Path, must_find: bool) -> str | None:
    """resourceType of the first line that is JSON, among the first FIRST_LINES_TRIED
    non-empty ones (a truncated first line does not hide the file's type); None when that
    JSON is no object with a resourceType, or the file has no such line and `must_find` is
    false. With `must_find`, a file with lines but none of them JSON stops the run: its
    resources would otherwise go unaudited unseen."""
    tried = 0
    try:
        with _open(path) as handle:
            for line in handle:
                if not line.strip():
                    continue
                found = _json_or_none(line)
                if found is not None:
                    kind = found.get("resourceType") if isinstance(found, dict) else None
                    return kind if isinstance(kind, str) else None
                tried += 1
                if tried == FIRST_LINES_TRIED:
                    break
    except (OSError, EOFError) as exc:  # gzip: a truncated or corrupt archive
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"{path.name}: unreadable ({reason})") from None
    if tried and must_find:
        raise InputError(
            f"{path.name}: none of its first {tried} lines is a JSON resource, and the file "
            "name names no resource type; name the file for its type (e.g. Observation.ndjson)"
        )
    return None


def _json_or_none(line: bytes):
    try:
        return json.loads(line)
    except ValueError:
        return None


def _stage_resource(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    resource_type: str,
    resources: dict[str, Resource],
    sources: list[SourceFile],
) -> str:
    """Stages the file (its view, rejected lines, retracted resources) into `sources`;
    returns its classified lines."""
    resource = resources[resource_type]
    sha256 = ingest.hash_file(path).sha256
    source = SourceFile(resource.table, path, path.name, sha256, len(sources), 0, True)
    dialect = _dialect(path)
    total = ingest.count_csv(con, source, ["line"], dialect)  # rows, incl. empty lines
    _reader_rejects_as_json_invalid(con, source)
    kinds = _check_lines(con, source, _classified(source, resource_type, resource, dialect))
    lines = _classified(source, resource_type, resource, dialect, full=True)
    ingest.create_view(con, source, _select(resource, lines))
    retracted = kinds.get(RETRACTED, 0)
    source.rows_read = total - kinds.get("empty", 0) - retracted
    sources.append(source)
    if retracted:
        sources.append(
            SourceFile(RETRACTED, path, path.name, sha256, len(sources), 0, True, [], retracted)
        )
    return lines


def _dialect(path: Path) -> dict:
    """The strict reader, unless the file holds a carriage return anywhere. A gzipped file
    gets a buffer of twice the longest line: DuckDB cannot size it from the file, and its
    own choice (16 longest lines, 1 GiB) would not fit the memory limit."""
    gzipped = (
        {"buffer_size": 2 * DIALECT["max_line_size"]} if path.name.lower().endswith(".gz") else {}
    )
    with _open(path) as handle:
        while chunk := handle.read(8 << 20):
            if b"\r" in chunk:
                return MIXED_LINE_ENDS | gzipped
    return DIALECT | gzipped


def _classified(
    source: SourceFile, resource_type: str, resource: Resource, dialect: dict, full=False
) -> str:
    """Every row of the file: source_row, the line, its struct r, and its kind (ok,
    empty, json_invalid, resource_type_mismatch, retracted). `r` holds every field the
    audit reads when `full`, else only those the kind needs (measured: half the cost)."""
    reader = ingest.csv_reader(source.path, ["line"], dialect, ignore_errors=True)
    structure = sql_quote(resource.structure if full else resource.kind_structure)
    # Parsed below the row numbering: above it, DuckDB would parse the line again for
    # every column that reads r (measured: twice as slow).
    parsed = ingest.csv_rows(
        "(select line, case when json_valid(line) and starts_with(ltrim(line), '{') "
        f"then json_transform(line, '{structure}') end as r from {reader})"
    )
    return f"""(select *, case when line is null then 'empty'
        when r is null then 'json_invalid'
        when r.resourceType is distinct from '{resource_type}' then 'resource_type_mismatch'
        when coalesce({resource.retracted}, false) then '{RETRACTED}'
        else 'ok' end as kind
        from {parsed})"""


def _check_lines(con: duckdb.DuckDBPyConnection, source: SourceFile, lines: str) -> dict:
    """One pass over the file: lines that are no JSON object, or of another resource type,
    to quarantine; returns the number of lines of each kind but ok."""
    ingest.execute(
        con,
        source.name,
        f"""create or replace temp table fhir_line_kinds as
        select source_row, kind,
               case kind when 'json_invalid' then left(line, {REJECTED_LINE_CHARS})
                         when 'resource_type_mismatch' then r.resourceType end as value
        from {lines} where kind <> 'ok'""",
    )
    con.execute(
        """insert into staging.row_rejects
        select $file, $table, source_row,
               if(kind = 'json_invalid', '(whole line)', 'resourceType'), kind, value
        from fhir_line_kinds where kind in ('json_invalid', 'resource_type_mismatch')""",
        {"file": source.name, "table": source.table},
    )
    kinds = con.execute("select kind, count(*) from fhir_line_kinds group by kind").fetchall()
    con.execute("drop table fhir_line_kinds")
    return dict(kinds)


def _reader_rejects_as_json_invalid(con: duckdb.DuckDBPyConnection, source: SourceFile):
    """A line the CSV reader rejected for its shape (a stray \\x01, a line over the
    maximum size) is no JSON line; invalid UTF-8 keeps its own check."""
    con.execute(
        "update staging.csv_rejects set check_name = 'json_invalid', column_name = '(whole line)' "
        "where source_file = $f and table_name = $t and check_name <> 'csv_invalid_encoding'",
        {"f": source.name, "t": source.table},
    )


def _select(resource: Resource, lines: str) -> str:
    """The view: the file's canonical columns, the site falling back to the patient's. The
    join comes after the columns are made, with the patients' sites as the side held in
    memory (ingest.lookup), so a file of any size streams through it."""
    own = ", ".join(f'{expr} as "{col}"' for col, expr in resource.columns.items())
    joins = resource.joins.format(medications=ingest.lookup("staging.fhir_medications"))
    own = f"(select {own}, source_row from {lines} {joins} where kind = 'ok') as f"
    columns = {col: f'f."{col}"' for col in resource.columns}
    if resource.table == "patients":  # a patient's site is its own managingOrganization
        return f"select {ingest.canonical_select(resource.table, columns)} from {own}"
    columns["site"] = 'coalesce(f."site", p.site)'
    return (
        f"select {ingest.canonical_select(resource.table, columns)} from {own} "
        f"left join {ingest.lookup('staging.fhir_patient_sites')} as p "
        "on p.patient_id = f.patient_id"
    )


def _create_patient_sites(con: duckdb.DuckDBPyConnection, patient_lines: list[str]) -> None:
    """patient id -> managingOrganization id, over every Patient file; one site per patient,
    so a patient listed twice does not double the rows joined to it."""
    patient = RESOURCES["Patient"].columns
    selects = [
        f"select {patient['patient_id']} as patient_id, {patient['site']} as site "
        f"from {lines} where kind = 'ok'"
        for lines in patient_lines
    ] or ["select null::varchar as patient_id, null::varchar as site"]
    con.execute(
        "create or replace table staging.fhir_patient_sites as select patient_id, "
        f"min(site) as site from ({' union all '.join(selects)}) "
        "where patient_id is not null group by all"
    )


def _create_medications(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
    """Medication id -> its code and name, over every Medication file of the export, for
    the medicationReference of MedicationAdministration, Dispense and Request. The files
    themselves are counted as not audited (they hold drugs, not events)."""
    shape = sql_quote(json.dumps(MEDICATION_RESOURCE_SHAPE))
    selects = [
        f"select r.id as medication_id, {drug_code('r.code')} as code, "
        f"{drug_name('r.code')} as name from (select json_transform(line, '{shape}') as r "
        f"from {ingest.csv_reader(path, ['line'], _dialect(path), ignore_errors=True)} "
        "where json_valid(line)) where r.resourceType = 'Medication'"
        for path in paths
    ] or ["select null::varchar as medication_id, null::varchar as code, null::varchar as name"]
    con.execute(
        "create or replace table staging.fhir_medications as select medication_id, "
        f"min(code) as code, min(name) as name from ({' union all '.join(selects)}) "
        "where medication_id is not null group by all"
    )


def _not_audited(con: duckdb.DuckDBPyConnection, path: Path, index: int) -> SourceFile:
    """A file of a resource type no rule reads: its resources are counted."""
    sha256, empty, _ = ingest.hash_file(path, find_empty_lines=True)
    source = SourceFile(NOT_AUDITED, path, path.name, sha256, index, 0, True)
    source.rows_read = ingest.count_csv(con, source, ["line"], _dialect(path)) - len(empty)
    return source


def _check_required(input_dir: Path, found: set[str]) -> None:
    for table, types in (
        ("lab_results", "Observation"),
        ("medications", "MedicationAdministration, MedicationDispense or MedicationRequest"),
    ):
        if table not in found:
            raise InputError(f"{input_dir}: no {types} NDJSON file (needed for {table})")


def _reference_rows(name: str) -> list[dict[str, str]]:
    with (sql_dir() / "reference" / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _statuses() -> dict[str, dict[str, str]]:
    """resource type -> status -> event_type (sql/reference/fhir_medication_status.csv)."""
    out: dict[str, dict[str, str]] = {}
    for row in _reference_rows("fhir_medication_status.csv"):
        out.setdefault(row["resource_type"], {})[row["status"]] = row["event_type"]
    return out


def _code_systems() -> dict[str, str]:
    """code system URL -> canonical code_system, in preference order."""
    return {row["system"]: row["code_system"] for row in _reference_rows("fhir_code_systems.csv")}
