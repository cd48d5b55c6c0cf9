-- Descriptive tag macrocytosis: a large mean cell volume around a B12 result. Never an
-- input to any B12 or folate finding.
-- For readers (label, guideline sentence, definition, worklist): macrocytosis.toml.
-- Definition: a valid MCV above $macrocytosis_mcv_above_fl (100 fL) ('=v' v > 100; '>x'
--   x >= 100; '>=x' x > 100) collected within $context_window_days (30) days before or after
--   a valid, not-on-treatment B12 result (any class), by date, both edges inclusive.
--   The 100 fL limit is tagged [S]/[M] (unverified) in clinical-reference 3.4.
-- Grain: one row per patient: the earliest such MCV (ties: the highest value, file order).
-- Evidence: the MCV and the nearest B12 (ties: the earlier, then file order).
-- Reads: b12_results, lab_harmonised
select
    m.patient_id,
    m.collected_at::date as index_date,
    [m.row_id, arg_min(b.row_id, (abs(date_diff('day', b.collected_at::date,
        m.collected_at::date)), b.collected_at, b.source_file, b.source_line))]
        as evidence_lab_row_ids,
    m.site
from lab_harmonised as m
inner join b12_results as b
    on b.patient_id = m.patient_id
    and b.collected_at::date between m.collected_at::date - $context_window_days
        and m.collected_at::date + $context_window_days
where m.analyte = 'mcv'
    and m.status = 'valid'
    and result_above(m.comparator, m.value_canonical, $macrocytosis_mcv_above_fl)
group by m.patient_id, m.row_id, m.collected_at, m.value_canonical, m.source_file,
    m.source_line, m.site
qualify row_number() over (
    partition by m.patient_id
    order by m.collected_at, m.value_canonical desc, m.source_file, m.source_line
) = 1
