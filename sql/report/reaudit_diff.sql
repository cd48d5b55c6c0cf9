-- Re-audit diff: what changed for each patient and finding since the previous published run.
-- Grain: one row per (patient, finding) flagged in this run or in the previous one.
-- Input: `findings` (this run) and the temp table `previous_findings` (the previous run's
-- findings, from the history). A patient counts as flagged for a finding when any of its
-- rows (any episode or course, any reason) holds, except rows still waiting on their
-- window (a reason with window_open in the registry, finding_reasons: b12_borderline_no_mma's
-- and neuro_normal_b12_no_metabolites' 'pending'): those are not failures yet, so a patient
-- moving from pending to no_mma is newly flagged.
-- status: 'newly_flagged' (now, not before), 'resolved' (before, not now: for example the
-- B12 treatment or MMA has since been recorded), 'still_flagged' (both).
-- site: this run's site for the patient's finding, else the previous run's (first by name).
-- Reads: finding_reasons, findings, previous_findings
with waiting as (
    select finding, reason from finding_reasons where window_open
),

current_flags as (
    select patient_id, finding, min(coalesce(site, '(no site)')) as site
    from findings
    anti join waiting using (finding, reason)
    group by all
),

previous_flags as (
    select patient_id, finding, min(coalesce(site, '(no site)')) as site
    from previous_findings
    anti join waiting using (finding, reason)
    group by all
)

select
    patient_id,
    finding,
    case
        when p.patient_id is null then 'newly_flagged'
        when c.patient_id is null then 'resolved'
        else 'still_flagged'
    end as status,
    coalesce(c.site, p.site) as site
from current_flags as c
full outer join previous_flags as p using (patient_id, finding)
order by finding, status, patient_id
