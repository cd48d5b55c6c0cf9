-- Diagnoses in the concept sets the rules use. Grain: one row per diagnoses row and
-- concept set it belongs to (a code can sit in one set only, in practice).
--
-- Matching: the code upper-cased without dots against the listed code the same way
-- (D51.0 = D510 = d51.0), and the same code system. Lists (reference/concepts/dx_*.csv):
--   dx_neuro_core           core neurological codes (clinical-reference 1.3)
--   dx_dementia             unspecified dementia: counts as neurological only when
--                           $neuro_include_dementia (is_neuro below)
--   dx_lifelong_indication  irreversible causes: lifelong B12
--   dx_reversible_cause     dietary or possibly reversible causes
-- Codes on no list are ignored. Without a diagnoses file this table is empty and the
-- findings that need it are reported as not evaluable.
-- Creates: diagnosis_concepts
-- Reads: diagnoses, ref_concepts
create or replace table diagnosis_concepts as
select
    d.row_id,
    d.source_file,
    d.source_line,
    d.patient_id,
    d.site,
    d.code,
    d.code_system,
    d.recorded_at::date as recorded_date,
    c.concept_set,
    c.category,
    c.concept_set = 'dx_neuro_core'
        or (c.concept_set = 'dx_dementia' and $neuro_include_dementia) as is_neuro
from diagnoses as d
inner join ref_concepts as c
    on c.concept_set like 'dx\_%' escape '\'
    and upper(c.system) = d.code_system
    and replace(upper(c.code), '.', '') = d.code_key
