"""The pre-trained methods in the DAG (config `pretrained`, config/real_shared_pt.yaml): refused at start without a
complete pre-training run; with one, the fine-tuning jobs are scheduled and read its models."""

import subprocess

import yaml

from snakemake_helpers import ROOT, SNAKEMAKE, scheduled_rules, snakemake, write_config

PT_TASK = yaml.safe_load((ROOT / "config" / "real_shared_pt.yaml").read_text())["tasks"]


def _pretrain_dir(root, leads=("V1", "V3", "V4", "V5", "V6"), skip=()):
    """A stand-in pre-training run: the files the paper task's GLPT, ChPT and ChAPT start from."""
    files = ["results/paper/linear/official/GL.json", "results/encoders/I-II-V2/encoder.pt"]
    files += [f"results/paper/decoders/{m}/official/{ld}.pt" for m in ("Ch", "ChA") for ld in leads]
    for f in files:
        if f not in skip:
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            (root / f).write_text("")
    return root


def test_pretrained_methods_without_a_complete_pretraining_run_are_refused_in_one_line(tmp_path):
    (tmp_path / "work").mkdir()
    cfg = write_config(tmp_path / "pt.yaml", {"tasks": PT_TASK, "run_tasks": ["paper"]})
    proc = snakemake(tmp_path / "work", "-n", configfile=cfg, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert "config: pretrained.run: methods ['ChAPT', 'ChPT', 'GLPT'] start from a pre-training run" in out, out[-2000:]
    pre = _pretrain_dir(tmp_path / "pre", skip=("results/paper/decoders/ChA/official/V6.pt",))
    cfg = write_config(tmp_path / "pt.yaml", {"tasks": PT_TASK, "run_tasks": ["paper"], "pretrained": {"run": str(pre)}})
    proc = snakemake(tmp_path / "work", "-n", configfile=cfg, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    line = f"config: pretrained.run: {pre} lacks 1 artifact(s) of fold official the methods ['ChAPT', 'ChPT', 'GLPT'] start from"
    assert line in out and "ChA/official/V6.pt" in out, out[-2000:]


def test_the_fine_tuning_jobs_read_the_pretraining_runs_models(tmp_path):
    pre = _pretrain_dir(tmp_path / "pre")
    (tmp_path / "work").mkdir()
    cfg = write_config(tmp_path / "pt.yaml", {"tasks": PT_TASK, "run_tasks": ["paper"], "pretrained": {"run": str(pre)}})
    jobs = scheduled_rules(tmp_path / "work", cfg)
    assert jobs["train_encoder"] == 1 and jobs["train_encoder_pt"] == 1 and jobs["extract_reps_pt"] == 1, jobs
    assert jobs["fit_linear"] == 2 and jobs["train_decoder"] == 5 * 5, jobs  # GL, GLPT; C, Ch, ChPT, ChA, ChAPT x 5 leads
    cmd = [SNAKEMAKE, "results/paper/decoders/ChAPT/official/V4.pt", "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory",
           str(tmp_path / "work"), "--cores", "1", "--configfile", str(cfg)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # not --quiet: the jobs' inputs
    assert f"{pre}/results/paper/decoders/ChA/official/V4.pt" in out and "results/paper/linear/official/GLPT.json" in out, out[-3000:]
    assert f"{pre}/results/paper/linear/official/GL.json" in out and f"{pre}/results/encoders/I-II-V2/encoder.pt" in out
