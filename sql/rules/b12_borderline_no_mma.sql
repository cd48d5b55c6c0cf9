-- Finding b12_borderline_no_mma: a borderline B12 that was never worked up with an MMA.
-- For readers (label, guideline sentence, definition, worklist): b12_borderline_no_mma.toml.
-- Definition: a borderline B12 with no valid MMA (any class) collected from
--   $mma_window_before_days (30) days before to $mma_window_after_days (90) days after it,
--   by calendar date, both edges inclusive.
-- Reasons: 'no_mma' when the lab data reach the end of the window ($lab_data_end >= B12 date
--   + 90 days); otherwise 'pending' (the MMA may still come). $lab_data_end is as_of_date,
--   else the latest lab date in the extract (ESR rows aside).
-- Grain: one row per patient: the earliest 'no_mma' result; only when there is none, the
--   earliest 'pending' one. Ties: the lowest value, then file order.
-- Missing data: an MMA with no usable value does not count as an MMA, nor does one collected
--   on B12 treatment (uninterpretable once treatment has begun: the borderline result stays
--   unresolved).
-- Reads: b12_results, mma_results
with unworked as (
    select
        b.*,
        if(b.collected_at::date + $mma_window_after_days <= $lab_data_end, 'no_mma', 'pending')
            as reason
    from b12_results as b
    where b.b12_class = 'borderline'
        and not exists (
            select 1
            from mma_results as m
            where m.patient_id = b.patient_id
                and m.collected_at::date between b.collected_at::date - $mma_window_before_days
                    and b.collected_at::date + $mma_window_after_days
        )
)

select
    patient_id,
    reason,
    collected_at::date as index_date,
    [row_id] as evidence_lab_row_ids,
    site
from unworked
qualify row_number() over (
    partition by patient_id
    order by reason = 'pending', collected_at, value_pg_ml, source_file, source_line
) = 1
