-- Oral B12 courses and the regimen the guideline allows for them (b12_oral_regimen's
-- population and reasons): "Alternative oral therapy: 1000-2000 mcg daily is noninferior to
-- IM for patients without severe deficiency or neurologic manifestations."
-- Grain: one row per new oral course (sql/derive/b12_courses.sql: an oral dose day with no
--   B12 of any route in the 180 days before).
-- oral_only: no parenteral dose day in the course's days 0 .. $neuro_loading_window_days - 1
--   (0..13), as b12_loading_incomplete's neuro_on_oral_only reads it.
-- Severe deficiency (the guideline leaves 'severe' undefined; clinical reference section 7
--   item 11: these limits are assumptions the team configures): a valid off-treatment B12
--   below $severe_b12_below_pg_ml (100 pg/mL; '<x' with x <= 100 counts), or a valid
--   haemoglobin below $severe_hb_below_g_l (80 g/L), collected from
--   $severe_result_within_days (30) days before the course start to its start day, both
--   inclusive. severe_row_id: the latest such result (ties: file order).
-- dose_mcg: the course's first dose's recorded dose in mcg (medication_classes.dose_mg);
--   NULL when none is recorded (or its unit is a form such as 'tablet').
-- dietary: the patient has a coded dietary cause (dx_reversible_cause, category
--   'dietary ...': D51.3), whose usual oral regimens are lower (50-150 mcg daily).
-- status, the first that fits: 'not evaluable', 'may predate the extract' (the medication
--   history does not reach 180 days before the start); 'pending', 'window not over' (its
--   days 0..13 end after the medication data end); 'not evaluable', 'route_unknown' (after
--   a severe result, days 0..13 hold a dose of unknown route and no parenteral one: whether
--   it was oral-only cannot be known); 'not evaluable', 'no dose recorded' (not oral-only
--   after a severe result, and no dose to judge); else 'evaluable'.
-- reason (evaluable courses only), the first that fits:
--   severe_deficiency_on_oral  oral_only, after a severe result;
--   dose_below_1000_mcg        dose_mcg < $oral_dose_at_least_mcg (1000), unless
--                              $oral_dose_dietary_exempt (off by default) and dietary.
-- Creates: oral_courses
-- Reads: b12_courses, b12_results, diagnosis_concepts, lab_harmonised, medication_classes
create or replace table oral_courses as
with courses as (
    select *
    from b12_courses
    where route_kind = 'oral'
),

severe_results as (
    select patient_id, row_id, collected_at, source_file, source_line
    from b12_results
    where result_below(comparator, value_pg_ml, $severe_b12_below_pg_ml)
    union all
    select patient_id, row_id, collected_at, source_file, source_line
    from lab_harmonised
    where analyte = 'haemoglobin' and status = 'valid'
        and result_below(comparator, value_canonical, $severe_hb_below_g_l)
),

severe as (
    select
        c.patient_id, c.course,
        arg_max(s.row_id, (s.collected_at, s.source_file, s.source_line)) as severe_row_id
    from courses as c
    inner join severe_results as s
        on s.patient_id = c.patient_id
        and s.collected_at::date between c.start_date - $severe_result_within_days
            and c.start_date
    group by all
),

dietary as (
    select distinct patient_id
    from diagnosis_concepts
    where concept_set = 'dx_reversible_cause' and category like 'dietary%'
),

judged as (
    select
        c.patient_id, c.course, c.start_date, c.start_row_id, c.site,
        not c.parenteral_in_neuro_window as oral_only,
        s.severe_row_id is not null and oral_only and c.unknown_in_neuro_window
            as route_unknown,
        s.severe_row_id,
        m.dose_mg * 1000 as dose_mcg,
        d.patient_id is not null as dietary,
        case
            when not c.lookback_complete then 'not evaluable'
            when c.start_date + $neuro_loading_window_days - 1 > $medication_data_end
                then 'pending'
            when route_unknown then 'not evaluable'
            when not (oral_only and s.severe_row_id is not null) and m.dose_mg is null
                then 'not evaluable'
            else 'evaluable'
        end as status,
        case
            when not c.lookback_complete then 'may predate the extract'
            when status = 'pending' then 'window not over'
            when route_unknown then 'route_unknown'
            when status = 'not evaluable' then 'no dose recorded'
        end as status_reason
    from courses as c
    left join severe as s using (patient_id, course)
    left join medication_classes as m on m.row_id = c.start_row_id
    left join dietary as d using (patient_id)
)

select
    *,
    case
        when status <> 'evaluable' then null
        when oral_only and severe_row_id is not null then 'severe_deficiency_on_oral'
        when dose_mcg < $oral_dose_at_least_mcg and not ($oral_dose_dietary_exempt and dietary)
            then 'dose_below_1000_mcg'
    end as reason
from judged
order by patient_id, course
