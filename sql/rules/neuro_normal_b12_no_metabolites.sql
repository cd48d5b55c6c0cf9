-- Finding neuro_normal_b12_no_metabolites: neurological symptoms, a B12 that is not low,
-- and no MMA or homocysteine to look further.
-- For readers (label, guideline sentence, definition, worklist):
--   neuro_normal_b12_no_metabolites.toml.
-- Definition: a valid, not-on-treatment B12 (sql/derive/b12_results.sql) that is not low:
--   '=v' or '>=v' with v >= D, or '>v' with v >= D (D = 180 pg/mL, the deficiency limit of
--   the unit policy); with a neurological diagnosis (dx_neuro_core; dementia only when
--   $neuro_include_dementia) recorded from $neuro_window_before_days (180) days before to
--   $neuro_window_after_days (30) days after the B12, by date, both edges inclusive.
-- Reasons, looking at valid, not-on-treatment MMA and homocysteine collected from
--   $metabolite_window_before_days (30) days before to $metabolite_window_after_days (90)
--   days after the B12 (both inclusive):
--   none     neither was measured;
--   partial  only one of the two was measured;
--   pending  the data do not yet reach 90 days past the B12 ($lab_data_end < B12 date + 90),
--            and at least one of the two is still missing.
-- Grain: one row per patient: the earliest 'none' or 'partial' result; only when there is
--   none, the earliest 'pending' one. Ties: the lowest value, then file order.
-- Missing data: needs the diagnoses file; without it nothing is flagged and the report
--   shows the finding as not evaluable with the number of B12 results it could not check.
--   A metabolite with no usable value (hemolyzed, unknown unit) was not measured.
-- Population and reasons: sql/derive/neuro_workups.sql.
-- Reads: neuro_workups
select
    patient_id,
    reason,
    collected_at::date as index_date,
    list_concat([row_id], metabolite_row_ids) as evidence_lab_row_ids,
    neuro_row_ids as evidence_diagnosis_row_ids,
    site
from neuro_workups
where reason is not null
qualify row_number() over (
    partition by patient_id
    order by reason = 'pending', collected_at, value_pg_ml, source_file, source_line
) = 1
