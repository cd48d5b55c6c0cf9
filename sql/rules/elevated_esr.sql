-- Descriptive tag elevated_esr: an ESR above the Miller upper limit of normal. Never an
-- input to any B12 or folate finding.
-- For readers (label, guideline sentence, definition, worklist): elevated_esr.toml.
-- Definition: a valid 1-hour Westergren(-equivalent) ESR (lab_esr: 4537-7, 30341-2,
--   82477-1; 2-hour, 15-minute and Wintrobe readings are not on the list) in a patient aged
--   $esr_min_age_years (18) or more at collection (completed years from the patients file),
--   above the Miller limit: age / 2 for men; (age + 10) / 2 for women and when sex is
--   unknown (the higher limit, so no one is tagged on an assumed sex).
--   Above: '=v' v > limit; '>x' x >= limit; '>=x' x > limit.
-- Grain: one row per patient: the earliest such ESR (ties: the highest value, file order).
-- Missing data: no birth date, no tag (age unknown).
-- Reads: lab_harmonised, patient_facts
with aged as (
    select
        e.*,
        -- Completed years; a 29 February birthday counts on 28 February in other years.
        -- (Written out rather than DuckDB's date_sub('year', ...) so Spark runs the same.)
        year(e.collected_at) - year(p.birth_date) - if(
            month(e.collected_at) * 100 + day(e.collected_at) < month(p.birth_date) * 100
                + least(day(p.birth_date), day(last_day(
                    make_date(year(e.collected_at), month(p.birth_date), 1)))),
            1, 0) as age_years,
        if(p.sex_group = 'M', age_years / 2, (age_years + 10) / 2) as miller_limit
    from lab_harmonised as e
    inner join patient_facts as p using (patient_id)
    where e.analyte = 'esr' and e.status = 'valid' and p.birth_date is not null
)

select
    patient_id,
    collected_at::date as index_date,
    [row_id] as evidence_lab_row_ids,
    site
from aged
where age_years >= $esr_min_age_years
    and result_above(comparator, value_canonical, miller_limit)
qualify row_number() over (
    partition by patient_id order by collected_at, value_canonical desc, source_file, source_line
) = 1
