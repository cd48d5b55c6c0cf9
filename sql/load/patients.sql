-- Canonical patients (optional file): a batch of rows that passed validation, typed.
-- Text is trimmed with strip_ws(), the same whitespace the schema checks trim.
-- Grain: one row per input row (a patient listed twice keeps both rows; site uses the first).
select
    r.source_file || ':' || r.source_line as row_id,
    strip_ws(r.patient_id) as patient_id,
    nullif(strip_ws(r.sex), '') as sex,
    cast(nullif(strip_ws(r.birth_date), '') as timestamp)::date as birth_date,
    nullif(strip_ws(r.site), '') as site,
    r.source_file,
    r.source_line
from validated_batch as r
