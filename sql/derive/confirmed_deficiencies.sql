-- Confirmed B12 deficiencies and whether each was treated (b12_deficiency_untreated's
-- population and reasons).
-- Grain: one row per confirming result; result numbers a patient's from 1 by collection
--   time, then file order. (b12_functional_deficiency reads its 'functional' rows.)
-- A confirming result (the guideline's "Confirmed B12 Deficiency"):
--   basis 'deficient'   a valid, not-on-treatment B12 in class 'deficient'
--                       (sql/derive/b12_results.sql: below 180 pg/mL);
--   basis 'functional'  a borderline B12 with a valid MMA in class 'elevated' (above 271
--                       nmol/L; sql/derive/mma_results.sql) collected from
--                       $mma_window_before_days (30) days before to $mma_window_after_days
--                       (90) days after it, both inclusive, by calendar date.
-- known_date, the day the deficiency could be known: the B12's known_at (its result time,
--   else its collection); for 'functional', the later of that and the earliest known_at of
--   the elevated MMAs in its window (known when both results are known).
-- Treated: a B12 treatment dose day (sql/derive/b12_doses.sql: administered or dispensed,
--   never merely ordered; any route, unknown included) from
--   $untreated_treatment_before_days (30) days before the collection date to
--   $untreated_within_days (30) days after known_date, both inclusive. treatment_row_id:
--   the first such dose (ties on the day: the earliest event time, then route kind).
-- status (sql/populations/confirmed_b12_deficiencies.sql):
--   'not evaluable', 'may predate the extract'  the medication history does not reach
--       $untreated_treatment_before_days before the collection ($medication_data_start),
--       or there is no medication data: treatment may be out of sight;
--   'evaluable' otherwise.
-- reason (NULL when treated):
--   'no_treatment'  no dose, and the window is over ($medication_data_end >= known_date +
--                   $untreated_within_days);
--   'pending'       no dose yet, and the window is not over at the medication data end.
-- Creates: confirmed_deficiencies
-- Reads: b12_doses, b12_results, mma_results
create or replace table confirmed_deficiencies as
with functional as (
    select
        b.row_id,
        list(m.row_id order by m.collected_at, m.source_file, m.source_line) as mma_row_ids,
        min(m.known_at) as mma_known_at
    from b12_results as b
    inner join mma_results as m
        on m.patient_id = b.patient_id
        and m.mma_class = 'elevated'
        and m.collected_at::date between b.collected_at::date - $mma_window_before_days
            and b.collected_at::date + $mma_window_after_days
    where b.b12_class = 'borderline'
    group by b.row_id
),

confirming as (
    select
        b.patient_id,
        b.row_id,
        b.site,
        b.collected_at,
        b.value_pg_ml,
        b.source_file,
        b.source_line,
        if(b.b12_class = 'deficient', 'deficient', 'functional') as basis,
        b.collected_at::date as collected_date,
        greatest(b.known_at, f.mma_known_at)::date as known_date,
        coalesce(f.mma_row_ids, []::varchar[]) as mma_row_ids
    from b12_results as b
    left join functional as f using (row_id)
    where b.b12_class = 'deficient' or f.row_id is not null
),

treated as (
    select
        c.row_id,
        arg_min(d.row_id, (d.dose_date, d.first_at, d.route_kind)) as treatment_row_id,
        min(d.dose_date) as treatment_date
    from confirming as c
    inner join b12_doses as d
        on d.patient_id = c.patient_id
        and d.dose_date between c.collected_date - $untreated_treatment_before_days
            and c.known_date + $untreated_within_days
    group by c.row_id
)

select
    c.patient_id,
    row_number() over (
        partition by c.patient_id order by c.collected_at, c.source_file, c.source_line
    )::integer as result,
    c.row_id,
    c.source_file,
    c.source_line,
    c.mma_row_ids,
    c.basis,
    c.value_pg_ml,
    c.collected_at,
    c.collected_date,
    c.known_date,
    c.site,
    t.treatment_row_id,
    t.treatment_date,
    if(coalesce(c.collected_date - $untreated_treatment_before_days >= $medication_data_start,
        false), 'evaluable', 'not evaluable') as status,
    if(status = 'evaluable', null, 'may predate the extract') as status_reason,
    case
        when t.treatment_row_id is not null then null
        when c.known_date + $untreated_within_days <= $medication_data_end then 'no_treatment'
        else 'pending'
    end as reason
from confirming as c
left join treated as t using (row_id)
order by c.patient_id, result
