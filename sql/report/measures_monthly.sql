-- Monthly measures: for each finding, how many units of its population entered it in each
-- month, how many of those have the finding, and the rate. EXACT counts (the build database
-- only; shareable/measures_monthly.csv is the suppressed version, transforms/outputs/measures.py).
-- Grain: one row per (measure, month, site). measure = the finding's name; month = the first
-- day of a calendar month; site = a site, '(no site)' when unknown, or 'all sites'.
--
-- Units: `populations` (sql/report/populations.sql), one row per finding and unit of its
--   population, each counted in one month and one site: a folate episode in the month it
--   started, a B12 course in the month it started; a patient with a row of the finding in
--   the month of the finding's index date (its index result, site), a patient without one
--   in the month of their first result of the population. So numerator <= denominator in
--   every row, and the months add up to the finding's totals.
-- Numerator: units whose outcome is 'flagged'. Denominator: units whose outcome is known
--   ('flagged' or 'not flagged'). pending: units whose window is still open (their own, or
--   their finding's: outcome 'pending'), in neither numerator nor denominator. Units that
--   are 'not evaluable' are not counted. A course on lifelong maintenance has no window: it
--   counts as not lapsed until it lapses.
-- Months: 'all sites' has a row for every month from the first to the last month with any
--   unit of any measure (zeros included), for every finding in the registry, so all charts
--   share one axis and have no holes; site rows exist only where the site has a unit that
--   month.
-- Rate: numerator / denominator; NULL when the denominator is 0.
-- Creates: measure_counts
-- Reads: finding_definitions, populations
create or replace table measure_counts as
with judged as (
    select finding as measure, date_trunc('month', unit_date)::date as month, site, outcome
    from populations
    where outcome <> 'not evaluable'
),

counted as (
    select
        measure, month, coalesce(site, 'all sites') as site,
        count(*) filter (where outcome = 'flagged') as numerator,
        count(*) filter (where outcome <> 'pending') as denominator,
        count(*) filter (where outcome = 'pending') as pending
    from judged
    group by grouping sets ((measure, month, site), (measure, month))
),

calendar as (
    select m.finding as measure,
        unnest(generate_series(r.first_month, r.last_month, interval 1 month))::date as month
    from finding_definitions as m
    cross join (select min(month) as first_month, max(month) as last_month from judged) as r
    where r.first_month is not null
),

all_sites as (
    select
        k.measure, k.month, 'all sites' as site,
        coalesce(c.numerator, 0) as numerator,
        coalesce(c.denominator, 0) as denominator,
        coalesce(c.pending, 0) as pending
    from calendar as k
    left join counted as c
        on c.measure = k.measure and c.month = k.month and c.site = 'all sites'
),

every_row as (
    select * from all_sites
    union all
    select measure, month, site, numerator, denominator, pending
    from counted
    where site <> 'all sites'
)

select
    measure, month, site,
    numerator::bigint as numerator,
    denominator::bigint as denominator,
    pending::bigint as pending,
    if(denominator > 0, numerator / denominator, null)::double as rate
from every_row
order by measure, month, site = 'all sites' desc, site
