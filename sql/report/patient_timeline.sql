-- The patient timeline: what the audit read about each patient, on one time axis (the
-- analysts' view patient_timeline, and the pages behind the worklist:
-- transforms/outputs/timeline.py). Patient-level.
-- Grain: one row per lab result of an audited analyte (B12, MMA, homocysteine, Hb, MCV;
--   every status, so an invalid or on-treatment result shows as such), per folate or B12
--   medication event (ordered, dispensed or administered: the event type says which), and
--   per diagnosis on one of the audit's concept lists.
-- lane: where the row sits on the axis ('B12', 'MMA', 'Homocysteine', 'Hb', 'MCV',
--   'Folate', 'B12 treatment', 'Diagnoses'). value and unit: a lab result's value in the
--   canonical unit (NULL when it has none), with its comparator. item: the drug or code
--   as the extract gave it; detail: the event type and route kind, the drug class, or the
--   concept list. row_id: file:line, as the findings' evidence names rows.
-- Reads: diagnosis_concepts, lab_harmonised, medication_classes
select
    patient_id,
    collected_at as event_at,
    'lab' as source,
    case analyte
        when 'b12' then 'B12' when 'mma' then 'MMA' when 'homocysteine' then 'Homocysteine'
        when 'haemoglobin' then 'Hb' when 'mcv' then 'MCV'
    end as lane,
    analyte as item,
    comparator,
    value_canonical as value,
    canonical_unit as unit,
    status || coalesce(' (' || status_reason || ')', '') as detail,
    row_id
from lab_harmonised
where analyte in ('b12', 'mma', 'homocysteine', 'haemoglobin', 'mcv')
union all
select
    patient_id,
    event_at,
    'medication',
    -- case, not if(): this is a view in the analysts' database, and DuckDB 1.x cannot bind
    -- the if() that 2.0 stores for it.
    case when drug_class = 'b12_treatment' then 'B12 treatment' else 'Folate' end,
    coalesce(drug_name, 'code ' || drug_code, 'a drug with no name or code'),
    null,
    null,
    null,
    event_type || ', ' || route_kind || ' (' || drug_class || ')',
    row_id
from medication_classes
where drug_class in ('b12_treatment', 'folate_therapeutic', 'folate_low_dose', 'folinic_acid')
union all
select
    patient_id,
    recorded_date::timestamp,
    'diagnosis',
    'Diagnoses',
    code,
    null,
    null,
    null,
    concept_set || coalesce(' (' || category || ')', ''),
    row_id
from diagnosis_concepts
