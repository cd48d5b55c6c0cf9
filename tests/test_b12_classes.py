"""B12 results: parsing, units and the deficient / borderline / adequate classes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import query

LABS = """
    patient_id | test_code | result    | unit   | collected_at
    -----------+-----------+-----------+--------+-------------
    p179       | 2132-9    | 179       | pg/mL  | 2024-03-01
    p180       | 2132-9    | 180       | pg/mL  | 2024-03-01
    p350       | 2132-9    | 350       | pg/mL  | 2024-03-01
    p351       | 2132-9    | 351       | pg/mL  | 2024-03-01
    lt180      | 2132-9    | <180      | pg/mL  | 2024-03-01
    le180      | 2132-9    | <=180     | pg/mL  | 2024-03-01
    le179      | 2132-9    | <=179.9   | pg/mL  | 2024-03-01
    lt200      | 2132-9    | <200      | pg/mL  | 2024-03-01
    gt350      | 2132-9    | >350      | pg/mL  | 2024-03-01
    ge350      | 2132-9    | >=350     | pg/mL  | 2024-03-01
    ge351      | 2132-9    | >=351     | pg/mL  | 2024-03-01
    gt2000     | 2132-9    | >2000     | pg/mL  | 2024-03-01
    padded     | 2132-9    |  212      | PG/ML  | 2024-03-01
    ngl        | 2132-9    | 175       | ng/L   | 2024-03-01
    pmol130    | 14685-2   | 130       | pmol/L | 2024-03-01
    pmol140    | 14685-2   | 140       | pmol/L | 2024-03-01
    pmol_lt150 | 14685-2   | <150      | pmol/L | 2024-03-01
    ngml       | 2132-9    | 0.25      | ng/mL  | 2024-03-01
    ngml_edge  | 2132-9    | 0.18      | ng/mL  | 2024-03-01
"""


def classes(audit, labs: str = LABS) -> dict[str, str]:
    db = audit.run(labs)
    return dict(query(db, "select patient_id, b12_class from b12_results"))


def test_each_boundary_and_censored_result_gets_its_class(audit):
    assert classes(audit) == {
        "p179": "deficient",
        "p180": "borderline",
        "p350": "borderline",
        "p351": "adequate",
        "lt180": "deficient",
        "le180": "indeterminate",
        "le179": "deficient",
        "lt200": "indeterminate",
        "gt350": "adequate",
        "ge350": "indeterminate",
        "ge351": "adequate",
        "gt2000": "adequate",
        "padded": "borderline",
        "ngl": "deficient",
        # 130 pmol/L = 176.2 pg/mL; 140 = 189.8; <150 pmol/L = <203.3 pg/mL.
        "pmol130": "deficient",
        "pmol140": "borderline",
        "pmol_lt150": "indeterminate",
        "ngml": "borderline",
        "ngml_edge": "borderline",
    }


def test_just_below_the_cut_off_is_deficient_and_at_it_is_not(audit):
    assert audit.flagged("b12_deficient", LABS) == {"p179", "lt180", "le179", "ngl", "pmol130"}


def test_borderline_is_180_to_350_inclusive_and_never_a_censored_result(audit):
    assert audit.flagged("b12_borderline", LABS) == {
        "p180",
        "p350",
        "padded",
        "pmol140",
        "ngml",
        "ngml_edge",
    }


UNUSABLE = """
    patient_id | test_code | result      | unit   | collected_at
    -----------+-----------+-------------+--------+-------------
    hemolyzed  | 2132-9    | hemolyzed   | pg/mL  | 2024-03-01
    comment    | 2132-9    | see comment | pg/mL  | 2024-03-01
    empty      | 2132-9    |             | pg/mL  | 2024-03-01
    comma      | 2132-9    | 0,15        | ng/mL  | 2024-03-01
    mgdl       | 2132-9    | 100         | mg/dL  | 2024-03-01
    no_unit    | 2132-9    | 100         |        | 2024-03-01
    blood_b12  | 16695-9   | 100         | pg/mL  | 2024-03-01
"""


def test_unusable_results_are_kept_with_a_reason_and_never_classified(audit):
    db = audit.run(UNUSABLE)
    assert query(db, "select count(*) from b12_results") == [(0,)]
    assert query(db, "select count(*) from findings") == [(0,)]
    statuses = dict(
        query(
            db,
            "select patient_id, status || ':' || coalesce(status_reason, '') from lab_harmonised",
        )
    )
    assert statuses == {
        "hemolyzed": "invalid_result:not_a_number",
        "comment": "invalid_result:not_a_number",
        "empty": "invalid_result:empty_result",
        "comma": "invalid_result:not_a_number",
        "mgdl": "unknown_unit:unit_not_recognised",
        "no_unit": "unknown_unit:unit_missing",
    }
    # Whole-blood B12 (16695-9) is a different test: loaded, not audited.
    assert query(db, "select count(*) from lab_results where patient_id = 'blood_b12'") == [(1,)]


def test_a_local_code_mapped_in_the_configuration_is_audited_as_its_loinc(audit):
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        p1         | LOCB12    | 150    | pg/mL | 2024-03-01
    """
    assert audit.flagged("b12_deficient", labs) == set()
    assert audit.flagged("b12_deficient", labs, local_test_codes={"LOCB12": "2132-9"}) == {"p1"}


def test_thresholds_come_from_the_configuration(audit):
    labs = """
        patient_id | test_code | result | unit  | collected_at
        -----------+-----------+--------+-------+-------------
        p190       | 2132-9    | 190    | pg/mL | 2024-03-01
    """
    assert audit.flagged("b12_deficient", labs, b12_deficient_below_pg_ml=200) == {"p190"}


def test_earliest_deficient_result_is_the_index_and_ties_take_the_lowest(audit):
    labs = """
        patient_id | test_code | result | unit  | collected_at      | result_id
        -----------+-----------+--------+-------+-------------------+----------
        p1         | 2132-9    | 170    | pg/mL | 2024-05-01        | later
        p1         | 2132-9    | 150    | pg/mL | 2024-03-01T10:00  | tie_high
        p1         | 2132-9    | 120    | pg/mL | 2024-03-01T10:00  | tie_low
    """
    db = audit.run(labs)
    rows = query(
        db,
        "select f.index_date::varchar, l.result_id from findings f, unnest(f.evidence_lab_row_ids) "
        "e(id) join lab_results l on l.row_id = e.id where finding = 'b12_deficient'",
    )
    assert rows == [("2024-03-01", "tie_low")]


def reference_class(comparator: str, value: float) -> str:
    """The issue's definition, written independently of the SQL."""
    if (
        (comparator == "=" and value < 180)
        or (comparator == "<" and value <= 180)
        or (comparator == "<=" and value < 180)
    ):
        return "deficient"
    if comparator == "=" and 180 <= value <= 350:
        return "borderline"
    if (
        (comparator == "=" and value > 350)
        or (comparator == ">" and value >= 350)
        or (comparator == ">=" and value > 350)
    ):
        return "adequate"
    return "indeterminate"


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "<", "<=", ">", ">="]),
            st.integers(min_value=150, max_value=380) | st.sampled_from([179, 180, 350, 351]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_classes_match_a_direct_reading_of_the_definition(tmp_path_factory, results):
    from tests.conftest import Audit

    audit = Audit(tmp_path_factory.mktemp("prop"))
    rows = "\n".join(
        f"p{i} | 2132-9 | {cmp}{value} | pg/mL | 2024-03-01"
        for i, (cmp, value) in enumerate(results)
    )
    labs = "patient_id | test_code | result | unit | collected_at\n---\n" + rows
    expected = {f"p{i}": reference_class(cmp or "=", v) for i, (cmp, v) in enumerate(results)}
    assert classes(audit, labs) == expected


def test_ties_are_settled_in_file_order_not_by_the_text_of_the_row_id(audit):
    filler = "\n".join(f"    x{i} | 718-7 | 130 | g/L | 2024-01-01" for i in range(7))
    labs = (
        "patient_id | test_code | result | unit | collected_at\n---\n"
        + filler
        + "\n    p1 | 2132-9 | 150 | pg/mL | 2024-03-01"  # line 9
        + "\n    p1 | 2132-9 | 150 | pg/mL | 2024-03-01"  # line 10
    )
    db = audit.run(labs)
    assert query(db, "select evidence_lab_row_ids from findings") == [(["lab_results.csv:9"],)]
