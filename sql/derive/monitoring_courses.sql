-- Courses whose 8-week full blood count the audit checks (monitoring_missed's population).
-- Grain: one row per B12 course of any route, unknown included (sql/derive/b12_courses.sql),
--   that is new to B12 (no B12 of any route in the 180 days before) in a patient anaemic at
--   the start: a low haemoglobin
--   (sql/derive/low_haemoglobin.sql: below 130 g/L for men, 120 g/L for women and unknown
--   sex) collected from $anaemia_window_before_days (30) days before to the start day, both
--   inclusive.
-- status: 'not evaluable' ('may predate the extract') when the medication history does not
--   reach 180 days before the start; else 'pending' ('window not over') until
--   start + $fbc_window_to_days (70) <= $lab_data_end; else 'evaluable' (judged).
-- hb_row_id: the lowest qualifying haemoglobin (ties: the latest, then file order).
-- fbc_row_id: the first haemoglobin or MCV with a number collected from
--   $fbc_window_from_days (42) to $fbc_window_to_days (70) days after the start, both
--   inclusive; a unit not on the list still counts (the check was done), text such as
--   'clotted' does not. NULL when there is none: that course is a monitoring_missed finding.
-- Creates: monitoring_courses
-- Reads: b12_courses, lab_harmonised, low_haemoglobin
create or replace table monitoring_courses as
with courses as (
    select
        *,
        case
            when not lookback_complete then 'not evaluable'
            when start_date + $fbc_window_to_days > $lab_data_end then 'pending'
            else 'evaluable'
        end as status,
        case status
            when 'not evaluable' then 'may predate the extract'
            when 'pending' then 'window not over'
        end as status_reason
    from b12_courses
    where new_to_b12
),

anaemic as (
    select
        c.patient_id, c.course,
        arg_min(h.row_id, (h.value_g_l, -epoch(h.collected_at), h.source_file,
            h.source_line)) as hb_row_id
    from courses as c
    inner join low_haemoglobin as h
        on h.patient_id = c.patient_id
        and h.collected_at::date between c.start_date - $anaemia_window_before_days
            and c.start_date
    group by all
),

checked as (
    select
        c.patient_id, c.course,
        arg_min(f.row_id, (f.collected_at, f.source_file, f.source_line)) as fbc_row_id
    from courses as c
    inner join lab_harmonised as f
        on f.patient_id = c.patient_id
        and f.analyte in ('haemoglobin', 'mcv')
        and f.status in ('valid', 'unknown_unit')
        and f.collected_at::date between c.start_date + $fbc_window_from_days
            and c.start_date + $fbc_window_to_days
    group by all
)

select
    c.patient_id, c.course, c.start_date, c.start_row_id, c.site, c.status, c.status_reason,
    a.hb_row_id, k.fbc_row_id
from courses as c
inner join anaemic as a using (patient_id, course)
left join checked as k using (patient_id, course)
order by c.patient_id, c.course
