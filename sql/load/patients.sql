-- Canonical patients (optional file): a batch of rows that passed validation, typed.
-- Text is trimmed with trim(), the same whitespace the schema checks trim.
-- Grain: one row per input row (a patient listed twice keeps both rows; site uses the first).
-- Reads: validated_batch
select
    r.source_file || ':' || r.source_line as row_id,
    clean_id(r.patient_id) as patient_id,
    nullif(trim(r.sex), '') as sex,
    local_time(nullif(trim(r.birth_date), ''))::date as birth_date,
    nullif(trim(r.site), '') as site,
    r.source_file,
    r.source_line
from validated_batch as r
