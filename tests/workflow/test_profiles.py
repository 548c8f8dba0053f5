"""Workflow profiles: both parse; the SLURM profile sizes every rule and takes the user's settings."""

import os
import re
import subprocess

import pytest
from snakemake.profiles import ProfileConfigFileParser

from snakemake_helpers import ROOT, SNAKEMAKE, write_config

SLURM = ROOT / "profiles" / "slurm" / "config.yaml"
DEFAULT = ROOT / "profiles" / "default" / "config.yaml"
TRAINING = {"train_encoder", "train_encoder_paper", "train_encoder_pt", "train_decoder", "train_calinet"}
USER_ENV = (
    "ECGRECON_SLURM_PARTITION",
    "ECGRECON_SLURM_ACCOUNT",
    "ECGRECON_SLURM_GPUS",
    "ECGRECON_SLURM_GPU_MODEL",
    "ECGRECON_SLURM_GPU_PARTITION",
)


def _parse(path, monkeypatch, **env):
    """Parse a profile with Snakemake's own parser -> {option: [values] or value}."""
    for key in USER_ENV:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with open(path) as fh:
        return ProfileConfigFileParser().parse(fh)


def _pairs(values):
    """['rule:key=value', ...] or ['key=value', ...] -> {(rule, key) or key: value}."""
    out = {}
    for item in values:
        name, _, value = item.partition("=")
        out[tuple(name.split(":")) if ":" in name else name] = value
    return out


def _workflow_rules():
    names = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        names |= {a or b for a, b in re.findall(r"^(?:rule (\w+)|use rule \w+ as (\w+) with):", smk.read_text(), re.M)}
    return names


def _dry_run_jobs(workdir, env):
    """Dry-run the default DAG with the SLURM profile -> {rule: {resource: value}}."""
    cfg = write_config(workdir / "small.yaml", {"synth": {"n_records": 120}})
    clean_env = {k: v for k, v in os.environ.items() if k not in USER_ENV} | env
    proc = subprocess.run(
        [
            SNAKEMAKE,
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(cfg),
            "--workflow-profile",
            str(SLURM.parent),
            "-n",
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=clean_env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"workflow specific profile {SLURM.parent}" in proc.stderr
    jobs = {}
    for block in re.split(r"^(?=rule \w+:)", proc.stdout, flags=re.M)[1:]:
        rule = re.match(r"rule (\w+):", block).group(1)
        res = re.search(r"^\s+resources: (.*)$", block, re.M).group(1)
        jobs[rule] = dict(kv.split("=", 1) for kv in res.split(", "))
    return jobs


def test_default_profile_is_plain_local_settings(monkeypatch):
    opts = _parse(DEFAULT, monkeypatch)
    assert opts["cores"] == "all" and "executor" not in opts


def test_slurm_profile_sizes_every_rule(monkeypatch):
    opts = _parse(SLURM, monkeypatch)
    assert opts["executor"] == "slurm" and int(opts["jobs"]) >= 1
    defaults = _pairs(opts["default-resources"])
    assert int(defaults["mem_mb"]) > 0 and int(defaults["runtime"]) > 0
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults
    per_rule, threads = _pairs(opts["set-resources"]), _pairs(opts["set-threads"])
    rules = _workflow_rules() - {"all"}
    assert {"synthesize", "clean", "qc_stats", "segment", "folds"} <= rules
    for rule in rules:
        assert int(per_rule[(rule, "mem_mb")]) >= 1000, rule
        assert 1 <= int(per_rule[(rule, "runtime")]) <= 7 * 24 * 60, rule  # minutes
        assert int(threads[rule]) >= 1, rule
    named = {r for r, _ in per_rule} | set(threads)
    assert named <= rules | TRAINING | {"extract_reps", "evaluate"}, named - rules
    assert not any(key in ("gpu", "gpu_model") for _, key in per_rule)  # CPU unless asked


def test_user_settings_and_gpu_switch_come_from_the_environment(monkeypatch):
    opts = _parse(
        SLURM,
        monkeypatch,
        ECGRECON_SLURM_PARTITION="short",
        ECGRECON_SLURM_ACCOUNT="lab42",
        ECGRECON_SLURM_GPUS="2",
        ECGRECON_SLURM_GPU_MODEL="a100",
        ECGRECON_SLURM_GPU_PARTITION="gpu",
    )
    defaults, per_rule = _pairs(opts["default-resources"]), _pairs(opts["set-resources"])
    assert defaults["slurm_partition"] == "short" and defaults["slurm_account"] == "lab42"
    for rule in TRAINING:
        assert per_rule[(rule, "gpu")] == "2"
        assert per_rule[(rule, "gpu_model")] == "a100"
        assert per_rule[(rule, "slurm_partition")] == "gpu"
    gpu_rules = {r for (r, key) in per_rule if key in ("gpu", "gpu_model")}
    assert gpu_rules == TRAINING


def test_gpu_model_alone_requests_no_gpu(monkeypatch):
    per_rule = _pairs(_parse(SLURM, monkeypatch, ECGRECON_SLURM_GPU_MODEL="a100")["set-resources"])
    assert not any(key.startswith("gpu") for _, key in per_rule)


@pytest.mark.parametrize("env", [{}, {"ECGRECON_SLURM_PARTITION": "short", "ECGRECON_SLURM_ACCOUNT": "lab42"}])
def test_slurm_profile_dry_run_gives_each_job_its_resources(tmp_path, monkeypatch, env):
    jobs = _dry_run_jobs(tmp_path, env)
    assert {"synthesize", "clean", "qc_stats", "segment", "folds"} <= set(jobs)
    per_rule = _pairs(_parse(SLURM, monkeypatch, **env)["set-resources"])
    for rule, res in jobs.items():
        if rule == "all":
            continue
        assert res["mem_mb"] == per_rule[(rule, "mem_mb")], (rule, res)
        assert res["runtime"] == per_rule[(rule, "runtime")], (rule, res)
        assert res.get("slurm_partition") == env.get("ECGRECON_SLURM_PARTITION"), (rule, res)
        assert res.get("slurm_account") == env.get("ECGRECON_SLURM_ACCOUNT"), (rule, res)
