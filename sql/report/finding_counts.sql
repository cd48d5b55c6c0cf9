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
-- Period: only units dated (populations.unit_date) from $period_start to $period_end,
--   both inclusive; a null bound is open (the data start, the data end).
-- reason '(all)' is the finding's total (findings without reasons have only that row);
-- a finding with evaluable units but none flagged (at a site, or at all sites) has its
-- '(all)' row with count 0, so every rate has its denominator.
-- Reads: finding_definitions, populations
with in_period as (
    select *
    from populations
    where ($period_start is null or unit_date >= $period_start)
        and ($period_end is null or unit_date <= $period_end)
),

tagged as (
    select
        if(window_open, finding || ' (pending)', finding) as finding,
        finding as base_finding,
        if(window_open, '', coalesce(reason, '')) as reason,
        site
    from in_period
    where flagged
),

numerators as (
    select finding, any_value(base_finding) as base_finding, reason, site, count(*) as n
    from tagged
    group by grouping sets ((finding, reason, site), (finding, reason), (finding, site), (finding))
),

denominators as (
    select finding as base_finding, site, count(*) as n
    from in_period
    where status = 'evaluable'
    group by grouping sets ((finding, site), (finding))
),

counted as (
    select
        n.finding,
        coalesce(n.reason, '(all)') as reason,
        n.site,
        n.n as count,
        coalesce(d.n, 0) as denominator,
        n.base_finding
    from numerators as n
    left join denominators as d
        on d.base_finding = n.base_finding and d.site is not distinct from n.site
    where n.reason is distinct from ''
),

none_flagged as (
    select d.base_finding as finding, '(all)' as reason, d.site, 0 as count,
        d.n as denominator, d.base_finding
    from denominators as d
    where not exists (
        select 1 from numerators as n
        where n.finding = d.base_finding and n.reason is null
            and n.site is not distinct from d.site
    )
)

select
    c.finding,
    c.reason,
    coalesce(c.site, 'all sites') as site,
    c.count,
    c.denominator,
    f.population_label as denominator_meaning
from (select * from counted union all select * from none_flagged) as c
inner join finding_definitions as f on f.finding = c.base_finding
order by c.finding, c.reason <> '(all)', c.reason, c.site is not null, c.site
