-- Patient facts the descriptive tags and monitoring use. Grain: one row per patient in
-- the patients file (the first row, in file order, when a patient is listed twice).
-- sex_group: 'M' for m/male/man, 'F' for f/female/woman (any case); anything else or
--   missing is NULL, and rules then use the women's limits (stated in each rule).
create or replace table patient_facts as
select
    patient_id,
    case
        when lower(sex) in ('m', 'male', 'man') then 'M'
        when lower(sex) in ('f', 'female', 'woman') then 'F'
    end as sex_group,
    birth_date,
    row_id
from patients
qualify row_number() over (partition by patient_id order by source_file, source_line) = 1
