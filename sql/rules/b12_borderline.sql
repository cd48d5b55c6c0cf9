-- Finding b12_borderline: a patient with a borderline serum B12.
-- For readers (label, guideline sentence, definition, worklist): b12_borderline.toml.
-- Definition: any valid B12 '=v' with D <= v <= $b12_adequate_above_pg_ml (350) pg/mL, where D
--   is the deficiency limit of the unit policy (sql/derive/b12_results.sql): 180 pg/mL, or
--   under 'unit_native' 150 pmol/L (203.3 pg/mL) for results reported in pmol/L. Censored
--   results ('<200') are indeterminate, not borderline.
-- Grain: one row per patient. index_date = date of the earliest borderline result.
-- Ties (several at the earliest collection time): the lowest value, then file order.
-- Reads: b12_results
select
    patient_id,
    collected_at::date as index_date,
    [row_id] as evidence_lab_row_ids,
    site
from b12_results
where b12_class = 'borderline'
qualify row_number() over (
    partition by patient_id order by collected_at, value_pg_ml, source_file, source_line
) = 1
