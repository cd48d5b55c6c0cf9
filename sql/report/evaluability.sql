-- What the audit could not (yet) check, so a missing input never reads as zero findings.
-- Grain: one row per (finding, status) with units in it; count = units of the finding's
--   population (sql/report/populations.sql), counted in the finding's unit (patients,
--   folate episodes or B12 courses):
--   not evaluable: <why>   the unit cannot be judged: no diagnoses file (for the findings
--       that need diagnoses), or a course that may predate the extract (its medication
--       history does not reach the washout before it);
--   pending: <why>         its window reaches past the data end: the population's own
--       (a course's loading or 8-week window), or the finding's ('window not over').
-- And one row for diagnosis rows in a code system with no concept list (the lists hold
--   ICD-10-CM), when there are any: they cannot show a neurological code or an indication,
--   so the findings that need diagnoses may be undercounted.
-- Reads: diagnoses, finding_definitions, populations, ref_concepts
with unjudged as (
    select
        p.finding,
        case
            when p.status <> 'evaluable' then p.status || ': ' || p.status_reason
            else 'pending: window not over'
        end as status,
        d.unit_label as counted
    from populations as p
    inner join finding_definitions as d using (finding)
    where p.outcome in ('pending', 'not evaluable')
),

unlisted_code_systems as (
    select
        'findings that need diagnoses' as finding,
        'diagnoses not read: no list for their code system' as status,
        'diagnosis rows' as counted,
        count(*) as count
    from diagnoses
    where code_system not in (
        select distinct upper(system) from ref_concepts where concept_set like 'dx\_%' escape '\')
    having count(*) > 0
)

select finding, status, counted, count(*) as count
from unjudged
group by all
union all
select * from unlisted_code_systems
order by finding = 'findings that need diagnoses', finding, status
