-- Harmonised lab results: the audited analytes (reference/concepts/lab_*.csv: b12, mma,
-- homocysteine, haemoglobin, mcv, esr) with their parsed result and canonical value.
-- Grain: one row per lab_results row of those tests; other tests stay in lab_results only.
--
-- test code: a local code listed in local_test_codes is mapped to its LOINC first.
-- result:    trimmed text; an optional comparator (=, <, <=, >, >=) then a number with a
--            decimal point. Anything else (hemolyzed, see comment, 0,25, empty) is
--            status 'invalid_result' with its reason and is never classified.
-- unit:      matched case-insensitively after trimming against reference/unit_conversions.csv.
--            An empty or unlisted unit is status 'unknown_unit': never guessed from the number.
-- value_canonical = value x factor, rounded to 6 decimals so 0.18 ng/mL is exactly 180 pg/mL.
-- known_at:  when the result could be known: resulted_at, else collected_at.
-- On treatment (status 'on_treatment'; B12, MMA and homocysteine only): a valid result
--   collected within $on_treatment_after_parenteral_days (90) days after a parenteral B12
--   dose, or within $on_treatment_after_oral_days (30) days after an oral, nasal or
--   unknown-route one (sql/derive/b12_doses.sql). "After": the dose's day is before the
--   collection day, or the same day when both carry a time of day and the dose came first;
--   a same-day dose without times is taken as given after the blood was drawn (bloods are
--   taken before the first injection). Such results never classify B12 status; the report
--   counts them. Evidence: the latest such dose (on_treatment_dose_row_id).
--   The guideline text has no sentence on this (its monitoring section is cut off); issue 3
--   and clinical-reference 3.5 (6): "Do not routinely re-measure serum B12 on replacement".
-- Creates: lab_harmonised
-- Reads: b12_doses, lab_results, local_test_codes, ref_concepts, ref_unit_conversions
create or replace table lab_harmonised as
with coded as (
    select
        l.*,
        coalesce(m.loinc, l.test_code) as loinc
    from lab_results as l
    left join local_test_codes as m on m.local_code = l.test_code
),

lab_tests as (
    select code as loinc, substr(concept_set, 5) as analyte
    from ref_concepts
    where concept_set like 'lab\_%' escape '\'
),

parsed as (
    select
        c.*,
        t.analyte,
        trim(c.result) as result_text,
        regexp_matches(trim(c.result), '^(<=|>=|<|>|=)?\s*(\d+(\.\d*)?|\.\d+)$') as is_number,
        lower(trim(c.unit)) as unit_key
    from coded as c
    inner join lab_tests as t on t.loinc = c.loinc
),

-- Computed from lab_results, not from `parsed`: a CTE read twice is materialised, and
-- materialising every audited row spills to disk (about 5 GB at 10M lab rows).
on_treatment as (
    select
        l.row_id,
        arg_max(d.row_id, (d.dose_date, d.first_at)) as dose_row_id,
        arg_max(d.route_kind, (d.dose_date, d.first_at)) as dose_route_kind
    from lab_results as l
    left join local_test_codes as m on m.local_code = l.test_code
    inner join lab_tests as t
        on t.loinc = coalesce(m.loinc, l.test_code)
        and t.analyte in ('b12', 'mma', 'homocysteine')
    inner join b12_doses as d
        on d.patient_id = l.patient_id
        and d.dose_date <= l.collected_at::date
        and d.dose_date >= l.collected_at::date - if(d.route_kind = 'parenteral',
            $on_treatment_after_parenteral_days, $on_treatment_after_oral_days)
        and (d.dose_date < l.collected_at::date
            or (d.first_has_time and l.collected_has_time and d.first_at < l.collected_at))
    group by l.row_id
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
    u.unit_kind,
    u.factor as unit_factor,
    u.canonical_unit,
    round(value_as_reported * u.factor, 6) as value_canonical,
    case
        when coalesce(p.result_text, '') = '' then 'invalid_result'
        when not p.is_number then 'invalid_result'
        when u.factor is null then 'unknown_unit'
        when t.row_id is not null then 'on_treatment'
        else 'valid'
    end as status,
    case
        when coalesce(p.result_text, '') = '' then 'empty_result'
        when not p.is_number then 'not_a_number'
        when coalesce(p.unit_key, '') = '' then 'unit_missing'
        when u.factor is null then 'unit_not_recognised'
        when t.row_id is not null then 'after_' || t.dose_route_kind || '_b12'
    end as status_reason,
    if(p.is_number and u.factor is not null, t.dose_row_id, null) as on_treatment_dose_row_id
from parsed as p
left join ref_unit_conversions as u on u.analyte = p.analyte and u.unit = p.unit_key
left join on_treatment as t on t.row_id = p.row_id
