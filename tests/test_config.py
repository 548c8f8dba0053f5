"""Configuration: the default config validates; unknown keys and bad values fail at start."""
import jsonschema
import pytest
import yaml

from snakemake_helpers import ROOT, scheduled_rules, snakemake, write_config

SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())


def test_default_and_shipped_configs_validate():
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    jsonschema.validate(base, SCHEMA)
    for extra in sorted((ROOT / "config").glob("*.yaml")):
        merged = {**base, **{k: ({**base[k], **v} if isinstance(v, dict) else v) for k, v in yaml.safe_load(extra.read_text()).items()}}
        jsonschema.validate(merged, SCHEMA)


@pytest.mark.parametrize(
    "override, needle",
    [
        ({"qc": {"percentile": [1, 99]}}, "percentile"),  # typo'd key
        ({"unknown_section": 1}, "unknown_section"),
        ({"qc": {"percentiles": [0.1, 140]}}, "140"),
        ({"dataset": "mitbih"}, "mitbih"),
    ],
)
def test_bad_config_fails_at_start_naming_the_key(tmp_path, override, needle):
    cfg = write_config(tmp_path / "bad.yaml", override)
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "validat" in out.lower() and needle in out, out[-3000:]


def test_default_dag_dry_run_lists_every_stage(tmp_path):
    jobs = scheduled_rules(tmp_path)
    for rule in ("synthesize", "clean", "qc_stats", "segment", "folds"):
        assert jobs.get(rule) == 1, jobs
