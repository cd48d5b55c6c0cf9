-- Finding monitoring_missed: a new B12 course in an anaemic patient with no full blood
-- count around 8 weeks to show the anaemia responding.
-- Guideline: "Monitoring Parameters After initiating B12 supplementation:" (the text is
--   cut off there). These defaults come from standard pathways (clinical-reference 3.5:
--   "FBC (Hb, MCV) + reticulocytes ... 8 weeks", NHS Lothian RefHelp [V: S14]), not from the
--   guideline text.
-- Population (sql/derive/11_monitoring_courses.sql): courses new to B12, whose 70 days are
--   over, in a patient with Hb below 130 g/L (men) or 120 g/L (women; sex unknown) from 30
--   days before to the start. The report counts the courses still pending.
-- Reason no_fbc_at_8_weeks: no haemoglobin or MCV with a number from day 42 to day 70 after
--   the start ($fbc_window_from_days to $fbc_window_to_days, both inclusive).
-- Grain: one row per course (episode = course number). index_date = the start day.
-- Evidence: the lowest qualifying haemoglobin and the course's first dose.
select
    patient_id,
    'monitoring_missed' as finding,
    'no_fbc_at_8_weeks' as reason,
    start_date as index_date,
    course as episode,
    [hb_row_id] as evidence_lab_row_ids,
    [start_row_id] as evidence_medication_row_ids,
    []::varchar[] as evidence_diagnosis_row_ids,
    site
from monitoring_courses
where fbc_row_id is null
