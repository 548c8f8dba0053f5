"""Diagnostic retention (ecgrecon.evaluation.retention, rules train_classifier and retention)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from defaults import section
from ecgrecon import LEADS12
from ecgrecon.data.segment import record_windows
from ecgrecon.evaluation.retention import retention_from_predictions, write_retention
from ecgrecon.io.h5io import write_table
from ecgrecon.learn import classifier
from snakemake_helpers import scheduled_rules, snakemake
from tiny_learning import tiny_config

TARGETS = ["V1", "V3", "V4", "V5", "V6"]
FS, T, W = 100.0, 1000, 256
RETENTION = ("results/paper/tables/retention_metrics.csv",)


def _artifacts(d):
    """clean.h5 / folds.json / segments.h5 (records/) of 90 records whose class shows only in the target leads.

    NORM: 1-mV 1.3-Hz sine in V1, V3-V6; MI: 0.2 mV. Every other lead is zero, so with the target
    leads zeroed every record is the same and each class gets AUC 0.5 exactly. ecg_ids are
    non-contiguous and stored in descending order (labels must be matched by id, not position)."""
    rng = np.random.default_rng(0)
    n = 90
    ecg = np.arange(n, dtype=np.int64)[::-1] * 3 + 5
    norm = rng.random(n) < 0.5
    t = np.arange(T) / FS
    x = np.zeros((n, T, 12), np.float32)
    tgt = [LEADS12.index(k) for k in TARGETS]
    amp = np.where(norm, 1.0, 0.2)[:, None, None]
    x[:, :, tgt] = amp * np.sin(2 * np.pi * 1.3 * t + rng.uniform(0, 6.3, (n, 1)))[:, :, None] + rng.normal(0, 0.02, (n, T, len(tgt)))
    meta = pd.DataFrame(
        {
            "ecg_id": ecg,
            "patient_id": ecg,
            "strat_fold": np.arange(n) % 3 + 1,
            "superclass": [json.dumps(["NORM"] if v else ["MI"]) for v in norm],
        }
    )
    with h5py.File(d / "clean.h5", "w") as f:
        f.create_dataset("signals", data=x)
        write_table(f, "meta", meta)
    split = {s: ecg[meta["strat_fold"] == k].tolist() for s, k in (("train", 1), ("val", 2), ("test", 3))}
    (d / "folds.json").write_text(json.dumps({"seed": 0, "folds": {"official": split}}))
    starts, keep_from = record_windows(T, W)
    test = np.flatnonzero(meta["strat_fold"].to_numpy() == 3)
    rec = np.repeat(test, len(starts))
    rmeta = pd.DataFrame(
        {
            "win_id": np.arange(len(rec), dtype=np.int64),
            "ecg_id": ecg[rec],
            "patient_id": ecg[rec],
            "strat_fold": 3,
            "start": np.tile(starts, len(test)),
            "n_keep_from": np.tile(keep_from, len(test)),
        }
    )
    windows = np.stack([x[r, s : s + W].T for r, s in zip(rec, rmeta["start"])])
    with h5py.File(d / "segments.h5", "w") as f:
        f.attrs.update({"fs": FS, "window": W, "hop": W, "leads": list(LEADS12)})
        g = f.create_group("records")
        g.create_dataset("x", data=windows)
        write_table(g, "meta", rmeta)
    return windows, rmeta


def test_true_reconstruction_retains_everything_and_zeros_lose_auc(tmp_path):
    windows, rmeta = _artifacts(tmp_path)
    classifier.train_from_clean(
        tmp_path / "clean.h5",
        tmp_path / "folds.json",
        "official",
        tmp_path / "clf.pt",
        tmp_path / "clf.json",
        cfg=section("classifier", width=4, max_epochs=3, lr=0.01, batch_size=16),
        seed=0,
        device="cpu",
        log=lambda s: None,
    )
    truth = windows[:, [LEADS12.index(k) for k in TARGETS]]
    back = np.arange(len(rmeta))[::-1]  # predictions in another window order than segments.h5
    with h5py.File(tmp_path / "predictions.h5", "w") as f:
        f.attrs.update({"targets": TARGETS, "inputs": ["I", "II", "V2"], "units": "mV"})
        f.create_dataset("official/records/win_id", data=rmeta["win_id"].to_numpy()[back])
        f.create_dataset("official/records/TRUE", data=truth[back])
        f.create_dataset("official/records/zero", data=np.zeros_like(truth))
        f.create_dataset("official/segments/seg_id", data=np.zeros(0, np.int64))
    table, summary = retention_from_predictions(
        tmp_path / "clf.pt", tmp_path / "predictions.h5", tmp_path / "segments.h5", tmp_path / "clean.h5", device="cpu", log=lambda s: None
    )
    t = table.set_index("method")
    assert list(t.index) == ["original", "TRUE", "zero"] and (t["n_records"] == 30).all()
    assert summary["full_record"] and summary["n_samples"] == T
    assert t.loc["original", "macro_auc"] > 0.9 and t.loc["original", "classes_undefined"] == "CD,HYP,STTC"
    assert t.loc["TRUE", "auc_retention"] == 1.0 and t.loc["TRUE", "f1_retention"] == 1.0
    assert t.loc["TRUE", "macro_auc"] == t.loc["original", "macro_auc"]
    assert t.loc["zero", "macro_auc"] == 0.5 and t.loc["zero", "auc_retention"] < 0.6
    write_retention(table, summary, tmp_path / "r.csv", tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert "| zero | 30 |" in md and "retention = reconstructed / original" in md.lower()
    assert "whole record (1000 samples, 10 s)" in md
    assert "Left out of the macro means (no positive or no negative test record for F1 / AUC): CD, HYP, STTC." in md
    with pytest.raises(ValueError, match="fold 'cv0' not found"):
        retention_from_predictions(
            tmp_path / "clf.pt",
            tmp_path / "predictions.h5",
            tmp_path / "segments.h5",
            tmp_path / "clean.h5",
            fold="cv0",
            device="cpu",
            log=lambda s: None,
        )


def test_retention_rules_in_the_dag(tiny_learning_run):
    work = tiny_learning_run
    cfg = tiny_config(work, "retention.yaml", classifier={"width": 4, "max_epochs": 1})
    assert scheduled_rules(work, cfg, *RETENTION) == {"train_classifier": 1, "retention": 1}
    snakemake(work, *RETENTION, configfile=cfg)
    table = pd.read_csv(work / RETENTION[0]).set_index("method")
    assert list(table.index[:1]) == ["original"] and {"GL", "C", "Ch"} <= set(table.index)
    assert np.isfinite(table[["macro_f1", "macro_auc", "f1_retention", "auc_retention"]].to_numpy()).all()
    assert (table["n_records"] > 0).all() and table.loc["original", "auc_retention"] == 1.0
    md = (work / "results/paper/tables/retention_metrics.md").read_text()
    assert "| original |" in md and "| C-h |" in md
    summary = json.loads((work / "results/classifier/official/classifier.json").read_text())
    assert summary["fold"] == "official" and summary["cfg"]["width"] == 4 and summary["epochs_run"] == 1
    for rule in ("train_classifier", "retention/paper"):
        assert (work / "logs" / f"{rule}.log").stat().st_size > 0, rule
        assert (work / "benchmarks" / f"{rule}.tsv").exists(), rule
    changed = tiny_config(work, "retention_lr.yaml", classifier={"width": 4, "max_epochs": 1, "lr": 0.01})
    assert scheduled_rules(work, changed, *RETENTION) == {"train_classifier": 1, "retention": 1}
