"""Pooling databases for training (config `pool:`) and cross-dataset evaluation (`cross_datasets:`)."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from ecgrecon.data.datasets import ArtifactError
from ecgrecon.data.pool import pool_clean
from ecgrecon.io.h5io import read_table, write_table
from ecgrecon.synth import write_cohort
from snakemake_helpers import scheduled_rules, snakemake
from tiny_learning import tiny_config


def _clean_file(path, ecg_ids, patients, folds, fs=100.0, n=1000, value=0.0):
    meta = pd.DataFrame(
        {
            "ecg_id": np.asarray(ecg_ids, np.int64),
            "patient_id": np.asarray(patients, np.int64),
            "strat_fold": np.asarray(folds, np.int64),
            "scp_codes": "{}",
            "labels": "[]",
            "superclass": "[]",
            "subclass": "[]",
            "filename": [f"r{e}" for e in ecg_ids],
        }
    )
    with h5py.File(path, "w") as f:
        sig = np.full((len(ecg_ids), n, 12), value, np.float32) + np.arange(len(ecg_ids))[:, None, None]
        f.create_dataset("signals", data=sig)
        f.attrs["fs"], f.attrs["leads"] = fs, [str(i) for i in range(12)]
        write_table(f, "meta", meta)
    return path


def test_pool_renumbers_ids_keeps_folds_and_patients_of_each_database_apart(tmp_path):
    a = _clean_file(tmp_path / "a.h5", [1, 2, 5], [7, 7, 9], [1, 1, 10])
    b = _clean_file(tmp_path / "b.h5", [1, 2], [7, 8], [9, 3], value=100.0)
    summary = pool_clean({"ptbxl": a, "ludb": b}, tmp_path / "pooled.h5", log=lambda m: None)
    assert summary == {"n_records": 5, "n_patients": 4, "per_dataset": {"ptbxl": 3, "ludb": 2}}
    with h5py.File(tmp_path / "pooled.h5") as f:
        meta = read_table(f["meta"])
        sig = f["signals"][...]
        assert list(f.attrs["pooled"]) == ["ptbxl", "ludb"]
    assert meta["ecg_id"].tolist() == [1, 2, 3, 4, 5]
    assert meta["source_ecg_id"].tolist() == [1, 2, 5, 1, 2]
    assert meta["dataset"].tolist() == ["ptbxl"] * 3 + ["ludb"] * 2
    assert meta["patient_id"].tolist() == [1, 1, 2, 3, 4]  # patient 7 of ptbxl is not patient 7 of ludb
    assert meta["strat_fold"].tolist() == [1, 1, 10, 9, 3]
    assert meta["filename"].tolist()[3] == "ludb/r1"
    np.testing.assert_array_equal(sig[:, 0, 0], [0, 1, 2, 100, 101])


def test_pool_refuses_databases_cleaned_differently(tmp_path):
    a = _clean_file(tmp_path / "a.h5", [1], [1], [1])
    b = _clean_file(tmp_path / "b.h5", [1], [1], [1], fs=500.0)
    with pytest.raises(ArtifactError, match=r"b.h5: fs 500.0 differs from 100.0 of 'main'"):
        pool_clean({"main": a, "other": b}, tmp_path / "p.h5")
    c = _clean_file(tmp_path / "c.h5", [1], [1], [1], n=500)
    with pytest.raises(ArtifactError, match=r"c.h5: records of shape \(500, 12\) differ"):
        pool_clean({"main": a, "other": c}, tmp_path / "p.h5")
    with pytest.raises(ArtifactError, match="missing.h5: not a readable cleaned HDF5 file \\(dataset 'other'\\)"):
        pool_clean({"main": a, "other": tmp_path / "missing.h5"}, tmp_path / "p.h5")
    assert not (tmp_path / "p.h5").exists()


@pytest.fixture(scope="module")
def second_cohort(tmp_path_factory):
    """Another synthetic database (other seed: other patients and lead fields) in PTB-XL layout."""
    out = tmp_path_factory.mktemp("cohort_b")
    write_cohort(out, 40, seed=99, bad_per_thousand=0, progress=lambda m: None)
    return out


def test_pooled_dag_trains_on_both_databases_with_subject_wise_folds(tmp_path, second_cohort):
    cfg = tiny_config(tmp_path, "pool.yaml", datasets={"cohort_b": {"kind": "ptbxl", "path": str(second_cohort)}})
    cfg.write_text(cfg.read_text() + "pool: [cohort_b]\n")
    jobs = scheduled_rules(tmp_path, cfg, "results/paper/predictions/predictions.h5")
    assert jobs["pool_clean"] == 1 and jobs["clean"] == 2, jobs
    snakemake(tmp_path, "results/folds/folds.json", "results/segments/segments.h5", configfile=cfg)
    with h5py.File(tmp_path / "results/pooled/clean.h5") as f:
        meta = read_table(f["meta"])
    with h5py.File(tmp_path / "results/clean/synthetic.h5") as f:
        n_main = f["signals"].shape[0]
    assert (meta["dataset"] == "synthetic").sum() == n_main and (meta["dataset"] == "cohort_b").sum() > 30
    folds = json.loads((tmp_path / "results/folds/folds.json").read_text())["folds"]
    for name, split in folds.items():
        owner = {}
        for part, ids in split.items():
            for pid in meta.set_index("ecg_id").loc[ids, "patient_id"]:
                assert owner.setdefault(pid, part) == part, (name, pid)  # no patient in two splits
        test_sets = set(meta.set_index("ecg_id").loc[split["test"], "dataset"])
        assert test_sets == {"synthetic", "cohort_b"}, (name, test_sets)  # both databases are evaluated
    with h5py.File(tmp_path / "results/segments/segments.h5") as f:
        assert set(f["meta/ecg_id"][...]) <= set(meta["ecg_id"])
    assert (tmp_path / "logs/pool_clean.log").stat().st_size > 0 and (tmp_path / "benchmarks/pool_clean.tsv").exists()


def test_unknown_or_overlapping_pool_and_cross_names_are_refused(tmp_path, second_cohort):
    cfg = tiny_config(tmp_path, "bad.yaml", datasets={"cohort_b": {"kind": "ptbxl", "path": str(second_cohort)}})
    cfg.write_text(cfg.read_text() + "pool: [nowhere]\n")
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0 and "pool / cross_datasets name 'nowhere' is not declared" in proc.stdout + proc.stderr
    cfg.write_text(cfg.read_text().replace("pool: [nowhere]", "pool: [cohort_b]\ncross_datasets: [cohort_b]"))
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0 and "both pooled for training and cross-evaluated" in proc.stdout + proc.stderr


def test_cross_dataset_evaluation_uses_the_main_models_without_training(tiny_learning_run, second_cohort):
    work = tiny_learning_run
    cfg = tiny_config(work, "cross.yaml", datasets={"cohort_b": {"kind": "ptbxl", "path": str(second_cohort)}})
    cfg.write_text(cfg.read_text() + "cross_datasets: [cohort_b]\n")
    target = "results/paper/cross/cohort_b/tables/segment_metrics.csv"
    jobs = scheduled_rules(work, cfg, target)
    expected = {"clean": 1, "cross_segment": 1, "cross_folds": 1, "cross_reps": 1, "cross_reps_paper": 1, "cross_evaluate": 1}
    assert jobs == expected, jobs  # h of our encoder and of the authors' (Chpaper)
    snakemake(work, target, configfile=cfg)
    cross = work / "results/cross/cohort_b"
    seg = pd.read_csv(work / target).set_index(["variant", "lead"])
    assert {"GL", "C", "Ch", "ChA", "Cpaper", "Chpaper"} <= set(seg.index.get_level_values(0))
    with h5py.File(cross / "segments.h5") as s, h5py.File(work / "results/clean/cohort_b.h5") as c:
        n_rec = c["signals"].shape[0]
        assert set(s["meta/ecg_id"][...]) <= set(c["meta/ecg_id"][...]) and s["x"].shape[0] > 0
    assert json.loads((cross / "folds.json").read_text())["folds"]["official"]["train"] == []
    assert len(json.loads((cross / "folds.json").read_text())["folds"]["official"]["test"]) == n_rec
    with h5py.File(cross / "encoders/I-II-V2/reps.h5") as r, h5py.File(work / "results/encoders/I-II-V2/reps.h5") as main:
        np.testing.assert_array_equal(r["norm/official/mean"][...], main["norm/official/mean"][...])  # main stats
    with h5py.File(cross / "encoders/I-II-V2/paper/reps.h5") as r, h5py.File(work / "results/encoders/I-II-V2/paper/reps.h5") as main:
        np.testing.assert_array_equal(r["norm/official/mean"][...], main["norm/official/mean"][...])
    main_qc = json.loads((work / "results/qc/qc_stats.json").read_text())
    assert main_qc  # the cross segments were cut with these bounds (rule input), not new ones
    assert 0 < seg.loc[("GL", "Mean"), "rmse"] < seg.loc[("zero", "Mean"), "rmse"]
    for name in ("segment", "folds", "reps_I-II-V2", "reps_I-II-V2_paper", "evaluate_paper"):
        assert (work / f"logs/cross/cohort_b/{name}.log").stat().st_size > 0, name
        assert (work / f"benchmarks/cross/cohort_b/{name}.tsv").exists(), name
    assert scheduled_rules(work, cfg, target) == {}
