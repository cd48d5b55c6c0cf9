-- Low haemoglobins: the one definition of "anaemic" that the anaemia tag and
-- monitoring_missed both use. Grain: one row per valid haemoglobin (lab_haemoglobin; blood-gas
-- haemoglobin is not on the list) below the patient's limit:
--   $anaemia_hb_below_g_l_men (130 g/L) for men; $anaemia_hb_below_g_l_women (120 g/L) for
--   women and when sex is unknown or the patient is not in the patients file.
--   Below: '=v' v < limit; '<x' x <= limit; '<=x' x < limit.
-- The 130/120 g/L limits are WHO's as given in clinical-reference 3.4, tagged [M] there:
-- unverified, set locally.
-- Creates: low_haemoglobin
-- Reads: lab_harmonised, patient_facts
create or replace table low_haemoglobin as
select
    h.row_id, h.source_file, h.source_line, h.patient_id, h.site, h.collected_at,
    h.value_canonical as value_g_l
from lab_harmonised as h
left join patient_facts as p using (patient_id)
cross join lateral (
    select if(p.sex_group = 'M', $anaemia_hb_below_g_l_men, $anaemia_hb_below_g_l_women) as limit_g_l
) as l
where h.analyte = 'haemoglobin'
    and h.status = 'valid'
    and result_below(h.comparator, h.value_canonical, l.limit_g_l)
