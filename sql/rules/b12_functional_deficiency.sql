-- Finding b12_functional_deficiency: a borderline B12 confirmed by a raised MMA.
-- For readers (label, guideline sentence, definition, worklist): b12_functional_deficiency.toml.
-- Definition: a borderline B12 with a valid serum/plasma MMA in class 'elevated'
--   (> $mma_elevated_above_nmol_l = 271 nmol/L; '>x' with x >= 271 counts; exactly 271 does not)
--   collected from $mma_window_before_days (30) days before to $mma_window_after_days (90) days
--   after the B12, by calendar date, both edges inclusive.
-- Grain: one row per patient. index_date = date of the earliest such borderline result.
-- Ties: the lowest B12 value, then file order. Evidence: the B12 row and every elevated MMA
--   in its window.
-- Missing data: an MMA with no usable value (invalid text, unknown unit) is not an MMA.
-- Reads: b12_results, mma_results
with confirmed as (
    select
        b.patient_id,
        b.row_id,
        b.source_file,
        b.source_line,
        b.collected_at,
        b.value_pg_ml,
        b.site,
        list(m.row_id order by m.collected_at, m.source_file, m.source_line) as mma_row_ids
    from b12_results as b
    inner join mma_results as m
        on m.patient_id = b.patient_id
        and m.mma_class = 'elevated'
        and m.collected_at::date between b.collected_at::date - $mma_window_before_days
            and b.collected_at::date + $mma_window_after_days
    where b.b12_class = 'borderline'
    group by all
)

select
    patient_id,
    collected_at::date as index_date,
    list_concat([row_id], mma_row_ids) as evidence_lab_row_ids,
    site
from confirmed
qualify row_number() over (
    partition by patient_id order by collected_at, value_pg_ml, source_file, source_line
) = 1
