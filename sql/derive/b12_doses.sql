-- B12 treatment doses by day. Grain: one row per patient, calendar day and route kind.
--
-- A dose is a medication_classes row of class b12_treatment that was administered or
-- dispensed (never merely ordered: an order is not a dose). Several events on one day
-- with one route kind count as one dose; its evidence is the day's first event (ties:
-- file order), and first_at / first_has_time say when that was.
-- route_kind 'unknown' (no route, no telling name, an ingredient-only code) counts for
-- folate compliance and as oral for on-treatment results, never as a parenteral dose.
-- Creates: b12_doses
-- Reads: medication_classes
create or replace table b12_doses as
select
    patient_id,
    event_date as dose_date,
    route_kind,
    arg_min(row_id, (event_at, source_file, source_line)) as row_id,
    min(event_at) as first_at,
    arg_min(event_has_time, (event_at, source_file, source_line)) as first_has_time,
    arg_min(site, (event_at, source_file, source_line)) as site
from medication_classes
where drug_class = 'b12_treatment' and event_type in ('administered', 'dispensed')
group by all
