"""A care team's annotations of its worklist: one Pandera schema, the one place each column
is defined. The file is the team's own (CSV, UTF-8, a header line); every value arrives as
text. A row that fails stops the run: the file is small and hand-kept, so the team fixes it
rather than losing a note to quarantine."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

STATUSES = ("reviewed", "not_applicable", "actioned")
ITEM_ID = r"^[0-9a-f]{12}$"  # worklist item ids: sql/report/worklist.sql
REQUIRED = ("item_id", "status", "date")
OPTIONAL = ("owner", "note")


def _real_iso_date(text: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(text.where(text.str.fullmatch(r"\d{4}-\d{2}-\d{2}")), errors="coerce")
    return parsed.notna()


# What each check means, for the error a team reads (never the value: a misplaced patient
# identifier must not reach a message or a log).
PROBLEMS = {
    "str_matches": "is not a worklist item id (12 hexadecimal digits, from the worklist's "
    "item_id column)",
    "isin": f"must be one of {', '.join(STATUSES)}",
    "real_iso_date": "must be a date written YYYY-MM-DD",
    "not_nullable": "is empty",
}

ANNOTATIONS = pa.DataFrameSchema(
    {
        "item_id": pa.Column(str, pa.Check.str_matches(ITEM_ID)),
        "status": pa.Column(str, pa.Check.isin(STATUSES)),
        "date": pa.Column(str, pa.Check(_real_iso_date, name="real_iso_date")),
        "owner": pa.Column(str, required=False),
        "note": pa.Column(str, required=False),
    },
    name="annotations",
    strict=True,
)
