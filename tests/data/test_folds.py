"""Patient-wise splits: official strat_fold split and patient-grouped CV folds."""

import ast

import numpy as np
import pandas as pd
import pytest

from ecgrecon.data.folds import LeakageError, check_no_leakage, make_folds

SPLIT = {"train_folds": [1, 2, 3, 4, 5, 6, 7, 8], "val_folds": [9], "test_folds": [10], "cv_k": 5}


def _meta(n_patients=200, seed=0):
    rng = np.random.default_rng(seed)
    rows, ecg = [], 1
    for pid in range(n_patients):
        fold = int(rng.integers(1, 11))
        for _ in range(int(rng.integers(1, 4))):
            rows.append({"ecg_id": ecg, "patient_id": 1000 + pid, "strat_fold": fold})
            ecg += 1
    return pd.DataFrame(rows)


def _assert_patient_wise(meta, folds):
    patient_of = dict(zip(meta.ecg_id, meta.patient_id))
    for name, split in folds.items():
        parts = {k: {patient_of[e] for e in v} for k, v in split.items()}
        assert not parts["train"] & parts["val"], name
        assert not parts["train"] & parts["test"], name
        assert not parts["val"] & parts["test"], name


def test_official_split_follows_strat_fold():
    meta = _meta()
    folds = make_folds(meta, SPLIT, seed=1)
    off = folds["official"]
    fold_of = dict(zip(meta.ecg_id, meta.strat_fold))
    assert {fold_of[e] for e in off["test"]} == {10}
    assert {fold_of[e] for e in off["val"]} == {9}
    assert {fold_of[e] for e in off["train"]} <= set(range(1, 9))
    assert len(off["train"]) + len(off["val"]) + len(off["test"]) == len(meta)
    _assert_patient_wise(meta, folds)


def test_cv_folds_partition_train_val_by_patient_and_keep_test():
    meta = _meta()
    folds = make_folds(meta, SPLIT, seed=1)
    cv = [folds[f"cv{i}"] for i in range(5)]
    pool = set(folds["official"]["train"]) | set(folds["official"]["val"])
    vals = [set(f["val"]) for f in cv]
    assert set().union(*vals) == pool
    assert sum(len(v) for v in vals) == len(pool)  # disjoint
    sizes = [len(v) for v in vals]
    assert max(sizes) - min(sizes) <= 3  # balanced by record count
    for f in cv:
        assert f["test"] == folds["official"]["test"]
        assert set(f["train"]) | set(f["val"]) == pool
    _assert_patient_wise(meta, folds)


def test_cv_folds_are_seeded():
    meta = _meta()
    assert make_folds(meta, SPLIT, seed=3) == make_folds(meta, SPLIT, seed=3)
    assert make_folds(meta, SPLIT, seed=3)["cv0"] != make_folds(meta, SPLIT, seed=4)["cv0"]


def test_leakage_is_detected():
    meta = pd.DataFrame({"ecg_id": [1, 2, 3], "patient_id": [7, 7, 8], "strat_fold": [1, 10, 9]})
    with pytest.raises(LeakageError, match="patient 7"):
        check_no_leakage(meta, {"train": [1], "val": [3], "test": [2]}, "x")
    with pytest.raises(LeakageError):
        make_folds(meta, {**SPLIT, "cv_k": 2}, seed=0)


def test_real_ptbxl_records_split_patient_wise(shared_data):
    db = pd.read_csv(shared_data / "ptb-xl" / "ptbxl_database.csv")
    meta = pd.DataFrame({"ecg_id": db.ecg_id, "patient_id": db.patient_id.astype(int), "strat_fold": db.strat_fold})
    folds = make_folds(meta, {**SPLIT, "cv_k": 3}, seed=0)
    _assert_patient_wise(meta, folds)
    assert len(folds["official"]["test"]) == int((db.strat_fold == 10).sum()) > 0
    assert ast.literal_eval(db.scp_codes[0])  # the real file's label column parses
