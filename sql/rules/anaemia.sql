-- Descriptive tag anaemia: a low haemoglobin around a B12 result. Never an input to any B12
-- or folate finding (monitoring_missed applies its own haemoglobin test to a course).
-- For readers (label, guideline sentence, definition, worklist): anaemia.toml.
-- Definition: a low haemoglobin (sql/derive/low_haemoglobin.sql: below 130 g/L for men,
--   120 g/L for women and when sex is unknown) collected within $context_window_days (30) days
--   before or after a valid, not-on-treatment B12 result (any class), both edges inclusive.
-- Grain: one row per patient: the earliest such haemoglobin (ties: the lowest, file order).
-- Evidence: the haemoglobin and the nearest B12 (ties: the earlier, then file order).
-- Reads: b12_results, low_haemoglobin
select
    h.patient_id,
    h.collected_at::date as index_date,
    [h.row_id, arg_min(b.row_id, (abs(date_diff('day', b.collected_at::date,
        h.collected_at::date)), b.collected_at, b.source_file, b.source_line))]
        as evidence_lab_row_ids,
    h.site
from low_haemoglobin as h
inner join b12_results as b
    on b.patient_id = h.patient_id
    and b.collected_at::date between h.collected_at::date - $context_window_days
        and h.collected_at::date + $context_window_days
group by h.patient_id, h.row_id, h.collected_at, h.value_g_l, h.source_file,
    h.source_line, h.site
qualify row_number() over (
    partition by h.patient_id
    order by h.collected_at, h.value_g_l, h.source_file, h.source_line
) = 1
