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
        ({"clean": {"filter_form": "zpk"}}, "zpk"),
        ({"qc": {"max_bad_leads": 12}}, "max_bad_leads"),
        ({"dataset": "mitbih"}, "mitbih"),
    ],
)
def test_bad_config_fails_at_start_naming_the_key(tmp_path, override, needle):
    cfg = write_config(tmp_path / "bad.yaml", override)
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "validat" in out.lower() and needle in out, out[-3000:]


@pytest.mark.parametrize(
    "section, key, bad",
    [
        ("clean", "filter_form", "zpk"),
        ("clean", "median_edges", "mirror"),
        ("qc", "statistic", "range"),
        ("qc", "max_bad_leads", 12),
        ("qc", "max_bad_leads", -1),
        ("qc", "max_bad_leads", 1.5),
    ],
)
def test_schema_rejects_a_bad_value_or_absence_of_each_cleaning_and_qc_choice(section, key, bad):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate({**base, section: {**base[section], key: bad}}, SCHEMA)
    assert list(info.value.absolute_path) == [section, key]
    with pytest.raises(jsonschema.ValidationError, match=f"'{key}' is a required property"):
        jsonschema.validate({**base, section: {k: v for k, v in base[section].items() if k != key}}, SCHEMA)


def test_default_dag_dry_run_lists_every_stage(tmp_path):
    jobs = scheduled_rules(tmp_path)
    for rule in ("synthesize", "clean", "qc_stats", "segment", "folds"):
        assert jobs.get(rule) == 1, jobs


PAPER = yaml.safe_load((ROOT / "config.yaml").read_text())["tasks"]["paper"]


@pytest.mark.parametrize(
    "override, line",
    [
        ({"tasks": {"paper": {"methods": ["GL", "Cx"]}}}, "config: tasks.paper.methods: unknown method 'Cx'"),
        ({"run_tasks": ["paper", "lead_ii"]}, "config: run_tasks: unknown task 'lead_ii'"),
        ({"tasks": {"paper": {"corruption": "noise"}}}, "config: tasks.paper.methods: Ch does not support corruption 'noise'"),
        (
            {"tasks": {"paper": {"targets": ["V1", "V2"]}}},
            "config: tasks.paper.targets: ['V2'] also in tasks.paper.inputs (an input lead is a target only in a denoising task",
        ),
        (
            {"tasks": {"paper_noisy": {"noise": {"kind": "em", "levels": [12, "loud"]}}}},
            "config: tasks.paper_noisy.noise.levels: 'loud' is not an SNR in dB (a number) or 'bedin'",
        ),
        ({"tasks": {"paper_noisy": {"noise": {"kind": "pl", "levels": [0]}}}}, "'pl' is not one of ['bw', 'em', 'ma']"),
        ({"tasks": {"paper_noisy": {"clean_models": "lead_i"}}}, "config: tasks.paper_noisy.clean_models: 'lead_i' must be a task"),
        ({"noise": {"source": "nstdb", "nstdb_dir": "no/such/dir"}}, "config: noise.source nstdb: "),
        ({"tasks": {"paper": {"targets": []}}}, "config: tasks.paper.targets is empty"),
        (
            {"tasks": {"lead_i": {"derived": ["III"], "targets": ["V1"]}}},
            "config: tasks.lead_i.derived: III needs ['II'] among the inputs or targets",
        ),
        ({"method_plugins": ["no/such/plugin.py"]}, "method_plugins:"),
        (
            {"tasks": {"encoders": {"inputs": ["I"], "targets": ["V1"], "derived": [], "corruption": "none", "methods": ["GL"]}}},
            "config: tasks.encoders: 'encoders' names a shared folder of results/",
        ),
    ],
)
def test_bad_task_or_method_is_refused_at_start_in_one_line(tmp_path, override, line):
    cfg = write_config(tmp_path / "bad.yaml", override)
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert any(line in row for row in out.splitlines()), out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert not (tmp_path / "results").exists()  # refused before any job ran


def test_every_method_named_by_a_shipped_config_is_registered():
    from ecgrecon import methods as registry
    from ecgrecon.tasks import parse_tasks

    tasks = parse_tasks(yaml.safe_load((ROOT / "config.yaml").read_text())["tasks"])
    assert set(tasks) == {"paper", "lead_i", "denoise_bw", "denoise_em", "denoise_ma", "paper_noisy"}
    assert all(tasks[f"denoise_{k}"].denoising and tasks[f"denoise_{k}"].noise.kind == k for k in ("bw", "em", "ma"))
    assert tasks["paper_noisy"].clean_models == "paper" and not tasks["paper_noisy"].denoising
    assert tasks["paper"].methods == ("GL", "C", "Ch", "ChA", "Cpaper", "Chpaper", "PCM")
    assert set(tasks["lead_i"].methods) == {"GL", "C", "Ch", "ChA"} and tasks["lead_i"].derived
    assert set(registry.names()) >= {"GL", "C", "Ch", "ChA", "PCM"}
