"""Small-number suppression for shareable outputs.

Primary: a count from 1 to `up_to` (default 7) is not shown and is marked suppressed, and
so is a count whose complement within its denominator is that small.
Secondary: where a total is shown and exactly one of its parts is suppressed, the part
could be recovered by subtraction, so the smallest other part is suppressed too; where a
total is suppressed and every part is shown, their sum would tell it, so the smallest part
is suppressed. The same holds for denominators across sites. Zero is never suppressed (it
discloses no one).
"""

from __future__ import annotations

import pandas as pd


def is_small(count: float, up_to: int) -> bool:
    return pd.notna(count) and 1 <= count <= up_to


def suppress_counts(table: pd.DataFrame, up_to: int) -> pd.DataFrame:
    """Adds `suppressed` and blanks `count` (and small denominators) where needed.

    `table` has columns finding, reason, site, count, denominator; reason '(all)' and site
    'all sites' are the totals that the other rows add up to.
    """
    out = table.copy()
    # A count whose complement (denominator - count, the units not flagged) is small tells
    # that complement by subtraction: hidden too.
    complement = out["denominator"] - out["count"]
    out["suppressed"] = out["count"].map(lambda n: is_small(n, up_to)) | complement.map(
        lambda n: is_small(n, up_to)
    )
    changed = True
    while changed:
        changed = _protect_parts(out, "reason", "(all)", ["finding", "site"])
        changed |= _protect_parts(out, "site", "all sites", ["finding", "reason"])
    out["count"] = out["count"].astype("Int64").mask(out["suppressed"])
    hidden = _hidden_denominators(out, up_to)
    out["denominator_suppressed"] = [
        (m, s) in hidden for m, s in zip(out["denominator_meaning"], out["site"], strict=True)
    ]
    out["denominator"] = out["denominator"].astype("Int64").mask(out["denominator_suppressed"])
    return out


def _hidden_denominators(out: pd.DataFrame, up_to: int) -> set[tuple[str, str]]:
    """(denominator meaning, site) pairs to hide: small ones, and one more where a lone
    hidden site could be recovered from the all-sites denominator."""
    den = out[["denominator_meaning", "site", "denominator"]].drop_duplicates(
        ["denominator_meaning", "site"]
    )
    den = den.assign(
        finding=den["denominator_meaning"],
        reason="(all)",
        count=den["denominator"],
        suppressed=den["denominator"].map(lambda n: is_small(n, up_to)),
    ).reset_index(drop=True)
    while _protect_parts(den, "site", "all sites", ["finding", "reason"]):
        pass
    # astype(bool): an empty object column would be read as a list of column names.
    hidden = den[den["suppressed"].astype(bool)]
    return set(zip(hidden["denominator_meaning"], hidden["site"], strict=True))


def suppress_column(table: pd.DataFrame, column: str, up_to: int) -> pd.DataFrame:
    """Primary suppression of one count column (row counts in data-quality tables)."""
    small = table[column].map(lambda n: is_small(n, up_to))
    return table.assign(**{column: table[column].astype("Int64").mask(small), "suppressed": small})


def _protect_parts(out: pd.DataFrame, part: str, total_label: str, keys: list[str]) -> bool:
    """One pass of secondary suppression over totals and their parts; True if it hid any.
    A shown total with one hidden part would tell the part; a hidden total whose parts are
    all shown would be their sum: either way one more cell is hidden."""
    changed = False
    for _, group in out.groupby(keys, sort=False):
        parts = group[group[part] != total_label]
        total = group[group[part] == total_label]
        if total.empty or parts.empty:
            continue
        hidden = parts["suppressed"].sum()
        if total["suppressed"].all():
            shown = parts[~parts["suppressed"] & (parts["count"] > 0)]
            if hidden == 0 and not shown.empty:
                out.loc[shown["count"].idxmin(), "suppressed"] = True
                changed = True
            continue
        if len(parts) < 2:
            continue
        if hidden == 1:
            candidates = parts[~parts["suppressed"] & (parts["count"] > 0)]
            # With no other part to hide, hide the total instead.
            target = candidates["count"].idxmin() if not candidates.empty else total.index[0]
            out.loc[target, "suppressed"] = True
            changed = True
    return changed
