-- Courses on lifelong B12 maintenance, and every lapse of each (b12_treatment_lapse's
-- population and reasons). Grain: one row per parenteral course of a patient with a lifelong
-- indication that has at least one dose on maintenance (definitions below), and one per
-- course of unknown route in such a patient; lapses lists the course's lapses in date order
-- (empty when it never lapsed).
-- Population: patients with parenteral B12 dose days (sql/derive/b12_doses.sql) and a
--   lifelong indication: a dx_lifelong_indication code (D51.0-D51.2, K29.40/K29.41, Z90.3,
--   Z98.84, K91.2) recorded at any time in the extract; or, when
--   $lifelong_when_cause_unknown, no dx_reversible_cause code either (cause unknown).
-- status: 'evaluable' for a parenteral course; 'not evaluable' with status_reason
--   'route_unknown' for a course of unknown route (a drug name alone, no route): whether it
--   is an injection course cannot be known, so it is counted apart, never silently absent.
-- Expected interval E: $maintenance_interval_neuro_days (61) when the dose's course began
--   with neurological involvement (sql/derive/b12_courses.sql), else
--   $maintenance_interval_days (91); grace G = $maintenance_grace_days (30).
-- On maintenance: gaps are measured from a dose after the course's loading window
--   (sql/derive/b12_courses.sql), and from the last loading dose when loading was complete
--   (so a course that stops right after a full loading is caught by 'stopped'). A course that
--   stops during an incomplete loading is b12_loading_incomplete's, not a lapse; so is a
--   one-off injection. A course whose start may predate the extract is judged from its first
--   dose after day 14 only (conservative: its loading is not in the data).
-- Lapses, one per dose day that starts one (a course that resumed can lapse again):
--   gap      the next dose day came more than E + G days after the dose (strictly more);
--   stopped  no later dose, and the medication data end ($medication_data_end) is more than
--            E + G days after the last dose.
-- Not a lapse: an oral (or nasal, or unknown-route) B12 dose dated after the injection and
--   on or before the day the lapse would begin: the patient moved to the oral alternative
--   the guideline allows, which this finding does not follow further.
-- lapse_date = the day the lapse began: the dose day + E + G. row_ids: the dose (and, for a
--   gap, the late next dose).
-- Missing data: needs the diagnoses file (indication and neurological status); without it
--   nothing is flagged and the report shows the finding as not evaluable.
-- Creates: maintenance_courses
-- Reads: b12_courses, b12_doses, diagnosis_concepts
create or replace table maintenance_courses as
with doses as (
    select
        d.patient_id, d.dose_date, d.row_id, d.site,
        lead(d.dose_date) over w as next_dose_date,
        lead(d.row_id) over w as next_row_id
    from b12_doses as d
    where d.route_kind = 'parenteral' and $diagnoses_present
    window w as (partition by d.patient_id order by d.dose_date)
),

latest_course as (
    -- Each dose with the patient's latest parenteral course started on or before it.
    select
        d.*, c.course, c.neuro_at_start, c.loading_end_date, c.loading_complete
    from doses as d
    inner join b12_courses as c
        on c.patient_id = d.patient_id
        and c.route_kind = 'parenteral'
        and c.start_date <= d.dose_date
    qualify row_number() over (partition by d.patient_id, d.row_id order by c.start_date desc) = 1
),

in_course as (
    select
        patient_id, dose_date, row_id, site, next_dose_date, next_row_id, course,
        if(neuro_at_start, $maintenance_interval_neuro_days, $maintenance_interval_days)
            + $maintenance_grace_days as allowed_days
    from latest_course
    where dose_date > loading_end_date
        or (loading_complete and coalesce(next_dose_date > loading_end_date, true))
),

indication as (
    select
        patient_id,
        list(row_id order by recorded_date, source_file, source_line)
            filter (where concept_set = 'dx_lifelong_indication') as lifelong_row_ids,
        count(*) filter (where concept_set = 'dx_reversible_cause') as reversible_codes
    from diagnosis_concepts
    group by patient_id
),

lifelong as (
    select patient_id, coalesce(i.lifelong_row_ids, []::varchar[]) as lifelong_row_ids
    from (select distinct patient_id from b12_doses where $diagnoses_present) as p
    left join indication as i using (patient_id)
    where i.lifelong_row_ids is not null
        or ($lifelong_when_cause_unknown and coalesce(i.reversible_codes, 0) = 0)
),

lapses as (
    select
        d.*,
        l.lifelong_row_ids,
        case
            when exists (
                select 1
                from b12_doses as o
                where o.patient_id = d.patient_id
                    and o.route_kind <> 'parenteral'
                    and o.dose_date > d.dose_date
                    and o.dose_date <= d.dose_date + d.allowed_days
            ) then null
            when date_diff('day', d.dose_date, d.next_dose_date) > d.allowed_days then 'gap'
            when d.next_dose_date is null and d.dose_date + d.allowed_days < $medication_data_end
                then 'stopped'
        end as reason
    from in_course as d
    inner join lifelong as l using (patient_id)
)

select
    patient_id,
    course,
    'parenteral' as route_kind,
    'evaluable' as status,
    null as status_reason,
    arg_min(site, dose_date) as site,
    any_value(lifelong_row_ids) as lifelong_row_ids,
    coalesce(
        list({
            'reason': reason,
            'lapse_date': dose_date + allowed_days,
            'row_ids': list_filter([row_id, if(reason = 'gap', next_row_id, null)],
                lambda x: x is not null)
        } order by dose_date) filter (where reason is not null),
        []
    ) as lapses
from lapses
group by patient_id, course
union all  -- by position: both lists name the same columns in the same order
select
    c.patient_id,
    c.course,
    c.route_kind,
    'not evaluable' as status,
    'route_unknown' as status_reason,
    c.site,
    l.lifelong_row_ids,
    [] as lapses
from b12_courses as c
inner join lifelong as l using (patient_id)
where c.route_kind = 'unknown'
order by patient_id, course
