-- Population new_courses_in_anaemic_patients: new B12 courses in patients anaemic at the
-- start, whose 8-week blood count the audit checks (monitoring_missed). Status and its
-- reason: sql/derive/monitoring_courses.sql (not evaluable when the course may predate the
-- extract; pending until its 70 days are over).
-- Grain: one row per course. unit_date: its start; site: its first dose's. Its windows end
-- at the lab data end (the blood count is a lab result).
-- Label: new courses in anaemic patients
-- Reads: monitoring_courses
select
    patient_id,
    course as episode,
    start_date as unit_date,
    site,
    status,
    status_reason,
    $lab_data_end as data_end
from monitoring_courses
