-- Yardstick for benchmarks/run.py: the foundation B12 findings in ONE hand-written DuckDB query,
-- straight from the raw lab CSV. No validation framework, no orchestration, no intermediate
-- tables: the fastest honest way to get the same answers, so the audit's cost can be read as a
-- ratio to it. It is not the audit's logic and is not tested against it.
--
-- Finds, one row per patient and finding (earliest by collected_at, then result_id):
--   b12_deficient              total B12 (2132-9, 14685-2) < $b12_deficient_below_pg_ml
--   b12_borderline             $b12_deficient_below_pg_ml <= B12 <= $b12_adequate_above_pg_ml
--   b12_functional_deficiency  borderline B12 and MMA (13964-2) > $mma_elevated_above_nmol_l
--                              collected from $mma_window_before_days before to
--                              $mma_window_after_days after it (day-level: sources mix dates
--                              and date-times, so both sides are truncated to the day)
-- Units: B12 to pg/mL (pmol/L x 1.35537, molar mass 1355.37; ng/L = pg/mL; ng/mL x 1000),
-- MMA to nmol/L (umol/L = nmol/mL x 1000); an unknown unit leaves no value.
-- Censored results: "<x" is deficient only if x <= the cut-off, ">x" adequate or MMA-elevated
-- only if x >= the cut-off; other censored or text results (hemolyzed) classify as nothing.
-- Rows the audit would quarantine (blank patient_id, collected_at not a date) are skipped.
-- Parameters: $lab_results (path) and the thresholds above.
with labs as (
    select
        trim(patient_id) as patient_id,
        test_code,
        result_id,
        try_cast(trim(collected_at) as timestamp) as collected_at,
        regexp_extract(
            trim(result), '^(<=|>=|<|>)?\s*([0-9]+(?:\.[0-9]+)?)$', ['op', 'num']
        ) as parsed,
        lower(trim(unit)) as unit
    from read_csv($lab_results, header = true, delim = ',', quote = '"', all_varchar = true)
    where test_code in ('2132-9', '14685-2', '13964-2')
),

valued as (
    select
        patient_id,
        result_id,
        collected_at,
        cast(collected_at as date) as collected_on,
        test_code = '13964-2' as is_mma,
        nullif(parsed.op, '') as op,
        try_cast(nullif(parsed.num, '') as double) * case
            when test_code = '13964-2' then case unit
                when 'nmol/l' then 1.0 when 'umol/l' then 1000.0 when 'µmol/l' then 1000.0
                when 'nmol/ml' then 1000.0 end
            else case unit
                when 'pg/ml' then 1.0 when 'ng/l' then 1.0 when 'pmol/l' then 1.35537
                when 'ng/ml' then 1000.0 end
        end as value
    from labs
    where coalesce(patient_id, '') <> '' and collected_at is not null
),

b12 as (
    select
        patient_id,
        result_id,
        collected_at,
        collected_on,
        case
            when op is null and value < $b12_deficient_below_pg_ml then 'deficient'
            when op is null and value <= $b12_adequate_above_pg_ml then 'borderline'
            when op is null then 'adequate'
            when op = '<' and value <= $b12_deficient_below_pg_ml then 'deficient'
            when op = '<=' and value < $b12_deficient_below_pg_ml then 'deficient'
            when op = '>' and value >= $b12_adequate_above_pg_ml then 'adequate'
            when op = '>=' and value > $b12_adequate_above_pg_ml then 'adequate'
        end as b12_class
    from valued
    where not is_mma and value is not null
),

mma_elevated as (
    select patient_id, result_id, collected_on
    from valued
    where is_mma and (
        (op is null and value > $mma_elevated_above_nmol_l)
        or (op = '>' and value >= $mma_elevated_above_nmol_l)
        or (op = '>=' and value > $mma_elevated_above_nmol_l)
    )
),

functional as (
    select
        b12.patient_id,
        b12.result_id,
        b12.collected_at,
        mma.result_id as mma_result_id
    from b12
    inner join mma_elevated as mma
        on mma.patient_id = b12.patient_id
        and mma.collected_on between b12.collected_on - $mma_window_before_days
        and b12.collected_on + $mma_window_after_days
    where b12.b12_class = 'borderline'
),

earliest_class as (
    select
        patient_id,
        'b12_' || b12_class as finding,
        min(collected_at) as index_at,
        arg_min(result_id, (collected_at, result_id)) as b12_result_id,
        null as mma_result_id
    from b12
    where b12_class in ('deficient', 'borderline')
    group by patient_id, b12_class
),

earliest_functional as (
    select
        patient_id,
        'b12_functional_deficiency' as finding,
        min(collected_at) as index_at,
        arg_min(result_id, (collected_at, result_id, mma_result_id)) as b12_result_id,
        arg_min(mma_result_id, (collected_at, result_id, mma_result_id)) as mma_result_id
    from functional
    group by patient_id
)

select patient_id, finding, index_at, b12_result_id, mma_result_id from earliest_class
union all
select patient_id, finding, index_at, b12_result_id, mma_result_id from earliest_functional
order by finding, patient_id
