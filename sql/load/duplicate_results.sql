-- Duplicate result ids: lab_results rows sharing a result_id, the source system's id of
-- one result. Quarantined so that one result is never audited twice, nor two ways.
-- Identical copies (the same patient, test, result, unit, collection and result time):
--   the first, by file then line, stays loaded; each later copy is quarantined as
--   duplicate_identical (counted, not a failure: the quarantine fraction ignores it).
-- Conflicting copies (any of those differ: 180, 900 and 90 pg/mL): every copy is
--   quarantined as duplicate_result_id, since which one is right cannot be told.
-- Rows without a result_id are never duplicates of each other.
-- Grain: one row per lab_results row to quarantine, in the quarantine's columns.
-- Reads: lab_results
with repeated_ids as (
    -- Cheap first: the ids that occur more than once (usually none).
    select result_id
    from lab_results
    where result_id is not null
    group by result_id
    having count(*) > 1
),

repeated as (
    select
        l.result_id,
        count(distinct (l.patient_id, l.test_code, l.result, l.unit, l.collected_at,
            l.resulted_at)) as versions
    from lab_results as l
    semi join repeated_ids using (result_id)
    group by l.result_id
),

copies as (
    select
        l.source_file, l.source_line, l.result_id, r.versions,
        row_number() over (
            partition by l.result_id order by l.source_file, l.source_line
        ) as copy_number
    from lab_results as l
    inner join repeated as r using (result_id)
)

select
    'lab_results' as table_name, source_file, source_line, 'result_id' as column_name,
    if(versions > 1, 'duplicate_result_id', 'duplicate_identical') as check_name,
    result_id as value
from copies
where versions > 1 or copy_number > 1
