-- B12 results with their class. Grain: one row per valid B12 result (LOINC 2132-9 or
-- 14685-2, a number with a known unit, not on treatment), value in canonical pg/mL.
-- On-treatment results (sql/derive/lab_harmonised.sql) are not here: they never
-- classify B12 status in any finding.
--
-- Thresholds (configuration; defaults from the guideline), with D the deficiency limit:
--   D = $b12_deficient_below_pg_ml (180 pg/mL) when $b12_unit_policy = 'canonical';
--       under 'unit_native', a result reported in a molar unit (pmol/L) uses
--       $b12_deficient_below_pmol_l (150 pmol/L as reported, = 203.3 pg/mL) instead.
--   deficient  '=v' v < D, '<x' x <= D, '<=x' x < D
--   borderline                        '=v' with D <= v <= 350
--   $b12_adequate_above_pg_ml (350): adequate   '=v' v > 350, '>x' x >= 350, '>=x' x > 350
--   anything else that parsed (e.g. '<200', '>=350', '>100') is 'indeterminate'.
-- not_low: the result cannot be below D ('=v' or '>=v' with v >= D, '>v' with v >= D); used
--   by the neurological work-up ("normal-appearing B12") and its evaluability count.
-- class_rank orders classes worst first, for tie-breaking between same-time results.
-- Creates: b12_results
-- Reads: lab_harmonised
create or replace table b12_results as
with limits as (
    select
        *,
        if($b12_unit_policy = 'unit_native' and unit_kind = 'molar',
            round($b12_deficient_below_pmol_l * unit_factor, 6), $b12_deficient_below_pg_ml)
            as deficient_below
    from lab_harmonised
    where analyte = 'b12' and status = 'valid'
),

classed as (
    select
        *,
        case
            when result_below(comparator, value_canonical, deficient_below) then 'deficient'
            when comparator = '='
                and value_canonical >= deficient_below
                and value_canonical <= $b12_adequate_above_pg_ml
                then 'borderline'
            when result_above(comparator, value_canonical, $b12_adequate_above_pg_ml)
                then 'adequate'
            else 'indeterminate'
        end as b12_class
    from limits
)

select
    row_id,
    source_file,
    source_line,
    patient_id,
    site,
    collected_at,
    collected_has_time,
    known_at,
    known_has_time,
    comparator,
    value_canonical as value_pg_ml,
    b12_class,
    deficient_below as deficient_below_pg_ml,
    result_at_or_above(comparator, value_canonical, deficient_below) as not_low,
    case b12_class
        when 'deficient' then 1 when 'indeterminate' then 2 when 'borderline' then 3 else 4
    end as class_rank
from classed
