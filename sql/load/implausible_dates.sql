-- Implausible dates: event dates far from the bulk of the extract's dates, quarantined
-- (check date_implausible) so that one outlier (9999-12-31, a 1900-01-01 placeholder)
-- cannot move the data end and turn pending units into failures.
-- The bulk: the middle half of the lab collection and medication event dates (what the
--   data start and end are made of): its quartiles are dates that occur (as quantile_disc:
--   the k-th date in order, k = ceil(n / 4) and ceil(3n / 4)), so no value is invented.
--   Counted per day rather than by quantile_disc, which holds every date in memory and
--   ran out of it at 100M lab rows.
-- Plausible: from the bulk's first quartile less $plausible_years_around_bulk years to
--   its third quartile plus as many, both inclusive (shifted research dates move the bulk
--   with them, so they stay plausible). Lab collection and result dates and medication
--   events are held to both bounds; a diagnosis only to the later one, since a problem
--   list rightly dates a childhood diagnosis decades back. Birth dates are not checked.
-- Grain: one row per (table, row, column) outside the window, in the quarantine's
--   columns, with its value as text.
-- Reads: diagnoses, lab_results, medications
with days as (
    select collected_at::date as day from lab_results
    union all
    select event_at::date from medications
),

running as (
    select day, sum(n) over (order by day) as dates_to_here, sum(n) over () as dates
    from (select day, count(*) as n from days where day is not null group by day)
),

bulk as (
    select
        min(day) filter (where dates_to_here >= ceil(dates * 0.25))
            - to_years($plausible_years_around_bulk) as first_day,
        min(day) filter (where dates_to_here >= ceil(dates * 0.75))
            + to_years($plausible_years_around_bulk) as last_day
    from running
),

dated as (
    select 'lab_results' as table_name, source_file, source_line, 'collected_at' as column_name,
        collected_at::date as day, true as has_first_day
    from lab_results
    union all
    select 'lab_results', source_file, source_line, 'resulted_at', resulted_at::date, true
    from lab_results where resulted_at is not null
    union all
    select 'medications', source_file, source_line, 'event_at', event_at::date, true
    from medications
    union all
    select 'diagnoses', source_file, source_line, 'recorded_at', recorded_at::date, false
    from diagnoses
)

select
    d.table_name, d.source_file, d.source_line, d.column_name,
    'date_implausible' as check_name, d.day::varchar as value
from dated as d, bulk as b
where (d.has_first_day and d.day < b.first_day) or d.day > b.last_day
