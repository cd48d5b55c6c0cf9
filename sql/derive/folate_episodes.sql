-- Folate episodes and whether B12 status was settled before each one started.
-- Grain: one row per folate episode. The finding folate_before_b12 is the episodes with a reason.
--
-- Exposure: a medication_classes row administered or dispensed (ordered too only if
--           $count_ordered_events; not_given, held, discontinued and others never), of a
--           class in $folate_scope: 'therapeutic' = folate_therapeutic; 'with_low_dose' adds
--           folate_low_dose (multivitamins, prenatal, B-complex); 'with_low_dose_and_folinic'
--           adds folinic_acid (leucovorin).
-- Episode:  starts at a patient's first exposure, and again at an exposure more than
--           $folate_episode_gap_days (365) days after the previous exposure (calendar dates).
--           F0 = the starting exposure's time (ties at one time: first in file order).
--
-- "At or before F0": when both times carry a time of day, compare timestamps; when either is
-- date-only, compare dates, so the same day counts as known (and as concurrent).
--
-- Compliant when any of (compliance_basis):
--   b12_treatment        B12 treatment (administered or dispensed; never merely ordered) dated
--                        from F0 - $b12_treatment_lookback_days (365) to the end of F0's day,
--                        both edges inclusive (evidence: the latest such dose). When
--                        $same_day_b12_treatment_concurrent is false, a dose on F0's day counts
--                        only if it came at or before F0 (both with times); date-only same-day
--                        doses then do not count;
--   adequate_b12         the latest valid B12 known at F0 is adequate;
--   borderline_mma_normal  it is borderline, with a valid MMA <= 271 nmol/L and none above,
--                        collected -$mma_window_before_days..+$mma_window_after_days around it
--                        and known at or before F0.
-- "Latest valid B12 known at F0": known (resulted_at, else collected_at) at or before F0,
--   collected on or after F0's date - $b12_result_lookback_days (365); the latest by
--   collection time (ties: later known time, then the worse class, then file order).
-- Otherwise the first reason that fits:
--   known_low_untreated  that latest known B12 exists (deficient, borderline or indeterminate);
--   pending              a valid B12 collected at or before F0, within the look-back, known after F0;
--   tested_after         a valid B12 collected after F0, on or before F0's date + $b12_tested_after_days;
--   stale                valid B12s known at F0 exist, all collected before the look-back;
--   never_tested         none of these.
-- Evidence: F0's medication row (+ the treatment row when compliant by treatment); the
-- deciding B12 row (+ the MMA rows that settled a borderline result).
-- Creates: folate_episodes
-- Reads: b12_results, medication_classes, mma_results
create or replace table folate_episodes as
with exposures as (
    select
        row_id, source_file, source_line, patient_id, site, event_at, event_has_time, event_date,
        date_diff('day', lag(event_date) over w, event_date) as days_after_previous
    from medication_classes
    where (event_type in ('administered', 'dispensed')
            or (event_type = 'ordered' and $count_ordered_events))
        and (drug_class = 'folate_therapeutic'
            or (drug_class = 'folate_low_dose'
                and $folate_scope in ('with_low_dose', 'with_low_dose_and_folinic'))
            or (drug_class = 'folinic_acid' and $folate_scope = 'with_low_dose_and_folinic'))
    window w as (partition by patient_id order by event_at, source_file, source_line)
),

episodes as (
    select
        patient_id,
        row_number() over (
            partition by patient_id order by event_at, source_file, source_line
        )::integer as episode,
        row_id as f0_row_id,
        site,
        event_at as f0_at,
        event_has_time as f0_has_time,
        event_date as f0_date
    from exposures
    where days_after_previous is null or days_after_previous > $folate_episode_gap_days
),

treatment as (
    select
        e.patient_id, e.episode,
        arg_max(t.row_id, (t.event_at, t.source_file, t.source_line)) as treatment_row_id
    from episodes as e
    inner join medication_classes as t
        on t.patient_id = e.patient_id
        and t.drug_class = 'b12_treatment'
        and t.event_type in ('administered', 'dispensed')
        and t.event_date between e.f0_date - $b12_treatment_lookback_days and e.f0_date
        and (t.event_date < e.f0_date or $same_day_b12_treatment_concurrent
            or (t.event_has_time and e.f0_has_time and t.event_at <= e.f0_at))
    group by all
),

b12_timed as (
    select
        e.patient_id, e.episode, e.f0_date, b.row_id, b.source_file, b.source_line,
        b.collected_at, b.known_at,
        b.b12_class, b.class_rank, b.collected_at::date as collected_date,
        if(b.known_has_time and e.f0_has_time,
            b.known_at <= e.f0_at, b.known_at::date <= e.f0_date) as known_by_f0,
        if(b.collected_has_time and e.f0_has_time,
            b.collected_at <= e.f0_at, b.collected_at::date <= e.f0_date) as collected_by_f0,
        b.collected_at::date >= e.f0_date - $b12_result_lookback_days as in_lookback
    from episodes as e
    inner join b12_results as b on b.patient_id = e.patient_id
),

latest_known as (
    select *
    from b12_timed
    where known_by_f0 and collected_by_f0 and in_lookback
    qualify row_number() over (
        partition by patient_id, episode
        order by collected_at desc, known_at desc, class_rank, source_file, source_line
    ) = 1
),

mma_settling as (
    select
        l.patient_id, l.episode,
        count(*) filter (where m.mma_class = 'normal') as normal_mmas,
        count(*) filter (where m.mma_class = 'elevated') as elevated_mmas,
        list(m.row_id order by m.collected_at, m.source_file, m.source_line) as mma_row_ids
    from latest_known as l
    inner join episodes as e using (patient_id, episode)
    inner join mma_results as m
        on m.patient_id = l.patient_id
        and m.collected_at::date between l.collected_date - $mma_window_before_days
            and l.collected_date + $mma_window_after_days
        and if(m.known_has_time and e.f0_has_time,
            m.known_at <= e.f0_at, m.known_at::date <= e.f0_date)
    where l.b12_class = 'borderline'
    group by all
),

first_of as (
    select
        patient_id, episode,
        arg_min(row_id, (collected_at, source_file, source_line))
            filter (where collected_by_f0 and in_lookback and not known_by_f0) as pending_row_id,
        arg_min(row_id, (collected_at, source_file, source_line)) filter (
            where not collected_by_f0 and collected_date <= f0_date + $b12_tested_after_days
        ) as tested_after_row_id,
        arg_max(row_id, (collected_at, source_file, source_line))
            filter (where known_by_f0 and collected_by_f0 and not in_lookback) as stale_row_id
    from b12_timed
    group by all
),

decided as (
    select
        e.*,
        t.treatment_row_id,
        l.row_id as latest_b12_row_id,
        l.b12_class as latest_b12_class,
        s.mma_row_ids,
        f.pending_row_id,
        f.tested_after_row_id,
        f.stale_row_id,
        case
            when t.treatment_row_id is not null then 'b12_treatment'
            when l.b12_class = 'adequate' then 'adequate_b12'
            when l.b12_class = 'borderline' and s.normal_mmas > 0 and s.elevated_mmas = 0
                then 'borderline_mma_normal'
        end as compliance_basis
    from episodes as e
    left join treatment as t using (patient_id, episode)
    left join latest_known as l using (patient_id, episode)
    left join mma_settling as s using (patient_id, episode)
    left join first_of as f using (patient_id, episode)
)

select
    patient_id,
    episode,
    site,
    f0_at,
    f0_has_time,
    f0_date,
    compliance_basis,
    case
        when compliance_basis is not null then null
        when latest_b12_row_id is not null then 'known_low_untreated'
        when pending_row_id is not null then 'pending'
        when tested_after_row_id is not null then 'tested_after'
        when stale_row_id is not null then 'stale'
        else 'never_tested'
    end as reason,
    latest_b12_class,
    list_filter([f0_row_id, if(compliance_basis = 'b12_treatment', treatment_row_id, null)],
        lambda x: x is not null) as evidence_medication_row_ids,
    case
        when compliance_basis = 'b12_treatment' then []::varchar[]
        when latest_b12_row_id is not null
            then list_concat([latest_b12_row_id], coalesce(mma_row_ids, []::varchar[]))
        when pending_row_id is not null then [pending_row_id]
        when tested_after_row_id is not null then [tested_after_row_id]
        when stale_row_id is not null then [stale_row_id]
        else []::varchar[]
    end as evidence_lab_row_ids
from decided
order by patient_id, episode
