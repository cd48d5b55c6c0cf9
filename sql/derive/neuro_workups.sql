-- B12 results the neurological work-up is checked for (neuro_normal_b12_no_metabolites's
-- population). Grain: one row per valid, not-on-treatment B12 that is not low ('=v' or '>=v'
-- or '>v' with v >= D, D the deficiency limit of the unit policy) with a neurological
-- diagnosis (dx_neuro_core; dementia only when $neuro_include_dementia) recorded from
-- $neuro_window_before_days (180) days before to $neuro_window_after_days (30) days after it,
-- by date, both edges inclusive. Empty without a diagnoses file ($diagnoses_present).
-- Metabolites: the first valid, not-on-treatment MMA and homocysteine collected from
-- $metabolite_window_before_days (30) days before to $metabolite_window_after_days (90) days
-- after the B12 (both inclusive); an unusable one (hemolyzed, unknown unit) was not measured.
-- reason: NULL when both were measured; else 'pending' while the lab data do not reach 90
-- days past the B12 ($lab_data_end < B12 date + 90); else 'none' (neither) or 'partial'.
-- Creates: neuro_workups
-- Reads: b12_results, diagnosis_concepts, lab_harmonised
create or replace table neuro_workups as
with not_low as (
    select *
    from b12_results
    where $diagnoses_present and not_low
),

with_neuro as (
    select
        b.row_id, b.patient_id, b.site, b.collected_at, b.value_pg_ml, b.source_file,
        b.source_line,
        list(d.row_id order by d.recorded_date, d.source_file, d.source_line) as neuro_row_ids
    from not_low as b
    inner join diagnosis_concepts as d
        on d.patient_id = b.patient_id
        and d.is_neuro
        and d.recorded_date between b.collected_at::date - $neuro_window_before_days
            and b.collected_at::date + $neuro_window_after_days
    group by all
),

metabolites as (
    select
        b.row_id,
        arg_min(m.row_id, (m.collected_at, m.source_file, m.source_line))
            filter (where m.analyte = 'mma') as mma_row_id,
        arg_min(m.row_id, (m.collected_at, m.source_file, m.source_line))
            filter (where m.analyte = 'homocysteine') as homocysteine_row_id
    from with_neuro as b
    inner join lab_harmonised as m
        on m.patient_id = b.patient_id
        and m.analyte in ('mma', 'homocysteine')
        and m.status = 'valid'
        and m.collected_at::date between b.collected_at::date - $metabolite_window_before_days
            and b.collected_at::date + $metabolite_window_after_days
    group by b.row_id
),

reasoned as (
    select
        b.*,
        list_filter([m.mma_row_id, m.homocysteine_row_id], lambda x: x is not null)
            as metabolite_row_ids,
        case
            when m.mma_row_id is not null and m.homocysteine_row_id is not null then null
            when b.collected_at::date + $metabolite_window_after_days > $lab_data_end then 'pending'
            when m.mma_row_id is null and m.homocysteine_row_id is null then 'none'
            else 'partial'
        end as reason
    from with_neuro as b
    left join metabolites as m using (row_id)
)

select
    row_id, patient_id, site, collected_at, value_pg_ml, source_file, source_line,
    neuro_row_ids, metabolite_row_ids, reason
from reasoned
order by patient_id, collected_at, source_file, source_line
