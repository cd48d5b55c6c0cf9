-- Population patients_with_valid_esr: patients with a valid 1-hour ESR (lab_esr in
-- sql/derive/lab_harmonised.sql). Every patient is evaluable.
-- Grain: one row per patient. unit_date and site: the patient's first valid ESR (by
-- collection time, then file order). Its windows end at the lab data end.
-- Label: patients with a valid ESR
-- Reads: lab_harmonised
select
    patient_id,
    min(collected_at)::date as unit_date,
    arg_min(site, (collected_at, source_file, source_line)) as site,
    'evaluable' as status,
    $lab_data_end as data_end
from lab_harmonised
where analyte = 'esr' and status = 'valid'
group by patient_id
