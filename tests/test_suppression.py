"""Small-number suppression in shareable outputs."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.outputs.suppress import suppress_counts


def table(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["finding", "reason", "site", "count", "denominator"])
    return frame.assign(denominator_meaning="patients")


def shown(out: pd.DataFrame) -> dict:
    return {
        (r.reason, r.site): (None if pd.isna(r.count) else int(r.count)) for r in out.itertuples()
    }


def test_counts_from_1_to_7_are_suppressed_and_0_and_8_are_not():
    out = suppress_counts(
        table(
            [
                ("f", "(all)", "all sites", 0, 100),
                ("g", "(all)", "all sites", 1, 100),
                ("h", "(all)", "all sites", 7, 100),
                ("i", "(all)", "all sites", 8, 100),
            ]
        ),
        7,
    )
    assert out["count"].tolist()[0] == 0
    assert out["suppressed"].tolist() == [False, True, True, False]
    assert pd.isna(out["count"].iloc[1]) and pd.isna(out["count"].iloc[2])


def test_a_lone_suppressed_part_hides_the_next_smallest_part_too():
    out = suppress_counts(
        table(
            [
                ("f", "(all)", "all sites", 40, 100),
                ("f", "a", "all sites", 3, 100),
                ("f", "b", "all sites", 12, 100),
                ("f", "c", "all sites", 25, 100),
            ]
        ),
        7,
    )
    assert shown(out) == {
        ("(all)", "all sites"): 40,
        ("a", "all sites"): None,
        ("b", "all sites"): None,
        ("c", "all sites"): 25,
    }


def test_small_denominators_are_suppressed():
    out = suppress_counts(table([("f", "(all)", "all sites", 0, 5)]), 7)
    assert bool(out["denominator_suppressed"].iloc[0]) and pd.isna(out["denominator"].iloc[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=5))
def test_no_hidden_part_can_be_recovered_by_subtraction(parts):
    rows = [("f", "(all)", "all sites", sum(parts), 100)]
    rows += [("f", f"r{i}", "all sites", n, 100) for i, n in enumerate(parts)]
    out = suppress_counts(table(rows), 7)
    visible = out["count"].dropna()
    assert not visible.between(1, 7).any()
    hidden_parts = out[(out["reason"] != "(all)") & out["count"].isna()]
    total_shown = not pd.isna(out["count"].iloc[0])
    assert not (total_shown and len(hidden_parts) == 1)
    # ... nor a hidden total from the sum of its parts.
    assert total_shown or len(hidden_parts) > 0 or sum(parts) == 0


def test_a_count_whose_complement_is_small_is_hidden():
    out = suppress_counts(
        table([("f", "(all)", "all sites", 14, 20), ("g", "(all)", "all sites", 12, 20)]), 7
    )
    # 14 of 20 tells that 6 were not flagged; 12 of 20 leaves 8.
    assert out["suppressed"].tolist() == [True, False]


def test_a_hidden_total_hides_a_part_so_the_parts_do_not_add_up_to_it():
    out = suppress_counts(
        table(
            [
                ("f", "(all)", "all sites", 20, 26),  # 6 not flagged: hidden
                ("f", "none", "all sites", 10, 26),
                ("f", "partial", "all sites", 10, 26),
            ]
        ),
        7,
    )
    assert shown(out)[("(all)", "all sites")] is None
    assert sorted(shown(out)[(r, "all sites")] is None for r in ("none", "partial")) == [
        False,
        True,
    ]


def test_a_lone_small_site_denominator_cannot_be_recovered_from_the_total():
    rows = [
        ("folate_before_b12", "(all)", "all sites", 10, 50),
        ("folate_before_b12", "(all)", "a", 0, 5),
        ("folate_before_b12", "(all)", "b", 10, 45),
    ]
    frame = table(rows).assign(denominator_meaning="folate episodes")
    out = suppress_counts(frame, 7)
    hidden = dict(zip(out["site"], out["denominator_suppressed"], strict=True))
    assert hidden == {"all sites": False, "a": True, "b": True}


def test_an_extract_with_no_findings_suppresses_nothing_and_does_not_fail():
    out = suppress_counts(table([]), 7)
    assert out.empty
    assert {"suppressed", "denominator_suppressed"} <= set(out.columns)
