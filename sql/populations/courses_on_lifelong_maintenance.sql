-- Population courses_on_lifelong_maintenance: injection courses on maintenance in patients
-- with a lifelong indication (sql/derive/maintenance_courses.sql), each evaluable: a course
-- counts as not lapsed until it lapses. A course of unknown route in such a patient is
-- 'not evaluable' ('route_unknown'). Without a diagnoses file ($diagnoses_present) the
-- indication cannot be known: every parenteral or unknown-route course is 'not evaluable'
-- ('no diagnoses file').
-- Grain: one row per course. unit_date: the course's start (sql/derive/b12_courses.sql);
-- site: its first maintenance dose's (an unknown-route course: its first dose's). Its windows end at the medication data end.
-- Label: courses on lifelong maintenance
-- Reads: b12_courses, maintenance_courses
select
    m.patient_id,
    m.course as episode,
    c.start_date as unit_date,
    m.site,
    m.status,
    m.status_reason,
    $medication_data_end as data_end
from maintenance_courses as m
inner join b12_courses as c using (patient_id, course)
union all
select
    patient_id,
    course,
    start_date,
    site,
    'not evaluable',
    'no diagnoses file',
    $medication_data_end
from b12_courses
where not $diagnoses_present and route_kind in ('parenteral', 'unknown')
