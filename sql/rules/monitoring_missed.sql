-- Finding monitoring_missed: a new B12 course in an anaemic patient with no full blood
-- count around 8 weeks to show the anaemia responding.
-- For readers (label, guideline sentence, definition, worklist): monitoring_missed.toml.
-- Population (sql/derive/monitoring_courses.sql): courses new to B12 in a patient with Hb
--   below 130 g/L (men) or 120 g/L (women; sex unknown) from 30 days before to the start;
--   judged when evaluable: the medication history reaches 180 days before the start and
--   its 70 days are over. The report counts the courses not evaluable or still pending.
-- Reason no_fbc_at_8_weeks: no haemoglobin or MCV with a number from day 42 to day 70 after
--   the start ($fbc_window_from_days to $fbc_window_to_days, both inclusive).
-- Grain: one row per course (episode = course number). index_date = the start day.
-- Evidence: the lowest qualifying haemoglobin and the course's first dose.
-- Reads: monitoring_courses
select
    patient_id,
    'no_fbc_at_8_weeks' as reason,
    start_date as index_date,
    course as episode,
    [hb_row_id] as evidence_lab_row_ids,
    [start_row_id] as evidence_medication_row_ids,
    site
from monitoring_courses
where status = 'evaluable' and fbc_row_id is null
