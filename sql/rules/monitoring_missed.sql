-- Finding monitoring_missed: a new B12 course in an anaemic patient with no full blood
-- count around 8 weeks to show the anaemia responding.
-- Guideline: "Monitoring Parameters After initiating B12 supplementation:" (the text is
--   cut off there). These defaults come from standard pathways (clinical-reference 3.5:
--   "FBC (Hb, MCV) + reticulocytes ... 8 weeks", NHS Lothian RefHelp), not from the
--   guideline text.
-- Population: a course (sql/derive/07_b12_courses.sql, parenteral or oral) that is new to B12
--   (no B12 of any route in the 180 days before; the extract reaching back that far), in a
--   patient anaemic at the start: a valid haemoglobin collected from
--   $anaemia_window_before_days (30) days before to the start day, both inclusive, below
--   $anaemia_hb_below_g_l_men (130 g/L) for men or $anaemia_hb_below_g_l_women (120 g/L) for
--   women; when sex is unknown, the women's limit ('=v' v < limit; '<x' x <= limit;
--   '<=x' x < limit). The 130/120 g/L limits are tagged [M] (unverified) in clinical-reference
--   3.4; the 6-10 week window is clinical-reference 3.5 item 4 [V: S14].
-- Reason no_fbc_at_8_weeks: no haemoglobin or MCV with a number collected from
--   $fbc_window_from_days (42) to $fbc_window_to_days (70) days after the start (6 to 10
--   weeks), both inclusive. The question is whether the check was done, so a result in a
--   unit not on the list still counts; text such as 'clotted' does not.
-- Evaluable only when the lab data reach the end of that window (start + 70 <=
--   $lab_data_end); the
--   report counts the courses still pending.
-- Grain: one row per course (episode = course number). index_date = the start day.
-- Evidence: the lowest qualifying haemoglobin (ties: latest, then file order) and the
--   course's first dose.
with courses as (
    select c.*, coalesce(
            if(p.sex_group = 'M', $anaemia_hb_below_g_l_men, $anaemia_hb_below_g_l_women),
            $anaemia_hb_below_g_l_women) as hb_limit
    from b12_courses as c
    left join patient_facts as p using (patient_id)
    where c.new_to_b12 and c.lookback_complete
        and c.start_date + $fbc_window_to_days <= $lab_data_end
),

anaemic as (
    select
        c.patient_id, c.course,
        arg_min(h.row_id, (h.value_canonical, -epoch(h.collected_at), h.source_file,
            h.source_line)) as hb_row_id
    from courses as c
    inner join lab_harmonised as h
        on h.patient_id = c.patient_id
        and h.analyte = 'haemoglobin'
        and h.status = 'valid'
        and h.collected_at::date between c.start_date - $anaemia_window_before_days
            and c.start_date
        and ((h.comparator = '=' and h.value_canonical < c.hb_limit)
            or (h.comparator = '<' and h.value_canonical <= c.hb_limit)
            or (h.comparator = '<=' and h.value_canonical < c.hb_limit))
    group by all
)

select
    c.patient_id,
    'monitoring_missed' as finding,
    'no_fbc_at_8_weeks' as reason,
    c.start_date as index_date,
    c.course as episode,
    [a.hb_row_id] as evidence_lab_row_ids,
    [c.start_row_id] as evidence_medication_row_ids,
    []::varchar[] as evidence_diagnosis_row_ids,
    c.site
from courses as c
inner join anaemic as a using (patient_id, course)
where not exists (
    select 1
    from lab_harmonised as f
    where f.patient_id = c.patient_id
        and f.analyte in ('haemoglobin', 'mcv')
        and f.status in ('valid', 'unknown_unit')
        and f.collected_at::date between c.start_date + $fbc_window_from_days
            and c.start_date + $fbc_window_to_days
)
