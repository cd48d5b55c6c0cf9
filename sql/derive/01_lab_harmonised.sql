-- Harmonised lab results: the audited analytes (reference/lab_tests.csv: B12, MMA) with
-- their parsed result and canonical value. Grain: one row per lab_results row of those
-- tests; rows of other tests stay in lab_results only.
--
-- test code: a local code listed in local_test_codes is mapped to its LOINC first.
-- result:    trimmed text; an optional comparator (=, <, <=, >, >=) then a number with a
--            decimal point. Anything else (hemolyzed, see comment, 0,25, empty) is
--            status 'invalid_result' with its reason and is never classified.
-- unit:      matched case-insensitively after trimming against reference/unit_conversions.csv.
--            An empty or unlisted unit is status 'unknown_unit': never guessed from the number.
-- value_canonical = value x factor, rounded to 6 decimals so 0.18 ng/mL is exactly 180 pg/mL.
-- known_at:  when the result could be known: resulted_at, else collected_at.
create or replace table lab_harmonised as
with coded as (
    select
        l.*,
        coalesce(m.loinc, l.test_code) as loinc
    from lab_results as l
    left join local_test_codes as m on m.local_code = l.test_code
),

parsed as (
    select
        c.*,
        t.analyte,
        trim(c.result) as result_text,
        regexp_matches(trim(c.result), '^(<=|>=|<|>|=)?\s*(\d+(\.\d*)?|\.\d+)$') as is_number,
        lower(trim(c.unit)) as unit_key
    from coded as c
    inner join ref_lab_tests as t on t.loinc = c.loinc
)

select
    p.row_id,
    p.source_file,
    p.source_line,
    p.patient_id,
    p.site,
    p.loinc,
    p.analyte,
    p.collected_at,
    p.collected_has_time,
    coalesce(p.resulted_at, p.collected_at) as known_at,
    if(p.resulted_at is null, p.collected_has_time, p.resulted_has_time) as known_has_time,
    if(p.is_number,
        coalesce(nullif(regexp_extract(p.result_text, '^(<=|>=|<|>|=)?', 1), ''), '='),
        null) as comparator,
    if(p.is_number,
        cast(regexp_extract(p.result_text, '(\d+(\.\d*)?|\.\d+)$', 1) as double),
        null) as value_as_reported,
    p.unit as unit_as_reported,
    u.canonical_unit,
    round(value_as_reported * u.factor, 6) as value_canonical,
    case
        when coalesce(p.result_text, '') = '' then 'invalid_result'
        when not p.is_number then 'invalid_result'
        when u.factor is null then 'unknown_unit'
        else 'valid'
    end as status,
    case
        when coalesce(p.result_text, '') = '' then 'empty_result'
        when not p.is_number then 'not_a_number'
        when coalesce(p.unit_key, '') = '' then 'unit_missing'
        when u.factor is null then 'unit_not_recognised'
    end as status_reason
from parsed as p
left join ref_unit_conversions as u on u.analyte = p.analyte and u.unit = p.unit_key
