-- Finding folate_before_b12: therapeutic folic acid started before B12 status was settled.
-- For readers (label, guideline sentence, definition, worklist): folate_before_b12.toml.
-- The episode logic, compliance routes, reasons, windows and tie rules are in
-- sql/derive/folate_episodes.sql; this rule reports the episodes that are not compliant.
-- Grain: one row per non-compliant folate episode. index_date = F0's date.
-- Reasons (first that fits): known_low_untreated, pending, tested_after, stale, never_tested.
-- Reads: folate_episodes
select
    patient_id,
    reason,
    f0_date as index_date,
    episode,
    evidence_lab_row_ids,
    evidence_medication_row_ids,
    site
from folate_episodes
where reason is not null
