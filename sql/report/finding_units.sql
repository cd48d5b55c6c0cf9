-- Finding units: which unit of its population each finding row is about, by a key that
-- stays the same across runs while the unit does, for the re-audit diff.
-- Grain: one row per findings row (finding, patient, episode).
-- unit_key: '' for a patient unit (a patient is the unit); else the unit's date in its
--   population (a folate episode's first dose, a B12 course's start, a confirming result's
--   collection: sql/populations/), as ISO text. Episode numbers are not used: an earlier
--   delivery can renumber a patient's episodes, their dates stay.
-- A finding row with no population row (never expected: findings are on evaluable units)
--   keys by its episode number instead, so it is never lost.
-- Creates: finding_units
-- Reads: finding_definitions, findings, populations
create or replace table finding_units as
select distinct
    f.finding,
    f.patient_id,
    f.episode,
    case
        when d.unit = 'patient' then ''
        else coalesce(p.unit_date::varchar, 'episode ' || f.episode)
    end as unit_key
from findings as f
inner join finding_definitions as d using (finding)
left join populations as p
    on p.finding = f.finding and p.patient_id = f.patient_id
    and p.episode is not distinct from f.episode
