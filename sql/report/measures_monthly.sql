-- Monthly measures: for each finding, how many units of its population entered it in each
-- month, how many of those have the finding, and the rate. EXACT counts (the build database
-- only; shareable/measures_monthly.csv is the suppressed version, transforms/measures.py).
-- Grain: one row per (measure, month, site). measure = the finding's name; month = the first
-- day of a calendar month; site = a site, '(no site)' when unknown, or 'all sites'.
--
-- Units and populations: each finding's denominator population in
-- sql/report/finding_counts.sql, one row per unit:
--   folate_before_b12                folate episodes                     month of F0 (f0_date)
--   b12_loading_incomplete           evaluable new B12 courses           month of course start
--                                    (b12_courses.loading_evaluable)
--   monitoring_missed                new courses in anaemic patients     month of course start
--                                    (monitoring_courses)
--   b12_treatment_lapse              courses on lifelong maintenance     month of course start
--                                    (maintenance_courses, start from b12_courses)
--   neuro_normal_b12_no_metabolites  patients with a neurological code around a B12 that
--                                    is not low (neuro_workups)          see patients below
--   elevated_esr                     patients with a valid ESR           see patients below
--   every other finding              patients with a valid, not-on-treatment B12 (b12_results)
-- Patients (one unit each, in exactly one month per measure): a patient with the finding is
--   counted in the month of the finding's index date (its index result: the earliest such
--   B12, ESR, Hb or MCV); a patient without it in the month of their first result of the
--   population (first valid B12 / valid ESR / neurological work-up B12, by collection time).
--   Each unit is in one month and one site, so numerator <= denominator in every row, and
--   the months add up to the finding's totals: sum(numerator) is summary.csv's count and
--   sum(denominator) + sum(pending) its denominator, for 'all sites'.
-- Numerator: units with a row of that finding in `findings` (same patient, same episode or
--   course), reason not pending-type. Denominator: units whose outcome is known.
-- pending: units whose window is still open, in neither numerator nor denominator:
--   b12_borderline_no_mma, neuro_normal_b12_no_metabolites  the finding's reason is 'pending'
--     (the patient has no decided result of the finding, only one inside its window);
--   b12_loading_incomplete  courses that would be evaluable but whose loading or neuro window
--     (start + $loading_neuro_window_after_days, 14 days) ends after $medication_data_end;
--   monitoring_missed  new courses (look-back complete) in patients anaemic at the start
--     (low_haemoglobin from $anaemia_window_before_days (30) days before to the start day)
--     whose FBC window (start + $fbc_window_to_days, 70 days) ends after $lab_data_end
--     (as sql/report/evaluability.sql, restricted to anaemic patients).
--   folate_before_b12's 'pending' reason (a B12 resulted after F0) is a decided outcome, as in
--   finding_counts.sql. b12_treatment_lapse has no pending units: a course on maintenance is
--   counted as not lapsed until it lapses.
-- Site: a patient's flagged unit takes its finding's site; any other unit its population
--   row's site (an episode's or course's first row; a patient's first result); else the
--   patients file's site (as findings take it); else '(no site)'.
-- Months: 'all sites' has a row for every month from the first to the last month with any
--   unit of any measure (zeros included), for every measure, so all charts share one axis
--   and have no holes; site rows exist only where the site has a unit that month.
-- Rate: numerator / denominator; NULL when the denominator is 0.
-- Ties: first results are ordered by collection time, then file and line.
with patient_site as (
    select patient_id, first(site order by row_id) as site
    from patients
    where site is not null
    group by all
),

first_results as (
    select
        'b12' as population, patient_id,
        min(collected_at)::date as entry_date,
        arg_min(site, (collected_at, source_file, source_line)) as site
    from b12_results
    group by patient_id
    union all
    select
        'esr', patient_id, min(collected_at)::date,
        arg_min(site, (collected_at, source_file, source_line))
    from lab_harmonised
    where analyte = 'esr' and status = 'valid'
    group by patient_id
    union all
    select
        'neuro', patient_id, min(collected_at)::date,
        arg_min(site, (collected_at, source_file, source_line))
    from neuro_workups
    group by patient_id
),

patient_measures (measure, population) as (
    values
        ('b12_deficient', 'b12'),
        ('b12_borderline', 'b12'),
        ('b12_functional_deficiency', 'b12'),
        ('b12_borderline_no_mma', 'b12'),
        ('anaemia', 'b12'),
        ('macrocytosis', 'b12'),
        ('elevated_esr', 'esr'),
        ('neuro_normal_b12_no_metabolites', 'neuro')
),

anaemic_at_start as (
    select distinct c.patient_id, c.course
    from b12_courses as c
    inner join low_haemoglobin as h
        on h.patient_id = c.patient_id
        and h.collected_at::date between c.start_date - $anaemia_window_before_days
            and c.start_date
    where c.new_to_b12 and c.lookback_complete
),

-- One row per unit: its measure, date and site, and whether it is pending by its window.
units as (
    select
        m.measure, r.patient_id, null::integer as episode, r.entry_date as unit_date,
        r.site, true as dated_by_finding, false as window_open
    from patient_measures as m
    inner join first_results as r using (population)
    union all
    select 'folate_before_b12', patient_id, episode, f0_date, site, false, false
    from folate_episodes
    union all
    select
        'b12_loading_incomplete', patient_id, course, start_date, site, false,
        not loading_evaluable
    from b12_courses
    where loading_evaluable
        or ($diagnoses_present and lookback_complete
            and (route_kind = 'parenteral' or neuro_at_start)
            and greatest(loading_end_date, start_date + $loading_neuro_window_after_days)
                > $medication_data_end)
    union all
    select 'monitoring_missed', patient_id, course, start_date, site, false, false
    from monitoring_courses
    union all
    select 'monitoring_missed', c.patient_id, c.course, c.start_date, c.site, false, true
    from b12_courses as c
    inner join anaemic_at_start using (patient_id, course)
    where c.start_date + $fbc_window_to_days > $lab_data_end
    union all
    select 'b12_treatment_lapse', m.patient_id, m.course, c.start_date, m.site, false, false
    from maintenance_courses as m
    inner join b12_courses as c using (patient_id, course)
),

judged as (
    select
        u.measure,
        date_trunc('month', if(u.dated_by_finding and f.patient_id is not null,
            f.index_date, u.unit_date))::date as month,
        coalesce(if(u.dated_by_finding and f.patient_id is not null, f.site, u.site),
            s.site, '(no site)') as site,
        case
            when u.window_open then 'pending'
            when f.patient_id is null then 'not flagged'
            when f.reason = 'pending'
                and u.measure in ('b12_borderline_no_mma', 'neuro_normal_b12_no_metabolites')
                then 'pending'
            else 'flagged'
        end as status
    from units as u
    left join findings as f
        on f.patient_id = u.patient_id
        and f.finding = u.measure
        and f.episode is not distinct from u.episode
    left join patient_site as s on s.patient_id = u.patient_id
),

counted as (
    select
        measure, month, coalesce(site, 'all sites') as site,
        count(*) filter (where status = 'flagged') as numerator,
        count(*) filter (where status <> 'pending') as denominator,
        count(*) filter (where status = 'pending') as pending
    from judged
    group by grouping sets ((measure, month, site), (measure, month))
),

calendar as (
    select m.measure, unnest(generate_series(r.first_month, r.last_month, interval 1 month))::date
        as month
    from (select distinct measure from patient_measures
          union all select unnest(['folate_before_b12', 'b12_loading_incomplete',
              'monitoring_missed', 'b12_treatment_lapse'])) as m
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
