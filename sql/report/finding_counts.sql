-- Shareable counts: per finding and reason, overall and by site, with the denominator.
-- Grain: one row per (finding, reason, site); site 'all sites' is the whole extract.
-- Numerators: patients for patient-level findings; episodes or courses where the finding
-- has them (folate_before_b12, b12_loading_incomplete, b12_treatment_lapse,
-- monitoring_missed). Where 'pending' means the finding's window reaches past the data end
-- (b12_borderline_no_mma, neuro_normal_b12_no_metabolites), those rows are not failures
-- yet: they are counted apart, as '<finding> (pending)', and not in the finding's total.
-- (folate_before_b12's 'pending', a B12 resulted after F0, is a reason like the others.)
-- Denominators (each finding's population), counted within the same site:
--   folate_before_b12                 folate episodes
--   b12_loading_incomplete            evaluable new B12 courses (b12_courses.loading_evaluable)
--   monitoring_missed                 evaluable new courses in anaemic patients
--                                     (monitoring_courses)
--   b12_treatment_lapse               courses on lifelong maintenance (maintenance_courses)
--   neuro_normal_b12_no_metabolites   patients with a neurological code around a B12 that is
--                                     not low (neuro_workups)
--   elevated_esr                      patients with a valid ESR
--   every other finding               patients with a valid, not-on-treatment B12
-- reason '(all)' is the finding's total (findings without reasons have only that row); a
-- patient with a site on several rows counts once per site. Unknown sites are '(no site)'.
with awaited as (
    select
        *,
        reason = 'pending'
            and finding in ('b12_borderline_no_mma', 'neuro_normal_b12_no_metabolites')
            as window_open
    from findings
),

tagged as (
    select
        if(window_open, finding || ' (pending)', finding) as finding,
        if(window_open, '', coalesce(reason, '')) as reason,
        coalesce(site, '(no site)') as site,
        patient_id,
        episode
    from awaited
),

numerators as (
    select finding, reason, site, count(distinct (patient_id, episode)) as n
    from tagged
    group by grouping sets ((finding, reason, site), (finding, reason), (finding, site), (finding))
),

units as (
    select 'patients with a valid B12' as meaning, site, patient_id as unit from b12_results
    union all
    select 'folate episodes', site, patient_id || '#' || episode from folate_episodes
    union all
    select 'evaluable new B12 courses', site, patient_id || '#' || course from b12_courses
    where loading_evaluable
    union all
    select 'new courses in anaemic patients', site, patient_id || '#' || course
    from monitoring_courses
    union all
    select 'courses on lifelong maintenance', site, patient_id || '#' || course
    from maintenance_courses
    union all
    select 'patients with a neuro code and a B12 not low', site, patient_id from neuro_workups
    union all
    select 'patients with a valid ESR', site, patient_id from lab_harmonised
    where analyte = 'esr' and status = 'valid'
),

denominators as (
    select meaning, site, count(distinct unit) as n
    from (select meaning, coalesce(site, '(no site)') as site, unit from units)
    group by grouping sets ((meaning, site), (meaning))
),

described as (
    select
        *,
        case split_part(finding, ' (pending)', 1)
            when 'folate_before_b12' then 'folate episodes'
            when 'b12_loading_incomplete' then 'evaluable new B12 courses'
            when 'monitoring_missed' then 'new courses in anaemic patients'
            when 'b12_treatment_lapse' then 'courses on lifelong maintenance'
            when 'neuro_normal_b12_no_metabolites'
                then 'patients with a neuro code and a B12 not low'
            when 'elevated_esr' then 'patients with a valid ESR'
            else 'patients with a valid B12'
        end as denominator_meaning
    from numerators
    where reason is distinct from ''
)

select
    n.finding,
    coalesce(n.reason, '(all)') as reason,
    coalesce(n.site, 'all sites') as site,
    n.n as count,
    coalesce(d.n, 0) as denominator,
    n.denominator_meaning
from described as n
left join denominators as d
    on d.meaning = n.denominator_meaning and d.site is not distinct from n.site
order by n.finding, n.reason is not null, n.reason, n.site is not null, n.site
