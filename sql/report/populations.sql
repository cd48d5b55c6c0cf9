-- Populations: every finding's units and what became of each, the one source of every
-- denominator (summary counts, measures, evaluability, the worklist).
-- Grain: one row per finding and unit of its population (finding_definitions.population:
--   a patient, folate episode or B12 course; sql/populations/<population>.sql).
-- status, status_reason: the unit's own, from its population ('evaluable', 'pending',
--   'not evaluable').
-- flagged: the unit has a row of the finding (same patient, and episode or course);
--   reason: that row's reason; when it has several (b12_treatment_lapse: a course that
--   lapsed, resumed and lapsed again), its latest (by index date, then reason): the unit's
--   state now. window_open: that reason says the finding's window is not
--   over yet (finding_reasons.window_open: the 'pending' of b12_borderline_no_mma,
--   neuro_normal_b12_no_metabolites and b12_deficiency_untreated).
-- outcome: 'not evaluable' or 'pending' when the unit's status says so; else 'pending' when
--   its finding is still waiting on its window; else 'flagged' or 'not flagged'.
-- site, where the unit is counted: its population's (a patient's first result's, an
--   episode's or course's first dose's), the same for every finding on the population, so
--   the findings sharing one have the same denominator at each site and the sites add up
--   to all sites; without one, its patient's site in the patients file
--   (sql/derive/patient_facts.sql), else '(no site)'.
-- unit_date, when it is counted: a patient with a row of the finding at the finding's
--   index date (its index result); any other unit at its population's date.
-- data_end: the data end the unit's windows end at (its population's), for days open.
-- Creates: populations
-- Reads: finding_definitions, finding_reasons, findings, patient_facts, population_units
create or replace table populations as
with latest_findings as (
    select *
    from findings
    qualify row_number() over (
        partition by finding, patient_id, episode order by index_date desc, reason
    ) = 1
),

units as (
    select d.finding, d.unit, u.*
    from finding_definitions as d
    inner join population_units as u using (population)
),

judged as (
    select
        u.finding,
        u.population,
        u.patient_id,
        u.episode,
        u.unit = 'patient' and f.patient_id is not null as dated_by_finding,
        if(dated_by_finding, f.index_date, u.unit_date) as unit_date,
        coalesce(u.site, p.site, '(no site)') as site,
        u.status,
        u.status_reason,
        f.patient_id is not null as flagged,
        f.reason,
        coalesce(r.window_open, false) as window_open,
        u.data_end
    from units as u
    left join latest_findings as f
        on f.finding = u.finding
        and f.patient_id = u.patient_id
        and f.episode is not distinct from u.episode
    left join finding_reasons as r
        on r.finding = f.finding and r.reason is not distinct from f.reason
    left join patient_facts as p on p.patient_id = u.patient_id
)

select
    finding,
    population,
    patient_id,
    episode,
    unit_date,
    site,
    status,
    status_reason,
    flagged,
    reason,
    window_open,
    case
        when status <> 'evaluable' then status
        when window_open then 'pending'
        when flagged then 'flagged'
        else 'not flagged'
    end as outcome,
    data_end
from judged
