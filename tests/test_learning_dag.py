"""The learning rules inside the Snakemake DAG: a tiny full run, then what each config change reruns."""
import h5py
import pandas as pd
import torch

from snakemake_helpers import scheduled_rules
from tiny_learning import LEARNING, tiny_config as _cfg  # tiny_learning_run: the session fixture in conftest.py


def test_full_run_writes_every_output_log_and_benchmark(tiny_learning_run):
    work = tiny_learning_run
    for name in ("segment_metrics.csv", "segment_metrics.md", "record_metrics.csv", "record_metrics.md",
                 "class_metrics.csv", "latent_affinity.csv"):
        assert (work / "results/tables" / name).stat().st_size > 0
    seg = pd.read_csv(work / "results/tables/segment_metrics.csv")
    assert set(seg["lead"]) == {"V4", "Mean"} and set(seg["variant"]) == {"GL", "C", "Ch", "ChA", "zero", "train_mean"}
    with h5py.File(work / "results/reps/reps.h5") as f, h5py.File(work / "results/segments/segments.h5") as s:
        assert f["h"].shape == (s["x"].shape[0], 16) and f["records/h"].shape[0] == s["records/x"].shape[0]
        assert set(f["norm"]) == {"official", "cv0", "cv1", "cv2"}
    ckpt = torch.load(work / "results/decoders/Ch/official/V4.pt", weights_only=True)
    assert ckpt["lead"] == "V4" and ckpt["variant"] == "Ch"
    assert not list((work / "results/decoders").rglob("*.resume.pt"))
    logs = ["fit_gl/official", "train_encoder", "extract_reps", "evaluate",
            "train_decoder/C_official_V4", "train_decoder/Ch_official_V4", "train_decoder/ChA_official_V4"]
    for name in logs:
        assert (work / "logs" / f"{name}.log").stat().st_size > 0, name
        assert (work / "benchmarks" / f"{name}.tsv").exists(), name
    assert scheduled_rules(work, work / "tiny.yaml", *LEARNING) == {}


def test_temperature_change_reruns_encoder_chain_but_not_signal_only_decoders(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "tau.yaml", encoder={"temperature": 0.2}), *LEARNING)
    assert jobs == {"train_encoder": 1, "extract_reps": 1, "train_decoder": 2, "evaluate": 1}, jobs  # Ch, ChA


def test_tiling_change_reruns_reps_not_the_encoder(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "tile.yaml", encoder={"tile_reps": True}), *LEARNING)
    assert jobs == {"extract_reps": 1, "train_decoder": 2, "evaluate": 1}, jobs  # Ch, ChA


def test_decoder_change_reruns_all_decoders_not_the_encoder(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "lr.yaml", decoder={"lr": 0.01}), *LEARNING)
    assert jobs == {"train_decoder": 3, "evaluate": 1}, jobs


def test_evaluation_setting_reruns_evaluation_only(tiny_learning_run):
    work = tiny_learning_run
    ev = {"knn_k": 5, "n_subclasses": 3, "min_class_records": 5}
    assert scheduled_rules(work, _cfg(work, "knn.yaml", decoder={"evaluation": ev}), *LEARNING) == {"evaluate": 1}


def test_adding_a_cv_fold_trains_only_its_decoders(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "cv.yaml", decoder={"folds": ["official", "cv0"]}), *LEARNING)
    assert jobs == {"train_decoder": 3, "fit_gl": 1, "evaluate": 1}, jobs


def test_gl_change_refits_gl_and_its_anchored_decoder_only(tiny_learning_run):
    work = tiny_learning_run
    jobs = scheduled_rules(work, _cfg(work, "gl.yaml", gl={"context": 1}), *LEARNING)
    assert jobs == {"fit_gl": 1, "train_decoder": 1, "evaluate": 1}, jobs  # ChA is anchored on GL; C, Ch stay
