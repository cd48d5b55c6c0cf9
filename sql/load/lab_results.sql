-- Canonical lab_results: the staged rows that passed validation, typed.
-- Grain: one row per input row. row_id (file:line) is the evidence id findings cite.
-- Times keep whether the source gave a time of day (date-only values compare by date).
create or replace table lab_results as
select
    r.source_file || ':' || r.source_line as row_id,
    trim(r.patient_id) as patient_id,
    trim(r.test_code) as test_code,
    r.test_name,
    r.result,
    r.unit,
    cast(trim(r.collected_at) as timestamp) as collected_at,
    length(trim(r.collected_at)) > 10 as collected_has_time,
    cast(nullif(trim(r.resulted_at), '') as timestamp) as resulted_at,
    length(trim(r.resulted_at)) > 10 as resulted_has_time,
    nullif(trim(r.result_id), '') as result_id,
    nullif(trim(r.site), '') as site,
    r.source_file,
    r.source_line
from staging.raw_lab_results as r
anti join staging.quarantined_lines as q using (source_file, source_line)
