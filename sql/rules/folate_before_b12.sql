-- Finding folate_before_b12: therapeutic folic acid started before B12 status was settled.
-- Guideline: "Never administer folic acid before confirming adequate B12 status and
--   initiating B12 treatment."
-- The episode logic, compliance routes, reasons, windows and tie rules are in
-- sql/derive/08_folate_episodes.sql; this rule reports the episodes that are not compliant.
-- Grain: one row per non-compliant folate episode. index_date = F0's date.
-- Reasons (first that fits): known_low_untreated, pending, tested_after, stale, never_tested.
select
    patient_id,
    'folate_before_b12' as finding,
    reason,
    f0_date as index_date,
    episode,
    evidence_lab_row_ids,
    evidence_medication_row_ids,
    []::varchar[] as evidence_diagnosis_row_ids,
    site
from folate_episodes
where reason is not null
