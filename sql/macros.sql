-- Shared SQL fragments, defined once. Every connection to the build database defines them
-- (transforms/database.py) as temporary macros: they live with the connection only, so the
-- analysts' database holds no macro a DuckDB 1.x tool might fail to read.
--
-- Censored results: a lab result is a comparator ('=', '<', '<=', '>', '>=') and a number
-- (sql/derive/lab_harmonised.sql). A result is on one side of a limit only when every value
-- it allows is:
--   result_below(c, v, limit)        '=v' v < limit;  '<v' v <= limit; '<=v' v < limit
--   result_at_or_below(c, v, limit)  '=v', '<v' or '<=v' with v <= limit
--   result_above(c, v, limit)        '=v' v > limit;  '>v' v >= limit; '>=v' v > limit
--   result_at_or_above(c, v, limit)  '=v', '>v' or '>=v' with v >= limit
-- Anything else ('<200' against a limit of 180) is on neither side: rules call it
-- indeterminate or leave it out, and say which in their headers.
create or replace temp macro result_below(comparator, value, limit_value) as
    (comparator = '=' and value < limit_value)
    or (comparator = '<' and value <= limit_value)
    or (comparator = '<=' and value < limit_value);

create or replace temp macro result_at_or_below(comparator, value, limit_value) as
    comparator in ('=', '<', '<=') and value <= limit_value;

create or replace temp macro result_above(comparator, value, limit_value) as
    (comparator = '=' and value > limit_value)
    or (comparator = '>' and value >= limit_value)
    or (comparator = '>=' and value > limit_value);

create or replace temp macro result_at_or_above(comparator, value, limit_value) as
    comparator in ('=', '>', '>=') and value >= limit_value;

-- Evidence ids in a CSV cell: 'file:line;file:line', empty when there are none.
create or replace temp macro evidence_text(row_ids) as
    nullif(array_to_string(row_ids, ';'), '');

-- Numbers in plain words (the worklist's evidence):
-- plain_number(x): at most two decimals, trailing zeros dropped (176.1981 -> '176.2',
--   180.0 -> '180'). Two decimals keep a value from rounding onto a limit it is below
--   (179.996 would be the first to show as '180', and no assay reports that finely).
-- measured(comparator, value, unit): '<150 pg/mL'; the comparator '=' is not shown.
create or replace temp macro plain_number(x) as
    rtrim(rtrim(printf('%.2f', round(x, 2)), '0'), '.');

create or replace temp macro measured(comparator, x, unit) as
    if(comparator = '=', '', comparator) || plain_number(x) || ' ' || unit;

-- Text in an HTML page (the patient timelines): & < > " and ' escaped, NULL as ''.
create or replace temp macro html_text(x) as
    replace(replace(replace(replace(replace(coalesce(x::varchar, ''),
        '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#x27;');

-- A validated ISO date or date-time (schemas/canonical.py) as a TIMESTAMP: the local time as
-- written. An offset after the time (Z, +01:00, -0500, +01) is dropped, not applied: a B12
-- drawn at 23:30-05:00 was drawn that evening, on that day, where the patient was (a
-- conversion to UTC would move it to the next day). Fractions past microseconds are cut.
create or replace temp macro local_time(text) as cast(
    case
        -- The common case, a date or a date-time with no offset and at most microseconds,
        -- casts as it is: the regular expression below costs the load about a third.
        when length(trim(text)) <= 26 and not contains(trim(text), 'Z')
            and not contains(trim(text), '+') and not contains(substr(trim(text), 11), '-')
            then trim(text)
        else regexp_replace(
            trim(text),
            '^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\d*(?:Z|[+-]\d{2}(?::?\d{2})?)?$',
            '\1'
        )
    end as timestamp
);

-- An identifier as a reader sees it: Unicode NFC (an accent composed or not is one
-- letter), the invisible characters removed (zero-width space, non-joiner, joiner, word
-- joiner, byte order mark, soft hyphen: schemas/canonical.py INVISIBLE), spaces trimmed.
-- ASCII text (as many bytes as characters) has nothing to normalise or remove.
create or replace temp macro clean_id(x) as
    case
        when strlen(x) = length(x) then trim(x)
        else trim(regexp_replace(nfc_normalize(x), '[\x{200B}\x{200C}\x{200D}\x{2060}\x{FEFF}\x{00AD}]', '', 'g'))
    end;
