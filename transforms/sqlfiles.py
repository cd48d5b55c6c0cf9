"""Run the SQL files in sql/, binding configuration values as named `$parameters`."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import duckdb

PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")


def sql_dir() -> Path:
    return Path(str(resources.files("sql")))


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


def files_in(folder: str) -> list[str]:
    return sorted(f"{folder}/{p.name}" for p in (sql_dir() / folder).glob("*.sql"))
