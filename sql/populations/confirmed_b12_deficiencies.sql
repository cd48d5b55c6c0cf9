-- Population confirmed_b12_deficiencies: each result confirming a B12 deficiency (a deficient
-- B12, or a borderline one with a raised MMA), whose treatment b12_deficiency_untreated checks.
-- Status and its reason: sql/derive/confirmed_deficiencies.sql (not evaluable when the
-- medication history does not reach 30 days before the result); a result whose treatment
-- window is not over is evaluable here and pending by its finding's reason.
-- Grain: one row per confirming result (episode = its result number). unit_date: its
-- collection date; site: its own. Its windows end at the medication data end (the
-- treatment is a medication).
-- Label: results confirming a B12 deficiency
-- Reads: confirmed_deficiencies
select
    patient_id,
    result as episode,
    collected_date as unit_date,
    site,
    status,
    status_reason,
    $medication_data_end as data_end
from confirmed_deficiencies
