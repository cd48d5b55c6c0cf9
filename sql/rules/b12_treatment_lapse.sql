-- Finding b12_treatment_lapse: lifelong B12 injections that stopped or were long overdue.
-- For readers (label, guideline sentence, definition, worklist): b12_treatment_lapse.toml.
-- Population, intervals and reasons: sql/derive/maintenance_courses.sql. In short: a
--   course on maintenance (after loading) in a patient with a lifelong indication (or no
--   cause coded, by default), whose next injection came more than the interval
--   ($maintenance_interval_days 91, or $maintenance_interval_neuro_days 61 with neurological
--   codes at the start) plus $maintenance_grace_days (30) after the last: 'gap'; or never
--   came before the medication data end: 'stopped'. A move to oral B12 is not a lapse.
-- Grain: one row per course: its first lapse (episode = course number). index_date = the
--   day the lapse began (dose + interval + grace). Evidence: the dose (and the late next
--   dose), the indication codes.
-- Missing data: needs the diagnoses file; without it the finding is not evaluable.
-- Population and reasons: sql/derive/maintenance_courses.sql.
-- Reads: maintenance_courses
select
    patient_id,
    reason,
    lapse_date as index_date,
    course as episode,
    lapse_row_ids as evidence_medication_row_ids,
    lifelong_row_ids as evidence_diagnosis_row_ids,
    site
from maintenance_courses
where reason is not null
