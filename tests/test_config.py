"""The audit configuration: defaults, and a bad file stops the run naming the key."""

from __future__ import annotations

import datetime as dt

import pytest

from flows.cli import main
from transforms.config import AuditConfig, ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return path


def test_no_file_means_the_guideline_defaults():
    config = load_config(None)
    assert (config.b12_deficient_below_pg_ml, config.b12_adequate_above_pg_ml) == (180, 350)
    assert config.mma_elevated_above_nmol_l == 271
    assert (config.mma_window_before_days, config.mma_window_after_days) == (30, 90)
    assert config.count_ordered_events is False
    assert config.suppress_counts_up_to == 7


def test_a_file_sets_values_and_maps_local_codes(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
        b12_deficient_below_pg_ml = 200
        as_of_date = 2025-12-31
        count_ordered_events = true
        [local_test_codes]
        LOCB12 = "2132-9"
    """,
        )
    )
    assert config.b12_deficient_below_pg_ml == 200.0
    assert config.as_of_date == dt.date(2025, 12, 31)
    assert config.count_ordered_events is True
    assert config.local_test_codes == {"LOCB12": "2132-9"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("b12_deficent_below_pg_ml = 180", "unknown key 'b12_deficent_below_pg_ml'"),
        ("mma_window_after_days = -1", "mma_window_after_days must be >= 0, got -1"),
        ("mma_window_after_days = 9.5", "mma_window_after_days must be a whole number"),
        ("count_ordered_events = 1", "count_ordered_events must be true or false"),
        ('b12_adequate_above_pg_ml = "350"', "b12_adequate_above_pg_ml must be a finite number"),
        ("max_quarantine_fraction = 2", "max_quarantine_fraction must be <= 1"),
        ('as_of_date = "last week"', "as_of_date must be a TOML date"),
        ("b12_adequate_above_pg_ml = 100", "must not be above b12_adequate_above_pg_ml"),
        ("[local_test_codes]\nX = 1", "local_test_codes must be a table"),
        (
            'b12_unit_policy = "native"',
            "b12_unit_policy must be one of canonical, unit_native; got 'native'",
        ),
        (
            "folate_scope = true",
            "folate_scope must be one of therapeutic, with_low_dose, with_low_dose_and_folinic",
        ),
        (
            'lifelong_when_cause_unknown = "yes"',
            "lifelong_when_cause_unknown must be true or false",
        ),
        ("neuro_window_before_days = -180", "neuro_window_before_days must be >= 0, got -180"),
        ("maintenance_grace_days = -1", "maintenance_grace_days must be >= 0"),
        ("maintenance_interval_days = 0", "maintenance_interval_days must be >= 1"),
        ("b12_adequate_above_pg_ml = nan", "b12_adequate_above_pg_ml must be a finite number"),
        ("mma_elevated_above_nmol_l = inf", "mma_elevated_above_nmol_l must be a finite number"),
        ("max_quarantine_fraction = nan", "max_quarantine_fraction must be a finite number"),
        ("suppress_counts_up_to = 0", "suppress_counts_up_to must be >= 1"),
        ("b12_antidote_dose_at_least_mg = 1", "b12_antidote_dose_at_least_mg must be >= 5.001"),
        ("neuro_loading_max_gap_days = 0", "neuro_loading_max_gap_days must be >= 1"),
        ("maintenance_interval_days = 183", "course_washout_days (180) must be above the longest"),
        (
            "b12_deficient_below_pmol_l = 400",
            "b12_deficient_below_pmol_l (400.0 pmol/L = 542.1 pg/mL) must not be above",
        ),
        (
            "fbc_window_from_days = 80",
            "fbc_window_from_days (80) must not be above fbc_window_to_days",
        ),
        ("loading_min_doses = 16", "loading_min_doses (16) cannot fit in loading_window_days (15)"),
        (
            "anaemia_hb_below_g_l_women = 140",
            "anaemia_hb_below_g_l_women (140.0) must not be above anaemia_hb_below_g_l_men",
        ),
        ("this is not toml", "not valid TOML"),
        ('disclosure_policy = "exact"', "disclosure_policy must be one of round, suppress"),
        ('spc_chart = "c"', "spc_chart must be one of auto, xmr, p, laney"),
        ("[measure_targets]\nfolate_before_b12 = 5", "measure_targets.folate_before_b12 must"),
        ("[spc_phases]\nfolate_before_b12 = 2025-06-01", "spc_phases.folate_before_b12 must"),
        ('[spc_phases]\nfolate_before_b12 = ["2025-06"]', "a list of TOML dates"),
        ('vocabulary_dir = "/no/such/folder"', "vocabulary_dir: /no/such/folder is not a folder"),
        ("vocabulary_dir = 3", "vocabulary_dir must be the path of a folder"),
        ('engine = "polars"', "engine must be one of duckdb, spark"),
        ('spark_master = ""', "spark_master must be text"),
        ('[spark]\n"spark.executor.memory" = [8]', "spark must be a table of Spark settings"),
    ],
)
def test_a_bad_configuration_names_the_key_and_what_is_allowed(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(write(tmp_path, text))


def test_the_command_stops_on_a_bad_configuration_before_reading_data(tmp_path, capsys):
    bad = write(tmp_path, "mma_window_after_days = -1")
    # The input folder does not even exist: the configuration is checked first.
    assert main(["run", str(tmp_path / "missing"), "--config", str(bad)]) == 2
    assert "configuration error" in capsys.readouterr().err


def test_spark_settings_are_kept_as_text_and_shown_by_key_only(tmp_path):
    config = load_config(
        write(
            tmp_path,
            'engine = "spark"\nspark_master = "yarn"\n[spark]\n'
            '"spark.executor.instances" = 20\n"spark.hadoop.fs.s3a.secret.key" = "s3cr3t"',
        )
    )
    assert config.spark == {
        "spark.executor.instances": "20",
        "spark.hadoop.fs.s3a.secret.key": "s3cr3t",
    }
    shown = {r["key"]: r["value"] for r in config.as_records()}
    assert shown["spark"] == "spark.executor.instances, spark.hadoop.fs.s3a.secret.key"
    assert "s3cr3t" not in str(config.as_records())
    assert "spark" not in config.sql_params()


def test_a_schedule_on_spark_is_refused_before_anything_starts(tmp_path, capsys):
    config = write(tmp_path, 'engine = "spark"')
    (tmp_path / "drop").mkdir()
    assert main(["schedule", str(tmp_path / "drop"), "--config", str(config)]) == 2
    assert "engine = spark runs one-off audits" in capsys.readouterr().err


def test_a_spark_run_of_a_missing_local_folder_stops_before_spark_starts(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing"), "--engine", "spark"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_the_command_stops_on_a_missing_input_folder(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_targets_and_phases_are_kept_and_must_name_findings(tmp_path):
    from transforms.operations.sequence import Run

    text = "[measure_targets]\nfolate_before_b12 = 0.05\n[spc_phases]\nanaemia = [2025-06-01]\n"
    config = load_config(write(tmp_path, text))
    assert config.measure_targets == {"folate_before_b12": 0.05}
    assert config.spc_phases == {"anaemia": [dt.date(2025, 6, 1)]}
    typo = load_config(write(tmp_path, "[measure_targets]\nfolate_before_b13 = 0.05\n"))
    with pytest.raises(ConfigError, match="measure_targets: 'folate_before_b13' is not a finding"):
        Run(tmp_path, tmp_path / "out", typo)


def test_a_vocabulary_folder_needs_concept_and_concept_ancestor(tmp_path):
    folder = tmp_path / "athena"
    folder.mkdir()
    (folder / "CONCEPT.csv").write_text("concept_id\n")
    text = f'vocabulary_dir = "{folder}"\n'
    with pytest.raises(ConfigError, match="has no CONCEPT_ANCESTOR.csv or .parquet"):
        load_config(write(tmp_path, text))
    (folder / "concept_ancestor.parquet").write_bytes(b"")
    config = load_config(write(tmp_path, text))
    assert config.vocabulary_dir == str(folder.resolve())
    shown = {r["key"]: r["value"] for r in config.as_records()}
    assert shown["vocabulary_dir"] == "athena"  # the folder's name only, never its path


def test_the_guideline_switch_defaults():
    config = load_config(None)
    assert config.b12_unit_policy == "canonical"
    assert config.folate_scope == "therapeutic"
    assert config.same_day_b12_treatment_concurrent is True
    assert config.lifelong_when_cause_unknown is True
    assert config.neuro_include_dementia is False
    assert (config.maintenance_interval_days, config.maintenance_interval_neuro_days) == (91, 61)
    assert config.maintenance_grace_days == 30


def test_every_switch_has_an_alternative_for_the_sensitivity_table():
    from transforms.config import SWITCHES, flipped

    for switch in SWITCHES:
        alternatives = flipped(AuditConfig(), switch)
        assert alternatives, switch
        assert all(getattr(a, switch) != getattr(AuditConfig(), switch) for a in alternatives)


def test_the_molar_factor_in_the_checks_is_the_one_conversions_use():
    import csv

    from transforms.config import PG_ML_PER_PMOL_L
    from transforms.sqlfiles import sql_dir

    with (sql_dir() / "reference" / "unit_conversions.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if (r["analyte"], r["unit"]) == ("b12", "pmol/l")]
    assert [float(r["factor"]) for r in rows] == [PG_ML_PER_PMOL_L]


def test_every_setting_records_its_source():
    assert all(record["source"] for record in AuditConfig().as_records())
