-- Population patients_with_valid_b12: patients with a valid, not-on-treatment serum B12
-- (sql/derive/b12_results.sql). The findings on it decide on results alone, so every
-- patient is evaluable (a finding may still hold a patient as pending: its own reason).
-- Grain: one row per patient. unit_date and site: the patient's first such result (by
-- collection time, then file order). Its windows end at the lab data end.
-- Label: patients with a valid B12
-- Reads: b12_results
select
    patient_id,
    min(collected_at)::date as unit_date,
    arg_min(site, (collected_at, source_file, source_line)) as site,
    'evaluable' as status,
    $lab_data_end as data_end
from b12_results
group by patient_id
