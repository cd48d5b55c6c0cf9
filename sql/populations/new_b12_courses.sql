-- Population new_b12_courses: new B12 courses whose loading the audit checks
-- (b12_loading_incomplete): parenteral courses, oral ones with neurological involvement at
-- the start, and courses of unknown route (counted, never judged). Status and its reason:
-- b12_courses.loading_status (sql/derive/b12_courses.sql): not evaluable without a diagnoses
-- file, for a course of unknown route ('route_unknown') or when the course may predate the
-- extract; pending while its loading or neuro window is not over.
-- Grain: one row per course. unit_date: its start; site: its first dose's. Its windows end
-- at the medication data end.
-- Label: evaluable new B12 courses
-- Reads: b12_courses
select
    patient_id,
    course as episode,
    start_date as unit_date,
    site,
    loading_status as status,
    loading_status_reason as status_reason,
    $medication_data_end as data_end
from b12_courses
where loading_status is not null
