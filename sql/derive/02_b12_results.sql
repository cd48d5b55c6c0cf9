-- B12 results with their class. Grain: one row per valid B12 result (LOINC 2132-9 or
-- 14685-2, a number with a known unit), value in canonical pg/mL.
--
-- Thresholds (configuration; defaults from the guideline):
--   $b12_deficient_below_pg_ml  (180): deficient  '=v' v < 180, '<x' x <= 180, '<=x' x < 180
--   borderline                        '=v' with 180 <= v <= 350
--   $b12_adequate_above_pg_ml   (350): adequate   '=v' v > 350, '>x' x >= 350, '>=x' x > 350
--   anything else that parsed (e.g. '<200', '>=350', '>100') is 'indeterminate'.
-- class_rank orders classes worst first, for tie-breaking between same-time results.
create or replace table b12_results as
with classed as (
    select
        *,
        case
            when (comparator = '=' and value_canonical < $b12_deficient_below_pg_ml)
                or (comparator = '<' and value_canonical <= $b12_deficient_below_pg_ml)
                or (comparator = '<=' and value_canonical < $b12_deficient_below_pg_ml)
                then 'deficient'
            when comparator = '='
                and value_canonical >= $b12_deficient_below_pg_ml
                and value_canonical <= $b12_adequate_above_pg_ml
                then 'borderline'
            when (comparator = '=' and value_canonical > $b12_adequate_above_pg_ml)
                or (comparator = '>' and value_canonical >= $b12_adequate_above_pg_ml)
                or (comparator = '>=' and value_canonical > $b12_adequate_above_pg_ml)
                then 'adequate'
            else 'indeterminate'
        end as b12_class
    from lab_harmonised
    where analyte = 'b12' and status = 'valid'
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
    case b12_class
        when 'deficient' then 1 when 'indeterminate' then 2 when 'borderline' then 3 else 4
    end as class_rank
from classed
