-- B12 courses: when a patient starts B12 treatment, and what the first weeks held.
-- Grain: one row per course. course numbers a patient's courses from 1 by start date.
--
-- New parenteral course: a parenteral dose day (sql/derive/b12_doses.sql) with no
--   parenteral dose in the $course_washout_days (180) days before it.
-- New oral course: an oral dose day with no B12 dose of any route in the 180 days before.
-- New course of unknown route (a drug name alone, no route: sql/derive/b12_doses.sql): the
--   same, for a dose day of route 'unknown'. It enters the rules that do not need the route
--   (monitoring_missed); loading and lapse count it as not evaluable ('route_unknown').
-- new_to_b12: no B12 dose of any route in the 180 days before (used by monitoring_missed).
-- lookback_complete: the medication history reaches 180 days before the start
--   ($medication_data_start <= start - 180); otherwise the patient may have been treated
--   before the extract began, and the course is not evaluable as new.
-- Neurological involvement at the start: a diagnosis with is_neuro (core list; dementia only
--   when $neuro_include_dementia) recorded from $loading_neuro_window_before_days (180) days
--   before to $loading_neuro_window_after_days (14) days after the start, both inclusive.
-- Loading, counted in dose days (one per calendar day), the start day being day 0:
--   loading_doses       parenteral dose days in days 0 .. $loading_window_days - 1 (0..14)
--   neuro_loading_doses parenteral dose days in days 0 .. $neuro_loading_window_days - 1 (0..13)
--   neuro_loading_max_gap  the longest gap in days between consecutive dose days there
--   parenteral_in_neuro_window  for oral courses: any parenteral dose day in days 0..13
--   unknown_in_neuro_window     any dose day of unknown route in days 0..13: it may have
--       been an injection, so an oral course with one and no parenteral dose cannot be
--       called oral-only (loading_status and oral_courses.status: 'route_unknown')
-- The course's loading window is days 0..14 (0..13 with neurological involvement):
--   loading_end_date is its last day; loading_complete: at least $loading_min_doses (6), or
--   with neurological involvement $neuro_loading_min_doses (7), dose days in it.
-- loading_status (b12_loading_incomplete's population, sql/populations/new_b12_courses.sql):
--   NULL (not in it) for an oral course without neurological involvement: the oral
--   alternative is for patients without; else, the first that fits:
--   'not evaluable', 'no diagnoses file'  no diagnoses file ($diagnoses_present): the
--       neurological status decides the regimen (every course, oral ones too: none has
--       a known status);
--   'not evaluable', 'route_unknown'  a course of unknown route: an injection course or
--       an oral one, its regimen cannot be judged; or an oral course with neurological
--       involvement whose days 0..13 hold a dose of unknown route and no parenteral one;
--   'not evaluable', 'may predate the extract'  not lookback_complete;
--   'pending', 'window not over'  the medication data end before the end of the loading
--       window or of the neuro window (start + $loading_neuro_window_after_days, 14);
--   'evaluable' otherwise. loading_status_reason says which.
-- Creates: b12_courses
-- Reads: b12_doses, diagnosis_concepts
create or replace table b12_courses as
with any_route as (
    select
        patient_id, dose_date, route_kind, row_id, site,
        date_diff('day', lag(dose_date) over w_all, dose_date) as days_since_any,
        date_diff('day', lag(dose_date) over w_route, dose_date) as days_since_same_route
    from b12_doses
    window
        w_all as (partition by patient_id order by dose_date, route_kind),
        w_route as (partition by patient_id, route_kind order by dose_date)
),

starts as (
    select
        patient_id, dose_date as start_date, route_kind, row_id as start_row_id, site,
        coalesce(days_since_any > $course_washout_days, true) as new_to_b12
    from any_route
    where (route_kind = 'parenteral'
            and coalesce(days_since_same_route > $course_washout_days, true))
        or (route_kind in ('oral', 'unknown')
            and coalesce(days_since_any > $course_washout_days, true))
),

neuro as (
    select
        s.patient_id, s.start_date, s.route_kind,
        list(d.row_id order by d.recorded_date, d.source_file, d.source_line) as neuro_row_ids
    from starts as s
    inner join diagnosis_concepts as d
        on d.patient_id = s.patient_id
        and d.is_neuro
        and d.recorded_date between s.start_date - $loading_neuro_window_before_days
            and s.start_date + $loading_neuro_window_after_days
    group by all
),

unknown_early as (
    select s.patient_id, s.start_date, s.route_kind
    from starts as s
    semi join b12_doses as u
        on u.patient_id = s.patient_id
        and u.route_kind = 'unknown'
        and u.dose_date >= s.start_date
        and u.dose_date < s.start_date + $neuro_loading_window_days
),

window_doses as (
    -- Each parenteral dose day in a course's loading windows, with the days since the
    -- course's previous one (the neuro window's days are a prefix of these, in date order).
    select
        s.patient_id, s.start_date, s.route_kind, p.row_id, p.dose_date,
        date_diff('day', lag(p.dose_date) over (
            partition by s.patient_id, s.start_date, s.route_kind order by p.dose_date
        ), p.dose_date) as days_since_previous
    from starts as s
    inner join b12_doses as p
        on p.patient_id = s.patient_id
        and p.route_kind = 'parenteral'
        and p.dose_date >= s.start_date
        and p.dose_date < s.start_date + greatest($loading_window_days, $neuro_loading_window_days)
),

loading as (
    select
        patient_id, start_date, route_kind,
        count(*) filter (where dose_date < start_date + $loading_window_days) as loading_doses,
        list(row_id order by dose_date)
            filter (where dose_date < start_date + $loading_window_days) as loading_row_ids,
        count(*) filter (where dose_date < start_date + $neuro_loading_window_days)
            as neuro_loading_doses,
        list(row_id order by dose_date)
            filter (where dose_date < start_date + $neuro_loading_window_days)
            as neuro_loading_row_ids,
        max(days_since_previous)
            filter (where dose_date < start_date + $neuro_loading_window_days)
            as neuro_loading_max_gap
    from window_doses
    group by patient_id, start_date, route_kind
)

select
    s.patient_id,
    row_number() over (
        partition by s.patient_id order by s.start_date, s.route_kind
    )::integer as course,
    s.route_kind,
    s.start_date,
    s.start_row_id,
    s.site,
    s.new_to_b12,
    s.start_date - $course_washout_days >= $medication_data_start as lookback_complete,
    coalesce(n.neuro_row_ids, []::varchar[]) as neuro_row_ids,
    n.neuro_row_ids is not null as neuro_at_start,
    coalesce(l.loading_doses, 0) as loading_doses,
    coalesce(l.loading_row_ids, []::varchar[]) as loading_row_ids,
    coalesce(l.neuro_loading_doses, 0) as neuro_loading_doses,
    coalesce(l.neuro_loading_row_ids, []::varchar[]) as neuro_loading_row_ids,
    coalesce(l.neuro_loading_max_gap, 0) as neuro_loading_max_gap,
    coalesce(l.neuro_loading_doses, 0) > 0 as parenteral_in_neuro_window,
    u.patient_id is not null as unknown_in_neuro_window,
    s.start_date + if(neuro_at_start, $neuro_loading_window_days, $loading_window_days) - 1
        as loading_end_date,
    if(neuro_at_start, neuro_loading_doses >= $neuro_loading_min_doses,
        loading_doses >= $loading_min_doses) as loading_complete,
    case
        when not $diagnoses_present then 'not evaluable'
        when s.route_kind = 'unknown' then 'not evaluable'
        when s.route_kind <> 'parenteral' and not neuro_at_start then null
        when s.route_kind = 'oral' and not parenteral_in_neuro_window
            and unknown_in_neuro_window then 'not evaluable'
        when not lookback_complete then 'not evaluable'
        when greatest(loading_end_date, s.start_date + $loading_neuro_window_after_days)
            > $medication_data_end then 'pending'
        else 'evaluable'
    end as loading_status,
    case
        when not $diagnoses_present then 'no diagnoses file'
        when s.route_kind = 'unknown' then 'route_unknown'
        when s.route_kind <> 'parenteral' and not neuro_at_start then null
        when s.route_kind = 'oral' and not parenteral_in_neuro_window
            and unknown_in_neuro_window then 'route_unknown'
        when not lookback_complete then 'may predate the extract'
        when loading_status = 'pending' then 'window not over'
    end as loading_status_reason
from starts as s
left join neuro as n using (patient_id, start_date, route_kind)
left join loading as l using (patient_id, start_date, route_kind)
left join unknown_early as u using (patient_id, start_date, route_kind)
order by s.patient_id, course
