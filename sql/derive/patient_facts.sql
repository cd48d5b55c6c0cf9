-- Patient facts the descriptive tags, monitoring and sites use. Grain: one row per patient
-- in the patients file (the first row, in file order, when a patient is listed twice).
-- sex_group: 'M' for m/male/man, 'F' for f/female/woman (any case); anything else or
--   missing is NULL, and rules then use the women's limits (stated in each rule).
-- site: the patient's first site given in the patients file (file order), the one fallback
--   for a finding or unit whose own evidence row has no site (rules/tag.py,
--   sql/report/populations.sql).
-- Creates: patient_facts
-- Reads: patients
create or replace table patient_facts as
select
    patient_id,
    case
        when lower(sex) in ('m', 'male', 'man') then 'M'
        when lower(sex) in ('f', 'female', 'woman') then 'F'
    end as sex_group,
    birth_date,
    first_value(site ignore nulls) over (
        partition by patient_id order by source_file, source_line
        rows between unbounded preceding and unbounded following
    ) as site,
    row_id
from patients
qualify row_number() over (partition by patient_id order by source_file, source_line) = 1
