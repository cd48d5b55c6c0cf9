-- Re-audit diff: what changed for each unit of each finding since the previous published
-- run: a patient, a folate episode, a B12 course or a confirming result (the finding's
-- unit), keyed by finding_units.unit_key (a unit's date; '' for a patient).
-- Grain: one row per (finding, patient, unit) flagged in this run or in the previous one. A
-- patient already flagged for one folate episode whose new episode is flagged too has a
-- 'newly_flagged' row for the new episode and a 'still_flagged' one for the old.
-- Input: `findings` (this run, with `finding_units`) and the temp table `previous_findings`
-- (the previous run's findings with their unit_key). A unit counts as flagged for a
-- finding when any of its rows (any reason: a course's several lapses are one unit) holds,
-- except rows still waiting on their window (a reason with window_open in the registry,
-- finding_reasons: b12_borderline_no_mma's and neuro_normal_b12_no_metabolites' 'pending'):
-- those are not failures yet, so a unit moving from pending to no_mma is newly flagged.
-- status: 'newly_flagged' (now, not before), 'resolved' (before, not now: for example the
-- B12 treatment or MMA has since been recorded), 'still_flagged' (both).
-- site: this run's site for the unit, else the previous run's (first by name).
-- Reads: finding_reasons, finding_units, findings, previous_findings
with waiting as (
    select finding, reason from finding_reasons where window_open
),

current_flags as (
    select f.patient_id, f.finding, u.unit_key, min(coalesce(f.site, '(no site)')) as site
    from findings as f
    inner join finding_units as u
        on u.finding = f.finding and u.patient_id = f.patient_id
        and u.episode is not distinct from f.episode
    anti join waiting as w on w.finding = f.finding and w.reason is not distinct from f.reason
    group by all
),

previous_flags as (
    select patient_id, finding, unit_key, min(coalesce(site, '(no site)')) as site
    from previous_findings
    anti join waiting using (finding, reason)
    group by all
)

select
    patient_id,
    finding,
    unit_key,
    case
        when p.patient_id is null then 'newly_flagged'
        when c.patient_id is null then 'resolved'
        else 'still_flagged'
    end as status,
    coalesce(c.site, p.site) as site
from current_flags as c
full outer join previous_flags as p using (patient_id, finding, unit_key)
order by finding, status, patient_id, unit_key
