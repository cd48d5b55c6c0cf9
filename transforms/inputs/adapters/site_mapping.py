"""The site format's mapping file (mapping.toml): read, checked whole, before any data is read.

A mistake in the mapping (a typo in a key, a column the file lacks, an unknown drug class)
stops the run with a message naming the key: a silently ignored key would audit the wrong
columns. See transforms/inputs/adapters/site.py for the file format.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from schemas.canonical import CODE_SYSTEMS, SCHEMAS, known_columns, required_columns
from transforms.errors import InputError
from transforms.inputs.ingest import first_line

MAPPING_FILE = "mapping.toml"
TABLE_KEYS = {"file", "delimiter", "encoding", "decimal", "date_format", "columns", "values"}
TABLE_KEYS |= {"constants"}
CODE_MAP_SECTIONS = ("test_codes", "drug_classes")
# Encodings DuckDB's CSV reader has built in (stack notes), by the names a user may write.
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8",  # DuckDB skips a UTF-8 byte order mark itself
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "utf-16": "utf-16",
    "utf16": "utf-16",
}
# windows-1252 needs a DuckDB extension that cannot be installed here (stack notes).
WINDOWS_ENCODINGS = {"windows-1252", "cp1252", "ansi"}
DRUG_CLASSES = (
    "folate_therapeutic",
    "folate_low_dose",
    "folinic_acid",
    "b12_treatment",
    "b12_antidote",
    "other",
)
EVENT_TYPES = ("administered", "dispensed", "ordered", "not_given", "held", "discontinued")
EVENT_TYPES += ("other",)
# Values a values map may produce, where the canonical column has a closed list.
CLOSED_VALUES = {"event_type": EVENT_TYPES, "code_system": CODE_SYSTEMS}
NUMBER_COLUMNS = ("result", "dose")  # the columns a decimal comma applies to
LOINC = re.compile(r"^\d{1,7}-\d$")
DIRECTIVE = re.compile(r"%-?([a-zA-Z%])")
DATE_PARTS = {"year": set("Yy"), "month": set("mbB"), "day": set("dj")}
TIME_DIRECTIVES = set("HIMSfgnpTXc")
ZONE_DIRECTIVES = set("zZ")


@dataclass(frozen=True)
class DateFormat:
    pattern: str  # strptime format, as DuckDB reads it
    output: str  # strftime format of the ISO text it becomes


@dataclass
class FileMapping:
    """One [table] section: how one site file becomes one canonical table."""

    table: str
    file: str
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal: str = "."
    date_formats: list[DateFormat] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> file column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {from: to}
    constants: dict[str, str] = field(default_factory=dict)  # canonical -> fixed text


@dataclass
class Mapping:
    files: list[FileMapping]
    test_codes: dict[str, str]  # local code -> LOINC
    drug_classes: dict[str, str]  # drug name or code -> drug class


def read_mapping(input_dir: Path) -> Mapping:
    path = input_dir / MAPPING_FILE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{MAPPING_FILE}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise InputError(f"{MAPPING_FILE}: unreadable ({exc.strerror})") from None
    return parse_mapping(document)


def parse_mapping(document: dict) -> Mapping:
    _no_unknown_keys("", document, [*SCHEMAS, *CODE_MAP_SECTIONS])
    for table in ("lab_results", "medications"):
        if table not in document:
            raise InputError(f"{MAPPING_FILE}: no [{table}] section (it is required)")
    files = [_file_mapping(t, _table(document, t, t)) for t in SCHEMAS if t in document]
    test_codes = _string_table(document, "test_codes")
    _distinct_keys(test_codes, "test_codes", any_case=False)  # codes are matched in their case
    for local, loinc in test_codes.items():
        if not LOINC.match(loinc.strip()):
            raise InputError(f"{MAPPING_FILE}: [test_codes] {local!r} = {loinc!r} is not a LOINC")
    drug_classes = _string_table(document, "drug_classes")
    _distinct_keys(drug_classes, "drug_classes", any_case=True)
    for drug, drug_class in drug_classes.items():
        if drug_class not in DRUG_CLASSES:
            raise InputError(
                f"{MAPPING_FILE}: [drug_classes] {drug!r} = {drug_class!r} is not a drug class; "
                f"classes: {', '.join(DRUG_CLASSES)}"
            )
    return Mapping(files, test_codes, drug_classes)


def _file_mapping(table: str, section: dict) -> FileMapping:
    _no_unknown_keys(f"[{table}] ", section, TABLE_KEYS)
    where = f"[{table}]"
    if "file" not in section:
        raise InputError(f"{MAPPING_FILE}: {where} has no 'file' key")
    mapping = FileMapping(table, _text(section, "file", where))
    mapping.delimiter = _delimiter(section, where)
    mapping.encoding = _encoding(section, where)
    mapping.decimal = _choice(section, "decimal", (".", ","), ".", where)
    formats = section.get("date_format", [])
    formats = [formats] if isinstance(formats, str) else formats
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise InputError(f"{MAPPING_FILE}: {where} date_format must be text or a list of text")
    mapping.date_formats = [_date_format(f, where) for f in formats]
    mapping.columns = _columns(table, section)
    mapping.constants = _string_table(section, "constants", f"{table}.constants")
    _canonical_only(table, mapping.constants, "constants")
    for column, text in mapping.constants.items():
        _closed_values(f"{table}.constants", column, {column: text})
    both = sorted(set(mapping.constants) & set(mapping.columns))
    if both:
        raise InputError(f"{MAPPING_FILE}: [{table}] {both[0]!r} is in both columns and constants")
    _check_required(table, {**mapping.columns, **mapping.constants})
    mapping.values = _values(table, section, mapping.columns)
    return mapping


def _columns(table: str, section: dict) -> dict[str, str]:
    columns = _string_table(section, "columns", f"{table}.columns")
    _canonical_only(table, columns, "columns")
    return columns


def _canonical_only(table: str, keys: dict, what: str) -> None:
    for column in keys:
        if column not in known_columns(table):
            raise InputError(
                f"{MAPPING_FILE}: [{table}.{what}] {column!r} is not a {table} column; "
                f"columns: {', '.join(known_columns(table))}"
            )


def _check_required(table: str, given: dict) -> None:
    for column in required_columns(table):
        if column not in given:
            raise InputError(
                f"{MAPPING_FILE}: [{table}.columns] maps no file column to required "
                f"column {column!r}"
            )


def _values(table: str, section: dict, columns: dict[str, str]) -> dict[str, dict[str, str]]:
    values = _table(section, "values", f"{table}.values")
    out = {}
    for column in values:
        where = f"{table}.values.{column}"
        if column not in columns:
            raise InputError(
                f"{MAPPING_FILE}: [{where}] maps values of a column [{table}.columns] does not map"
            )
        out[column] = _string_table(values, column, where)
        _distinct_keys(out[column], where, any_case=True)  # matched as lower(trim(value))
        _closed_values(where, column, out[column])
    return out


def _closed_values(where: str, column: str, given: dict[str, str]) -> None:
    """A value a column with a closed list (event_type, code_system) is given must be on
    it: a site word such as "GIVEN" would load, and never count as a dose."""
    allowed = CLOSED_VALUES.get(column)
    for key, value in given.items():
        if allowed and value.strip().lower() not in {a.lower() for a in allowed}:
            raise InputError(
                f"{MAPPING_FILE}: [{where}] {key!r} = {value!r}: not one of {', '.join(allowed)}"
            )


def _distinct_keys(table: dict[str, str], where: str, any_case: bool) -> None:
    """Keys are matched trimmed (and in any case where any_case): two keys that are then
    equal would both match one value, doubling a code map's rows or hiding one mapping."""
    seen: dict[str, str] = {}
    for key in table:
        folded = key.strip().lower() if any_case else key.strip()
        if folded in seen:
            how = "trimmed and in any case" if any_case else "trimmed"
            raise InputError(
                f"{MAPPING_FILE}: [{where}] {seen[folded]!r} and {key!r} are the same key "
                f"(keys are matched {how}); keep one"
            )
        seen[folded] = key


def _date_format(pattern: str, where: str) -> DateFormat:
    directives = set(DIRECTIVE.findall(pattern))
    if directives & ZONE_DIRECTIVES:
        raise InputError(
            f"{MAPPING_FILE}: {where} date_format {pattern!r}: time zones (%z, %Z) are not "
            "supported; export local date-times"
        )
    for part, letters in DATE_PARTS.items():
        if not directives & letters and "c" not in directives:
            raise InputError(
                f"{MAPPING_FILE}: {where} date_format {pattern!r} has no {part} "
                f"(one of {', '.join('%' + c for c in sorted(letters))})"
            )
    try:
        # Fetched: a result left open would block the process's default connection.
        duckdb.execute("select try_strptime('', $f)", {"f": pattern}).fetchall()
    except duckdb.Error as exc:
        raise InputError(
            f"{MAPPING_FILE}: {where} date_format {pattern!r}: {first_line(exc)}"
        ) from None
    if not directives & TIME_DIRECTIVES:
        return DateFormat(pattern, "%Y-%m-%d")  # a date-only value stays date-only
    fraction = "f" in directives or "g" in directives or "n" in directives
    return DateFormat(pattern, "%Y-%m-%dT%H:%M:%S" + (".%f" if fraction else ""))


def _delimiter(section: dict, where: str) -> str:
    delimiter = _text(section, "delimiter", where, ",")
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise InputError(
            f"{MAPPING_FILE}: {where} delimiter {delimiter!r} must be one character "
            '(not a quote or a line break), e.g. ",", ";", "\\t", "|"'
        )
    return delimiter


def _encoding(section: dict, where: str) -> str:
    encoding = _text(section, "encoding", where, "utf-8").strip().lower()
    if encoding in WINDOWS_ENCODINGS:
        raise InputError(
            f"{MAPPING_FILE}: {where} encoding {encoding!r} is not available; use "
            "'latin-1' (it reads the same letters; only the symbols Windows puts at "
            "0x80-0x9F, such as the euro sign, differ) or re-save the file as UTF-8"
        )
    if encoding not in ENCODINGS:
        raise InputError(
            f"{MAPPING_FILE}: {where} encoding {encoding!r} is not supported; use one of "
            "utf-8, utf-8-sig, latin-1, utf-16"
        )
    return ENCODINGS[encoding]


def _choice(section: dict, key: str, allowed: tuple, default: str, where: str) -> str:
    value = _text(section, key, where, default)
    if value not in allowed:
        raise InputError(
            f"{MAPPING_FILE}: {where} {key} = {value!r}: must be one of "
            f"{', '.join(repr(a) for a in allowed)}"
        )
    return value


def _text(section: dict, key: str, where: str, default: str | None = None) -> str:
    value = section.get(key, default)
    if not isinstance(value, str) or not value:
        raise InputError(f"{MAPPING_FILE}: {where} {key} must be non-empty text")
    return value


def _table(document: dict, key: str, where: str) -> dict:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise InputError(f"{MAPPING_FILE}: {key} must be a [{where}] section")
    return value


def _string_table(document: dict, key: str, where: str | None = None) -> dict[str, str]:
    where = where or key
    table = _table(document, key, where)
    for name, value in table.items():
        if not isinstance(value, str):
            raise InputError(f"{MAPPING_FILE}: [{where}] {name!r} must be text in quotes")
    return table


def _no_unknown_keys(where: str, section: dict, allowed) -> None:
    for key in section:
        if key not in allowed:
            raise InputError(
                f"{MAPPING_FILE}: {where}unknown key {key!r}; expected one of: "
                f"{', '.join(sorted(allowed))}"
            )
