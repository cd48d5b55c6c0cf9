"""The same synthetic population, written in every source format, gives the same findings.

data/sample/writers/<format>.py turns the canonical sample into that format; the audit
runs on each and its findings are compared with the canonical run's. Evidence is compared
by what it points at (table, patient, date), since row ids name each format's own files.
Any difference is a bug in an adapter or a writer, and the failure lists the rows.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import SAMPLE, query, run_stages
from transforms.config import AuditConfig

WRITERS = SAMPLE / "writers"
FORMATS = sorted(p.stem for p in WRITERS.glob("*.py") if not p.stem.startswith("_"))
EVIDENCE = {
    "evidence_lab_row_ids": ("lab_results", "collected_at"),
    "evidence_medication_row_ids": ("medications", "event_at"),
    "evidence_diagnosis_row_ids": ("diagnoses", "recorded_at"),
}


def writer(fmt: str):
    spec = importlib.util.spec_from_file_location(f"sample_writer_{fmt}", WRITERS / f"{fmt}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def audited(input_dir: Path, work: Path, fmt: str | None) -> Path:
    return run_stages(input_dir, AuditConfig(), work, fmt)


def findings(db: Path, patient_ids: dict[str, str] | None = None) -> Counter:
    """Every finding as (patient, finding, reason, index date, episode, site, evidence),
    evidence as the sorted (date and time) of the rows it names, patients by sample id;
    counted, so a finding given twice differs from one given once."""
    back = {v: k for k, v in (patient_ids or {}).items()}
    rows: Counter = Counter()
    for column, (table, when) in EVIDENCE.items():
        rows_sql = f"select row_id, {when}::varchar as at from {table}"
        got = query(
            db,
            f"""
            select f.rowid, f.patient_id, f.finding, coalesce(f.reason, ''), f.index_date::varchar,
                   f.episode, coalesce(f.site, ''),
                   coalesce(string_agg(e.at, ' ' order by e.at), '')
            from findings as f
            left join ({rows_sql}) as e on list_contains(f.{column}, e.row_id)
            group by all
            """,
        )
        rows.update((back.get(str(r[1]), str(r[1])), *r[2:7], column, r[7]) for r in got)
    return rows


@pytest.fixture(scope="module")
def canonical(tmp_path_factory) -> Counter:
    return findings(audited(SAMPLE, tmp_path_factory.mktemp("canonical"), "canonical"))


def test_there_is_a_writer_for_every_format_but_canonical():
    assert FORMATS == ["fhir", "meds", "omop", "site"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_canonical_findings(fmt, canonical, tmp_path):
    out = tmp_path / fmt
    patient_ids = writer(fmt).write(SAMPLE, out)
    got = findings(audited(out, tmp_path / "work", None), patient_ids)
    assert canonical, "the canonical sample has findings"
    missing, extra = sorted((canonical - got).elements()), sorted((got - canonical).elements())
    assert not missing and not extra, f"{fmt}: missing {missing[:10]}; extra {extra[:10]}"


def same_content(ours: Path, theirs: Path) -> bool:
    """Parquet by table (bytes carry the writer's version); anything else byte for byte."""
    if ours.suffix == ".parquet":
        return pq.read_table(ours).equals(pq.read_table(theirs))
    return ours.read_bytes() == theirs.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_committed_sample_in_each_format_is_what_its_writer_writes(fmt, tmp_path):
    """data/sample/<format>/ (the README's examples) must not drift from the writer:
    regenerate with `python data/sample/make_sample.py`."""
    writer(fmt).write(SAMPLE, tmp_path)
    committed = SAMPLE / fmt
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file()) == written
    differ = [str(p) for p in written if not same_content(tmp_path / p, committed / p)]
    assert not differ, f"{fmt}: regenerate data/sample; these differ: {differ}"
