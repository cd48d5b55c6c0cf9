"""The audit's history: every file delivered to the drop folder, its rows, and every run.

A scheduled run audits the whole history, not just this month's drop, so a folate dose
this month is judged against a B12 result from last year. `OUT_DIR/history.duckdb` holds:

- `delivered_files`: a content-hash registry. A file whose bytes were seen before (under
  any name) changes nothing; a file whose name was seen with other bytes is a corrected
  re-delivery and replaces that file's rows; anything else is new.
- the canonical tables and `quarantine`, with every current file's rows;
- `runs` and `run_files`: when, which files, counts, configuration hash, outcome;
- `findings_by_run`: each published run's findings, for the re-audit diff.

Only scheduled runs open this file (analysts read the published database), one at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb

from schemas.canonical import SCHEMAS
from transforms.database import sql_quote
from transforms.operations.drop_folder import DroppedFile
from transforms.outputs.worklist_annotations import FILE_NAME as ANNOTATIONS_FILE

HISTORY_NAME = "history.duckdb"
ROW_TABLES = (*SCHEMAS, "quarantine")

# The runs table, here and as the published `runs` view's table (transforms/operations/publish.py).
RUN_COLUMNS = (
    "run_id varchar, started_at timestamp, finished_at timestamp, outcome varchar, "
    "drop_dir varchar, input_format varchar, files_new integer, files_replaced integer, "
    "files_unchanged integer, files_duplicate integer, rows_loaded bigint, "
    "rows_quarantined bigint, findings bigint, config_sha256 varchar, code_version varchar, "
    "message varchar"
)
SCHEMA = f"""
create table if not exists delivered_files (
    name varchar, sha256 varchar, size_bytes bigint, data_file boolean,
    run_id varchar, status varchar, replaced_by_run varchar);
create table if not exists runs ({RUN_COLUMNS});
create table if not exists run_files (run_id varchar, name varchar, sha256 varchar,
    action varchar);
create table if not exists findings_by_run (run_id varchar, patient_id varchar,
    finding varchar, reason varchar, index_date date, episode integer, site varchar);
-- The unit each finding is about (sql/report/finding_units.sql); null in runs recorded
-- before units had keys.
alter table findings_by_run add column if not exists unit_key varchar;
"""


def history_path(out_dir: Path) -> Path:
    return out_dir / HISTORY_NAME


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    con.execute(SCHEMA)
    return con


def known_hashes(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select sha256 from delivered_files").fetchall()}


def classify(
    con: duckdb.DuckDBPyConnection, dropped: list[DroppedFile], data_names: set[str]
) -> dict[str, str]:
    """What each dropped file is to the history: new, replaced (a corrected re-delivery),
    unchanged, or duplicate (bytes already delivered under another name). A changed file
    that is not data (mapping.toml, a code map) changes how every file reads, so then every
    data file in the drop is read again, as a replacement."""
    current = dict(
        con.execute("select name, sha256 from delivered_files where status = 'current'").fetchall()
    )
    seen = known_hashes(con)
    actions = {}
    for f in dropped:
        if current.get(f.name) == f.sha256:
            actions[f.name] = "unchanged"
        elif f.sha256 in seen and f.name not in current:
            actions[f.name] = "duplicate"  # delivered before, or earlier in this drop
        else:
            actions[f.name] = "replaced" if f.name in current else "new"
        seen.add(f.sha256)
    # The team's worklist annotations change no reading: they only join the worklist.
    settings = set(actions) - data_names - {ANNOTATIONS_FILE}
    settings_changed = any(actions[n] in ("new", "replaced") for n in settings)
    if settings_changed:
        for name in data_names & set(current):
            actions[name] = "replaced"
    return actions


def changed(actions: dict[str, str]) -> set[str]:
    return {name for name, action in actions.items() if action in ("new", "replaced")}


def _sha256_of(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def rules_sha256(rules: dict[str, str]) -> str:
    return _sha256_of(rules)[:12]


def config_sha256(config_records: list[dict]) -> str:
    """The settings that decide findings; where alerts go does not."""
    return _sha256_of([r for r in config_records if r["key"] != "alerts"])


def results_stand(con: duckdb.DuckDBPyConnection, run: dict) -> bool:
    """Whether the published results are this history's, under this run's configuration
    and code: the newest earlier run that did anything published them. A run that failed,
    or died before it finished publishing, leaves them behind the history."""
    rows = con.execute(
        """
        select outcome, config_sha256, code_version from runs
        where outcome != 'unchanged' and run_id != $run_id
        order by started_at desc, run_id desc limit 1
        """,
        {"run_id": run["run_id"]},
    ).fetchall()
    if not rows:
        return False
    outcome, config, code = rows[0]
    return outcome == "published" and (config, code) == (run["config_sha256"], run["code_version"])


def other_drop(con: duckdb.DuckDBPyConnection, drop_dir: str) -> str | None:
    """The drop folder this history belongs to, when it is not `drop_dir`."""
    rows = con.execute(
        "select drop_dir from runs where outcome = 'published' and drop_dir != $d limit 1",
        {"d": drop_dir},
    ).fetchall()
    return rows[0][0] if rows else None


def current_files(con: duckdb.DuckDBPyConnection, except_names: set[str]) -> list[dict]:
    """The data files whose rows the history holds (for the manifest), but those re-read."""
    rows = con.execute(
        "select name, sha256, run_id from delivered_files "
        "where status = 'current' and data_file order by name"
    ).fetchall()
    keys = ("file", "sha256", "delivered_in_run")
    return [dict(zip(keys, r, strict=True)) for r in rows if r[0] not in except_names]


def previous_findings_run(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute(
        "select run_id from runs where outcome = 'published' "
        "order by started_at desc, run_id desc limit 1"
    ).fetchall()
    return rows[0][0] if rows else None


def start_run(con: duckdb.DuckDBPyConnection, run: dict) -> None:
    con.execute(
        """
        insert into runs (run_id, started_at, outcome, drop_dir, config_sha256, code_version)
        values ($run_id, $started_at, 'running', $drop_dir, $config_sha256, $code_version)
        """,
        {k: run[k] for k in ("run_id", "started_at", "drop_dir", "config_sha256", "code_version")},
    )


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, outcome: str, **facts) -> None:
    """Sets the run's outcome, finish time and any of the runs table's count columns."""
    facts = {"outcome": outcome, "finished_at": dt.datetime.now(), **facts}
    assignments = ", ".join(f"{key} = ${key}" for key in facts)
    con.execute(
        f"update runs set {assignments} where run_id = $run_id", {**facts, "run_id": run_id}
    )


def record_files(
    con: duckdb.DuckDBPyConnection, run_id: str, dropped: list[DroppedFile], actions: dict
) -> None:
    if not dropped:
        return
    con.executemany(
        "insert into run_files values (?, ?, ?, ?)",
        [(run_id, f.name, f.sha256, actions[f.name]) for f in dropped],
    )


def action_counts(actions: dict[str, str]) -> dict[str, int]:
    kinds = ("new", "replaced", "unchanged", "duplicate")
    return {f"files_{k}": sum(a == k for a in actions.values()) for k in kinds}


def copy_into_build(build: duckdb.DuckDBPyConnection, history_db: Path, skip: set[str]) -> None:
    """Adds the history's rows to the build's canonical tables and quarantine, except the
    rows of files this run reads again (new or corrected)."""
    build.execute(f"attach '{sql_quote(str(history_db))}' as hist (read_only)")
    try:
        _reread_table(build, skip)
        existing = _tables(build, "hist")
        for table in ROW_TABLES:
            if table in existing:
                build.execute(
                    f"insert into {table} by name select * from hist.{table} "
                    "where source_file not in (select name from reread)"
                )
    finally:
        build.execute("detach hist")


def _reread_table(con: duckdb.DuckDBPyConnection, names: set[str]) -> None:
    con.execute("create or replace temp table reread (name varchar)")
    if names:
        con.executemany("insert into reread values (?)", [(n,) for n in sorted(names)])


def commit(
    build: duckdb.DuckDBPyConnection,
    history_db: Path,
    run_id: str,
    dropped: list[DroppedFile],
    actions: dict[str, str],
    data_names: set[str],
) -> None:
    """In one transaction: the re-read files' rows replace their earlier versions, the
    registry learns the new hashes, and the run's findings are kept for the next diff."""
    build.execute(f"attach '{sql_quote(str(history_db))}' as hist")
    try:
        _reread_table(build, changed(actions))
        existing = _tables(build, "hist")
        build.execute("begin")
        for table in ROW_TABLES:
            if table not in existing:
                build.execute(f"create table hist.{table} as select * from {table} limit 0")
            build.execute(
                f"delete from hist.{table} where source_file in (select name from reread)"
            )
            build.execute(
                f"insert into hist.{table} by name select * from {table} "
                "where source_file in (select name from reread)"
            )
        _register(build, run_id, dropped, actions, data_names)
        build.execute(
            """
            insert into hist.findings_by_run by name
            select $run_id as run_id, f.patient_id, f.finding, f.reason, f.index_date,
                f.episode, f.site, u.unit_key
            from findings as f
            left join finding_units as u
                on u.finding = f.finding and u.patient_id = f.patient_id
                and u.episode is not distinct from f.episode
            """,
            {"run_id": run_id},
        )
        build.execute("commit")
    except BaseException:
        build.execute("rollback")
        raise
    finally:
        build.execute("detach hist")


def _register(build, run_id, dropped, actions, data_names) -> None:
    reread = [f for f in dropped if actions[f.name] in ("new", "replaced")]
    if not reread:
        return
    build.executemany(
        """
        update hist.delivered_files set status = 'replaced', replaced_by_run = ?
        where name = ? and status = 'current'
        """,
        [(run_id, f.name) for f in reread],
    )
    build.executemany(
        "insert into hist.delivered_files values (?, ?, ?, ?, ?, 'current', null)",
        [(f.name, f.sha256, f.size_bytes, f.name in data_names, run_id) for f in reread],
    )


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = $d", {"d": database}
    ).fetchall()
    return {r[0] for r in rows}
