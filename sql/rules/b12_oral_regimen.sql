-- Finding b12_oral_regimen: an oral B12 course outside the regimen the guideline allows for
-- the oral alternative.
-- For readers (label, guideline sentence, definition, worklist): b12_oral_regimen.toml.
-- Population, thresholds and reasons: sql/derive/oral_courses.sql. In short: a new oral
--   course with no injection in days 0..13 started within $severe_result_within_days (30)
--   days after a B12 below $severe_b12_below_pg_ml (100 pg/mL) or an Hb below
--   $severe_hb_below_g_l (80 g/L): 'severe_deficiency_on_oral' (both limits are assumptions:
--   the guideline does not define severe); else a recorded first dose below
--   $oral_dose_at_least_mcg (1000 mcg): 'dose_below_1000_mcg' (a coded dietary cause exempts
--   it when $oral_dose_dietary_exempt). Neurological involvement on oral B12 is
--   b12_loading_incomplete's neuro_on_oral_only, not this finding's.
-- Grain: one row per course (episode = course number). index_date = the course's start.
-- Evidence: the severe result (lab) and the course's first dose (medication).
-- Missing data: a course with no recorded dose is counted as not evaluable (unless it
--   followed a severe result); one that may predate the extract is not evaluable.
-- Reads: oral_courses
select
    patient_id,
    reason,
    start_date as index_date,
    course as episode,
    if(reason = 'severe_deficiency_on_oral', [severe_row_id], []::varchar[])
        as evidence_lab_row_ids,
    [start_row_id] as evidence_medication_row_ids,
    site
from oral_courses
where reason is not null
