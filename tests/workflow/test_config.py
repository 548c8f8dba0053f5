"""Configuration: the default config validates; unknown keys and bad values fail at start."""

import jsonschema
import pytest
import yaml

from snakemake_helpers import ROOT, scheduled_rules, snakemake, write_config

SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())


def _deep_merge(base: dict, extra: dict) -> dict:
    """Snakemake's merge of config files: mappings merge key by key at every depth, other values replace."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def test_default_and_shipped_configs_validate():
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    jsonschema.validate(base, SCHEMA)
    for extra in sorted((ROOT / "config").glob("*.yaml")):
        jsonschema.validate(_deep_merge(base, yaml.safe_load(extra.read_text())), SCHEMA)


@pytest.mark.parametrize(
    "override, needle",
    [
        ({"qc": {"percentile": [1, 99]}}, "percentile"),  # typo'd key
        ({"unknown_section": 1}, "unknown_section"),
        ({"qc": {"percentiles": [0.1, 140]}}, "140"),
        ({"clean": {"filter_form": "zpk"}}, "zpk"),
        ({"qc": {"max_bad_leads": 12}}, "max_bad_leads"),
        ({"dataset": "mitbih"}, "mitbih"),
        ({"diffusion": {"K": 0}}, "K"),  # no posterior sample
        ({"diffusion": {"options": {"mgps": {"zeta": 1.0}}}}, "zeta"),  # another sampler's option
        ({"printout": {"resolution": 100}}, "resolution"),  # unknown printout key
        ({"printout": {"levels": ["fax"]}}, "fax"),  # not a distortion level
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


@pytest.mark.parametrize(
    "key, bad", [("enabled", "yes"), ("layout", "4x3"), ("dpi", 10), ("levels", []), ("levels", ["clean", "clean"]), ("records", -1)]
)
def test_schema_validates_every_printout_key(key, bad):
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert set(base["printout"]) == set(SCHEMA["properties"]["printout"]["required"])
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate({**base, "printout": {**base["printout"], key: bad}}, SCHEMA)
    assert list(info.value.absolute_path)[:2] == ["printout", key]
    with pytest.raises(jsonschema.ValidationError, match=f"'{key}' is a required property"):
        jsonschema.validate({**base, "printout": {k: v for k, v in base["printout"].items() if k != key}}, SCHEMA)


def test_default_dag_dry_run_lists_every_stage(tmp_path):
    jobs = scheduled_rules(tmp_path)
    for rule in ("synthesize", "clean", "qc_stats", "segment", "folds", "render_printouts", "digitize_printouts"):
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
        (
            {"tasks": {"avf": {"inputs": ["AVF"], "targets": ["V1"], "derived": [], "corruption": "none", "methods": ["GL", "diffusion"]}}},
            "config: tasks.avf.methods: diffusion observes the prior's leads I, II, V1, V2, V3, V4, V5, V6; the inputs AVF hold none",
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
    assert tasks["paper"].methods == ("GL", "C", "Ch", "ChA", "Cpaper", "Chpaper", "PCM", "calinet", "diffusion")
    assert set(tasks["lead_i"].methods) == {"GL", "C", "Ch", "ChA", "diffusion"} and tasks["lead_i"].derived
    assert all("diffusion" in t.methods for t in tasks.values())  # every task the source's method applies to
    assert set(registry.names()) >= {"GL", "C", "Ch", "ChA", "PCM", "calinet"}


def _refused_at_start(tmp_path, *args, configfile=None, snakefile=None):
    """Dry-run with a bad config: non-zero exit, no traceback, no results/ (refused before any job); the output rows."""
    proc = snakemake(tmp_path, "-n", *args, configfile=configfile, snakefile=snakefile, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert not (tmp_path / "results").exists()
    return out.splitlines()


@pytest.mark.parametrize(
    "override, line",
    [
        ({"qc": {"percentiles": [99.9, 0.1]}}, "config: qc.percentiles: [99.9, 0.1] must be [low, high] with low < high"),
        ({"qc": {"percentiles": [5, 5]}}, "config: qc.percentiles: [5, 5] must be [low, high]"),
        ({"segment": {"window": 2048}}, "config: segment.window: 2048 samples is longer than a cleaned record (clean.duration_s 10 s"),
        ({"clean": {"duration_s": 2.0}}, "config: segment.window: 256 samples is longer than a cleaned record (clean.duration_s 2 s"),
        ({"clean": {"duration_s": 12.0}}, "config: clean.duration_s: 12 s is longer than the synthetic records (10 s)"),
        ({"segment": {"window": 250}}, "config: segment.window: 250 is not a multiple of decoder.stride 4"),
        ({"decoder_denoise": {"stride": 3}}, "config: segment.window: 256 is not a multiple of decoder_denoise.stride 3"),
        ({"split": {"val_folds": [8]}}, "config: split: fold(s) [8] in both split.train_folds and split.val_folds"),
        ({"split": {"test_folds": [9, 10]}}, "config: split: fold(s) [9] in both split.val_folds and split.test_folds"),
        (
            {"split": {"cv_k": 2}, "evaluation": {"folds": ["official", "cv7"]}},
            "config: evaluation.folds: 'cv7' does not exist with split.cv_k: 2",
        ),
        (
            {"split": {"cv_k": 2}, "evaluation": {"folds": ["cv2"]}},
            "config: evaluation.folds: 'cv2' does not exist with split.cv_k: 2 (folds cv0 .. cv1)",
        ),
        ({"clean": {"bandpass_hz": [45.0, 0.5]}}, "config: clean.bandpass_hz: [45.0, 0.5] must be [low, high] Hz with low < high"),
        ({"dataset": "ptbxl_local", "data": {"ptbxl_dir": "no/such/ptb-xl"}}, "config: data.ptbxl_dir: no/such/ptb-xl is not a folder"),
        ({"datasets": {"ludb": {"kind": "ludb", "path": "no/such/ludb"}}}, "config: datasets.ludb.path: no/such/ludb is not a folder"),
        ({"diffusion": {"sampler": "dps", "samplers": ["mgps"]}}, "config: diffusion.sampler: 'dps' is not among diffusion.samplers"),
        ({"diffusion": {"steps": 2000}}, "config: diffusion.steps: 2000 sampling steps exceed diffusion.prior.T 1000"),
        ({"diffusion": {"prior": {"channels": [4] * 10}}}, "config: segment.window: 256 is not a multiple of 512 (2 ** (levels - 1)"),
        ({"diffusion": {"prior": {"channels": [4] * 12, "window": "record"}}}, "config: diffusion.prior.window: record windows of 1024"),
        ({"diffusion": {"labels": "record"}}, "config: diffusion.labels: record needs a class-conditional prior"),
        ({"synth": {"leadfield": "calibrated", "calibration": {"data": "no/such"}}}, "config: synth.calibration.data: no/such has no"),
    ],
)
def test_inconsistent_value_is_refused_at_start_in_one_line(tmp_path, override, line):
    rows = _refused_at_start(tmp_path, configfile=write_config(tmp_path / "bad.yaml", override))
    assert any(line in row for row in rows), "\n".join(rows[-40:])


def test_a_key_given_twice_in_any_config_file_is_refused_at_start(tmp_path):
    (tmp_path / "ok.yaml").write_text("synth:\n  n_records: 50\n")
    (tmp_path / "twice.yaml").write_text("qc:\n  percentiles: [1, 99]\n  percentiles: [5, 95]\nseed: 1\nseed: 2\n")
    rows = _refused_at_start(tmp_path, "--configfile", str(tmp_path / "ok.yaml"), str(tmp_path / "twice.yaml"))
    for key, lines in (("qc.percentiles", "lines 2 and 3;"), ("seed", "lines 4 and 5: 1, then 2;")):
        assert any(f"config: {tmp_path / 'twice.yaml'}: key {key} given twice ({lines} the last would win)" in row for row in rows), rows[
            -20:
        ]
    assert not any("ok.yaml" in row for row in rows if row.startswith("config:"))


def test_a_key_given_twice_in_the_workflow_config_yaml_is_refused_at_start(tmp_path):
    from snakemake_helpers import copy_workflow

    snakefile = copy_workflow(tmp_path / "wf")
    default = snakefile.parent / "config.yaml"
    default.write_text(default.read_text() + "seed: 7\n")
    rows = _refused_at_start(tmp_path / "wf", snakefile=snakefile)
    assert any(f"config: {default}: key seed given twice" in row for row in rows), rows[-20:]


def test_the_schema_lists_each_samplers_own_options():
    from ecgrecon.learn.diffusion.samplers import METHODS, sampler_options

    schema = yaml.safe_load((ROOT / "schemas/config.schema.yaml").read_text())
    opts = schema["properties"]["diffusion"]["properties"]["options"]["properties"]
    assert set(opts) == set(METHODS)
    for m in METHODS:
        assert set(opts[m]["properties"]) == set(sampler_options(m)), m


def test_full_config_builds_every_task_and_method_at_the_benchmark_budgets(tmp_path):
    """config/full.yaml: every rule of the default run is scheduled, with the benchmark budgets in the params."""
    from snakemake_helpers import scheduled_rules

    full = yaml.safe_load((ROOT / "config" / "full.yaml").read_text())
    (tmp_path / "default").mkdir()
    (tmp_path / "full").mkdir()
    default = scheduled_rules(tmp_path / "default")
    jobs = scheduled_rules(tmp_path / "full", ROOT / "config" / "full.yaml")
    assert set(jobs) == set(default) and jobs["train_decoder"] == default["train_decoder"], (jobs, default)
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    merged = _deep_merge(base, full)
    for name in base["run_tasks"]:  # no task at make run's shortened decoder budget
        section = base["decoder_denoise" if "DN" in base["tasks"][name]["methods"] else "decoder"]
        assert merged["tasks"][name].get("budget", {}).get("max_epochs", section["max_epochs"]) == section["max_epochs"], name
    assert full["decoder_paper"]["max_epochs"] == 40 and full["diffusion"]["prior"]["max_steps"] > base["diffusion"]["prior"]["max_steps"]
