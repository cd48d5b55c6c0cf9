-- What happened next: for each worklist item, the first later row showing the action its
-- finding asks for (finding_reasons.acted_by, from the registry: sql/rules/<finding>.toml).
-- Grain: one row per item (item_id) with such a row; items without one are not here.
-- A follow-up counts when it is dated later than the item's index date plus
--   finding_reasons.acted_after_days (the finding's own window, where rows inside it
--   would have met the guideline: e.g. a blood count after day 70 for monitoring_missed),
--   and is not one of the rows that decided the finding (its evidence: a lapse's late
--   next dose, or the B12 a folate finding was judged on, cannot also be what followed).
-- The follow-ups (acted_by):
--   b12_treatment  a B12 dose day of any route, unknown included (b12_doses: administered
--                  or dispensed, never merely ordered), by its day;
--   injection      a parenteral B12 dose day;
--   b12_test       a serum B12 with a number and a known unit (on treatment or not:
--                  lab_harmonised status 'valid' or 'on_treatment'), by its collection;
--   b12_settled    a B12 dose day, or an adequate off-treatment B12 (b12_results) by the
--                  day it was known;
--   mma            an MMA with a number and a known unit, by its collection;
--   metabolite     an MMA or homocysteine with a number and a known unit;
--   blood_count    an Hb or MCV with a number (any unit, as monitoring_missed counts it).
-- Ties (several rows on the first day): doses before results, then file order.
-- Creates: worklist_follow_ups
-- Reads: b12_doses, b12_results, finding_reasons, lab_harmonised, worklist_phrases
create or replace temp table worklist_follow_ups as
with items as (
    select
        w.item_id, w.patient_id, w.index_date + r.acted_after_days as after_date, r.acted_by,
        list_concat(w.evidence_lab_row_ids, w.evidence_medication_row_ids,
            w.evidence_diagnosis_row_ids) as evidence
    from worklist_phrases as w
    inner join finding_reasons as r
        on r.finding = w.finding and r.reason is not distinct from w.reason
    where r.acted_by is not null
),

patients as (select distinct patient_id from items),

labs as (
    select l.patient_id, l.analyte, l.status, l.collected_at, l.row_id, l.source_file,
        l.source_line
    from lab_harmonised as l
    semi join patients using (patient_id)
    where l.analyte in ('b12', 'mma', 'homocysteine', 'haemoglobin', 'mcv')
),

events as (
    select patient_id, 'b12_treatment' as acted_by, dose_date as on_date, row_id,
        '' as source_file, 0 as source_line
    from b12_doses semi join patients using (patient_id)
    union all
    select patient_id, 'injection', dose_date, row_id, '', 0
    from b12_doses semi join patients using (patient_id)
    where route_kind = 'parenteral'
    union all
    select patient_id, 'b12_settled', dose_date, row_id, '', 0
    from b12_doses semi join patients using (patient_id)
    union all
    select patient_id, 'b12_settled', known_at::date, row_id, source_file, source_line
    from b12_results semi join patients using (patient_id)
    where b12_class = 'adequate'
    union all
    select patient_id, 'b12_test', collected_at::date, row_id, source_file, source_line
    from labs
    where analyte = 'b12' and status in ('valid', 'on_treatment')
    union all
    select patient_id, 'mma', collected_at::date, row_id, source_file, source_line
    from labs
    where analyte = 'mma' and status in ('valid', 'on_treatment')
    union all
    select patient_id, 'metabolite', collected_at::date, row_id, source_file, source_line
    from labs
    where analyte in ('mma', 'homocysteine') and status in ('valid', 'on_treatment')
    union all
    select patient_id, 'blood_count', collected_at::date, row_id, source_file, source_line
    from labs
    where analyte in ('haemoglobin', 'mcv') and status in ('valid', 'unknown_unit')
)

select
    i.item_id,
    min(e.on_date) as acted_on,
    arg_min(e.row_id, (e.on_date, e.source_file, e.source_line)) as acted_row_id
from items as i
inner join events as e
    on e.patient_id = i.patient_id and e.acted_by = i.acted_by and e.on_date > i.after_date
    and not list_contains(i.evidence, e.row_id)
group by i.item_id
