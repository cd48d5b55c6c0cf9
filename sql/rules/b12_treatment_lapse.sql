-- Finding b12_treatment_lapse: lifelong B12 injections that stopped or were long overdue.
-- For readers (label, guideline sentence, definition, worklist): b12_treatment_lapse.toml.
-- Population, intervals and reasons: sql/derive/maintenance_courses.sql. In short: a
--   course on maintenance (after loading) in a patient with a lifelong indication (or no
--   cause coded, by default), whose next injection came more than the interval
--   ($maintenance_interval_days 91, or $maintenance_interval_neuro_days 61 with neurological
--   codes at the start) plus $maintenance_grace_days (30) after the last: 'gap'; or never
--   came before the medication data end: 'stopped'. A move to oral B12 is not a lapse.
-- Grain: one row per lapse: a course that resumed and lapsed again has a row for each
--   (episode = course number; the worklist shows a course's latest). index_date = the day
--   the lapse began (dose + interval + grace). Evidence: the dose (and the late next dose),
--   the indication codes.
-- Missing data: needs the diagnoses file; without it the finding is not evaluable. A course
--   of unknown route is counted as not evaluable (route_unknown), never judged.
-- Reads: maintenance_courses
with lapse as (
    select patient_id, course, site, lifelong_row_ids, unnest(lapses) as l
    from maintenance_courses
)

select
    patient_id,
    l.reason,
    l.lapse_date as index_date,
    course as episode,
    l.row_ids as evidence_medication_row_ids,
    lifelong_row_ids as evidence_diagnosis_row_ids,
    site
from lapse
