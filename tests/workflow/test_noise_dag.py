"""Noise tasks inside the DAG: banks, noise-trained methods, clean-trained methods on noisy inputs, tables, figures,
what a noise setting reruns, and the synthetic fallback where no NSTDB is available."""

import h5py
import numpy as np
import pandas as pd
import pytest

from snakemake_helpers import scheduled_rules, snakemake
from tiny_learning import LEARNING, PAPER
from tiny_learning import tiny_config as _cfg

ALL = ["I", "II", "V2"]
DN_TASK = {
    "inputs": ALL,
    "targets": ["I", "V2"],
    "derived": [],
    "corruption": "noise",
    "noise": {"kind": "em", "levels": [6, 0]},
    "methods": ["GL", "DN", "filter"],
}
NOISY_PAPER = {
    **PAPER,
    "corruption": "noise",
    "noise": {"kind": "bw", "levels": [12, 0, "bedin"]},
    "methods": ["GL", "C"],
    "clean_models": "paper",
}
TASKS = {"paper": PAPER, "dn": DN_TASK, "pn": NOISY_PAPER}
OUT = ["results/dn/noise/metrics.csv", "results/pn/noise/metrics.csv", "results/noise/summary.csv"]


def _noise_cfg(work, name, **changes):
    base = {
        "tasks": TASKS,
        "run_tasks": ["paper", "dn", "pn"],
        "decoder_denoise": {"proj": 8, "hidden": 8, "out_channels": 4, "max_epochs": 1, "batch_size": 64},
    }
    return _cfg(work, name, **{**base, **changes})


@pytest.fixture(scope="module")
def noise_run(tiny_learning_run, tmp_path_factory):
    """The tiny run with a denoising task and the noisy paper task added (real NSTDB noise from ../shared)."""
    import shutil

    work = tmp_path_factory.mktemp("noise_dag")
    shutil.copytree(tiny_learning_run, work, dirs_exist_ok=True, symlinks=True)
    cfg = _noise_cfg(work, "noise.yaml")
    added = scheduled_rules(work, cfg, *OUT)
    snakemake(work, *OUT, configfile=cfg)
    return work, added


def test_adding_noise_tasks_trains_only_their_methods_and_reuses_the_clean_ones(noise_run):
    _, added = noise_run
    # banks em + bw; dn: GL + DN x 2 leads; pn: GL + C x 1 lead (noise-trained); the paper task's models are reused
    assert added == {"noise_bank": 2, "fit_linear": 2, "train_decoder": 3, "evaluate_noise": 2, "noise_summary": 1}, added


def test_noise_tables_report_every_predictor_level_and_metric(noise_run, shared_data):
    work, _ = noise_run
    dn = pd.read_csv(work / "results/dn/noise/metrics.csv")
    assert set(dn["predictor"]) == {"GL (noise-trained)", "DN (noise-trained)", "filter", "noisy input", "zero"}
    assert set(dn["level"]) == {"6 dB", "0 dB"} and set(dn["lead"]) == {"I", "V2"} and set(dn["source"]) == {"nstdb-derived"}
    noisy = dn[dn["predictor"] == "noisy input"]
    assert np.allclose(noisy["snr_out"], noisy["level"].str.replace(" dB", "").astype(float), atol=0.1)  # input SNR as asked
    assert np.allclose(noisy["snr_imp"], 0, atol=1e-9)
    for col in ("rmse", "rmse_seg", "snr_out", "snr_imp", "prd", "cosine", "pearson"):
        assert dn[dn["predictor"] != "zero"][col].notna().all(), col
    pn = pd.read_csv(work / "results/pn/noise/metrics.csv")
    assert set(pn["predictor"]) == {
        "GL (noise-trained)",
        "C (noise-trained)",
        "GL (clean-trained)",
        "C (clean-trained)",
        "C-h (clean-trained)",
        "ChA (clean-trained)",
        "C-paper (clean-trained)",
        "C-h-paper (clean-trained)",
        "zero",
    }
    assert set(pn["level"]) == {"12 dB", "0 dB", "bedin"} and pn["snr_imp"].isna().all()  # targets were never inputs
    # clean-trained GL on 12 dB noise: its error matches GL applied by hand to the noisy inputs of the assignment
    md = (work / "results/pn/noise/metrics.md").read_text()
    assert "## 12 dB" in md and "## bedin" in md and "NSTDB noise (nstdb)" in md
    morph = pd.read_csv(work / "results/dn/noise/morphology.csv")
    assert {"level", "method", "lead", "quantity"} <= set(morph.columns) and len(morph) > 0
    s = pd.read_csv(work / "results/noise/summary.csv")
    assert set(s["task"]) == {"dn", "pn"}
    for f in ("rmse_vs_snr.png", "examples.png", "assignment.h5"):
        assert (work / "results/dn/noise" / f).stat().st_size > 1000
    for log in (
        "noise_bank/em",
        "noise_bank/bw",
        "evaluate_noise/dn",
        "evaluate_noise/pn",
        "noise_summary",
        "train_decoder/dn/DN_official_I",
        "fit_linear/pn/official_GL",
    ):
        assert (work / "logs" / f"{log}.log").stat().st_size > 0, log
    assert (work / "benchmarks/evaluate_noise/dn.tsv").exists()
    assert "derived from 118e00 - 118e24" in (work / "logs/noise_bank/em.log").read_text()


def test_assignment_artifact_replays_the_test_noise(noise_run):
    from ecgrecon.data.datasets import read_leads
    from ecgrecon.noise.inputs import NoisyInputs

    work, _ = noise_run
    seg = work / "results/segments/segments.h5"
    with h5py.File(work / "results/dn/noise/assignment.h5") as f:
        seg_id, ecg_id, gain = f["seg_id"][...], f["ecg_id"][...], f["gain/0 dB"][...]
        assert list(f.attrs["leads"]) == ALL and f.attrs["split"] == "test" and f.attrs["source"] == "nstdb-derived"
    from ecgrecon.data.datasets import read_segment_meta

    meta, _ = read_segment_meta(seg)
    ni = NoisyInputs(str(work / "results/noise/bank_em.h5"), "dn", "em", (6.0, 0.0), 42, 1000, 256)
    clean = read_leads(seg, ALL, seg_id)
    _, g = ni.apply(clean, ALL, ecg_id, meta["start"].to_numpy()[seg_id], "test", 0.0)
    assert np.allclose(g, gain, rtol=1e-5)


def test_noise_settings_rerun_only_what_they_touch(noise_run):
    work, _ = noise_run
    # a level of one task: that task's noise-trained methods and its evaluation (+ the summary); no bank, no other task
    more = {**TASKS, "pn": {**NOISY_PAPER, "noise": {"kind": "bw", "levels": [12, 0, -6, "bedin"]}}}
    jobs = scheduled_rules(work, _noise_cfg(work, "lv.yaml", tasks=more), *OUT)
    assert jobs == {"fit_linear": 1, "train_decoder": 1, "evaluate_noise": 1, "noise_summary": 1}, jobs
    # the split of the noise records: every bank and everything trained or scored with it; none of the clean task
    jobs = scheduled_rules(work, _noise_cfg(work, "sp.yaml", noise={"split": [0.5, 0.25, 0.25]}), *OUT, *LEARNING)
    assert jobs == {"noise_bank": 2, "fit_linear": 2, "train_decoder": 3, "evaluate_noise": 2, "noise_summary": 1}, jobs


def test_without_nstdb_the_run_uses_labelled_synthetic_noise(noise_run, tmp_path):
    import shutil

    work = tmp_path / "w"
    shutil.copytree(noise_run[0], work, symlinks=True)
    cfg = _noise_cfg(work, "nonstdb.yaml", noise={"nstdb_dir": str(tmp_path / "absent")})
    snakemake(work, "results/dn/noise/metrics.csv", configfile=cfg)
    dn = pd.read_csv(work / "results/dn/noise/metrics.csv")
    assert set(dn["source"]) == {"synthetic"}
    assert "SYNTHETIC noise (no NSTDB on this machine)" in (work / "results/dn/noise/metrics.md").read_text()
    assert "SYNTHETIC noise" in (work / "logs/noise_bank/em.log").read_text()


def test_diffusion_on_noise_tasks_beside_their_methods_on_the_same_noisy_windows(noise_run, tmp_path):
    import shutil

    work = tmp_path / "work"
    shutil.copytree(noise_run[0], work, symlinks=True)
    tasks = {
        **TASKS,
        "dn": {**DN_TASK, "methods": [*DN_TASK["methods"], "diffusion"]},
        "pn": {**NOISY_PAPER, "methods": ["GL", "C", "diffusion"]},
    }
    cfg = _noise_cfg(work, "noise_diffusion.yaml", tasks=tasks)
    out = ["results/dn/diffusion/metrics.csv", "results/pn/diffusion/metrics.csv"]
    assert scheduled_rules(work, cfg, *OUT, *out) == {"train_prior": 1, "sample_diffusion": 2, "evaluate_diffusion": 2}  # noise tables stay
    snakemake(work, *OUT, *out, configfile=cfg)
    dn = pd.read_csv(work / out[0])
    assert set(dn["level"]) == {"6 dB", "0 dB"}
    assert {"GL (noise-trained)", "DN (noise-trained)", "filter", "noisy input", "Diffusion"} <= set(dn["method"])
    with h5py.File(work / "results/dn/diffusion/samples.h5") as f:
        truth = f["truth"][...]
    noisy = dn[(dn["method"] == "noisy input") & (dn["level"] == "0 dB")].set_index("lead")["rmse"]
    for j, lead in enumerate(DN_TASK["targets"]):  # at 0 dB the added noise has the power of the clean lead, window by window
        assert noisy[lead] == pytest.approx(float(np.sqrt(np.mean(truth[:, j].astype(np.float64) ** 2))), rel=1e-4), lead
    d = dn[(dn["method"] == "Diffusion") & (dn["lead"] == "Mean")]
    assert np.isfinite(d[["rmse", "single_rmse", "cov90"]].to_numpy(float)).all() and len(d) == 2
    pn = pd.read_csv(work / out[1])
    assert set(pn["level"]) == {"12 dB", "0 dB", "bedin"} and {"C (clean-trained)", "Diffusion"} <= set(pn["method"])
