-- The rows on the patient timeline pages (sql/report/timeline_pages.sql): each worklist
-- patient's rows of the patient timeline (sql/report/patient_timeline.sql), with the batch
-- their page is built in (timeline_items.bucket).
-- Grain: one row per patient_timeline row of a patient on the worklist.
-- lane_number: the row's lane, 0 for the top one ($lanes, in order). value_text: a lab
--   value with its comparator and unit ('<150 pg/mL'), '' for other rows.
-- Creates: timeline_events
-- Reads: patient_timeline, timeline_items
create or replace temp table timeline_events as
select
    t.*,
    b.bucket,
    t.event_at::date as day,
    list_position($lanes, t.lane) - 1 as lane_number,
    if(t.value is null, '',
        coalesce(nullif(t.comparator, '='), '') || plain_number(t.value)
        || coalesce(' ' || t.unit, '')) as value_text
from patient_timeline as t
inner join (select distinct patient_id, bucket from timeline_items) as b using (patient_id)
order by b.bucket, t.patient_id
