-- Drug class of every medication event. Grain: one row per medications row.
--
-- Matching: by drug_code when it is on reference/drug_codes.csv (RxNorm or ATC); otherwise
-- by drug_name against reference/drug_names.csv, case-insensitively, the lowest priority
-- number winning (so "multivitamin with folic acid" is a multivitamin, not folic acid).
-- A name matching the antidote (Cyanokit) wins even over a listed code.
-- Classes: folate_therapeutic, b12_treatment, b12_antidote, folate_low_dose, folinic_acid,
-- other. A B12 product given at >= $b12_antidote_dose_at_least_mg (5000 mg = 5 g, the
-- Cyanokit dose) is the cyanide antidote, not B12 treatment.
-- counts_as_exposure (for folate): administered or dispensed; ordered only if
-- $count_ordered_events. B12 treatment is always administered or dispensed only.
-- Other event types (not_given, held, discontinued, anything else) never count.
create or replace table medication_classes as
with by_code as (
    select m.row_id, c.drug_class
    from medications as m
    inner join ref_drug_codes as c on c.code = m.drug_code
),

-- Patterns are matched once per distinct name, not once per event: extracts repeat a
-- few thousand names across millions of events.
by_name as (
    select names.drug_name_key, arg_min(n.drug_class, n.priority) as drug_class
    from (select distinct lower(drug_name) as drug_name_key from medications) as names
    inner join ref_drug_names as n on regexp_matches(names.drug_name_key, n.pattern)
    group by names.drug_name_key
),

dosed as (
    select
        m.*,
        -- A name saying Cyanokit wins over a code for plain hydroxocobalamin.
        if(n.drug_class = 'b12_antidote', 'b12_antidote',
            coalesce(c.drug_class, n.drug_class, 'other')) as listed_class,
        case when c.drug_class is not null then 'code' when n.drug_class is not null then 'name' end
            as matched_by,
        try_cast(trim(m.dose) as double) * case lower(trim(m.dose_unit))
            when 'g' then 1000 when 'gm' then 1000 when 'gram' then 1000 when 'grams' then 1000
            when 'mg' then 1 when 'milligram' then 1 when 'milligrams' then 1
            when 'mcg' then 0.001 when 'ug' then 0.001 when 'µg' then 0.001
            when 'microgram' then 0.001 when 'micrograms' then 0.001
        end as dose_mg
    from medications as m
    left join by_code as c using (row_id)
    left join by_name as n on n.drug_name_key = lower(m.drug_name)
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
    if(listed_class = 'b12_treatment' and dose_mg >= $b12_antidote_dose_at_least_mg,
        'b12_antidote', listed_class) as drug_class,
    event_type in ('administered', 'dispensed')
        or (event_type = 'ordered' and $count_ordered_events) as counts_as_exposure
from dosed
