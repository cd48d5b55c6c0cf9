-- Formatting helpers for the worklist's plain-words evidence (sql/report/worklist.sql).
-- Temporary macros: they live for the connection that builds the worklist only, so the
-- analysts' database holds no macro a DuckDB 1.x tool might fail to read.
-- plain_number(x): at most two decimals, trailing zeros dropped (176.1981 -> '176.2',
--   180.0 -> '180'). Two decimals keep a value from rounding onto a limit it is below
--   (179.996 would be the first to show as '180', and no assay reports that finely).
-- measured(comparator, value, unit): '<150 pg/mL'; the comparator '=' is not shown.
create or replace temp macro plain_number(x) as
    rtrim(rtrim(printf('%.2f', round(x, 2)), '0'), '.');

create or replace temp macro measured(comparator, x, unit) as
    if(comparator = '=', '', comparator) || plain_number(x) || ' ' || unit;
