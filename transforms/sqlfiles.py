"""The SQL files in sql/, and binding configuration values as named `$parameters`.

B12AUDIT_SQL_DIR, when set, names another folder laid out like sql/ (a copy with a rule
being tried, for example): every step, rule and reference list is then read from there.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import duckdb

PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")


def sql_dir() -> Path:
    override = os.environ.get("B12AUDIT_SQL_DIR")
    return Path(override) if override else Path(str(resources.files("sql")))


def sql_text(relative: str) -> str:
    return (sql_dir() / relative).read_text(encoding="utf-8")


def code_only(sql: str) -> str:
    """The SQL without its -- comments (headers mention parameters they do not bind)."""
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def bind(sql: str, params: dict[str, object]) -> dict[str, object]:
    """The parameters a statement uses (DuckDB rejects unused ones); a missing one is a bug."""
    names = set(PARAMETER.findall(code_only(sql)))
    missing = names - params.keys()
    if missing:
        raise KeyError(f"SQL parameter(s) not supplied: {', '.join(sorted(missing))}")
    return {name: params[name] for name in names}


def run_file(con: duckdb.DuckDBPyConnection, relative: str, params: dict[str, object]) -> None:
    sql = sql_text(relative)
    con.execute(sql, bind(sql, params))
