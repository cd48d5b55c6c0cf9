"""`b12audit run INPUT_DIR` detects the format from what the folder holds; --format forces it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows import cli
from transforms import database
from transforms.errors import InputError
from transforms.inputs import adapters
from transforms.operations import stages


def folder(tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "extract"
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("names", "fmt"),
    [
        (["lab_results.csv", "medications.csv"], "canonical"),
        (["mapping.toml", "LABS.csv"], "site"),
        (["mapping.toml", "lab_results.csv", "medications.csv"], "site"),
        (["PERSON.csv", "MEASUREMENT.csv", "DRUG_EXPOSURE.csv"], "omop"),
        (["person.parquet", "measurement.parquet"], "omop"),
        (["data/train/0.parquet", "metadata/codes.parquet"], "meds"),
        (["Patient.ndjson", "Observation.000.ndjson"], "fhir"),
    ],
)
def test_each_format_is_recognised_by_what_the_folder_holds(tmp_path, names, fmt):
    assert adapters.detect(folder(tmp_path, *names)) == fmt


def test_a_folder_holding_no_extract_names_what_each_format_needs(tmp_path):
    with pytest.raises(InputError) as stop:
        adapters.detect(folder(tmp_path, "notes.txt"))
    message = str(stop.value)
    assert "no extract files found" in message
    for fmt in adapters.FORMATS:
        assert f"{fmt}: " in message


def test_a_folder_holding_two_formats_asks_for_format(tmp_path):
    mixed = folder(tmp_path, "lab_results.csv", "medications.csv", "Observation.ndjson")
    with pytest.raises(InputError, match=r"several formats \(canonical, fhir\).*--format"):
        adapters.detect(mixed)


def test_every_format_the_cli_offers_has_an_adapter():
    assert set(adapters.ADAPTERS) == set(adapters.FORMATS)
    choices = next(
        a
        for a in cli.parser()._subparsers._group_actions[0].choices["run"]._actions
        if a.dest == "format"
    ).choices
    assert tuple(choices) == adapters.FORMATS


def test_format_forces_an_adapter_the_folder_does_not_look_like(tmp_path):
    canonical = folder(tmp_path, "lab_results.csv", "medications.csv")
    db = tmp_path / "work" / "build.duckdb"
    database.create_build_database(db)
    with pytest.raises(InputError, match="OMOP|person"):
        stages.ingest(db, canonical, "omop")
