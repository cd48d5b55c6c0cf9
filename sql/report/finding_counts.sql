-- Shareable counts: per finding and reason, overall and by site, with the denominator.
-- Grain: one row per (finding, reason, site); site 'all sites' is the whole extract.
-- Everything is counted from `populations` (sql/report/populations.sql), one row per
-- finding and unit of its population (patient, folate episode or B12 course), each unit at
-- its population's site: the sites add up to 'all sites', and the findings sharing a
-- population share its denominator at each site.
-- Numerators: flagged units, per reason. Units whose finding is still waiting on its window
--   (a reason with window_open in the registry: b12_borderline_no_mma's and
--   neuro_normal_b12_no_metabolites' 'pending') are not failures yet: they are counted apart,
--   as '<finding> (pending)', and not in the finding's total.
-- Denominators: the evaluable units of the finding's population, named by its label
--   (finding_definitions.population_label). A unit whose finding is still waiting on its
--   window is evaluable and in the denominator (and in evaluability.csv as pending); units
--   whose own window is not over or that cannot be evaluated (status 'pending', 'not
--   evaluable') are only in evaluability.csv.
-- reason '(all)' is the finding's total (findings without reasons have only that row);
-- only findings with at least one flagged unit have rows.
-- Reads: finding_definitions, populations
with tagged as (
    select
        if(window_open, finding || ' (pending)', finding) as finding,
        finding as base_finding,
        if(window_open, '', coalesce(reason, '')) as reason,
        site
    from populations
    where flagged
),

numerators as (
    select finding, any_value(base_finding) as base_finding, reason, site, count(*) as n
    from tagged
    group by grouping sets ((finding, reason, site), (finding, reason), (finding, site), (finding))
),

denominators as (
    select finding as base_finding, site, count(*) as n
    from populations
    where status = 'evaluable'
    group by grouping sets ((finding, site), (finding))
)

select
    n.finding,
    coalesce(n.reason, '(all)') as reason,
    coalesce(n.site, 'all sites') as site,
    n.n as count,
    coalesce(d.n, 0) as denominator,
    f.population_label as denominator_meaning
from numerators as n
inner join finding_definitions as f on f.finding = n.base_finding
left join denominators as d
    on d.base_finding = n.base_finding and d.site is not distinct from n.site
where n.reason is distinct from ''
order by n.finding, n.reason is not null, n.reason, n.site is not null, n.site
