-- Shareable counts: per finding and reason, overall and by site, with the denominator.
-- Grain: one row per (finding, reason, site); site 'all sites' is the whole extract.
-- Numerators: patients for patient-level findings; episodes or courses where the finding
-- has them (folate_before_b12, b12_loading_incomplete, b12_treatment_lapse,
-- monitoring_missed). Denominators, counted within the same site:
--   folate_before_b12                         folate episodes
--   b12_loading_incomplete, monitoring_missed  B12 courses
--   b12_treatment_lapse                       parenteral B12 courses
--   elevated_esr                              patients with a valid ESR
--   every other finding                       patients with a valid, not-on-treatment B12
-- reason '(all)' is the finding's total (findings without reasons have only that row); a
-- patient with a site on several rows counts once per site. Unknown sites are '(no site)'.
with tagged as (
    select finding, coalesce(reason, '') as reason, coalesce(site, '(no site)') as site,
           patient_id, episode
    from findings
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
    select 'B12 courses', site, patient_id || '#' || course from b12_courses
    union all
    select 'parenteral B12 courses', site, patient_id || '#' || course from b12_courses
    where route_kind = 'parenteral'
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
        case
            when finding = 'folate_before_b12' then 'folate episodes'
            when finding in ('b12_loading_incomplete', 'monitoring_missed') then 'B12 courses'
            when finding = 'b12_treatment_lapse' then 'parenteral B12 courses'
            when finding = 'elevated_esr' then 'patients with a valid ESR'
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
    d.n as denominator,
    n.denominator_meaning
from described as n
left join denominators as d
    on d.meaning = n.denominator_meaning and d.site is not distinct from n.site
order by n.finding, n.reason is not null, n.reason, n.site is not null, n.site
