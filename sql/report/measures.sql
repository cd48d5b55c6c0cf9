-- Measures: for each finding, how many units of its population entered it in each period,
-- how many of those have the finding, the ratio, and whether the period can be judged yet.
-- EXACT counts (the build database only; shareable/measures.csv is the disclosure-controlled
-- version, transforms/outputs/measures.py).
-- Grain: one row per (measure, interval_start, site). measure = the finding's name; site = a
--   site, '(no site)' when unknown, or 'all sites'.
--
-- Period: a calendar month, or a calendar quarter for a measure whose median monthly
--   denominator (all sites, over months with any unit) is below
--   $quarterly_below_monthly_denominator (0: every measure monthly). interval_start is the
--   period's first day, interval_end its last (inclusive).
-- Units: `populations` (sql/report/populations.sql), one row per finding and unit of its
--   population, counted in the period and site of its unit_date. Numerator: units whose
--   outcome is 'flagged'. Denominator: units whose outcome is known ('flagged' or 'not
--   flagged'). pending: units whose window is still open, in neither numerator nor
--   denominator. Units that are 'not evaluable' are not counted.
-- Status, the same for every site of a period:
--   'not evaluable' when the measure's look-back (finding_definitions.look_back_days: 365
--     for folate, the course wash-out for courses; 0 for the rest) from the period's first
--     day reaches before the data start (audit_scope.data_start: before it, no history to
--     look back on, and every unit would look untested or new; with no look-back, the
--     period began before the data did);
--   'incomplete' when the period is not over at the measure's data end (the latest
--     data_end of its units, else the audit's), or any of its units (all sites) is still
--     pending: its ratio would move as windows close;
--   'complete' otherwise: only complete periods enter SPC baselines and signals.
--   status_reason says which, with the date or count.
-- Periods: 'all sites' has a row for every period from the first to the last with any unit
--   of any measure (zeros included), for every finding in the registry, so all charts share
--   one axis and have no holes; site rows exist only where the site has a unit that period.
-- Ratio: numerator / denominator; NULL when the denominator is 0.
-- Creates: measure_counts
-- Reads: audit_scope, finding_definitions, populations
create or replace table measure_counts as
with judged as (
    select finding as measure, date_trunc('month', unit_date)::date as month, site, outcome,
        data_end
    from populations
    where outcome <> 'not evaluable'
),

monthly_denominators as (
    select measure, month, count(*) filter (where outcome <> 'pending') as denominator
    from judged
    group by all
),

periods as (
    select
        d.finding as measure,
        d.look_back_days,
        if(coalesce(median(m.denominator), 0) < $quarterly_below_monthly_denominator,
            'quarter', 'month') as period,
        coalesce(max(u.data_end), any_value(s.data_end)) as data_end,
        any_value(s.data_start) as data_start
    from finding_definitions as d
    cross join audit_scope as s
    left join monthly_denominators as m on m.measure = d.finding
    left join (select measure, max(data_end) as data_end from judged group by all) as u
        on u.measure = d.finding
    group by d.finding, d.look_back_days
),

counted as (
    select
        j.measure, date_trunc(p.period, j.month)::date as interval_start,
        coalesce(j.site, 'all sites') as site,
        count(*) filter (where j.outcome = 'flagged') as numerator,
        count(*) filter (where j.outcome <> 'pending') as denominator,
        count(*) filter (where j.outcome = 'pending') as pending
    from judged as j
    inner join periods as p using (measure)
    group by grouping sets ((j.measure, interval_start, j.site), (j.measure, interval_start))
),

calendar as (
    select p.*,
        unnest(generate_series(
            date_trunc(p.period, r.first_month), date_trunc(p.period, r.last_month),
            if(p.period = 'quarter', interval 3 month, interval 1 month)
        ))::date as interval_start
    from periods as p
    cross join (select min(month) as first_month, max(month) as last_month from judged) as r
    where r.first_month is not null
),

judged_periods as (
    select
        k.*,
        (k.interval_start + if(k.period = 'quarter', interval 3 month, interval 1 month)
            - interval 1 day)::date as interval_end,
        coalesce(c.numerator, 0) as numerator,
        coalesce(c.denominator, 0) as denominator,
        coalesce(c.pending, 0) as pending
    from calendar as k
    left join counted as c
        on c.measure = k.measure and c.interval_start = k.interval_start
        and c.site = 'all sites'
),

statuses as (
    select
        *,
        case
            when interval_start - look_back_days < data_start then 'not evaluable'
            when interval_end > data_end or pending > 0 then 'incomplete'
            else 'complete'
        end as status,
        case
            when status = 'not evaluable' and look_back_days = 0
                then 'period starts before the data start ' || data_start
            when status = 'not evaluable' then 'look-back of ' || look_back_days
                || ' days reaches before the data start ' || data_start
            when interval_end > data_end then 'period not over at the data end ' || data_end
            when pending > 0 then pending || ' unit' || if(pending = 1, '', 's')
                || ' still inside '|| if(pending = 1, 'its', 'their') || ' window'
        end as status_reason
    from judged_periods
),

every_row as (
    select measure, period, interval_start, interval_end, 'all sites' as site,
        numerator, denominator, pending, status, status_reason
    from statuses
    union all
    select c.measure, s.period, c.interval_start, s.interval_end, c.site,
        c.numerator, c.denominator, c.pending, s.status, s.status_reason
    from counted as c
    inner join statuses as s using (measure, interval_start)
    where c.site <> 'all sites'
)

select
    measure, period, interval_start, interval_end, site,
    numerator::bigint as numerator,
    denominator::bigint as denominator,
    pending::bigint as pending,
    if(denominator > 0, numerator / denominator, null)::double as ratio,
    status,
    status_reason
from every_row
order by measure, interval_start, site = 'all sites' desc, site
