-- Finding b12_deficient: a patient with a deficient serum B12.
-- For readers (label, guideline sentence, definition, worklist): b12_deficient.toml.
-- Definition: any valid B12 in class 'deficient' (sql/derive/b12_results.sql:
--   value < D, or '<x' with x <= D, or '<=x' with x < D; D = $b12_deficient_below_pg_ml (180
--   pg/mL), or under 'unit_native' 150 pmol/L as reported for results in pmol/L).
-- Grain: one row per patient. index_date = date of the earliest deficient result.
-- Ties (several at the earliest collection time): the lowest value, then file order.
-- Missing data: invalid results and unknown units never reach b12_results.
-- Reads: b12_results
select
    patient_id,
    collected_at::date as index_date,
    [row_id] as evidence_lab_row_ids,
    site
from b12_results
where b12_class = 'deficient'
qualify row_number() over (
    partition by patient_id order by collected_at, value_pg_ml, source_file, source_line
) = 1
