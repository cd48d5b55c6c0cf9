-- Finding b12_loading_incomplete: a new B12 course whose loading phase fell short of the
-- regimen the guideline gives.
-- For readers (label, guideline sentence, definition, worklist): b12_loading_incomplete.toml.
-- Courses, dose days and neurological status at the start: sql/derive/b12_courses.sql
--   (new = no parenteral B12 in the 180 days before; neuro = a core neurological code from
--   180 days before to 14 days after the start).
-- Reasons (day 0 = the start day; one dose per calendar day counts):
--   under_six_doses          no neurological codes: fewer than $loading_min_doses (6)
--                            parenteral dose days in days 0 .. $loading_window_days - 1 (0..14);
--   neuro_not_alternate_day  neurological codes: fewer than $neuro_loading_min_doses (7)
--                            dose days in days 0 .. $neuro_loading_window_days - 1 (0..13), or a
--                            gap over $neuro_loading_max_gap_days (3) days between two of them;
--   neuro_on_oral_only       neurological codes, a new oral course (no B12 of any route in the
--                            180 days before), and no parenteral dose in days 0..13.
-- Evaluable (loading_status = 'evaluable') only when the medication data reach the end of
--   the loading and neuro windows and the medication history reaches 180 days before the
--   start (otherwise the patient may be continuing treatment begun before the extract). The
--   report counts courses not evaluable or pending (sql/populations/new_b12_courses.sql).
-- Grain: one row per course (episode = course number). index_date = the start day.
-- Evidence: the loading dose rows (or the oral start row) and the neurological diagnoses.
-- Missing data: needs the diagnoses file; without it no course is flagged and the report
--   shows the finding as not evaluable with the number of courses.
-- Reads: b12_courses
with evaluable as (
    select *
    from b12_courses
    where loading_status = 'evaluable'
),

reasoned as (
    select
        *,
        case
            when route_kind = 'parenteral' and not neuro_at_start
                and loading_doses < $loading_min_doses
                then 'under_six_doses'
            when route_kind = 'parenteral' and neuro_at_start
                and (neuro_loading_doses < $neuro_loading_min_doses
                    or neuro_loading_max_gap > $neuro_loading_max_gap_days)
                then 'neuro_not_alternate_day'
            when route_kind = 'oral' and neuro_at_start and not parenteral_in_neuro_window
                then 'neuro_on_oral_only'
        end as reason
    from evaluable
)

select
    patient_id,
    reason,
    start_date as index_date,
    course as episode,
    case
        when reason = 'under_six_doses' then loading_row_ids
        when reason = 'neuro_not_alternate_day' then neuro_loading_row_ids
        else [start_row_id]
    end as evidence_medication_row_ids,
    neuro_row_ids as evidence_diagnosis_row_ids,
    site
from reasoned
where reason is not null
