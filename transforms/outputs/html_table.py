"""One HTML table, escaped, for the report's sections."""

from __future__ import annotations

from html import escape


def table(head: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class=n>{escape(str(v))}</td>" if i in numeric else f"<td>{escape(str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    # thead: a table printed across pages repeats its header on each.
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
