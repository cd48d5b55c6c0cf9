-- Drug class and route of every medication event. Grain: one row per medications row.
--
-- Class: by drug_code when it is in a drug concept set (reference/concepts/drug_*.csv,
-- RxNorm or ATC); then by a class the source format states for the drug's code or name
-- with precedence 'before_names' (a site mapping file); otherwise by drug_name against
-- reference/drug_names.csv, case-insensitively, the lowest priority number winning (so
-- "multivitamin with folic acid" is a multivitamin, not folic acid); then by a class the
-- source states with precedence 'after_names' (an OMOP drug's ingredient). A name
-- matching the antidote (Cyanokit) wins even over a listed code. Classes:
-- folate_therapeutic, folate_low_dose, folinic_acid, b12_treatment, b12_antidote, other.
-- A B12 product given at >= $b12_antidote_dose_at_least_mg (5000 mg = 5 g, the Cyanokit
-- dose) is the cyanide antidote, not B12 treatment.
-- dose_mg: the dose and dose_unit columns in mg (g, mg and mcg/ug/microgram spellings);
--   NULL when either is missing or the unit is a form ('tablet'): the strength is unknown.
-- Route kind (parenteral, oral, nasal, unknown): the route column against reference/routes.csv;
--   when that says nothing, the drug name (inj, /mL, tab ...); then a listed code's form.
-- What counts as a folate exposure (the folate_scope and count_ordered_events switches) is
-- decided in sql/derive/folate_episodes.sql, so that no table here depends on a switch.
-- Creates: medication_classes
-- Reads: medications, ref_concepts, ref_drug_names, ref_routes, source_drug_classes
create or replace table medication_classes as
with by_code as (
    select m.row_id, substr(c.concept_set, 6) as drug_class, c.category as code_category
    from medications as m
    inner join ref_concepts as c
        on c.concept_set like 'drug\_%' escape '\' and c.code = m.drug_code
),

-- Patterns are matched once per distinct name or route, not once per event: extracts
-- repeat a few thousand names across millions of events.
by_name as (
    select names.drug_name_key, arg_min(n.drug_class, n.priority) as drug_class
    from (select distinct lower(drug_name) as drug_name_key from medications) as names
    inner join ref_drug_names as n on regexp_matches(names.drug_name_key, n.pattern)
    group by names.drug_name_key
),

-- Classes the source states, per distinct (code, name); where the code and the name are
-- both mapped, the code's class is taken.
by_source as (
    select
        k.code_key, k.name_key, s.precedence,
        arg_min(s.drug_class, s.drug_key <> k.code_key or k.code_key is null) as drug_class
    from (
        select distinct lower(trim(drug_code)) as code_key, lower(trim(drug_name)) as name_key
        from medications
    ) as k
    inner join source_drug_classes as s on s.drug_key = k.code_key or s.drug_key = k.name_key
    group by all
),

route_by_text as (
    select texts.field, texts.text_key, arg_min(r.route_kind, r.priority) as route_kind
    from (
        select distinct 'route' as field, lower(trim(route)) as text_key from medications
        union
        select distinct 'name' as field, lower(drug_name) as text_key from medications
    ) as texts
    inner join ref_routes as r on r.field = texts.field and regexp_matches(texts.text_key, r.pattern)
    group by all
),

dosed as (
    select
        m.*,
        -- A name saying Cyanokit wins over a code for plain hydroxocobalamin.
        if(n.drug_class = 'b12_antidote', 'b12_antidote',
            coalesce(c.drug_class, sb.drug_class, n.drug_class, sa.drug_class, 'other'))
            as listed_class,
        case
            when c.drug_class is not null then 'code'
            when sb.drug_class is not null then 'source map'
            when n.drug_class is not null then 'name'
            when sa.drug_class is not null then 'source map'
        end as matched_by,
        coalesce(
            rr.route_kind,
            rn.route_kind,
            case
                when c.code_category like '%parenteral%' then 'parenteral'
                when c.code_category like '%oral%' then 'oral'
            end,
            'unknown'
        ) as route_kind,
        try_cast(trim(m.dose) as double) * case lower(trim(m.dose_unit))
            when 'g' then 1000 when 'gm' then 1000 when 'gram' then 1000 when 'grams' then 1000
            when 'mg' then 1 when 'milligram' then 1 when 'milligrams' then 1
            when 'mcg' then 0.001 when 'ug' then 0.001 when 'µg' then 0.001
            when 'microgram' then 0.001 when 'micrograms' then 0.001
        end as dose_mg
    from medications as m
    left join by_code as c using (row_id)
    left join by_name as n on n.drug_name_key = lower(m.drug_name)
    left join by_source as sb
        on sb.precedence = 'before_names'
        and sb.code_key is not distinct from lower(trim(m.drug_code))
        and sb.name_key is not distinct from lower(trim(m.drug_name))
    left join by_source as sa
        on sa.precedence = 'after_names'
        and sa.code_key is not distinct from lower(trim(m.drug_code))
        and sa.name_key is not distinct from lower(trim(m.drug_name))
    left join route_by_text as rr on rr.field = 'route' and rr.text_key = lower(trim(m.route))
    left join route_by_text as rn on rn.field = 'name' and rn.text_key = lower(m.drug_name)
),

classed as (
    select
        *,
        if(listed_class = 'b12_treatment' and dose_mg >= $b12_antidote_dose_at_least_mg,
            'b12_antidote', listed_class) as drug_class
    from dosed
)

select
    row_id,
    source_file,
    source_line,
    patient_id,
    site,
    drug_code,
    drug_name,
    event_type,
    event_at,
    event_has_time,
    event_at::date as event_date,
    matched_by,
    drug_class,
    route_kind,
    dose_mg
from classed
