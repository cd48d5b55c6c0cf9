-- Finding b12_borderline: a patient with a borderline serum B12.
-- Guideline: "For borderline levels (180-350 pg/mL), measure methylmalonic acid"
-- Definition: any valid B12 '=v' with D <= v <= $b12_adequate_above_pg_ml (350) pg/mL, where D
--   is the deficiency limit of the unit policy (sql/derive/05_b12_results.sql): 180 pg/mL, or
--   under 'unit_native' 150 pmol/L (203.3 pg/mL) for results reported in pmol/L. Censored results ('<200') are indeterminate, not borderline.
-- Grain: one row per patient. index_date = date of the earliest borderline result.
-- Ties (several at the earliest collection time): the lowest value, then file order.
select
    patient_id,
    'b12_borderline' as finding,
    null as reason,
    collected_at::date as index_date,
    null::integer as episode,
    [row_id] as evidence_lab_row_ids,
    []::varchar[] as evidence_medication_row_ids,
    []::varchar[] as evidence_diagnosis_row_ids,
    site
from b12_results
where b12_class = 'borderline'
qualify row_number() over (
    partition by patient_id order by collected_at, value_pg_ml, source_file, source_line
) = 1
