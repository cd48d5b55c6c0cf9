-- Serum/plasma methylmalonic acid (LOINC 13964-2) results with their class.
-- Grain: one row per valid MMA (a number with a known unit), value in canonical nmol/L.
-- An MMA with no usable value (hemolyzed, unknown unit) is not here: it is not an MMA;
-- nor is one collected on B12 treatment (sql/derive/lab_harmonised.sql).
--
-- $mma_elevated_above_nmol_l (271):
--   elevated '=v' v > 271, '>x' x >= 271, '>=x' x > 271   (exactly 271 is not elevated)
--   normal   '=v' v <= 271, '<x' x <= 271, '<=x' x <= 271
--   anything else (e.g. '<300') is 'indeterminate': still a valid MMA, neither of the two.
-- Creates: mma_results
-- Reads: lab_harmonised
create or replace table mma_results as
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
    value_canonical as value_nmol_l,
    case
        when result_above(comparator, value_canonical, $mma_elevated_above_nmol_l)
            then 'elevated'
        when result_at_or_below(comparator, value_canonical, $mma_elevated_above_nmol_l)
            then 'normal'
        else 'indeterminate'
    end as mma_class
from lab_harmonised
where analyte = 'mma' and status = 'valid'
