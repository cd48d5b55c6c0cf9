-- Canonical medications: a batch of rows that passed validation, typed.
-- Text is trimmed with trim(), the same whitespace the schema checks trim.
-- Grain: one row per input row; row_id (file:line) is the evidence id findings cite.
-- Reads: validated_batch
select
    r.source_file || ':' || r.source_line as row_id,
    clean_id(r.patient_id) as patient_id,
    nullif(upper(trim(r.drug_code)), '') as drug_code,
    r.drug_name,
    lower(trim(r.event_type)) as event_type,
    local_time(r.event_at) as event_at,
    length(trim(r.event_at)) > 10 as event_has_time,
    r.dose,
    r.dose_unit,
    r.route,
    nullif(trim(r.site), '') as site,
    r.source_file,
    r.source_line
from validated_batch as r
