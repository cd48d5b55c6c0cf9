-- What the audit could not (yet) check, so a missing input never reads as zero findings.
-- Grain: one row per (finding, status). count = candidates of that finding in that status.
--   not evaluable: no diagnoses file   findings that need diagnoses, when the extract has none:
--       neuro_normal_b12_no_metabolites (valid B12 results that are not low),
--       b12_loading_incomplete (B12 courses), b12_treatment_lapse (patients with parenteral B12)
--   not evaluable: may predate the extract   courses starting within 180 days of the
--       extract's first date: treatment may have begun before the extract
--   pending: window not over   courses whose loading (14 days) or 8-week FBC window
--       (70 days) reaches past the medication or lab data end
--   diagnoses not read: no list for their code system   diagnosis rows in a code system
--       with no concept list (the lists hold ICD-10-CM): they cannot show a neurological
--       code or an indication, so those findings may be undercounted
-- Neurological work-up and borderline-without-MMA results still inside their 90-day window
-- are findings with reason 'pending' and are counted in the findings table instead.
with courses as (
    select *,
        greatest(loading_end_date, start_date + $loading_neuro_window_after_days) as loading_end
    from b12_courses
)

select 'neuro_normal_b12_no_metabolites' as finding,
    'not evaluable: no diagnoses file' as status,
    'valid B12 results that are not low' as counted,
    count(*) as count
from b12_results
where not $diagnoses_present and not_low
union all
select 'b12_loading_incomplete', 'not evaluable: no diagnoses file', 'B12 courses', count(*)
from courses where not $diagnoses_present
union all
select 'b12_loading_incomplete', 'not evaluable: may predate the extract', 'B12 courses', count(*)
from courses where $diagnoses_present and not lookback_complete
union all
select 'b12_loading_incomplete', 'pending: window not over', 'B12 courses', count(*)
from courses where $diagnoses_present and lookback_complete and loading_end > $medication_data_end
union all
select 'b12_treatment_lapse', 'not evaluable: no diagnoses file', 'patients with parenteral B12',
    count(distinct patient_id)
from b12_doses where not $diagnoses_present and route_kind = 'parenteral'
union all
select 'monitoring_missed', 'not evaluable: may predate the extract', 'new B12 courses', count(*)
from courses where new_to_b12 and not lookback_complete
union all
select 'monitoring_missed', 'pending: window not over', 'new B12 courses', count(*)
from courses
where new_to_b12 and lookback_complete and start_date + $fbc_window_to_days > $lab_data_end
union all
select 'findings that need diagnoses', 'diagnoses not read: no list for their code system',
    'diagnosis rows', count(*)
from diagnoses
where code_system not in (
    select distinct upper(system) from ref_concepts where concept_set like 'dx\_%' escape '\')
