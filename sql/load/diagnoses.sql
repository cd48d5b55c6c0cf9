-- Canonical diagnoses (optional file): a batch of rows that passed validation, typed.
-- Text is trimmed with trim(), the same whitespace the schema checks trim.
-- Grain: one row per input row. code_key is the code upper-cased without dots (D51.0 and
-- D510 both become D510), the form concept lists are matched on.
-- Reads: validated_batch
select
    r.source_file || ':' || r.source_line as row_id,
    clean_id(r.patient_id) as patient_id,
    trim(r.code) as code,
    replace(upper(trim(r.code)), '.', '') as code_key,
    upper(trim(r.code_system)) as code_system,
    local_time(r.recorded_at) as recorded_at,
    nullif(trim(r.site), '') as site,
    r.source_file,
    r.source_line
from validated_batch as r
