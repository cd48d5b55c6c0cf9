-- The worklist's phrases: for each open finding, its evidence rows and the thresholds in
-- plain words, from which each finding's registry entry words its evidence
-- (sql/rules/<finding>.toml `evidence`, assembled by transforms/outputs/worklist.py into
-- table worklist_items). Patient-level; never a shareable output.
-- Grain: one row per open finding (patient, finding, and its unit: folate episode, B12 course
--   or confirming result); a unit with several rows (a course's lapses) shows its latest.
-- Open findings: a unit of the finding's population whose outcome is 'flagged', or
--   'pending' (its finding still waiting on its window: sql/report/populations.sql), with a
--   reason the registry gives a severity and action (finding_reasons): care gaps only,
--   never a status or a descriptive tag.
-- item_id: md5 of finding, patient and the unit's date (empty for a patient unit), with a
--   number for two units of one patient on one day; its first 12 hex digits.
-- data_end (for days open): the data end the finding's population judges windows against:
--   the medication data end for folate episodes, loading and maintenance courses, else the
--   lab data end. Both are as_of_date when it is set.
-- Phrases (columns a registry `evidence` expression may use): lab1, lab2 (the first and
--   second evidence lab rows as 'B12 150 pg/mL on 2024-03-01'), lab1_date, lab1_known,
--   lab1_amount, lab1_class (a B12's class in words), labs_listed, more_labs; drug,
--   med1_date, med1_event, med1_class, med2_date, meds_listed, injection_days; codes,
--   neuro_codes; folate_start, untreated, valid; neuro_loading_max_gap, hb_limit,
--   confirmed_known (a confirming result's known date: sql/derive/confirmed_deficiencies.sql),
--   oral_dose_mcg (an oral course's first dose in mcg: sql/derive/oral_courses.sql),
--   medication_data_end; and every findings column (reason, index_date, episode ...).
-- Evidence words: the evidence rows (evidence_*_row_ids, by position: each rule's header
--   says what it lists first) and the thresholds bound as $parameters:
--   B12 $b12_deficient_below_pg_ml (180) and $b12_adequate_above_pg_ml (350) pg/mL, or
--   $b12_deficient_below_pmol_l (150) pmol/L under the unit_native policy; MMA above
--   $mma_elevated_above_nmol_l (271) nmol/L; windows in days ($mma_window_*,
--   $metabolite_window_*, $fbc_window_*, $b12_treatment_lookback_days,
--   $b12_result_lookback_days, $b12_tested_after_days, loading windows and minimum doses,
--   $maintenance_grace_days; the treatment window ends on F0's day when
--   $same_day_b12_treatment_concurrent, else before F0); Hb below
--   $anaemia_hb_below_g_l_men (130) g/L for men and $anaemia_hb_below_g_l_women (120) g/L
--   otherwise. Lab values are shown in the canonical
--   unit with their comparator ('<150 pg/mL'), and as reported when a unit was converted;
--   dates are ISO; windows are both edges inclusive, as in the rules. Where a finding lists
--   several MMAs or codes, the first is shown and the others are counted ('and 2 more').
-- Every sentence is exactly what the rule checked, so a "no ..." names only what the rule
--   looks at: 'valid off-treatment' B12, MMA or homocysteine = a number with a known unit,
--   not collected on B12 treatment (b12_results, mma_results; the rules ignore the rest);
--   an Hb or MCV 'with a value' = a number, any unit ('clotted' does not count); an
--   'injection' = a parenteral B12 dose day (b12_doses: administered or dispensed); 'B12
--   treatment administered or dispensed' = any route, never merely ordered. Windows are
--   the rule's own (the MMA window around the B12, the look-back before folic acid), and
--   "first" of a folate episode after the first is "the first in over N days".
-- Missing data: a drug with no name is shown by its code. Every open finding has the
--   evidence rows its text reads; transforms/outputs/worklist.py stops the run if any text
--   is missing.
-- Creates: worklist_phrases
-- Reads: audit_scope, b12_courses, b12_results, confirmed_deficiencies, diagnoses
-- Reads: finding_definitions
-- Reads: finding_reasons, findings, lab_harmonised, medication_classes, oral_courses
-- Reads: patient_facts
-- Reads: populations
create or replace temp table worklist_phrases as
with item_ids as (
    -- The item's id: its finding, patient and unit (by the unit's date: a course's start,
    -- an episode's first dose, a result's collection; a patient unit has none), so it stays
    -- the same across runs while the unit does.
    select
        p.finding, p.patient_id, p.episode,
        left(md5(concat_ws('|', p.finding, p.patient_id,
            if(d.unit = 'patient', '', p.unit_date::varchar),
            row_number() over (
                partition by p.finding, p.patient_id, if(d.unit = 'patient', null, p.unit_date)
                order by p.episode
            ))), 12) as item_id
    from populations as p
    inner join finding_definitions as d using (finding)
    where d.kind = 'care_gap'
),

open_findings as (
    select
        f.*, d.unit, r.severity, r.severity_rank, r.action, r.window_open, p.data_end,
        i.item_id
    from findings as f
    inner join populations as p
        on p.finding = f.finding and p.patient_id = f.patient_id
        and p.episode is not distinct from f.episode
    inner join finding_reasons as r
        on r.finding = f.finding and r.reason is not distinct from f.reason
    inner join finding_definitions as d on d.finding = f.finding
    inner join item_ids as i
        on i.finding = f.finding and i.patient_id = f.patient_id
        and i.episode is not distinct from f.episode
    where p.outcome in ('flagged', 'pending') and p.status = 'evaluable'
        and r.action is not null
    -- A unit with several rows (a course that lapsed twice) is one item: its latest row.
    qualify row_number() over (
        partition by f.finding, f.patient_id, f.episode order by f.index_date desc, f.reason
    ) = 1
),

-- Only the evidence rows are looked up (a few per finding), never whole tables.
lab_ids as (select distinct unnest(evidence_lab_row_ids) as row_id from open_findings),

med_ids as (select distinct unnest(evidence_medication_row_ids) as row_id from open_findings),

dx_ids as (select distinct unnest(evidence_diagnosis_row_ids) as row_id from open_findings),

limits as (
    select
        plain_number($b12_deficient_below_pg_ml) || ' pg/mL' as deficient_pg,
        plain_number($b12_deficient_below_pmol_l) || ' pmol/L' as deficient_pmol,
        plain_number($b12_adequate_above_pg_ml) || ' pg/mL' as adequate_pg
),

labs as (
    select
        l.row_id,
        l.collected_at::date as collected_date,
        l.known_at::date as known_date,
        case l.analyte
            when 'b12' then 'B12' when 'mma' then 'MMA' when 'haemoglobin' then 'Hb'
            when 'mcv' then 'MCV' else l.analyte
        end as test,
        measured(l.comparator, l.value_canonical, l.canonical_unit)
            || if(l.unit_factor <> 1,
                ' (' || measured(l.comparator, l.value_as_reported, l.unit_as_reported)
                || ' as reported)', '') as amount,
        -- Under unit_native a molar B12 has its own limit (150 pmol/L as reported).
        if(b.deficient_below_pg_ml = $b12_deficient_below_pg_ml, 'pg', 'pmol') as limit_unit,
        b.b12_class
    from lab_harmonised as l
    left join b12_results as b using (row_id)
    where l.row_id in (select row_id from lab_ids)
),

worded_labs as (
    select
        l.row_id,
        l.collected_date,
        l.known_date,
        l.test,
        l.amount,
        l.test || ' ' || l.amount || ' on ' || l.collected_date as reading,
        case l.b12_class
            when 'deficient' then 'deficient: below '
                || if(l.limit_unit = 'pg', x.deficient_pg, x.deficient_pmol)
            when 'borderline' then 'borderline: '
                || if(l.limit_unit = 'pg',
                    plain_number($b12_deficient_below_pg_ml) || '-' || x.adequate_pg,
                    x.deficient_pmol || ' to ' || x.adequate_pg)
            when 'adequate' then 'adequate: above ' || x.adequate_pg
            else l.b12_class
        end as b12_class_words
    from labs as l
    cross join limits as x
),

meds as (
    select
        row_id,
        event_date,
        event_type,
        drug_class,
        coalesce(drug_name, 'code ' || drug_code, 'a drug with no name or code') as drug
    from medication_classes
    where row_id in (select row_id from med_ids)
),

dx as (
    select row_id, code, recorded_at::date as recorded_date
    from diagnoses
    where row_id in (select row_id from dx_ids)
),

-- The evidence rows joined in three steps, each materialised: as one step, its ten hash
-- tables had to be in memory at once, which failed at 100M lab rows (with 2 GB).
with_labs as materialized (
    select
        o.*,
        l1.reading as lab1, l1.collected_date as lab1_date, l1.known_date as lab1_known,
        l1.amount as lab1_amount, l1.b12_class_words as lab1_class,
        l2.reading as lab2,
        len(o.evidence_lab_row_ids) as labs_listed
    from open_findings as o
    left join worded_labs as l1 on l1.row_id = o.evidence_lab_row_ids[1]
    left join worded_labs as l2 on l2.row_id = o.evidence_lab_row_ids[2]
),

with_events as materialized (
    select
        o.*,
        m1.drug, m1.event_date as med1_date, m1.event_type as med1_event,
        m1.drug_class as med1_class, m2.event_date as med2_date,
        d1.code || ' recorded ' || d1.recorded_date
            || if(len(o.evidence_diagnosis_row_ids) > 1,
                ' and ' || (len(o.evidence_diagnosis_row_ids) - 1) || ' more', '') as codes,
        len(o.evidence_medication_row_ids) as meds_listed
    from with_labs as o
    left join meds as m1 on m1.row_id = o.evidence_medication_row_ids[1]
    left join meds as m2 on m2.row_id = o.evidence_medication_row_ids[2]
    left join dx as d1 on d1.row_id = o.evidence_diagnosis_row_ids[1]
),

joined as (
    select
        o.*,
        s.medication_data_end,
        c.neuro_loading_max_gap,
        k.known_date as confirmed_known,
        oc.dose_mcg as oral_dose_mcg,
        if(p.sex_group = 'M', $anaemia_hb_below_g_l_men, $anaemia_hb_below_g_l_women)
            as hb_limit
    from with_events as o
    cross join audit_scope as s
    left join b12_courses as c
        on o.unit = 'b12_course' and c.patient_id = o.patient_id and c.course = o.episode
    left join confirmed_deficiencies as k
        on o.unit = 'b12_result' and k.patient_id = o.patient_id and k.result = o.episode
    left join oral_courses as oc
        on o.unit = 'b12_course' and oc.patient_id = o.patient_id and oc.course = o.episode
    left join patient_facts as p on p.patient_id = o.patient_id
),

-- Phrases more than one finding uses.
phrased as (
    select
        *,
        ' and ' || (labs_listed - 2) || ' more' as more_labs,
        'neurological code ' || codes as neuro_codes,
        meds_listed || if(meds_listed = 1, ' injection day', ' injection days')
            as injection_days,
        case med1_class
            when 'folate_therapeutic' then 'folic acid'
            when 'folate_low_dose' then 'low-dose folic acid'
            when 'folinic_acid' then 'folinic acid'
        end || ' (' || drug || ') '
            || if(episode = 1, 'first ' || med1_event || ' ' || med1_date,
                med1_event || ' ' || med1_date || ', the first in over '
                || $folate_episode_gap_days || ' days') as folate_start,
        -- Not concurrent: a same-day dose counts only when both times show it came first.
        '; no B12 treatment administered or dispensed from '
            || (index_date - $b12_treatment_lookback_days)
            || if($same_day_b12_treatment_concurrent, ' to ' || index_date,
                ' to ' || (index_date - 1) || ' or timed at or before it on ' || index_date)
            as untreated,
        ' valid off-treatment ' as valid
    from joined
)

select * from phrased
