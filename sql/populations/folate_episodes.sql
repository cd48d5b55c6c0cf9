-- Population folate_episodes: every folate episode (sql/derive/folate_episodes.sql). Each is
-- judged on what was known at its first dose, so every one is evaluable.
-- Grain: one row per episode. unit_date: the episode's first folate date (F0); site: its
-- first dose's. Its windows end at the medication data end.
-- Label: folate episodes
-- Reads: folate_episodes
select
    patient_id,
    episode,
    f0_date as unit_date,
    site,
    'evaluable' as status,
    $medication_data_end as data_end
from folate_episodes
