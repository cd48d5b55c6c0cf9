-- Descriptive tag anaemia: a low haemoglobin around a B12 result. Never an input to any B12
-- or folate finding (monitoring_missed applies its own haemoglobin test to a course).
-- Guideline: "B12 deficiency causes macrocytic anemia".
-- Definition: a valid haemoglobin below $anaemia_hb_below_g_l_men (130 g/L) for men or
--   $anaemia_hb_below_g_l_women (120 g/L) for women and when sex is unknown ('=v' v < limit;
--   '<x' x <= limit; '<=x' x < limit), collected within $context_window_days (30) days
--   before or after a valid, not-on-treatment B12 result (any class), both edges inclusive.
--   Blood-gas haemoglobin is not on the list (lab_haemoglobin). The 130/120 g/L limits are
--   WHO's as given in clinical-reference 3.4, tagged [M] there: unverified, set locally.
-- Grain: one row per patient: the earliest such haemoglobin (ties: the lowest, file order).
-- Evidence: the haemoglobin and the nearest B12 (ties: the earlier, then file order).
with limits as (
    select
        h.*,
        if(p.sex_group = 'M', $anaemia_hb_below_g_l_men, $anaemia_hb_below_g_l_women)
            as hb_limit
    from lab_harmonised as h
    left join patient_facts as p using (patient_id)
    where h.analyte = 'haemoglobin' and h.status = 'valid'
)

select
    h.patient_id,
    'anaemia' as finding,
    null as reason,
    h.collected_at::date as index_date,
    null::integer as episode,
    [h.row_id, arg_min(b.row_id, (abs(date_diff('day', b.collected_at::date,
        h.collected_at::date)), b.collected_at, b.source_file, b.source_line))]
        as evidence_lab_row_ids,
    []::varchar[] as evidence_medication_row_ids,
    []::varchar[] as evidence_diagnosis_row_ids,
    h.site
from limits as h
inner join b12_results as b
    on b.patient_id = h.patient_id
    and b.collected_at::date between h.collected_at::date - $context_window_days
        and h.collected_at::date + $context_window_days
where (h.comparator = '=' and h.value_canonical < h.hb_limit)
    or (h.comparator = '<' and h.value_canonical <= h.hb_limit)
    or (h.comparator = '<=' and h.value_canonical < h.hb_limit)
group by h.patient_id, h.row_id, h.collected_at, h.value_canonical, h.source_file,
    h.source_line, h.site
qualify row_number() over (
    partition by h.patient_id
    order by h.collected_at, h.value_canonical, h.source_file, h.source_line
) = 1
