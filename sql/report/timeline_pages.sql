-- The patient timeline pages: one offline HTML page per patient on the worklist, built here
-- in one pass (transforms/outputs/timeline.py writes each to patient_level/timelines/).
-- Grain: one row per patient on the worklist in batch $bucket (timeline_items.bucket: the
--   pages are built a batch at a time, so memory stays bounded however long the worklist):
--   timeline (the page's path under patient_level/, worklist_items.timeline) and html.
-- A page holds: the patient's worklist items, numbered in priority order (finding, reason,
--   state, index date, window, action, evidence, what showed it was acted on); an SVG time
--   axis with one lane per kind of row (sql/report/patient_timeline.sql: B12, MMA,
--   homocysteine, Hb, MCV, folate, B12 treatment, diagnoses), each finding's window
--   (worklist_items.window_from .. window_to) shaded and numbered, the rows that decided a
--   finding (its evidence ids) in red and the row that showed its action happened
--   (acted_row_id) in green; and a table of every row with the items it decided or acted on.
-- The axis runs from 15 days before the first row or window to 15 days after the last;
--   x = $left + ($width - $left - 10) * days from its start / its length in days. Ticks on
--   the first of each month (of each quarter when it spans over 400 days).
-- Text from the extract (drug names, codes, patient ids) is escaped (html_text).
-- Reads: audit_scope, timeline_events, timeline_items
with items as (
    select * from timeline_items where bucket = $bucket
),

events as (
    select * from timeline_events where bucket = $bucket
),

decided as (
    select patient_id, row_id, string_agg(n::varchar, ', ' order by n) as numbers
    from (select patient_id, n, unnest(decided) as row_id from items)
    group by all
),

acted as (
    select patient_id, acted_row_id as row_id, string_agg(n::varchar, ', ' order by n) as numbers
    from items
    where acted_row_id is not null
    group by all
),

bounds as (
    select
        patient_id,
        min(day) - 15 as first_day,
        max(day) + 15 as last_day,
        greatest(date_diff('day', min(day) - 15, max(day) + 15), 1) as span
    from (
        select patient_id, day from events
        union all
        select patient_id, window_from from items
        union all
        select patient_id, window_to from items
    )
    where day is not null
    group by patient_id
),

points as (
    select
        e.patient_id,
        string_agg(
            '<circle cx="' || x || '" cy="' || y || '" r="' || if(mark = '', 4, 6)
            || '" fill="' || case mark when 'decided' then '#c0392b' when 'acted' then '#1e8449'
                else '#5d6d7e' end
            || '"><title>' || html_text(e.day || ' ' || e.item || ' ' || e.value_text || ' ('
                || e.row_id || ')')
            || '</title></circle>'
            || if(mark <> '' and e.value_text <> '', '<text x="' || (x + 7) || '" y="'
                || (y - 6) || '">' || html_text(e.value_text) || '</text>', ''),
            '' order by e.event_at, e.row_id
        ) as svg,
        string_agg(
            '<tr><td>' || e.day || '</td><td>' || e.lane || '</td><td>' || html_text(e.item)
            || '</td><td>' || html_text(e.value_text) || '</td><td>' || html_text(e.detail)
            || '</td><td>' || html_text(e.row_id) || '</td><td>' || coalesce(d.numbers, '')
            || '</td><td>' || coalesce(a.numbers, '') || '</td></tr>',
            '' order by e.event_at, e.row_id
        ) as rows_html
    from (
        select
            e.*,
            round($left + ($width - $left - 10) * date_diff('day', b.first_day, e.day)
                / b.span, 1) as x,
            $top + $lane * e.lane_number + $lane / 2 as y
        from events as e
        inner join bounds as b using (patient_id)
    ) as e
    left join decided as d using (patient_id, row_id)
    left join acted as a using (patient_id, row_id)
    cross join lateral (
        select case
            when d.row_id is not null then 'decided'
            when a.row_id is not null then 'acted'
            else ''
        end as mark
    )
    group by e.patient_id
),

windows as (
    select
        i.patient_id,
        string_agg(
            '<tr><td>' || i.n || '</td><td>' || html_text(i.label) || '</td><td>'
            || html_text(i.reason) || '</td><td>' || i.state || '</td><td>' || i.index_date
            || '</td><td>' || coalesce(i.window_from || ' to ' || i.window_to, '') || '</td><td>'
            || html_text(i.action) || '</td><td>' || html_text(i.evidence) || '</td><td>'
            || html_text(i.acted_evidence) || '</td></tr>',
            '' order by i.n
        ) as items_html,
        string_agg(
            '<rect x="' || x1 || '" y="' || ($top - 14) || '" width="' || greatest(x2 - x1, 2)
            || '" height="' || ($height - $top + 4) || '" fill="'
            || $colours[(i.n - 1) % len($colours) + 1] || '" opacity="0.35"><title>'
            || html_text(i.label) || ': ' || i.window_from || ' to ' || i.window_to
            || '</title></rect><text x="' || (x1 + 2) || '" y="' || ($top - 4) || '">#' || i.n
            || '</text>',
            '' order by i.n
        ) as windows_svg
    from (
        select
            i.*,
            round($left + ($width - $left - 10) * date_diff('day', b.first_day, i.window_from)
                / b.span, 1) as x1,
            round($left + ($width - $left - 10) * date_diff('day', b.first_day, i.window_to)
                / b.span, 1) as x2
        from items as i
        inner join bounds as b using (patient_id)
    ) as i
    group by i.patient_id
),

ticks as (
    select
        b.patient_id,
        string_agg(
            '<line x1="' || x || '" x2="' || x || '" y1="' || ($top - 18) || '" y2="' || $height
            || '" stroke="#eee"/><text x="' || (x + 2) || '" y="12">' || strftime(month, '%Y-%m')
            || '</text>',
            '' order by month
        ) as axis_svg
    from bounds as b
    cross join lateral (
        select
            unnest(range(date_trunc('month', b.first_day), b.last_day + 1, interval 1 month))::date
                as month
    ) as m
    cross join lateral (
        select round($left + ($width - $left - 10) * date_diff('day', b.first_day, m.month)
            / b.span, 1) as x
    )
    where m.month >= b.first_day
        and (month(m.month) - 1) % if(b.span > 400, 3, 1) = 0
    group by b.patient_id
)

select
    p.timeline,
    $page_start || '<h1>Patient ' || html_text(p.patient_id) || ': timeline</h1>'
    || '<p class=warn>This page identifies a patient: keep it within the care team '
    || '(patient_level/). Data end of this run: ' || coalesce(s.data_end::varchar, 'unknown')
    || '.</p><h2>Worklist items</h2><table><tr><th>#</th><th>finding</th><th>reason</th>'
    || '<th>state</th><th>index date</th><th>window</th><th>action</th><th>evidence</th>'
    || '<th>acted</th></tr>' || w.items_html || '</table><h2>On one time axis</h2>'
    || '<svg width="' || $width || '" height="' || $height || '" role="img" '
    || 'aria-label="timeline">' || w.windows_svg || coalesce(t.axis_svg, '') || $lanes_svg
    || coalesce(e.svg, '') || '</svg><p>Red: the rows that decided a finding; green: the '
    || 'later row showing its action happened; shaded: each finding''s window, numbered as '
    || 'above.</p><h2>Every row</h2><table><tr><th>date</th><th>lane</th><th>what</th>'
    || '<th>value</th><th>detail</th><th>row</th><th>decided #</th><th>acted on #</th></tr>'
    || coalesce(e.rows_html, '') || '</table>' as html
from (select patient_id, any_value(timeline) as timeline from items group by all) as p
cross join audit_scope as s
inner join windows as w using (patient_id)
left join ticks as t using (patient_id)
left join points as e using (patient_id)
