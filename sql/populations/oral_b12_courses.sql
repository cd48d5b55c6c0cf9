-- Population oral_b12_courses: new oral B12 courses, whose regimen b12_oral_regimen checks.
-- Status and its reason: sql/derive/oral_courses.sql (not evaluable when the course may
-- predate the extract, when a dose of unknown route leaves 'oral-only' unknown after a
-- severe result, or when no dose is recorded and it is not oral-only after a severe
-- result; pending until its days 0..13 are over).
-- Grain: one row per course. unit_date: its start; site: its first dose's. Its windows end
-- at the medication data end.
-- Label: new oral B12 courses
-- Reads: oral_courses
select
    patient_id,
    course as episode,
    start_date as unit_date,
    site,
    status,
    status_reason,
    $medication_data_end as data_end
from oral_courses
