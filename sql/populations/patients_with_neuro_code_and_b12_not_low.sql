-- Population patients_with_neuro_code_and_b12_not_low: patients with a neurological code
-- around a valid, not-on-treatment B12 that is not low (sql/derive/neuro_workups.sql).
-- Grain: one row per patient. unit_date and site: the patient's first such B12 (by
-- collection time, then file order). Its windows end at the lab data end.
-- status: 'evaluable'; or, without a diagnoses file ($diagnoses_present), 'not evaluable'
--   ('no diagnoses file') for every patient with a B12 that is not low: whether they have
--   a neurological code cannot be known.
-- Label: patients with a neuro code and a B12 not low
-- Reads: b12_results, neuro_workups
select
    patient_id,
    min(collected_at)::date as unit_date,
    arg_min(site, (collected_at, source_file, source_line)) as site,
    'evaluable' as status,
    null as status_reason,
    $lab_data_end as data_end
from neuro_workups
group by patient_id
union all
select
    patient_id,
    min(collected_at)::date,
    arg_min(site, (collected_at, source_file, source_line)),
    'not evaluable',
    'no diagnoses file',
    $lab_data_end
from b12_results
where not $diagnoses_present and not_low
group by patient_id
