-- Canonical lab_results: a batch of rows that passed validation, typed.
-- Text is trimmed with strip_ws(), the same whitespace the schema checks trim.
-- Grain: one row per input row. row_id (file:line) is the evidence id findings cite.
-- Times keep whether the source gave a time of day (date-only values compare by date).
select
    r.source_file || ':' || r.source_line as row_id,
    strip_ws(r.patient_id) as patient_id,
    strip_ws(r.test_code) as test_code,
    r.test_name,
    r.result,
    r.unit,
    cast(strip_ws(r.collected_at) as timestamp) as collected_at,
    length(strip_ws(r.collected_at)) > 10 as collected_has_time,
    cast(nullif(strip_ws(r.resulted_at), '') as timestamp) as resulted_at,
    length(strip_ws(r.resulted_at)) > 10 as resulted_has_time,
    nullif(strip_ws(r.result_id), '') as result_id,
    nullif(strip_ws(r.site), '') as site,
    r.source_file,
    r.source_line
from validated_batch as r
