"""The run manifest: what went in, what came out, and what produced it."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from schemas.canonical import SCHEMAS
from transforms.config import AuditConfig
from transforms.inputs import ingest
from transforms.inputs.adapters import omop
from transforms.sqlfiles import sql_dir

PACKAGES = ("b12audit", "duckdb", "pandas", "pandera", "polars", "prefect", "pyarrow")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version() -> str:
    """The git commit of the code, when it runs from a checkout; else the package version."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return package_versions()["b12audit"]


def rule_versions() -> dict[str, str]:
    """sha256 of every SQL, registry and reference file, so a changed rule (or a change to
    what its findings mean: a population, a reason's window) shows in the manifest."""
    root = sql_dir()
    files = sorted(p for p in root.rglob("*") if p.suffix in {".sql", ".toml", ".csv"})
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in files
    }


# Facts about a file that staging needs and the manifest does not show per file.
INTERNAL_KEYS = ("index", "header_lines", "text", "format")


def inputs_with_counts(
    files: list[dict],
    quarantined: dict[tuple[str, str], int],
    loaded: dict[tuple[str, str], int],
) -> list[dict]:
    """Per file and table: rows read = rows loaded + rows quarantined + rows not audited
    (a vocabulary file, or events no rule uses), checked here."""
    rows = []
    for f in files:
        key = (f["file"], f["table"])
        row = {k: v for k, v in f.items() if k not in INTERNAL_KEYS}
        row["rows_loaded"] = loaded.get(key, 0)
        row["rows_quarantined"] = quarantined.get(key, 0)
        row["rows_not_audited"] = 0 if f["table"] in SCHEMAS else f["rows_read"]
        if (
            row["rows_read"]
            != row["rows_loaded"] + row["rows_quarantined"] + row["rows_not_audited"]
        ):
            raise RuntimeError(
                f"{f['file']} ({f['table']}): rows read {row['rows_read']} != loaded "
                f"{row['rows_loaded']} + quarantined {row['rows_quarantined']} + not audited "
                f"{row['rows_not_audited']}"
            )
        rows.append(row)
    return rows


AUDITED_TABLES = ("lab_results", "medications")


def warnings(
    inputs: list[dict], audited: dict[str, int], normalised: dict[str, int] | None = None
) -> list[str]:
    """Loud words for a run that read rows but has none of a table the findings need
    (`audited`: rows per canonical table in the audit, a schedule's history included): an
    extract whose codes the format's patterns do not read gives "no findings" otherwise;
    and for identifiers that loaded changed (`normalised`: rows per file), which would
    otherwise have been separate patients."""
    read = sum(f["rows_read"] for f in inputs)
    missing = [
        f"No {table.replace('_', ' ')} were audited ({read} rows read): the findings that "
        "need them are empty, not clear. Check the format's code patterns and drug and test "
        "lists (docs/input-formats.md) and the mapping review."
        for table in AUDITED_TABLES
        if read and not audited.get(table)
    ]
    changed = [
        f"{name}: {rows} rows' patient identifiers held invisible characters or unnormalised "
        "Unicode; they were loaded as a reader sees them (NFC, invisible characters removed)."
        for name, rows in sorted((normalised or {}).items())
    ]
    return missing + changed


def build_manifest(run: dict, config: AuditConfig) -> dict:
    inputs = run["inputs"]
    return {
        **run,
        "totals": {
            key: sum(f[key] for f in inputs)
            for key in ("rows_read", "rows_loaded", "rows_quarantined", "rows_not_audited")
        },
        "report_scope": {
            "site": config.report_site,
            "period_start": config.period_start and config.period_start.isoformat(),
            "period_end": config.period_end and config.period_end.isoformat(),
        },
        "configuration": config.as_records(),
        "code_version": code_version(),
        "package_versions": package_versions(),
        "rule_versions": rule_versions(),
        "vocabulary_versions": vocabulary_versions(config),
    }


def vocabulary_versions(config: AuditConfig) -> dict[str, str]:
    """sha256 of each concept table in the configured vocabulary_dir, by file name: the
    drug classes it adds change with it (the folder's path is not recorded)."""
    if not config.vocabulary_dir:
        return {}
    files = omop.vocabulary_files(Path(config.vocabulary_dir))
    return {p.name: ingest.hash_file(p)[0][:16] for p in files}
