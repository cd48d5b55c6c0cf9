"""Source formats: each adapter maps what a site exports onto the canonical tables.

An adapter stages one view per (file, canonical table) with the canonical columns as
text (transforms/inputs/ingest.py); validation, quarantine and every rule then run unchanged.
`detect` names the format a folder holds; `--format` overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import duckdb

from transforms.errors import InputError
from transforms.inputs.adapters import canonical, fhir, meds, omop, site
from transforms.inputs.ingest import SourceFile

ADAPTERS: dict[str, ModuleType] = {
    "canonical": canonical,
    "site": site,
    "omop": omop,
    "meds": meds,
    "fhir": fhir,
}
FORMATS = tuple(ADAPTERS)
WHAT_EACH_HOLDS = {
    "canonical": "lab_results.csv and medications.csv (or .parquet)",
    "site": "mapping.toml beside the site's CSV files",
    "omop": "OMOP CDM tables such as person, measurement, drug_exposure (.csv or .parquet)",
    "meds": "a data/ folder of MEDS Parquet shards",
    "fhir": "FHIR bulk export NDJSON files such as Observation.ndjson (or .ndjson.gz)",
}


def detect(input_dir: Path) -> str:
    """The one format the folder holds; stops when it holds none, or several."""
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: not a folder")
    found = [name for name, adapter in ADAPTERS.items() if adapter.detect(input_dir)]
    if len(found) == 1:
        return found[0]
    expected = "; ".join(f"{k}: {v}" for k, v in WHAT_EACH_HOLDS.items())
    if not found:
        raise InputError(f"{input_dir}: no extract files found. Expected one of: {expected}")
    raise InputError(
        f"{input_dir}: holds files of several formats ({', '.join(found)}); "
        "choose one with --format"
    )


def preflight(input_dir: Path, fmt: str | None) -> str:
    """The folder's format, checked before any engine starts: it is a folder of one known
    format, and (canonical) its required files are there with usable headers."""
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: not a folder")
    fmt = fmt or detect(input_dir)
    if fmt == "canonical":
        canonical.preflight(input_dir)
    return fmt


def stage(con: duckdb.DuckDBPyConnection, input_dir: Path, fmt: str | None) -> list[SourceFile]:
    """Stages the folder's files in the given format (detected when None)."""
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: not a folder")
    fmt = fmt or detect(input_dir)
    if fmt not in ADAPTERS:
        raise InputError(f"format {fmt!r} is not known; formats: {', '.join(FORMATS)}")
    stager: Callable = ADAPTERS[fmt].stage
    sources = stager(con, input_dir)
    for source in sources:
        source.source_format = fmt
    return sources
