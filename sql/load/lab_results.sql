-- Canonical lab_results: a batch of rows that passed validation, typed.
-- Text is trimmed with trim(), the same whitespace the schema checks trim; identifiers
-- with clean_id() (NFC, invisible characters removed: sql/macros.sql).
-- Grain: one row per input row. row_id (file:line) is the evidence id findings cite.
-- Times keep whether the source gave a time of day (date-only values compare by date).
-- Reads: validated_batch
select
    r.source_file || ':' || r.source_line as row_id,
    clean_id(r.patient_id) as patient_id,
    trim(r.test_code) as test_code,
    r.test_name,
    r.result,
    r.unit,
    local_time(r.collected_at) as collected_at,
    length(trim(r.collected_at)) > 10 as collected_has_time,
    local_time(nullif(trim(r.resulted_at), '')) as resulted_at,
    length(trim(r.resulted_at)) > 10 as resulted_has_time,
    nullif(clean_id(r.result_id), '') as result_id,
    nullif(trim(r.site), '') as site,
    r.source_file,
    r.source_line
from validated_batch as r
