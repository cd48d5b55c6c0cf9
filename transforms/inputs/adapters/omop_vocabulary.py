"""The OMOP vocabulary, reduced to the small maps the table views join to.

concept (when present) is read once into staging.omop_concept, keeping only the
vocabularies and domains a mapping uses, and concept id 0 ("No matching concept") never;
the maps below are cut from it, so no view joins a big table. Without a concept table
the maps hold only the project's reference ids (sql/reference/omop_*.csv):
- omop_lab_concept  concept id -> LOINC code and name: LOINC concepts, then the standard
                    ids of clinical reference 1.4 for ids the vocabulary does not hold,
                    then other Measurement concepts by name alone (no LOINC code).
- omop_unit         unit concept id -> UCUM code.
- omop_operator     operator_concept_id -> <, <=, =, >=, >: the reference ids, then any
                    concept named as one of those symbols.
- omop_route        route concept id -> route text sql/reference/routes.csv reads
                    ("Intramuscular route" -> "intramuscular").
- omop_drug_concept drug concept id -> RxNorm code (RxNorm vocabulary only) and name.
- omop_drug_maps_to a drug source concept (an NDC, a local code) -> the standard drug
                    concept it "Maps to" (concept_relationship), for drug_concept_id 0.
- omop_condition_concept condition concept id -> code and vocabulary.
- omop_drug_type    drug_type_concept_id -> event_type.
- omop_person_site  person -> site: person.care_site_id, named by care_site.
- omop_visit_site   visit -> site: visit_occurrence.care_site_id, named by care_site.
concept_ancestor gives the drugs under the B12 and folic acid ingredients, as drug
classes for staging.source_drug_classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from transforms.database import sql_quote
from transforms.sqlfiles import sql_dir

if TYPE_CHECKING:
    from transforms.inputs.adapters.omop import OmopFile

KEPT_VOCABULARIES = ("LOINC", "UCUM", "RxNorm", "RxNorm Extension", "ICD10CM", "ICD9CM", "SNOMED")
KEPT_DOMAINS = ("Condition", "Drug", "Measurement", "Unit", "Route", "Meas Value Operator")
OPERATORS = ("<", "<=", "=", ">=", ">")
DIAGNOSIS_VOCABULARIES = ("ICD10CM", "ICD9CM", "SNOMED")
# Ingredient concept ids (clinical reference 1.2 / 1.4, [V: S23]) and the class of every
# drug under them. A drug under both a B12 and folic acid (a combination) is B12
# treatment: clinical reference 1.2 counts a co-formulated therapeutic B12 as a B12 start.
INGREDIENT_CLASSES = {
    1308738: ("b12_treatment", 1),  # cyanocobalamin (RxNorm "vitamin B12")
    1377023: ("b12_treatment", 1),  # hydroxocobalamin
    19111620: ("folate_therapeutic", 2),  # folic acid
}


def stage(con: duckdb.DuckDBPyConnection, by_table: dict[str, list[OmopFile]]) -> None:
    _concepts(con, by_table["concept"])
    _lab_concepts(con)
    for create_map in (_units, _operators, _routes, _drug_types, _drug_concepts, _conditions):
        create_map(con)
    _drug_maps(con, by_table["concept_relationship"])
    _ingredient_classes(con, by_table["concept_ancestor"])
    _person_and_visit_sites(con, by_table)


def classes(con: duckdb.DuckDBPyConnection, by_table: dict[str, list[OmopFile]]) -> None:
    """Only the drug classes, from a vocabulary beside an extract in another format."""
    _concepts(con, by_table["concept"])
    _drug_concepts(con)
    _ingredient_classes(con, by_table["concept_ancestor"])


def _reference(name: str) -> str:
    path = sql_dir() / "reference" / name
    return (
        f"read_csv('{sql_quote(str(path))}', header = true, delim = ',', quote = '\"', "
        "all_varchar = true)"
    )


def _union(files: list[OmopFile], select: callable) -> str:
    return " union all ".join(f"select {select(f)} from {f.rows()}" for f in files)


def _concepts(con: duckdb.DuckDBPyConnection, files: list[OmopFile]) -> None:
    con.execute(
        "create table staging.omop_concept (concept_id bigint, concept_name varchar, "
        "vocabulary_id varchar, concept_code varchar, domain_id varchar)"
    )
    if not files:
        return

    def columns(f: OmopFile) -> str:
        names = ("concept_name", "vocabulary_id", "concept_code", "domain_id")
        texts = ", ".join(f"trim({f.text(c)}) as {c}" for c in names)
        return f"{f.concept_id('concept_id')} as concept_id, {texts}"

    con.execute(
        f"""
        insert into staging.omop_concept
        select * from ({_union(files, columns)})
        where concept_id <> 0
          and (list_contains($vocabularies, vocabulary_id) or list_contains($domains, domain_id)
               or list_contains($operators, concept_name))
        """,
        {
            "vocabularies": list(KEPT_VOCABULARIES),
            "domains": list(KEPT_DOMAINS),
            "operators": list(OPERATORS),
        },
    )


def _lab_concepts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        create table staging.omop_lab_concept as
        select concept_id, any_value(concept_code) as loinc, any_value(concept_name) as name
        from staging.omop_concept where vocabulary_id = 'LOINC' group by concept_id
        union all
        select concept_id::bigint, loinc, concept_name
        from {_reference("omop_lab_concepts.csv")}
        where concept_id::bigint not in (
            select concept_id from staging.omop_concept where vocabulary_id = 'LOINC')
        union all
        -- Any other measurement concept (a SNOMED "Hemoglobin measurement", say) gives its
        -- name only: the test is on no list, and the mapping review names it by its concept.
        select concept_id, null, any_value(concept_name)
        from staging.omop_concept
        where domain_id = 'Measurement' and vocabulary_id <> 'LOINC'
            and concept_id not in (
                select concept_id::bigint from {_reference("omop_lab_concepts.csv")})
        group by concept_id
        """
    )


def _units(con: duckdb.DuckDBPyConnection) -> None:
    """Unit concept id -> UCUM code: from the vocabulary only."""
    con.execute(
        """
        create table staging.omop_unit as
        select concept_id, any_value(concept_code) as unit
        from staging.omop_concept where vocabulary_id = 'UCUM' group by concept_id
        """
    )


def _operators(con: duckdb.DuckDBPyConnection) -> None:
    """operator_concept_id -> symbol: the reference ids, then any other concept named as
    an operator symbol."""
    con.execute(
        f"""
        create table staging.omop_operator as
        select concept_id::bigint as concept_id, operator
        from {_reference("omop_operators.csv")}
        union
        select concept_id, concept_name from staging.omop_concept
        where list_contains($operators, concept_name) and concept_id not in (
            select concept_id::bigint from {_reference("omop_operators.csv")})
        """,
        {"operators": list(OPERATORS)},
    )


def _routes(con: duckdb.DuckDBPyConnection) -> None:
    """Route concept id -> route text: the reference ids, then the vocabulary's Route
    concepts by name without " route" ("Intramuscular route" -> "intramuscular")."""
    con.execute(
        f"""
        create table staging.omop_route as
        select concept_id::bigint as concept_id, route from {_reference("omop_routes.csv")}
        union
        select concept_id, regexp_replace(lower(concept_name), '\\s+route$', '', 'g')
        from staging.omop_concept
        where domain_id = 'Route' and concept_id not in (
            select concept_id::bigint from {_reference("omop_routes.csv")})
        """
    )


def _drug_types(con: duckdb.DuckDBPyConnection) -> None:
    """drug_type_concept_id -> event_type: the reference ids only."""
    con.execute(
        f"""
        create table staging.omop_drug_type as
        select concept_id::bigint as concept_id, event_type
        from {_reference("omop_drug_types.csv")}
        """
    )


def _drug_concepts(con: duckdb.DuckDBPyConnection) -> None:
    """Drug concept id -> RxNorm code (RxNorm vocabulary only) and name."""
    con.execute(
        """
        create table staging.omop_drug_concept as
        select concept_id,
               any_value(if(vocabulary_id = 'RxNorm', concept_code, null)) as rxnorm_code,
               any_value(concept_name) as name
        from staging.omop_concept
        where domain_id = 'Drug' or vocabulary_id in ('RxNorm', 'RxNorm Extension')
        group by concept_id
        """
    )


def _conditions(con: duckdb.DuckDBPyConnection) -> None:
    """Condition concept id -> code and vocabulary."""
    con.execute(
        """
        create table staging.omop_condition_concept as
        select concept_id, any_value(concept_code) as code,
               any_value(vocabulary_id) as vocabulary_id
        from staging.omop_concept
        where domain_id = 'Condition' or list_contains($vocabularies, vocabulary_id)
        group by concept_id
        """,
        {"vocabularies": list(DIAGNOSIS_VOCABULARIES)},
    )


def _drug_maps(con: duckdb.DuckDBPyConnection, files: list[OmopFile]) -> None:
    """Source drug concept -> the drug concept it "Maps to", when that is a drug the
    vocabulary names (staging.omop_drug_concept); only those rows of a relationship file
    that may be as big as Athena's (tens of millions) are kept."""
    con.execute("create table staging.omop_drug_maps_to (source_id bigint, target_id bigint)")
    if not files:
        return

    def columns(f: OmopFile) -> str:
        return (
            f"{f.concept_id('concept_id_1')} as source_id, "
            f"{f.concept_id('concept_id_2')} as target_id, "
            f"trim({f.text('relationship_id')}) as relationship_id"
        )

    con.execute(
        f"""
        insert into staging.omop_drug_maps_to
        select source_id, min(target_id)
        from ({_union(files, columns)})
        where relationship_id = 'Maps to' and source_id <> target_id
          and target_id in (select concept_id from staging.omop_drug_concept)
        group by source_id
        """
    )


def _ingredient_classes(con: duckdb.DuckDBPyConnection, files: list[OmopFile]) -> None:
    """Drugs under the B12 and folic acid ingredients, keyed as the medications view
    names them (RxNorm code, and concept name), with precedence 'after_names': the name
    patterns and the dose-based antidote rule still come first
    (sql/derive/medication_classes.sql)."""
    con.execute(
        "create table staging.omop_ingredient (ingredient bigint, drug_class varchar, rank int)"
    )
    con.executemany(
        "insert into staging.omop_ingredient values (?, ?, ?)",
        [(cid, cls, rank) for cid, (cls, rank) in INGREDIENT_CLASSES.items()],
    )
    if not files:
        return

    def columns(f: OmopFile) -> str:
        ancestor, descendant = (
            f.concept_id("ancestor_concept_id"),
            f.concept_id("descendant_concept_id"),
        )
        return f"{ancestor} as ancestor, {descendant} as descendant"

    con.execute(
        f"""
        insert into staging.source_drug_classes
        with classed as (
            select a.descendant, arg_min(i.drug_class, i.rank) as drug_class
            from ({_union(files, columns)}) as a
            inner join staging.omop_ingredient as i on i.ingredient = a.ancestor
            group by a.descendant
        )
        select distinct drug_key, drug_class, 'after_names'
        from (
            select unnest([d.rxnorm_code, lower(d.name)]) as drug_key, c.drug_class
            from classed as c
            inner join staging.omop_drug_concept as d on d.concept_id = c.descendant
        )
        where drug_key is not null
        """
    )


def _care_site_names(care_sites: list[OmopFile]) -> str:
    """care_site_id -> site: the care site's name, else its source value (one per id)."""
    sites = "select null::bigint as care_site_id, null::varchar as site"
    if care_sites:
        sites = _union(
            care_sites,
            lambda f: (
                f"{f.concept_id('care_site_id')} as care_site_id, coalesce("
                f"nullif(trim({f.text('care_site_name')}), ''), "
                f"nullif(trim({f.text('care_site_source_value')}), '')) as site"
            ),
        )
    return f"(select care_site_id, any_value(site) as site from ({sites}) group by 1)"


def _sites(
    con: duckdb.DuckDBPyConnection, table: str, files: list[OmopFile], key: str, care_sites: str
) -> None:
    """table (key -> site): each row's care_site_id named by care_site, else the bare
    care_site_id. One row per key (the first wins if a key is listed twice), so joining
    to it never repeats an event row."""
    files = [f for f in files if f.has("care_site_id")]
    if not files:
        return

    def columns(f: OmopFile) -> str:
        return (
            f"trim({f.text(key)}) as site_key, "
            f"nullif(trim({f.text('care_site_id')}), '') as care_site_text, "
            f"{f.source.index} as file_order, source_row"
        )

    con.execute(
        f"""
        insert into {table}
        select k.site_key,
               arg_min(coalesce(s.site, k.care_site_text), (k.file_order, k.source_row))
        from ({_union(files, columns)}) as k
        left join {care_sites} as s on s.care_site_id = try_cast(k.care_site_text as bigint)
        where k.care_site_text is not null
        group by k.site_key
        """
    )


def _person_and_visit_sites(con: duckdb.DuckDBPyConnection, by_table: dict) -> None:
    """Each person's site (person.care_site_id) and each visit's (visit_occurrence's)."""
    care_sites = _care_site_names(by_table["care_site"])
    con.execute("create table staging.omop_person_site (person_key varchar, site varchar)")
    _sites(con, "staging.omop_person_site", by_table["person"], "person_id", care_sites)
    con.execute("create table staging.omop_visit_site (visit_key varchar, site varchar)")
    visits = by_table["visit_occurrence"]
    _sites(con, "staging.omop_visit_site", visits, "visit_occurrence_id", care_sites)
