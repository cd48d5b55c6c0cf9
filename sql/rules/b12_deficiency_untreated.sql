-- Finding b12_deficiency_untreated: a confirmed B12 deficiency with no B12 treatment.
-- For readers (label, guideline sentence, definition, worklist): b12_deficiency_untreated.toml.
-- Population, window and reasons: sql/derive/confirmed_deficiencies.sql. In short: each
--   deficient B12 (below 180 pg/mL), and each borderline B12 with an MMA above 271 nmol/L
--   in its window, not collected on treatment; treated when a B12 dose (administered or
--   dispensed, any route, unknown included) falls from $untreated_treatment_before_days (30)
--   days before its collection to $untreated_within_days (30) days after the day it was
--   known, both inclusive.
-- Reasons: 'no_treatment' (the window is over at the medication data end), 'pending' (not
--   over: treatment may still come).
-- Grain: one row per confirming result (episode = its result number). index_date = the
--   result's collection date. Evidence: the B12 row, then the elevated MMAs.
-- Missing data: a result whose 30 days before precede the medication history is not
--   evaluable (treatment may be out of sight), never flagged.
-- Reads: confirmed_deficiencies
select
    patient_id,
    reason,
    collected_date as index_date,
    result as episode,
    list_concat([row_id], mma_row_ids) as evidence_lab_row_ids,
    site
from confirmed_deficiencies
where status = 'evaluable' and reason is not null
