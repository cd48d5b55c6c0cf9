-- Shareable counts: per finding and reason, overall and by site, with the denominator.
-- Grain: one row per (finding, reason, site); site 'all sites' is the whole extract.
-- Numerators: patients for patient-level findings; episodes for folate_before_b12.
-- Denominators: patients with at least one valid B12 result (for B12 findings), and
-- folate episodes (for folate_before_b12), counted within the same site.
-- reason '(all)' is the finding's total (findings without reasons have only that row); a patient with a site on several rows counts once
-- per site. Unknown sites are reported as '(no site)'.
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

b12_tested as (
    select site, count(distinct patient_id) as n
    from (select coalesce(site, '(no site)') as site, patient_id from b12_results)
    group by grouping sets ((site), ())
),

episodes as (
    select site, count(*) as n
    from (select coalesce(site, '(no site)') as site from folate_episodes)
    group by grouping sets ((site), ())
)

select
    n.finding,
    coalesce(n.reason, '(all)') as reason,
    coalesce(n.site, 'all sites') as site,
    n.n as count,
    if(n.finding = 'folate_before_b12', e.n, b.n) as denominator,
    if(n.finding = 'folate_before_b12', 'folate episodes', 'patients with a valid B12')
        as denominator_meaning
from numerators as n
left join b12_tested as b on b.site is not distinct from n.site
left join episodes as e on e.site is not distinct from n.site
where n.reason is distinct from ''
order by n.finding, n.reason is not null, n.reason, n.site is not null, n.site
