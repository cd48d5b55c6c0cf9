-- The worklist items behind the patient timeline pages (sql/report/timeline_pages.sql).
-- Grain: one row per worklist item whose patient has a page (worklist_items.timeline: the
--   patients in the workbook's rows): its patient's page (timeline), its number on the page
--   (n: priority order within the patient), finding label, reason, state, dates, window,
--   action, evidence, the rows that decided it (decided: its evidence ids) and the row that
--   showed its action happened (acted_row_id).
-- bucket: the batch its patient's page is built in, $timeline_batch patients to a batch
--   (by patient id), so building the pages holds one batch in memory at a time.
-- Creates: timeline_items
-- Reads: finding_definitions, worklist_items
create or replace temp table timeline_items as
select
    w.patient_id,
    w.timeline,
    row_number() over (partition by w.patient_id order by w.priority) as n,
    (dense_rank() over (order by w.patient_id) - 1) // $timeline_batch as bucket,
    d.label, w.reason, w.state, w.index_date, w.window_from, w.window_to, w.action,
    w.evidence, w.acted_evidence, w.acted_row_id,
    list_concat(w.evidence_lab_row_ids, w.evidence_medication_row_ids,
        w.evidence_diagnosis_row_ids) as decided
from worklist_items as w
inner join finding_definitions as d using (finding)
where w.timeline is not null
order by bucket, w.patient_id, n
