"""The SQL under sql/ (written for DuckDB) as Spark SQL, translated by sqlglot at run time.

There is one set of rules: no file under sql/ has a Spark copy. sqlglot (read "duckdb",
write "spark") translates each statement; this module adds what sqlglot cannot know, so
that both engines give the same rows:

- the macros of sql/macros.sql are inlined (Spark has no temporary macros);
- `create or replace table X as Q` becomes Q and its target X: the Spark engine keeps Q's
  rows as a temporary view named X;
- `list(x order by k) filter (where c)` (DuckDB's array_agg): sqlglot writes COLLECT_LIST,
  which drops the order, drops NULL values and gives [] where DuckDB gives NULL for no
  rows. It becomes: NULL when no row is aggregated, else every value (NULLs too) sorted
  by k as DuckDB sorts (each key ascending or descending, NULLs last unless said first);
- DuckDB functions Spark spells otherwise: strlen(x) (bytes) is octet_length(x),
  to_years(n) is make_ym_interval(n, 0), a regexp_replace replacement's \\1 is $1;
  nfc_normalize(x) stays, for the session's Python function of that name
  (transforms/spark_session.py);
- constructs sqlglot would translate into something else, or not at all, are refused
  (NotPortable, naming the construct): the SQL file is then rewritten in a form both
  engines run the same. tests/test_spark_sql.py translates every file.

Parameters stay named: DuckDB's `$name` is Spark's `:name`, bound by spark.sql(args=...)
with the same values (transforms/sqlfiles.py `bind`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from transforms.sqlfiles import code_only, sql_text

MACRO = re.compile(r"create or replace temp macro (\w+)\(([^)]*)\) as(.*?);\s*$", re.S | re.M)


class NotPortable(ValueError):
    """A statement uses a construct with no faithful Spark translation."""


@dataclass(frozen=True)
class SparkStatement:
    creates: str | None  # the table a `create or replace table ... as` makes, else None
    query: str  # Spark SQL, parameters as :name


@dataclass(frozen=True)
class Macro:
    arguments: tuple[str, ...]
    body: exp.Expression


@functools.cache
def macros() -> dict[str, Macro]:
    """sql/macros.sql's macros, by name."""
    found = {}
    for name, arguments, body in MACRO.findall(code_only(sql_text("macros.sql"))):
        names = tuple(a.strip() for a in arguments.split(","))
        found[name.lower()] = Macro(names, sqlglot.parse_one(body, read="duckdb"))
    return found


@functools.lru_cache(maxsize=256)
def translate(sql: str) -> SparkStatement:
    """One DuckDB statement (a file's text) as Spark SQL (kept: a file is read many times)."""
    statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    if len(statements) != 1:
        raise NotPortable(f"expected one statement, found {len(statements)}")
    tree = _inline_macros(statements[0])
    _refuse_unfaithful(tree)
    creates = None
    if isinstance(tree, exp.Create):
        creates = tree.this.name
        tree = tree.expression
    tree = tree.transform(_ordered_list).transform(_spark_spelling)
    return SparkStatement(creates, _spark(tree))


def _inline_macros(tree: exp.Expression) -> exp.Expression:
    def expand(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Anonymous) or node.name.lower() not in macros():
            return node
        macro = macros()[node.name.lower()]
        if len(node.expressions) != len(macro.arguments):
            raise NotPortable(f"{node.name} takes {len(macro.arguments)} arguments")
        values = dict(zip(macro.arguments, node.expressions, strict=True))

        def argument(inner: exp.Expression) -> exp.Expression:
            if isinstance(inner, exp.Column) and not inner.table and inner.name in values:
                return values[inner.name].copy()
            return inner

        # A macro may call another (measured calls plain_number).
        return exp.Paren(this=_inline_macros(macro.body.copy().transform(argument)))

    return tree.transform(expand)


def _refuse_unfaithful(tree: exp.Expression) -> None:
    """Constructs sqlglot passes through or rewrites into something that means otherwise."""
    if tree.find(exp.Slice):
        raise NotPortable("a list slice (x[a:b]): Spark has no slice syntax")
    for join in tree.find_all(exp.Join):
        if "ASOF" in (join.args.get("kind") or "").upper() or join.text("method").upper() == "ASOF":
            raise NotPortable("an ASOF join: Spark has none")
    if any(u.args.get("by_name") for u in tree.find_all(exp.Union)):
        raise NotPortable("UNION BY NAME: Spark SQL has none (list the columns in one order)")
    for call in tree.find_all(exp.Anonymous):
        if call.name.lower() in ("date_sub", "datesub") and len(call.expressions) == 3:
            raise NotPortable("date_sub(part, start, end): Spark's date_sub subtracts days")
    for call in tree.find_all(exp.RegexpReplace):
        pattern = call.expression.name if call.expression.is_string else ""
        anchored = pattern.startswith("^") and pattern.endswith("$")
        if "g" not in call.text("modifiers") and not anchored:
            raise NotPortable(
                "regexp_replace without 'g' (first match only): Spark replaces every match"
            )


# DuckDB functions with another name, same meaning, on Spark.
RENAMED = {"strlen": "octet_length"}


# DuckDB strftime's fields as Java DateTimeFormatter letters (the ones the SQL uses).
TIME_FIELDS = {"Y": "yyyy", "m": "MM", "d": "dd", "H": "HH", "M": "mm", "S": "ss", "f": "SSSSSS"}
# RE2's named group, which Java spells (?<name>...) and only for names without "_": the
# SQL refers to groups by number, so a plain group keeps the numbering.
NAMED_GROUP = re.compile(r"(?<!\\)\(\?P<\w+>")
REGEXPS = (exp.RegexpLike, exp.RegexpExtract, exp.RegexpReplace, exp.RegexpILike)


def java_time_format(duckdb_format: str) -> str:
    """strftime's format as DATE_FORMAT's: fields mapped, letters and quotes quoted."""
    out = []
    for field, text in re.findall(r"%(.)|([^%]+)", duckdb_format):
        if text:
            out.append(re.sub(r"[A-Za-z']+", lambda m: "'" + m[0].replace("'", "''") + "'", text))
        elif field in TIME_FIELDS:
            out.append(TIME_FIELDS[field])
        else:
            raise NotPortable(f"strftime field %{field}: not mapped for Spark")
    return "".join(out)


def _spark_spelling(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.TimeToStr) and node.args.get("format") is not None:
        pattern = java_time_format(node.args["format"].name)
        moment = node.this.transform(_spark_spelling)
        return exp.Anonymous(this="DATE_FORMAT", expressions=[moment, exp.Literal.string(pattern)])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        zone, moment = node.expressions
        if not (zone.is_string and zone.name == "UTC"):
            raise NotPortable("timezone() to a zone other than UTC")
        # The session's zone is UTC (spark_session.DEFAULTS): a zoned time's UTC wall time.
        return exp.cast(moment, exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))
    if isinstance(node, REGEXPS) and node.expression.is_string:
        pattern = node.expression.name
        if NAMED_GROUP.search(pattern):
            node = node.copy()
            node.set("expression", exp.Literal.string(NAMED_GROUP.sub("(", pattern)))
    if isinstance(node, exp.Anonymous) and node.name.lower() in RENAMED:
        return exp.Anonymous(this=RENAMED[node.name.lower()], expressions=node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_years":
        years = node.expressions[0]
        return exp.Anonymous(this="make_ym_interval", expressions=[years, exp.Literal.number(0)])
    if isinstance(node, exp.RegexpReplace) and node.args.get("replacement") is not None:
        replacement = node.args["replacement"]
        if replacement.is_string:
            # Java's replacement syntax: $1 for a group, a literal $ escaped.
            java = re.sub(r"\\(\d)", r"$\1", replacement.name.replace("$", "\\$"))
            node = node.copy()
            node.set("replacement", exp.Literal.string(java))
    return node


def _ordered_list(node: exp.Expression) -> exp.Expression:
    """list(x [order by k]) [filter (where c)] with DuckDB's meaning, for Spark."""
    condition = None
    aggregate = node
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        aggregate, condition = node.this, node.expression.this
    elif not isinstance(node, exp.ArrayAgg) or isinstance(node.parent, exp.Filter):
        return node
    value, keys = aggregate.this, []
    if isinstance(value, exp.Order):
        value, keys = value.this, value.expressions
    fields = [f"{_spark(value)} AS v"] + [f"{_spark(k.this)} AS k{i}" for i, k in enumerate(keys)]
    where = f" FILTER (WHERE {_spark(condition)})" if condition is not None else ""
    collected = f"COLLECT_LIST(STRUCT({', '.join(fields)})){where}"
    if keys:
        collected = f"ARRAY_SORT({collected}, (l, r) -> {_comparator(keys)})"
    text = f"CASE WHEN COUNT(*){where} = 0 THEN NULL ELSE TRANSFORM({collected}, e -> e.v) END"
    return sqlglot.parse_one(text, read="spark")


def _comparator(keys: list[exp.Ordered]) -> str:
    """-1, 0 or 1 for two collected structs, key by key, as DuckDB orders them."""
    result = "0"
    for i, key in reversed(list(enumerate(keys))):
        nulls_first = bool(key.args.get("nulls_first"))  # sqlglot sets DuckDB's default
        before, after = ("-1", "1") if not key.args.get("desc") else ("1", "-1")
        null_left = "-1" if nulls_first else "1"
        null_right = "1" if nulls_first else "-1"
        left, right = f"l.k{i}", f"r.k{i}"
        result = (
            f"CASE WHEN {left} IS NULL AND {right} IS NULL THEN {result} "
            f"WHEN {left} IS NULL THEN {null_left} WHEN {right} IS NULL THEN {null_right} "
            f"WHEN {left} < {right} THEN {before} WHEN {left} > {right} THEN {after} "
            f"ELSE {result} END"
        )
    return result


def _spark(node: exp.Expression) -> str:
    return node.sql("spark", comments=False, unsupported_level=ErrorLevel.RAISE)
