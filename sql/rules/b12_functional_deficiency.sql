-- Finding b12_functional_deficiency: a borderline B12 confirmed by a raised MMA.
-- For readers (label, guideline sentence, definition, worklist): b12_functional_deficiency.toml.
-- Definition (sql/derive/confirmed_deficiencies.sql, basis 'functional'): a borderline B12
--   with a valid serum/plasma MMA in class 'elevated' (> $mma_elevated_above_nmol_l = 271
--   nmol/L; '>x' with x >= 271 counts; exactly 271 does not) collected from
--   $mma_window_before_days (30) days before to $mma_window_after_days (90) days after the
--   B12, by calendar date, both edges inclusive.
-- Grain: one row per patient. index_date = date of the earliest such borderline result.
-- Ties: the lowest B12 value, then file order. Evidence: the B12 row and every elevated MMA
--   in its window.
-- Missing data: an MMA with no usable value (invalid text, unknown unit) is not an MMA.
-- Reads: confirmed_deficiencies
select
    patient_id,
    collected_date as index_date,
    list_concat([row_id], mma_row_ids) as evidence_lab_row_ids,
    site
from confirmed_deficiencies
where basis = 'functional'
qualify row_number() over (
    partition by patient_id order by collected_at, value_pg_ml, source_file, source_line
) = 1
